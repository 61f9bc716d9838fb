//! `sockloop serve PROTOCOL`: every protocol server is the same reactor set-up around a
//! different handler, so the options common to all of them and the set-up live here once.

use super::framed::HeaderArg;
use super::{duration, escape, say, size};
use clap::{Args, Subcommand};
use sockloop::protocols::chat::{Chat, classic::Classic};
use sockloop::protocols::framed::{Codec, Framed};
use sockloop::protocols::ping::PingServer;
use sockloop::protocols::relay::{TcpRelay, UdpRelay};
use sockloop::protocols::{ack::Ack, echo::Echo, greet::Greet};
use sockloop::{Config, ConnId, Handler, Reactor, net};
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
    /// A chat room: each line a member sends goes to every other member as `nick: text`.
    #[command(after_help = "\
Members are told `* alice joined` / `* alice left`; mistakes get a `! ...` line. Commands:
/nick NAME, /who, /msg NICK TEXT, /quit (or the line BYE). A member whose queue passes
--high-water (it does not read) is disconnected and the others told `* bob dropped`.

--console: the server's stdin/stdout join the room as `server`.
--classic: the classic console exchange: one message per read, shown as `Client says: TEXT`;
each stdin line (a pipe or file works: one line a reply) is sent back bare, without its
newline, answering messages in the order they came; the message BYE closes that client.

Examples:
  sockloop serve chat --listen 127.0.0.1:7003 --console
  sockloop chat 127.0.0.1:7003 --nick alice
  nc 127.0.0.1 7003
  printf 'hi\\nbye\\n' | sockloop serve chat --classic --listen 127.0.0.1:7003")]
    Chat {
        #[command(flatten)]
        common: Common,
        /// Join the room from the server's terminal (stdin/stdout) as `server`.
        #[arg(long)]
        console: bool,
        /// Speak the classic console exchange instead of the room (implies the console).
        #[arg(long)]
        classic: bool,
        /// Lines longer than this are refused (at most 512K).
        #[arg(long, value_name = "BYTES", value_parser = max_line, default_value = "4K")]
        max_line: usize,
    },
    /// Answer every length-prefixed frame with a reply frame; `Disconnect !` ends the session.
    #[command(after_help = "\
The classic header is 64 bytes: the payload length in bytes as ASCII decimal, left-aligned,
space padded. Every frame (empty ones and `Disconnect !` included) gets the reply frame; a
bad or oversized header is logged with the peer's address and closes that connection.

Examples:
  sockloop serve framed
  sockloop serve framed --header u32 --max-frame 1M --listen [::1]:7000
  sockloop framed 127.0.0.1:7000      # type lines; `Disconnect !` ends")]
    Framed {
        #[command(flatten)]
        common: Common,
        /// The header format.
        #[arg(long, value_enum, default_value_t)]
        header: HeaderArg,
        /// The reply text. Escapes \r \n \t \\ are understood.
        /// [default: the classic 33 bytes `Message received successfully....`]
        #[arg(long, value_name = "TEXT", value_parser = text)]
        reply: Option<Text>,
        /// A header announcing a longer payload closes the connection.
        #[arg(long, value_name = "BYTES", value_parser = size::parse_positive, default_value = "16M")]
        max_frame: usize,
    },
    /// Relay messages between clients: `hii`, `to:IP/PORT;content:MSG` (--udp: the classic).
    #[command(after_help = "\
Requests (a datagram each with --udp, else a line each): `hii` answers the sender's address
as Python prints it; `to:IP/PORT;content:MSG` forwards `SENDER_IP/SENDER_PORT ; content : MSG`
and answers `200, ...`, or a classic error code 400..405. IPv6 targets: `to:[::1]/PORT;...`.
TCP only: `name:NAME` registers a name, `to:NAME;content:MSG` sends to it; replies end in a
newline. Our own codes: 406 remote stop disabled, 407 not UTF-8, 408 line too long,
409 name taken, 410 invalid name. `exit server` stops the server only with
--allow-remote-stop.

Examples:
  sockloop serve relay --udp --listen 127.0.0.1:9000
  socat - UDP:127.0.0.1:9000           # type: hii
  sockloop serve relay --listen 127.0.0.1:7000 --listen [::1]:7000
  nc 127.0.0.1 7000                    # type: name:alice")]
    Relay {
        #[command(flatten)]
        common: Common,
        /// Serve the classic UDP relay instead of the TCP one.
        #[arg(long)]
        udp: bool,
        /// Let any peer stop the server with `exit server`.
        #[arg(long)]
        allow_remote_stop: bool,
        /// TCP: a longer line is refused (408) and closes its connection (at most 512K).
        #[arg(long, value_name = "BYTES", value_parser = max_line, default_value = "4K")]
        max_line: usize,
    },
    /// Acknowledge UDP probes like the classic ping server, with simulated loss and delay.
    #[command(
        name = "udp-ping",
        after_help = "\
Every datagram gets the classic answer: `C <size>` -> `Buffer Size Calibrated at Server.`
(sets that peer's receive size; never dropped or delayed), anything else -> `Packet
Acknowledged`, after a delay from --delay, unless --loss drops it. A `sockloop ping` probe is
answered with its sequence header, padded to its size. `exit` stops the server only with
--allow-remote-stop. Malformed datagrams (not UTF-8, empty, `C` without a size) are logged
and ignored. No loss and no delay unless asked: --classic gives the classic 10% and
0.1ms..500ms.

Examples:
  sockloop serve udp-ping --listen 127.0.0.1:8080 --listen [::1]:8080
  sockloop serve udp-ping --listen 127.0.0.1:8080 --loss 0.1 --delay 1ms..50ms --seed 1
  sockloop serve udp-ping --listen 127.0.0.1:8080 --classic --allow-remote-stop
  sockloop ping 127.0.0.1:8080 --count 20 --interval 100ms
  socat - UDP:127.0.0.1:8080           # type: hello"
    )]
    UdpPing {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        ping: super::ping::ServerArgs,
    },
    /// Authenticated file transfer: `AUTH`, then `GET NAME [OFFSET]` under --root (or --classic).
    #[command(after_help = super::file::HELP)]
    File {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        file: super::file::FileArgs,
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

/// A partial line is held by the reactor, so it must stay well under `Config::max_input`.
fn max_line(arg: &str) -> Result<usize, String> {
    size::parse_positive(arg).and_then(|n| if n <= 512 << 10 { Ok(n) } else { Err("at most 512K".into()) })
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
        Protocol::Chat { common, classic: true, max_line, .. } => {
            serve_with(Classic::new(max_line), &common, true)
        }
        Protocol::Chat { common, console, max_line, .. } => serve_with(Chat::new(max_line), &common, console),
        Protocol::Framed { common, header, reply, max_frame } => {
            let codec = Codec::new(header.into(), max_frame);
            let reply = reply.map_or_else(|| sockloop::protocols::framed::REPLY.to_vec(), |r| r.0);
            let framed = Framed::new(codec, &reply).map_err(|e| format!("bad --reply: {e}"))?;
            set_up(framed, &common, Setup { max_input: codec.max_input(), ..Setup::default() })
        }
        Protocol::Relay { common, udp: true, allow_remote_stop, .. } => {
            let bound: fn(&mut UdpRelay, ConnId, SocketAddr) = UdpRelay::bound;
            set_up(UdpRelay::new(allow_remote_stop), &common, Setup { udp: Some(bound), ..Setup::default() })
        }
        Protocol::Relay { common, allow_remote_stop, max_line, .. } => {
            serve(TcpRelay::new(allow_remote_stop, max_line), &common)
        }
        Protocol::UdpPing { common, ping } => {
            let bound: fn(&mut PingServer, ConnId, SocketAddr) = |_, _, _| {};
            set_up(super::ping::server(&ping), &common, Setup { udp: Some(bound), ..Setup::default() })
        }
        Protocol::File { common, file } => {
            let sendfile = !file.no_sendfile;
            match file.server()? {
                super::file::Server::Ours(h) => set_up(h, &common, Setup { sendfile, ..Setup::default() }),
                super::file::Server::Classic(h) => set_up(h, &common, Setup { sendfile, ..Setup::default() }),
            }
        }
    }
}

fn serve<H: Handler>(handler: H, opts: &Common) -> Result<(), String> {
    serve_with(handler, opts, false)
}

fn serve_with<H: Handler>(handler: H, opts: &Common, console: bool) -> Result<(), String> {
    set_up(handler, opts, Setup { console, ..Setup::default() })
}

/// What differs between servers in the one set-up below; the default is TCP listeners.
struct Setup<H> {
    /// The server's stdin/stdout become one more connection of the handler
    /// (`Origin::Stdio`), added after the `listening on` lines so those stay first on stdout.
    console: bool,
    /// Bind a UDP socket on each `--listen` address instead of a TCP listener, and tell the
    /// handler each socket's id and local address with this.
    udp: Option<fn(&mut H, ConnId, SocketAddr)>,
    /// Unconsumed input a connection may leave, if the protocol needs more than the
    /// default (a framed server holds a whole frame).
    max_input: usize,
    /// File ranges may go out with sendfile(2) (`--no-sendfile` turns it off to compare).
    sendfile: bool,
}

impl<H> Default for Setup<H> {
    fn default() -> Self {
        Setup { console: false, udp: None, max_input: 0, sendfile: true }
    }
}

fn set_up<H: Handler>(handler: H, opts: &Common, setup: Setup<H>) -> Result<(), String> {
    // Name resolution blocks, so it all happens here, before the loop exists.
    let addrs = resolve_all(&opts.listen)?;
    let mut config = opts.config();
    config.max_input = config.max_input.max(setup.max_input);
    config.sendfile &= setup.sendfile;
    let mut reactor = Reactor::new(handler, config).map_err(|e| format!("cannot start: {e}"))?;
    // Before the first `listening on` line: whoever waits for it may signal us right away.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    for addr in addrs {
        let bound = match setup.udp {
            None => reactor.listen(addr, opts.backlog),
            Some(tell) => reactor.bind_udp(addr).map(|(sock, local)| {
                tell(reactor.handler_mut(), sock, local);
                local
            }),
        };
        let bound = bound.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        say(&format!("listening on {bound}"))?;
    }
    if setup.console {
        reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout as the console: {e}"))?;
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
