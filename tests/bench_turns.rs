//! The echo benchmark's turn-taking load (`benches/echo/turns.rs`) against in-process
//! servers on loopback: every server gets its turns, every reply is checked, and a server
//! that corrupts replies is caught. Turns are a few milliseconds, so each test takes well
//! under a second.

mod common;
#[path = "../benches/echo/turns.rs"]
mod turns;

use sockloop::protocols::echo::Echo;
use sockloop::{Config, Handler, Reactor};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use turns::{Plan, Target, Turn};

/// A server on its own thread (`common::Server`), with that thread's id: the turns read
/// its CPU time.
struct Server {
    server: common::Server<()>,
    tid: Arc<AtomicU32>,
}

impl Server {
    fn start<H: Handler + Send + 'static>(handler: H) -> Server {
        let tid = Arc::new(AtomicU32::new(0));
        let own = tid.clone();
        let build = move || {
            // SAFETY: gettid has no preconditions.
            own.store(unsafe { libc::gettid() } as u32, Ordering::SeqCst);
            Reactor::new(handler, Config::default())
        };
        Server { server: common::Server::start(&[common::v4()], build, |_| ()), tid }
    }

    fn target(&self) -> Target {
        Target { addr: self.server.addr(), pid: self.tid.load(Ordering::SeqCst) }
    }
}

fn plan(clients: u32, size: usize, rounds: usize) -> Plan {
    Plan { clients, size, turn: Duration::from_millis(20), rounds, warm: 1 }
}

#[test]
fn every_server_gets_a_measured_turn_in_every_round() {
    let servers = [Server::start(Echo), Server::start(Echo), Server::start(Echo)];
    let targets: Vec<Target> = servers.iter().map(Server::target).collect();
    let (measured, errors) = turns::run(&targets, plan(20, 64, 4)).expect("turns run");
    assert_eq!(errors, 0);
    assert_eq!(measured.len(), 3);
    for turns in &measured {
        assert_eq!(turns.len(), 4, "one turn per measured round, warm-up left out");
        for t in turns {
            assert!(t.msgs >= 20, "each of 20 connections had a reply in the turn: {t:?}");
            assert!(t.secs >= 0.02, "a turn lasts at least its sending time: {t:?}");
            assert!(t.cpu_ns > 0 && t.p99_us > 0, "{t:?}");
        }
    }
}

#[test]
fn messages_larger_than_one_read_are_checked_whole() {
    let servers = [Server::start(Echo), Server::start(Echo)];
    let targets: Vec<Target> = servers.iter().map(Server::target).collect();
    let (measured, errors) = turns::run(&targets, plan(4, 256 << 10, 2)).expect("turns run");
    assert_eq!(errors, 0);
    assert!(measured.iter().flatten().all(|t| t.msgs >= 4));
}

#[test]
fn a_corrupting_server_is_caught_and_the_other_still_measured() {
    let servers = [Server::start(Echo), Server::start(common::Corrupting)];
    let targets: Vec<Target> = servers.iter().map(Server::target).collect();
    let (measured, errors) = turns::run(&targets, plan(10, 64, 2)).expect("turns run");
    // Each of the corrupting server's 10 connections fails its first reply and is dropped.
    assert_eq!(errors, 10);
    assert!(measured[0].iter().all(|t| t.msgs >= 10), "{:?}", measured[0]);
    assert!(measured[1].iter().all(|t| t.msgs == 0), "{:?}", measured[1]);
}

#[test]
fn a_server_that_is_not_there_is_an_error_not_a_hang() {
    let gone = {
        let s = Server::start(Echo);
        let target = s.target();
        s.server.stop(); // and waits: the listener is closed when this returns
        target
    };
    let live = Server::start(Echo);
    let err = turns::run(&[live.target(), gone], plan(2, 64, 1)).expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_turn_gives_its_rate_and_cpu_per_message_and_an_empty_turn_divides_by_nothing() {
    let turn = Turn { msgs: 300, secs: 0.5, cpu_ns: 1_500_000, p99_us: 10 };
    assert_eq!(turn.msgs_per_sec(), 600.0);
    assert_eq!(turn.cpu_ns_per_msg(), 5_000.0);
    let empty = Turn { msgs: 0, secs: 0.0, cpu_ns: 7, p99_us: 0 };
    assert_eq!(empty.msgs_per_sec(), 0.0);
    assert_eq!(empty.cpu_ns_per_msg(), 7.0);
}

#[test]
fn a_turn_survives_the_line_a_load_process_sends_it_as() {
    let turn = Turn { msgs: 123_456, secs: 0.300_512_25, cpu_ns: 987_654_321, p99_us: 4_321 };
    let line = turn.to_line(7);
    assert!(line.ends_with('\n'), "{line:?}");
    let (back, errors) = Turn::parse(&line).expect("parses");
    assert_eq!(
        (back.msgs, back.secs, back.cpu_ns, back.p99_us, errors),
        (123_456, 0.300_512_25, 987_654_321, 4_321, 7)
    );
    assert!(Turn::parse("ready\n").is_none());
    assert!(Turn::parse("turn 1 0.3 5\n").is_none(), "a short line is not a turn");
    assert!(Turn::parse("turn 1 x 5 6 0\n").is_none(), "nor one with a field that is not a number");
}

#[test]
fn a_server_that_stops_answering_costs_its_replies_not_the_run() {
    let servers = [Server::start(Echo), Server::start(common::Sink)];
    let targets: Vec<Target> = servers.iter().map(Server::target).collect();
    // The silent server's first turn waits a second for its replies, then gives them up.
    let (measured, errors) = turns::run(&targets, plan(3, 64, 2)).expect("turns run");
    assert_eq!(errors, 3, "each of its 3 connections owed one reply");
    assert!(measured[0].iter().all(|t| t.msgs >= 3), "{:?}", measured[0]);
    assert!(measured[1].iter().all(|t| t.msgs == 0), "{:?}", measured[1]);
}
