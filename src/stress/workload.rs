//! What a protocol must say for the stress tool to drive it: the bytes of each request and
//! the exact bytes of each reply.
//!
//! Everything else (connecting, pacing, pipelining, checking replies however TCP splits
//! them, timing, counting, reconnecting) is the same for every protocol and lives in
//! [`super::client`] and [`super::driver`]. A protocol is therefore one small file: echo,
//! greet and framed. (Chat and relay do not fit: what one connection sends arrives on
//! others, so they are checked by a load shared by all connections, `fanout.rs`.)
//!
//! Replies are described by a function rather than a stored copy, so the expected bytes of
//! every message in flight cost nothing to keep and can be produced from any offset.

/// One protocol's client side, as pure functions of (client number, exchange number).
pub(crate) trait Workload {
    /// The bytes of request `seq` of `client`, written into `out` (cleared by the caller).
    /// Writing nothing means the server speaks unprompted (greet's banner).
    fn request(&self, client: u32, seq: u64, out: &mut Vec<u8>);

    /// How many bytes reply `seq` has.
    fn reply_len(&self, seq: u64) -> usize;

    /// Fills `out` with bytes `offset..offset + out.len()` of reply `seq` of `client`.
    fn expected(&self, client: u32, seq: u64, offset: usize, out: &mut [u8]);

    /// What the client says once reply `seq` has arrived whole and correct (greet's `Hi`).
    fn answer(&self, _seq: u64) -> &[u8] {
        &[]
    }

    /// How many exchanges one connection carries before the server closes it; the client
    /// then connects again. `None`: the connection lasts as long as the run.
    fn exchanges_per_connection(&self) -> Option<u64> {
        None
    }

    /// How many requests may be in flight on one connection, given what was asked for
    /// (`--pipeline`). Lock-step protocols answer 1.
    fn pipeline(&self, asked: u32) -> u32 {
        asked
    }
}
