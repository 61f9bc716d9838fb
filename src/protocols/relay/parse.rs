//! The relay's request parser: the classic server's checks, in the classic order.
//!
//! The order decides the answer to a bad request (a bad port is 403 even when the content
//! label is wrong too, and an unreachable address is 405 only once everything else is
//! right), so this follows the classic table row by row; see PROTOCOLS.md, "relay".
//!
//! Three places where the classic program crashes, resolves names or cannot go, and what
//! we do instead:
//! - a `/` in the label (`to/x:1;content:m`) crashes its tuple unpacking: we answer 401;
//! - a host name is resolved with blocking DNS: we accept IP literals only (405 otherwise);
//! - an IPv6 target cannot be written (its `:` make 401): we accept `to:[::1]/PORT`, the
//!   one extension, which only changes the answer for a target written in brackets.

use crate::protocols::python::{self, lower_eq};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `hii` in any case: "tell me my address".
    Hii,
    /// Exactly `exit server`.
    ExitServer,
    /// `name:NAME` (TCP only): register a name others can send to.
    Name(&'a str),
    /// `to:TARGET;content:MSG`.
    Send { to: Target<'a>, msg: &'a str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Addr(SocketAddr),
    /// A registered name (TCP only).
    Name(&'a str),
    /// An integer port outside 1..=65535, or an address that is not an IP literal: the
    /// classic send raises, so the answer is 405.
    Unreachable,
}

/// The classic error codes, in the order they are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: no `;`.
    NoSemicolon,
    /// 401: not one `:` and one `/` in the header, or not one `:` after the `;`.
    Format,
    /// 402: the label is not `to`.
    Label,
    /// 403: the port is not an integer.
    Port,
    /// 404: the content label is not `content`.
    Content,
}

/// Which requests are understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The classic UDP relay.
    Classic,
    /// Over TCP: also `name:NAME`, and `to:NAME` without a port.
    Named,
}

/// Parses one message (a datagram, or a TCP line without its terminator).
pub fn parse(m: &str, dialect: Dialect) -> Result<Request<'_>, Refusal> {
    if lower_eq(m, "hii") {
        return Ok(Request::Hii);
    }
    if m == "exit server" {
        return Ok(Request::ExitServer);
    }
    if dialect == Dialect::Named
        && !m.contains(';')
        && let Some((label, name)) = m.split_once(':')
        && lower_eq(python::strip(label), "name")
    {
        return Ok(Request::Name(python::strip(name)));
    }
    let (header, data) = m.split_once(';').ok_or(Refusal::NoSemicolon)?;
    let (label, target) = split_header(header)?;
    let slashes = target.matches('/').count();
    let by_name = dialect == Dialect::Named && slashes == 0;
    if !(slashes == 1 || by_name) || data.matches(':').count() != 1 {
        return Err(Refusal::Format);
    }
    if !lower_eq(python::strip(label), "to") {
        return Err(Refusal::Label);
    }
    let to = if by_name {
        Target::Name(python::strip(target))
    } else {
        let (ip, port) = target.split_once('/').ok_or(Refusal::Format)?;
        let port = python::int(python::strip(port)).ok_or(Refusal::Port)?;
        address(python::strip(ip), port)
    };
    let (content, msg) = data.split_once(':').ok_or(Refusal::Format)?;
    if !lower_eq(python::strip(content), "content") {
        return Err(Refusal::Content);
    }
    Ok(Request::Send { to, msg: python::strip(msg) })
}

/// `label:target`, where the header holds exactly one `:` and one `/` overall (401
/// otherwise), except for the colons of a bracketed IPv6 target. A `/` in the label is
/// a format error too (the classic program crashes on it).
fn split_header(header: &str) -> Result<(&str, &str), Refusal> {
    let (label, target) = header.split_once(':').ok_or(Refusal::Format)?;
    let outside = match bracketed(target) {
        Some(end) => &target[end..],
        None => target,
    };
    if outside.contains(':') || label.contains('/') || header.matches('/').count() > 1 {
        return Err(Refusal::Format);
    }
    Ok((label, target))
}

/// Where the `[...]` group that opens `target` (after spaces) ends, if it does.
fn bracketed(target: &str) -> Option<usize> {
    let start = target.len() - target.trim_start_matches(python::is_space).len();
    if !target[start..].starts_with('[') {
        return None;
    }
    target[start..].find(']').map(|close| start + close + 1)
}

/// The address a send would go to, or [`Target::Unreachable`] where the classic `sendto`
/// raises: a port outside 1..=65535 (0 too) or a host that is not an IP literal. Names are
/// never resolved here: DNS would block the loop.
fn address(ip: &str, port: i128) -> Target<'static> {
    let Ok(port @ 1..) = u16::try_from(port) else { return Target::Unreachable };
    let ip = match ip.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().map(IpAddr::V6),
        None => ip.parse::<Ipv4Addr>().map(IpAddr::V4),
    };
    match ip {
        Ok(ip) => Target::Addr(SocketAddr::new(ip, port)),
        Err(_) => Target::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Classic, Named};

    fn send(m: &str) -> Result<Request<'_>, Refusal> {
        parse(m, Classic)
    }

    fn to(addr: &str, msg: &'static str) -> Result<Request<'static>, Refusal> {
        Ok(Request::Send { to: Target::Addr(addr.parse().unwrap()), msg })
    }

    #[test]
    fn hii_in_any_case_and_exit_server_exactly() {
        for m in ["hii", "HII", "hIi"] {
            assert_eq!(send(m), Ok(Request::Hii), "{m}");
        }
        assert_eq!(send("exit server"), Ok(Request::ExitServer));
        assert_eq!(send("Exit server"), Err(Refusal::NoSemicolon));
        assert_eq!(send(" hii"), Err(Refusal::NoSemicolon));
    }

    #[test]
    fn a_classic_send() {
        assert_eq!(send("to:127.0.0.1/40000;content:hi there"), to("127.0.0.1:40000", "hi there"));
        assert_eq!(send(" TO : 127.0.0.1 / 40000 ; Content :  spaced  "), to("127.0.0.1:40000", "spaced"));
        assert_eq!(send("to:127.0.0.1/40000;content:"), to("127.0.0.1:40000", ""));
        assert_eq!(send("to:127.0.0.1/+4_0000;content:x;y"), to("127.0.0.1:40000", "x;y"));
    }

    #[test]
    fn every_classic_error_code_in_table_order() {
        for (m, want) in [
            ("hello", Refusal::NoSemicolon),
            ("to:1.2.3.4/5", Refusal::NoSemicolon),
            ("to1.2.3.4/5;content:x", Refusal::Format),
            ("to:1.2.3.4:5;content:x", Refusal::Format),
            ("to:1.2.3.4/5/6;content:x", Refusal::Format),
            ("to:1.2.3.4;content:x", Refusal::Format),
            ("to:1.2.3.4/5;content x", Refusal::Format),
            ("to:1.2.3.4/5;content:a:b", Refusal::Format),
            ("to/x:1;content:m", Refusal::Format),
            ("from:1.2.3.4/5;content:x", Refusal::Label),
            ("from:1.2.3.4/port;content:x", Refusal::Label),
            ("to:1.2.3.4/port;content:x", Refusal::Port),
            ("to:1.2.3.4/;content:x", Refusal::Port),
            ("to:1.2.3.4/5.0;content:x", Refusal::Port),
            ("to:1.2.3.4/port;body:x", Refusal::Port),
            ("to:1.2.3.4/5;body:x", Refusal::Content),
            ("to:nowhere/70000;body:x", Refusal::Content),
        ] {
            assert_eq!(send(m), Err(want), "{m}");
        }
    }

    #[test]
    fn an_integer_port_out_of_range_is_405_not_403() {
        for m in [
            "to:127.0.0.1/70000;content:x",
            "to:127.0.0.1/0;content:x",
            "to:127.0.0.1/-1;content:x",
            "to:127.0.0.1/99999999999999999999999999999999999999999;content:x",
            "to:localhost/5000;content:x",
            "to:/5000;content:x",
            "to:127.0.0.01/5000;content:x",
            "to:[127.0.0.1]/5000;content:x",
        ] {
            assert_eq!(send(m), Ok(Request::Send { to: Target::Unreachable, msg: "x" }), "{m}");
        }
    }

    #[test]
    fn ipv6_targets_are_written_in_brackets() {
        assert_eq!(send("to:[::1]/5000;content:x"), to("[::1]:5000", "x"));
        assert_eq!(send("to: [::ffff:1.2.3.4] /5000;content:x"), to("[::ffff:1.2.3.4]:5000", "x"));
        assert_eq!(send("to:::1/5000;content:x"), Err(Refusal::Format), "classic: too many colons");
        assert_eq!(send("to:1.2.3.4/5[x:y];content:x"), Err(Refusal::Format), "brackets only open a target");
    }

    #[test]
    fn names_only_over_tcp() {
        assert_eq!(parse("name:alice", Named), Ok(Request::Name("alice")));
        assert_eq!(parse(" Name : bob ", Named), Ok(Request::Name("bob")));
        assert_eq!(parse("name:alice", Classic), Err(Refusal::NoSemicolon));
        let by_name = Ok(Request::Send { to: Target::Name("alice"), msg: "hi" });
        assert_eq!(parse("to:alice;content:hi", Named), by_name);
        assert_eq!(parse("to:alice;content:hi", Classic), Err(Refusal::Format));
        assert_eq!(parse("to:127.0.0.1/5;content:hi", Named), to("127.0.0.1:5", "hi"));
        assert_eq!(parse("to:alice/x;content:hi", Named), Err(Refusal::Port));
        assert_eq!(parse("hii", Named), Ok(Request::Hii));
    }
}
