//! The whole-file BLAKE3 in the `FILE` header: computed in bounded steps, then cached.
//!
//! With `sendfile(2)` the file's bytes never pass through our memory, so the checksum cannot
//! be computed while streaming; and it goes in the header, before the bytes. So a cold file
//! is hashed first, one chunk per turn of the loop (other clients are served in between),
//! and the result is cached under the file's identity and version, so a repeat request, or
//! a resume, starts streaming at once.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// Bytes hashed per step: large enough for BLAKE3's SIMD to run at full speed, small enough
/// (a fraction of a millisecond) not to hold up other connections.
pub const STEP: usize = 256 << 10;

/// Cached checksums at most; a full cache starts over (it only costs a re-hash).
const MAX_CACHED: usize = 4096;

/// Which file, and which version of it: a write changes the size or the modification time.
/// (A same-size rewrite within the filesystem's timestamp granularity goes unnoticed; the
/// client's check then fails, and it does not keep a bad file.)
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileKey {
    pub fn of(meta: &Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Cache(HashMap<FileKey, blake3::Hash>);

impl Cache {
    pub fn get(&self, key: &FileKey) -> Option<blake3::Hash> {
        self.0.get(key).copied()
    }

    pub fn insert(&mut self, key: FileKey, checksum: blake3::Hash) {
        if self.0.len() >= MAX_CACHED {
            self.0.clear();
        }
        self.0.insert(key, checksum);
    }
}

/// A hash in progress over the first `size` bytes of a file.
pub struct Hashing {
    hasher: blake3::Hasher,
    done: u64,
    size: u64,
}

impl Hashing {
    pub fn new(size: u64) -> Hashing {
        Hashing { hasher: blake3::Hasher::new(), done: 0, size }
    }

    /// Hashes the next chunk (at most `buf.len()` bytes) with one `pread`. Returns the
    /// checksum once the whole size is done. A file that got shorter is an error.
    pub fn step(&mut self, file: &File, buf: &mut [u8]) -> io::Result<Option<blake3::Hash>> {
        let want = (self.size - self.done).min(buf.len() as u64) as usize;
        if want > 0 {
            let n = loop {
                match file.read_at(&mut buf[..want], self.done) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file got shorter"));
            }
            self.hasher.update(&buf[..n]);
            self.done += n as u64;
        }
        Ok((self.done == self.size).then(|| self.hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepwise_hash_equals_the_one_shot_hash() {
        let mut f = tempfile::tempfile().expect("temp file");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::io::Write::write_all(&mut f, &data).expect("write");
        let mut h = Hashing::new(data.len() as u64);
        let mut buf = vec![0; 4096];
        let mut steps = 0;
        let got = loop {
            steps += 1;
            if let Some(sum) = h.step(&f, &mut buf).expect("step") {
                break sum;
            }
        };
        assert_eq!(got, blake3::hash(&data));
        assert_eq!(steps, data.len().div_ceil(4096));
        let mut short = Hashing::new(data.len() as u64 + 1);
        let mut big = vec![0; 1 << 20];
        assert!(short.step(&f, &mut big).expect("first").is_none());
        assert!(short.step(&f, &mut big).is_err(), "a file shorter than its size is an error");
        assert_eq!(Hashing::new(0).step(&f, &mut buf).expect("empty"), Some(blake3::hash(b"")));
    }
}
