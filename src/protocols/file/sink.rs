//! Where a download's bytes go, and the checksum of everything stored there.
//!
//! [`Hashed`] hashes on the way, in the caller's thread: simple, and what the tests use.
//! [`super::PartFile`] is what `sockloop get` uses: a file on disk, hashed block by block by
//! the loop and a helper thread.

use std::fs::File;
use std::io::{self, Write};
use std::rc::Rc;

/// Stores a file's bytes in order and knows the BLAKE3 of all it holds.
pub trait Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The checksum of everything stored (resumed bytes included). Called once, at the end.
    fn checksum(&mut self) -> io::Result<blake3::Hash>;

    /// The file and offset where the next bytes may be written by someone else, without
    /// passing through [`Sink::write_all`]: the reactor, receiving straight into the file
    /// (`Context::recv_file`). `None`: bytes come only through `write_all`.
    fn direct(&self) -> Option<(Rc<File>, u64)> {
        None
    }

    /// `n` bytes were written at the offset [`Sink::direct`] gave.
    fn landed(&mut self, _n: u64) -> io::Result<()> {
        Err(io::Error::other("this sink takes bytes only through write_all"))
    }
}

/// Any writer, hashed inline.
pub struct Hashed<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W> Hashed<W> {
    pub fn new(inner: W) -> Self {
        Hashed { inner, hasher: blake3::Hasher::new() }
    }

    /// `hasher` has already seen the bytes stored before (a resumed download).
    pub fn resuming(inner: W, hasher: blake3::Hasher) -> Self {
        Hashed { inner, hasher }
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Sink for Hashed<W> {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        Ok(())
    }

    fn checksum(&mut self) -> io::Result<blake3::Hash> {
        Ok(self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_hashing_sees_the_resumed_prefix_too() {
        let mut prefix = blake3::Hasher::new();
        prefix.update(b"hel");
        let mut sink = Hashed::resuming(Vec::new(), prefix);
        sink.write_all(b"lo").expect("write");
        assert_eq!(sink.checksum().expect("checksum"), blake3::hash(b"hello"));
        assert_eq!(sink.get_ref(), b"lo");
    }
}
