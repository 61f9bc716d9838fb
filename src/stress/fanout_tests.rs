//! Conversations (chat, relay) driven with no network: the test plays the server, feeding
//! each member the lines a server would send, on a virtual clock.

use super::chat::ChatTalk;
use super::driver::{Plan, Stress};
use super::fanout::{Dialect, FanOut};
use super::message::{self, Names};
use super::options::StressProtocol;
use super::progress::Progress;
use super::relay::RelayTalk;
use super::report::{Report, Setup};
use crate::ConnId;
use crate::testing::TestTransport;
use std::net::SocketAddr;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const SIZE: usize = 16;
/// Every member's local address in the test transport: what the relay names senders by.
const FROM: &str = "127.0.0.1/50000";

type Run<D> = TestTransport<Stress<FanOut<D>>>;

fn setup(protocol: StressProtocol, clients: u32, rate: Option<f64>) -> Setup {
    Setup {
        protocol,
        target: "127.0.0.1:7003".parse().expect("address"),
        clients,
        size: SIZE,
        header: None,
        pipeline: 1,
        rate,
        connect_rate: None,
        warmup_secs: 0.0,
        duration_secs: 10.0,
        bind: Vec::new(),
    }
}

fn start<D: Dialect>(dialect: D, setup: Setup) -> (Run<D>, Vec<ConnId>) {
    let load = FanOut::new(dialect, setup.clients, SIZE, setup.pipeline);
    let mut t = TestTransport::new(Stress::new(load, Plan::new(setup), Progress::hidden()));
    t.start();
    let connects = t.take_connects();
    let ids = connects.into_iter().map(|(addr, tag)| t.complete_connect(tag, addr)).collect();
    (t, ids)
}

fn chat(clients: u32) -> (Run<ChatTalk>, Vec<ConnId>) {
    start(ChatTalk::new(Names::with_tag("tm".into())), setup(StressProtocol::Chat, clients, None))
}

fn relay(clients: u32) -> (Run<RelayTalk>, Vec<ConnId>) {
    start(RelayTalk::new(Names::with_tag("tr".into())), setup(StressProtocol::Relay, clients, None))
}

fn text(sender: u32, seq: u64) -> String {
    let mut v = Vec::new();
    message::write(sender, seq, SIZE, &mut v);
    String::from_utf8(v).expect("ASCII")
}

fn said<D: Dialect>(t: &mut Run<D>, id: ConnId) -> String {
    String::from_utf8(t.take_output(id)).expect("ASCII")
}

fn feed<D: Dialect>(t: &mut Run<D>, id: ConnId, line: &str) {
    t.feed(id, line.as_bytes());
}

/// Every member is welcomed and takes its name, as the chat server would say it.
fn join_all(t: &mut Run<ChatTalk>, ids: &[ConnId]) {
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(said(t, id), format!("/nick tm{i}\n"));
        feed(t, id, &format!("* welcome, guest{i}: {i} others here. Commands: /nick NAME\n"));
        for &other in &ids[i + 1..] {
            feed(t, other, &format!("* guest{i} joined\n* guest{i} is now tm{i}\n"));
        }
        feed(t, id, &format!("* you are now tm{i}\n"));
    }
}

/// Passes member `from`'s message `seq` on to `to`, as the room does.
fn pass(t: &mut Run<ChatTalk>, ids: &[ConnId], from: u32, seq: u64, to: usize) {
    feed(t, ids[to], &format!("tm{from}: {}\n", text(from, seq)));
}

fn finish<D: Dialect>(t: &mut Run<D>) -> Report {
    t.advance(Duration::from_secs(20));
    t.stop();
    t.handler().report()
}

#[test]
fn chat_begins_once_everyone_is_in_and_each_message_reaches_all_others() {
    let (mut t, ids) = chat(3);
    for &id in &ids[..2] {
        let _ = said(&mut t, id);
        feed(&mut t, id, "* welcome, guest: 0 others here.\n");
    }
    feed(&mut t, ids[0], "* you are now tm0\n");
    feed(&mut t, ids[1], "* you are now tm1\n");
    assert!(said(&mut t, ids[0]).is_empty(), "nothing is said before the room is full");
    t.advance(300 * MS);
    assert_eq!(said(&mut t, ids[2]), "/nick tm2\n");
    feed(&mut t, ids[2], "* you are now tm2\n");
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(said(&mut t, id), format!("{}\n", text(i as u32, 0)), "member {i} speaks");
    }
    t.advance(2 * MS);
    pass(&mut t, &ids, 0, 0, 1);
    assert!(said(&mut t, ids[0]).is_empty(), "closed loop: not until everyone has it");
    pass(&mut t, &ids, 0, 0, 2);
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 1)));
    let r = finish(&mut t);
    assert_eq!(r.messages, 2, "two deliveries");
    assert_eq!(r.latency.max_us, 2_000, "from the send to each receiver");
    let fan = r.fanout.clone().expect("a conversation");
    assert_eq!((fan.ready, fan.sent, fan.audience), (3, 4, 2));
    assert_eq!(fan.setup_secs, 0.3);
    assert_eq!(r.measured_secs, 10.0, "the run's duration counts from when everyone is in");
    assert_eq!(r.elapsed_secs, 10.3);
    assert!(r.intervals[0].omitted, "the set-up is shown but not measured");
    // Messages 1 of member 0, and 0 of members 1 and 2, are still owed, but they were sent
    // 10 s before the end: lost, not in flight.
    assert_eq!(r.errors.lost_deliveries, 6, "{r}");
    assert_eq!(r.error_count, 6);
}

#[test]
fn a_set_up_that_stalls_is_given_up_after_ten_quiet_seconds() {
    let (mut t, ids) = chat(3);
    feed(&mut t, ids[0], "* you are now tm0\n");
    t.advance(Duration::from_secs(8));
    feed(&mut t, ids[1], "* you are now tm1\n");
    t.advance(Duration::from_millis(9_990));
    assert!(!t.stop_requested(), "the set-up got somewhere 9.99 s ago: it may take its time");
    t.advance(Duration::from_secs(1));
    assert!(t.stop_requested(), "nobody has got in for 10 s");
    t.stop();
    let r = t.handler().report();
    assert_eq!((r.errors.lost_replies, r.error_count, r.messages), (1, 1, 0), "{r}");
    assert_eq!(r.measured_secs, 0.0, "nothing was measured");
}

#[test]
fn the_wrong_server_is_given_up_at_once() {
    let (mut t, ids) = relay(2);
    for &id in &ids {
        feed(&mut t, id, "* welcome, guest1: 0 others here. Commands: /nick NAME\n");
    }
    assert!(ids.iter().all(|&id| t.closed(id).is_some()), "a relay says nothing before the answer");
    assert!(t.stop_requested(), "nobody left: the run ends");
    assert_eq!(t.handler().report().errors.mismatched, 2);
}

#[test]
fn chat_notices_and_strangers_are_skipped_not_errors() {
    let (mut t, ids) = chat(2);
    join_all(&mut t, &ids);
    for &id in &ids {
        let _ = said(&mut t, id);
    }
    for line in ["* alice joined\n", "alice: hi all\n", "server: welcome\n", "* guest9 left\n"] {
        feed(&mut t, ids[0], line);
    }
    pass(&mut t, &ids, 1, 0, 0);
    feed(&mut t, ids[1], &format!("tm0: {}\n", text(0, 0)));
    t.advance(MS);
    let r = t.handler().report();
    assert_eq!((r.messages, r.error_count), (2, 0), "{r}");
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 1)));
}

#[test]
fn chat_lines_split_anywhere_are_still_lines() {
    let (mut t, ids) = chat(2);
    join_all(&mut t, &ids);
    let line = format!("* bob joined\ntm1: {}\r\n", text(1, 0));
    for b in line.as_bytes() {
        t.feed(ids[0], std::slice::from_ref(b));
    }
    let r = t.handler().report();
    assert_eq!((r.messages, r.error_count), (1, 0), "{r}");
}

#[test]
fn chat_a_skipped_delivery_is_missing_a_late_one_out_of_order_a_repeat_duplicated() {
    let mut s = setup(StressProtocol::Chat, 2, None);
    s.pipeline = 2;
    let (mut t, ids) = start(ChatTalk::new(Names::with_tag("tm".into())), s);
    join_all(&mut t, &ids);
    assert_eq!(said(&mut t, ids[1]), [0, 1].map(|seq| text(1, seq) + "\n").concat(), "two in flight");
    pass(&mut t, &ids, 1, 0, 0);
    // The room skips message 1, then message 2 arrives: 1 is missing.
    pass(&mut t, &ids, 1, 2, 0);
    assert_eq!(t.handler().report().errors.missing, 1);
    let next = said(&mut t, ids[1]);
    assert!(next.contains(&text(1, 3)) && next.contains(&text(1, 4)), "a skip does not stall the sender");
    pass(&mut t, &ids, 1, 1, 0);
    pass(&mut t, &ids, 1, 2, 0);
    let r = t.handler().report();
    let e = r.errors;
    assert_eq!((e.missing, e.out_of_order, e.duplicated), (0, 1, 1));
    assert_eq!(r.messages, 2, "only the deliveries in order count");
}

#[test]
fn chat_a_wrong_text_or_an_unsent_message_is_a_mismatch() {
    let (mut t, ids) = chat(2);
    join_all(&mut t, &ids);
    let mut bad = text(1, 0);
    bad.replace_range(SIZE - 1.., "!");
    for line in [
        format!("tm1: {bad}\n"),
        format!("tm0: {}\n", text(1, 0)),
        format!("tm1: {}\n", text(1, 7)),
        format!("tm0: {}\n", text(0, 0)),
        "! line too long\n".to_string(),
    ] {
        feed(&mut t, ids[0], &line);
    }
    let e = t.handler().report().errors;
    assert_eq!((e.mismatched, e.refused), (4, 1), "{e:?}");
}

#[test]
fn chat_a_member_refused_its_name_leaves_and_the_others_go_on() {
    let (mut t, ids) = chat(3);
    for (i, &id) in ids.iter().enumerate() {
        let _ = said(&mut t, id);
        let answer =
            if i == 2 { "! nick taken: tm2\n".to_string() } else { format!("* you are now tm{i}\n") };
        feed(&mut t, id, &answer);
    }
    assert!(t.closed(ids[2]).is_some(), "it cannot take part");
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 0)));
    pass(&mut t, &ids, 0, 0, 1);
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 1)), "one other member to reach");
    let r = t.handler().report();
    assert_eq!((r.errors.refused, r.error_count, r.fanout.map(|f| f.audience)), (1, 1, Some(1)));
}

#[test]
fn chat_a_member_cut_off_loses_what_it_was_owed_without_stalling_others() {
    let (mut t, ids) = chat(3);
    join_all(&mut t, &ids);
    pass(&mut t, &ids, 0, 0, 1);
    t.reset(ids[2]);
    let _ = said(&mut t, ids[0]);
    let r = t.handler().report();
    assert_eq!((r.errors.closed_early.reset, r.errors.lost_deliveries), (1, 2), "{r}");
    pass(&mut t, &ids, 0, 1, 1);
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 2)), "its next message went on");
}

#[test]
fn chat_open_loop_sends_on_schedule_and_times_from_it() {
    let (mut t, ids) = start(
        ChatTalk::new(Names::with_tag("tm".into())),
        setup(StressProtocol::Chat, 2, Some(20.0)), // each member every 100 ms, 50 ms apart
    );
    join_all(&mut t, &ids);
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 0)));
    assert!(said(&mut t, ids[1]).is_empty(), "member 1 is due 50 ms later");
    t.advance(50 * MS);
    assert_eq!(said(&mut t, ids[1]), format!("{}\n", text(1, 0)));
    t.advance(100 * MS);
    assert!(said(&mut t, ids[0]).is_empty(), "message 1 waits for message 0 to be delivered");
    pass(&mut t, &ids, 0, 0, 1);
    assert_eq!(said(&mut t, ids[0]), format!("{}\n", text(0, 1)), "overdue: sent at once");
    t.advance(10 * MS);
    pass(&mut t, &ids, 0, 1, 1);
    let r = t.handler().report();
    assert_eq!(r.latency_from, "intended send");
    // Message 0 took 150 ms; message 1 was due at 100 ms and arrived at 160 ms.
    assert_eq!((r.latency.count, r.latency.max_us), (2, 150_015));
    assert!((r.latency.mean_us - 105_000.0).abs() < 200.0, "{:?}", r.latency);
}

/// Both clients of a pair register; what each said is returned.
fn pair_up(t: &mut Run<RelayTalk>, ids: &[ConnId]) {
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(said(t, id), format!("name:tr{i}\n"));
        feed(t, id, "200, Name registered\n");
    }
}

#[test]
fn relay_pairs_need_the_ack_and_the_delivery() {
    let (mut t, ids) = relay(2);
    pair_up(&mut t, &ids);
    assert_eq!(said(&mut t, ids[0]), format!("to:tr1;content:{}\n", text(0, 0)));
    assert_eq!(said(&mut t, ids[1]), format!("to:tr0;content:{}\n", text(1, 0)));
    t.advance(3 * MS);
    feed(&mut t, ids[0], "200, Message Sent Successfully\n");
    assert!(said(&mut t, ids[0]).is_empty(), "acknowledged, not yet delivered");
    feed(&mut t, ids[1], &format!("{FROM} ; content : {}\n", text(0, 0)));
    assert_eq!(said(&mut t, ids[0]), format!("to:tr1;content:{}\n", text(0, 1)));
    // The other way round: the delivery first, then the acknowledgement.
    feed(&mut t, ids[0], &format!("{FROM} ; content : {}\n", text(1, 0)));
    feed(&mut t, ids[1], "200, Message Sent Successfully\n");
    assert_eq!(said(&mut t, ids[1]), format!("to:tr0;content:{}\n", text(1, 1)));
    let r = t.handler().report();
    assert_eq!((r.messages, r.error_count), (2, 0), "{r}");
    assert!(r.latency.max_us.abs_diff(3_000) <= 2, "{:?}", r.latency);
    let fan = r.fanout.clone().expect("a conversation");
    assert_eq!((fan.sent, fan.acks, fan.audience), (4, 2, 1));
}

#[test]
fn relay_refusals_strangers_and_stray_acks_are_errors() {
    let (mut t, ids) = relay(2);
    pair_up(&mut t, &ids);
    feed(&mut t, ids[0], "405, Could not send the message to the requested address\n");
    feed(&mut t, ids[0], "200, Message Sent Successfully\n200, Message Sent Successfully\n");
    feed(&mut t, ids[0], &format!("127.0.0.1/1 ; content : {}\n", text(1, 0)));
    feed(&mut t, ids[0], &format!("{FROM} ; content : {}\n", text(0, 0)));
    feed(&mut t, ids[0], "('127.0.0.1', 50000)\n");
    let e = t.handler().report().errors;
    // The second ack was for nothing; the delivery from a wrong address, our own message
    // sent back to us, and a line no request asked for are mismatches.
    assert_eq!((e.refused, e.mismatched), (1, 4), "{e:?}");
}

#[test]
fn relay_an_odd_one_out_talks_to_itself() {
    let (mut t, ids) = relay(3);
    pair_up(&mut t, &ids);
    assert_eq!(said(&mut t, ids[2]), format!("to:tr2;content:{}\n", text(2, 0)));
    feed(&mut t, ids[2], &format!("200, Message Sent Successfully\n{FROM} ; content : {}\n", text(2, 0)));
    assert_eq!(said(&mut t, ids[2]), format!("to:tr2;content:{}\n", text(2, 1)));
    assert_eq!(t.handler().report().error_count, 0);
}

#[test]
fn relay_what_is_owed_at_the_end_is_waited_for_then_lost() {
    let (mut t, ids) = relay(2);
    pair_up(&mut t, &ids);
    let _ = (said(&mut t, ids[0]), said(&mut t, ids[1]));
    // Client 0's message 0 is acknowledged but never delivered. Client 1's is, just
    // before the end, so its message 1 is in flight when the run ends.
    feed(&mut t, ids[0], "200, Message Sent Successfully\n");
    t.advance(Duration::from_millis(9_990));
    feed(&mut t, ids[1], "200, Message Sent Successfully\n");
    feed(&mut t, ids[0], &format!("{FROM} ; content : {}\n", text(1, 0)));
    assert_eq!(said(&mut t, ids[1]), format!("to:tr0;content:{}\n", text(1, 1)));
    t.advance(15 * MS);
    assert!(!t.stop_requested(), "the run is over, but three things are still owed");
    feed(&mut t, ids[1], "200, Message Sent Successfully\n");
    feed(&mut t, ids[0], &format!("{FROM} ; content : {}\n", text(1, 1)));
    assert!(said(&mut t, ids[1]).is_empty(), "nothing is sent after the end");
    t.advance(900 * MS);
    assert!(!t.stop_requested(), "still waiting for the last one");
    t.advance(200 * MS);
    assert!(t.stop_requested(), "nothing came for a second: it is lost");
    t.stop();
    let r = t.handler().report();
    assert_eq!((r.errors.lost_deliveries, r.error_count), (1, 1), "{r}");
    assert_eq!(r.in_flight_at_end, 3);
    assert_eq!(r.messages, 1, "what came after the end is checked, not measured");
    let waited = r.fanout.map_or(0.0, |f| f.waited_secs);
    assert!((1.0..1.2).contains(&waited), "{waited}");
}

#[test]
fn a_client_that_never_connects_does_not_hold_the_others_back() {
    let load = FanOut::new(RelayTalk::new(Names::with_tag("tr".into())), 4, SIZE, 1);
    let mut t = TestTransport::new(Stress::new(
        load,
        Plan::new(setup(StressProtocol::Relay, 4, None)),
        Progress::hidden(),
    ));
    t.start();
    let connects = t.take_connects();
    let target: SocketAddr = "127.0.0.1:7003".parse().expect("address");
    let ids: Vec<ConnId> = connects[..2].iter().map(|&(_, tag)| t.complete_connect(tag, target)).collect();
    t.fail_connect(connects[2].1, &std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    t.fail_connect(connects[3].1, &std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    pair_up(&mut t, &ids);
    assert!(said(&mut t, ids[0]).starts_with("to:tr1;"), "the run began without them");
    assert_eq!(t.handler().report().errors.connect.refused, 2);
}
