//! What a load's lines say about who sent what: the names its clients register, and the
//! text of each message.
//!
//! A text is `#<sender>/<seq>` followed by filler up to `--size` bytes, so whoever receives
//! it can tell, with no lookup, whose message it is and where it falls in that sender's
//! sequence: enough to catch a lost, repeated or reordered delivery, and to time it against
//! the sender's record. The filler depends on the sequence number and the position, so a
//! text cut short, or spliced from two, does not pass. It is plain ASCII with no `:`, `;`
//! or surrounding space, so the chat and relay servers carry it through unchanged (the
//! relay trims spaces and splits on `:`), and the classic framed server can decode it.
//!
//! Names are `<tag><client>`, the tag unique to the process and the run, so two runs
//! against one server do not take each other's names.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first filler byte; the rest are letters.
const FILLER_START: u8 = b'.';

/// Appends the text of message `seq` of `sender`: `size` bytes, or the header alone if
/// that is longer.
pub(crate) fn write(sender: u32, seq: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "#{sender}/{seq}");
    let header = out.len() - start;
    if header < size {
        out.push(FILLER_START);
        out.extend(Letters::after(seq, header).take(size - header - 1));
    }
}

/// The letters of a filler: position `p` holds `a + (seq + p) % 26`, counted up rather
/// than divided out, since every byte of every delivery is checked against them.
struct Letters(u8);

impl Letters {
    /// From the position after the one at `header`.
    fn after(seq: u64, header: usize) -> Letters {
        Letters((seq.wrapping_add(header as u64 + 1) % 26) as u8)
    }
}

impl Iterator for Letters {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = b'a' + self.0;
        self.0 = if self.0 == 25 { 0 } else { self.0 + 1 };
        Some(b)
    }
}

/// Reads a text [`write`] made for `size`: the sender and sequence number, or `None` if any
/// byte is not what it must be.
pub(crate) fn parse(text: &[u8], size: usize) -> Option<(u32, u64)> {
    let rest = text.strip_prefix(b"#")?;
    let (sender, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"/")?;
    let (seq, rest) = number(rest)?;
    let header = text.len() - rest.len();
    if text.len() != size.max(header) {
        return None;
    }
    let filler_ok = match rest.split_first() {
        None => true,
        Some((&first, letters)) => {
            first == FILLER_START
                && letters.iter().zip(Letters::after(seq, header)).all(|(&b, want)| b == want)
        }
    };
    filler_ok.then_some((u32::try_from(sender).ok()?, seq))
}

/// A decimal number at the front of `s` (no sign, no leading zero but for 0 itself).
fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && s[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &s[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((n, &s[digits..]))
}

/// The names of one run's clients.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    tag: String,
}

impl Names {
    /// Names no other run of this process, and no other process, uses.
    pub(crate) fn unique() -> Names {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        Names::with_tag(format!("sl{}r{run}m", std::process::id()))
    }

    /// `tag` must end in a character that is not a digit.
    pub(crate) fn with_tag(tag: String) -> Names {
        Names { tag }
    }

    /// Appends client `client`'s name.
    pub(crate) fn write(&self, client: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag.as_bytes());
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{client}");
    }

    /// Whose name this is, if it is one of ours.
    pub(crate) fn client(&self, name: &[u8]) -> Option<u32> {
        match number(name.strip_prefix(self.tag.as_bytes())?)? {
            (client, []) => u32::try_from(client).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sender: u32, seq: u64, size: usize) -> Vec<u8> {
        let mut v = Vec::new();
        write(sender, seq, size, &mut v);
        v
    }

    #[test]
    fn a_text_says_whose_and_which_and_fills_the_size() {
        let t = text(12, 345, 20);
        assert_eq!(t.len(), 20);
        assert!(t.starts_with(b"#12/345."), "{}", String::from_utf8_lossy(&t));
        assert_eq!(parse(&t, 20), Some((12, 345)));
        assert_eq!(text(12, 345, 3), b"#12/345", "never shorter than its header");
        assert_eq!(parse(b"#12/345", 3), Some((12, 345)));
        assert_eq!(text(1, 2, 5), b"#1/2.");
        assert!(t.iter().all(|b| b.is_ascii_graphic() && !b":;".contains(b)));
    }

    #[test]
    fn any_wrong_byte_fails() {
        let t = text(7, 99, 40);
        for i in 0..t.len() {
            let mut bad = t.clone();
            bad[i] = if bad[i] == b'x' { b'y' } else { b'x' };
            assert_ne!(parse(&bad, 40), Some((7, 99)), "byte {i}");
        }
        assert_eq!(parse(&t[..39], 40), None, "cut short");
        assert_eq!(parse(&[&t[..], b"z"].concat(), 40), None, "too long");
        assert_eq!(parse(&text(7, 98, 40), 40), Some((7, 98)));
        let mut spliced = text(7, 98, 40);
        spliced[..6].copy_from_slice(&t[..6]);
        assert_eq!(parse(&spliced, 40), None, "another message's filler");
        for junk in [&b""[..], b"#", b"#/1", b"#1/", b"#01/2", b"#1/2x", b"1/2", b"#99999999999/1"] {
            assert_eq!(parse(junk, 0), None, "{}", String::from_utf8_lossy(junk));
        }
    }

    #[test]
    fn names_are_ours_or_not() {
        let names = Names::with_tag("t9m".into());
        let mut n = Vec::new();
        names.write(42, &mut n);
        assert_eq!(n, b"t9m42");
        assert_eq!(names.client(&n), Some(42));
        for other in [&b"t9m"[..], b"t9m4x", b"guest1", b"t9m042", b"T9m42"] {
            assert_eq!(names.client(other), None, "{}", String::from_utf8_lossy(other));
        }
        let (a, b) = (Names::unique(), Names::unique());
        assert_ne!(a.tag, b.tag, "two runs, two tags");
        assert!(a.tag.len() + 10 <= 32, "a name fits chat's 32 characters");
    }
}
