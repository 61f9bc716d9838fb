//! `sockloop connect ADDR`: the interactive client (like `nc -N`). stdin and the socket are
//! both registered with the one reactor, so there is no reader thread to coordinate.

use clap::Args;
use sockloop::protocols::connect::{Connect, Outcome, TAG};
use sockloop::{Config, Reactor, net};

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
    let addr = &args.addr;
    // Blocking DNS, before the loop exists.
    let addrs = net::resolve(addr).map_err(|e| format!("cannot resolve {addr:?}: {e}"))?;
    let Some(&first) = addrs.first() else { return Err(format!("{addr:?} has no address")) };
    let mut reactor =
        Reactor::new(Connect::new(addrs), Config::default()).map_err(|e| format!("cannot start: {e}"))?;
    // A signal must stop the loop rather than kill the process: stdin and stdout are
    // non-blocking while the reactor owns them, and only an orderly exit puts them back.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout: {e}"))?;
    reactor.connect(first, TAG);
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    match reactor.handler().outcome() {
        None | Some(Outcome::Closed) => Ok(()),
        Some(Outcome::ConnectFailed(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Some(Outcome::Lost(reason)) => Err(format!("connection to {addr} lost: {reason}")),
    }
}
