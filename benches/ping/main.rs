//! udp-ping on loopback, measured in one run against tokio.
//!
//!     cargo bench --bench ping                 # every row, about a minute
//!     cargo bench --bench ping -- --quick      # short windows, for a smoke run
//!
//! RTT: two clients (`sockloop ping`'s state machine on our reactor, and a tokio
//! `current_thread` ping client, `peers.rs`) against two servers (`sockloop serve udp-ping`
//! with no simulated loss or delay, and a tokio UDP echo server), 64-byte probes every
//! millisecond; a reply may take up to 100 ms before it counts as lost. Each server is its
//! own process pinned to CPU 1; the client runs in this process pinned to CPU 0. The four
//! pairs take turns, round after round, so a drift of the machine (frequency, other load)
//! falls on all of them alike. The line to read is sockloop client + sockloop server
//! against tokio client + tokio server: the overhead of our pair, which must stay within
//! 10%.
//!
//! Flood: `sockloop ping --flood`'s state machine with 1 and 1,000 senders (each its own
//! UDP socket, one thread) against both servers: round trips/s, datagrams/s through the
//! client thread, loss, RTT, and the server's CPU time per round trip (utime+stime from
//! /proc over the run), the figure that does not depend on how fast the client pushes.

mod peers;

use sockloop::protocols::ping::probes::Outcome;
use sockloop::protocols::ping::{Flood, FloodOptions, FloodReport, PingClient, PingOptions};
use sockloop::{Config, Handler, Reactor};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SIZE: usize = 64;
const INTERVAL: Duration = Duration::from_millis(1);
/// Generous, so a scheduling hiccup on a busy machine shows as a slow RTT, not as a loss.
const TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Sockloop,
    Tokio,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Sockloop => "sockloop",
            Side::Tokio => "tokio",
        }
    }

    /// Starts this side's server pinned to CPU 1 and waits for its `listening on` line.
    fn serve(self) -> Running {
        let mut cmd = match self {
            Side::Sockloop => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_sockloop"));
                c.args(["serve", "udp-ping", "--listen", "127.0.0.1:0"]).env("RUST_LOG", "warn");
                c
            }
            Side::Tokio => {
                let mut c = Command::new(std::env::current_exe().expect("own path"));
                c.args(["peer", "tokio"]);
                c
            }
        };
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start server");
        pin(child.id() as i32, 1);
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
        let addr = line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok());
        let addr = addr.unwrap_or_else(|| panic!("{}: unexpected first line {line:?}", self.name()));
        Running { child, addr }
    }
}

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` probes from our client; the on-time RTTs (ns) and the number lost.
fn sockloop_ping(target: SocketAddr, count: u64) -> (Vec<u64>, u64) {
    let opts = PingOptions {
        count: Some(count),
        interval: INTERVAL,
        timeout: Some(TIMEOUT),
        size: SIZE,
        ..PingOptions::default()
    };
    let mut client = PingClient::new(target, opts);
    client.use_real_clock();
    let mut reactor = Reactor::new(client, Config::default()).expect("reactor");
    let sock = bind(&mut reactor);
    reactor.handler_mut().use_socket(sock);
    reactor.run().expect("run");
    let log = reactor.handler().log();
    let rtts: Vec<u64> = log
        .probes()
        .iter()
        .filter_map(|p| match p.outcome {
            Outcome::Replied { rtt_ns } => Some(rtt_ns),
            _ => None,
        })
        .collect();
    let lost = log.len() as u64 - rtts.len() as u64;
    (rtts, lost)
}

fn flood(target: SocketAddr, senders: usize, duration: Duration) -> FloodReport {
    let opts = FloodOptions { size: SIZE, timeout: Duration::from_secs(1), duration };
    let config = Config { events_capacity: 4096, ..Config::default() };
    let mut reactor = Reactor::new(Flood::new(target, opts), config).expect("reactor");
    for _ in 0..senders {
        let sock = bind(&mut reactor);
        reactor.handler_mut().add_sender(sock);
    }
    reactor.run().expect("run");
    reactor.handler().report()
}

fn bind<H: Handler>(reactor: &mut Reactor<H>) -> sockloop::ConnId {
    reactor.bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).expect("bind").0
}

/// Nearest-rank percentile of sorted samples, in microseconds.
fn pct_us(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map_or(f64::NAN, |ns| *ns as f64 / 1e3)
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    (ticks(11) + ticks(12)) / (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn pin(pid: i32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a stack struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("peer") {
        let ready = |a: SocketAddr| println!("listening on {a}");
        peers::udp_echo(SocketAddr::from(([127, 0, 0, 1], 0)), ready).expect("tokio echo server");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, per_round, window) =
        if quick { (1, 300, Duration::from_secs(1)) } else { (5, 2000, Duration::from_secs(5)) };
    raise_nofile();
    pin(0, 0);

    let servers = [Side::Sockloop.serve(), Side::Tokio.serve()];
    let pairs = [
        (Side::Sockloop, Side::Sockloop),
        (Side::Sockloop, Side::Tokio),
        (Side::Tokio, Side::Sockloop),
        (Side::Tokio, Side::Tokio),
    ];
    let mut samples: Vec<(Vec<u64>, u64)> = vec![(Vec::new(), 0); pairs.len()];
    for _ in 0..rounds {
        for (i, (client, server)) in pairs.iter().enumerate() {
            let target = servers[*server as usize].addr;
            let (rtts, lost) = match client {
                Side::Sockloop => sockloop_ping(target, per_round),
                Side::Tokio => peers::ping(target, per_round, INTERVAL, TIMEOUT, SIZE).expect("tokio ping"),
            };
            samples[i].0.extend(rtts);
            samples[i].1 += lost;
        }
    }
    println!("RTT, {SIZE}-byte probes every {INTERVAL:?}, {rounds} rounds x {per_round} probes per pair:\n");
    println!("| client | server | p50 | p90 | p99 | mean | lost |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for ((client, server), (rtts, lost)) in pairs.iter().zip(&mut samples) {
        rtts.sort_unstable();
        let mean = rtts.iter().sum::<u64>() as f64 / rtts.len().max(1) as f64 / 1e3;
        let (a, b, c) = (pct_us(rtts, 0.5), pct_us(rtts, 0.9), pct_us(rtts, 0.99));
        println!(
            "| {} | {} | {a:.1} us | {b:.1} us | {c:.1} us | {mean:.1} us | {lost} |",
            client.name(),
            server.name()
        );
        p50.push(a);
        p99.push(c);
    }
    let (ours, theirs) = (0, pairs.len() - 1);
    let overhead = p50[ours] / p50[theirs] - 1.0;
    println!(
        "\nsockloop client+server vs tokio client+server: p50 {:+.1}%, p99 {:+.1}%  ({})",
        overhead * 100.0,
        (p99[ours] / p99[theirs] - 1.0) * 100.0,
        if overhead <= 0.10 { "within 10%" } else { "OVER 10%" }
    );
    println!(
        "server alone (sockloop client): sockloop vs tokio p50 {:+.1}%; client alone (tokio server): sockloop vs tokio p50 {:+.1}%",
        (p50[0] / p50[1] - 1.0) * 100.0,
        (p50[1] / p50[3] - 1.0) * 100.0
    );

    println!("\nFlood, {SIZE}-byte probes, {window:?} per row, one client thread:\n");
    println!(
        "| senders | server | round trips/s | datagrams/s | loss | p50 | p99 | server CPU per round trip |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for senders in [1, 1000] {
        for (side, running) in [Side::Sockloop, Side::Tokio].iter().zip(&servers) {
            let pid = running.child.id();
            let cpu_before = cpu_secs(pid);
            let r = flood(running.addr, senders, window);
            let cpu = cpu_secs(pid) - cpu_before;
            println!(
                "| {senders} | {} | {:.0} | {:.0} | {:.2}% | {:.3} ms | {:.3} ms | {:.2} us |",
                side.name(),
                r.round_trips_per_sec,
                r.datagrams_per_sec,
                r.loss_percent,
                r.rtt.p50_us as f64 / 1e3,
                r.rtt.p99_us as f64 / 1e3,
                cpu * 1e6 / r.received.max(1) as f64
            );
        }
    }
}
