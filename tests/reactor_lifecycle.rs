//! Starting and ending things: graceful stop, outbound connects (success and failure), and
//! timers on a virtual clock.

mod common;

use common::*;
use sockloop::protocols::echo::Echo;
use sockloop::{CloseReason, Config, ConnId, ConnInfo, Context, Handler, Origin, Reactor, VirtualClock};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

/// The client sends several MiB without reading, so the echo queues up on the server; then
/// the server is stopped. The client still gets every byte, then EOF, and `run` returns.
#[test]
fn graceful_stop_flushes_queued_output() {
    // More than the kernel buffers hold, so most of it waits in the server's own queue; a
    // high-water mark above it lets the server read all of it while the client reads nothing.
    const LEN: u64 = 12 << 20;
    let config = Config { high_water: 16 << 20, ..Config::default() };
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let stats = server.handle.stats();
    let mut s = connect(server.addr());
    let mut w = s.try_clone().unwrap();
    thread::spawn(move || send_pattern(&mut w, 11, LEN).expect("send")).join().expect("writer panicked");
    wait_until("the server has read everything", IO_TIMEOUT, || stats.bytes_in.get() == LEN);
    assert!(stats.pending_out.get() > 0, "output should be queued on the server: {stats}");
    server.handle.stop();
    expect_pattern(&mut s, 11, LEN);
    expect_eof(&mut s);
    let handle = server.handle.clone();
    server.join();
    let stats = handle.stats();
    assert_eq!(stats.bytes_out.get(), LEN);
    assert_eq!(stats.closed_total(), 1, "{stats}");
    assert_eq!(stats.open.get(), 0);
}

/// Stopping while the client is still sending (its writer is blocked by flow control, as
/// the server stopped reading at the high-water mark): the server stops reading for good,
/// yet whatever it had echoed must still reach the client, followed by a clean EOF, not a
/// reset that throws away output the kernel had accepted but not delivered yet.
#[test]
fn graceful_stop_while_the_peer_keeps_sending() {
    const LEN: u64 = 32 << 20;
    let config = Config { grace: Duration::from_secs(60), ..Config::default() };
    let high_water = config.high_water as u64;
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let stats = server.handle.stats();
    let mut s = connect(server.addr());
    let writer = {
        let mut w = s.try_clone().unwrap();
        // Once the server lets go, the rest of this may be refused with a reset: that is
        // fine, the server stopped. What it already sent must not be lost, checked below.
        thread::spawn(move || {
            if send_pattern(&mut w, 12, LEN).is_ok() {
                let _ = w.shutdown(Shutdown::Write);
            }
        })
    };
    wait_until("the server's queue is full", IO_TIMEOUT, || stats.pending_out.get() >= high_water);
    server.handle.stop();
    let mut buf = vec![0; 64 << 10];
    let mut want = vec![0; 64 << 10];
    let mut got = 0u64;
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                fill(12, got, &mut want[..n]);
                assert!(buf[..n] == want[..n], "wrong bytes near offset {got}");
                got += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    let sent = stats.bytes_out.get();
    assert!(end.is_ok(), "after {got} of {sent} bytes: {end:?}");
    assert_eq!(got, sent, "bytes the server sent vs bytes the client got");
    assert!(got < LEN, "the server should have stopped echoing at the stop");
    // The server discarded input until we had acknowledged everything; then (not after
    // the 60 s grace period) it let go and `run` returned.
    let handle = server.handle.clone();
    server.join();
    drop(s);
    writer.join().expect("writer panicked");
    let stats = handle.stats();
    assert_eq!(stats.closed(CloseReason::Shutdown), 1, "{stats}");
    assert_eq!(stats.closed_total(), 1, "{stats}");
    assert_eq!(stats.open.get(), 0, "{stats}");
}

/// What the dialing handler saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Up(Origin, SocketAddr),
    Failed(u64, io::ErrorKind),
}

/// Each accepted client makes the handler dial the next of `targets` (tag = its position);
/// an outbound connection that comes up says hello and relays what it hears back to the
/// client that caused it; a failed connect tells that client "failed".
struct Dialer {
    targets: Vec<SocketAddr>,
    waiting: HashMap<u64, ConnId>,
    seen: Vec<Seen>,
}

const HELLO: &[u8] = b"hello through the reactor";

enum Dialed {
    Client,
    Outbound { client: ConnId, heard: usize },
}

impl Handler for Dialer {
    type Conn = Dialed;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Dialed {
        match info.origin {
            Origin::Outbound(tag) => {
                self.seen.push(Seen::Up(info.origin, info.peer));
                ctx.write(HELLO);
                Dialed::Outbound { client: self.waiting[&tag], heard: 0 }
            }
            _ => {
                let tag = self.waiting.len() as u64;
                self.waiting.insert(tag, id);
                ctx.connect(self.targets[tag as usize], tag);
                Dialed::Client
            }
        }
    }

    fn data(&mut self, conn: &mut Dialed, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if let Dialed::Outbound { client, heard } = conn {
            ctx.write_to(*client, data);
            *heard += data.len();
            if *heard == HELLO.len() {
                ctx.close();
            }
        }
        data.len()
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        self.seen.push(Seen::Failed(tag, err.kind()));
        ctx.write_to(self.waiting[&tag], b"failed");
    }
}

#[test]
fn outbound_connect_succeeds_and_fails_with_its_tag() {
    let echo = Server::with(&[v4()], Echo, Config::default(), |_| ());
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dialer =
        Dialer { targets: vec![echo.addr(), closed_port], waiting: HashMap::new(), seen: Vec::new() };
    let server = Server::with(&[v4()], dialer, Config::default(), |r: &mut Reactor<Dialer>| {
        std::mem::take(&mut r.handler_mut().seen)
    });
    let mut first = connect(server.addr());
    let mut heard = vec![0; HELLO.len()];
    first.read_exact(&mut heard).expect("the relayed echo");
    assert_eq!(heard, HELLO);
    let mut second = connect(server.addr());
    let mut heard = [0; 6];
    second.read_exact(&mut heard).expect("the failure notice");
    assert_eq!(&heard, b"failed");
    let handle = server.handle.clone();
    drop((first, second));
    let seen = server.stop();
    assert_eq!(
        seen,
        [Seen::Up(Origin::Outbound(0), echo.addr()), Seen::Failed(1, io::ErrorKind::ConnectionRefused)]
    );
    let stats = handle.stats();
    assert_eq!(stats.connected.get(), 1, "{stats}");
    assert_eq!(stats.closed(CloseReason::ConnectFailed), 1, "{stats}");
    echo.stop();
}

/// Says "ready" when a client connects and sets a 10 s timer; says "tick" when it fires.
struct Ticker;

impl Handler for Ticker {
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {
        ctx.write(b"ready");
        ctx.set_timer(Duration::from_secs(10), 0);
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn timer(&mut self, _conn: &mut (), ctx: &mut Context<'_>, _key: u64) {
        ctx.write(b"tick");
    }
}

#[test]
fn timers_run_on_virtual_time() {
    let clock = VirtualClock::new();
    let config = Config { idle_timeout: Some(Duration::from_secs(60)), ..Config::default() };
    let reactor_clock = clock.clone();
    let server =
        Server::start(&[v4()], move || Reactor::with_clock(Ticker, config, Box::new(reactor_clock)), |_| ());
    let stats = server.handle.stats();
    let mut s = connect(server.addr());
    let mut word = [0; 5];
    s.read_exact(&mut word).unwrap();
    assert_eq!(&word, b"ready");

    // 9.999 s of virtual time: the loop goes round (three polls after the wake-up, so the
    // turn that saw the new time has finished), and nothing fires.
    clock.advance(Duration::from_millis(9999));
    let polls = stats.polls.get();
    server.handle.wake();
    wait_until("the loop has seen the new time", IO_TIMEOUT, || stats.polls.get() >= polls + 3);
    assert_eq!(stats.timers_fired.get(), 0, "{stats}");

    clock.advance(Duration::from_millis(1));
    server.handle.wake();
    wait_until("the timer fires", IO_TIMEOUT, || stats.timers_fired.get() >= 1);
    let mut word = [0; 4];
    s.read_exact(&mut word).unwrap();
    assert_eq!(&word, b"tick");

    // The reactor's own idle timer runs on the same clock: 60 s after the tick, it closes.
    clock.advance(Duration::from_secs(61));
    server.handle.wake();
    expect_eof(&mut s);
    wait_until("the idle close is counted", IO_TIMEOUT, || stats.closed(CloseReason::IdleTimeout) == 1);
    server.stop();
}

#[test]
fn handle_stop_before_run_returns_at_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut r = Reactor::new(Echo, Config::default()).unwrap();
        r.listen(v4(), 16).unwrap();
        r.handle().stop();
        let _ = tx.send(r.run().is_ok());
    });
    assert!(rx.recv_timeout(IO_TIMEOUT).expect("run did not return"));
}

/// Echoes, and on `stop` stops the reactor at once ([`Context::stop_now`]).
struct EchoThenStopNow;

impl Handler for EchoThenStopNow {
    type Conn = ();

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {}

    fn data(&mut self, _conn: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if data.ends_with(b"stop") {
            ctx.stop_now();
        } else {
            ctx.write(data);
        }
        data.len()
    }
}

/// With output queued for a client that reads nothing and a grace period far longer than
/// the test may take, `stop_now` still ends `run` at once: the queue is dropped, not
/// waited for, and the connection is counted as closed by the shutdown.
#[test]
fn stop_now_drops_queued_output_instead_of_waiting_for_it() {
    const LEN: u64 = 12 << 20;
    let config = Config { high_water: 16 << 20, grace: Duration::from_secs(600), ..Config::default() };
    let server = Server::with(&[v4()], EchoThenStopNow, config, |_| ());
    let handle = server.handle.clone();
    let stats = handle.stats();
    let s = connect(server.addr());
    let mut w = s.try_clone().unwrap();
    thread::spawn(move || send_pattern(&mut w, 13, LEN).expect("send")).join().expect("writer panicked");
    wait_until("the server has read everything", IO_TIMEOUT, || stats.bytes_in.get() == LEN);
    assert!(stats.pending_out.get() > 0, "output should be queued on the server: {stats}");
    (&s).write_all(b"stop").unwrap();
    server.join(); // bounded by IO_TIMEOUT: a graceful stop would wait 600 s here
    assert_eq!(stats.closed(CloseReason::Shutdown), 1, "{stats}");
    assert!(stats.bytes_out.get() < LEN, "the queue was dropped, not sent: {stats}");
}
