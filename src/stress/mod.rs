//! `sockloop stress`: a load generator that drives thousands of client connections from
//! ONE thread, on the same [`crate::Reactor`] and [`crate::Handler`] trait the servers use.
//!
//! Each connection is a small sans-IO state machine (`client.rs`) that sends requests when
//! they are due, checks every reply byte (echo payloads are distinct per connection and per
//! message, so misrouted or reordered replies are caught) and times it. One handler
//! (`driver.rs`) opens the connections, keeps the run's clock with reactor timers and stops
//! the reactor at the end; the [`Report`] is read from it after `run` returns.
//!
//! ```no_run
//! use sockloop::stress::{self, StressOptions, StressProtocol};
//! let mut opts = StressOptions::new(StressProtocol::Echo);
//! opts.clients = 1000;
//! let report = stress::run(&opts, "127.0.0.1:7000".parse().unwrap())?;
//! stress::print_report(&report, &opts, &mut std::io::stdout())?;
//! std::process::exit(if report.is_success() { 0 } else { 1 });
//! # Ok::<(), std::io::Error>(())
//! ```

mod client;
mod driver;
mod echo;
mod errors;
mod greet;
mod histogram;
mod limits;
mod options;
mod payload;
mod plot;
mod progress;
mod recorder;
mod report;
mod series;
#[cfg(test)]
mod tests;
mod workload;

pub use errors::{ConnectFailures, EarlyCloses, Errors};
pub use histogram::Percentiles;
pub use options::{StressOptions, StressProtocol};
pub use report::{Connections, Report, Setup};
pub use series::Interval;

use crate::{Config, Reactor};
use driver::{Plan, Stress};
use progress::Progress;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;
use workload::Workload;

/// Runs the load against `target` on the calling thread and returns what it found.
///
/// Before anything is sent it raises the file-descriptor limit to the hard limit and
/// refuses (with `InvalidInput` and the fix in the message) a run that cannot fit in
/// descriptors or ephemeral ports. Ctrl-C ends the run early and still returns its report.
/// An `Err` means the run could not happen; errors *during* the run are in the report.
pub fn run(opts: &StressOptions, target: SocketAddr) -> io::Result<Report> {
    opts.validate(target)?;
    let fd_limit = limits::raise_nofile()?;
    limits::check(opts.clients, opts.bind.len(), fd_limit, limits::ephemeral_ports())
        .map_err(|msg| io::Error::new(io::ErrorKind::InvalidInput, msg))?;
    let setup = setup(opts, target);
    match opts.protocol {
        StressProtocol::Echo => drive(echo::EchoLoad::new(opts.size), setup),
        StressProtocol::Greet => drive(greet::GreetLoad::default(), setup),
    }
}

/// Prints the report (text, or JSON with `--json`) and writes the `--plot` chart. The chart
/// is written even if printing fails (a closed pipe), and the first error is returned.
pub fn print_report(report: &Report, opts: &StressOptions, out: &mut dyn Write) -> io::Result<()> {
    let printed = if opts.json { writeln!(out, "{}", report.to_json()) } else { write!(out, "{report}") };
    let plotted = match &opts.plot {
        Some(path) => plot::write_svg(report, path),
        None => Ok(()),
    };
    printed.and(plotted)
}

fn setup(opts: &StressOptions, target: SocketAddr) -> Setup {
    let pipeline = match opts.protocol {
        StressProtocol::Echo => echo::EchoLoad::new(opts.size).pipeline(opts.pipeline),
        StressProtocol::Greet => greet::GreetLoad::default().pipeline(opts.pipeline),
    };
    Setup {
        protocol: opts.protocol,
        target,
        clients: opts.clients,
        size: opts.size,
        pipeline,
        rate: opts.rate,
        connect_rate: opts.connect_rate,
        warmup_secs: opts.warmup.as_secs_f64(),
        duration_secs: opts.duration.as_secs_f64(),
        bind: opts.bind.clone(),
    }
}

fn drive<W: Workload>(workload: W, setup: Setup) -> io::Result<Report> {
    let total = Duration::from_secs_f64(setup.warmup_secs + setup.duration_secs);
    // A client's output is bounded by what it has in flight; above the default high-water
    // mark the reactor would stop reading replies while the server, unread, stops reading
    // requests: a deadlock of the load's own making.
    let high_water = Config::default().high_water.max((setup.pipeline as usize + 1) * setup.size);
    let stress = Stress::new(workload, Plan::new(setup), Progress::on_stderr(total));
    let config = Config {
        // Many connections are ready at once under load; fewer polls per turn of the loop.
        events_capacity: 4096,
        high_water,
        // At the end nothing queued is worth waiting for: the run is over.
        grace: Duration::from_millis(200),
        ..Config::default()
    };
    let mut reactor = Reactor::new(stress, config)?;
    reactor.stop_on_signals()?;
    reactor.run()?;
    Ok(reactor.handler().report())
}
