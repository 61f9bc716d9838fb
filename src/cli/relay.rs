//! `sockloop relay ADDR [--udp]`: the interactive relay client, on the one reactor that
//! also reads stdin.

use super::{duration, session};
use clap::Args;
use sockloop::Config;
use sockloop::protocols::relay::RelayClient;
use sockloop::protocols::session::Session;
use std::time::Duration;

/// Send each stdin line to a relay server and print what arrives, with its sender.
#[derive(Args, Debug)]
#[command(after_help = "\
Requests: `hii` (the server tells you your address), `to:IP/PORT;content:MSG` (IPv6:
`to:[::1]/PORT;...`), over TCP also `name:NAME` and `to:NAME;content:MSG`. Each line
received prints as `from SENDER: TEXT`.

Over TCP stdin's end half-closes the connection and the client exits when the server
closes. Over UDP it exits once nothing has arrived for --wait after stdin's end (only the
first address of ADDR is used). Exit status: 0 normally, 1 if the connect fails or the
connection breaks.

Examples:
  sockloop relay 127.0.0.1:7000
  sockloop relay 127.0.0.1:9000 --udp
  printf 'hii\\n' | sockloop relay [::1]:9000 --udp")]
pub struct RelayArgs {
    /// HOST:PORT or [IPV6]:PORT of the relay server.
    addr: String,
    /// Talk to the classic UDP relay (`sockloop serve relay --udp`).
    #[arg(long)]
    udp: bool,
    /// UDP: after stdin ends, keep printing what arrives until nothing has for this long.
    #[arg(long, value_name = "DUR", value_parser = duration::parse, default_value = "1s")]
    wait: Duration,
}

pub fn run(args: RelayArgs) -> Result<(), String> {
    let addrs = session::resolve(&args.addr)?;
    let client = match addrs.first() {
        Some(&first) if args.udp => Session::udp(RelayClient::udp(args.wait), first),
        _ => Session::tcp(RelayClient::tcp(), addrs),
    };
    session::run(&args.addr, client, Config::default())
}
