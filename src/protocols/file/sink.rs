//! Where a download's bytes go, and the checksum of everything stored there.
//!
//! [`Hashed`] hashes on the way, in the caller's thread: simple, and what the tests use.
//! [`PartFile`] is what `sockloop get` uses: the bytes go to the file, and a helper thread
//! follows the file as it grows and hashes it back from the page cache. The loop's thread
//! then only receives and writes (as `nc` does), while hashing, about a fifth of a client's
//! work at loopback speed, runs on another core. The helper hashes from byte 0, so a resumed
//! part is hashed while the rest downloads, not before. Memory: one 1 MiB read buffer.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

/// A part file, hashed by a helper thread that trails the writes.
pub struct PartFile {
    file: File,
    written: u64,
    shared: Arc<Shared>,
    helper: Option<JoinHandle<io::Result<blake3::Hash>>>,
}

struct Shared {
    follow: Mutex<Follow>,
    wake: Condvar,
}

#[derive(Clone, Copy)]
struct Follow {
    /// Bytes in the file so far.
    written: u64,
    /// No more bytes are coming: hash up to `written` and stop.
    done: bool,
    /// The download failed: stop at once.
    abandon: bool,
    /// The helper sleeps until the file reaches this length (or the end): woken once per
    /// read buffer, not once per write, it costs few system calls.
    wake_at: Option<u64>,
}

/// The helper's read buffer, and so how far it lets the writer get ahead before waking.
const CHUNK: usize = 1 << 20;

impl PartFile {
    /// `file` must be open for reading and writing, positioned at its end (append mode
    /// works); its `len` bytes already there are hashed first.
    pub fn new(file: File, len: u64) -> io::Result<PartFile> {
        let shared = Arc::new(Shared {
            follow: Mutex::new(Follow { written: len, done: false, abandon: false, wake_at: None }),
            wake: Condvar::new(),
        });
        let reader = file.try_clone()?;
        let theirs = shared.clone();
        let helper = std::thread::Builder::new()
            .name("hash-part".into())
            .spawn(move || follow_and_hash(&reader, &theirs))?;
        Ok(PartFile { file, written: len, shared, helper: Some(helper) })
    }

    fn tell(&self, change: impl FnOnce(&mut Follow)) {
        let mut follow = lock(&self.shared.follow);
        change(&mut follow);
        if follow.wake_at.is_some_and(|at| follow.written >= at || follow.done || follow.abandon) {
            follow.wake_at = None;
            self.shared.wake.notify_one();
        }
    }
}

impl Sink for PartFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        let written = self.written;
        self.tell(|f| f.written = written);
        Ok(())
    }

    /// Waits for the helper to catch up: it trails by about one read buffer.
    fn checksum(&mut self) -> io::Result<blake3::Hash> {
        self.tell(|f| f.done = true);
        match self.helper.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the hashing thread panicked")),
            None => Err(io::Error::other("checksum asked for twice")),
        }
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(helper) = self.helper.take() {
            self.tell(|f| f.abandon = true);
            let _ = helper.join();
        }
    }
}

fn lock(m: &Mutex<Follow>) -> MutexGuard<'_, Follow> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn follow_and_hash(file: &File, shared: &Shared) -> io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; CHUNK];
    let mut pos = 0;
    loop {
        let now = {
            let mut f = lock(&shared.follow);
            while f.written == pos && !f.done && !f.abandon {
                f.wake_at = Some(pos + CHUNK as u64);
                f = shared.wake.wait(f).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            *f
        };
        if now.abandon {
            return Err(io::Error::other("abandoned"));
        }
        if now.written == pos {
            return Ok(hasher.finalize()); // done, and all of it hashed
        }
        let want = (now.written - pos).min(buf.len() as u64) as usize;
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the part file got shorter"));
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
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
