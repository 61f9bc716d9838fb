//! A chat room, with this terminal in it: one reactor serves the members' sockets and the
//! console's stdin/stdout alike, so typing here and members talking are all just events.
//!
//!     cargo run --example chat_server
//!     nc 127.0.0.1 7003                       # then: /nick alice, hello, /who, /quit
//!     cargo run -- chat [::1]:7003 --nick bob
//!
//! Every line a member sends goes to everyone else as `nick: text`; what you type here goes
//! to everyone as `server: text`. A member that stops reading is dropped, not waited for.

use sockloop::{Config, Reactor, protocols::chat::Chat};
use std::net::SocketAddr;

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut reactor = Reactor::new(Chat::default(), Config::default())?;
    reactor.stop_on_signals()?;
    let v4 = SocketAddr::from(([127, 0, 0, 1], 7003));
    let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7003));
    for addr in [v4, v6] {
        println!("listening on {}", reactor.listen(addr, 1024)?);
    }
    // After the `listening on` lines: from here on stdout belongs to the room.
    reactor.add_stdio()?;
    reactor.run()?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
