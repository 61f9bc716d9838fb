//! The chat line splitter against the obvious answer, on any bytes cut anywhere: no panic,
//! the same lines whatever the cuts, never more than `max + 1` bytes held. Every line that
//! is UTF-8 also goes through the command parser and the nick check.
//!
//! Input: byte 0 is the line limit, byte 1 seeds the cut points, the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::chat::command::{self, Command};
use sockloop::protocols::chat::line::{Line, Lines};
use sockloop::protocols::chat::nick;

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    TooLong,
}

/// What a whole stream holds, split the simplest way.
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

fuzz_target!(|data: &[u8]| {
    let Some((&[max, seed], input)) = data.split_first_chunk::<2>() else { return };
    let max = usize::from(max);
    let mut rng = u32::from(seed) | 1;
    let (mut lines, mut held, mut seen) = (Lines::new(max), Vec::new(), Vec::new());
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
                Some(Line::Text(text)) => {
                    if let Ok(text) = std::str::from_utf8(text)
                        && let Command::Nick(name) = command::parse(text)
                    {
                        let _ = nick::check(name);
                    }
                    seen.push(Seen::Text(text.to_vec()));
                }
                Some(Line::TooLong) => seen.push(Seen::TooLong),
                None => break,
            }
        }
        held.drain(..pos);
        assert!(held.len() <= max + 1, "held {} bytes with a limit of {max}", held.len());
    }
    assert_eq!(seen, model(max, input));
});
