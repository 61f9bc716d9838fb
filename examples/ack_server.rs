//! The acknowledgement server on IPv4 and IPv6 at once: one reactor serves any number of
//! listeners, so two address families are two `listen` calls, not two threads.
//!
//!     cargo run --example ack_server
//!     printf 'Hii Server' | nc -N 127.0.0.1 7002      # prints Acknowledgement
//!     printf 'Hii Server' | nc -N ::1 7002            # the same over IPv6
//!
//! Every chunk is answered with `Acknowledgement`; the chunk `exit` or EOF closes.

use sockloop::{Config, Reactor, protocols::ack::Ack};
use std::net::SocketAddr;

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut reactor = Reactor::new(Ack::default(), Config::default())?;
    reactor.stop_on_signals()?;
    // `[::1]` is IPv6-only (`[::]` would be dual-stack), so both can use port 7002.
    let v4 = SocketAddr::from(([127, 0, 0, 1], 7002));
    let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7002));
    for addr in [v4, v6] {
        println!("listening on {}", reactor.listen(addr, 1024)?);
    }
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
