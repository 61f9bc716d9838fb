//! Carrying out effects: write first, queue only the rest, flush on writable.

use super::sendfile::{FileSend, Stop};
use super::*;
use std::fs::File;
use std::rc::Rc;

impl<H: Handler> Reactor<H> {
    /// Carries out the effects the handler asked for, including those asked for by
    /// callbacks that these effects trigger (a close calls `closed`, which may write).
    #[inline]
    pub(super) fn apply_effects(&mut self) {
        // Called after every callback, most often with nothing to do: that check is inlined.
        if !self.effects.is_empty() {
            self.carry_out_effects();
        }
    }

    fn carry_out_effects(&mut self) {
        // The common case, a callback that wrote once (an echo, a reply, one forward), is
        // carried out without swapping the effect lists and draining them: that dance was a
        // quarter of an echo server's own instructions per message (callgrind, BENCHMARKS.md).
        if let [Effect::Write { to, from, start, end }] = self.effects.list[..] {
            self.effects.list.clear();
            let mut bytes = std::mem::take(&mut self.effects.bytes);
            self.write(to, from, &bytes[start..end]);
            if self.effects.bytes.capacity() == 0 {
                bytes.clear();
                self.effects.bytes = bytes; // keep the arena's allocation for the next turn
            }
        }
        while !self.effects.is_empty() {
            let mut batch = std::mem::replace(&mut self.effects, std::mem::take(&mut self.spare_effects));
            for effect in batch.list.drain(..) {
                match effect {
                    Effect::Write { to, from, start, end } => self.write(to, from, &batch.bytes[start..end]),
                    Effect::SendFile { to, file, offset, len } => self.send_file(to, file, offset, len),
                    Effect::RecvFile { from, file, offset, len } => self.recv_file(from, file, offset, len),
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
                    Effect::Stop { flush } => self.begin_stop("the protocol asked", flush),
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
        if !c.connecting && !c.has_output() {
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
                c.last_active = self.now_ms;
                debug!("{id}: wrote {sent} bytes");
            }
        }
        if sent < bytes.len() {
            let before = c.queued();
            c.tail().push(&bytes[sent..]);
            self.stats.pending_out.add((bytes.len() - sent) as u64);
            let pending = c.queued();
            self.stats.peak_conn_pending_out.set_max(pending as u64);
            set_writable(self.poll.registry(), id, c, true);
            if pending > self.config.high_water
                && let Some(producer) = from.filter(|p| *p != id)
            {
                let waiters = &mut c.links_mut().waiters;
                if !waiters.contains(&producer) {
                    waiters.push(producer);
                }
                if let Some(p) = conn_mut(&mut self.slab, producer) {
                    p.links_mut().blocked_on = Some(id);
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
            // A full send buffer is UDP's ordinary loss, counted; any other failure is
            // about this destination or this datagram, and the user should hear of it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.datagrams_dropped.add(1);
                debug!("{sock}: datagram of {} bytes to {to} dropped: {e}", bytes.len());
            }
            Err(e) => {
                self.stats.datagrams_dropped.add(1);
                if let Some(held) = self.send_failures.admit(self.now) {
                    let more = if held > 0 {
                        format!(" ({held} more failed since the last warning)")
                    } else {
                        String::new()
                    };
                    warn!(
                        "{sock}: cannot send a datagram of {} bytes to {to}: {e}; dropped{more}",
                        bytes.len()
                    );
                }
            }
        }
    }

    /// Queues a file range behind the connection's output. With nothing queued before it,
    /// it starts at once (write first), and `drained` follows if it all went out.
    pub(super) fn send_file(&mut self, id: ConnId, file: Rc<File>, offset: u64, len: u64) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.write_shut || c.closing.is_some() {
            debug!("{id}: file range of {len} bytes sent after close was asked for: dropped");
            return;
        }
        let first = !c.has_output() && !c.connecting;
        c.files.push(FileSend::new(file, offset, len));
        if first {
            self.flush(id);
        } else {
            set_writable(self.poll.registry(), id, c, true);
        }
    }

    /// Writable: send the queue and any file ranges; when all is out, finish any pending
    /// close, or tell the protocol (`drained`), and resume reading.
    pub(super) fn flush(&mut self, id: ConnId) {
        let Reactor { slab, scratch, config, stats, .. } = self;
        let Some(c) = conn_mut(slab, id) else { return };
        c.write_cut = false;
        if !c.has_output() {
            set_writable(self.poll.registry(), id, c, false);
            return;
        }
        let before = c.queued();
        let mut file_sent = 0;
        let result = send_output(c, scratch, config.write_budget, config.sendfile, &mut file_sent);
        let sent = before - c.queued();
        stats.bytes_out.add((sent + file_sent) as u64);
        stats.pending_out.set(stats.pending_out.get().saturating_sub(sent as u64));
        if sent + file_sent > 0 {
            c.last_active = self.now_ms;
            debug!("{id}: flushed {sent} bytes and {file_sent} file bytes, {} still queued", c.queued());
        }
        let stop = match result {
            Ok(stop) => stop,
            Err(e) => {
                debug!("{id} ({}): write failed: {e}", c.peer);
                return self.close_now(id, close_reason_for(&e));
            }
        };
        if c.queued() <= self.config.high_water / 2 {
            if c.paused_backpressure {
                c.paused_backpressure = false;
                self.still_ready.push(id);
            }
            let waiters = c.take_waiters();
            if !waiters.is_empty() {
                self.release_waiters(id, waiters);
            }
        }
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.has_output() {
            // Called for a new file range, not for an event: interest may not be there yet.
            set_writable(self.poll.registry(), id, c, true);
            if stop == Stop::Budget {
                c.write_cut = true;
                self.still_ready.push(id);
            }
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

    /// Goes on with a flush that the write budget cut short (from the still-ready list).
    pub(super) fn flush_if_cut(&mut self, id: ConnId) {
        if conn_mut(&mut self.slab, id).is_some_and(|c| c.write_cut) {
            self.flush(id);
        }
    }

    /// Lets the producers that were paused on `id`'s full queue read again.
    pub(super) fn release_waiters(&mut self, id: ConnId, waiters: Vec<ConnId>) {
        for w in waiters {
            if let Some(p) = conn_mut(&mut self.slab, w)
                && p.blocked_on() == Some(id)
            {
                p.links_mut().blocked_on = None;
                self.still_ready.push(w);
            }
        }
    }
}

/// Sends the queue, then each file range followed by the bytes written after it, in order,
/// until all is out, the socket is full, or `budget` file bytes went out (`file_sent`).
fn send_output<C>(
    c: &mut Conn<C>,
    scratch: &mut [u8],
    budget: usize,
    use_sendfile: bool,
    file_sent: &mut usize,
) -> io::Result<Stop> {
    loop {
        c.out.flush_to(&mut c.io)?;
        if !c.out.is_empty() {
            return Ok(Stop::Blocked);
        }
        let Some(file) = c.files.front_mut() else { return Ok(Stop::Done) };
        let left = budget.saturating_sub(*file_sent);
        match file.send(&mut c.io, scratch, left, use_sendfile, file_sent)? {
            Stop::Done => {
                if let Some(done) = c.files.pop_front() {
                    c.out = done.then;
                }
            }
            stop => return Ok(stop),
        }
    }
}
