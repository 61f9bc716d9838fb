//! The line splitter against the obvious answer, on any bytes cut anywhere: no panic, the
//! same lines whatever the cuts, never more than `max + 1` bytes held. [`Lines`] is driven
//! as the reactor drives a chat member (what is not consumed is held, and handed back at
//! EOF for [`Lines::finish`]); [`LineBuf`] as stdin is read, with its last line taken at the
//! end. Every line that is UTF-8 also goes through the chat command parser and the nick check.
//!
//! Input: byte 0 is the line limit, byte 1 seeds the cut points, the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::chat::command::{self, Command};
use sockloop::protocols::chat::nick;
use sockloop::protocols::lines::{Line, LineBuf, Lines};

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    TooLong,
}

fn seen(line: Line<'_>) -> Seen {
    match line {
        Line::Text(text) => {
            if let Ok(text) = std::str::from_utf8(text)
                && let Command::Nick(name) = command::parse(text)
            {
                let _ = nick::check(name);
            }
            Seen::Text(text.to_vec())
        }
        Line::TooLong => Seen::TooLong,
    }
}

/// What a whole stream holds, split the simplest way: every terminated line, then the
/// unterminated tail if it is already too long (`Lines`) or at all (`LineBuf`, at the end).
fn model(max: usize, input: &[u8], at_end: bool) -> Vec<Seen> {
    let judge = |l: &[u8]| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.len() > max { Seen::TooLong } else { Seen::Text(l.to_vec()) }
    };
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = parts.pop().unwrap_or_default();
    let mut out: Vec<Seen> = parts.into_iter().map(judge).collect();
    let tail = judge(last);
    if tail == Seen::TooLong || (at_end && !last.is_empty()) {
        out.push(tail);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[max, seed], input)) = data.split_first_chunk::<2>() else { return };
    let max = usize::from(max);
    let mut rng = u32::from(seed) | 1;
    let (mut lines, mut held, mut seen_lines) = (Lines::new(max), Vec::new(), Vec::new());
    let (mut buf, mut seen_buf) = (LineBuf::new(max), Vec::new());
    let mut rest = input;
    while !rest.is_empty() {
        // xorshift: chunks of 0..=17 bytes, as reads of any size would bring.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let (chunk, after) = rest.split_at(((rng % 18) as usize).min(rest.len()));
        rest = after;
        held.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let (line, used) = lines.next(&held[pos..]);
            pos += used;
            match line {
                Some(line) => seen_lines.push(seen(line)),
                None => break,
            }
        }
        held.drain(..pos);
        assert!(held.len() <= max + 1, "held {} bytes with a limit of {max}", held.len());
        buf.push(chunk);
        while let Some(line) = buf.pop() {
            seen_buf.push(seen(line));
        }
    }
    assert_eq!(seen_lines, model(max, input, false));
    seen_lines.extend(lines.finish(&held).map(seen));
    assert_eq!(seen_lines, model(max, input, true), "a member's EOF");
    buf.end();
    while let Some(line) = buf.pop() {
        seen_buf.push(seen(line));
    }
    assert_eq!(seen_buf, model(max, input, true));
});
