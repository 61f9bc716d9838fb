//! A chat room under load: `sockloop serve chat` with 1,000 members, every message checked
//! at every other member.
//!
//!     cargo bench --bench chat                 # 1,000 members, about a minute
//!     cargo bench --bench chat -- --quick      # 100 members, short windows
//!
//! The load is `sockloop stress chat` (one thread), pinned to CPU 0; the server is its own
//! process pinned to CPU 1. Two paces: closed loop (each member sends its next message once
//! its last has reached all 999 others: the most the room can carry, with every member's
//! message queued behind everyone else's, so latency there is mostly queueing) and open
//! loop at a rate the room carries (latency as a member would feel it). Reported: messages
//! sent/s, fan-out deliveries/s, delivery latency from the send to each receiver, the
//! server's CPU time per delivery over the measured window (utime+stime from
//! /proc/PID/stat), and how long the room took to fill (join and rename notices to
//! everyone: quadratic in the members, and not measured).

#[path = "../common/mod.rs"]
mod common;

use common::{CpuSampler, Running, pin, raise_nofile};
use sockloop::stress::{self, StressOptions, StressProtocol};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (members, window) =
        if quick { (100, Duration::from_secs(2)) } else { (1000, Duration::from_secs(10)) };
    raise_nofile();
    pin(0, 0);

    println!(
        "| members | pace | sent msgs/s | deliveries/s | latency p50 | p99 | server CPU/delivery | set-up | errors |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    // Open loop at a tenth of a message per member per second: ~100,000 deliveries/s with
    // 1,000 members.
    for rate in [None, Some(f64::from(members) / 10.0)] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockloop"));
        cmd.args(["serve", "chat", "--listen", "127.0.0.1:0"]).env("RUST_LOG", "warn");
        let server = Running::start(cmd, 1, "sockloop serve chat");
        let mut opts = StressOptions::new(StressProtocol::Chat);
        opts.clients = members;
        opts.warmup = Duration::from_secs(1);
        opts.duration = window;
        opts.rate = rate;
        let cpu = CpuSampler::start(server.pid());
        let t0 = Instant::now();
        let report = stress::run(&opts, server.addr).expect("stress run");
        let end = t0 + Duration::from_secs_f64(report.elapsed_secs);
        let start = end - Duration::from_secs_f64(report.measured_secs);
        let server_cpu = cpu.between(start, end);
        if !report.is_success() {
            eprintln!("{report}");
        }
        let fan = report.fanout.clone().unwrap_or_else(|| panic!("chat reports its fan-out: {report}"));
        let pace = rate.map_or("closed loop".to_string(), |r| format!("open loop, {r:.0} msgs/s"));
        println!(
            "| {members} | {pace} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {:.0} ns | {:.1} s | {} |",
            fan.sent_per_sec,
            report.msgs_per_sec,
            report.latency.p50_us as f64 / 1000.0,
            report.latency.p99_us as f64 / 1000.0,
            server_cpu * 1e9 / report.messages.max(1) as f64,
            fan.setup_secs,
            report.error_count
        );
    }
    println!();
    println!("({} s measured after 1 s of warm-up, once the room had filled)", window.as_secs());
}
