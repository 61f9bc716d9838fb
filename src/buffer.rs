//! The per-connection output queue.
//!
//! Bytes only land here when the socket would not take them at once ("write first, queue
//! the rest"). When the queue empties its allocation is released, so an idle connection
//! owns no heap buffer at all.

use std::io;

#[derive(Default)]
pub(crate) struct OutBuf {
    buf: Vec<u8>,
    head: usize,
}

impl OutBuf {
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Writes queued bytes until the queue is empty or the writer would block.
    /// Returns how many bytes went out; `WouldBlock` is not an error here.
    pub(crate) fn flush_to(&mut self, mut w: impl io::Write) -> io::Result<usize> {
        let mut written = 0;
        while self.head < self.buf.len() {
            match w.write(&self.buf[self.head..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.head += n;
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.head == self.buf.len() {
            *self = OutBuf::default();
        }
        Ok(written)
    }
}

/// Writes as much of `bytes` as the writer takes without blocking; returns the count.
pub(crate) fn write_now(mut w: impl io::Write, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match w.write(&bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call and then blocks.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
        calls_left: usize,
    }

    impl io::Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let n = b.len().min(self.cap);
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_flushes_keep_order_and_release_memory_when_empty() {
        let mut q = OutBuf::default();
        q.push(b"hello ");
        q.push(b"world");
        let mut w = Trickle { got: vec![], cap: 4, calls_left: 1 };
        assert_eq!(q.flush_to(&mut w).unwrap(), 4);
        assert_eq!(q.len(), 7);
        q.push(b"!");
        w.calls_left = 100;
        assert_eq!(q.flush_to(&mut w).unwrap(), 8);
        assert_eq!(w.got, b"hello world!");
        assert!(q.is_empty());
        assert_eq!(q.buf.capacity(), 0, "an empty queue owns no heap memory");
    }
}
