//! The server's stdin, split into lines.
//!
//! Unlike a member's input, the console's partial line is buffered here rather than left
//! to the reactor: stdin is often a file or a pipe whose last line has no `\n`, and the
//! reactor does not hand held bytes back at end of input. There is one console, so one
//! small buffer (bounded by the line limit) costs nothing.

use super::line::{Line, Lines};

#[derive(Debug)]
pub struct ConsoleInput {
    lines: Lines,
    partial: Vec<u8>,
}

impl ConsoleInput {
    pub fn new(max_line: usize) -> ConsoleInput {
        ConsoleInput { lines: Lines::new(max_line), partial: Vec::new() }
    }

    /// Takes one read of stdin; calls `each` for every line it completes.
    pub fn push(&mut self, data: &[u8], mut each: impl FnMut(Line<'_>)) {
        self.partial.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let (line, used) = self.lines.next(&self.partial[pos..]);
            pos += used;
            match line {
                Some(line) => each(line),
                None => break,
            }
        }
        self.partial.drain(..pos);
    }

    /// stdin ended: the unterminated last line, if any, is still a line.
    pub fn finish(&mut self, mut each: impl FnMut(Line<'_>)) {
        if let Some(line) = self.lines.finish(&self.partial) {
            each(line);
        }
        self.partial = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &mut ConsoleInput, data: &[u8], end: bool) -> Vec<String> {
        let mut got = Vec::new();
        let mut each = |line: Line<'_>| {
            got.push(match line {
                Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Line::TooLong => "<too long>".into(),
            })
        };
        input.push(data, &mut each);
        if end {
            input.finish(&mut each);
        }
        got
    }

    #[test]
    fn lines_across_reads_and_an_unterminated_last_line() {
        let mut input = ConsoleInput::new(8);
        assert_eq!(collect(&mut input, b"one\ntw", false), ["one"]);
        assert_eq!(collect(&mut input, b"o\r\nthree", false), ["two"]);
        assert_eq!(collect(&mut input, b"", true), ["three"]);
        assert_eq!(collect(&mut input, b"far too long\nok\nlast", true), ["<too long>", "ok", "last"]);
    }
}
