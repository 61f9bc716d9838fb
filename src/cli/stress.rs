//! `sockloop stress PROTOCOL ADDR`: the load generator. Everything but address resolution
//! and the exit status lives in the library (`sockloop::stress`).

use clap::Args;
use sockloop::{net, stress};

/// Drive many client connections from one thread and report throughput, latency and errors.
#[derive(Args, Debug)]
#[command(after_help = "\
Every reply is verified; a mismatch, a lost byte or an unexpected close is an error,
counted by kind, and makes the exit status non-zero.

Examples:
  sockloop stress echo 127.0.0.1:7000 --clients 1000 --duration 10s
  sockloop stress echo 127.0.0.1:7000 --clients 100 --size 16K --pipeline 4
  sockloop stress echo 127.0.0.1:7000 --rate 50000 --json           # open loop
  sockloop stress echo 127.0.0.1:7000 --clients 20000 --bind 127.0.0.2 --bind 127.0.0.3
  sockloop stress greet 127.0.0.1:7001 --clients 200 --plot greet.svg
  sockloop stress framed 127.0.0.1:7000 --header u32 --clients 100
  sockloop stress chat 127.0.0.1:7000 --clients 1000 --rate 100    # fan-out to 999 each
  sockloop stress relay 127.0.0.1:7000 --clients 100 --pipeline 2  # pairs messaging each other")]
pub struct StressArgs {
    #[command(flatten)]
    opts: stress::StressOptions,
    /// The server to load, HOST:PORT (resolved once, before the run).
    addr: String,
}

/// Runs the load; `Ok(false)` when the run counted errors (the exit status says so).
pub fn run(args: StressArgs) -> Result<bool, String> {
    let target = *net::resolve(&args.addr)
        .map_err(|e| format!("bad address {:?}: {e}", args.addr))?
        .first()
        .ok_or_else(|| format!("{}: no address", args.addr))?;
    let report = stress::run(&args.opts, target).map_err(|e| e.to_string())?;
    stress::print_report(&report, &args.opts, &mut std::io::stdout().lock())
        .map_err(|e| format!("cannot write the report: {e}"))?;
    Ok(report.is_success())
}
