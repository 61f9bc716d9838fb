//! file: authenticated file transfer that streams any size in constant memory.
//!
//! Two protocols, each a sans-IO handler: ours ([`FileServer`], [`GetClient`]) and the
//! classic lab program's ([`ClassicServer`], and [`GetClient`] in [`Mode::Classic`]).
//!
//! # Our protocol
//!
//! Lines end in `\n` (`\r\n` is accepted) and are at most 4096 bytes. The client speaks first:
//!
//! ```text
//! C: AUTH <token>\n              the shared secret, the rest of the line
//! S: OK\n                        or, after a delay that grows with each failure from the
//!                                address: ERR 401 bad token\n  and the close
//! C: GET <name> [<offset>]\n     name relative to the root, percent-encoded (%20 for a space);
//!                                offset: resume from this byte (default 0)
//! S: FILE <size> <blake3-hex>\n  the whole file's size and BLAKE3 (64 hex digits), then
//!    <size - offset raw bytes>   exactly that many bytes, from the offset
//!  | ERR <code> <message>\n      and nothing else; the connection stays usable
//! C: GET ...                     more requests, one at a time; EOF ends the session
//! ```
//!
//! Codes: `400` bad request (syntax, a line too long, a bad name, a last request that the
//! client's EOF cut off before its `\n`: refused, never guessed at), `401` bad token or
//! request before `AUTH`, `403` not allowed (absolute, `..`, a symlink out of the root) or
//! not a regular file (a directory, a device, unreadable), `404` not found, `416` offset
//! beyond the end of the file, `500` the file could not be read. `401` and an overlong line
//! close the connection after the reply; the others do not.
//!
//! The checksum covers the whole file whatever the offset, so a client that resumes hashes
//! the part it has and checks the result like any other download. Both lines of a request
//! may be sent at once (`AUTH` and `GET` together save a round trip):
//!
//! ```text
//! printf 'AUTH s3cret\nGET notes.txt\n' | nc -N 127.0.0.1 7000 | head -c 200
//! ```
//!
//! # Streaming
//!
//! The server never reads a file into memory: it hands the range to the reactor
//! ([`crate::Context::send_file`]), which sends it with `sendfile(2)` as the socket drains.
//! The checksum, needed before the bytes, is computed in bounded steps per loop turn and
//! cached by file identity and version ([`checksum`]).
//!
//! The client, symmetrically, never holds the file's bytes: once the header is read it has
//! the reactor receive the rest straight into the part file ([`crate::Context::recv_file`],
//! `splice(2)` on Linux), and [`PartFile`] hashes them back from the file, mostly on a helper
//! thread.

pub mod auth;
pub mod checksum;
pub mod classic;
pub mod client;
mod part;
pub mod paths;
pub mod server;
pub mod sink;
mod tree;
pub mod wire;

pub use auth::Secret;
pub use classic::ClassicServer;
pub use client::{GetClient, Mode, Outcome, Progress};
pub use part::PartFile;
pub use paths::Root;
pub use server::FileServer;
pub use sink::{Hashed, Sink};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod server_tests;
