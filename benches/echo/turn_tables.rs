//! The tables of a `--turns` run: each server's medians over its turns, sockloop's ratios
//! to each peer within a round (median and 95 % interval), and a verdict per target.

use super::spread::Spread;
use super::{SERVERS, Server, WORKLOADS, apart, common, turns, verdict};
use common::Running;
use std::time::Duration;

/// Every row (or those with `only` connections) with all three servers running throughout
/// and the load moving from one to the next in turns: medians over turns, the ratios
/// within each round, and the verdicts.
///
/// With `same`, all three are `sockloop serve echo` (the columns keep the peers' names): an
/// A/A run, whose ratios away from 1.0x are the method's own bias.
pub fn print(rounds: usize, only: Option<u32>, turn: Option<Duration>, same: bool) {
    if same {
        println!("A/A run: the servers named tokio and mio below are sockloop too.");
        println!();
    }
    let running: Vec<Running> =
        SERVERS.iter().map(|&s| if same { Server::Sockloop } else { s }.spawn()).collect();
    let targets: Vec<turns::Target> =
        running.iter().map(|r| turns::Target { addr: r.addr, pid: r.pid() }).collect();
    println!("| connections | size | server | msgs/s | p99 | server CPU/msg |");
    println!("|---:|---:|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (clients, size) in WORKLOADS.into_iter().filter(|(c, _)| only.is_none_or(|n| n == *c)) {
        // A turn long enough that a connection sends a few messages in it at 10,000.
        let turn = turn.unwrap_or(Duration::from_millis(if clients >= 10_000 { 1000 } else { 300 }));
        let plan = turns::Plan { clients, size, turn, rounds, warm: 2 };
        let exe = std::env::current_exe().expect("own path");
        let (measured, errors) = match apart::run(&exe.to_string_lossy(), &targets, plan) {
            Ok(run) => run,
            Err(e) => {
                println!("| {clients} | {size} | could not run: {e} | | | |");
                continue;
            }
        };
        for (server, t) in SERVERS.iter().zip(&measured) {
            let med = |f: fn(&turns::Turn) -> f64| common::median(t.iter().map(f).collect());
            println!(
                "| {clients} | {size} | {} | {:.0} | {:.2} ms | {:.0} ns |",
                server.name(),
                med(turns::Turn::msgs_per_sec),
                med(|t| t.p99_us as f64) / 1000.0,
                med(turns::Turn::cpu_ns_per_msg),
            );
        }
        if errors > 0 {
            println!("| {clients} | {size} | **{errors} errors** | | | |");
        }
        ratios.push((clients, size, turn_ratios(&measured, 1), turn_ratios(&measured, 2)));
    }
    println!();
    println!(
        "Ratios within each round: median over rounds, and a 95 % confidence interval for it (>1.0x: sockloop better)"
    );
    println!();
    println!(
        "| connections | size | msgs/s sockloop/tokio | CPU/msg tokio/sockloop | p99 tokio/sockloop | msgs/s sockloop/mio | CPU/msg mio/sockloop |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (clients, size, [a, b, c], [d, e, _]) in &ratios {
        println!("| {clients} | {size} | {a} | {b} | {c} | {d} | {e} |");
    }
    println!();
    println!(
        "Targets (issue 3): at least 1.0x tokio (p99 at 1,000 and 10,000 connections), at least 0.95x mio."
    );
    println!();
    println!(
        "| connections | size | msgs/s vs tokio | CPU/msg vs tokio | p99 vs tokio | msgs/s vs mio | CPU/msg vs mio |"
    );
    println!("|---:|---:|---|---|---|---|---|");
    for (clients, size, [a, b, c], [d, e, _]) in ratios {
        let p99 = if clients >= 1000 { verdict(c, 1.0) } else { "-" };
        let [a, b, d, e] = [verdict(a, 1.0), verdict(b, 1.0), verdict(d, 0.95), verdict(e, 0.95)];
        println!("| {clients} | {size} | {a} | {b} | {p99} | {d} | {e} |");
    }
}

/// sockloop against one peer, turn by turn within each round: msgs/s, CPU per message and
/// p99, each as a ratio that is above 1.0 when sockloop does better.
fn turn_ratios(measured: &[Vec<turns::Turn>], peer: usize) -> [Spread; 3] {
    let pairs: Vec<(&turns::Turn, &turns::Turn)> = measured[0].iter().zip(&measured[peer]).collect();
    let of = |f: &dyn Fn(&turns::Turn, &turns::Turn) -> f64| {
        Spread::of(pairs.iter().map(|(o, t)| f(o, t)).collect())
    };
    [
        of(&|o, t| o.msgs_per_sec() / t.msgs_per_sec().max(f64::MIN_POSITIVE)),
        of(&|o, t| t.cpu_ns_per_msg() / o.cpu_ns_per_msg().max(f64::MIN_POSITIVE)),
        of(&|o, t| t.p99_us as f64 / o.p99_us.max(1) as f64),
    ]
}
