//! Reading: until `WouldBlock`, a short read, the budget, or backpressure says stop.

use super::*;

impl<H: Handler> Reactor<H> {
    pub(super) fn read_ready(&mut self, id: ConnId) {
        let mut budget = self.config.read_budget;
        loop {
            let high_water = self.config.high_water;
            let Some(c) = conn_mut(&mut self.slab, id) else { return };
            if c.lingering {
                if !self.discard_input(id) {
                    self.close_now(id, CloseReason::PeerClosed); // counted when the linger began
                }
                return;
            }
            if !c.may_read() {
                return;
            }
            if c.files.is_receiving() {
                if self.read_to_file(id, &mut budget) {
                    continue;
                }
                return;
            }
            // A connection that writes back to itself never reads more than its output queue
            // has room for, so an echo of this read cannot push the queue past the
            // high-water mark. (Others are paused through `blocked_on` instead.)
            let room = if c.feeds_itself { high_water.saturating_sub(c.queued()) } else { usize::MAX };
            if room == 0 {
                debug!("{id}: {} bytes queued, not reading until they drain", c.queued());
                c.paused_backpressure = true;
                return;
            }
            let want = room.min(self.scratch.len()).min(budget);
            let hup_seen = c.hup_seen;
            match c.io.read(&mut self.scratch[..want]) {
                Ok(0) => return self.input_ended(id),
                Ok(n) => {
                    c.last_active = self.now_ms;
                    let pollable = !matches!(&c.io, Io::Stdio(s) if !s.in_pollable);
                    self.stats.bytes_in.add(n as u64);
                    debug!("{id}: read {n} bytes");
                    self.deliver(id, n);
                    self.apply_effects();
                    budget -= n;
                    if budget == 0 || !pollable {
                        self.still_ready.push(id);
                        return;
                    }
                    if n < want && !hup_seen {
                        // A short read emptied the socket; new bytes will raise a new edge.
                        // Not so once the peer's FIN (or an error) has been reported: it
                        // arrived with these bytes, in the same edge, and only another read
                        // will surface it. Without this check a client that sends and
                        // half-closes at once never gets its EOF handled.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{id} ({}): read failed: {e}", c.peer);
                    self.close_now(id, close_reason_for(&e));
                    return;
                }
            }
        }
    }

    /// The peer's FIN: the protocol hears it, with what it left unconsumed.
    pub(super) fn input_ended(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        debug!("{id}: end of input");
        c.read_closed = true;
        // What the protocol left unconsumed is its to judge (a last line without its
        // newline, a cut frame); taking it also frees it.
        let rest = std::mem::take(&mut c.held);
        self.with_conn(id, |h, conn, ctx| h.eof(conn, ctx, &rest));
    }

    /// Hands `scratch[..n]` to the protocol.
    pub(super) fn deliver(&mut self, id: ConnId, n: usize) {
        let Reactor { slab, handler, effects, timers, stats, now, scratch, config, .. } = self;
        let Some(c) = conn_mut(slab, id) else { return };
        let Some(state) = c.state.as_mut() else { return };
        let mut ctx = Context { now: *now, current: Some(id), reading: true, effects, timers, stats };
        feed(handler, state, &mut ctx, &mut c.held, &scratch[..n]);
        if c.held.len() > config.max_input {
            warn!(
                "{} ({id}): {} bytes of input not consumed (limit {}), closing",
                c.peer,
                c.held.len(),
                config.max_input
            );
            self.close_now(id, CloseReason::InputOverflow);
        }
    }

    pub(super) fn recv_ready(&mut self, id: ConnId) {
        for _ in 0..self.config.accept_budget {
            let Some(Slot { kind: Kind::Udp(sock), .. }) = self.slab.get(id.index()) else { return };
            match sock.recv_from(&mut self.scratch) {
                Ok((n, from)) => {
                    self.stats.datagrams_in.add(1);
                    self.stats.bytes_in.add(n as u64);
                    debug!("{id}: datagram of {n} bytes from {from}");
                    let Reactor { handler, effects, timers, stats, now, scratch, .. } = self;
                    let mut ctx =
                        Context { now: *now, current: None, reading: false, effects, timers, stats };
                    handler.datagram(&mut ctx, id, from, &scratch[..n]);
                    self.apply_effects();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier send surfaces here; it is about that send,
                // not about this socket, which keeps working.
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted) =>
                {
                    debug!("{id}: {e}")
                }
                Err(e) => {
                    warn!("{id}: receive failed: {e}");
                    return;
                }
            }
        }
        self.still_ready.push(id);
    }
}
