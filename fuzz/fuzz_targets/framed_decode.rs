//! The framed decoder on arbitrary bytes, read in arbitrary pieces.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run framed_decode -- -max_total_time=300
//!
//! Input: byte 0 picks the header format and the frame limit, byte 1 the read size, the
//! rest is the stream. Besides "never panics", it checks what the decoder promises: reads
//! of any size give the same frames as one read, no frame is over the limit, the input
//! held never reaches `max_input`, and a decoded payload encodes back to the same frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::framed::{Codec, FrameError, Header};

/// Frames decoded from `reads`, fed the way the reactor feeds a handler, and the error
/// that stopped decoding, if any.
fn decode(codec: &Codec, reads: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let (mut held, mut frames) = (Vec::new(), Vec::new());
    for read in reads {
        held.extend_from_slice(read);
        loop {
            match codec.decode(&held) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= codec.max_frame());
                    assert_eq!(frame.consumed, codec.header().size() + frame.payload.len());
                    let mut again = Vec::new();
                    codec.encode(frame.payload, &mut again).expect("a decoded payload encodes");
                    let back = codec.decode(&again).expect("re-decodes").expect("whole");
                    assert_eq!(back.payload, frame.payload);
                    frames.push(frame.payload.to_vec());
                    let used = frame.consumed;
                    held.drain(..used);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        assert!(held.len() < codec.max_input());
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let [pick, read_size, stream @ ..] = data else { return };
    let header = if pick & 1 == 0 { Header::Ascii64 } else { Header::U32 };
    let codec = Codec::new(header, usize::from(pick >> 1) * 16);
    let whole = decode(&codec, &mut std::iter::once(stream));
    let pieces = decode(&codec, &mut stream.chunks(usize::from(*read_size).max(1)));
    assert_eq!(whole, pieces);
});
