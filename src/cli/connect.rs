//! `sockloop connect ADDR`: the interactive client (like `nc -N`). stdin and the socket are
//! both registered with the one reactor, so there is no reader thread to coordinate.

use super::session;
use clap::Args;
use sockloop::Config;
use sockloop::protocols::connect::{Bridge, Connect};

/// Send stdin to a TCP server and print what it sends back, until it closes.
#[derive(Args, Debug)]
#[command(after_help = "\
stdin's end (Ctrl-D, or the end of a pipe) half-closes the connection; the server's replies
are still printed until it closes. Exit status: 0 when the server closes, 1 when the connect
fails or the connection breaks.

Examples:
  sockloop connect 127.0.0.1:7000
  printf 'hello\\n' | sockloop connect [::1]:7000
  sockloop connect localhost:7002     # tries ::1, then 127.0.0.1")]
pub struct ConnectArgs {
    /// HOST:PORT or [IPV6]:PORT; every address of the host is tried in turn.
    addr: String,
}

pub fn run(args: ConnectArgs) -> Result<(), String> {
    let addrs = session::resolve(&args.addr)?;
    session::run(&args.addr, Connect::tcp(Bridge::default(), addrs), Config::default())
}
