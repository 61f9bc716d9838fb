//! Carrying out effects: write first, queue only the rest, flush on writable.

use super::*;

impl<H: Handler> Reactor<H> {
    /// Carries out the effects the handler asked for, including those asked for by
    /// callbacks that these effects trigger (a close calls `closed`, which may write).
    pub(super) fn apply_effects(&mut self) {
        while !self.effects.is_empty() {
            let mut batch = std::mem::replace(&mut self.effects, std::mem::take(&mut self.spare_effects));
            for effect in batch.list.drain(..) {
                match effect {
                    Effect::Write { to, from, start, end } => self.write(to, from, &batch.bytes[start..end]),
                    Effect::SendTo { sock, to, start, end } => {
                        self.send_to(sock, to, &batch.bytes[start..end])
                    }
                    Effect::Close { id, mode } => {
                        let read_closed = conn_mut(&mut self.slab, id).is_some_and(|c| c.read_closed);
                        let reason = if read_closed { CloseReason::PeerClosed } else { CloseReason::Local };
                        self.request_close(id, mode, reason);
                    }
                    Effect::Connect { addr, from, tag } => self.start_connect(addr, from, tag),
                    Effect::PauseReading(id) => {
                        if let Some(c) = conn_mut(&mut self.slab, id) {
                            c.paused_by_protocol = true;
                        }
                    }
                    Effect::ResumeReading(id) => {
                        if let Some(c) = conn_mut(&mut self.slab, id)
                            && c.paused_by_protocol
                        {
                            c.paused_by_protocol = false;
                            self.still_ready.push(id);
                        }
                    }
                    Effect::Stop => self.begin_stop("the protocol asked"),
                }
            }
            batch.bytes.clear();
            if self.effects.is_empty() {
                self.effects = batch;
            } else {
                self.spare_effects = batch;
            }
        }
    }

    /// Write first, queue the rest: most writes never touch the output queue or epoll.
    ///
    /// Backpressure falls on the producer: when `id`'s queue passes the high-water mark,
    /// the connection whose callback wrote the bytes (`from`) stops being read until that
    /// queue drains. For echo that is the connection itself; for a bridge (stdin to a
    /// socket) or a relay it is the other end, which is the one that must slow down.
    pub(super) fn write(&mut self, id: ConnId, from: Option<ConnId>, bytes: &[u8]) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if from == Some(id) {
            c.feeds_itself = true;
        }
        if c.write_shut || c.closing.is_some() {
            debug!("{id}: {} bytes written after close was asked for: dropped", bytes.len());
            return;
        }
        let mut sent = 0;
        if !c.connecting && c.out.is_empty() {
            match write_now(&mut c.io, bytes) {
                Ok(n) => sent = n,
                Err(e) => {
                    debug!("{id} ({}): write failed: {e}", c.peer);
                    self.close_now(id, close_reason_for(&e));
                    return;
                }
            }
            self.stats.bytes_out.add(sent as u64);
            if sent > 0 {
                c.last_active = self.now;
                debug!("{id}: wrote {sent} bytes");
            }
        }
        if sent < bytes.len() {
            let before = c.out.len();
            c.out.push(&bytes[sent..]);
            self.stats.pending_out.add((bytes.len() - sent) as u64);
            self.stats.peak_conn_pending_out.set_max(c.out.len() as u64);
            set_writable(self.poll.registry(), id, c, true);
            let pending = c.out.len();
            if pending > self.config.high_water
                && let Some(producer) = from.filter(|p| *p != id)
            {
                if !c.waiters.contains(&producer) {
                    c.waiters.push(producer);
                }
                if let Some(p) = conn_mut(&mut self.slab, producer) {
                    p.blocked_on = Some(id);
                    debug!("{producer}: not reading until {id}'s {pending} queued bytes drain");
                }
            }
            if before <= self.config.high_water && pending > self.config.high_water {
                self.with_conn(id, |h, conn, ctx| h.backlogged(conn, ctx, pending));
            }
        }
    }

    pub(super) fn send_to(&mut self, sock: ConnId, to: SocketAddr, bytes: &[u8]) {
        let Some(Slot { id, kind: Kind::Udp(s) }) = self.slab.get(sock.index()) else { return };
        if *id != sock {
            return;
        }
        match s.send_to(bytes, to) {
            Ok(n) => {
                self.stats.datagrams_out.add(1);
                self.stats.bytes_out.add(n as u64);
            }
            Err(e) => {
                self.stats.datagrams_dropped.add(1);
                debug!("{sock}: datagram of {} bytes to {to} dropped: {e}", bytes.len());
            }
        }
    }

    /// Writable: send the queue; when it empties, finish any pending close and resume reading.
    pub(super) fn flush(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.out.is_empty() {
            set_writable(self.poll.registry(), id, c, false);
            return;
        }
        let before = c.out.len();
        let result = c.out.flush_to(&mut c.io);
        let sent = before - c.out.len();
        self.stats.bytes_out.add(sent as u64);
        self.stats.pending_out.set(self.stats.pending_out.get().saturating_sub(sent as u64));
        if sent > 0 {
            c.last_active = self.now;
            debug!("{id}: flushed {sent} bytes, {} still queued", c.out.len());
        }
        if let Err(e) = result {
            debug!("{id} ({}): write failed: {e}", c.peer);
            return self.close_now(id, close_reason_for(&e));
        }
        if c.out.len() <= self.config.high_water / 2 {
            if c.paused_backpressure {
                c.paused_backpressure = false;
                self.still_ready.push(id);
            }
            if !c.waiters.is_empty() {
                let waiters = std::mem::take(&mut c.waiters);
                self.release_waiters(id, waiters);
                return self.flush(id); // finish the job with `c` borrowed afresh
            }
        }
        if !c.out.is_empty() {
            return;
        }
        set_writable(self.poll.registry(), id, c, false);
        match c.closing {
            Some((CloseMode::ShutdownWrite, _)) => {
                c.closing = None;
                self.shutdown_write(id);
            }
            Some((_, reason)) => self.close_flushed(id, reason),
            None => self.with_conn(id, |h, conn, ctx| h.drained(conn, ctx)),
        }
    }

    /// Lets the producers that were paused on `id`'s full queue read again.
    pub(super) fn release_waiters(&mut self, id: ConnId, waiters: Vec<ConnId>) {
        for w in waiters {
            if let Some(p) = conn_mut(&mut self.slab, w)
                && p.blocked_on == Some(id)
            {
                p.blocked_on = None;
                self.still_ready.push(w);
            }
        }
    }
}
