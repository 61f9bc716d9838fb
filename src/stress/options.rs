//! `sockloop stress PROTOCOL ADDR [options]`: the options, as a clap `Args` struct the CLI
//! flattens into its subcommand (ADDR is the CLI's, declared after the flatten, because
//! resolving a name is the CLI's business and [`super::run`] takes a `SocketAddr`).

use clap::{Args, ValueEnum};
use serde::Serialize;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StressProtocol {
    /// Distinct messages, each echoed back and checked byte for byte.
    Echo,
    /// Connect, check the banner, answer `Hi`, let the server close, connect again.
    Greet,
    /// Frames of --size bytes (--header), each answered by the server's reply frame,
    /// checked byte for byte.
    Framed,
    /// --clients members in one room; every message must reach every other member, in order.
    Chat,
    /// Pairs of clients messaging each other through the TCP relay, by registered name.
    Relay,
}

impl StressProtocol {
    pub fn name(self) -> &'static str {
        match self {
            StressProtocol::Echo => "echo",
            StressProtocol::Greet => "greet",
            StressProtocol::Framed => "framed",
            StressProtocol::Chat => "chat",
            StressProtocol::Relay => "relay",
        }
    }

    /// Messages go from one client to others (chat, relay) rather than back to the sender.
    pub fn is_conversation(self) -> bool {
        matches!(self, StressProtocol::Chat | StressProtocol::Relay)
    }
}

/// The framed header format; it must match the server's (`serve framed --header`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameHeader {
    /// The payload length as ASCII decimal, left-aligned in 64 bytes (the classic).
    #[default]
    Ascii64,
    /// The payload length as 4 bytes, big-endian.
    U32,
}

impl FrameHeader {
    pub fn name(self) -> &'static str {
        match self {
            FrameHeader::Ascii64 => "ascii64",
            FrameHeader::U32 => "u32",
        }
    }
}

impl From<FrameHeader> for crate::protocols::framed::Header {
    fn from(h: FrameHeader) -> Self {
        match h {
            FrameHeader::Ascii64 => crate::protocols::framed::Header::Ascii64,
            FrameHeader::U32 => crate::protocols::framed::Header::U32,
        }
    }
}

/// Bigger messages than this would only measure memory bandwidth.
pub const MAX_SIZE: usize = 16 << 20;

/// Bytes one connection may have in flight (`pipeline × size`): each connection may have
/// that much queued, and 10,000 connections multiply it.
pub const MAX_IN_FLIGHT: usize = 64 << 20;

/// The longest message text of a conversation: the servers refuse lines over 4 KiB by
/// default, and the text shares its line with a name or an address.
pub const MAX_TEXT: usize = 4000;

/// The most members a chat run may have: each member keeps the next sequence number it
/// expects from every other, so the load's memory grows with the square of this.
pub const MAX_ROOM: u32 = 4096;

#[derive(Args, Clone, Debug, PartialEq)]
pub struct StressOptions {
    /// The protocol to speak.
    #[arg(value_enum)]
    pub protocol: StressProtocol,

    /// Connections to open, all driven from one thread.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,

    /// How long to measure, after the warm-up (500ms, 30s, 2m; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Run this long first and leave it out of the throughput and latency figures.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Bytes per message (64, 4K, 1M): the payload of a frame, the text of a chat or relay
    /// message (at least what the sender and sequence number take).
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = parse_size)]
    pub size: usize,

    /// framed: the header format [default: ascii64].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub header: Option<FrameHeader>,

    /// Messages in flight per connection (chat, relay: per member, each in flight until
    /// it has reached everyone it is for).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub pipeline: u32,

    /// Open loop: send this many messages per second in total, whatever the replies do, and
    /// time each from when it was meant to go. Without it, each connection sends as soon as
    /// replies make room (closed loop).
    #[arg(long, value_name = "MSGS/S", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Open connections at this rate instead of all at once.
    #[arg(long = "connect-rate", value_name = "CONN/S", value_parser = parse_rate)]
    pub connect_rate: Option<f64>,

    /// Connect from this source address; repeat to spread connections over several
    /// (127.0.0.2, 127.0.0.3, ...) when one address runs out of ephemeral ports.
    #[arg(long = "bind", value_name = "IP")]
    pub bind: Vec<IpAddr>,

    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,

    /// Write a chart of the per-second throughput and p99 latency to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

impl StressOptions {
    /// The defaults the command line has, for callers that build options in code.
    pub fn new(protocol: StressProtocol) -> StressOptions {
        StressOptions {
            protocol,
            clients: 100,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            size: 64,
            header: None,
            pipeline: 1,
            rate: None,
            connect_rate: None,
            bind: Vec::new(),
            json: false,
            plot: None,
        }
    }

    /// Refuses what cannot run, before anything starts (options built in code bypass the
    /// command line's checks).
    pub fn validate(&self, target: SocketAddr) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.clients == 0 {
            return invalid("--clients must be at least 1".into());
        }
        if self.pipeline == 0 {
            return invalid("--pipeline must be at least 1".into());
        }
        if self.size == 0 || self.size > MAX_SIZE {
            return invalid(format!("--size must be between 1 byte and {} MiB", MAX_SIZE >> 20));
        }
        if (self.pipeline as usize).saturating_mul(self.size) > MAX_IN_FLIGHT {
            return invalid(format!(
                "--pipeline {} × --size {} is more than {} MiB in flight per connection",
                self.pipeline,
                self.size,
                MAX_IN_FLIGHT >> 20
            ));
        }
        if self.header.is_some() && self.protocol != StressProtocol::Framed {
            return invalid("--header is for framed only".into());
        }
        if self.protocol.is_conversation() && self.size > MAX_TEXT {
            return invalid(format!("{}: --size is at most {MAX_TEXT} bytes of text", self.protocol.name()));
        }
        if self.protocol == StressProtocol::Chat && !(2..=MAX_ROOM).contains(&self.clients) {
            return invalid(format!("chat: --clients must be between 2 and {MAX_ROOM} members"));
        }
        if self.duration.is_zero() {
            return invalid("--duration must be more than zero".into());
        }
        for (name, rate) in [("--rate", self.rate), ("--connect-rate", self.connect_rate)] {
            if rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
                return invalid(format!("{name} must be a positive number"));
            }
        }
        if let Some(ip) = self.bind.iter().find(|ip| ip.is_ipv4() != target.is_ipv4()) {
            return invalid(format!("--bind {ip} is not of the same address family as {target}"));
        }
        Ok(())
    }
}

/// `500ms`, `30s`, `2m`, `1.5s`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?} is not a duration (examples: 500ms, 30s, 2m, 1.5s)")),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration (examples: 500ms, 30s, 2m, 1.5s)"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is too long a duration"))
}

/// `64`, `4K`, `1M` (powers of 1024, case-insensitive, an optional `B`/`iB`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let suffix = suffix.to_ascii_lowercase();
    let unit = suffix.strip_suffix("ib").or_else(|| suffix.strip_suffix('b')).unwrap_or(&suffix);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(format!("{text:?} is not a size (examples: 64, 4K, 1M)")),
    };
    let n: usize = number.parse().map_err(|_| format!("{text:?} is not a size (examples: 64, 4K, 1M)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{text:?} is too large"))
}

/// A positive number of events per second (`2500`, `0.5`, `10k`).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => (text, 1.0),
    };
    match number.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r * scale),
        _ => Err(format!("{text:?} is not a positive rate (examples: 500, 2.5, 10k)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The CLI's shape: the options flattened, ADDR after them.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        opts: StressOptions,
        addr: String,
    }

    #[test]
    fn flattens_with_addr_after_protocol() {
        let cli = Cli::try_parse_from([
            "stress",
            "echo",
            "127.0.0.1:7000",
            "--clients",
            "10000",
            "--duration",
            "30",
            "--warmup",
            "2s",
            "--size",
            "4K",
            "--pipeline",
            "8",
            "--rate",
            "50k",
            "--connect-rate",
            "1000",
            "--json",
            "--plot",
            "out.svg",
        ])
        .expect("parses");
        assert_eq!(cli.addr, "127.0.0.1:7000");
        let o = cli.opts;
        assert_eq!(o.protocol, StressProtocol::Echo);
        assert_eq!((o.clients, o.size, o.pipeline), (10_000, 4096, 8));
        assert_eq!((o.duration, o.warmup), (Duration::from_secs(30), Duration::from_secs(2)));
        assert_eq!((o.rate, o.connect_rate), (Some(50_000.0), Some(1000.0)));
        assert!(o.json);
        assert_eq!(o.plot, Some(PathBuf::from("out.svg")));
    }

    #[test]
    fn defaults_match_new() {
        let cli = Cli::try_parse_from(["stress", "greet", "localhost:7"]).expect("parses");
        assert_eq!(cli.opts, StressOptions::new(StressProtocol::Greet));
    }

    #[test]
    fn framed_takes_a_header_format() {
        let cli = Cli::try_parse_from(["s", "framed", "x", "--header", "u32"]).expect("parses");
        assert_eq!((cli.opts.protocol, cli.opts.header), (StressProtocol::Framed, Some(FrameHeader::U32)));
        let cli = Cli::try_parse_from(["s", "chat", "x", "--clients", "50"]).expect("parses");
        assert_eq!((cli.opts.protocol, cli.opts.header), (StressProtocol::Chat, None));
    }

    #[test]
    fn bind_repeats() {
        let cli = Cli::try_parse_from(["s", "echo", "x", "--bind", "127.0.0.2", "--bind", "127.0.0.3"])
            .expect("parses");
        assert_eq!(cli.opts.bind.len(), 2);
    }

    #[test]
    fn refuses_nonsense() {
        for args in [
            &["s", "echo", "x", "--clients", "0"][..],
            &["s", "echo", "x", "--pipeline", "0"],
            &["s", "echo", "x", "--rate", "-5"],
            &["s", "echo", "x", "--duration", "5x"],
            &["s", "echo", "x", "--size", "12Q"],
            &["s", "smtp", "x"],
            &["s", "framed", "x", "--header", "u16"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let target: SocketAddr = "127.0.0.1:7".parse().expect("address");
        let mut o = StressOptions::new(StressProtocol::Echo);
        o.size = 0;
        assert_eq!(o.validate(target).map_err(|e| e.kind()), Err(io::ErrorKind::InvalidInput));
        let mut o = StressOptions::new(StressProtocol::Echo);
        (o.size, o.pipeline) = (1 << 20, 65);
        assert!(o.validate(target).is_err(), "too much in flight");
        let mut o = StressOptions::new(StressProtocol::Echo);
        o.bind = vec!["::1".parse().expect("address")];
        assert!(o.validate(target).is_err(), "family mismatch");
        assert!(StressOptions::new(StressProtocol::Echo).validate(target).is_ok());
        let mut o = StressOptions::new(StressProtocol::Echo);
        o.header = Some(FrameHeader::U32);
        assert!(o.validate(target).is_err(), "--header without framed");
        let mut o = StressOptions::new(StressProtocol::Chat);
        o.clients = 1;
        assert!(o.validate(target).is_err(), "a room of one");
        o.clients = MAX_ROOM + 1;
        assert!(o.validate(target).is_err(), "too big a room");
        let mut o = StressOptions::new(StressProtocol::Relay);
        o.size = MAX_TEXT + 1;
        assert!(o.validate(target).is_err(), "longer than a line");
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1").is_err());
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_rate("2.5k"), Ok(2500.0));
        assert!(parse_rate("0").is_err());
    }
}
