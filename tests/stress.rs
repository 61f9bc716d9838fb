//! `sockloop::stress` against real servers on loopback: an in-process sockloop server on its
//! own thread (port 0), the load on the test's thread. Every run is bounded by its
//! `--duration`; the servers are stopped through their handles.

mod common;

use sockloop::protocols::{echo::Echo, greet::Greet};
use sockloop::stress::{self, StressOptions, StressProtocol};
use sockloop::{Config, Handle, Handler, Reactor};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A server on its own thread; stopped when dropped.
struct Server {
    addr: SocketAddr,
    handle: Handle,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start<H: Handler + Send + 'static>(handler: H) -> Server {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut reactor = Reactor::new(handler, Config::default()).expect("reactor");
            // A backlog as deep as the kernel allows: thousands of clients connect at once.
            let addr = reactor.listen("127.0.0.1:0".parse().expect("address"), 4096).expect("listen");
            tx.send((addr, reactor.handle())).expect("test thread waits");
            reactor.run().expect("server runs");
        });
        let (addr, handle) = rx.recv().expect("server started");
        Server { addr, handle, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn options(protocol: StressProtocol, clients: u32, duration_ms: u64) -> StressOptions {
    let mut opts = StressOptions::new(protocol);
    opts.clients = clients;
    opts.duration = Duration::from_millis(duration_ms);
    opts
}

#[test]
fn two_thousand_echo_clients_every_byte_verified() {
    let server = Server::start(Echo);
    let mut opts = options(StressProtocol::Echo, 2000, 1500);
    opts.pipeline = 2;
    let report = stress::run(&opts, server.addr).expect("run");
    assert_eq!(report.error_count, 0, "{report}");
    assert!(report.is_success());
    assert_eq!(report.connections.established, 2000, "{report}");
    assert_eq!(report.connections.peak_open, 2000);
    assert!(report.messages > 0, "{report}");
    assert!(report.bytes_received >= report.messages * 64, "{report}");
    assert!(!report.intervals.is_empty());
    assert!(report.latency.count == report.messages && report.latency.max_us > 0);
    // Every connection was served: the one-thread server starves none of 2,000 clients.
    let shares = report.per_connection.as_ref().expect("per-connection shares");
    assert!(shares.connections > 1000, "most connections are open through the window: {shares:?}");
    assert!(shares.min > 0.0, "a connection got no reply in the whole window: {shares:?}");
}

#[test]
fn a_corrupting_server_is_caught() {
    let server = Server::start(common::Corrupting);
    let report = stress::run(&options(StressProtocol::Echo, 20, 500), server.addr).expect("run");
    assert!(report.errors.mismatched > 0, "{report}");
    assert_eq!(report.messages, 0, "no corrupted reply passes as a message");
    assert!(!report.is_success());
    assert!(report.to_string().contains("mismatched replies"), "{report}");
}

#[test]
fn refused_connects_are_counted_by_kind_and_fail_the_run() {
    // A port that was free a moment ago, with nothing listening on it now.
    let addr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let report = stress::run(&options(StressProtocol::Echo, 50, 5000), addr).expect("run");
    assert_eq!(report.errors.connect.refused, 50, "{report}");
    assert_eq!((report.connections.attempted, report.connections.established), (50, 0));
    assert_eq!(report.error_count, 50);
    assert!(!report.is_success());
    assert!(report.elapsed_secs < 4.0, "with every client gone the run ends early: {report}");
}

#[test]
fn greet_banners_verified_connection_after_connection() {
    let server = Server::start(Greet::default());
    let report = stress::run(&options(StressProtocol::Greet, 20, 700), server.addr).expect("run");
    assert_eq!(report.error_count, 0, "{report}");
    assert!(report.messages > 20, "each client greets many times: {report}");
    assert!(report.connections.attempted > 20);
}

#[test]
fn open_loop_sends_at_the_asked_rate() {
    let server = Server::start(Echo);
    let mut opts = options(StressProtocol::Echo, 100, 1000);
    opts.rate = Some(2000.0);
    opts.json = true;
    let plot = std::env::temp_dir().join(format!("sockloop-stress-test-{}.svg", std::process::id()));
    opts.plot = Some(plot.clone());
    let report = stress::run(&opts, server.addr).expect("run");
    assert_eq!(report.error_count, 0, "{report}");
    // Pacing by timers, not by replies: about 2000 in the second, whatever the server does.
    assert!((1500..=2300).contains(&report.messages), "{report}");
    let mut out = Vec::new();
    stress::print_report(&report, &opts, &mut out).expect("printed");
    let json: serde_json::Value = serde_json::from_slice(&out).expect("stdout is one JSON document");
    assert_eq!(json["latency_from"], "intended send");
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    let _ = std::fs::remove_file(&plot);
    assert!(svg.contains("<svg"));
}
