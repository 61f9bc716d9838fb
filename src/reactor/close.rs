//! Closing: flush-then-close, half-close, abort, and the lingering close that keeps a
//! flushed tail from being destroyed by an RST.

use super::*;

impl<H: Handler> Reactor<H> {
    pub(super) fn request_close(&mut self, id: ConnId, mode: CloseMode, reason: CloseReason) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.lingering {
            // Already closed; only an abort (or a second signal) cuts the linger short.
            if mode == CloseMode::Abort {
                self.close_now(id, reason);
            }
            return;
        }
        if mode == CloseMode::Abort {
            return self.close_now(id, reason);
        }
        if mode == CloseMode::Flush && !c.has_output() {
            return self.close_flushed(id, reason);
        }
        if mode == CloseMode::ShutdownWrite && !c.has_output() && !c.connecting {
            return self.shutdown_write(id);
        }
        // A full close outranks a pending half-close.
        if c.closing.is_none_or(|(m, _)| m == CloseMode::ShutdownWrite) {
            c.closing = Some((mode, reason));
        }
    }

    pub(super) fn shutdown_write(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.write_shut {
            return;
        }
        c.write_shut = true;
        if let Io::Tcp(s) = &c.io
            && let Err(e) = s.shutdown(Shutdown::Write)
        {
            debug!("{id}: shutdown failed: {e}");
        }
        debug!("{id}: write side shut down");
        if c.read_closed {
            self.close_now(id, CloseReason::PeerClosed);
        }
    }

    /// Removes a source from the slab (dropping a socket deregisters it from epoll).
    pub(super) fn remove(&mut self, id: ConnId) -> Option<Kind<H::Conn>> {
        match self.slab.get(id.index()) {
            Some(slot) if slot.id == id => {}
            _ => return None,
        }
        let mut kind = self.slab.remove(id.index()).kind;
        if let Kind::Conn(c) = &mut kind {
            self.live_conns -= 1;
            self.stats.open.set(self.live_conns as u64);
            self.stats.pending_out.set(self.stats.pending_out.get().saturating_sub(c.queued() as u64));
            if let Io::Stdio(s) = &mut c.io {
                s.close(self.poll.registry());
            }
            let waiters = c.take_waiters();
            self.release_waiters(id, waiters);
        }
        Some(kind)
    }

    /// A graceful close (everything queued has been handed to the kernel).
    ///
    /// Why not just drop the socket: if input is unread when we `close()`, or arrives after
    /// it, the kernel answers with RST and throws away the output it accepted but has not
    /// delivered yet, so the peer loses the tail of what we "flushed" (a graceful stop under
    /// a client that was still sending lost megabytes this way). So unless the peer has
    /// closed already, we read and drop its pending input, and if the kernel still holds
    /// output the peer has not acknowledged, we do a lingering close: send our FIN
    /// (`shutdown(Write)`), count the close and tell the protocol now, and keep discarding
    /// input until the peer has acknowledged everything including the FIN (checked every
    /// `LINGER_CHECK`; Linux only, elsewhere we wait for the peer's FIN), the peer's FIN, an
    /// error, or `config.grace`. Meanwhile the socket stays in the slab and in `open` (it
    /// still holds a descriptor). A peer that has everything is closed at once, as before.
    /// Costs a `read` and an `ioctl` per graceful close, nothing per event.
    pub(super) fn close_flushed(&mut self, id: ConnId, reason: CloseReason) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.read_closed || c.connecting || !matches!(c.io, Io::Tcp(_)) {
            return self.close_now(id, reason);
        }
        if !self.discard_input(id) {
            return self.close_now(id, reason);
        }
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        let Io::Tcp(stream) = &c.io else { return };
        if unacked_output(stream) == 0 {
            return self.close_now(id, reason);
        }
        if !c.write_shut
            && let Err(e) = stream.shutdown(Shutdown::Write)
        {
            debug!("{id}: shutdown failed: {e}");
            return self.close_now(id, reason);
        }
        c.write_shut = true;
        c.closing = None;
        c.lingering = true;
        let state = c.state.take();
        info!("{} ({id}): closed, {reason} (discarding its input until it closes too)", c.peer);
        self.stats.count_close(reason);
        let deadline = self.now + self.config.grace;
        let first = (self.now + LINGER_CHECK).min(deadline);
        self.timers.set(first, TimerOwner::Reactor(Internal::Linger(id, deadline)));
        if let Some(state) = state {
            let mut ctx = ctx!(self, Some(id));
            self.handler.closed(state, &mut ctx, id, reason);
        }
    }

    /// Reads and drops input until `WouldBlock` or the read budget (then the connection goes
    /// on the still-ready list). Returns false at EOF or on an error.
    pub(super) fn discard_input(&mut self, id: ConnId) -> bool {
        let mut dropped = 0;
        while let Some(c) = conn_mut(&mut self.slab, id) {
            let want = self.scratch.len().min(self.config.read_budget - dropped);
            match c.io.read(&mut self.scratch[..want]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.stats.bytes_in.add(n as u64);
                    dropped += n;
                    if dropped == self.config.read_budget {
                        self.still_ready.push(id);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{id}: read failed: {e}");
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn close_now(&mut self, id: ConnId, reason: CloseReason) {
        let Some(Kind::Conn(c)) = self.remove(id) else { return };
        if c.lingering {
            // Counted, logged and reported when the linger began.
            debug!("{id}: lingering close done");
            return;
        }
        self.stats.count_close(reason);
        if c.state.is_some() && !matches!(c.io, Io::Stdio(_)) {
            info!("{} ({id}): closed, {reason}", c.peer);
        }
        match c.state {
            Some(state) => {
                let mut ctx = ctx!(self, Some(id));
                self.handler.closed(state, &mut ctx, id, reason);
            }
            None if c.connecting => {
                let e = io::Error::other(format!("connect abandoned: {reason}"));
                let mut ctx = ctx!(self, None);
                self.handler.connect_failed(&mut ctx, c.tag, &e);
            }
            None => {}
        }
    }
}
