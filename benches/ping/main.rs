//! udp-ping on loopback, measured in one run against tokio.
//!
//!     cargo bench --bench ping                 # every row, about two minutes
//!     cargo bench --bench ping -- --quick      # short windows, for a smoke run
//!
//! RTT: two clients (`sockloop ping`'s state machines on our reactor, and a tokio
//! `current_thread` client, `peers.rs`) against two servers (`sockloop serve udp-ping` with
//! no simulated loss or delay, and a tokio UDP echo server), 64-byte probes, in two ways:
//! - back to back: one probe in flight, the next sent as soon as the reply is in (ours is
//!   `--flood --senders 1`). Nothing sleeps, so this is the software's own cost.
//! - ping: one probe every 5 ms, as a user runs `sockloop ping`. Both CPUs go idle between
//!   probes, so this adds the machine's wake-up latency, which depends on how long it slept:
//!   both clients count the gap from the send and both round timers up to the millisecond,
//!   and 5 ms keeps that rounding small next to the gap.
//!
//! A reply may take 100 ms before it counts as lost. Each server is its own process pinned
//! to CPU 1; the client runs here, pinned to CPU 0. The four pairs take turns, round after
//! round, each round starting with the next pair, and each figure is the median over the
//! rounds, so a burst of load from elsewhere spoils one round, not the comparison. The line
//! to read: sockloop client + sockloop server against tokio client + tokio server, the
//! overhead of our pair, which must stay within 10%.
//!
//! Flood: `sockloop ping --flood` with 1 and 1,000 senders (each its own UDP socket, one
//! thread) against both servers: round trips/s, datagrams/s through the client thread,
//! loss, RTT, and the server's CPU time per round trip (utime+stime from /proc over the
//! run), the figure that does not depend on how fast the client pushes.

mod peers;

use sockloop::protocols::ping::probes::Outcome;
use sockloop::protocols::ping::{Flood, FloodOptions, FloodReport, PingClient, PingOptions};
use sockloop::{Config, Handler, Reactor};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SIZE: usize = 64;
const INTERVAL: Duration = Duration::from_millis(5);
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

/// One round of one pair: p50 and p99 in microseconds, and the probes lost.
#[derive(Clone, Copy)]
struct Round {
    p50_us: f64,
    p99_us: f64,
    lost: u64,
}

impl Round {
    fn of(mut rtts_ns: Vec<u64>, lost: u64) -> Round {
        rtts_ns.sort_unstable();
        Round { p50_us: pct_us(&rtts_ns, 0.50), p99_us: pct_us(&rtts_ns, 0.99), lost }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    BackToBack(Duration),
    Ping(u64),
}

fn round(mode: Mode, client: Side, target: SocketAddr) -> Round {
    match (mode, client) {
        (Mode::BackToBack(d), Side::Sockloop) => {
            let r = flood(target, 1, d);
            Round { p50_us: r.rtt.p50_us, p99_us: r.rtt.p99_us, lost: r.lost }
        }
        (Mode::BackToBack(d), Side::Tokio) => {
            let (rtts, lost) = peers::back_to_back(target, d, TIMEOUT, SIZE).expect("tokio client");
            Round::of(rtts, lost)
        }
        (Mode::Ping(count), Side::Sockloop) => {
            let (rtts, lost) = sockloop_ping(target, count);
            Round::of(rtts, lost)
        }
        (Mode::Ping(count), Side::Tokio) => {
            let (rtts, lost) = peers::ping(target, count, INTERVAL, TIMEOUT, SIZE).expect("tokio client");
            Round::of(rtts, lost)
        }
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
    let opts = FloodOptions { size: SIZE, timeout: TIMEOUT, duration };
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
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

const PAIRS: [(Side, Side); 4] = [
    (Side::Sockloop, Side::Sockloop),
    (Side::Sockloop, Side::Tokio),
    (Side::Tokio, Side::Sockloop),
    (Side::Tokio, Side::Tokio),
];

/// Runs every pair `rounds` times, taking turns, and prints the table and the verdict.
fn rtt_table(title: &str, mode: Mode, rounds: usize, servers: &[Running; 2]) {
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); PAIRS.len()];
    for r in 0..rounds {
        // Each round starts with the next pair, so no pair always runs first or last.
        for k in 0..PAIRS.len() {
            let i = (r + k) % PAIRS.len();
            let (client, server) = PAIRS[i];
            results[i].push(round(mode, client, servers[server as usize].addr));
        }
    }
    println!("{title}, {SIZE}-byte probes, median of {rounds} rounds:\n");
    println!("| client | server | p50 | p99 | lost |");
    println!("|---|---|---:|---:|---:|");
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for ((client, server), rounds) in PAIRS.iter().zip(&results) {
        let a = median(rounds.iter().map(|r| r.p50_us).collect());
        let b = median(rounds.iter().map(|r| r.p99_us).collect());
        let lost: u64 = rounds.iter().map(|r| r.lost).sum();
        println!("| {} | {} | {a:.1} us | {b:.1} us | {lost} |", client.name(), server.name());
        p50.push(a);
        p99.push(b);
    }
    let pct = |a: f64, b: f64| (a / b - 1.0) * 100.0;
    let overhead = pct(p50[0], p50[3]);
    println!(
        "\nsockloop client+server vs tokio client+server: p50 {overhead:+.1}%, p99 {:+.1}% ({})",
        pct(p99[0], p99[3]),
        if overhead <= 10.0 { "within 10%" } else { "OVER 10%" }
    );
    println!(
        "same client, sockloop vs tokio server: p50 {:+.1}% (our client), {:+.1}% (tokio client)",
        pct(p50[0], p50[1]),
        pct(p50[2], p50[3])
    );
    println!(
        "same server, sockloop vs tokio client: p50 {:+.1}% (our server), {:+.1}% (tokio server)\n",
        pct(p50[0], p50[2]),
        pct(p50[1], p50[3])
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("peer") {
        let ready = |a: SocketAddr| println!("listening on {a}");
        peers::udp_echo(SocketAddr::from(([127, 0, 0, 1], 0)), ready).expect("tokio echo server");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, back_to_back, pings, window) = if quick {
        (3, Duration::from_millis(200), 40, Duration::from_secs(1))
    } else {
        (15, Duration::from_millis(500), 200, Duration::from_secs(5))
    };
    raise_nofile();
    pin(0, 0);
    let servers = [Side::Sockloop.serve(), Side::Tokio.serve()];

    let title = format!("RTT back to back ({back_to_back:?} a round)");
    rtt_table(&title, Mode::BackToBack(back_to_back), rounds, &servers);
    let title = format!("RTT ping every {INTERVAL:?} ({pings} probes a round)");
    rtt_table(&title, Mode::Ping(pings), rounds, &servers);

    println!("Flood, {SIZE}-byte probes, {window:?} per row, one client thread:\n");
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
                "| {senders} | {} | {:.0} | {:.0} | {:.2}% | {:.1} us | {:.1} us | {:.2} us |",
                side.name(),
                r.round_trips_per_sec,
                r.datagrams_per_sec,
                r.loss_percent,
                r.rtt.p50_us,
                r.rtt.p99_us,
                cpu * 1e6 / r.received.max(1) as f64
            );
        }
    }
}
