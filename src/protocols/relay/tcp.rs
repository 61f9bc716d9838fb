//! The relay over TCP: one request per line (`\n`, or `\r\n`), one reply line per request,
//! and forwarded messages written as lines to the recipient's connection.
//!
//! A recipient is a connected peer, by its address (`to:127.0.0.1/40000;content:hi`, as
//! `hii` reports it) or by a name it registered (`name:alice`, then `to:alice;content:hi`).
//! A recipient that is not connected is answered 405, never dropped silently. IPv4 peers
//! of a dual-stack listener show up as `::ffff:a.b.c.d`; either spelling reaches them.
//!
//! A request cut off by the peer's FIN, with no newline, is still a request: it is
//! answered (the peer may still read) before the connection closes.
//!
//! Lines longer than the limit are refused with 408 and the connection is closed: the
//! reactor holds a partial line, so the limit is what bounds a peer's memory. A member
//! whose output backs up (it does not read what is sent to it) is disconnected, so that
//! others' messages cannot grow its queue without bound.

use super::parse::{Dialect, Request, Target, parse};
use super::{
    BAD_NAME, LINE_TOO_LONG, NAME_TAKEN, NAMED, NOT_UTF8, REMOTE_STOP_DISABLED, SENT_TCP, UNREACHABLE,
    forwarded,
};
use crate::protocols::lines::{last_line, next_line};
use crate::protocols::python;
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler};
use log::{debug, info, warn};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The default longest line, terminator not counted.
pub const DEFAULT_MAX_LINE: usize = 4096;
/// The longest name.
pub const MAX_NAME: usize = 64;

#[derive(Clone, Debug)]
pub struct TcpRelay {
    allow_remote_stop: bool,
    max_line: usize,
    /// Connected peers by address, IPv4-mapped addresses folded to IPv4.
    by_addr: HashMap<SocketAddr, ConnId>,
    /// Named peers, with their address for the log.
    by_name: HashMap<String, (ConnId, SocketAddr)>,
}

impl Default for TcpRelay {
    fn default() -> Self {
        TcpRelay::new(false, DEFAULT_MAX_LINE)
    }
}

/// One connected peer.
#[derive(Debug)]
pub struct Member {
    /// As accepted (the form `hii` reports and forwarded lines carry).
    peer: SocketAddr,
    name: Option<String>,
    /// A line was refused as too long, or the server is stopping: nothing more is read.
    done: bool,
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// A name must not be mistaken for an address or break the request syntax.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.chars().any(|c| python::is_space(c) || c.is_control() || ":;/[]".contains(c))
}

impl TcpRelay {
    pub fn new(allow_remote_stop: bool, max_line: usize) -> Self {
        TcpRelay { allow_remote_stop, max_line, by_addr: HashMap::new(), by_name: HashMap::new() }
    }

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Answers one request line.
    fn line(&mut self, member: &mut Member, ctx: &mut Context<'_>, line: &[u8]) {
        let peer = member.peer;
        let Ok(m) = std::str::from_utf8(line) else {
            warn!("{peer}: a line of {} bytes that is not UTF-8", line.len());
            return reply(ctx, NOT_UTF8);
        };
        match parse(m, Dialect::Named) {
            Ok(Request::Hii) => reply(ctx, &python::addr_repr(&peer)),
            Ok(Request::ExitServer) if self.allow_remote_stop => {
                info!("{peer}: exit server: stopping");
                member.done = true;
                ctx.stop();
            }
            Ok(Request::ExitServer) => {
                warn!("{peer}: exit server refused (start with --allow-remote-stop to allow it)");
                reply(ctx, REMOTE_STOP_DISABLED);
            }
            Ok(Request::Name(name)) => self.register(member, ctx, name),
            Ok(Request::Send { to, msg }) => {
                let found = match to {
                    Target::Addr(addr) => self.by_addr.get(&canonical(addr)).map(|&id| (id, addr)),
                    Target::Name(name) => self.by_name.get(name).copied(),
                    Target::Unreachable => None,
                };
                match found {
                    Some((to, to_peer)) => {
                        debug!("{peer} -> {to_peer}: {msg:?}");
                        let mut line = forwarded(&peer, msg);
                        line.push('\n');
                        ctx.write_to(to, line.as_bytes());
                        reply(ctx, SENT_TCP);
                    }
                    None => {
                        info!("{peer}: {m:?}: no such recipient");
                        reply(ctx, UNREACHABLE);
                    }
                }
            }
            Err(refusal) => {
                info!("{peer}: {m:?}: {}", refusal.reply());
                reply(ctx, refusal.reply());
            }
        }
    }

    fn register(&mut self, member: &mut Member, ctx: &mut Context<'_>, name: &str) {
        let Some(me) = ctx.id() else { return };
        if !valid_name(name) {
            return reply(ctx, BAD_NAME);
        }
        match self.by_name.get(name) {
            Some(&(owner, _)) if owner != me => return reply(ctx, NAME_TAKEN),
            _ => {}
        }
        if let Some(old) = member.name.take() {
            self.by_name.remove(&old);
        }
        info!("{}: is now {name:?}", member.peer);
        self.by_name.insert(name.to_string(), (me, member.peer));
        member.name = Some(name.to_string());
        reply(ctx, NAMED);
    }
}

fn reply(ctx: &mut Context<'_>, text: &str) {
    ctx.write(text.as_bytes());
    ctx.write(b"\n");
}

impl Handler for TcpRelay {
    type Conn = Member;

    fn connected(&mut self, _ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Member {
        self.by_addr.insert(canonical(info.peer), id);
        Member { peer: info.peer, name: None, done: false }
    }

    fn data(&mut self, member: &mut Member, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let mut used = 0;
        while !member.done {
            match next_line(&data[used..], self.max_line) {
                Ok(Some((line, n))) => {
                    used += n;
                    self.line(member, ctx, line);
                }
                Ok(None) => return used,
                Err(e) => {
                    warn!("{}: {e}; closing the connection", member.peer);
                    reply(ctx, LINE_TOO_LONG);
                    ctx.close();
                    member.done = true;
                }
            }
        }
        data.len()
    }

    /// The last request may lack its newline (`printf 'hii' | nc -N`): answered like the
    /// others, then the connection closes once the replies are out.
    fn eof(&mut self, member: &mut Member, ctx: &mut Context<'_>, rest: &[u8]) {
        if !member.done {
            match last_line(rest, self.max_line) {
                Ok(Some(line)) => self.line(member, ctx, line),
                Ok(None) => {}
                // Cannot happen: `data` refuses a line as soon as it is too long.
                Err(e) => {
                    warn!("{}: {e}", member.peer);
                    reply(ctx, LINE_TOO_LONG);
                }
            }
        }
        ctx.close();
    }

    /// Its output backed up: it does not read what others send it. Dropping what is queued
    /// and the member is the only way to keep that queue bounded.
    fn backlogged(&mut self, member: &mut Member, ctx: &mut Context<'_>, queued: usize) {
        warn!("{}: {queued} bytes queued and not read; disconnecting it", member.peer);
        member.done = true;
        ctx.abort();
    }

    fn closed(&mut self, member: Member, _ctx: &mut Context<'_>, id: ConnId, _reason: CloseReason) {
        let key = canonical(member.peer);
        if self.by_addr.get(&key) == Some(&id) {
            self.by_addr.remove(&key);
        }
        if let Some(name) = member.name {
            self.by_name.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTransport;

    fn relay() -> TestTransport<TcpRelay> {
        TestTransport::new(TcpRelay::new(false, 64))
    }

    fn said(t: &mut TestTransport<TcpRelay>, c: ConnId, line: &str) -> String {
        t.feed(c, line.as_bytes());
        String::from_utf8_lossy(&t.take_output(c)).into_owned()
    }

    #[test]
    fn hii_by_address_and_by_name() {
        let mut t = relay();
        let a = t.accept_from("127.0.0.1:40000".parse().unwrap());
        let b = t.accept_from("127.0.0.1:40001".parse().unwrap());
        assert_eq!(said(&mut t, a, "hii\r\n"), "('127.0.0.1', 40000)\n");
        assert_eq!(
            said(&mut t, b, "to:127.0.0.1/40000;content:hi there\n"),
            "200, Message Sent Successfully\n"
        );
        assert_eq!(t.take_output(a), b"127.0.0.1/40001 ; content : hi there\n");
        assert_eq!(said(&mut t, a, "name:alice\n"), "200, Name registered\n");
        assert_eq!(said(&mut t, b, "to:alice;content:\n"), "200, Message Sent Successfully\n");
        assert_eq!(t.take_output(a), b"127.0.0.1/40001 ; content : \n", "an empty message");
    }

    #[test]
    fn an_absent_recipient_is_405_never_a_silent_drop() {
        let mut t = relay();
        let a = t.accept();
        let gone = t.accept_from("127.0.0.1:40500".parse().unwrap());
        assert_eq!(said(&mut t, gone, "name:bob\n"), "200, Name registered\n");
        t.eof(gone);
        for m in ["to:bob;content:x\n", "to:127.0.0.1/40500;content:x\n", "to:127.0.0.1/70000;content:x\n"] {
            assert_eq!(said(&mut t, a, m), format!("{UNREACHABLE}\n"), "{m}");
        }
    }

    #[test]
    fn classic_codes_and_our_own_each_end_in_a_newline() {
        let mut t = relay();
        let a = t.accept();
        for (m, want) in [
            ("hello", "400"),
            ("to:1.2.3.4:5;content:x", "401"),
            ("from:1.2.3.4/5;content:x", "402"),
            ("to:1.2.3.4/x;content:x", "403"),
            ("to:1.2.3.4/5;body:x", "404"),
            ("exit server", REMOTE_STOP_DISABLED),
            ("name:", BAD_NAME),
            ("name:a b", BAD_NAME),
            ("name:1.2.3.4/5", BAD_NAME),
        ] {
            assert_eq!(said(&mut t, a, &format!("{m}\n")), format!("{want}\n"), "{m}");
        }
        assert_eq!(said(&mut t, a, "to:\u{0}\u{ff}\n").len(), 4, "control characters are just text");
        t.feed(a, b"\xff\n");
        assert_eq!(t.take_output(a), format!("{NOT_UTF8}\n").as_bytes());
        assert!(!t.stop_requested());
        assert_eq!(t.closed(a), None);
    }

    #[test]
    fn a_name_belongs_to_one_member_until_it_leaves() {
        let mut t = relay();
        let (a, b) = (t.accept(), t.accept());
        assert_eq!(said(&mut t, a, "name:alice\n"), "200, Name registered\n");
        assert_eq!(said(&mut t, a, "name:alice\n"), "200, Name registered\n", "again is fine");
        assert_eq!(said(&mut t, b, "name:alice\n"), format!("{NAME_TAKEN}\n"));
        assert_eq!(said(&mut t, a, "name:carol\n"), "200, Name registered\n");
        assert_eq!(said(&mut t, b, "name:alice\n"), "200, Name registered\n", "the old name was freed");
        t.eof(b);
        assert_eq!(said(&mut t, a, "name:alice\n"), "200, Name registered\n");
    }

    #[test]
    fn requests_split_or_glued_are_each_answered() {
        let mut t = relay();
        let a = t.accept();
        for piece in ["hi", "i\nhi", "i\nHII\r", "\n"] {
            t.feed(a, piece.as_bytes());
        }
        assert_eq!(t.take_output(a), "('127.0.0.1', 40001)\n".repeat(3).as_bytes());
    }

    #[test]
    fn a_last_request_without_newline_before_eof_is_answered_then_closed() {
        let mut t = relay();
        let a = t.accept_from("127.0.0.1:40000".parse().unwrap());
        let b = t.accept_from("127.0.0.1:40001".parse().unwrap());
        t.feed(b, b"hii\nto:127.0.0.1/40000;con");
        t.feed(b, b"tent:bye\r");
        assert_eq!(t.take_output(b), b"('127.0.0.1', 40001)\n");
        t.eof(b);
        assert_eq!(t.take_output(b), b"200, Message Sent Successfully\n");
        assert_eq!(t.take_output(a), b"127.0.0.1/40001 ; content : bye\n");
        assert_eq!(t.closed(b), Some(CloseReason::PeerClosed));
        t.eof(a);
        assert_eq!(t.take_output(a), b"", "nothing left over, nothing answered");
        assert_eq!(t.closed(a), Some(CloseReason::PeerClosed));
    }

    #[test]
    fn an_overlong_line_is_refused_and_the_connection_closed() {
        let mut t = relay();
        let (a, b) = (t.accept(), t.accept());
        t.feed(a, &[b'x'; 65]);
        assert_eq!(t.take_output(a), format!("{LINE_TOO_LONG}\n").as_bytes());
        assert_eq!(t.closed(a), Some(CloseReason::Local));
        assert_eq!(said(&mut t, b, "hii\n"), "('127.0.0.1', 40002)\n", "the others carry on");
    }

    #[test]
    fn exit_server_stops_only_when_allowed() {
        let mut t = TestTransport::new(TcpRelay::new(true, 64));
        let a = t.accept();
        assert_eq!(said(&mut t, a, "exit server\nhii\n"), "", "no reply, and nothing read after it");
        assert!(t.stop_requested());
    }

    #[test]
    fn ipv4_peers_of_a_dual_stack_listener_are_reachable_by_either_spelling() {
        let mut t = relay();
        let a = t.accept_from("[::ffff:127.0.0.1]:40000".parse().unwrap());
        let b = t.accept_from("[::1]:40001".parse().unwrap());
        assert_eq!(said(&mut t, a, "hii\n"), "('::ffff:127.0.0.1', 40000, 0, 0)\n");
        assert_eq!(said(&mut t, b, "to:127.0.0.1/40000;content:x\n"), "200, Message Sent Successfully\n");
        assert_eq!(
            said(&mut t, b, "to:[::ffff:127.0.0.1]/40000;content:y\n"),
            "200, Message Sent Successfully\n"
        );
        assert_eq!(t.take_output(a), b"::1/40001 ; content : x\n::1/40001 ; content : y\n");
    }
}
