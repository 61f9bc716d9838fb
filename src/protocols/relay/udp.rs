//! The classic UDP relay. Every reply, and every forwarded message, leaves from the socket
//! the request came in on, as the classic single-socket server does.
//!
//! The reactor sends after this handler returns, so a failed send cannot turn into the
//! classic 405 afterwards. Instead the sends that would fail are predicted here: a target
//! that is not an IP literal or has port 0 (see [`super::parse`](mod@super::parse)), the IPv4 broadcast
//! address (no `SO_BROADCAST`), and an address of the other family than the socket's. An
//! IPv6 socket reaches IPv4 targets only when it is dual-stack (`[::]`); then they are sent
//! to as IPv4-mapped addresses. For the family check the handler must know each socket's
//! local address: pass it to [`UdpRelay::bound`] after `Reactor::bind_udp`. And a forward
//! longer than a UDP datagram can be (the sender's address in front of a message that
//! filled its own datagram), which the kernel refuses with `EMSGSIZE`.
//!
//! One deliberate difference: a single trailing `\n` or `\r\n` is dropped before parsing,
//! because `nc -u` and `socat` send lines. The classic program would answer `hii\n` with
//! 400; no classic client sends it.

use super::parse::{Dialect, Request, Target, parse};
use super::{NOT_UTF8, REMOTE_STOP_DISABLED, SENT, UNREACHABLE, forwarded};
use crate::protocols::python;
use crate::{ConnId, ConnInfo, Context, Handler};
use log::{debug, info, warn};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug, Default)]
pub struct UdpRelay {
    allow_remote_stop: bool,
    locals: HashMap<ConnId, SocketAddr>,
}

impl UdpRelay {
    /// `allow_remote_stop`: whether `exit server` from any peer may stop the server.
    pub fn new(allow_remote_stop: bool) -> Self {
        UdpRelay { allow_remote_stop, locals: HashMap::new() }
    }

    /// Tells the relay the local address of a socket it serves.
    pub fn bound(&mut self, sock: ConnId, local: SocketAddr) {
        self.locals.insert(sock, local);
    }

    /// Where a send from `sock` to `to` really goes, or `None` if it would fail.
    fn route(&self, sock: ConnId, from: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
        // A socket only ever hears from its own family (an IPv6 one sees IPv4 peers as
        // mapped addresses), so the sender tells the family if the socket is unknown.
        let local = self.locals.get(&sock);
        let v6_socket = local.map_or(from.is_ipv6(), SocketAddr::is_ipv6);
        let dual_stack = local.is_some_and(|l| l.is_ipv6() && l.ip().is_unspecified());
        match (to.ip().to_canonical(), v6_socket) {
            (IpAddr::V4(ip), false) if !ip.is_broadcast() => Some(SocketAddr::new(ip.into(), to.port())),
            (IpAddr::V4(ip), true) if dual_stack && !ip.is_broadcast() => {
                Some(SocketAddr::new(ip.to_ipv6_mapped().into(), to.port()))
            }
            (IpAddr::V6(_), true) => Some(to),
            _ => None,
        }
    }
}

/// The most a UDP datagram can carry to `to`: 65,535 bytes less the UDP header, and for
/// IPv4 the IP header too (an IPv6 payload length leaves its fixed header out).
fn max_payload(to: SocketAddr) -> usize {
    if to.ip().to_canonical().is_ipv4() { 65_507 } else { 65_527 }
}

/// One trailing line terminator, as `nc -u` and `socat` add.
fn without_newline(data: &[u8]) -> &[u8] {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.strip_suffix(b"\r").unwrap_or(data)
}

impl Handler for UdpRelay {
    /// The relay has no connections, only datagrams.
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) {
        debug!("{}: the UDP relay takes no connections", info.peer);
        ctx.abort();
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, sock: ConnId, from: SocketAddr, data: &[u8]) {
        let Ok(m) = std::str::from_utf8(without_newline(data)) else {
            warn!("{from}: {} bytes that are not UTF-8", data.len());
            return ctx.send_to(sock, from, NOT_UTF8.as_bytes());
        };
        let reply = match parse(m, Dialect::Classic) {
            Ok(Request::Hii) => {
                info!("{from}: hii");
                python::addr_repr(&from)
            }
            Ok(Request::ExitServer) if self.allow_remote_stop => {
                info!("{from}: exit server: stopping");
                return ctx.stop();
            }
            Ok(Request::ExitServer) => {
                warn!("{from}: exit server refused (start with --allow-remote-stop to allow it)");
                REMOTE_STOP_DISABLED.into()
            }
            Ok(Request::Send { to: Target::Addr(to), msg }) => match self.route(sock, from, to) {
                Some(to) => {
                    let out = forwarded(&from, msg);
                    if out.len() > max_payload(to) {
                        info!(
                            "{from} -> {to}: {} bytes with the sender in front: too long for UDP",
                            out.len()
                        );
                        UNREACHABLE.into()
                    } else {
                        debug!("{from} -> {to}: {msg:?}");
                        ctx.send_to(sock, to, out.as_bytes());
                        SENT.into()
                    }
                }
                None => {
                    info!("{from} -> {to}: not reachable from this socket");
                    UNREACHABLE.into()
                }
            },
            // A name is never a target in the classic dialect; both are the classic 405.
            Ok(Request::Send { to: Target::Unreachable | Target::Name(_), .. } | Request::Name(_)) => {
                info!("{from}: {m:?}: not an address a datagram can go to");
                UNREACHABLE.into()
            }
            Err(refusal) => {
                info!("{from}: {m:?}: {}", refusal.reply());
                refusal.reply().into()
            }
        };
        ctx.send_to(sock, from, reply.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SentDatagram, TestTransport};

    fn a() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn relay(allow_remote_stop: bool, local: &str) -> (TestTransport<UdpRelay>, ConnId) {
        let mut t = TestTransport::new(UdpRelay::new(allow_remote_stop));
        let sock = t.udp_socket();
        t.handler_mut().bound(sock, local.parse().unwrap());
        (t, sock)
    }

    fn ask(t: &mut TestTransport<UdpRelay>, sock: ConnId, from: SocketAddr, m: &[u8]) -> Vec<SentDatagram> {
        t.datagram(sock, from, m);
        t.take_datagrams()
    }

    fn reply(sock: ConnId, to: SocketAddr, text: &str) -> SentDatagram {
        SentDatagram { sock, to, data: text.as_bytes().to_vec() }
    }

    #[test]
    fn hii_answers_with_the_python_tuple_on_either_family() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        assert_eq!(ask(&mut t, sock, a(), b"HiI"), [reply(sock, a(), "('127.0.0.1', 40000)")]);
        let (mut t, sock) = relay(false, "[::1]:9000");
        let v6: SocketAddr = "[::1]:54321".parse().unwrap();
        assert_eq!(ask(&mut t, sock, v6, b"hii"), [reply(sock, v6, "('::1', 54321, 0, 0)")]);
    }

    #[test]
    fn a_send_is_forwarded_from_the_server_socket_then_answered_200() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let sent = ask(&mut t, sock, b, b"to:127.0.0.1/40000;content:hi there");
        assert_eq!(sent, [reply(sock, a(), "127.0.0.1/40001 ; content : hi there"), reply(sock, b, SENT)]);
        let sent = ask(&mut t, sock, b, b"to:127.0.0.1/40000;content:");
        assert_eq!(sent[0], reply(sock, a(), "127.0.0.1/40001 ; content : "), "an empty message");
    }

    /// A message that filled its own datagram no longer fits once the sender's address is
    /// in front of it: the kernel would refuse the send, so it is the classic 405, not a
    /// 200 for a datagram that never left.
    #[test]
    fn a_forward_too_long_for_udp_is_405() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let head = "127.0.0.1/40001 ; content : ".len();
        let fits = format!("to:127.0.0.1/40000;content:{}", "x".repeat(65_507 - head));
        let sent = ask(&mut t, sock, b, fits.as_bytes());
        assert_eq!((sent.len(), sent[0].data.len()), (2, 65_507));
        assert_eq!(sent[1], reply(sock, b, SENT));
        let over = format!("to:127.0.0.1/40000;content:{}", "x".repeat(65_508 - head));
        assert_eq!(ask(&mut t, sock, b, over.as_bytes()), [reply(sock, b, UNREACHABLE)]);
    }

    #[test]
    fn every_error_code_is_the_bare_classic_reply() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        for (m, code) in [
            ("hello", "400"),
            ("to:1.2.3.4:5;content:x", "401"),
            ("from:1.2.3.4/5;content:x", "402"),
            ("to:1.2.3.4/x;content:x", "403"),
            ("to:1.2.3.4/5;body:x", "404"),
            ("to:1.2.3.4/70000;content:x", UNREACHABLE),
            ("to:1.2.3.4/0;content:x", UNREACHABLE),
            ("to:example.com/5;content:x", UNREACHABLE),
            ("to:255.255.255.255/5;content:x", UNREACHABLE),
            ("to:[::1]/5;content:x", UNREACHABLE),
        ] {
            assert_eq!(ask(&mut t, sock, a(), m.as_bytes()), [reply(sock, a(), code)], "{m}");
        }
    }

    #[test]
    fn ipv6_sockets_reach_ipv4_only_when_dual_stack() {
        let b: SocketAddr = "[::1]:40001".parse().unwrap();
        let m = b"to:127.0.0.1/40000;content:x";
        let (mut t, sock) = relay(false, "[::1]:9000");
        assert_eq!(ask(&mut t, sock, b, m), [reply(sock, b, UNREACHABLE)]);
        let (mut t, sock) = relay(false, "[::]:9000");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        assert_eq!(
            ask(&mut t, sock, b, m),
            [reply(sock, mapped, "::1/40001 ; content : x"), reply(sock, b, SENT)]
        );
        let sent = ask(&mut t, sock, b, b"to:[::1]/40002;content:y");
        assert_eq!(sent[0].to, "[::1]:40002".parse().unwrap());
    }

    #[test]
    fn exit_server_stops_only_when_allowed() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        assert_eq!(ask(&mut t, sock, a(), b"exit server"), [reply(sock, a(), REMOTE_STOP_DISABLED)]);
        assert!(!t.stop_requested());
        let (mut t, sock) = relay(true, "127.0.0.1:9000");
        assert_eq!(ask(&mut t, sock, a(), b"exit server"), [], "no reply, as in the classic");
        assert!(t.stop_requested());
    }

    #[test]
    fn invalid_utf8_is_answered_not_fatal() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        assert_eq!(ask(&mut t, sock, a(), b"to:\xff/5;content:x"), [reply(sock, a(), NOT_UTF8)]);
    }

    #[test]
    fn one_trailing_newline_is_forgiven_for_nc_and_socat() {
        let (mut t, sock) = relay(false, "127.0.0.1:9000");
        assert_eq!(ask(&mut t, sock, a(), b"hii\n"), [reply(sock, a(), "('127.0.0.1', 40000)")]);
        assert_eq!(ask(&mut t, sock, a(), b"hii\r\n"), [reply(sock, a(), "('127.0.0.1', 40000)")]);
        assert_eq!(ask(&mut t, sock, a(), b"hii\n\n"), [reply(sock, a(), "400")]);
    }
}
