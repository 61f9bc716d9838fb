//! The client and the flood driven on virtual time with no sockets: what is sent when,
//! how each reply is matched, and what the run adds up to.

use super::client::{PingClient, PingOptions};
use super::event::{Event, ReplyKind};
use super::flood::{Flood, FloodOptions};
use super::wire::Header;
use super::{ACK, CALIBRATED};
use crate::ConnId;
use crate::testing::TestTransport;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn server() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("address")
}

struct Run {
    t: TestTransport<PingClient>,
    sock: ConnId,
    events: Rc<RefCell<Vec<Event>>>,
}

impl Run {
    fn start(opts: PingOptions) -> Run {
        let mut client = PingClient::new(server(), opts);
        let events = Rc::new(RefCell::new(Vec::new()));
        let sink = events.clone();
        client.on_event(move |e| sink.borrow_mut().push(e.clone()));
        let mut t = TestTransport::new(client);
        let sock = t.udp_socket();
        t.handler_mut().use_socket(sock);
        t.start();
        Run { t, sock, events }
    }

    /// The probes sent since the last call, as headers (calibrations as `None`).
    fn sent(&mut self) -> Vec<Option<Header>> {
        self.t.take_datagrams().iter().map(|d| Header::parse(&d.data)).collect()
    }

    fn one_probe(&mut self) -> Header {
        match self.sent().as_slice() {
            [Some(h)] => *h,
            other => panic!("expected one probe, got {other:?}"),
        }
    }

    fn answer(&mut self, h: Header) {
        self.t.datagram(self.sock, server(), &h.reply(64));
    }

    fn events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.borrow_mut())
    }

    fn advance(&mut self, by: Duration) {
        self.t.advance(by);
    }
}

fn opts(count: u64, interval_ms: u64) -> PingOptions {
    PingOptions { count: Some(count), interval: Duration::from_millis(interval_ms), ..PingOptions::default() }
}

fn reply(seq: u64, rtt: Duration, kind: ReplyKind) -> Event {
    Event::Reply { seq, bytes: 64, from: server(), rtt, kind }
}

#[test]
fn probes_are_numbered_timed_and_matched() {
    let mut r = Run::start(opts(3, 100));
    let p1 = r.one_probe();
    assert_eq!((p1.seq, p1.sent_ns), (1, 0));
    r.advance(5 * MS);
    r.answer(p1);
    r.advance(95 * MS);
    let p2 = r.one_probe();
    assert_eq!((p2.seq, p2.sent_ns), (2, 100_000_000));
    r.advance(10 * MS);
    r.answer(p2);
    r.advance(90 * MS);
    assert_eq!(r.one_probe().seq, 3);
    assert!(!r.t.stop_requested());
    r.advance(100 * MS);
    assert!(r.t.stop_requested(), "the last window closed: the run is over");
    assert_eq!(
        r.events()[1..],
        [
            reply(1, 5 * MS, ReplyKind::OnTime),
            reply(2, 10 * MS, ReplyKind::OnTime),
            Event::NoAnswer { seq: 3 }
        ]
    );
    let s = r.t.handler().summary();
    assert_eq!((s.transmitted, s.received, s.late), (3, 2, 0));
    assert_eq!(s.time_ms, 300);
    assert!(s.to_string().contains("3 packets transmitted, 2 received, 33.3333% packet loss, time 300ms"));
    assert_eq!(r.t.pending_timers(), 0);
}

#[test]
fn a_late_reply_is_its_own_probes_and_never_a_newer_ones() {
    let mut r = Run::start(opts(2, 100));
    let p1 = r.one_probe();
    r.advance(100 * MS);
    let p2 = r.one_probe();
    r.advance(10 * MS);
    r.answer(p1);
    r.advance(10 * MS);
    r.answer(p2);
    assert_eq!(
        r.events()[1..],
        [
            Event::NoAnswer { seq: 1 },
            reply(1, 110 * MS, ReplyKind::Late),
            reply(2, 20 * MS, ReplyKind::OnTime)
        ]
    );
    assert!(r.t.stop_requested(), "every probe resolved");
    let s = r.t.handler().summary();
    assert_eq!((s.transmitted, s.received, s.late, s.loss_percent), (2, 1, 1, 50.0));
    assert_eq!(s.rtt.map(|rtt| rtt.max_ms), Some(20.0), "the late RTT is not in the statistics");
}

#[test]
fn a_timeout_replaces_the_next_send_as_the_window() {
    let mut r = Run::start(PingOptions { timeout: Some(250 * MS), ..opts(2, 100) });
    let p1 = r.one_probe();
    r.advance(100 * MS);
    let p2 = r.one_probe();
    r.advance(100 * MS);
    r.answer(p1);
    r.advance(300 * MS);
    assert_eq!(r.events()[1..], [reply(1, 200 * MS, ReplyKind::OnTime), Event::NoAnswer { seq: 2 }]);
    assert_eq!(p2.seq, 2);
    assert!(r.t.stop_requested());
    assert_eq!(r.t.handler().elapsed(), 350 * MS, "ends when probe 2's timeout ends");
}

#[test]
fn decay_shrinks_each_gap_down_to_a_floor() {
    let mut r = Run::start(PingOptions { decay: 0.5, ..opts(5, 100) });
    let mut sent = vec![r.one_probe().sent_ns];
    for _ in 0..600 {
        r.advance(MS / 2);
        sent.extend(r.sent().into_iter().flatten().map(|h| h.sent_ns));
    }
    assert_eq!(sent, [0, 100_000_000, 150_000_000, 175_000_000, 187_500_000], "halved each time");
    let mut r = Run::start(PingOptions { decay: 0.1, ..opts(4, 4) });
    let mut sent = vec![r.one_probe().sent_ns];
    for _ in 0..20 {
        r.advance(MS / 2);
        sent.extend(r.sent().into_iter().flatten().map(|h| h.sent_ns));
    }
    assert_eq!(sent, [0, 4_000_000, 5_000_000, 6_000_000], "0.4 ms is below the 1 ms floor");
}

#[test]
fn the_classic_q2_decay_is_five_percent_per_probe() {
    let mut r = Run::start(PingOptions { decay: 0.95, ..opts(4, 1000) });
    r.one_probe();
    let mut at = Vec::new();
    for ms in 1..=3000 {
        r.advance(MS);
        if !r.sent().is_empty() {
            at.push(ms);
        }
    }
    assert_eq!(at, [1000, 1950, 2853]);
}

#[test]
fn per_second_buckets_count_both_directions() {
    let mut r = Run::start(opts(8, 250));
    for i in 0..8 {
        let p = r.one_probe();
        r.advance(10 * MS);
        if i != 7 {
            r.answer(p);
        }
        r.advance(240 * MS);
    }
    let rows = r.t.handler().seconds();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].sent, rows[0].acked, rows[1].sent, rows[1].acked), (4, 4, 4, 3));
    assert_eq!(rows[0].throughput_bps, 4.0 * 64.0 * 8.0 * 2.0);
    assert_eq!(rows[1].throughput_bps, 3.0 * 64.0 * 8.0 * 2.0);
    assert_eq!(rows[0].avg_delay_ms, Some(10.0));
}

#[test]
fn calibration_comes_first_and_its_answer_starts_the_probes() {
    let mut r = Run::start(PingOptions { size: 2000, calibrate: true, ..opts(1, 100) });
    let first = r.t.take_datagrams();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].data, b"C 2000");
    r.advance(50 * MS);
    assert!(r.sent().is_empty(), "no probe before the calibration is answered");
    r.t.datagram(r.sock, server(), CALIBRATED.as_bytes());
    let p = r.one_probe();
    assert_eq!(r.t.take_datagrams().len(), 0);
    assert_eq!((p.seq, p.sent_ns), (1, 0), "time counts from the first probe");
    assert_eq!(r.events()[1], Event::Calibrated { bytes: 33 });

    let mut r = Run::start(PingOptions { calibrate: true, ..opts(1, 100) });
    r.t.take_datagrams();
    r.advance(999 * MS);
    assert!(r.sent().is_empty());
    r.advance(MS);
    assert_eq!(r.one_probe().seq, 1, "unanswered: probing anyway after 1 s");
    assert_eq!(r.events()[1], Event::NotCalibrated { waited: 1000 * MS });
}

#[test]
fn classic_replies_go_to_the_latest_waiting_probe_with_a_note() {
    let mut r = Run::start(opts(3, 100));
    r.one_probe();
    r.advance(7 * MS);
    r.t.datagram(r.sock, server(), ACK.as_bytes());
    r.t.datagram(r.sock, server(), ACK.as_bytes());
    let events = r.events();
    assert_eq!(events[1], Event::ClassicReplies);
    assert_eq!(
        events[2],
        Event::Reply { seq: 1, bytes: 19, from: server(), rtt: 7 * MS, kind: ReplyKind::OnTime }
    );
    assert_eq!(events[3], Event::Unmatched { bytes: 19, from: server() }, "nothing waits any more");
    assert_eq!(events.len(), 4, "the note comes once");
    assert!(r.t.handler().classic());
    assert_eq!(r.t.handler().unmatched(), 1);
}

#[test]
fn duplicates_and_strangers_are_told_apart() {
    let mut r = Run::start(opts(2, 100));
    let p = r.one_probe();
    r.advance(MS);
    r.answer(p);
    r.answer(p);
    r.t.datagram(r.sock, server(), &Header { seq: 1, sent_ns: 12345 }.reply(64));
    let events = r.events();
    assert_eq!(events[2], reply(1, MS, ReplyKind::Duplicate));
    assert_eq!(events[3], Event::Unmatched { bytes: 64, from: server() }, "right seq, wrong send time");
    assert_eq!(events[2].to_string(), "64 bytes from 127.0.0.1:8080: seq=1 time=1.00 ms (DUP!)");
    assert_eq!(r.t.handler().summary().duplicates, 1);
}

#[test]
fn a_stop_mid_run_counts_what_is_out_as_lost() {
    let mut r = Run::start(PingOptions { count: None, ..opts(0, 100) });
    for _ in 0..3 {
        r.one_probe();
        r.advance(100 * MS);
    }
    r.t.stop();
    let c = r.t.handler();
    assert!(c.interrupted());
    let s = c.summary();
    assert_eq!((s.transmitted, s.received, s.loss_percent, s.time_ms), (4, 0, 100.0, 300));
}

#[test]
fn lines_look_like_pings() {
    let line = |rtt: Duration| reply(3, rtt, ReplyKind::OnTime).to_string();
    assert_eq!(line(Duration::from_micros(123)), "64 bytes from 127.0.0.1:8080: seq=3 time=0.123 ms");
    assert_eq!(line(Duration::from_micros(4_567)), "64 bytes from 127.0.0.1:8080: seq=3 time=4.57 ms");
    assert_eq!(line(Duration::from_micros(45_670)), "64 bytes from 127.0.0.1:8080: seq=3 time=45.7 ms");
    assert_eq!(line(Duration::from_micros(456_700)), "64 bytes from 127.0.0.1:8080: seq=3 time=457 ms");
    assert_eq!(
        reply(3, 600 * MS, ReplyKind::Late).to_string(),
        "64 bytes from 127.0.0.1:8080: seq=3 time=600 ms (late: counted as lost)"
    );
    assert_eq!(Event::NoAnswer { seq: 9 }.to_string(), "no answer yet for seq=9");
}

#[test]
fn flood_senders_are_lock_step_and_count_loss_and_late_replies() {
    let opts = FloodOptions { size: 64, timeout: 100 * MS, duration: Duration::from_secs(1) };
    let mut t = TestTransport::new(Flood::new(server(), opts).with_turn_clock());
    let (a, b) = (t.udp_socket(), t.udp_socket());
    t.handler_mut().add_sender(a);
    t.handler_mut().add_sender(b);
    t.start();
    let sent = t.take_datagrams();
    assert_eq!(sent.iter().map(|d| d.sock).collect::<Vec<_>>(), [a, b]);
    let probe = |i: usize| Header::parse(&sent[i].data).expect("a probe");
    t.advance(2 * MS);
    t.datagram(a, server(), &probe(0).reply(64));
    let next = t.take_datagrams();
    assert_eq!(next.len(), 1, "a's reply sends a's next probe at once");
    assert_eq!((next[0].sock, Header::parse(&next[0].data).map(|h| h.seq)), (a, Some(2)));
    t.advance(100 * MS);
    let retry = t.take_datagrams();
    assert!(retry.iter().any(|d| d.sock == b), "b timed out and moved on");
    t.datagram(b, server(), &probe(1).reply(64));
    t.datagram(a, server(), b"Packet Acknowledged");
    t.advance(Duration::from_secs(1));
    assert!(t.stop_requested());
    let report = t.handler().report();
    assert_eq!((report.received, report.late, report.unmatched), (1, 1, 1));
    assert!(report.lost >= 2, "every 100 ms without replies: {}", report.lost);
    assert_eq!(report.in_flight_at_end, 2);
    assert_eq!(report.sent, report.received + report.lost + report.in_flight_at_end);
    assert!((report.rtt.p50_us - 2_000.0).abs() < 2.0, "3 significant digits: {}", report.rtt.p50_us);
}
