//! The `sockloop` command line: one file per subcommand, the shared parsers beside them.

pub mod chat;
pub mod connect;
pub mod duration;
pub mod escape;
pub mod file;
pub mod framed;
pub mod get;
pub mod ping;
pub mod relay;
pub mod serve;
pub mod session;
pub mod size;
pub mod stress;

use clap::{Parser, Subcommand};
use std::io::Write;

const EXAMPLES: &str = "\
Examples:
  sockloop serve echo                          # echo server on 127.0.0.1:7000
  sockloop serve ack --listen 127.0.0.1:7002 --listen [::1]:7002
  sockloop connect 127.0.0.1:7000              # type lines, Ctrl-D to finish
  RUST_LOG=debug sockloop serve echo           # watch every readiness event";

/// One-thread readiness reactor: serve classic protocols, or talk to a server like nc.
#[derive(Parser, Debug)]
#[command(name = "sockloop", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Serve(serve::ServeArgs),
    Connect(connect::ConnectArgs),
    Chat(chat::ChatArgs),
    Stress(stress::StressArgs),
    Framed(framed::FramedArgs),
    Relay(relay::RelayArgs),
    Ping(ping::PingArgs),
    Get(get::GetArgs),
}

/// Logs go to stderr, so stdout stays for what the user asked to see (listening lines and
/// stats, or the server's bytes). `RUST_LOG` still wins over `default_filter`.
pub fn init_logging(default_filter: &str) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter)).init();
}

/// Prints one line on stdout at once: a script waiting for `listening on` must not wait for
/// a buffer to fill.
pub fn say(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| format!("cannot write to stdout: {e}"))
}
