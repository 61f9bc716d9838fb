//! `sockloop serve PROTOCOL`: every protocol server is the same reactor set-up around a
//! different handler, so the options common to all of them and the set-up live here once.

use super::{duration, escape, say, size};
use clap::{Args, Subcommand};
use sockloop::protocols::{ack::Ack, echo::Echo, greet::Greet};
use sockloop::{Config, Handler, Reactor, net};
use std::net::SocketAddr;
use std::time::Duration;

/// Serve one protocol on one or more addresses until SIGINT/SIGTERM.
#[derive(Args, Debug)]
#[command(
    subcommand_value_name = "PROTOCOL",
    subcommand_help_heading = "Protocols",
    after_help = "\
Each bound address is printed as one `listening on ADDR` line on stdout; at shutdown one
`stats: ...` line follows. Logs go to stderr (RUST_LOG=debug shows every readiness event).

Examples:
  sockloop serve echo
  sockloop serve echo --listen 127.0.0.1:0 --listen [::1]:0
  sockloop serve greet --help"
)]
pub struct ServeArgs {
    #[command(subcommand)]
    protocol: Protocol,
}

#[derive(Subcommand, Debug)]
enum Protocol {
    /// Send back every byte received; on the client's FIN, finish sending and close.
    #[command(after_help = "\
Examples:
  sockloop serve echo
  sockloop serve echo --listen [::]:7000 --max-conns 10000 --idle-timeout 30s
  printf 'hello' | nc -N 127.0.0.1 7000")]
    Echo {
        #[command(flatten)]
        common: Common,
    },
    /// Speak first: send a banner, read the client's answer (`Hi`), close.
    #[command(after_help = "\
Examples:
  sockloop serve greet --listen 127.0.0.1:7001
  sockloop serve greet --banner 'welcome\\r\\n' --answer-timeout 3s
  printf 'Hi' | nc -N 127.0.0.1 7001")]
    Greet {
        #[command(flatten)]
        common: Common,
        /// Sent to every client on connect. Escapes \r \n \t \\ are understood.
        /// [default: the classic 44 bytes `Message received. Thank you for connecting\r\n`]
        #[arg(long, value_name = "TEXT", value_parser = text, hide_default_value = true,
              default_value = "Message received. Thank you for connecting\\r\\n")]
        banner: Text,
        /// A client that does not answer within this long is closed.
        #[arg(long, value_name = "DUR", value_parser = duration::parse_positive, default_value = "10s")]
        answer_timeout: Duration,
    },
    /// Answer every message with `Acknowledgement`; `exit` or EOF closes.
    #[command(after_help = "\
Examples:
  sockloop serve ack --listen 127.0.0.1:7002 --listen [::1]:7002
  sockloop serve ack --listen localhost:7002 --reply 'OK\\n'
  printf 'Hii Server' | nc -N ::1 7002      # prints Acknowledgement")]
    Ack {
        #[command(flatten)]
        common: Common,
        /// Reply instead of `Acknowledgement`. Escapes \r \n \t \\ are understood.
        #[arg(long, value_name = "TEXT", value_parser = text)]
        reply: Option<Text>,
    },
}

/// Options every server takes.
#[derive(Args, Debug)]
struct Common {
    /// Address to listen on; repeat for more. A host name listens on each of its addresses,
    /// [::]:PORT accepts IPv4 too, and port 0 picks a free port (see the `listening on` lines).
    #[arg(long = "listen", value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: Vec<String>,
    /// Connections the kernel may queue before we accept them.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(i32).range(1..))]
    backlog: i32,
    /// Connections beyond this many are accepted and closed at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_conns: Option<u32>,
    /// Close connections with no bytes moving for this long (e.g. 30s, 2m).
    #[arg(long, value_name = "DUR", value_parser = duration::parse_positive)]
    idle_timeout: Option<Duration>,
    /// Output queued for one connection above which we stop reading from it (e.g. 64K, 1M).
    #[arg(long, value_name = "BYTES", value_parser = size::parse_positive, default_value = "1M")]
    high_water: usize,
    /// On SIGINT/SIGTERM, how long queued output may take to drain before connections are cut.
    #[arg(long, value_name = "DUR", value_parser = duration::parse, default_value = "5s")]
    grace: Duration,
    /// Log the counters this often (e.g. 10s).
    #[arg(long, value_name = "DUR", value_parser = duration::parse_positive)]
    stats_interval: Option<Duration>,
}

/// Option text with its escapes already turned into bytes.
#[derive(Clone, Debug)]
struct Text(Vec<u8>);

fn text(arg: &str) -> Result<Text, String> {
    escape::unescape(arg).map(Text)
}

impl Common {
    fn config(&self) -> Config {
        Config {
            high_water: self.high_water,
            max_conns: self.max_conns.map(|n| n as usize),
            idle_timeout: self.idle_timeout,
            grace: self.grace,
            stats_interval: self.stats_interval,
            ..Config::default()
        }
    }
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    match args.protocol {
        Protocol::Echo { common } => serve(Echo, &common),
        Protocol::Greet { common, banner, answer_timeout } => {
            serve(Greet::new(banner.0, answer_timeout), &common)
        }
        Protocol::Ack { common, reply } => {
            serve(reply.map_or_else(Ack::default, |r| Ack::with_reply(r.0)), &common)
        }
    }
}

fn serve<H: Handler>(handler: H, opts: &Common) -> Result<(), String> {
    // Name resolution blocks, so it all happens here, before the loop exists.
    let addrs = resolve_all(&opts.listen)?;
    let mut reactor = Reactor::new(handler, opts.config()).map_err(|e| format!("cannot start: {e}"))?;
    // Before the first `listening on` line: whoever waits for it may signal us right away.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    for addr in addrs {
        let bound =
            reactor.listen(addr, opts.backlog).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        say(&format!("listening on {bound}"))?;
    }
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    say(&format!("stats: {}", reactor.stats()))
}

/// Every address of every `--listen`, in order, each once (a name may list one twice).
fn resolve_all(listen: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut all = Vec::new();
    for text in listen {
        let addrs = net::resolve(text).map_err(|e| format!("bad --listen address {text:?}: {e}"))?;
        for addr in addrs {
            if !all.contains(&addr) {
                all.push(addr);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        #[derive(Parser)]
        struct Top {
            #[command(subcommand)]
            serve: Protocol,
        }
        Top::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map(|top| ServeArgs { protocol: top.serve })
    }

    #[test]
    fn defaults() {
        let Ok(ServeArgs { protocol: Protocol::Greet { common, banner, answer_timeout } }) =
            parse(&["greet"])
        else {
            panic!("greet should parse")
        };
        assert_eq!(banner.0, sockloop::protocols::greet::BANNER);
        assert_eq!(answer_timeout, Duration::from_secs(10));
        assert_eq!(common.listen, ["127.0.0.1:7000"]);
        assert_eq!(common.backlog, 1024);
        assert_eq!(common.high_water, 1 << 20);
        assert_eq!(common.grace, Duration::from_secs(5));
        assert_eq!((common.max_conns, common.idle_timeout, common.stats_interval), (None, None, None));
    }

    #[test]
    fn options_reach_the_config() {
        let Ok(ServeArgs { protocol: Protocol::Ack { common, reply } }) = parse(&[
            "ack",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "[::1]:0",
            "--high-water",
            "64K",
            "--idle-timeout",
            "1.5s",
            "--max-conns",
            "10",
            "--reply",
            r"ok\n",
        ]) else {
            panic!("ack should parse")
        };
        assert_eq!(common.listen, ["127.0.0.1:0", "[::1]:0"]);
        assert_eq!(reply.map(|r| r.0), Some(b"ok\n".to_vec()));
        let config = common.config();
        assert_eq!(config.high_water, 64 << 10);
        assert_eq!(config.idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(config.max_conns, Some(10));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["echo", "--grace", "soon"][..],
            &["echo", "--high-water", "0"],
            &["echo", "--backlog", "0"],
            &["echo", "--stats-interval", "0s"],
            &["greet", r"--banner=\q"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
    }

    #[test]
    fn listen_addresses_resolve_once_each_and_bad_ones_are_named() {
        let all = resolve_all(&["127.0.0.1:0".into(), "[::1]:7000".into(), "127.0.0.1:0".into()]);
        assert_eq!(all, Ok(vec!["127.0.0.1:0".parse().unwrap(), "[::1]:7000".parse().unwrap()]));
        let err = resolve_all(&["127.0.0.1:99999".into()]).unwrap_err();
        assert!(err.contains("bad --listen address \"127.0.0.1:99999\""), "{err}");
    }
}
