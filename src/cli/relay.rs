//! `sockloop relay ADDR [--udp]`: the interactive relay client, on the one reactor that
//! also reads stdin.

use super::duration;
use clap::Args;
use sockloop::protocols::relay::client::{RelayClient, TAG};
use sockloop::{Config, Reactor, net};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
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
    let addr = &args.addr;
    // Blocking DNS, before the loop exists.
    let addrs = net::resolve(addr).map_err(|e| format!("cannot resolve {addr:?}: {e}"))?;
    let Some(&first) = addrs.first() else { return Err(format!("{addr:?} has no address")) };
    let client = if args.udp { RelayClient::udp(first, args.wait) } else { RelayClient::tcp(addrs) };
    let mut reactor = Reactor::new(client, Config::default()).map_err(|e| format!("cannot start: {e}"))?;
    // A signal must stop the loop rather than kill the process, so stdin gets its flags back.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    if args.udp {
        let any = if first.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let (sock, _) = reactor
            .bind_udp(SocketAddr::new(any, 0))
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        reactor.handler_mut().use_socket(sock);
    }
    reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout: {e}"))?;
    if !args.udp {
        reactor.connect(first, TAG);
    }
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    reactor.handler().outcome().map_or(Ok(()), |outcome| outcome.result(addr))
}
