//! The few Python semantics the classic lab programs lean on, reproduced exactly.
//!
//! The classic servers parse with `int()`, `str.strip()` and `str.lower()`, and answer with
//! `str(addr)` of a socket address. Their edge cases (Unicode digits and spaces, `+7`,
//! `1_000`, `-0`, how `inet_ntop` prints `::1.2.3.4`) decide which error code or reply a
//! classic client gets, so they are spelled out here rather than approximated with Rust's
//! own `trim` and `parse`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// `str.isspace()`: Unicode White_Space plus the ASCII separators `\x1c`..`\x1f`, which
/// Python counts as space and Rust does not.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `str.strip()` with no argument.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.lower() == lower`, without allocating; `lower` must already be lower case.
pub fn lower_eq(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// The zero of every run of ten Unicode decimal digits (category Nd), from Python 3.11's
/// `unicodedata` (Unicode 14). `int()` accepts any of them as digits.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50,
    0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40,
    0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30, 0x11066,
    0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950,
    0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6,
    0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

fn decimal(c: char) -> Option<u32> {
    let c = c as u32;
    let i = DIGIT_ZEROS.partition_point(|&zero| zero <= c).checked_sub(1)?;
    let d = c - DIGIT_ZEROS[i];
    (d < 10).then_some(d)
}

/// The space `int()` skips around a number: ASCII `isspace` (not `\x1c`..`\x1f`, which
/// `int()` refuses although `strip()` removes them) and any non-ASCII Unicode space.
fn int_space(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_whitespace() || c == '\x0b' } else { is_space(c) }
}

/// `int(s)` in base 10: surrounding space, one optional sign, digits with single
/// underscores between them, leading zeros allowed. `None` where Python raises
/// `ValueError`. The value saturates at `i128`'s range: callers only compare it with a
/// limit, and a 60-digit number is as out of range as one that fits.
pub fn int(s: &str) -> Option<i128> {
    let s = s.trim_matches(int_space);
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut value: i128 = 0;
    let mut last_was_digit = false;
    for c in digits.chars() {
        if c == '_' && last_was_digit {
            last_was_digit = false;
            continue;
        }
        let d = decimal(c)?;
        value = value.saturating_mul(10).saturating_add(i128::from(d));
        last_was_digit = true;
    }
    last_was_digit.then_some(if negative { -value } else { value })
}

/// What glibc's `inet_ntop` prints for an IPv6 address, which is what Python shows. It
/// differs from Rust's `Display` only for the deprecated IPv4-compatible form: the first
/// six words zero and the seventh not, printed `::1.2.3.4` rather than `::102:304`.
pub fn ipv6_text(ip: &Ipv6Addr) -> String {
    let s = ip.segments();
    if s[..6] == [0; 6] && s[6] != 0 {
        let [.., a, b, c, d] = ip.octets();
        format!("::{a}.{b}.{c}.{d}")
    } else {
        ip.to_string()
    }
}

/// The host part of a socket address as Python's socket module gives it.
pub fn host_text(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => ipv6_text(v6),
    }
}

/// `str(addr)` of an address from `recvfrom`/`accept`: `('127.0.0.1', 54321)` on an
/// AF_INET socket, `('::1', 54321, 0, 0)` (flow info and scope id) on an AF_INET6 one.
pub fn addr_repr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            format!("('{}', {}, {}, {})", ipv6_text(a.ip()), a.port(), a.flowinfo(), a.scope_id())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV6;

    #[test]
    fn int_accepts_what_python_accepts() {
        for (text, want) in [
            ("33", 33),
            ("  33  \t\n", 33),
            ("+7", 7),
            ("-5", -5),
            ("-0", 0),
            ("007", 7),
            ("1_000", 1000),
            ("\u{663}", 3),
            ("\u{ff15}\u{ff10}\u{ff10}\u{ff10}", 5000),
            ("\u{3000}12\u{a0}", 12),
        ] {
            assert_eq!(int(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn int_refuses_what_python_refuses() {
        for text in ["", " ", "+", "-", "1__0", "_1", "1_", "1 2", "+-1", "0x10", "1.0", "\x1c5", "3\0", "٣a"]
        {
            assert_eq!(int(text), None, "{text:?}");
        }
    }

    #[test]
    fn int_saturates_instead_of_overflowing() {
        assert_eq!(int(&"9".repeat(64)), Some(i128::MAX));
        assert_eq!(int(&format!("-{}", "9".repeat(64))), Some(-i128::MAX));
    }

    #[test]
    fn strip_and_lower_match_python() {
        assert_eq!(strip("\x1c to \u{3000}"), "to");
        assert_eq!(strip("\u{200b}to"), "\u{200b}to", "a zero-width space is not space");
        assert!(lower_eq("HiI", "hii"));
        assert!(!lower_eq("H\u{130}I", "hii"), "İ lowers to two characters");
        assert!(!lower_eq("hiii", "hii"));
    }

    #[test]
    fn addresses_print_like_python_tuples() {
        assert_eq!(addr_repr(&"127.0.0.1:54321".parse().unwrap()), "('127.0.0.1', 54321)");
        assert_eq!(addr_repr(&"[::1]:54321".parse().unwrap()), "('::1', 54321, 0, 0)");
        let scoped = SocketAddrV6::new("fe80::1".parse().unwrap(), 5000, 0, 2);
        assert_eq!(addr_repr(&scoped.into()), "('fe80::1', 5000, 0, 2)");
        // What `socket.inet_ntop(AF_INET6, ...)` prints for each (checked with Python 3.11).
        for (ip, want) in [
            ("::2", "::2"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::0.1.0.0", "::0.1.0.0"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
            ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
            ("0:0:0:0:0:1:0:0", "::1:0:0"),
            ("::", "::"),
        ] {
            assert_eq!(ipv6_text(&ip.parse().unwrap()), want, "{ip}");
        }
    }
}
