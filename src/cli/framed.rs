//! `sockloop framed ADDR`: the interactive framed client. stdin and the socket are both
//! reactor sources, so no thread reads either.

use super::{session, size};
use clap::{Args, ValueEnum};
use sockloop::Config;
use sockloop::protocols::framed::{Codec, FramedClient, Header};
use sockloop::protocols::session::Session;

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
    let addrs = session::resolve(&args.addr)?;
    let codec = Codec::new(args.header.into(), args.max_frame);
    let config =
        Config { max_input: codec.max_input().max(Config::default().max_input), ..Config::default() };
    session::run(&args.addr, Session::tcp(FramedClient::new(codec), addrs), config)
}
