//! framed under load: frames of `--size` payload bytes, each answered by the server's one
//! fixed reply frame, checked byte for byte.
//!
//! The reply does not depend on the request, so a misrouted reply cannot be told from a
//! right one; what is checked is that every frame gets exactly one whole reply, in order,
//! and nothing else. Payloads are the conversations' texts cut to size (printable ASCII, so
//! the classic server, which decodes them as UTF-8, accepts them too); one never equals
//! `Disconnect !`, since it starts with `#`.

use super::message;
use super::workload::Workload;
use crate::protocols::framed::{Codec, FrameError, Header, REPLY};

pub(crate) struct FramedLoad {
    size: usize,
    /// The header of every request: every payload has the same length.
    header: Vec<u8>,
    /// The whole reply frame the server answers every frame with.
    reply: Vec<u8>,
}

impl FramedLoad {
    /// Frames of `size` payload bytes, answered by `reply` (the server's reply text).
    pub(crate) fn new(header: Header, size: usize, reply: &[u8]) -> Result<FramedLoad, FrameError> {
        let codec = Codec::new(header, usize::MAX);
        let mut frame = Vec::with_capacity(header.size() + size);
        // Encoded once: the classic header is formatted text, not worth redoing per frame.
        codec.encode(&vec![0; size], &mut frame)?;
        frame.truncate(header.size());
        let mut reply_frame = Vec::new();
        codec.encode(reply, &mut reply_frame)?;
        Ok(FramedLoad { size, header: frame, reply: reply_frame })
    }

    /// The classic reply text.
    pub(crate) fn classic(header: Header, size: usize) -> Result<FramedLoad, FrameError> {
        FramedLoad::new(header, size, REPLY)
    }
}

impl Workload for FramedLoad {
    fn request(&self, client: u32, seq: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header);
        let start = out.len();
        message::write(client, seq, self.size, out);
        out.truncate(start + self.size);
    }

    fn reply_len(&self, _seq: u64) -> usize {
        self.reply.len()
    }

    fn expected(&self, _client: u32, _seq: u64, offset: usize, out: &mut [u8]) {
        let end = (offset + out.len()).min(self.reply.len());
        let start = offset.min(end);
        out[..end - start].copy_from_slice(&self.reply[start..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::framed::DISCONNECT;

    fn request(load: &FramedLoad, client: u32, seq: u64) -> Vec<u8> {
        let mut out = Vec::new();
        load.request(client, seq, &mut out);
        out
    }

    #[test]
    fn requests_are_whole_frames_of_the_size_asked() {
        for (header, size) in
            [(Header::Ascii64, 64), (Header::U32, 64), (Header::U32, 1), (Header::Ascii64, 5000)]
        {
            let load = FramedLoad::classic(header, size).expect("encodes");
            let codec = Codec::new(header, 1 << 20);
            let bytes = request(&load, 3, 9);
            let frame = codec.decode(&bytes).expect("valid header").expect("whole frame");
            assert_eq!((frame.payload.len(), frame.consumed), (size, bytes.len()), "{header:?} {size}");
            assert!(frame.payload.is_ascii() && frame.payload.starts_with(b"#"));
            assert_ne!(frame.payload, DISCONNECT);
        }
    }

    #[test]
    fn the_reply_is_the_servers_frame() {
        let load = FramedLoad::new(Header::U32, 64, b"ok").expect("encodes");
        let mut out = [0u8; 6];
        load.expected(0, 0, 0, &mut out);
        assert_eq!(&out, b"\0\0\0\x02ok");
        let classic = FramedLoad::classic(Header::Ascii64, 64).expect("encodes");
        assert_eq!(classic.reply_len(0), 64 + 33);
    }
}
