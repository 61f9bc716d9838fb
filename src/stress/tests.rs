//! The load's state machines driven with no network: bytes in and out of a
//! [`TestTransport`], time moved by hand.

use super::driver::{Plan, Stress};
use super::echo::EchoLoad;
use super::framed::FramedLoad;
use super::greet::GreetLoad;
use super::options::StressProtocol;
use super::payload;
use super::progress::Progress;
use super::report::{Report, Setup};
use super::workload::Workload;
use crate::protocols::framed::{Codec, Header};
use crate::protocols::greet::BANNER;
use crate::testing::TestTransport;
use crate::{CloseReason, ConnId};
use std::net::SocketAddr;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn target() -> SocketAddr {
    "127.0.0.1:7000".parse().expect("address")
}

fn setup(protocol: StressProtocol, clients: u32, pipeline: u32, size: usize) -> Setup {
    Setup {
        protocol,
        target: target(),
        clients,
        size,
        header: None,
        pipeline,
        rate: None,
        connect_rate: None,
        warmup_secs: 0.0,
        duration_secs: 10.0,
        bind: Vec::new(),
    }
}

fn start<W: Workload>(workload: W, setup: Setup) -> TestTransport<Stress<W>> {
    let mut t = TestTransport::new(Stress::new(workload, Plan::new(setup), Progress::hidden()));
    t.start();
    t
}

fn echo(setup: Setup) -> TestTransport<Stress<EchoLoad>> {
    let size = setup.size;
    start(EchoLoad::new(size), setup)
}

/// Completes every connect asked for so far, in order.
fn connect_all<W: Workload>(t: &mut TestTransport<Stress<W>>) -> Vec<ConnId> {
    let connects = t.take_connects();
    connects.into_iter().map(|(addr, tag)| t.complete_connect(tag, addr)).collect()
}

fn message(client: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut v = vec![0; size];
    payload::fill(client, seq, size, 0, &mut v);
    v
}

fn report<W: Workload>(t: &TestTransport<Stress<W>>) -> Report {
    t.handler().report()
}

/// Within the 3 significant digits an HDR histogram keeps.
fn about(us: u64, want: u64) -> bool {
    us.abs_diff(want) <= want / 500 + 1
}

#[test]
fn echo_reply_verified_then_next_request_goes() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 1, 32));
    let c = connect_all(&mut t);
    assert_eq!(c.len(), 1);
    assert_eq!(t.take_output(c[0]), message(0, 0, 32));
    t.advance(5 * MS);
    t.feed(c[0], &message(0, 0, 32));
    assert_eq!(t.take_output(c[0]), message(0, 1, 32), "closed loop: the next request at once");
    t.advance(Duration::from_secs(10));
    assert!(t.stop_requested(), "the end timer stops the reactor");
    t.stop();
    let r = report(&t);
    assert_eq!((r.messages, r.error_count, r.in_flight_at_end), (1, 0, 1));
    assert!(about(r.latency.max_us, 5_000), "{:?}", r.latency);
    assert_eq!(r.bytes_received, 32);
    assert_eq!(r.bytes_sent, 64);
}

#[test]
fn a_reply_split_anywhere_is_still_verified() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 2, 40));
    let c = connect_all(&mut t)[0];
    let mut both = message(0, 0, 40);
    both.extend(message(0, 1, 40));
    for byte in &both {
        t.feed(c, std::slice::from_ref(byte));
    }
    let r = report(&t);
    assert_eq!((r.messages, r.error_count), (2, 0));
}

#[test]
fn a_flipped_byte_is_a_mismatch_and_the_run_goes_on() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 1, 64));
    let c = connect_all(&mut t)[0];
    let mut bad = t.take_output(c);
    bad[40] ^= 1;
    t.feed(c, &bad);
    let next = t.take_output(c);
    assert_eq!(next, message(0, 1, 64));
    t.feed(c, &next);
    let r = report(&t);
    assert_eq!((r.messages, r.errors.mismatched, r.error_count), (1, 1, 1));
    assert!(!r.is_success());
    assert_eq!(t.closed(c), None);
}

#[test]
fn another_connections_reply_is_a_mismatch() {
    let mut t = echo(setup(StressProtocol::Echo, 2, 1, 16));
    let c = connect_all(&mut t);
    let for_first = t.take_output(c[0]);
    t.feed(c[1], &for_first);
    assert_eq!(report(&t).errors.mismatched, 1);
}

#[test]
fn reordered_replies_are_mismatches() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 2, 16));
    let c = connect_all(&mut t)[0];
    t.feed(c, &message(0, 1, 16));
    t.feed(c, &message(0, 0, 16));
    let r = report(&t);
    assert_eq!((r.messages, r.errors.mismatched), (0, 2));
}

#[test]
fn pipeline_keeps_exactly_k_in_flight() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 4, 8));
    let c = connect_all(&mut t)[0];
    let first: Vec<u8> = (0..4).flat_map(|seq| message(0, seq, 8)).collect();
    assert_eq!(t.take_output(c), first);
    t.feed(c, &message(0, 0, 8));
    assert_eq!(t.take_output(c), message(0, 4, 8), "one reply makes room for one request");
    t.feed(c, &message(0, 1, 8)[..7]);
    assert!(t.take_output(c).is_empty(), "a partial reply makes no room");
    assert_eq!(t.state(c).and_then(Option::as_ref).map(|s| s.in_flight()), Some(4));
}

#[test]
fn a_reset_with_replies_outstanding_loses_them_all() {
    let mut t = echo(setup(StressProtocol::Echo, 2, 4, 10));
    let c = connect_all(&mut t);
    t.feed(c[0], &message(0, 0, 10)[..3]);
    t.reset(c[0]);
    let r = report(&t);
    assert_eq!(r.errors.lost_replies, 4);
    assert_eq!(r.errors.lost_bytes, 37);
    assert_eq!(r.errors.closed_early.reset, 1);
    assert_eq!(r.error_count, 5);
    assert!(!t.stop_requested(), "the other client is still running");
}

#[test]
fn the_server_closing_early_is_counted() {
    let mut t = echo(setup(StressProtocol::Echo, 1, 1, 10));
    let c = connect_all(&mut t)[0];
    t.eof(c);
    let r = report(&t);
    assert_eq!((r.errors.closed_early.by_peer, r.errors.lost_replies), (1, 1));
    assert!(t.stop_requested(), "no client left: the run ends early");
}

#[test]
fn bytes_nobody_asked_for_drop_the_connection() {
    let mut t = start(GreetLoad::default(), setup(StressProtocol::Greet, 1, 1, 64));
    let c = connect_all(&mut t)[0];
    let mut too_much = BANNER.to_vec();
    too_much.extend_from_slice(b"and more");
    t.feed(c, &too_much);
    let r = report(&t);
    assert_eq!(t.closed(c), Some(CloseReason::Local));
    assert_eq!((r.messages, r.errors.unexpected_data, r.errors.lost_replies, r.error_count), (1, 1, 0, 1));
}

#[test]
fn open_loop_latency_counts_from_the_intended_send_time() {
    let mut s = setup(StressProtocol::Echo, 1, 1, 8);
    s.rate = Some(10.0); // one client: one request every 100 ms
    let mut t = echo(s);
    let c = connect_all(&mut t)[0];
    assert_eq!(t.take_output(c), message(0, 0, 8), "request 0 is due at once");
    // The server stalls for 250 ms. Requests 1 (due at 100 ms) and 2 (200 ms) wait behind
    // request 0 in a pipeline of one.
    t.advance(250 * MS);
    assert!(t.take_output(c).is_empty(), "no room: nothing more is sent");
    t.feed(c, &message(0, 0, 8));
    assert_eq!(t.take_output(c), message(0, 1, 8), "the overdue request goes at once");
    t.feed(c, &message(0, 1, 8));
    assert_eq!(t.take_output(c), message(0, 2, 8));
    t.feed(c, &message(0, 2, 8));
    assert!(t.take_output(c).is_empty(), "request 3 is not due until 300 ms");
    t.advance(50 * MS);
    assert_eq!(t.take_output(c), message(0, 3, 8), "the pacing timer sends it on time");
    let r = report(&t);
    assert_eq!(r.latency.count, 3);
    // 250, 150 and 50 ms: what a user arriving on schedule would have waited. Timing from
    // the real sends would have shown three replies of 0 ms.
    assert!(about(r.latency.max_us, 250_000), "{:?}", r.latency);
    assert!(about(r.latency.p50_us, 150_000), "{:?}", r.latency);
    assert_eq!(r.latency_from, "intended send");
}

#[test]
fn open_loop_spreads_clients_over_the_period() {
    let mut s = setup(StressProtocol::Echo, 4, 1, 8);
    s.rate = Some(40.0); // each client every 100 ms, offset by 25 ms from the previous
    let mut t = echo(s);
    let c = connect_all(&mut t);
    let sent = |t: &mut TestTransport<Stress<EchoLoad>>| {
        c.iter().map(|id| !t.take_output(*id).is_empty()).collect::<Vec<_>>()
    };
    assert_eq!(sent(&mut t), [true, false, false, false]);
    t.advance(25 * MS);
    assert_eq!(sent(&mut t), [false, true, false, false]);
    t.advance(50 * MS);
    assert_eq!(sent(&mut t), [false, false, true, true]);
}

#[test]
fn warmup_is_shown_but_not_counted() {
    let mut s = setup(StressProtocol::Echo, 1, 1, 8);
    s.warmup_secs = 1.0;
    s.duration_secs = 2.0;
    let mut t = echo(s);
    let c = connect_all(&mut t)[0];
    t.feed(c, &message(0, 0, 8));
    t.advance(Duration::from_millis(1500));
    t.feed(c, &message(0, 1, 8));
    t.feed(c, &message(0, 2, 8));
    t.advance(Duration::from_millis(1500));
    assert!(t.stop_requested());
    let r = report(&t);
    assert_eq!(r.messages, 2, "only after the warm-up");
    assert_eq!((r.elapsed_secs, r.measured_secs), (3.0, 2.0));
    assert_eq!(r.msgs_per_sec, 1.0);
    let iv: Vec<(u64, bool)> = r.intervals.iter().map(|iv| (iv.messages, iv.omitted)).collect();
    assert_eq!(iv, [(1, true), (2, false), (0, false)]);
}

#[test]
fn one_interval_per_second_with_what_happened_in_it() {
    let mut s = setup(StressProtocol::Echo, 1, 1, 8);
    s.duration_secs = 3.5;
    let mut t = echo(s);
    let c = connect_all(&mut t)[0];
    let mut seq = 0;
    for replies in [3, 0, 5, 1] {
        for _ in 0..replies {
            t.feed(c, &message(0, seq, 8));
            seq += 1;
        }
        t.advance(if seq == 9 { 500 * MS } else { Duration::from_secs(1) });
    }
    assert!(t.stop_requested());
    let r = report(&t);
    let got: Vec<(f64, f64, u64)> =
        r.intervals.iter().map(|iv| (iv.start_secs, iv.end_secs, iv.messages)).collect();
    assert_eq!(got, [(0.0, 1.0, 3), (1.0, 2.0, 0), (2.0, 3.0, 5), (3.0, 3.5, 1)]);
    assert_eq!(r.intervals[3].msgs_per_sec, 2.0);
    assert_eq!(r.intervals[2].open, 1);
}

#[test]
fn connect_rate_ramps_and_says_when_done() {
    let mut s = setup(StressProtocol::Echo, 3, 1, 8);
    s.connect_rate = Some(10.0);
    let mut t = echo(s);
    let mut asked = t.take_connects();
    assert_eq!(asked.len(), 1);
    t.advance(99 * MS);
    assert!(t.take_connects().is_empty());
    t.advance(MS);
    asked.extend(t.take_connects());
    t.advance(100 * MS);
    asked.extend(t.take_connects());
    assert_eq!(asked.iter().map(|c| c.1).collect::<Vec<_>>(), [0, 1, 2]);
    t.complete_connect(0, target());
    t.complete_connect(1, target());
    assert_eq!(report(&t).connections.ramp_secs, None, "not until every client has connected");
    t.complete_connect(2, target());
    let r = report(&t);
    assert_eq!(r.connections.ramp_secs, Some(0.2));
    assert_eq!((r.connections.attempted, r.connections.established, r.connections.peak_open), (3, 3, 3));
}

#[test]
fn thousands_of_connects_go_out_a_batch_per_turn() {
    let mut t = echo(setup(StressProtocol::Echo, 600, 1, 8));
    assert_eq!(t.take_connects().len(), 256, "the first batch, then back to the loop");
    t.advance(Duration::ZERO);
    assert!(t.take_connects().is_empty(), "not in the same turn");
    t.advance(Duration::from_micros(1));
    assert_eq!(t.take_connects().len(), 256, "the next turn");
    t.advance(Duration::from_micros(1));
    let rest = t.take_connects();
    assert_eq!(rest.len(), 88);
    assert_eq!(rest.last().map(|c| c.1), Some(599));
    t.advance(Duration::from_secs(1));
    assert!(t.take_connects().is_empty());
}

#[test]
fn greet_checks_the_banner_answers_and_reconnects() {
    let mut t = start(GreetLoad::default(), setup(StressProtocol::Greet, 1, 8, 64));
    let c = connect_all(&mut t)[0];
    assert!(t.take_output(c).is_empty(), "the server speaks first");
    t.advance(3 * MS);
    t.feed(c, &BANNER[..10]);
    t.feed(c, &BANNER[10..]);
    assert_eq!(t.take_output(c), b"Hi");
    t.eof(c);
    assert_eq!(t.closed(c), Some(CloseReason::PeerClosed));
    let again = t.take_connects();
    assert_eq!(again.len(), 1, "the next greeting on a new connection");
    let r = report(&t);
    assert_eq!((r.messages, r.error_count, r.connections.attempted), (1, 0, 2));
    assert!(about(r.latency.max_us, 3_000), "from the connect to the whole banner: {:?}", r.latency);
}

#[test]
fn greet_wrong_or_cut_banner_is_an_error() {
    let mut t = start(GreetLoad::default(), setup(StressProtocol::Greet, 2, 1, 64));
    let c = connect_all(&mut t);
    let mut wrong = BANNER.to_vec();
    wrong[0] = b'm';
    t.feed(c[0], &wrong);
    t.feed(c[1], &BANNER[..20]);
    t.eof(c[1]);
    let r = report(&t);
    assert_eq!(r.errors.mismatched, 1);
    assert_eq!((r.errors.lost_replies, r.errors.lost_bytes, r.errors.closed_early.by_peer), (1, 24, 1));
}

#[test]
fn greet_open_loop_begins_each_exchange_when_due() {
    let mut s = setup(StressProtocol::Greet, 1, 1, 64);
    s.rate = Some(5.0); // one greeting every 200 ms
    let mut t = start(GreetLoad::default(), s);
    let c = connect_all(&mut t)[0];
    t.feed(c, BANNER);
    t.eof(c);
    assert!(t.take_connects().is_empty(), "the next greeting is not due yet");
    t.advance(200 * MS);
    let c = connect_all(&mut t);
    assert_eq!(c.len(), 1);
    t.advance(30 * MS);
    t.feed(c[0], BANNER);
    assert!(about(report(&t).latency.max_us, 30_000));
}

fn framed_reply(header: Header) -> Vec<u8> {
    let mut reply = Vec::new();
    Codec::new(header, 1 << 20).encode(crate::protocols::framed::REPLY, &mut reply).expect("encodes");
    reply
}

#[test]
fn framed_every_frame_gets_the_reply_frame_in_order_however_split() {
    for header in [Header::Ascii64, Header::U32] {
        let load = FramedLoad::classic(header, 64).expect("encodes");
        let mut t = start(load, setup(StressProtocol::Framed, 1, 3, 64));
        let c = connect_all(&mut t)[0];
        let sent = t.take_output(c);
        let codec = Codec::new(header, 1 << 20);
        let mut frames = 0;
        let mut rest = &sent[..];
        while let Some(frame) = codec.decode(rest).expect("valid header") {
            assert_eq!(frame.payload.len(), 64);
            rest = &rest[frame.consumed..];
            frames += 1;
        }
        assert_eq!((frames, rest.len()), (3, 0), "{header:?}: three whole frames in flight");
        let replies = framed_reply(header).repeat(3);
        for piece in replies.chunks(7) {
            t.feed(c, piece);
        }
        let r = report(&t);
        assert_eq!((r.messages, r.error_count), (3, 0), "{header:?}");
        assert_eq!(t.take_output(c).len(), 3 * (header.size() + 64), "three more frames went out");
    }
}

#[test]
fn framed_a_wrong_reply_is_a_mismatch_and_a_cut_one_lost() {
    let load = FramedLoad::classic(Header::U32, 16).expect("encodes");
    let mut t = start(load, setup(StressProtocol::Framed, 1, 1, 16));
    let c = connect_all(&mut t)[0];
    let mut wrong = framed_reply(Header::U32);
    wrong[10] ^= 0x20;
    t.feed(c, &wrong);
    t.feed(c, &framed_reply(Header::U32));
    t.feed(c, &framed_reply(Header::U32)[..5]);
    t.eof(c);
    let r = report(&t);
    assert_eq!((r.messages, r.errors.mismatched), (1, 1));
    assert_eq!((r.errors.lost_replies, r.errors.closed_early.by_peer, r.error_count), (1, 1, 3));
}
