//! udp-ping: the classic UDP ping experiments (Q1 fixed interval, Q2 decaying interval),
//! with a server that simulates loss and delay and a client that measures RTT and loss.
//!
//! The classic server answers every probe with the same 19 bytes, so the classic client
//! can only guess which probe a reply belongs to, and a late reply becomes the RTT of the
//! next probe. Here every probe carries its sequence number and send time ([`wire`]); the
//! server echoes that header in its reply, so a late reply is matched to its own probe and
//! reported as late. Classic clients never send the header and get the classic bytes.
//!
//! - [`server`]: the server; delays are reactor timers keyed to a bounded table of
//!   [`pending`] replies, loss and delay come from a seeded [`impair`]ment ([`rng`]), and
//!   each peer's receive size from its own [`calibration`].
//! - [`client`]: one probe per interval, ping(8) lines ([`event`]); the probes are kept in a
//!   [`probes`] log, summarised ([`summary`]), tabulated per second ([`table`]), plotted
//!   ([`plot`]) and exported ([`export`]).
//! - [`flood`]: many senders, each its own socket, from one thread: datagrams/s and loss.

pub mod calibration;
pub mod client;
pub mod event;
pub mod export;
pub mod flood;
pub mod impair;
pub mod pending;
pub mod plot;
pub mod probes;
pub mod rng;
pub mod server;
pub mod summary;
pub mod table;
#[cfg(test)]
mod tests;
pub mod wire;

pub use client::{PingClient, PingOptions};
pub use event::{Event, ReplyKind};
pub use flood::{Flood, FloodOptions, FloodReport, Latency};
pub use impair::{Fate, Impair, Impairment};
pub use server::{Counters, PingServer, ServerOptions};

/// The classic answer to a probe (19 bytes).
pub const ACK: &str = "Packet Acknowledged";
/// The classic answer to `C <size>` (33 bytes).
pub const CALIBRATED: &str = "Buffer Size Calibrated at Server.";
/// The classic answer to `exit` (20 bytes), sent only with `--allow-remote-stop`.
pub const STOPPING: &str = "Stopping the Server.";
/// Our answer to `exit` without `--allow-remote-stop`. The classic client prints whatever
/// comes back, so its user reads why the server is still up.
pub const REMOTE_STOP_DISABLED: &str = "Remote stop is disabled: the server keeps running.";
/// The classic server's receive size until a client calibrates (`recvfrom(1024)`).
pub const DEFAULT_RECV_SIZE: usize = 1024;
