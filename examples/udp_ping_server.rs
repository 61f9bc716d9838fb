//! The classic UDP ping server: `Packet Acknowledged` for every probe, after a delay drawn
//! from 0.1 ms..500 ms, with 10% of probes dropped, from a fixed seed so a run repeats.
//! One UDP socket per family, both served by one loop: a delayed reply is a timer, so
//! every other client is answered at once meanwhile.
//!
//!     cargo run --example udp_ping_server
//!     nc -u 127.0.0.1 7006                       # type: hello  (answers Packet Acknowledged)
//!     cargo run -- ping 127.0.0.1:7006 --count 10 --interval 600ms
//!
//! `exit` is refused: this example does not allow a remote stop.

use sockloop::protocols::ping::impair::{CLASSIC_DELAY, CLASSIC_LOSS};
use sockloop::protocols::ping::{Impairment, PingServer, ServerOptions};
use sockloop::{Config, Reactor};
use std::net::SocketAddr;

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let impairment = Impairment::new(CLASSIC_LOSS, CLASSIC_DELAY, 1);
    let server = PingServer::new(impairment, ServerOptions::default());
    let mut reactor = Reactor::new(server, Config::default())?;
    reactor.stop_on_signals()?;
    let v4 = SocketAddr::from(([127, 0, 0, 1], 7006));
    let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7006));
    for addr in [v4, v6] {
        let (_, local) = reactor.bind_udp(addr)?;
        println!("listening on {local} (udp)");
    }
    reactor.run()?;
    println!("counters: {:?}", reactor.handler().counters());
    Ok(())
}
