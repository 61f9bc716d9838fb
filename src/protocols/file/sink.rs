//! Where a download's bytes go, and the checksum of everything stored there.
//!
//! [`Hashed`] hashes on the way, in the caller's thread: simple, and what the tests use.
//! [`PartFile`] is what `sockloop get` uses: the bytes go to the file, and a copy of each
//! write goes to a helper thread that hashes it, so hashing (about a fifth of a client's
//! work at loopback speed) can run on another core while the loop receives and writes.
//! Memory stays bounded: at most four buffers of one read each are in flight, and a writer
//! that gets that far ahead waits for the helper (blocking, bounded, acceptable in a
//! client). A resumed part's bytes are read back and hashed by the helper first.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Stores a file's bytes in order and knows the BLAKE3 of all it holds.
pub trait Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The checksum of everything stored (resumed bytes included). Called once, at the end.
    fn checksum(&mut self) -> io::Result<blake3::Hash>;
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

/// A part file, hashed by a helper thread that is handed a copy of each write.
pub struct PartFile {
    file: File,
    /// Buffers full of written bytes, to the helper (`None` once the end was told).
    full: Option<SyncSender<Vec<u8>>>,
    /// Buffers the helper is done with, back for reuse.
    empty: Receiver<Vec<u8>>,
    allocated: usize,
    helper: Option<JoinHandle<io::Result<blake3::Hash>>>,
}

/// Buffers in flight at most: memory is this many reads' worth, and a writer that gets
/// this far ahead of the helper waits for it.
const BUFFERS: usize = 4;

impl PartFile {
    /// `file` must be open for reading and writing, positioned at its end (append mode
    /// works); the helper hashes its `len` bytes already there first.
    pub fn new(file: File, len: u64) -> io::Result<PartFile> {
        let (full, full_rx) = sync_channel::<Vec<u8>>(BUFFERS);
        let (empty_tx, empty) = sync_channel(BUFFERS);
        let reader = file.try_clone()?;
        let helper = std::thread::Builder::new().name("hash-part".into()).spawn(move || {
            let mut hasher = hash_prefix(&reader, len)?;
            for buf in full_rx {
                hasher.update(&buf);
                let _ = empty_tx.send(buf);
            }
            Ok(hasher.finalize())
        })?;
        Ok(PartFile { file, full: Some(full), empty, allocated: 0, helper: Some(helper) })
    }

    fn join(&mut self) -> io::Result<blake3::Hash> {
        self.full = None; // the helper's loop ends once it has hashed what it was sent
        match self.helper.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the hashing thread panicked")),
            None => Err(io::Error::other("the hashing thread is gone")),
        }
    }
}

impl Sink for PartFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        let gone = || io::Error::other("the hashing thread stopped");
        let mut buf = match self.empty.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.allocated < BUFFERS => {
                self.allocated += 1;
                Vec::with_capacity(bytes.len())
            }
            Err(_) => self.empty.recv().map_err(|_| gone())?,
        };
        buf.clear();
        buf.extend_from_slice(bytes);
        self.full.as_ref().ok_or_else(gone)?.send(buf).map_err(|_| gone())
    }

    fn checksum(&mut self) -> io::Result<blake3::Hash> {
        self.join()
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.helper.is_some() {
            let _ = self.join();
        }
    }
}

/// The bytes already in a resumed part, read back in bounded chunks.
fn hash_prefix(file: &File, len: u64) -> io::Result<blake3::Hasher> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    let mut pos = 0;
    while pos < len {
        let want = (len - pos).min(buf.len() as u64) as usize;
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the part file got shorter"));
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn the_helper_hashes_the_part_already_there_and_everything_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("part");
        std::fs::write(&path, b"resumed ").expect("write");
        let file = OpenOptions::new().read(true).append(true).open(&path).expect("open");
        let mut sink = PartFile::new(file, 8).expect("part file");
        let mut all = b"resumed ".to_vec();
        for i in 0..300u32 {
            let chunk = vec![(i % 256) as u8; 7000 + i as usize];
            sink.write_all(&chunk).expect("write");
            all.extend_from_slice(&chunk);
        }
        assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all));
        assert_eq!(std::fs::read(&path).expect("read"), all);
    }

    #[test]
    fn an_abandoned_part_file_stops_its_helper() {
        let file = tempfile::tempfile().expect("temp file");
        let mut sink = PartFile::new(file, 0).expect("part file");
        sink.write_all(b"partial").expect("write");
        drop(sink); // joins the helper: the test would hang here if it did not stop
    }

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
