//! An echo server in a dozen lines: one reactor, one listener, the `Echo` state machine.
//!
//!     cargo run --example echo_server
//!     printf 'hello\n' | nc -N 127.0.0.1 7000        # prints hello
//!
//! Ctrl-C stops it gracefully and prints the counters. `RUST_LOG=debug` shows every event.

use sockloop::{Config, Reactor, protocols::echo::Echo};

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut reactor = Reactor::new(Echo, Config::default())?;
    reactor.stop_on_signals()?;
    let addr = reactor.listen("127.0.0.1:7000".parse().expect("a literal address"), 1024)?;
    println!("listening on {addr}");
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
