//! Property tests of the decoder and the server: how the bytes are split into reads must
//! never change what is decoded, and no input may panic either.

use super::codec::{Codec, FrameError, Header};
use super::server::Framed;
use super::{DISCONNECT, REPLY};
use crate::testing::TestTransport;
use proptest::prelude::*;
use proptest::sample::Index;

fn header() -> impl Strategy<Value = Header> {
    prop_oneof![Just(Header::Ascii64), Just(Header::U32)]
}

/// Cuts `stream` at the given points (in any order, repeats allowed) into reads.
fn split<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    at.push(0);
    at.push(stream.len());
    at.sort_unstable();
    at.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

/// Decodes reads the way the reactor feeds a handler: unconsumed bytes are kept and handed
/// back in front of the next read. Stops at the first error.
fn decode_reads(codec: &Codec, reads: &[&[u8]]) -> (Vec<Vec<u8>>, Option<FrameError>, usize) {
    let (mut held, mut frames) = (Vec::new(), Vec::new());
    for read in reads {
        held.extend_from_slice(read);
        loop {
            match codec.decode(&held) {
                Ok(Some(frame)) => {
                    frames.push(frame.payload.to_vec());
                    let used = frame.consumed;
                    held.drain(..used);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e), held.len()),
            }
        }
    }
    let left = held.len();
    (frames, None, left)
}

/// Text an ASCII header might hold: digits, signs, underscores and spaces, or anything.
fn ascii_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ \t+\\-_0-9]{0,64}".prop_map(|s| format!("{s:<64}").into_bytes()),
        prop::collection::vec(any::<u8>(), 64),
    ]
}

proptest! {
    #[test]
    fn any_split_of_a_stream_yields_the_same_frames(
        header in header(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let codec = Codec::new(header, 1 << 10);
        let mut stream = Vec::new();
        for p in &payloads {
            codec.encode(p, &mut stream).unwrap();
        }
        let (frames, error, left) = decode_reads(&codec, &split(&stream, &cuts));
        prop_assert_eq!(error, None);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(frames, payloads);
    }

    #[test]
    fn the_server_answers_each_frame_once_however_the_stream_is_split(
        header in header(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..12),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let codec = Codec::new(header, 1 << 10);
        let payloads: Vec<_> = payloads.into_iter().filter(|p| p != DISCONNECT).collect();
        let mut stream = Vec::new();
        for p in &payloads {
            codec.encode(p, &mut stream).unwrap();
        }
        let mut t = TestTransport::new(Framed::new(codec, REPLY).unwrap());
        let c = t.accept();
        for read in split(&stream, &cuts) {
            t.feed(c, read);
        }
        let mut reply = Vec::new();
        codec.encode(REPLY, &mut reply).unwrap();
        prop_assert_eq!(t.take_output(c), reply.repeat(payloads.len()));
        prop_assert!(t.held(c).is_empty());
        prop_assert_eq!(t.closed(c), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_outgrow_the_limit(
        header in header(),
        head in ascii_header(),
        tail in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let codec = Codec::new(header, 200);
        let stream = [head, tail].concat();
        let (frames, error, left) = decode_reads(&codec, &split(&stream, &cuts));
        prop_assert!(frames.iter().all(|f| f.len() <= 200));
        if error.is_none() {
            prop_assert!(left < codec.max_input(), "{left} bytes held");
        }
        let mut t = TestTransport::new(Framed::new(codec, REPLY).unwrap());
        let c = t.accept();
        for read in split(&stream, &cuts) {
            t.feed(c, read);
        }
        prop_assert!(t.held(c).len() < codec.max_input());
    }
}
