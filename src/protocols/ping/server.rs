//! The udp-ping server: the classic acknowledgements, byte for byte, with simulated loss
//! and delay.
//!
//! Each datagram is first cut to its sender's receive size, as the classic server's
//! `recvfrom(bufferSize)` would cut it (and counted as truncated), then read in the classic
//! order ([`wire::classify`]): `C <size>` is answered at once and never dropped; `exit`
//! stops the server only when remote stop is allowed (otherwise it is refused with a text
//! the classic client prints); anything else is a probe, whose [`Fate`] decides whether
//! it is dropped and how long its reply waits. A waiting reply is a reactor timer, never a
//! sleep, so while one waits every other datagram is served at once.

use super::calibration::RecvSizes;
use super::impair::{Fate, Impair, Impairment};
use super::pending::{Body, Pending, Reply};
use super::wire::{self, Request};
use super::{CALIBRATED, DEFAULT_RECV_SIZE, REMOTE_STOP_DISABLED, STOPPING};
use crate::{ConnId, ConnInfo, Context, Handler};
use log::{debug, info, warn};
use serde::Serialize;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Whether `exit` from any peer may stop the server.
    pub allow_remote_stop: bool,
    /// Replies that may wait out a delay at once; probes beyond it are dropped and counted.
    pub max_pending: usize,
    /// Peers whose receive size is remembered (see [`RecvSizes`]).
    pub max_peers: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { allow_remote_stop: false, max_pending: 65_536, max_peers: 4096 }
    }
}

/// What the server did, for the log line at the end and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Datagrams read as probes (after truncation).
    pub probes: u64,
    /// Probe replies sent (at once or after their delay).
    pub replied: u64,
    /// Probes dropped by the simulated loss.
    pub dropped: u64,
    /// Probes whose reply waited on a timer.
    pub delayed: u64,
    /// Probes dropped because `max_pending` replies were already waiting.
    pub overflow: u64,
    pub calibrations: u64,
    /// Datagrams the classic server would crash on; ignored.
    pub malformed: u64,
    /// Datagrams longer than their sender's receive size, cut as `recvfrom` would.
    pub truncated: u64,
    /// `exit` refused because remote stop is not allowed.
    pub stop_refused: u64,
}

pub struct PingServer<I = Impairment> {
    impair: I,
    opts: ServerOptions,
    sizes: RecvSizes,
    pending: Pending,
    counters: Counters,
    /// Where numbered replies are built, so a reply costs no allocation.
    buf: Vec<u8>,
}

impl<I: Impair> PingServer<I> {
    pub fn new(impair: I, opts: ServerOptions) -> Self {
        PingServer {
            impair,
            sizes: RecvSizes::new(DEFAULT_RECV_SIZE, opts.max_peers),
            pending: Pending::new(opts.max_pending),
            opts,
            counters: Counters::default(),
            buf: Vec::new(),
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Replies waiting out their delay right now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn probe(&mut self, ctx: &mut Context<'_>, sock: ConnId, from: SocketAddr, body: Body) {
        self.counters.probes += 1;
        let Fate { delay, dropped } = self.impair.fate(from);
        if dropped {
            self.counters.dropped += 1;
            return debug!("{from}: probe dropped (simulated loss)");
        }
        let reply = Reply { sock, to: from, body };
        if delay.is_zero() {
            return self.send(ctx, reply);
        }
        match self.pending.insert(reply) {
            Some(key) => {
                self.counters.delayed += 1;
                debug!("{from}: reply in {delay:?}");
                ctx.set_global_timer(delay, key);
            }
            None => {
                self.counters.overflow += 1;
                debug!("{from}: {} replies already waiting: probe dropped", self.pending.len());
            }
        }
    }

    fn send(&mut self, ctx: &mut Context<'_>, reply: Reply) {
        self.counters.replied += 1;
        ctx.send_to(reply.sock, reply.to, reply.body.bytes(&mut self.buf));
    }
}

impl<I: Impair> Handler for PingServer<I> {
    /// UDP only: no connections.
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) {
        debug!("{}: the udp-ping server takes no connections", info.peer);
        ctx.abort();
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, sock: ConnId, from: SocketAddr, data: &[u8]) {
        // Most servers never see a calibration: then no lookup at all.
        let limit = if self.sizes.is_empty() { DEFAULT_RECV_SIZE } else { self.sizes.get(&from) };
        let data = if data.len() > limit {
            self.counters.truncated += 1;
            debug!("{from}: {} bytes cut to the receive size {limit}", data.len());
            &data[..limit]
        } else {
            data
        };
        match wire::classify(data) {
            Err(why) => {
                self.counters.malformed += 1;
                warn!("{from}: {why}: ignored");
            }
            Ok(Request::Calibrate(size)) => {
                self.counters.calibrations += 1;
                self.sizes.set(from, size);
                info!("{from}: receive size calibrated to {size}");
                ctx.send_to(sock, from, CALIBRATED.as_bytes());
            }
            Ok(Request::Exit) if self.opts.allow_remote_stop => {
                info!("{from}: exit: stopping");
                ctx.send_to(sock, from, STOPPING.as_bytes());
                ctx.stop();
            }
            Ok(Request::Exit) => {
                self.counters.stop_refused += 1;
                warn!("{from}: exit refused (start with --allow-remote-stop to allow it)");
                ctx.send_to(sock, from, REMOTE_STOP_DISABLED.as_bytes());
            }
            Ok(Request::Probe(header)) => {
                let body = header.map_or(Body::Classic, |h| Body::Numbered(h, data.len()));
                self.probe(ctx, sock, from, body);
            }
        }
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        if let Some(reply) = self.pending.take(key) {
            self.send(ctx, reply);
        }
    }

    fn stopping(&mut self, _ctx: &mut Context<'_>) {
        let c = &self.counters;
        info!(
            "udp-ping: probes={} replied={} dropped={} delayed={} overflow={} calibrations={} \
             malformed={} truncated={} stop_refused={} still_waiting={}",
            c.probes,
            c.replied,
            c.dropped,
            c.delayed,
            c.overflow,
            c.calibrations,
            c.malformed,
            c.truncated,
            c.stop_refused,
            self.pending.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::ping::impair::CLASSIC_DELAY;
    use crate::protocols::ping::wire::Header;
    use crate::protocols::ping::{ACK, CALIBRATED};
    use crate::testing::{SentDatagram, TestTransport};
    use std::time::Duration;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn server<I: Impair>(impair: I, allow_remote_stop: bool) -> (TestTransport<PingServer<I>>, ConnId) {
        let opts = ServerOptions { allow_remote_stop, ..ServerOptions::default() };
        let mut t = TestTransport::new(PingServer::new(impair, opts));
        let sock = t.udp_socket();
        (t, sock)
    }

    fn texts(sent: Vec<SentDatagram>) -> Vec<(SocketAddr, String)> {
        sent.into_iter().map(|d| (d.to, String::from_utf8_lossy(&d.data).into_owned())).collect()
    }

    #[test]
    fn classic_exchange_byte_for_byte() {
        let (mut t, sock) = server(Impairment::none(), false);
        let a = peer(1);
        t.datagram(sock, a, b"C 1024");
        t.datagram(sock, a, b"Hello Server");
        t.datagram(sock, a, b"Hello Server.");
        let sent = t.take_datagrams();
        assert_eq!(sent.iter().map(|d| d.data.len()).collect::<Vec<_>>(), [33, 19, 19]);
        assert_eq!(texts(sent), [(a, CALIBRATED.into()), (a, ACK.into()), (a, ACK.into())]);
        assert_eq!(t.handler().counters().calibrations, 1);
    }

    #[test]
    fn exit_stops_only_with_the_flag() {
        let (mut t, sock) = server(Impairment::none(), false);
        t.datagram(sock, peer(1), b"exit");
        assert_eq!(texts(t.take_datagrams()), [(peer(1), REMOTE_STOP_DISABLED.into())]);
        assert!(!t.stop_requested());
        assert_eq!(t.handler().counters().stop_refused, 1);

        let (mut t, sock) = server(Impairment::new(1.0, CLASSIC_DELAY, 1), true);
        t.datagram(sock, peer(1), b"exit");
        let sent = t.take_datagrams();
        assert_eq!(sent[0].data.len(), 20);
        assert_eq!(texts(sent), [(peer(1), STOPPING.into())], "never dropped, even at 100% loss");
        assert!(t.stop_requested());
    }

    #[test]
    fn calibration_is_never_dropped_or_delayed() {
        let (mut t, sock) = server(Impairment::new(1.0, CLASSIC_DELAY, 1), false);
        for _ in 0..20 {
            t.datagram(sock, peer(1), b"C 64");
        }
        assert_eq!(t.take_datagrams().len(), 20);
        t.datagram(sock, peer(1), b"Hello Server");
        t.advance(Duration::from_secs(1));
        assert!(t.take_datagrams().is_empty(), "probes are all lost at 100% loss");
    }

    #[test]
    fn seeded_loss_drops_exactly_what_the_rng_dictates() {
        let (mut t, sock) = server(Impairment::new(0.1, Duration::ZERO..=Duration::ZERO, 42), false);
        let mut replay = Impairment::new(0.1, Duration::ZERO..=Duration::ZERO, 42);
        let mut expected = Vec::new();
        for seq in 1..=500u64 {
            t.datagram(sock, peer(1), &Header { seq, sent_ns: seq }.probe(64));
            if !replay.next_fate().dropped {
                expected.push(seq);
            }
        }
        let got: Vec<u64> =
            t.take_datagrams().iter().filter_map(|d| Header::parse_reply(&d.data)).map(|h| h.seq).collect();
        assert_eq!(got, expected);
        let c = t.handler().counters();
        assert_eq!(
            (c.probes, c.dropped, c.replied),
            (500, 500 - expected.len() as u64, expected.len() as u64)
        );
        assert!(c.dropped > 20 && c.dropped < 90, "about 10%: {}", c.dropped);
    }

    #[test]
    fn a_delayed_reply_waits_on_a_timer_while_others_are_served() {
        let slow = peer(1);
        let fate = move |from: SocketAddr| Fate {
            delay: if from == slow { Duration::from_millis(200) } else { Duration::ZERO },
            dropped: false,
        };
        let (mut t, sock) = server(fate, false);
        t.datagram(sock, slow, &Header { seq: 1, sent_ns: 5 }.probe(48));
        assert!(t.take_datagrams().is_empty());
        assert_eq!(t.handler().pending(), 1);
        t.datagram(sock, peer(2), b"Hello Server");
        assert_eq!(texts(t.take_datagrams()), [(peer(2), ACK.into())], "the other client, at once");
        t.advance(Duration::from_millis(199));
        assert!(t.take_datagrams().is_empty());
        t.advance(Duration::from_millis(1));
        let sent = t.take_datagrams();
        assert_eq!((sent.len(), sent[0].to, sent[0].data.len()), (1, slow, 48), "padded to the probe");
        assert_eq!(Header::parse_reply(&sent[0].data), Some(Header { seq: 1, sent_ns: 5 }));
        assert_eq!(t.handler().pending(), 0);
        assert_eq!(t.pending_timers(), 0);
    }

    #[test]
    fn pending_replies_are_bounded() {
        let fate = |_| Fate { delay: Duration::from_millis(10), dropped: false };
        let opts = ServerOptions { max_pending: 3, ..ServerOptions::default() };
        let mut t = TestTransport::new(PingServer::new(fate, opts));
        let sock = t.udp_socket();
        for _ in 0..5 {
            t.datagram(sock, peer(1), b"Hello Server");
        }
        let c = t.handler().counters();
        assert_eq!((c.delayed, c.overflow), (3, 2));
        t.advance(Duration::from_millis(10));
        assert_eq!(t.take_datagrams().len(), 3);
        t.datagram(sock, peer(1), b"Hello Server");
        assert_eq!(t.handler().counters().delayed, 4, "room again once the replies left");
    }

    #[test]
    fn longer_than_the_receive_size_is_cut_as_recvfrom_would() {
        let (mut t, sock) = server(Impairment::none(), false);
        let a = peer(1);
        t.datagram(sock, a, b"C 4");
        t.datagram(sock, a, b"exit now please");
        t.datagram(sock, a, b"C 1");
        t.datagram(sock, a, b"C 64");
        let sent = texts(t.take_datagrams());
        assert_eq!(sent[1].1, REMOTE_STOP_DISABLED, "`exit now please` cut to `exit`");
        assert_eq!(sent.len(), 3, "`C 64` cut to `C`: malformed, so the size stays 1, as in the classic");
        assert_eq!((t.handler().counters().malformed, t.handler().counters().truncated), (1, 2));
        t.datagram(sock, peer(2), &vec![b'x'; 2000]);
        assert_eq!(texts(t.take_datagrams()), [(peer(2), ACK.into())], "another peer: 1024, cut");
        assert_eq!(t.handler().counters().truncated, 3);
        t.datagram(sock, peer(3), b"C 1500");
        t.datagram(sock, peer(3), &Header { seq: 1, sent_ns: 1 }.probe(1500));
        assert_eq!(t.take_datagrams()[1].data.len(), 1500, "calibrated: nothing cut");
        assert_eq!(t.handler().counters().truncated, 3);
    }

    #[test]
    fn malformed_datagrams_are_counted_and_ignored() {
        let (mut t, sock) = server(Impairment::none(), true);
        for bad in [&b""[..], b"\xff\xfeprobe", b"C", b"C lots", b"C 0"] {
            t.datagram(sock, peer(1), bad);
        }
        assert!(t.take_datagrams().is_empty());
        assert!(!t.stop_requested());
        let c = t.handler().counters();
        assert_eq!((c.malformed, c.probes, c.calibrations), (5, 0, 0));
        t.datagram(sock, peer(1), b"Hello Server");
        assert_eq!(t.take_datagrams().len(), 1, "still serving");
    }
}
