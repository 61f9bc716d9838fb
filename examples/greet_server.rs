//! The greeting server: it speaks first (the classic 44-byte banner), reads the client's
//! answer, and closes. A client that never answers is closed by a timer, not a blocked read.
//!
//!     cargo run --example greet_server
//!     printf 'Hi' | nc -N 127.0.0.1 7001              # prints the banner
//!
//! The server logs each answer it hears (`127.0.0.1:PORT answered: Hi`).

use sockloop::{Config, Reactor, protocols::greet::Greet};
use std::time::Duration;

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let banner = b"Message received. Thank you for connecting\r\n".to_vec();
    let greet = Greet::new(banner, Duration::from_secs(10));
    let mut reactor = Reactor::new(greet, Config::default())?;
    reactor.stop_on_signals()?;
    let addr = reactor.listen("127.0.0.1:7001".parse().expect("a literal address"), 1024)?;
    println!("listening on {addr}");
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
