//! The server sockloop's framed server is measured against, run as a child process.
//!
//! `tokio`: tokio-util's `Framed` with a `LengthDelimitedCodec` (4-byte big-endian lengths,
//! its default) on a `current_thread` runtime, one task per connection: how a tokio user
//! would write a length-prefixed server. It answers every frame with the same reply frame
//! our server sends (the classic text), so the load generator sees the same bytes from
//! both and the load is the same. `send` flushes each reply; with one frame in flight per
//! connection, that is one write per frame, as ours does.

use futures_util::{SinkExt, StreamExt};
use sockloop::protocols::framed::REPLY;
use std::io;
use std::net::SocketAddr;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The same payload limit as `sockloop serve framed`'s default `--max-frame`.
const MAX_FRAME: usize = 16 << 20;

pub fn tokio_framed(addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec();
                let mut frames = Framed::new(stream, codec);
                let reply = Bytes::from_static(REPLY);
                while let Some(Ok(_frame)) = frames.next().await {
                    if frames.send(reply.clone()).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
