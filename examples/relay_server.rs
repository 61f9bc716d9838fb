//! The classic UDP relay: `hii` tells a client its address, `to:IP/PORT;content:MSG` makes
//! the server forward `SENDER_IP/SENDER_PORT ; content : MSG` to that address from its own
//! socket. One UDP socket per family, both served by the same loop and handler.
//!
//!     cargo run --example relay_server
//!     nc -u 127.0.0.1 7005                       # type: hii
//!     cargo run -- relay 127.0.0.1:7005 --udp    # type: to:IP/PORT;content:hello
//!
//! `exit server` is refused (406): this example does not allow a remote stop.

use sockloop::protocols::relay::UdpRelay;
use sockloop::{Config, Reactor};
use std::net::SocketAddr;

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut reactor = Reactor::new(UdpRelay::new(false), Config::default())?;
    reactor.stop_on_signals()?;
    let v4 = SocketAddr::from(([127, 0, 0, 1], 7005));
    let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7005));
    for addr in [v4, v6] {
        let (sock, local) = reactor.bind_udp(addr)?;
        // The relay checks a target's address family against the socket's.
        reactor.handler_mut().bound(sock, local);
        println!("listening on {local} (udp)");
    }
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
