//! The chat room and the classic console exchange over real sockets on 127.0.0.1 and [::1]:
//! an in-process reactor for the room, the real binary for `--classic` and the client.
//! Every wait is bounded (socket timeouts, bounded polls); a stuck server fails the test.

mod common;
#[path = "support/process.rs"]
mod process;

use common::{IO_TIMEOUT, LineClient, Server, connect, v4, v6};
use process::{BIN, ServeProc, wait_bounded};
use sockloop::protocols::chat::Chat;
use sockloop::{CloseReason, Config};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A chat member: a line client with the nick the server gave it on joining.
struct Member {
    lines: LineClient,
    guest: String,
}

impl Member {
    /// Connects and reads the welcome line.
    fn join(addr: SocketAddr) -> Member {
        let mut lines = LineClient::connect(addr);
        let welcome = lines.line();
        let guest = welcome.strip_prefix("* welcome, ").and_then(|rest| rest.split(':').next());
        let guest = guest.filter(|g| g.starts_with("guest")).unwrap_or_else(|| panic!("{welcome:?}")).into();
        Member { lines, guest }
    }

    fn send(&mut self, line: &str) {
        self.lines.send(line, "\n");
    }

    fn line(&mut self) -> String {
        self.lines.line()
    }

    fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }
}

/// Three members in a room at `addr`, named a, b and c, with every notice read.
fn three_members(addr: SocketAddr) -> [Member; 3] {
    let mut a = Member::join(addr);
    a.send("/nick a");
    a.expect("* you are now a");
    let mut b = Member::join(addr);
    a.expect(&format!("* {} joined", b.guest));
    b.send("/nick b");
    b.expect("* you are now b");
    a.expect(&format!("* {} is now b", b.guest));
    let mut c = Member::join(addr);
    c.send("/nick c");
    c.expect("* you are now c");
    for m in [&mut a, &mut b] {
        m.expect(&format!("* {} joined", c.guest));
        m.expect(&format!("* {} is now c", c.guest));
    }
    [a, b, c]
}

#[test]
fn three_members_chat_on_both_families() {
    let server = Server::with(&[v4(), v6()], Chat::default(), Config::default(), |_| ());
    for addr in server.addrs.clone() {
        let [mut a, mut b, mut c] = three_members(addr);
        a.send("hello from a");
        b.expect("a: hello from a");
        c.expect("a: hello from a");
        b.send("hi a");
        c.send("hi all");
        // a's next lines are the others', never its own.
        let mut got = [a.line(), a.line()];
        got.sort();
        assert_eq!(got, ["b: hi a", "c: hi all"]);
        c.expect("b: hi a");
        b.expect("c: hi all");
        a.send("/msg C just for you");
        c.expect("a (private): just for you");
        b.send("/who");
        b.expect("* here (3): a, b, c");
        c.send("BYE");
        a.expect("* c left");
        b.expect("* c left");
        a.send("/quit");
        b.expect("* a left");
        b.send("still here");
        b.send("/who");
        b.expect("* here (1): b");
    }
    server.stop();
}

/// `printf 'hi' | nc -N`: a last line with no newline before the sender's FIN still
/// reaches the room, before the notice that the sender left.
#[test]
fn a_last_line_without_newline_before_the_fin_reaches_the_others() {
    let server = Server::with(&[v4(), v6()], Chat::default(), Config::default(), |_| ());
    for addr in server.addrs.clone() {
        let mut reader = Member::join(addr);
        let mut sender = Member::join(addr);
        reader.expect(&format!("* {} joined", sender.guest));
        sender.lines.writer.write_all(b"hi").expect("send");
        sender.lines.writer.shutdown(Shutdown::Write).expect("half-close");
        reader.expect(&format!("{}: hi", sender.guest));
        reader.expect(&format!("* {} left", sender.guest));
        let mut rest = Vec::new();
        sender.lines.reader.read_to_end(&mut rest).expect("the server closes the sender's side too");
        assert_eq!(rest, b"", "nothing is echoed to the sender");
    }
    server.stop();
}

/// Reads lines on its own thread, checking that `a`'s numbered lines arrive all and in
/// order, and counting them in `seen`; returns whether it saw `slow` dropped.
fn reader(mut m: Member, seen: Arc<AtomicU64>, total: u64) -> thread::JoinHandle<bool> {
    thread::spawn(move || {
        let mut dropped = false;
        while seen.load(Ordering::SeqCst) < total {
            let line = m.line();
            if line == "* slow dropped (not reading)" {
                dropped = true;
                continue;
            }
            let n: u64 = line
                .strip_prefix("a: ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            assert_eq!(n, seen.load(Ordering::SeqCst), "lines from one sender arrive in order");
            seen.store(n + 1, Ordering::SeqCst);
        }
        dropped
    })
}

/// A member that never reads must not slow the others or grow the server's memory: it is
/// dropped once its queue passes the high-water mark, while the others get every line.
#[test]
fn a_member_that_never_reads_is_dropped_and_the_others_keep_up() {
    const HIGH_WATER: usize = 64 << 10;
    const WINDOW: u64 = 400; // lines in flight: ~40 KB, under the high-water mark
    const TOTAL: u64 = 200_000; // ~20 MB; the slow member is dropped after a few MB
    let config = Config { high_water: HIGH_WATER, ..Config::default() };
    let server = Server::with(&[v4()], Chat::default(), config, |r| {
        (r.stats().closed(CloseReason::Local), r.stats().peak_conn_pending_out.get())
    });
    let addr = server.addr();
    let [mut a, mut b, mut slow] = three_members(addr);
    slow.send("/nick slow");
    for m in [&mut a, &mut b] {
        m.expect("* c is now slow");
    }
    // From now on `slow` reads nothing; its kernel buffers fill, then its queue on the server.
    let seen = Arc::new(AtomicU64::new(0));
    let b_reader = reader(b, seen.clone(), TOTAL);
    let started = Instant::now();
    let pad = "x".repeat(90);
    let mut peak_pending = 0;
    for n in 0..TOTAL {
        while n >= seen.load(Ordering::SeqCst) + WINDOW {
            assert!(started.elapsed() < Duration::from_secs(60), "b stopped receiving at line {n}");
            assert!(!b_reader.is_finished(), "b's reader ended early");
            peak_pending = peak_pending.max(server.handle.stats().pending_out.get());
            thread::yield_now();
        }
        a.lines.writer.write_all(format!("{n} {pad}\n").as_bytes()).expect("a sends");
    }
    let dropped = b_reader.join().expect("b's reader");
    assert!(dropped, "b was told that slow was dropped");
    a.expect("* slow dropped (not reading)");
    peak_pending = peak_pending.max(server.handle.stats().pending_out.get());
    // The slow member's connection is gone: whatever it had in its buffers, then the end.
    slow.lines.reader.get_mut().set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut rest = Vec::new();
    match slow.lines.reader.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the slow member's connection did not end: {e}"),
    }
    let (closed_local, peak_conn) = server.stop();
    eprintln!(
        "slow dropped; peak queue {peak_conn} bytes, peak pending {peak_pending}, {:?}",
        started.elapsed()
    );
    assert!(closed_local >= 1, "slow was closed by the server");
    // One read of a's lines (up to 64 KB, plus the `a: ` prefixes) may land in slow's queue
    // after it crossed the mark and before the drop takes effect; nothing more.
    let bound = (HIGH_WATER + (80 << 10)) as u64;
    assert!(peak_conn <= bound, "one queue reached {peak_conn} bytes (bound {bound})");
    assert!(peak_pending <= 2 * bound, "{peak_pending} bytes queued in all");
}

/// The classic client's exchange, byte for byte: bare text both ways, `BYE` closes.
#[test]
fn classic_mode_through_the_binary_with_the_console_on_a_pipe() {
    let mut server = ServeProc::start_with_console(&["chat", "--classic", "--listen", "127.0.0.1:0"]);
    let addr = server.addr();
    server.console("hi there\nsecond reply\n");
    let mut s = connect(addr);
    s.write_all(b"hello").expect("send");
    let mut reply = [0; 8];
    s.read_exact(&mut reply).expect("the console's first line");
    assert_eq!(&reply, b"hi there");
    assert_eq!(server.next_line(), "Client says: hello");
    s.write_all(b"how are you").expect("send");
    let mut reply = [0; 12];
    s.read_exact(&mut reply).expect("the console's second line");
    assert_eq!(&reply, b"second reply", "no newline before it: the first reply was bare");
    assert_eq!(server.next_line(), "Client says: how are you");
    s.write_all(b"BYE").expect("send");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the server closes");
    assert_eq!(rest, b"", "nothing after the replies");
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn the_chat_client_introduces_itself_and_prints_the_room() {
    let server = Server::with(&[v6()], Chat::default(), Config::default(), |_| ());
    let mut bob = Member::join(server.addr());
    bob.send("/nick bob");
    bob.expect("* you are now bob");
    let mut child = Command::new(BIN)
        .args(["chat", &server.addr().to_string(), "--nick", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sockloop chat");
    let mut stdin = child.stdin.take().expect("stdin");
    bob.expect("* guest2 joined");
    bob.expect("* guest2 is now alice");
    bob.send("welcome alice");
    stdin.write_all(b"hello bob\n").expect("type");
    bob.expect("alice: hello bob");
    drop(stdin); // Ctrl-D: leaves the room, and the client exits when the server closes
    bob.expect("* alice left");
    let status = wait_bounded(&mut child);
    assert!(status.success(), "{status}");
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("stdout");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("* welcome, guest2: 1 others here."), "{out}");
    assert_eq!(lines[1..], ["* you are now alice", "bob: welcome alice"]);
    server.stop();
}

#[test]
fn bad_options_are_refused_and_help_has_examples() {
    for args in [&["chat", "127.0.0.1:1", "--nick", "a b"][..], &["serve", "chat", "--max-line", "1G"]] {
        let out = Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error");
    }
    for args in [&["chat", "--help"][..], &["serve", "chat", "--help"]] {
        let out = Command::new(BIN).args(args).output().expect("run");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"), "{args:?}");
    }
}
