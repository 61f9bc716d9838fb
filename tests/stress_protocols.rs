//! `sockloop stress framed|chat|relay` against real servers on loopback: the sockloop
//! servers on a reactor thread of their own (port 0), the load on the test's thread, every
//! run bounded by its duration. Each mode runs once against the real server (zero errors,
//! and the books balance) and once against a server that is wrong in a way the mode must
//! catch.

mod common;

use common::{Server, v4};
use sockloop::protocols::chat::Chat;
use sockloop::protocols::framed::{Codec, Framed, Header, REPLY};
use sockloop::protocols::relay::TcpRelay;
use sockloop::stress::{self, FrameHeader, Report, StressOptions, StressProtocol};
use sockloop::{Config, ConnId, ConnInfo, Context, Handler};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

fn serve<H: Handler + Send + 'static>(handler: H, config: Config) -> Server<()> {
    Server::with(&[v4()], handler, config, |_| ())
}

fn run(
    protocol: StressProtocol,
    clients: u32,
    addr: SocketAddr,
    tune: impl FnOnce(&mut StressOptions),
) -> Report {
    let mut opts = StressOptions::new(protocol);
    opts.clients = clients;
    opts.duration = Duration::from_millis(1500);
    tune(&mut opts);
    stress::run(&opts, addr).expect("the run starts")
}

#[test]
fn framed_both_headers_every_reply_verified() {
    for (header, format) in [(Header::Ascii64, FrameHeader::Ascii64), (Header::U32, FrameHeader::U32)] {
        let codec = Codec::new(header, 1 << 20);
        let config = Config { max_input: codec.max_input(), ..Config::default() };
        let server = serve(Framed::new(codec, REPLY).expect("reply fits"), config);
        let report = run(StressProtocol::Framed, 200, server.addr(), |o| {
            o.header = Some(format);
            o.pipeline = 4;
            o.size = 100;
        });
        assert_eq!(report.error_count, 0, "{report}");
        assert_eq!(report.connections.established, 200);
        assert!(report.messages > 1000, "{report}");
        let frame = header.size() as u64 + 33;
        assert_eq!(report.bytes_received, report.messages * frame, "whole reply frames only");
        server.stop();
    }
}

#[test]
fn framed_a_reply_other_than_the_classic_is_caught() {
    let codec = Codec::new(Header::U32, 1 << 20);
    let server =
        serve(Framed::new(codec, b"Message received successfully!!!!").expect("fits"), Config::default());
    let report = run(StressProtocol::Framed, 10, server.addr(), |o| o.header = Some(FrameHeader::U32));
    assert!(report.errors.mismatched > 0 && report.messages == 0, "{report}");
    assert!(!report.is_success());
    server.stop();
}

#[test]
fn chat_fifty_members_every_message_reaches_every_other() {
    let server = serve(Chat::default(), Config::default());
    let report = run(StressProtocol::Chat, 50, server.addr(), |o| o.pipeline = 2);
    assert_eq!(report.error_count, 0, "{report}");
    let fan = report.fanout.clone().expect("a conversation");
    assert_eq!((fan.ready, fan.audience), (50, 49), "{report}");
    assert!(fan.sent > 100, "{report}");
    // Every message sent is either delivered to all 49 others or still on its way.
    assert_eq!(fan.sent * 49, report.messages + report.in_flight_at_end, "{report}");
    assert_eq!(report.latency.count, report.messages);
    server.stop();
}

#[test]
fn chat_open_loop_at_a_rate() {
    let server = serve(Chat::default(), Config::default());
    let report = run(StressProtocol::Chat, 20, server.addr(), |o| o.rate = Some(400.0));
    assert_eq!(report.error_count, 0, "{report}");
    let fan = report.fanout.clone().expect("a conversation");
    assert!((500..=700).contains(&fan.sent), "about 400 msgs/s for 1.5 s: {report}");
    assert_eq!(fan.sent * 19, report.messages + report.in_flight_at_end, "{report}");
    server.stop();
}

#[test]
fn chat_a_room_that_drops_deliveries_is_caught() {
    let server = serve(LossyRoom { every: 97, ..LossyRoom::default() }, Config::default());
    let report = run(StressProtocol::Chat, 10, server.addr(), |o| o.pipeline = 4);
    assert!(report.errors.missing > 0, "{report}");
    assert!(!report.is_success());
    server.stop();
}

#[test]
fn relay_pairs_every_message_acknowledged_and_delivered() {
    let server = serve(TcpRelay::default(), Config::default());
    let report = run(StressProtocol::Relay, 100, server.addr(), |o| o.pipeline = 2);
    assert_eq!(report.error_count, 0, "{report}");
    let fan = report.fanout.clone().expect("a conversation");
    assert_eq!((fan.ready, fan.audience), (100, 1), "{report}");
    assert!(fan.sent > 1000, "{report}");
    // Each message owes one acknowledgement and one delivery.
    assert_eq!(fan.sent * 2, report.messages + fan.acks + report.in_flight_at_end, "{report}");
    server.stop();
}

#[test]
fn relay_a_server_that_loses_forwards_is_caught() {
    let server = serve(LossyRelay { every: 50, ..LossyRelay::default() }, Config::default());
    let report = run(StressProtocol::Relay, 4, server.addr(), |_| {});
    assert!(report.errors.lost_deliveries > 0, "{report}");
    assert!(!report.is_success());
    server.stop();
}

/// Splits `data` into lines, calling `f` with each; returns the bytes consumed.
fn lines(data: &[u8], mut f: impl FnMut(&str)) -> usize {
    let mut used = 0;
    while let Some(end) = data[used..].iter().position(|&b| b == b'\n') {
        f(std::str::from_utf8(&data[used..used + end]).expect("the load sends text"));
        used += end + 1;
    }
    used
}

/// A room that passes each line on to every other member, but drops every `every`th
/// delivery.
#[derive(Default)]
struct LossyRoom {
    nicks: HashMap<ConnId, String>,
    deliveries: u64,
    every: u64,
}

impl Handler for LossyRoom {
    type Conn = ();

    fn connected(&mut self, _: &mut Context<'_>, id: ConnId, _: &ConnInfo) {
        self.nicks.insert(id, String::new());
    }

    fn data(&mut self, _: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let me = ctx.id().expect("a connection");
        lines(data, |line| {
            if let Some(nick) = line.strip_prefix("/nick ") {
                self.nicks.insert(me, nick.to_string());
                ctx.write(format!("* you are now {nick}\n").as_bytes());
                return;
            }
            let out = format!("{}: {line}\n", self.nicks[&me]);
            let others: Vec<ConnId> = self.nicks.keys().filter(|&&id| id != me).copied().collect();
            for id in others {
                self.deliveries += 1;
                if !self.deliveries.is_multiple_of(self.every) {
                    ctx.write_to(id, out.as_bytes());
                }
            }
        })
    }

    fn closed(&mut self, _: (), _: &mut Context<'_>, id: ConnId, _: sockloop::CloseReason) {
        self.nicks.remove(&id);
    }
}

/// A relay that acknowledges every send but forwards only `every - 1` of each `every`.
#[derive(Default)]
struct LossyRelay {
    names: HashMap<String, ConnId>,
    peers: HashMap<ConnId, SocketAddr>,
    sends: u64,
    every: u64,
}

impl Handler for LossyRelay {
    type Conn = ();

    fn connected(&mut self, _: &mut Context<'_>, id: ConnId, info: &ConnInfo) {
        self.peers.insert(id, info.peer);
    }

    fn data(&mut self, _: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let me = ctx.id().expect("a connection");
        lines(data, |line| {
            if let Some(name) = line.strip_prefix("name:") {
                self.names.insert(name.to_string(), me);
                ctx.write(b"200, Name registered\n");
            } else if let Some((to, msg)) = line.strip_prefix("to:").and_then(|r| r.split_once(";content:")) {
                self.sends += 1;
                let from = self.peers[&me];
                if !self.sends.is_multiple_of(self.every) {
                    let out = format!("{}/{} ; content : {msg}\n", from.ip(), from.port());
                    ctx.write_to(self.names[to], out.as_bytes());
                }
                ctx.write(b"200, Message Sent Successfully\n");
            }
        })
    }
}
