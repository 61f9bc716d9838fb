//! `sockloop framed ADDR`: the interactive framed client. stdin and the socket are both
//! reactor sources, so no thread reads either.

use super::size;
use clap::{Args, ValueEnum};
use sockloop::protocols::framed::client::{FramedClient, TAG};
use sockloop::protocols::framed::{Codec, Header};
use sockloop::{Config, Reactor, net};

/// The header format, as `--header` spells it (shared with `sockloop serve framed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum HeaderArg {
    /// The classic: the payload length as ASCII decimal, left-aligned in 64 bytes.
    #[default]
    Ascii64,
    /// The payload length as 4 bytes, big-endian.
    U32,
}

impl From<HeaderArg> for Header {
    fn from(arg: HeaderArg) -> Header {
        match arg {
            HeaderArg::Ascii64 => Header::Ascii64,
            HeaderArg::U32 => Header::U32,
        }
    }
}

/// Send each stdin line as one frame and print each reply's text, one per line.
#[derive(Args, Debug)]
#[command(after_help = "\
A line that is exactly `Disconnect !` is the last one sent: the client exits once it is
answered. When stdin ends, the client waits for the replies it is owed, then closes.
Exit status: 0 when the session ends normally, 1 when the connect fails, the connection
breaks or a reply is malformed.

Examples:
  sockloop framed 127.0.0.1:7000
  printf 'Hello, this is Prashanth !\\nDisconnect !\\n' | sockloop framed 127.0.0.1:7000
  sockloop framed [::1]:7000 --header u32")]
pub struct FramedArgs {
    /// HOST:PORT or [IPV6]:PORT; every address of the host is tried in turn.
    addr: String,
    /// The header format; it must match the server's.
    #[arg(long, value_enum, default_value_t)]
    header: HeaderArg,
    /// Replies with a longer payload are refused, and so are longer stdin lines.
    #[arg(long, value_name = "BYTES", value_parser = size::parse_positive, default_value = "16M")]
    max_frame: usize,
}

pub fn run(args: FramedArgs) -> Result<(), String> {
    let addr = &args.addr;
    // Blocking DNS, before the loop exists.
    let addrs = net::resolve(addr).map_err(|e| format!("cannot resolve {addr:?}: {e}"))?;
    let Some(&first) = addrs.first() else { return Err(format!("{addr:?} has no address")) };
    let codec = Codec::new(args.header.into(), args.max_frame);
    let config =
        Config { max_input: codec.max_input().max(Config::default().max_input), ..Config::default() };
    let mut reactor =
        Reactor::new(FramedClient::new(codec, addrs), config).map_err(|e| format!("cannot start: {e}"))?;
    // A signal must stop the loop rather than kill the process, so stdin gets its flags back.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout: {e}"))?;
    reactor.connect(first, TAG);
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    reactor.handler().outcome().map_or(Ok(()), |outcome| outcome.result(addr))
}
