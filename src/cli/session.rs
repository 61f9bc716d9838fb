//! Running an interactive client session from the command line: the one place that sets up
//! its reactor and turns its outcome into the exit status, for `connect`, `chat`, `framed`
//! and `relay`.

use sockloop::protocols::session::{Client, Session};
use sockloop::{Config, Reactor, net};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Every address of HOST:PORT, never none. This is blocking DNS, so it happens before the
/// loop exists.
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs = net::resolve(addr).map_err(|e| format!("cannot resolve {addr:?}: {e}"))?;
    if addrs.is_empty() {
        return Err(format!("{addr:?} has no address"));
    }
    Ok(addrs)
}

/// Runs `session` with stdin/stdout until it ends; `addr` is the server as the user gave it,
/// for the error messages.
pub fn run<C: Client>(addr: &str, session: Session<C>, config: Config) -> Result<(), String> {
    let udp_server = session.udp_server();
    let mut reactor = Reactor::new(session, config).map_err(|e| format!("cannot start: {e}"))?;
    // A signal must stop the loop rather than kill the process: stdin and stdout are
    // non-blocking while the reactor owns them, and only an orderly exit puts them back.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    if let Some(server) = udp_server {
        let any = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let (sock, _) = reactor
            .bind_udp(SocketAddr::new(any, 0))
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        reactor.handler_mut().use_socket(sock);
    }
    // The session starts its connect (TCP) as soon as stdin/stdout is up.
    reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout: {e}"))?;
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    reactor.handler().outcome().map_or(Ok(()), |outcome| outcome.result(addr))
}
