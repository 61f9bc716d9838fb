//! An authenticated file server: files under one directory, for clients that know the token.
//! The bytes go from the page cache to the socket with sendfile(2): any file size, no memory.
//!
//!     SOCKLOOP_TOKEN=s3cret cargo run --example file_server -- /tmp
//!     printf 'AUTH s3cret\nGET hosts\n' | nc -N 127.0.0.1 7004     # with a /tmp/hosts
//!     SOCKLOOP_TOKEN=s3cret cargo run -- get 127.0.0.1:7004 hosts -o /tmp/hosts.copy
//!
//! The server answers `OK`, then `FILE <size> <blake3>` and the bytes (or `ERR <code> ...`).

use sockloop::protocols::file::{FileServer, Root, Secret, auth};
use sockloop::{Config, Reactor};
use std::path::PathBuf;

fn main() -> Result<(), String> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let root = Root::new(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // From $SOCKLOOP_TOKEN: a secret on the command line would show in `ps`.
    let secret = Secret::new(&auth::load_token(None)?);
    let server = FileServer::new(root, secret);
    let mut reactor = Reactor::new(server, Config::default()).map_err(|e| e.to_string())?;
    reactor.stop_on_signals().map_err(|e| e.to_string())?;
    let addr = reactor.listen("127.0.0.1:7004".parse().expect("a literal address"), 1024);
    println!("listening on {}", addr.map_err(|e| e.to_string())?);
    reactor.run().map_err(|e| e.to_string())?;
    println!("stats: {}", reactor.stats());
    Ok(())
}
