//! Outbound connections: a non-blocking connect completes on writable plus `take_error`.

use super::*;

impl<H: Handler> Reactor<H> {
    pub(super) fn start_connect(&mut self, addr: SocketAddr, from: Option<SocketAddr>, tag: u64) {
        let mut stream = match net::tcp_connect(addr, from) {
            Ok(s) => s,
            Err(e) => return self.connect_failed(tag, addr, e),
        };
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        if let Err(e) =
            self.poll.registry().register(&mut stream, id.token(), Interest::READABLE | Interest::WRITABLE)
        {
            return self.connect_failed(tag, addr, e);
        }
        let mut conn = Conn::new(Io::Tcp(stream), None, tag, addr, self.now_ms);
        conn.connecting = true;
        conn.writable_registered = true;
        entry.insert(Slot { id, kind: Kind::Conn(Box::new(conn)) });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        debug!("{id}: connecting to {addr}");
    }

    pub(super) fn connect_failed(&mut self, tag: u64, addr: SocketAddr, e: io::Error) {
        debug!("connect to {addr} failed: {e}");
        self.stats.count_close(CloseReason::ConnectFailed);
        let mut ctx = ctx!(self, None);
        self.handler.connect_failed(&mut ctx, tag, &e);
    }

    /// A connecting socket became writable (or failed): find out which.
    pub(super) fn finish_connect(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        let Io::Tcp(stream) = &c.io else { return };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(peer) => Ok(peer),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // not yet
                Err(e) => Err(e),
            },
        };
        let (tag, addr) = (c.tag, c.peer);
        match outcome {
            Err(e) => {
                self.remove(id);
                self.connect_failed(tag, addr, e);
            }
            Ok(peer) => {
                c.connecting = false;
                if self.config.nodelay {
                    let _ = stream.set_nodelay(true);
                }
                let local = stream.local_addr().unwrap_or(NO_ADDR);
                set_writable(self.poll.registry(), id, c, false);
                self.stats.connected.add(1);
                debug!("{id}: connected to {peer}");
                self.bring_up(id, &ConnInfo { peer, local, origin: Origin::Outbound(tag) });
                self.still_ready.push(id);
            }
        }
    }
}
