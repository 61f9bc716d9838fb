//! The `.part` file `sockloop get` downloads into, and the BLAKE3 of what it holds.
//!
//! Hashing costs about a third of what receiving and writing do, so it is shared: the file
//! is hashed in 4 MiB blocks ([`super::tree`]), by a helper thread that reads its blocks
//! back from the file, and by the loop thread for a block that completes while the helper
//! is behind (the server or another job has the other core): from the bytes as they pass
//! when they come through [`Sink::write_all`], read back while still in the cache when the
//! reactor spliced them into the file ([`Sink::landed`]). Copying each read for the helper,
//! or waking it per read, cost the loop more than the hashing it saved; with the file as
//! the buffer between them, memory is one buffer per thread however far the helper lags,
//! and what is left to hash after the last byte is at most a couple of blocks. A resumed
//! part is read back like the rest, and the checksum covers the bytes as stored, not only
//! as received.

use super::sink::Sink;
use super::tree::{Tree, block_hasher};
use log::debug;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// A part file, hashed block by block by the loop thread and a helper that reads it back.
pub struct PartFile {
    /// Shared with the reactor, which may write into it directly ([`Sink::direct`]).
    file: Rc<File>,
    /// Bytes in the file: the resumed part and everything written since.
    len: u64,
    /// The block being filled, when the loop hashes it itself.
    ours: Option<blake3::Hasher>,
    /// Hashed blocks not yet in `tree`, by index (the loop's come before the helper's).
    done: BTreeMap<u64, blake3::Hasher>,
    /// The blocks before `next`, combined.
    tree: Tree,
    next: u64,
    /// Blocks the helper was given and has not answered.
    lent: u64,
    /// The loop hashes a new block itself when `lent` is at least this ([`LEND_AHEAD`]).
    lend_ahead: u64,
    /// Blocks the loop hashed itself, for the log.
    hashed_here: u64,
    /// The loop's buffer for reading a block back, made the first time it needs one.
    buf: Option<Vec<u8>>,
    /// To the helper: byte ranges to hash, block-aligned (`None` once it should stop).
    jobs: Option<Sender<Range<u64>>>,
    answers: Receiver<io::Result<(u64, blake3::Hasher)>>,
    /// Set when the download is abandoned: the helper stops without reading the rest.
    abandon: Arc<AtomicBool>,
    helper: Option<JoinHandle<()>>,
}

/// Bytes per block: a power of two, so each block is a BLAKE3 subtree.
const BLOCK: u64 = 4 << 20;

/// The loop hashes a new block itself when the helper has this many still to do.
const LEND_AHEAD: u64 = 2;

/// Hashed blocks the loop keeps waiting for an older one before it waits for the helper.
const MAX_WAITING: usize = 16;

/// Bytes the helper reads back per `pread`: a buffer that stays in its cache while it is
/// hashed, and large enough for BLAKE3's SIMD to run at full speed.
const CHUNK: usize = 256 << 10;

impl PartFile {
    /// `file` must be open for reading and writing, and not in append mode if the reactor
    /// is to write into it (`splice(2)` refuses such files); bytes go after its first `len`,
    /// which the helper hashes.
    pub fn new(file: File, len: u64) -> io::Result<PartFile> {
        let (jobs, todo) = channel();
        let (answer, answers) = channel();
        let abandon = Arc::new(AtomicBool::new(false));
        let reader = file.try_clone()?;
        let stop = Arc::clone(&abandon);
        let helper = std::thread::Builder::new()
            .name("hash-part".into())
            .spawn(move || hash_blocks(&reader, &todo, &answer, &stop))?;
        let mut part = PartFile {
            file: Rc::new(file),
            len,
            ours: None,
            done: BTreeMap::new(),
            tree: Tree::default(),
            next: 0,
            lent: 0,
            lend_ahead: LEND_AHEAD,
            hashed_here: 0,
            buf: None,
            jobs: Some(jobs),
            answers,
            abandon,
            helper: Some(helper),
        };
        // The whole blocks already there; a partial one is the helper's when it is full.
        let whole = len / BLOCK;
        if whole > 0 {
            part.lend(0..whole * BLOCK)?;
        }
        Ok(part)
    }

    fn lend(&mut self, range: Range<u64>) -> io::Result<()> {
        let blocks = (range.end - range.start).div_ceil(BLOCK);
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(range));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.failure());
        }
        self.lent += blocks;
        Ok(())
    }

    /// The block that ends at `self.len` is complete: into `done`, or to the helper. When
    /// the helper is behind and the loop did not see the bytes (the reactor spliced them
    /// into the file), the loop reads the block back itself: it was just written, so it is
    /// still in the cache, and a helper that lags would otherwise leave the whole backlog to
    /// hash after the last byte arrived.
    fn end_block(&mut self, start: u64) -> io::Result<()> {
        let hasher = match self.ours.take() {
            Some(hasher) => hasher,
            None if self.lent >= self.lend_ahead => {
                let buf = self.buf.get_or_insert_with(|| vec![0; CHUNK]);
                hash_range(&self.file, start..self.len, buf, &self.abandon)?
            }
            None => return self.lend(start..self.len),
        };
        self.hashed_here += 1;
        self.done.insert(start / BLOCK, hasher);
        Ok(())
    }

    /// Takes the helper's answers (waiting for one if `wait`) and moves what is now in order
    /// into the tree.
    fn collect(&mut self, mut wait: bool) -> io::Result<()> {
        while self.lent > 0 {
            let answer = if wait { self.answers.recv().ok() } else { self.answers.try_recv().ok() };
            match answer {
                Some(Ok((index, hasher))) => {
                    self.done.insert(index, hasher);
                    self.lent -= 1;
                    wait = false;
                }
                Some(Err(e)) => return Err(e),
                None if wait => return Err(self.failure()),
                None => break,
            }
        }
        while let Some(hasher) = self.done.remove(&self.next) {
            self.tree.push(hasher);
            self.next += 1;
        }
        Ok(())
    }

    fn join(&mut self) -> io::Result<()> {
        self.jobs = None; // the helper's loop ends once it has done the jobs it was given
        match self.helper.take().map(JoinHandle::join) {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(io::Error::other("the hashing thread panicked")),
            None => Err(io::Error::other("the hashing thread is gone")),
        }
    }

    /// The helper stopped early: its error, if it sent one.
    fn failure(&mut self) -> io::Error {
        match self.answers.try_recv() {
            Ok(Err(e)) => e,
            _ => self.join().err().unwrap_or_else(|| io::Error::other("the hashing thread stopped")),
        }
    }
}

impl Sink for PartFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.len)?;
        let mut rest = bytes;
        while !rest.is_empty() {
            let at = self.len % BLOCK;
            if at == 0 {
                // A new block: ours while its bytes pass through our cache, if the helper
                // is behind.
                self.ours = (self.lent >= self.lend_ahead).then(|| block_hasher(BLOCK, self.len / BLOCK));
            }
            let n = (BLOCK - at).min(rest.len() as u64) as usize;
            if let Some(hasher) = &mut self.ours {
                hasher.update(&rest[..n]);
            }
            self.len += n as u64;
            rest = &rest[n..];
            if self.len.is_multiple_of(BLOCK) {
                self.end_block(self.len - BLOCK)?;
            }
        }
        self.collect(false)?;
        while self.done.len() > MAX_WAITING && self.lent > 0 {
            self.collect(true)?;
        }
        Ok(())
    }

    fn direct(&self) -> Option<(Rc<File>, u64)> {
        Some((Rc::clone(&self.file), self.len))
    }

    /// Bytes the loop never saw: every block they touch is the helper's to read back, the
    /// one the loop was hashing included.
    fn landed(&mut self, n: u64) -> io::Result<()> {
        self.ours = None;
        let end = self.len + n;
        while self.len < end {
            self.len = (self.len - self.len % BLOCK + BLOCK).min(end);
            if self.len.is_multiple_of(BLOCK) {
                self.end_block(self.len - BLOCK)?;
            }
        }
        self.collect(false)
    }

    /// Waits for the helper's last blocks: a few MiB, unless it was starved.
    fn checksum(&mut self) -> io::Result<blake3::Hash> {
        if !self.len.is_multiple_of(BLOCK) {
            self.end_block(self.len - self.len % BLOCK)?;
        }
        while self.lent > 0 {
            self.collect(true)?;
        }
        self.collect(false)?;
        self.join()?;
        if !self.done.is_empty() {
            return Err(io::Error::other("a block of the file was not hashed"));
        }
        debug!(
            "hashed {} of {} blocks in the loop thread, the rest in the helper",
            self.hashed_here, self.next
        );
        Ok(self.tree.finalize())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.helper.is_some() {
            self.abandon.store(true, Ordering::Relaxed);
            let _ = self.join();
        }
    }
}

/// The helper: for each range it is given, hashes each block in it from the file and
/// answers with the block's index and hasher, until the sender is gone or a read fails.
fn hash_blocks(
    file: &File,
    jobs: &Receiver<Range<u64>>,
    answers: &Sender<io::Result<(u64, blake3::Hasher)>>,
    abandon: &AtomicBool,
) {
    let mut buf = vec![0; CHUNK];
    for range in jobs {
        let mut start = range.start;
        while start < range.end {
            let end = (start + BLOCK).min(range.end);
            let answer = hash_range(file, start..end, &mut buf, abandon).map(|h| (start / BLOCK, h));
            let failed = answer.is_err();
            if answers.send(answer).is_err() || failed {
                return;
            }
            start = end;
        }
    }
}

/// One block (`range.start` is where it begins), read back in bounded chunks. A file shorter
/// than the range is an error: someone else truncated it.
fn hash_range(
    file: &File,
    range: Range<u64>,
    buf: &mut [u8],
    abandon: &AtomicBool,
) -> io::Result<blake3::Hasher> {
    let mut hasher = block_hasher(BLOCK, range.start / BLOCK);
    let mut pos = range.start;
    while pos < range.end {
        if abandon.load(Ordering::Relaxed) {
            return Err(io::Error::other("the download was abandoned"));
        }
        let want = (range.end - pos).min(buf.len() as u64) as usize;
        let n = match file.read_at(&mut buf[..want], pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        };
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

    /// Bytes that differ everywhere, so a block hashed at the wrong offset shows.
    fn data(len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect()
    }

    #[test]
    fn however_the_blocks_are_shared_the_checksum_is_the_files() {
        let all = data(5 * BLOCK as usize + 12_345);
        // 0: the loop hashes every block; MAX: the helper does; between: whoever is free.
        for lend_ahead in [0, 1, 2, u64::MAX] {
            let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 0).expect("part file");
            sink.lend_ahead = lend_ahead;
            for piece in all.chunks(262_139) {
                sink.write_all(piece).expect("write");
            }
            assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all), "lend_ahead {lend_ahead}");
        }
        // Taking turns: the loop's blocks wait for the helper's older ones.
        let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 0).expect("part file");
        for (i, block) in all.chunks(BLOCK as usize).enumerate() {
            sink.lend_ahead = if i % 2 == 0 { u64::MAX } else { 0 };
            sink.write_all(block).expect("write");
        }
        assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all), "taking turns");
    }

    #[test]
    fn a_resumed_part_of_several_blocks_is_read_back_and_continued() {
        let all = data(3 * BLOCK as usize + 777);
        for (resumed, lend_ahead) in
            [(2 * BLOCK as usize + 5, 0), (BLOCK as usize, 0), (BLOCK as usize + 1, u64::MAX)]
        {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("part");
            std::fs::write(&path, &all[..resumed]).expect("write");
            let file = OpenOptions::new().read(true).append(true).open(&path).expect("open");
            let mut sink = PartFile::new(file, resumed as u64).expect("part file");
            sink.lend_ahead = lend_ahead;
            for piece in all[resumed..].chunks(100_003) {
                sink.write_all(piece).expect("write");
            }
            assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all), "resumed at {resumed}");
        }
    }

    #[test]
    fn bytes_written_into_the_file_by_someone_else_are_hashed_from_the_file() {
        let all = data(3 * BLOCK as usize + 4_321);
        // Cuts inside a block the loop is hashing (lend_ahead 0), on a block boundary, and
        // across two boundaries at once.
        let cuts = [0, 100_000, 1_500_000, BLOCK as usize, 3 * BLOCK as usize - 7, all.len()];
        for lend_ahead in [0, u64::MAX] {
            let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 0).expect("part file");
            sink.lend_ahead = lend_ahead;
            for (i, w) in cuts.windows(2).enumerate() {
                let piece = &all[w[0]..w[1]];
                if i % 2 == 0 {
                    sink.write_all(piece).expect("write");
                } else {
                    let (file, at) = sink.direct().expect("a part file takes direct writes");
                    assert_eq!(at, w[0] as u64);
                    file.write_all_at(piece, at).expect("direct write");
                    sink.landed(piece.len() as u64).expect("landed");
                }
            }
            assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all), "lend_ahead {lend_ahead}");
        }
    }

    #[test]
    fn an_empty_file_and_one_of_exactly_a_block_check_too() {
        for len in [0, BLOCK as usize] {
            let all = data(len);
            let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 0).expect("part file");
            sink.write_all(&all).expect("write");
            assert_eq!(sink.checksum().expect("checksum"), blake3::hash(&all));
        }
    }

    #[test]
    fn a_part_file_shorter_than_it_should_be_fails_the_checksum() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("part");
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path).expect("open");
        let mut sink = PartFile::new(file, 0).expect("part file");
        sink.write_all(&[7; 1000]).expect("write");
        OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(10)).expect("truncate");
        let err = sink.checksum().expect_err("ten bytes are not a thousand");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // A part that claims more than it holds fails the same way.
        let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 100).expect("part file");
        assert_eq!(sink.checksum().expect_err("nothing is there").kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_abandoned_part_file_stops_its_helper() {
        let file = tempfile::tempfile().expect("temp file");
        let mut sink = PartFile::new(file, 0).expect("part file");
        sink.write_all(b"partial").expect("write");
        drop(sink); // joins the helper: the test would hang here if it did not stop
        // And one with blocks lent to the helper, which it may be reading back.
        let mut sink = PartFile::new(tempfile::tempfile().expect("temp file"), 0).expect("part file");
        sink.lend_ahead = u64::MAX;
        sink.write_all(&data(3 * BLOCK as usize)).expect("write");
        drop(sink);
    }
}
