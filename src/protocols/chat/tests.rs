//! The room, driven through `TestTransport`: bytes in, bytes out, no sockets.

use super::*;
use crate::handler::{Effect, Effects};
use crate::stats::Stats;
use crate::testing::TestTransport;
use crate::timer::Timers;
use std::time::Instant;

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("the room only ever sends UTF-8")
}

/// A room with `n` members whose welcomes and join notices have been read.
fn room(n: usize) -> (TestTransport<Chat>, Vec<ConnId>) {
    let mut t = TestTransport::new(Chat::default());
    let ids: Vec<ConnId> = (0..n).map(|_| t.accept()).collect();
    for &id in &ids {
        t.take_output(id);
    }
    (t, ids)
}

#[test]
fn a_line_goes_to_every_other_member_not_back_to_the_sender() {
    let (mut t, m) = room(3);
    t.feed(m[0], b"hello room\n");
    assert_eq!(text(t.take_output(m[1])), "guest1: hello room\n");
    assert_eq!(text(t.take_output(m[2])), "guest1: hello room\n");
    assert_eq!(t.take_output(m[0]), b"");
}

#[test]
fn joining_gets_a_welcome_and_the_others_a_notice() {
    let mut t = TestTransport::new(Chat::default());
    let a = t.accept();
    assert_eq!(text(t.take_output(a)), format!("* welcome, guest1: 0 others here. Commands: {HELP}\n"));
    let b = t.accept();
    assert!(text(t.take_output(b)).starts_with("* welcome, guest2: 1 others here."));
    assert_eq!(text(t.take_output(a)), "* guest2 joined\n");
}

#[test]
fn lines_split_across_reads_and_glued_in_one_arrive_whole_and_in_order() {
    let (mut t, m) = room(2);
    t.feed(m[0], b"hel");
    assert_eq!(t.held(m[0]), b"hel", "a partial line is left to the reactor");
    t.feed(m[0], b"lo\r\nwor");
    t.feed(m[0], b"ld\nthree\nfour\n\n");
    assert_eq!(text(t.take_output(m[1])), "guest1: hello\nguest1: world\nguest1: three\nguest1: four\n");
    assert_eq!(t.held(m[0]), b"");
}

#[test]
fn nick_changes_are_announced_and_collisions_and_bad_nicks_refused() {
    let (mut t, m) = room(2);
    t.feed(m[0], b"/nick alice\n");
    assert_eq!(text(t.take_output(m[0])), "* you are now alice\n");
    assert_eq!(text(t.take_output(m[1])), "* guest1 is now alice\n");
    t.feed(m[1], b"/nick ALICE\n");
    assert_eq!(text(t.take_output(m[1])), "! nick taken: ALICE\n");
    for (line, why) in [
        ("/nick a:b\n", "':' and ',' are not allowed"),
        ("/nick a b\n", "spaces and control characters are not allowed"),
        ("/nick server\n", "reserved for the server console"),
        ("/nick *bob\n", "may not start with '*', '!' or '/'"),
    ] {
        t.feed(m[1], line.as_bytes());
        let nick = &line[6..line.len() - 1];
        assert_eq!(text(t.take_output(m[1])), format!("! bad nick ({why}): {nick}\n"));
    }
    t.feed(m[1], b"/nick\n");
    assert_eq!(text(t.take_output(m[1])), "! usage: /nick NAME\n");
    assert_eq!(t.take_output(m[0]), b"", "refusals are private");
    t.feed(m[0], b"/nick Alice\n");
    assert_eq!(text(t.take_output(m[1])), "* alice is now Alice\n", "a change of case is allowed");
    t.feed(m[0], b"hi\n");
    assert_eq!(text(t.take_output(m[1])), "Alice: hi\n");
}

#[test]
fn who_lists_everyone_sorted() {
    let (mut t, m) = room(3);
    t.feed(m[2], b"/nick Bob\n");
    t.feed(m[1], b"/nick alice\n");
    t.take_output(m[0]);
    t.feed(m[0], b"/WHO\n");
    assert_eq!(text(t.take_output(m[0])), "* here (3): alice, Bob, guest1\n");
}

#[test]
fn msg_reaches_only_its_target_whatever_the_case() {
    let (mut t, m) = room(3);
    t.feed(m[1], b"/nick bob\n");
    for &id in &m {
        t.take_output(id);
    }
    t.feed(m[0], b"/msg BOB psst, over here\n");
    assert_eq!(text(t.take_output(m[1])), "guest1 (private): psst, over here\n");
    assert_eq!(t.take_output(m[2]), b"");
    assert_eq!(t.take_output(m[0]), b"");
    t.feed(m[0], b"/msg zed hello\n/msg bob\n");
    assert_eq!(text(t.take_output(m[0])), "! no such nick: zed\n! usage: /msg NICK TEXT\n");
}

#[test]
fn quit_and_bye_leave_with_a_notice_and_close_ignoring_what_follows() {
    for quit in [&b"/quit\n"[..], b"BYE\n", b"BYE\r\n"] {
        let (mut t, m) = room(2);
        let mut input = quit.to_vec();
        input.extend_from_slice(b"not sent\n");
        t.feed(m[0], &input);
        assert_eq!(text(t.take_output(m[1])), "* guest1 left\n", "{quit:?}");
        assert_eq!(t.closed(m[0]), Some(CloseReason::Local));
        assert_eq!(t.handler().room().len(), 1);
    }
}

#[test]
fn eof_and_reset_leave_with_a_notice() {
    let (mut t, m) = room(3);
    t.eof(m[0]);
    assert_eq!(t.closed(m[0]), Some(CloseReason::PeerClosed));
    t.reset(m[1]);
    assert_eq!(text(t.take_output(m[2])), "* guest1 left\n* guest2 left\n");
    assert_eq!(t.handler().room().nicks(), ["guest3"]);
}

#[test]
fn a_last_line_without_newline_before_eof_is_broadcast_then_the_member_leaves() {
    let (mut t, m) = room(3);
    t.feed(m[0], b"first\nby");
    t.feed(m[0], b"e for now");
    for &other in &m[1..] {
        assert_eq!(text(t.take_output(other)), "guest1: first\n", "the partial line is held");
    }
    t.eof(m[0]);
    for &other in &m[1..] {
        assert_eq!(text(t.take_output(other)), "guest1: bye for now\n* guest1 left\n");
    }
    assert_eq!(t.closed(m[0]), Some(CloseReason::PeerClosed));
    assert_eq!(t.handler().room().len(), 2);
}

#[test]
fn an_unterminated_last_command_is_obeyed_and_bye_leaves_once() {
    for last in [&b"BYE"[..], b"/quit", b"/quit\r"] {
        let (mut t, m) = room(2);
        t.feed(m[0], last);
        t.eof(m[0]);
        assert_eq!(text(t.take_output(m[1])), "* guest1 left\n", "{last:?}");
        assert!(t.closed(m[0]).is_some());
        assert_eq!(t.handler().room().len(), 1);
    }
    let (mut t, m) = room(2);
    t.feed(m[0], b"/who");
    t.eof(m[0]);
    assert_eq!(text(t.take_output(m[0])), "* here (2): guest1, guest2\n", "answered: it may still read");
}

#[test]
fn eof_after_an_over_long_line_does_not_say_its_tail() {
    let mut t = TestTransport::new(Chat::new(4));
    let (a, b) = (t.accept(), t.accept());
    t.take_output(b);
    t.feed(a, b"far too long");
    t.eof(a);
    assert_eq!(text(t.take_output(b)), "* guest1 left\n");
}

#[test]
fn an_over_long_line_is_refused_once_and_never_held() {
    let mut t = TestTransport::new(Chat::new(16));
    let (a, b) = (t.accept(), t.accept());
    t.take_output(a);
    t.take_output(b);
    for _ in 0..1000 {
        t.feed(a, b"0123456789");
        assert!(t.held(a).len() <= 17, "held {} bytes", t.held(a).len());
    }
    t.feed(a, b"tail\nshort\n");
    assert_eq!(text(t.take_output(a)), "! line too long (the limit is 16 bytes): ignored\n");
    assert_eq!(text(t.take_output(b)), "guest1: short\n");
    assert_eq!(t.closed(a), None);
}

#[test]
fn invalid_utf8_is_answered_with_an_error_line() {
    let (mut t, m) = room(2);
    t.feed(m[0], b"\xff\xfe\xfd\n/nick \xc3\n\xe2\x82\xac ok\n");
    assert_eq!(text(t.take_output(m[0])), "! invalid UTF-8: line ignored\n! invalid UTF-8: line ignored\n");
    assert_eq!(text(t.take_output(m[1])), "guest1: \u{20ac} ok\n");
}

#[test]
fn unknown_commands_get_help_and_a_double_slash_is_text() {
    let (mut t, m) = room(2);
    t.feed(m[0], b"/dance\n//dance\n");
    assert_eq!(text(t.take_output(m[0])), format!("! unknown command /dance (commands: {HELP})\n"));
    assert_eq!(text(t.take_output(m[1])), "guest1: /dance\n");
}

#[test]
fn a_guest_nick_taken_by_hand_is_skipped() {
    let mut t = TestTransport::new(Chat::default());
    let a = t.accept();
    t.feed(a, b"/nick guest2\n");
    let b = t.accept();
    assert!(text(t.take_output(b)).starts_with("* welcome, guest3:"));
}

#[test]
fn the_console_talks_to_everyone_and_sees_everything() {
    let mut t = TestTransport::new(Chat::default());
    let console = t.open_stdio();
    let a = t.accept();
    t.take_output(a);
    assert_eq!(text(t.take_output(console)), "* guest1 joined\n");
    t.feed(a, b"hi server\n");
    assert_eq!(text(t.take_output(console)), "guest1: hi server\n");
    t.feed(console, b"hello all\n/msg guest1 just you\n/who\n");
    assert_eq!(text(t.take_output(a)), "server: hello all\nserver (private): just you\n");
    assert_eq!(text(t.take_output(console)), "* here (2): guest1, server\n");
    t.feed(console, b"/nick boss\n/quit\nBYE\n");
    assert_eq!(
        text(t.take_output(console)),
        "! the console's nick cannot change\n\
         ! the console stays; Ctrl-C stops the server\n\
         ! the console stays; Ctrl-C stops the server\n"
    );
    t.feed(console, b"last words, unterminated");
    assert_eq!(t.take_output(a), b"", "not a line yet");
    t.eof(console);
    assert_eq!(text(t.take_output(a)), "server: last words, unterminated\n");
    assert_eq!(t.closed(console), None, "stdout still shows the room");
    t.feed(a, b"still there?\n");
    assert_eq!(text(t.take_output(console)), "guest1: still there?\n");
}

#[test]
fn stopping_tells_everyone() {
    let (mut t, m) = room(2);
    t.stop();
    for id in m {
        assert_eq!(text(t.take_output(id)), "* the server is shutting down\n");
    }
}

/// Calls the handler as the reactor would for a callback `TestTransport` cannot trigger
/// (`backlogged`, `drained`), for connection `current`; returns the effects asked for.
fn call(chat: &mut Chat, current: ConnId, f: impl FnOnce(&mut Chat, &mut Context<'_>)) -> Vec<String> {
    let (mut effects, mut timers, stats) = (Effects::default(), Timers::new(), Stats::default());
    let mut ctx = Context {
        now: Instant::now(),
        current: Some(current),
        reading: false,
        effects: &mut effects,
        timers: &mut timers,
        stats: &stats,
    };
    f(chat, &mut ctx);
    let bytes = &effects.bytes;
    effects
        .list
        .iter()
        .map(|e| match e {
            Effect::Write { to, start, end, .. } => {
                format!("{to} <- {}", String::from_utf8_lossy(&bytes[*start..*end]))
            }
            Effect::Close { id, mode } => format!("close {id} {mode:?}"),
            _ => "other".into(),
        })
        .collect()
}

#[test]
fn a_member_that_stops_reading_is_dropped_and_the_others_told() {
    let (mut t, m) = room(3);
    let mut state = Peer::Member(Lines::new(MAX_LINE));
    let asked = call(t.handler_mut(), m[1], |chat, ctx| chat.backlogged(&mut state, ctx, 2 << 20));
    let mut notices: Vec<String> = asked[1..].to_vec();
    notices.sort();
    assert_eq!(asked[0], format!("close {} Abort", m[1]), "its queue is thrown away");
    let mut want = [m[0], m[2]].map(|id| format!("{id} <- * guest2 dropped (not reading)\n")).to_vec();
    want.sort();
    assert_eq!(notices, want);
    assert!(matches!(state, Peer::Gone));
    assert_eq!(t.handler().room().nicks(), ["guest1", "guest3"]);
    // When the reactor then closes it, nobody is told twice.
    t.reset(m[1]);
    assert_eq!(t.take_output(m[0]), b"");
    t.feed(m[0], b"on we go\n");
    assert_eq!(text(t.take_output(m[2])), "guest1: on we go\n");
}

#[test]
fn a_console_that_falls_behind_misses_lines_and_is_told_how_many() {
    let mut t = TestTransport::new(Chat::default());
    let console = t.open_stdio();
    let a = t.accept();
    t.take_output(console);
    let mut state = Peer::Console(LineBuf::new(MAX_LINE));
    let asked = call(t.handler_mut(), console, |chat, ctx| chat.backlogged(&mut state, ctx, 2 << 20));
    assert!(asked.is_empty(), "the console is never dropped: {asked:?}");
    t.feed(a, b"one\ntwo\n/msg server psst\n");
    assert_eq!(t.take_output(console), b"", "not even private lines");
    let asked = call(t.handler_mut(), console, |chat, ctx| chat.drained(&mut state, ctx));
    assert_eq!(asked, [format!("{console} <- * 3 lines were not shown here: stdout fell behind\n")]);
    t.feed(a, b"three\n");
    assert_eq!(text(t.take_output(console)), "guest1: three\n");
}
