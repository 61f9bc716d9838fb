//! framed servers compared in one run, under one load generator: `sockloop serve framed
//! --header u32` and a tokio `current_thread` server on tokio-util's `LengthDelimitedCodec`
//! (see `peers.rs`), both answering every frame with the classic reply frame.
//!
//!     cargo bench --bench framed                 # every row, about three minutes
//!     cargo bench --bench framed -- --quick      # one short round, for a smoke run
//!
//! The load is `sockloop stress framed --header u32` (one thread, every reply checked byte
//! for byte), 64-byte payloads, one frame in flight per connection, at 100 and 10,000
//! connections. Each server is its own process pinned to CPU 1, the load runs here pinned
//! to CPU 0. Besides frames/s and p99 we report the server's CPU time per frame over the
//! measured window (utime+stime from /proc/PID/stat): on two cores the load generator is
//! as busy as the server, and this figure does not depend on how fast it can push. The
//! servers take turns over several rounds and the median of each figure is shown, so a
//! disturbance from other work on the machine falls on both alike.

#[path = "../common/mod.rs"]
mod common;
mod peers;

use common::{CpuSampler, Running, median, pin, raise_nofile};
use sockloop::stress::{self, FrameHeader, StressOptions, StressProtocol};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Sockloop,
    Tokio,
}

const SERVERS: [Server; 2] = [Server::Sockloop, Server::Tokio];

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Sockloop => "sockloop",
            Server::Tokio => "tokio",
        }
    }

    fn spawn(self) -> Running {
        let cmd = match self {
            Server::Sockloop => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_sockloop"));
                c.args(["serve", "framed", "--header", "u32", "--listen", "127.0.0.1:0"])
                    .env("RUST_LOG", "warn");
                c
            }
            Server::Tokio => {
                let mut c = Command::new(std::env::current_exe().expect("own path"));
                c.args(["peer", "tokio"]);
                c
            }
        };
        Running::start(cmd, 1, self.name())
    }
}

#[derive(Default)]
struct Rows {
    msgs_per_sec: Vec<f64>,
    p99_us: Vec<f64>,
    cpu_ns_per_msg: Vec<f64>,
    errors: u64,
}

fn measure(server: Server, clients: u32, window: Duration, into: &mut Rows) {
    let running = server.spawn();
    let mut opts = StressOptions::new(StressProtocol::Framed);
    opts.header = Some(FrameHeader::U32);
    opts.clients = clients;
    opts.size = 64;
    opts.warmup = warmup(clients);
    opts.duration = window;
    let cpu = CpuSampler::start(running.pid());
    let t0 = Instant::now();
    let report = stress::run(&opts, running.addr).expect("stress run");
    // The measured window ends where the run did and lasts `measured_secs`.
    let end = t0 + Duration::from_secs_f64(report.elapsed_secs);
    let start = end - Duration::from_secs_f64(report.measured_secs);
    let server_cpu = cpu.between(start, end);
    let cpu_ns = server_cpu * 1e9 / report.messages.max(1) as f64;
    // Each round on stderr: how far rounds spread says how much to trust the medians.
    eprintln!("  {clients} {}: {:.0} frames/s, {cpu_ns:.0} ns/frame", server.name(), report.msgs_per_sec);
    into.msgs_per_sec.push(report.msgs_per_sec);
    into.p99_us.push(report.latency.p99_us as f64);
    into.cpu_ns_per_msg.push(cpu_ns);
    into.errors += report.error_count;
    if !report.is_success() {
        eprintln!("{report}");
    }
}

/// 10,000 connects overflow a listen backlog of 1,024 (both servers'), and a dropped SYN is
/// sent again only after a second: the warm-up lets every connection in before measuring.
fn warmup(clients: u32) -> Duration {
    Duration::from_secs(if clients > 1000 { 3 } else { 1 })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("peer") {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        peers::tokio_framed(addr, |a| println!("listening on {a}")).expect("peer server");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, window) = if quick { (1, Duration::from_secs(1)) } else { (5, Duration::from_secs(5)) };
    raise_nofile();
    pin(0, 0);

    println!("| connections | server | frames/s | p99 | server CPU/frame | errors |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for clients in [100, 10_000] {
        let mut rows: [Rows; 2] = Default::default();
        for round in 0..rounds {
            // Each round starts with the other server, so neither always runs first.
            for k in 0..SERVERS.len() {
                let i = (round + k) % SERVERS.len();
                measure(SERVERS[i], clients, window, &mut rows[i]);
            }
        }
        let figures: Vec<(f64, f64, f64)> = rows
            .iter()
            .map(|r| {
                (median(r.msgs_per_sec.clone()), median(r.p99_us.clone()), median(r.cpu_ns_per_msg.clone()))
            })
            .collect();
        for ((server, r), (rate, p99, cpu)) in SERVERS.iter().zip(&rows).zip(&figures) {
            println!(
                "| {clients} | {} | {rate:.0} | {:.2} ms | {cpu:.0} ns | {} |",
                server.name(),
                p99 / 1000.0,
                r.errors
            );
        }
        let (ours, theirs) = (figures[0], figures[1]);
        ratios.push((clients, ours.0 / theirs.0.max(1.0), theirs.2 / ours.2.max(1.0)));
    }
    println!();
    println!("| connections | frames/s sockloop/tokio | CPU/frame tokio/sockloop |");
    println!("|---:|---:|---:|");
    for (clients, rate, cpu) in ratios {
        println!("| {clients} | {rate:.2}x | {cpu:.2}x |");
    }
    println!();
    println!(
        "(median of {rounds} round(s) of {} s each, after a warm-up of 1 s, 3 s at 10,000 connections)",
        window.as_secs()
    );
}
