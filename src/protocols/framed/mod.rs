//! framed: the length-header protocol of the classic `server.py` / `client.py` pair.
//!
//! A frame is a header (64 bytes of ASCII decimal in the classic format, or 4 bytes
//! big-endian) followed by that many payload bytes. The server answers every frame, empty
//! ones and the disconnect frame included, with one reply frame (the classic 33 bytes
//! `Message received successfully....`), and closes after answering `Disconnect !`.
//!
//! - [`codec`]: the header formats, the decoder and the encoder.
//! - [`server`]: the server handler.
//! - [`client`]: the interactive client (stdin lines out as frames, reply texts printed).

pub mod client;
pub mod codec;
#[cfg(test)]
mod props;
pub mod server;

pub use client::FramedClient;
pub use codec::{Codec, Frame, FrameError, Header, Truncated};
pub use server::Framed;

/// The classic reply text (33 bytes).
pub const REPLY: &[u8] = b"Message received successfully....";
/// The payload that ends a session (12 bytes), after its reply.
pub const DISCONNECT: &[u8] = b"Disconnect !";
