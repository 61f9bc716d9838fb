//! The bytes on the wire: our numbered probe, the server's reply to it, and how the server
//! reads a datagram the way the classic server does.
//!
//! A probe is `PING <seq> <nanos>;` padded with `.` to the size asked for, where `nanos`
//! is the send time in nanoseconds since the client started. Text, so `socat` users can
//! type one; `;` ends the header so padding can never be read as digits. The sockloop
//! server answers it with `Packet Acknowledged PING <seq> <nanos>;`, padded to the probe's
//! length, so both directions carry the probe's size, as an ICMP echo does. A plain UDP
//! echo server answers with the probe itself; the client accepts both.

use std::fmt;

const TAG: &[u8] = b"PING ";
/// Padding after the header; never a digit or `;`.
const PAD: u8 = b'.';
/// u64 in decimal.
const MAX_DIGITS: usize = 20;
/// The longest header: `PING ` + two u64 + a space + `;`.
pub const MAX_HEADER: usize = TAG.len() + 2 * MAX_DIGITS + 2;

/// What a numbered probe carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    /// Send time, nanoseconds since the client's start.
    pub sent_ns: u64,
}

impl Header {
    /// The probe: the header, padded to `size` (a header longer than `size` is sent whole).
    pub fn probe(self, size: usize) -> Vec<u8> {
        let mut out = format!("PING {} {};", self.seq, self.sent_ns).into_bytes();
        if out.len() < size {
            out.resize(size, PAD);
        }
        out
    }

    /// The sockloop server's reply to a probe of `len` bytes.
    pub fn reply(self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len.max(MAX_HEADER + super::ACK.len() + 1));
        self.write_reply(len, &mut out);
        out
    }

    /// [`Header::reply`] into `out` (cleared first), so a server can reuse one buffer.
    pub fn write_reply(self, len: usize, out: &mut Vec<u8>) {
        use std::io::Write;
        out.clear();
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{} PING {} {};", super::ACK, self.seq, self.sent_ns);
        if out.len() < len {
            out.resize(len, PAD);
        }
    }

    /// Reads the header at the start of `data`, if it is one of ours.
    pub fn parse(data: &[u8]) -> Option<Header> {
        let rest = data.strip_prefix(TAG)?;
        let (seq, rest) = number(rest)?;
        let rest = rest.strip_prefix(b" ")?;
        let (sent_ns, rest) = number(rest)?;
        rest.starts_with(b";").then_some(Header { seq, sent_ns })
    }

    /// Reads a reply: the sockloop server's (`Packet Acknowledged PING ...`) or a plain
    /// echo of the probe (`PING ...`). `None`: a reply without a sequence number.
    pub fn parse_reply(data: &[u8]) -> Option<Header> {
        let acked = data.strip_prefix(super::ACK.as_bytes()).and_then(|r| r.strip_prefix(b" "));
        Header::parse(acked.unwrap_or(data))
    }
}

/// A run of 1..=20 ASCII digits that fits in a u64, and what follows it.
fn number(data: &[u8]) -> Option<(u64, &[u8])> {
    let digits = data.iter().take(MAX_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_DIGITS {
        return None;
    }
    let text = std::str::from_utf8(&data[..digits]).ok()?;
    Some((text.parse().ok()?, &data[digits..]))
}

/// A datagram as the classic server reads it (after truncation to the receive size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `C <size>`: set this peer's receive size. `usize::MAX`: bigger than any datagram.
    Calibrate(usize),
    /// `exit`: stop the server (if allowed).
    Exit,
    /// Anything else; `Some` when it carries our header.
    Probe(Option<Header>),
}

/// Datagrams the classic server would crash on. They are counted and get no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The classic server decodes as UTF-8 and dies on anything else.
    NotUtf8,
    /// The classic server reads the first character; an empty datagram has none.
    Empty,
    /// Starts with `C` but the second word is missing, not a whole number, or zero
    /// (Python's `int(text.split()[1])` raises, or `recvfrom(0)` follows).
    BadCalibration,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::NotUtf8 => "not UTF-8",
            Malformed::Empty => "an empty datagram",
            Malformed::BadCalibration => "a `C` message without a positive size (expected `C <size>`)",
        })
    }
}

/// The classic server's checks, in its order: first character `C`, then exactly `exit`,
/// else a probe. One difference: `exit` followed by one `\n` or `\r\n` is `exit` too,
/// because `nc -u` and `socat` send lines; the classic server would acknowledge it.
pub fn classify(data: &[u8]) -> Result<Request, Malformed> {
    let text = std::str::from_utf8(data).map_err(|_| Malformed::NotUtf8)?;
    if text.is_empty() {
        return Err(Malformed::Empty);
    }
    if text.starts_with('C') {
        // Python's str.split() with no argument splits on any run of Unicode whitespace,
        // as split_whitespace does.
        let size = text.split_whitespace().nth(1).and_then(python_int).ok_or(Malformed::BadCalibration)?;
        return if size == 0 { Err(Malformed::BadCalibration) } else { Ok(Request::Calibrate(size)) };
    }
    let line = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if line == "exit" {
        return Ok(Request::Exit);
    }
    Ok(Request::Probe(Header::parse(data)))
}

/// A non-negative whole number as Python's `int()` reads one: an optional `+`, ASCII
/// digits with single `_` between them. Too big for usize means "bigger than any datagram".
fn python_int(word: &str) -> Option<usize> {
    let digits = word.strip_prefix('+').unwrap_or(word);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return None;
    }
    let mut n: usize = 0;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(usize::from(b - b'0'));
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_its_header_padded_to_the_size() {
        let h = Header { seq: 7, sent_ns: 123_456 };
        let p = h.probe(32);
        assert_eq!(p.len(), 32);
        assert_eq!(p, [&b"PING 7 123456;"[..], &[b'.'; 18]].concat());
        assert_eq!(Header::parse(&p), Some(h));
        assert_eq!(h.probe(4), b"PING 7 123456;", "too small a size: the header whole");
    }

    #[test]
    fn the_reply_carries_the_header_and_the_probe_length() {
        let h = Header { seq: 1, sent_ns: 99 };
        let r = h.reply(64);
        assert_eq!(r.len(), 64);
        assert!(r.starts_with(b"Packet Acknowledged PING 1 99;..."));
        assert_eq!(Header::parse_reply(&r), Some(h));
        assert_eq!(Header::parse_reply(&h.probe(64)), Some(h), "a plain echo is understood too");
        assert_eq!(Header::parse_reply(b"Packet Acknowledged"), None);
    }

    #[test]
    fn headers_that_are_not_quite_ours_are_not_ours() {
        for bad in [
            &b"PING 1 2"[..],
            b"PING 1;",
            b"PING  1 2;",
            b"PING 1 x;",
            b"ping 1 2;",
            b"PING 1 99999999999999999999999;",
            b"PING 18446744073709551616 1;",
            b"",
        ] {
            assert_eq!(Header::parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Header::parse(b"PING 18446744073709551615 0;").map(|h| h.seq), Some(u64::MAX));
    }

    #[test]
    fn classify_follows_the_classic_order() {
        assert_eq!(classify(b"C 1024"), Ok(Request::Calibrate(1024)));
        assert_eq!(classify(b"Calibrate  +2_048 extra"), Ok(Request::Calibrate(2048)), "first char C");
        assert_eq!(classify(b"C 99999999999999999999999999"), Ok(Request::Calibrate(usize::MAX)));
        assert_eq!(classify(b"exit"), Ok(Request::Exit));
        assert_eq!(classify(b"exit\n"), Ok(Request::Exit));
        assert_eq!(classify(b"exit\r\n"), Ok(Request::Exit));
        assert_eq!(classify(b"exit\n\n"), Ok(Request::Probe(None)));
        assert_eq!(classify(b"Exit"), Ok(Request::Probe(None)));
        assert_eq!(classify(b"Hello Server"), Ok(Request::Probe(None)));
        let h = Header { seq: 3, sent_ns: 4 };
        assert_eq!(classify(&h.probe(64)), Ok(Request::Probe(Some(h))));
    }

    #[test]
    fn malformed_is_what_the_classic_server_would_crash_on() {
        assert_eq!(classify(b"\xff\xfe"), Err(Malformed::NotUtf8));
        assert_eq!(classify(b""), Err(Malformed::Empty));
        for bad in ["C", "C abc", "C 0", "C -5", "C 1.5", "C1024", "C 1__0", "C _1"] {
            assert_eq!(classify(bad.as_bytes()), Err(Malformed::BadCalibration), "{bad:?}");
        }
    }
}
