//! Splitting a byte stream into `\n`-terminated lines (one `\r` before the `\n` is dropped
//! too, so `nc -C` and telnet work), with a hard limit on a line's length: the one line
//! splitter of every line protocol and of every client that reads stdin a line at a time.
//!
//! The limit counts the bytes before the terminator, and a line is refused as soon as it is
//! known to be too long, so a peer can never make us hold more than `max + 1` bytes of it.
//! Three ways in, for three kinds of input:
//!
//! - [`Lines`], for a connection that goes on after a bad line (a chat member): it consumes
//!   only whole lines and leaves a partial one for the reactor to hold (see
//!   [`crate::Handler::data`]), so a member who is typing owns no buffer of ours. An
//!   over-long line is reported once and then skipped *as its bytes arrive*. At the end of
//!   input the reactor hands the partial line to [`crate::Handler::eof`], and
//!   [`Lines::finish`] makes it the last line.
//! - [`next_line`], for a protocol that closes the connection on a bad line (file, the TCP
//!   relay): the same splitting, with no state to carry, and an error for the long line;
//!   [`last_line`] is its end-of-input counterpart.
//! - [`LineBuf`], for stdin in the interactive clients: the session shell takes every byte
//!   stdin gives (see [`crate::protocols::session::Client::input`]), so the whole lines a
//!   client cannot send yet and the partial one are kept here, and its last line may have
//!   no `\n`. There is one stdin, so one small buffer costs nothing.

use std::fmt;

/// One thing found at the front of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, without its terminator.
    Text(&'a [u8]),
    /// A line longer than the limit; its bytes are (or will be) skipped.
    TooLong,
}

/// The splitting state of one stream. It is small and holds no buffer, so every member
/// carries one.
#[derive(Clone, Debug)]
pub struct Lines {
    max: usize,
    /// How many bytes at the front of the held partial line are known to hold no `\n`,
    /// so a line arriving a byte at a time is scanned once, not once per byte.
    scanned: usize,
    /// Inside an over-long line (already reported): skip up to and including its `\n`.
    skipping: bool,
}

impl Lines {
    /// Lines longer than `max` bytes are refused.
    pub fn new(max: usize) -> Lines {
        Lines { max, scanned: 0, skipping: false }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Looks at the front of `buf`: returns the next line (if a whole one is there, or one
    /// that is already too long) and how many bytes of `buf` are used up, the line's and
    /// any skipped ones. `None` means the rest of `buf` is the start of a line: consume
    /// `used` bytes, hold the rest, and call again with the rest followed by newer bytes.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> (Option<Line<'a>>, usize) {
        let mut skipped = 0;
        if self.skipping {
            match find_newline(buf) {
                Some(at) => {
                    self.skipping = false;
                    skipped = at + 1;
                }
                None => return (None, buf.len()),
            }
        }
        let rest = &buf[skipped..];
        let from = self.scanned.min(rest.len());
        match find_newline(&rest[from..]) {
            Some(at) => {
                self.scanned = 0;
                let end = from + at;
                (Some(self.judge(&rest[..end])), skipped + end + 1)
            }
            // Longer than `max` already, and not `max` bytes and a `\r` whose `\n` may follow.
            None if self.judge(rest) == Line::TooLong => {
                self.scanned = 0;
                self.skipping = true;
                (Some(Line::TooLong), buf.len())
            }
            None => {
                self.scanned = rest.len();
                (None, skipped)
            }
        }
    }

    /// The stream ended with `rest` unterminated (a file without a final newline): the
    /// last line, if there is one.
    pub fn finish<'a>(&mut self, rest: &'a [u8]) -> Option<Line<'a>> {
        let skipping = std::mem::replace(&mut self.skipping, false);
        self.scanned = 0;
        if skipping || rest.is_empty() { None } else { Some(self.judge(rest)) }
    }

    fn judge<'a>(&self, line: &'a [u8]) -> Line<'a> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.max { Line::TooLong } else { Line::Text(line) }
    }
}

fn find_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

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
    match Lines::new(max).next(data) {
        (Some(Line::Text(line)), used) => Ok(Some((line, used))),
        (Some(Line::TooLong), _) => Err(TooLong { max }),
        (None, _) => Ok(None),
    }
}

/// What the input left unterminated when it ended (`rest`, from [`crate::Handler::eof`]),
/// taken as a last line, as most line-oriented servers take it: `Ok(None)` if nothing was
/// left, an error if what was left is longer than `max` bytes.
pub fn last_line(rest: &[u8], max: usize) -> Result<Option<&[u8]>, TooLong> {
    match Lines::new(max).finish(rest) {
        Some(Line::Text(line)) => Ok(Some(line)),
        Some(Line::TooLong) => Err(TooLong { max }),
        None => Ok(None),
    }
}

/// Input kept until it forms lines, for a source whose last line may lack a newline.
#[derive(Debug)]
pub struct LineBuf {
    lines: Lines,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as lines; compacted away now and then.
    start: usize,
    ended: bool,
}

impl LineBuf {
    pub fn new(max: usize) -> Self {
        LineBuf { lines: Lines::new(max), buf: Vec::new(), start: 0, ended: false }
    }

    pub fn max(&self) -> usize {
        self.lines.max()
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

    /// The next line, if a whole one is here (or the input ended with some bytes left). An
    /// over-long line comes out once as [`Line::TooLong`]; the lines after it follow.
    pub fn pop(&mut self) -> Option<Line<'_>> {
        let (line, used) = self.lines.next(&self.buf[self.start..]);
        self.start += used;
        if line.is_some() || !self.ended {
            return line;
        }
        let rest = &self.buf[self.start..];
        self.start = self.buf.len();
        self.lines.finish(rest)
    }

    /// A line is ready for [`LineBuf::pop`].
    pub fn has_line(&self) -> bool {
        let rest = &self.buf[self.start..];
        let mut lines = self.lines.clone();
        match lines.next(rest) {
            (Some(_), _) => true,
            (None, used) => self.ended && lines.finish(&rest[used..]).is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Text(Vec<u8>),
        TooLong,
    }

    fn seen(line: Line<'_>) -> Seen {
        match line {
            Line::Text(t) => Seen::Text(t.to_vec()),
            Line::TooLong => Seen::TooLong,
        }
    }

    /// Feeds `chunks` as the reactor would: what is not consumed is held and handed back in
    /// front of the next chunk. Returns the lines and the most bytes ever held.
    fn split(max: usize, chunks: &[&[u8]]) -> (Vec<Seen>, usize) {
        split_holding(&mut Lines::new(max), &mut Vec::new(), chunks)
    }

    /// [`split`], leaving the splitter and what it holds at the end to the caller.
    fn split_holding(lines: &mut Lines, held: &mut Vec<u8>, chunks: &[&[u8]]) -> (Vec<Seen>, usize) {
        let (mut out, mut peak) = (Vec::new(), 0);
        for chunk in chunks {
            held.extend_from_slice(chunk);
            let mut pos = 0;
            loop {
                let (line, used) = lines.next(&held[pos..]);
                pos += used;
                match line {
                    Some(line) => out.push(seen(line)),
                    None => break,
                }
            }
            held.drain(..pos);
            peak = peak.max(held.len());
        }
        (out, peak)
    }

    /// The obvious answer, from the whole input at once. An unterminated tail counts only
    /// once it is known to be too long, whatever comes next.
    fn model(max: usize, input: &[u8]) -> Vec<Seen> {
        let judge = |l: &[u8]| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.len() > max { Seen::TooLong } else { Seen::Text(l.to_vec()) }
        };
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let last = parts.pop().unwrap_or_default();
        let mut out: Vec<Seen> = parts.into_iter().map(judge).collect();
        if judge(last) == Seen::TooLong {
            out.push(Seen::TooLong);
        }
        out
    }

    #[test]
    fn lines_end_at_newline_and_lose_one_carriage_return() {
        let (got, _) = split(10, &[b"hi\nthere\r\n\n\r\r\nrest"]);
        assert_eq!(
            got,
            [
                Seen::Text(b"hi".to_vec()),
                Seen::Text(b"there".to_vec()),
                Seen::Text(vec![]),
                Seen::Text(b"\r".to_vec())
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_max_bytes_passes_even_with_crlf_split_anywhere() {
        for chunks in [&[&b"12345\r\n"[..]][..], &[b"12345", b"\r", b"\n"], &[b"12345\r", b"\n"]] {
            assert_eq!(split(5, chunks).0, [Seen::Text(b"12345".to_vec())], "{chunks:?}");
        }
        assert_eq!(split(5, &[b"123456", b"\n"]).0, [Seen::TooLong]);
    }

    #[test]
    fn an_over_long_line_is_reported_once_and_skipped_as_it_arrives() {
        let mut chunks: Vec<&[u8]> = vec![b"ok\n"];
        chunks.extend(std::iter::repeat_n(&b"xxxxxxxxxx"[..], 100));
        chunks.push(b"x\nafter\n");
        let (got, peak) = split(16, &chunks);
        assert_eq!(got, [Seen::Text(b"ok".to_vec()), Seen::TooLong, Seen::Text(b"after".to_vec())]);
        assert!(peak <= 17, "held {peak} bytes of a line that can never be accepted");
    }

    #[test]
    fn a_partial_line_is_scanned_once() {
        let mut lines = Lines::new(100);
        assert_eq!(lines.next(b"abc"), (None, 0));
        assert_eq!(lines.scanned, 3);
        assert_eq!(lines.next(b"abcdef\nx"), (Some(Line::Text(b"abcdef")), 7));
    }

    #[test]
    fn finish_returns_the_unterminated_last_line() {
        let mut lines = Lines::new(4);
        assert_eq!(lines.finish(b"last\r"), Some(Line::Text(b"last")));
        assert_eq!(lines.finish(b""), None);
        assert_eq!(lines.finish(b"toolong"), Some(Line::TooLong));
        assert_eq!(lines.next(b"way too long"), (Some(Line::TooLong), 12));
        assert_eq!(lines.finish(b"tail"), None, "the tail of a line already refused");
    }

    #[test]
    fn last_line_takes_what_the_input_ended_with() {
        assert_eq!(last_line(b"bye", 10), Ok(Some(&b"bye"[..])));
        assert_eq!(last_line(b"bye\r", 10), Ok(Some(&b"bye"[..])), "a CR whose LF never came");
        assert_eq!(last_line(b"", 10), Ok(None));
        assert_eq!(last_line(b"\r", 10), Ok(Some(&b""[..])), "an empty line, ended by its CR");
        assert_eq!(last_line(b"12345", 4), Err(TooLong { max: 4 }));
    }

    #[test]
    fn next_line_ends_in_lf_or_crlf() {
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
        assert_eq!(b.pop(), Some(Line::Text(b"one")));
        assert_eq!(b.pop(), None);
        assert!(!b.has_line());
        b.push(b"o\r\nthree");
        assert!(b.has_line());
        assert_eq!(b.pop(), Some(Line::Text(b"two")));
        assert_eq!(b.pop(), None);
        b.end();
        assert_eq!(b.pop(), Some(Line::Text(b"three")));
        assert_eq!(b.pop(), None);
        assert!(!b.has_line());
    }

    #[test]
    fn an_overlong_stdin_line_is_an_error() {
        let mut b = LineBuf::new(3);
        b.push(b"abcd");
        assert_eq!(b.pop(), Some(Line::TooLong));
    }

    /// The console's case: a bad line is reported and the lines after it still come.
    #[test]
    fn a_line_buffer_skips_an_overlong_line_and_goes_on() {
        let mut b = LineBuf::new(8);
        let mut got = Vec::new();
        for (data, end) in [(&b"one\ntw"[..], false), (b"o\r\nthree", false), (b"", true)] {
            b.push(data);
            if end {
                b.end();
            }
            while let Some(line) = b.pop() {
                got.push(seen(line));
            }
        }
        assert_eq!(got, ["one", "two", "three"].map(|t| Seen::Text(t.into())));
        b.push(b"far too long\nok\nlast");
        assert!(b.has_line());
        assert_eq!(b.pop(), Some(Line::TooLong));
        assert_eq!(b.pop(), Some(Line::Text(b"ok")));
        assert_eq!(b.pop(), Some(Line::Text(b"last")));
        assert_eq!(b.pop(), None);
    }

    proptest! {
        /// Any bytes, cut anywhere: no panic, the same lines as reading it all at once, and
        /// never more than `max + 1` bytes held.
        #[test]
        fn any_split_gives_the_same_lines(
            input in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..400),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
            max in 0usize..40,
        ) {
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            at.extend([0, input.len()]);
            at.sort_unstable();
            let chunks: Vec<&[u8]> = at.windows(2).map(|w| &input[w[0]..w[1]]).collect();
            let (got, peak) = split(max, &chunks);
            prop_assert_eq!(got, model(max, &input));
            prop_assert!(peak <= max + 1);
        }

        /// At the end of input, what was held becomes the last line (as a chat member's
        /// does at EOF): the same lines as a `LineBuf` that saw the input end.
        #[test]
        fn the_held_tail_finishes_as_a_line_buffer_ends(
            input in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
            cut in any::<prop::sample::Index>(),
            max in 0usize..20,
        ) {
            let at = cut.index(input.len() + 1);
            let (mut lines, mut held) = (Lines::new(max), Vec::new());
            let (mut got, _) = split_holding(&mut lines, &mut held, &[&input[..at], &input[at..]]);
            got.extend(lines.finish(&held).map(seen));
            let mut buf = LineBuf::new(max);
            buf.push(&input);
            buf.end();
            let mut want = Vec::new();
            while let Some(line) = buf.pop() {
                want.push(seen(line));
            }
            prop_assert_eq!(got, want);
        }
    }
}
