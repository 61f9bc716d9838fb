//! Taking connections off a listener, without letting descriptor exhaustion spin or kill us.

use super::*;

impl<H: Handler> Reactor<H> {
    pub(super) fn accept_ready(&mut self, lid: ConnId) {
        for _ in 0..self.config.accept_budget {
            let Some(Slot { kind: Kind::Listener(l), .. }) = self.slab.get_mut(lid.index()) else { return };
            if l.paused || self.stopping {
                return;
            }
            match l.sock.accept() {
                Ok((stream, peer)) => {
                    self.fd_exhaustion_logged = false;
                    self.stats.accepted.add(1);
                    if self.config.max_conns.is_some_and(|max| self.live_conns >= max) {
                        info!("{peer}: refused, {} connections open (max-conns)", self.live_conns);
                        self.stats.count_close(CloseReason::MaxConns);
                        drop(stream);
                        continue;
                    }
                    self.add_accepted(lid, stream, peer);
                    self.apply_effects();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    let addr = l.addr;
                    l.paused = true;
                    if net::is_fd_exhaustion(&e) {
                        self.stats.accept_fd_exhausted.add(1);
                        if !self.fd_exhaustion_logged {
                            self.fd_exhaustion_logged = true;
                            warn!(
                                "accept on {addr}: {e}; pausing accepts for {:?} and serving the {} open connections",
                                self.config.accept_pause, self.live_conns
                            );
                        }
                    } else {
                        warn!("accept on {addr}: {e}; pausing accepts for {:?}", self.config.accept_pause);
                    }
                    self.timers.set(
                        self.now + self.config.accept_pause,
                        TimerOwner::Reactor(Internal::ResumeAccept(lid)),
                    );
                    return;
                }
            }
        }
        self.still_ready.push(lid);
    }

    pub(super) fn add_accepted(&mut self, lid: ConnId, mut stream: TcpStream, peer: SocketAddr) {
        if self.config.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let local = stream.local_addr().unwrap_or(NO_ADDR);
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        if let Err(e) = self.poll.registry().register(&mut stream, id.token(), Interest::READABLE) {
            warn!("{peer}: cannot register accepted connection: {e}");
            self.stats.count_close(CloseReason::Error);
            return;
        }
        entry.insert(Slot {
            id,
            kind: Kind::Conn(Box::new(Conn::new(Io::Tcp(stream), None, 0, peer, self.now_ms))),
        });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        info!("{peer} ({id}): connected");
        self.bring_up(id, &ConnInfo { peer, local, origin: Origin::Accepted(lid) });
    }

    /// Creates the protocol state of a connection that just came up.
    pub(super) fn bring_up(&mut self, id: ConnId, info: &ConnInfo) {
        if let Some(idle) = self.config.idle_timeout {
            self.timers.set(self.now + idle, TimerOwner::Reactor(Internal::Idle(id)));
        }
        let Reactor { slab, handler, effects, timers, stats, now, .. } = self;
        let mut ctx = Context { now: *now, current: Some(id), reading: false, effects, timers, stats };
        let state = handler.connected(&mut ctx, id, info);
        if let Some(c) = conn_mut(slab, id) {
            c.state = Some(state);
        }
    }
}
