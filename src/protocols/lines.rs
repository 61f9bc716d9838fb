//! `\n`-terminated lines (`\r\n` accepted) with a length limit, for line protocols and for
//! clients that read stdin a line at a time.
//!
//! A line protocol over the reactor needs no buffer of its own: [`next_line`] looks at the
//! unconsumed input and says how much of it one line took, and the reactor keeps the rest.
//! stdin is different: its last line may have no newline, and nothing would be handed back
//! after EOF, so an interactive client keeps its input in a [`LineBuf`].

use std::fmt;

/// A line (or the start of one) longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    pub max: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line longer than {} bytes", self.max)
    }
}

impl std::error::Error for TooLong {}

/// The first complete line of `data` without its terminator, and the bytes it took
/// (terminator included). `Ok(None)` until the newline arrives; an error as soon as the
/// line is known to be longer than `max` bytes, so a peer cannot make us hold more.
pub fn next_line(data: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, TooLong> {
    let window = &data[..data.len().min(max.saturating_add(2))];
    match window.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = data[..end].strip_suffix(b"\r").unwrap_or(&data[..end]);
            if line.len() > max { Err(TooLong { max }) } else { Ok(Some((line, end + 1))) }
        }
        None if data.len() > max.saturating_add(1) => Err(TooLong { max }),
        // `max` bytes and a `\r` may still be followed by the `\n`.
        None if data.len() == max.saturating_add(1) && data.last() != Some(&b'\r') => Err(TooLong { max }),
        None => Ok(None),
    }
}

/// Input kept until it forms lines, for a source whose last line may lack a newline.
#[derive(Debug)]
pub struct LineBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as lines; compacted away now and then.
    start: usize,
    max: usize,
    ended: bool,
}

impl LineBuf {
    pub fn new(max: usize) -> Self {
        LineBuf { buf: Vec::new(), start: 0, max, ended: false }
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The input has ended: what is left becomes the last line, newline or not.
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next line, if a whole one is here (or the input ended with some bytes left).
    pub fn pop(&mut self) -> Result<Option<&[u8]>, TooLong> {
        let rest = &self.buf[self.start..];
        match next_line(rest, self.max)? {
            Some((line, used)) => {
                self.start += used;
                Ok(Some(line))
            }
            None if self.ended && !rest.is_empty() => {
                self.start = self.buf.len();
                let line = rest.strip_suffix(b"\r").unwrap_or(rest);
                Ok(Some(line))
            }
            None => Ok(None),
        }
    }

    /// A line is ready for [`LineBuf::pop`].
    pub fn has_line(&self) -> bool {
        let rest = &self.buf[self.start..];
        rest.contains(&b'\n') || (self.ended && !rest.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_in_lf_or_crlf() {
        assert_eq!(next_line(b"hii\nrest", 10), Ok(Some((&b"hii"[..], 4))));
        assert_eq!(next_line(b"hii\r\nrest", 10), Ok(Some((&b"hii"[..], 5))));
        assert_eq!(next_line(b"\n", 10), Ok(Some((&b""[..], 1))));
        assert_eq!(next_line(b"partial", 10), Ok(None));
    }

    #[test]
    fn the_limit_counts_the_line_not_its_terminator() {
        assert_eq!(next_line(b"12345\r\n", 5), Ok(Some((&b"12345"[..], 7))));
        assert_eq!(next_line(b"12345\r", 5), Ok(None), "the \\n may follow");
        assert_eq!(next_line(b"12345", 5), Ok(None));
        assert_eq!(next_line(b"123456", 5), Err(TooLong { max: 5 }));
        assert_eq!(next_line(b"123456\n", 5), Err(TooLong { max: 5 }));
        assert_eq!(next_line(b"12345\r\r\n", 5), Err(TooLong { max: 5 }));
    }

    #[test]
    fn a_line_buffer_hands_out_lines_across_pushes_and_the_last_one_at_the_end() {
        let mut b = LineBuf::new(100);
        b.push(b"one\ntw");
        assert_eq!(b.pop(), Ok(Some(&b"one"[..])));
        assert_eq!(b.pop(), Ok(None));
        assert!(!b.has_line());
        b.push(b"o\r\nthree");
        assert!(b.has_line());
        assert_eq!(b.pop(), Ok(Some(&b"two"[..])));
        assert_eq!(b.pop(), Ok(None));
        b.end();
        assert_eq!(b.pop(), Ok(Some(&b"three"[..])));
        assert_eq!(b.pop(), Ok(None));
        assert!(!b.has_line());
    }

    #[test]
    fn an_overlong_stdin_line_is_an_error() {
        let mut b = LineBuf::new(3);
        b.push(b"abcd");
        assert_eq!(b.pop(), Err(TooLong { max: 3 }));
    }
}
