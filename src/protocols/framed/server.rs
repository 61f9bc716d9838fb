//! The framed server: every frame is answered with one reply frame; `Disconnect !` is
//! answered and then the connection closes.
//!
//! Where the classic server misbehaves (a header split across reads is misparsed, a bad
//! header kills its thread, EOF makes it spin) this one decodes across any split, closes
//! a connection with a bad header after logging why with the peer's address, and closes on
//! EOF, logging a frame the EOF cut short the same way. The classic protocol has no error
//! frame, so neither gets a reply.

use super::codec::{Codec, FrameError};
use super::{DISCONNECT, REPLY};
use crate::{ConnId, ConnInfo, Context, Handler};
use log::{debug, info, warn};
use std::net::SocketAddr;

#[derive(Clone, Debug)]
pub struct Framed {
    codec: Codec,
    /// The whole reply frame, encoded once: every frame gets the same one.
    reply: Vec<u8>,
}

impl Default for Framed {
    fn default() -> Self {
        let codec = Codec::default();
        let mut reply = Vec::new();
        // An ASCII header can describe any length, so this cannot fail.
        let _ = codec.encode(REPLY, &mut reply);
        Framed { codec, reply }
    }
}

impl Framed {
    /// A server speaking `codec`, answering every frame with `reply` (the classic text is
    /// [`REPLY`]). Fails only for a reply too long for the header format.
    pub fn new(codec: Codec, reply: &[u8]) -> Result<Self, FrameError> {
        let mut frame = Vec::new();
        codec.encode(reply, &mut frame)?;
        Ok(Framed { codec, reply: frame })
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }
}

#[derive(Debug)]
pub enum Session {
    /// Frames are read and answered.
    Open { peer: SocketAddr },
    /// The session ended (a disconnect frame or a bad header); the close is under way and
    /// any later input is ignored.
    Closing,
}

/// How much of a payload the log shows.
const PREVIEW: usize = 80;

impl Handler for Framed {
    type Conn = Session;

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) -> Session {
        Session::Open { peer: info.peer }
    }

    fn data(&mut self, session: &mut Session, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let Session::Open { peer } = *session else { return data.len() };
        let mut used = 0;
        loop {
            match self.codec.decode(&data[used..]) {
                Ok(None) => return used,
                Ok(Some(frame)) => {
                    used += frame.consumed;
                    let text = String::from_utf8_lossy(&frame.payload[..frame.payload.len().min(PREVIEW)]);
                    debug!("{peer}: frame of {} bytes: {text:?}", frame.payload.len());
                    ctx.write(&self.reply);
                    if frame.payload == DISCONNECT {
                        info!("{peer}: disconnect frame, closing");
                        ctx.close();
                        *session = Session::Closing;
                        return data.len();
                    }
                }
                Err(e) => {
                    warn!("{peer}: {e}; closing the connection");
                    ctx.close();
                    *session = Session::Closing;
                    return data.len();
                }
            }
        }
    }

    /// A frame cut short by the FIN is a protocol error, not a message: it cannot be
    /// answered (its payload is incomplete, and the classic protocol has no error frame),
    /// but it is logged, so a peer that lost part of its output is not taken for one that
    /// finished cleanly.
    fn eof(&mut self, session: &mut Session, ctx: &mut Context<'_>, rest: &[u8]) {
        if let Session::Open { peer } = *session
            && let Some(cut) = self.codec.truncated(rest)
        {
            warn!("{peer}: {cut}; closing the connection");
        }
        ctx.close();
        *session = Session::Closing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseReason;
    use crate::protocols::framed::codec::Header;
    use crate::testing::{TestTransport, logs};
    use log::Level;

    fn frame(codec: &Codec, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        codec.encode(payload, &mut f).unwrap();
        f
    }

    fn classic_reply() -> Vec<u8> {
        [&b"33"[..], &[b' '; 62], REPLY].concat()
    }

    #[test]
    fn the_classic_exchange_byte_for_byte() {
        let mut t = TestTransport::new(Framed::default());
        let c = t.accept();
        let codec = Codec::default();
        for text in ["Hello, this is Prashanth !", "Connection Success !", "Successful Done !"] {
            let f = frame(&codec, text.as_bytes());
            t.feed(c, &f[..64]);
            assert_eq!(t.take_output(c), b"", "nothing until the payload is here");
            t.feed(c, &f[64..]);
            assert_eq!(t.take_output(c), classic_reply());
            assert_eq!(t.closed(c), None);
        }
        t.feed(c, &frame(&codec, DISCONNECT));
        assert_eq!(t.take_output(c), classic_reply(), "the disconnect frame is answered too");
        assert_eq!(t.closed(c), Some(CloseReason::Local));
    }

    #[test]
    fn many_frames_in_one_read_each_get_a_reply_and_nothing_after_disconnect_counts() {
        let codec = Codec::new(Header::U32, 100);
        let mut t = TestTransport::new(Framed::new(codec, b"ok").unwrap());
        let c = t.accept();
        let mut input = Vec::new();
        for payload in [&b""[..], b"a", b"bb", DISCONNECT, b"after"] {
            input.extend_from_slice(&frame(&codec, payload));
        }
        t.feed(c, &input);
        assert_eq!(t.take_output(c), b"\0\0\0\x02ok".repeat(4));
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert!(t.held(c).is_empty());
    }

    #[test]
    fn a_bad_header_closes_only_that_connection_after_earlier_replies() {
        let mut t = TestTransport::new(Framed::default());
        let (bad, good) = (t.accept(), t.accept());
        let mut input = frame(&Codec::default(), b"fine");
        input.extend_from_slice(format!("{:<64}", "-5").as_bytes());
        t.feed(bad, &input);
        assert_eq!(t.take_output(bad), classic_reply(), "the frame before the bad header is answered");
        assert_eq!(t.closed(bad), Some(CloseReason::Local));
        t.feed(good, &frame(&Codec::default(), b"still here"));
        assert_eq!(t.take_output(good), classic_reply());
        assert_eq!(t.closed(good), None);
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_payload_arrives() {
        let codec = Codec::new(Header::Ascii64, 1000);
        let mut t = TestTransport::new(Framed::new(codec, REPLY).unwrap());
        let c = t.accept();
        t.feed(c, format!("{:<64}", 1001).as_bytes());
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert_eq!(t.take_output(c), b"");
    }

    #[test]
    fn a_partial_frame_is_held_by_the_reactor_not_copied_by_the_protocol() {
        let mut t = TestTransport::new(Framed::default());
        let c = t.accept();
        let f = frame(&Codec::default(), b"abcdef");
        t.feed(c, &f[..67]);
        assert_eq!(t.held(c), &f[..67]);
        t.feed(c, &f[67..]);
        assert!(t.held(c).is_empty());
        assert_eq!(t.take_output(c), classic_reply());
    }

    #[test]
    fn eof_on_a_frame_boundary_closes_quietly() {
        let mut t = TestTransport::new(Framed::default());
        let c = t.accept();
        t.feed(c, &frame(&Codec::default(), b"whole"));
        t.take_output(c);
        let logs = logs::capture(|| t.eof(c));
        assert_eq!(t.closed(c), Some(CloseReason::PeerClosed));
        assert!(logs.iter().all(|(level, _)| *level > Level::Warn), "{logs:?}");
    }

    #[test]
    fn a_frame_cut_short_by_eof_is_reported_with_the_peer_and_closed() {
        let codec = Codec::default();
        let f = frame(&codec, b"abcdef");
        for (cut, what) in [
            (2, "the stream ended inside a frame header (2 of 64 bytes)"),
            (67, "the stream ended inside a frame (3 of 6 payload bytes)"),
        ] {
            let mut t = TestTransport::new(Framed::default());
            let c = t.accept_from("127.0.0.1:40123".parse().unwrap());
            t.feed(c, &f[..cut]);
            let logs = logs::capture(|| t.eof(c));
            let want = format!("127.0.0.1:40123: {what}; closing the connection");
            assert!(logs.contains(&(Level::Warn, want.clone())), "{want:?} not in {logs:?}");
            assert_eq!(t.take_output(c), b"", "the classic protocol has no error frame");
            assert_eq!(t.closed(c), Some(CloseReason::PeerClosed));
        }
    }
}
