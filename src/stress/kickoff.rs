//! Gets the load's first callback on the loop's first turn.
//!
//! The load needs a [`crate::Context`] at the start (to set its end, interval and ramp
//! timers and issue the first connects), and the reactor offers no callback before the first
//! event. So we give it an event: a one-byte datagram to a loopback UDP socket the reactor
//! owns, which arrives as [`crate::Handler::datagram`] on the first poll. Once the reactor
//! can set a global timer from outside the loop (`Reactor::set_global_timer`), this file
//! becomes that one call.

use crate::{Handler, Reactor};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

pub(crate) fn arrange<H: Handler>(reactor: &mut Reactor<H>) -> io::Result<()> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (_, inbox) = reactor.bind_udp(loopback)?;
    UdpSocket::bind(loopback)?.send_to(b"!", inbox)?;
    Ok(())
}
