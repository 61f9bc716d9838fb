//! `sockloop ping ADDR` (the udp-ping client, and its `--flood` mode) and the options of
//! `sockloop serve udp-ping`, which `serve.rs` flattens into its subcommand.

use super::{duration, say, size};
use clap::Args;
use log::info;
use sockloop::protocols::ping::impair::{CLASSIC_DELAY, CLASSIC_LOSS};
use sockloop::protocols::ping::{
    Flood, FloodOptions, Impairment, PingClient, PingOptions, PingServer, ServerOptions, export, plot,
    summary::percent_g, table::Table,
};
use sockloop::{Config, Handler, Reactor, net};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// The options of `sockloop serve udp-ping`.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Drop each probe with this probability: 0.1 or 10%. [default: 0]
    #[arg(long, value_name = "P", value_parser = loss)]
    loss: Option<f64>,
    /// Delay each reply by a time drawn uniformly from MIN..MAX, e.g. 0.1ms..500ms (one value:
    /// always that). [default: none]
    #[arg(long, value_name = "MIN..MAX", value_parser = delay_range)]
    delay: Option<RangeInclusive<Duration>>,
    /// The classic server's trouble: 10% loss and 0.1ms..500ms delay (--loss and --delay
    /// still win).
    #[arg(long)]
    classic: bool,
    /// Seed of the loss and delay draws: the same seed and the same probes, in the same
    /// order, give the same drops and delays. [default: from the clock, and logged]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Let any peer stop the server with `exit`.
    #[arg(long)]
    allow_remote_stop: bool,
    /// Replies that may wait out their delay at once; beyond that, probes are dropped and
    /// counted.
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = at_least_one)]
    max_pending: usize,
}

/// The server these options describe; logs its settings (with the seed, to repeat a run).
pub fn server(args: &ServerArgs) -> PingServer {
    let loss = args.loss.unwrap_or(if args.classic { CLASSIC_LOSS } else { 0.0 });
    let none = Duration::ZERO..=Duration::ZERO;
    let delay = args.delay.clone().unwrap_or(if args.classic { CLASSIC_DELAY } else { none });
    let seed = args.seed.unwrap_or_else(clock_seed);
    let impairment = Impairment::new(loss, delay, seed);
    if impairment.is_none() {
        info!("udp-ping: no simulated loss or delay");
    } else {
        let d = impairment.delay();
        info!(
            "udp-ping: loss {}%, delay {:?}..{:?}, seed {seed} (--seed {seed} repeats this run)",
            percent_g(impairment.loss() * 100.0),
            d.start(),
            d.end()
        );
    }
    let opts = ServerOptions {
        allow_remote_stop: args.allow_remote_stop,
        max_pending: args.max_pending,
        ..ServerOptions::default()
    };
    PingServer::new(impairment, opts)
}

fn clock_seed() -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn loss(arg: &str) -> Result<f64, String> {
    let (number, scale) = match arg.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (arg, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&(p / scale)) => Ok(p / scale),
        _ => Err("a probability from 0 to 1, or a percentage (0.1, 10%)".into()),
    }
}

fn delay_range(arg: &str) -> Result<RangeInclusive<Duration>, String> {
    let (min, max) = arg.split_once("..").unwrap_or((arg, arg));
    let (min, max) = (duration::parse(min)?, duration::parse(max)?);
    if min > max {
        return Err(format!("{arg}: MIN is more than MAX"));
    }
    Ok(min..=max)
}

fn at_least_one(arg: &str) -> Result<usize, String> {
    match arg.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number, at least 1".into()),
    }
}

/// Measure round-trip time and loss to a udp-ping server, one probe per interval.
#[derive(Args, Debug)]
#[command(after_help = "\
Each probe carries its sequence number and send time, and the sockloop server echoes them, so
a late reply is matched to its own probe and shown as late. A probe is lost when no reply
comes before the next send, or within --timeout if given. A classic server's fixed replies
have no sequence number: they are matched to the latest probe, as the classic client does.

After the ping(8) statistics comes the per-second table of the classic second experiment:
throughput (acked probes x size x 8 x 2 bits, both directions) and average delay. Exit
status: 0 if any reply came back, 1 if none did or the run could not start.

Examples:
  sockloop ping 127.0.0.1:7000 --count 20 --interval 100ms
  sockloop ping 127.0.0.1:7000 --count 100 --decay 0.95 --plot q2.svg      # classic Q2
  sockloop ping [::1]:7000 --count 5 --json
  sockloop ping 127.0.0.1:7000 --flood --senders 1000 --duration 5s")]
pub struct PingArgs {
    /// HOST:PORT or [IPV6]:PORT of the server.
    addr: String,
    /// Probes to send. [default: until Ctrl-C]
    #[arg(long, short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Time between sends.
    #[arg(long, short = 'i', value_name = "DUR", default_value = "1s", value_parser = duration::parse_positive)]
    interval: Duration,
    /// Bytes per probe (never fewer than its header `PING <seq> <nanos>;`, 9 to 47 bytes).
    #[arg(long, short = 's', value_name = "BYTES", default_value = "64", value_parser = probe_size)]
    size: usize,
    /// Multiply the interval by F after each probe (0.95: the classic Q2); it stops
    /// shrinking at 1 ms.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = decay)]
    decay: f64,
    /// A probe is lost if unanswered this long. [default: until the next send]
    #[arg(long, value_name = "DUR", value_parser = duration::parse_positive)]
    timeout: Option<Duration>,
    /// Send `C <size>` first, as the classic client does (always done above 1024 bytes).
    #[arg(long)]
    calibrate: bool,
    /// Draw throughput and delay per second as an SVG chart.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Write one row per probe: seq, send time, bytes, outcome, RTT.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Print one JSON document (settings, statistics, per-second table, every probe)
    /// instead of the text.
    #[arg(long)]
    json: bool,
    /// Flood: each sender sends its next probe as soon as the last is answered or timed
    /// out, for --duration; report datagrams/s and loss.
    #[arg(long, conflicts_with_all = ["count", "decay", "plot", "csv", "calibrate", "interval"])]
    flood: bool,
    /// Flood: concurrent senders, each its own UDP socket, all on one thread.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "flood",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    senders: u32,
    /// Flood: how long to run.
    #[arg(long, value_name = "DUR", default_value = "5s", requires = "flood",
          value_parser = duration::parse_positive)]
    duration: Duration,
}

fn probe_size(arg: &str) -> Result<usize, String> {
    match size::parse_positive(arg)? {
        n if n <= MAX_DATAGRAM => Ok(n),
        _ => Err(format!("at most {MAX_DATAGRAM} bytes (the largest UDP datagram)")),
    }
}

fn decay(arg: &str) -> Result<f64, String> {
    match arg.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err("a factor above 0 and at most 1 (0.95 shrinks the interval by 5% per probe)".into()),
    }
}

/// Runs the client; `Ok(false)` when no reply came back (the exit status says so).
pub fn run(args: PingArgs) -> Result<bool, String> {
    let addr = &args.addr;
    // Blocking DNS, before the loop exists.
    let target = *net::resolve(addr)
        .map_err(|e| format!("cannot resolve {addr:?}: {e}"))?
        .first()
        .ok_or_else(|| format!("{addr:?} has no address"))?;
    if args.flood { flood(&args, target) } else { ping(&args, target) }
}

fn ping(args: &PingArgs, target: SocketAddr) -> Result<bool, String> {
    let opts = PingOptions {
        count: args.count,
        interval: args.interval,
        decay: args.decay,
        size: args.size,
        timeout: args.timeout,
        calibrate: args.calibrate || args.size > sockloop::protocols::ping::DEFAULT_RECV_SIZE,
    };
    let mut client = PingClient::new(target, opts);
    client.use_real_clock();
    if !args.json {
        // A closed stdout must not stop the measurement; the summary will fail to print.
        client.on_event(|event| {
            let _ = say(&event.to_string());
        });
    }
    let mut reactor = start(client)?;
    let sock = bind(&mut reactor, target)?;
    reactor.handler_mut().use_socket(sock);
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    let client = reactor.handler();
    if args.json {
        say(&export::json(client))?;
    } else {
        say(&format!("\n{}", client.summary()))?;
        say(Table(&client.seconds()).to_string().trim_end())?;
    }
    if let Some(path) = &args.csv {
        let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        export::write_csv(client.log().probes(), &mut file)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let title = format!("udp-ping {target}: {}-byte probes", args.size);
        plot::write_svg(&title, &client.seconds(), path).map_err(|e| e.to_string())?;
    }
    Ok(client.summary().received > 0)
}

fn flood(args: &PingArgs, target: SocketAddr) -> Result<bool, String> {
    raise_nofile(u64::from(args.senders) + 64);
    let opts = FloodOptions {
        size: args.size,
        timeout: args.timeout.unwrap_or(Duration::from_secs(1)),
        duration: args.duration,
    };
    let mut reactor = start(Flood::new(target, opts))?;
    for _ in 0..args.senders {
        let sock = bind(&mut reactor, target)?;
        reactor.handler_mut().add_sender(sock);
    }
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    let report = reactor.handler().report();
    if args.json {
        say(&serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)?;
    } else {
        say(report.to_string().trim_end())?;
    }
    Ok(report.received > 0)
}

fn start<H: Handler>(handler: H) -> Result<Reactor<H>, String> {
    let mut reactor = Reactor::new(handler, Config::default()).map_err(|e| format!("cannot start: {e}"))?;
    // Ctrl-C ends the run, and the statistics still print, as with ping(8).
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    Ok(reactor)
}

/// A UDP socket on any port, of the target's family.
fn bind<H: Handler>(reactor: &mut Reactor<H>, target: SocketAddr) -> Result<sockloop::ConnId, String> {
    let any = if target.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let (sock, _) =
        reactor.bind_udp(SocketAddr::new(any, 0)).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    Ok(sock)
}

/// Each flood sender is a descriptor: lift the soft limit towards the hard one if needed.
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read or write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_as_probability_or_percentage() {
        assert_eq!(loss("0.1"), Ok(0.1));
        assert_eq!(loss("10%"), Ok(0.1));
        assert_eq!(loss("0"), Ok(0.0));
        for bad in ["1.5", "-0.1", "110%", "ten", ""] {
            assert!(loss(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn delay_ranges_with_units() {
        let ms = Duration::from_millis;
        assert_eq!(delay_range("0.1ms..500ms"), Ok(Duration::from_micros(100)..=ms(500)));
        assert_eq!(delay_range("5ms"), Ok(ms(5)..=ms(5)));
        assert!(delay_range("50ms..1ms").is_err());
        assert!(delay_range("1ms..").is_err());
        assert!(delay_range("soon..later").is_err());
    }

    #[test]
    fn sizes_and_decay_are_checked() {
        assert_eq!(probe_size("1K"), Ok(1024));
        assert!(probe_size("64K").is_err());
        assert!(probe_size("0").is_err());
        assert_eq!(decay("0.95"), Ok(0.95));
        assert!(decay("0").is_err() && decay("1.5").is_err());
    }
}
