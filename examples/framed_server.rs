//! The length-header server: every frame (64-byte ASCII length, then the payload) gets the
//! classic 97-byte reply; `Disconnect !` is answered and then the connection closes.
//!
//!     cargo run --example framed_server
//!     printf '%-64s%s' 2 hi | nc -N 127.0.0.1 7004 | head -c 97; echo
//!     printf 'hi\nDisconnect !\n' | cargo run -- framed 127.0.0.1:7004
//!
//! A frame may arrive in any number of reads: the reactor holds the unconsumed bytes, so the
//! input limit must fit one whole frame, header included.

use sockloop::protocols::framed::{Codec, Framed, Header, REPLY};
use sockloop::{Config, Reactor};

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let codec = Codec::new(Header::Ascii64, 1 << 20);
    let framed = Framed::new(codec, REPLY).map_err(std::io::Error::other)?;
    let config = Config { max_input: codec.max_input(), ..Config::default() };
    let mut reactor = Reactor::new(framed, config)?;
    reactor.stop_on_signals()?;
    let addr = reactor.listen("127.0.0.1:7004".parse().expect("a literal address"), 1024)?;
    println!("listening on {addr}");
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
