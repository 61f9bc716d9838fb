//! Frames = a length header + that many payload bytes, in one of two header formats.
//!
//! The decoder has the shape of tokio-util's `Decoder`, fitted to the reactor's
//! unconsumed-input model: it is handed everything not consumed yet and answers "no whole
//! frame yet" or "a frame, which took this many bytes". It keeps no state between calls,
//! because the reactor already keeps the bytes; re-reading a 64-byte header on each read of
//! a long payload costs nothing next to the contract a cached header would add (the caller
//! would have to hand back exactly the same bytes).
//!
//! The length is checked as soon as the header is complete, before any payload arrives,
//! and nothing is allocated for it: a peer announcing 4 GiB is refused at once, and the
//! input it may make the reactor hold is bounded by [`Codec::max_input`].

use crate::protocols::python;
use std::fmt;

/// The classic header: 64 bytes of ASCII decimal, left-aligned, space padded.
pub const ASCII64_LEN: usize = 64;
pub const U32_LEN: usize = 4;
/// The default limit on a payload.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// The classic `server.py` header: the length in bytes as text, as Python's `int()`
    /// reads it (so surrounding space, `+33` and `0_33` are accepted too).
    #[default]
    Ascii64,
    /// A 4-byte big-endian length, for programs that would rather not print numbers.
    U32,
}

impl Header {
    pub fn size(self) -> usize {
        match self {
            Header::Ascii64 => ASCII64_LEN,
            Header::U32 => U32_LEN,
        }
    }
}

/// A decoded frame, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub payload: &'a [u8],
    /// Header and payload: what to report as consumed.
    pub consumed: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The ASCII header is not a number `int()` would read (or not UTF-8).
    NotANumber { header: String },
    /// The ASCII header reads as a negative number.
    Negative { len: String },
    /// The announced payload is longer than the limit.
    TooLong { len: String, max: usize },
    /// A payload too long for the header format to describe (u32: 4 GiB).
    Unencodable { len: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NotANumber { header } => write!(f, "frame header is not a length: {header:?}"),
            FrameError::Negative { len } => write!(f, "frame header announces a negative length ({len})"),
            FrameError::TooLong { len, max } => {
                write!(f, "frame header announces {len} bytes, more than the limit of {max}")
            }
            FrameError::Unencodable { len } => write!(f, "a payload of {len} bytes does not fit the header"),
        }
    }
}

impl std::error::Error for FrameError {}

/// How far a frame got before its stream ended: what a truncation is reported as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncated {
    /// `got` bytes of an `of`-byte header.
    Header { got: usize, of: usize },
    /// `got` bytes of the `of` the header announced.
    Payload { got: usize, of: usize },
}

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Truncated::Header { got, of } => {
                write!(f, "the stream ended inside a frame header ({got} of {of} bytes)")
            }
            Truncated::Payload { got, of } => {
                write!(f, "the stream ended inside a frame ({got} of {of} payload bytes)")
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec {
    header: Header,
    max_frame: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(Header::Ascii64, DEFAULT_MAX_FRAME)
    }
}

impl Codec {
    pub fn new(header: Header, max_frame: usize) -> Self {
        Codec { header, max_frame }
    }

    pub fn header(&self) -> Header {
        self.header
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The most unconsumed input a conforming peer can leave: one header and one payload
    /// short of a byte. Set the reactor's `Config::max_input` to at least this.
    pub fn max_input(&self) -> usize {
        self.header.size().saturating_add(self.max_frame)
    }

    /// The first frame in `buf`, if it is all there.
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<Option<Frame<'a>>, FrameError> {
        let Some(head) = buf.get(..self.header.size()) else { return Ok(None) };
        let len = self.length(head)?;
        let end = self.header.size() + len;
        Ok(buf.get(self.header.size()..end).map(|payload| Frame { payload, consumed: end }))
    }

    /// What `rest`, the input left when the stream ended, was the start of: `None` if it
    /// is empty, or is not the start of a frame at all (a whole frame, a bad header: what
    /// [`Codec::decode`] says about it is the news then).
    pub fn truncated(&self, rest: &[u8]) -> Option<Truncated> {
        let size = self.header.size();
        if rest.is_empty() {
            return None;
        }
        let Some(head) = rest.get(..size) else {
            return Some(Truncated::Header { got: rest.len(), of: size });
        };
        let len = self.length(head).ok()?;
        let got = rest.len() - size;
        (got < len).then_some(Truncated::Payload { got, of: len })
    }

    fn length(&self, head: &[u8]) -> Result<usize, FrameError> {
        let (value, text) = match self.header {
            Header::U32 => {
                let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                (i128::from(n), n.to_string())
            }
            Header::Ascii64 => {
                let not_a_number =
                    || FrameError::NotANumber { header: String::from_utf8_lossy(head).trim_end().into() };
                let text = std::str::from_utf8(head).map_err(|_| not_a_number())?;
                let value = python::int(text).ok_or_else(not_a_number)?;
                (value, text.trim().to_string())
            }
        };
        if value < 0 {
            return Err(FrameError::Negative { len: text });
        }
        match usize::try_from(value) {
            Ok(len) if len <= self.max_frame => Ok(len),
            _ => Err(FrameError::TooLong { len: text, max: self.max_frame }),
        }
    }

    /// Appends `payload` as one frame. Only the header's own capacity limits it: the
    /// receiver's `max_frame` is the receiver's business.
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        match self.header {
            Header::Ascii64 => {
                // A usize has at most 20 digits, so this is always exactly 64 bytes.
                out.extend_from_slice(format!("{:<ASCII64_LEN$}", payload.len()).as_bytes());
            }
            Header::U32 => {
                let len = u32::try_from(payload.len())
                    .map_err(|_| FrameError::Unencodable { len: payload.len() })?;
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii() -> Codec {
        Codec::default()
    }

    fn frame(codec: &Codec, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        codec.encode(payload, &mut out).unwrap();
        out
    }

    #[test]
    fn the_classic_header_is_the_length_left_aligned_in_64_bytes() {
        let f = frame(&ascii(), b"Hello, this is Prashanth !");
        assert_eq!(&f[..64], [&b"26"[..], &[b' '; 62]].concat());
        assert_eq!(&f[64..], b"Hello, this is Prashanth !");
        assert_eq!(frame(&Codec::new(Header::U32, 100), b"abc"), b"\0\0\0\x03abc");
    }

    #[test]
    fn a_frame_is_decoded_only_when_whole() {
        for codec in [ascii(), Codec::new(Header::U32, 1 << 20)] {
            let f = frame(&codec, b"payload");
            for cut in 0..f.len() {
                assert_eq!(codec.decode(&f[..cut]), Ok(None), "{:?} cut at {cut}", codec.header());
            }
            let mut two = f.clone();
            two.extend_from_slice(&f);
            let got = codec.decode(&two).unwrap().unwrap();
            assert_eq!(got, Frame { payload: b"payload", consumed: f.len() });
        }
    }

    #[test]
    fn a_cut_frame_says_how_far_it_got() {
        for codec in [ascii(), Codec::new(Header::U32, 1 << 20)] {
            let f = frame(&codec, b"payload");
            let size = codec.header().size();
            assert_eq!(codec.truncated(b""), None);
            assert_eq!(codec.truncated(&f[..1]), Some(Truncated::Header { got: 1, of: size }));
            assert_eq!(codec.truncated(&f[..size]), Some(Truncated::Payload { got: 0, of: 7 }));
            assert_eq!(codec.truncated(&f[..size + 3]), Some(Truncated::Payload { got: 3, of: 7 }));
            assert_eq!(codec.truncated(&f), None, "a whole frame is not cut");
        }
        assert_eq!(ascii().truncated(format!("{:<64}", "x").as_bytes()), None, "a bad header is not cut");
        assert_eq!(
            Truncated::Payload { got: 3, of: 6 }.to_string(),
            "the stream ended inside a frame (3 of 6 payload bytes)"
        );
    }

    #[test]
    fn zero_length_frames_are_frames() {
        let codec = ascii();
        let f = frame(&codec, b"");
        assert_eq!(f.len(), 64);
        assert_eq!(codec.decode(&f), Ok(Some(Frame { payload: b"", consumed: 64 })));
    }

    #[test]
    fn the_ascii_header_is_read_as_python_int_reads_it() {
        let codec = ascii();
        for header in ["  3", "3\t", "+3", "0_3", "-0_3"] {
            let mut f = format!("{header:<64}").into_bytes();
            f.extend_from_slice(b"abc");
            let want = if header.starts_with('-') { None } else { Some(3) };
            let got = codec.decode(&f).map(|fr| fr.map(|fr| fr.payload.len()));
            match want {
                Some(n) => assert_eq!(got, Ok(Some(n)), "{header:?}"),
                None => assert!(matches!(got, Err(FrameError::Negative { .. })), "{header:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn bad_headers_are_refused_as_soon_as_the_header_is_complete() {
        let codec = Codec::new(Header::Ascii64, 1000);
        let head = |s: &str| format!("{s:<64}").into_bytes();
        assert!(matches!(codec.decode(&head("abc")), Err(FrameError::NotANumber { .. })));
        assert!(matches!(codec.decode(&head("")), Err(FrameError::NotANumber { .. })));
        assert!(matches!(codec.decode(&head("-1")), Err(FrameError::Negative { .. })));
        assert!(matches!(codec.decode(&[0xff; 64]), Err(FrameError::NotANumber { .. })));
        assert_eq!(codec.decode(&head("1001")), Err(FrameError::TooLong { len: "1001".into(), max: 1000 }));
        let huge = "9".repeat(64);
        assert!(matches!(codec.decode(huge.as_bytes()), Err(FrameError::TooLong { .. })));
        let u32s = Codec::new(Header::U32, 1000);
        assert_eq!(
            u32s.decode(&1001u32.to_be_bytes()),
            Err(FrameError::TooLong { len: "1001".into(), max: 1000 })
        );
    }

    #[test]
    fn errors_read_well_in_a_log() {
        let e = Codec::new(Header::Ascii64, 10).decode(&format!("{:<64}", "x1").into_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "frame header is not a length: \"x1\"");
        let e = Codec::new(Header::Ascii64, 10).decode(&format!("{:<64}", "11").into_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "frame header announces 11 bytes, more than the limit of 10");
    }
}
