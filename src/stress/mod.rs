//! `sockloop stress`: a load generator that drives thousands of client connections from
//! ONE thread, on the same [`crate::Reactor`] and [`crate::Handler`] trait the servers use.
//!
//! For request/reply protocols (echo, greet, framed) each connection is a small sans-IO
//! state machine (`client.rs`) that sends requests when they are due, checks every reply
//! byte (echo payloads are distinct per connection and per message, so misrouted or
//! reordered replies are caught) and times it. Conversations (chat, relay) send messages
//! that other connections receive, so their checking is shared by the whole load
//! (`fanout.rs`, with the books in `ledger.rs`). One handler (`driver.rs`) opens the
//! connections, keeps the run's clock with reactor timers and stops the reactor at the end;
//! the [`Report`] is read from it after `run` returns.
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

mod chat;
mod client;
mod driver;
mod echo;
mod errors;
mod fanout;
#[cfg(test)]
mod fanout_tests;
mod framed;
mod greet;
mod histogram;
mod ledger;
mod limits;
mod load;
mod message;
mod options;
mod payload;
mod plot;
mod progress;
mod recorder;
mod relay;
mod report;
mod series;
mod shares;
#[cfg(test)]
mod tests;
mod workload;

pub use errors::{ConnectFailures, EarlyCloses, Errors};
pub use histogram::Percentiles;
pub use options::{FrameHeader, StressOptions, StressProtocol};
pub use report::{Connections, FanOut, Report, Setup};
pub use series::Interval;
pub use shares::Shares;

use crate::{Config, Reactor};
use driver::{Plan, Stress};
use load::Load;
use progress::Progress;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

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
    let header = opts.header.unwrap_or_default();
    match opts.protocol {
        StressProtocol::Echo => drive(echo::EchoLoad::new(opts.size), opts, target),
        StressProtocol::Greet => drive(greet::GreetLoad::default(), opts, target),
        StressProtocol::Framed => {
            let load = framed::FramedLoad::classic(header.into(), opts.size)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            drive(load, opts, target)
        }
        StressProtocol::Chat => {
            drive(conversation(chat::ChatTalk::new(message::Names::unique()), opts), opts, target)
        }
        StressProtocol::Relay => {
            drive(conversation(relay::RelayTalk::new(message::Names::unique()), opts), opts, target)
        }
    }
}

fn conversation<D: fanout::Dialect>(dialect: D, opts: &StressOptions) -> fanout::FanOut<D> {
    fanout::FanOut::new(dialect, opts.clients, opts.size, opts.pipeline)
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

fn setup(opts: &StressOptions, target: SocketAddr, pipeline: u32) -> Setup {
    Setup {
        protocol: opts.protocol,
        target,
        clients: opts.clients,
        size: opts.size,
        header: (opts.protocol == StressProtocol::Framed).then(|| opts.header.unwrap_or_default()),
        pipeline,
        rate: opts.rate,
        connect_rate: opts.connect_rate,
        warmup_secs: opts.warmup.as_secs_f64(),
        duration_secs: opts.duration.as_secs_f64(),
        bind: opts.bind.clone(),
    }
}

fn drive<L: Load>(load: L, opts: &StressOptions, target: SocketAddr) -> io::Result<Report> {
    let setup = setup(opts, target, load.pipeline(opts.pipeline));
    let total = Duration::from_secs_f64(setup.warmup_secs + setup.duration_secs);
    // A client's output is bounded by what it has in flight; above the default high-water
    // mark the reactor would stop reading replies while the server, unread, stops reading
    // requests: a deadlock of the load's own making.
    let high_water = Config::default().high_water.max((setup.pipeline as usize + 1) * setup.size);
    let stress = Stress::new(load, Plan::new(setup), Progress::on_stderr(total));
    let config = Config {
        // Many connections are ready at once under load; fewer polls per turn of the loop.
        events_capacity: 4096,
        high_water,
        // The run ends with `stop_now` (nothing queued is worth waiting for); this is for
        // a stop by signal, which need not wait long either.
        grace: Duration::from_millis(200),
        ..Config::default()
    };
    let mut reactor = Reactor::new(stress, config)?;
    reactor.stop_on_signals()?;
    reactor.run()?;
    Ok(reactor.handler().report())
}
