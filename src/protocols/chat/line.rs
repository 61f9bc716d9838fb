//! Splitting a byte stream into lines, with a hard limit on a line's length.
//!
//! The splitter consumes only whole lines and leaves a partial one for the reactor to hold
//! (see [`crate::Handler::data`]), so a member who is typing owns no buffer of ours. That
//! makes the limit matter: a line that can no longer fit is reported once and then skipped
//! *as its bytes arrive*, so the reactor never holds more than `max + 1` bytes for it, far
//! below `Config::max_input`, instead of closing the connection as an overflow.
//!
//! A line ends at `\n`; one `\r` before it is dropped too, so `nc -C` and telnet work. The
//! limit counts the bytes before the terminator.

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

    /// Looks at the front of `buf`: returns the next line (if a whole one is there) and how
    /// many bytes of `buf` are used up, the line's and any skipped ones. `None` means the
    /// rest of `buf` is the start of a line: consume `used` bytes, hold the rest, and call
    /// again with the rest followed by newer bytes.
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
            // Even a `\r` arriving next could not bring it under the limit.
            None if rest.len() > self.max + 1 => {
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
        let (mut lines, mut held, mut out, mut peak) = (Lines::new(max), Vec::new(), Vec::new(), 0);
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

    /// The obvious answer, from the whole input at once.
    fn model(max: usize, input: &[u8]) -> Vec<Seen> {
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let last = parts.pop().unwrap_or_default();
        let mut out: Vec<Seen> = parts
            .into_iter()
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .map(|l| if l.len() > max { Seen::TooLong } else { Seen::Text(l.to_vec()) })
            .collect();
        if last.len() > max + 1 {
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
    }
}
