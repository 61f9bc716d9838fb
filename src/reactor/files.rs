//! A connection's file ranges, both ways: those queued to send (`send_file`) and the one
//! its input is going into (`recv_file`).
//!
//! Boxed together and absent unless used, so they cost an idle connection one pointer
//! (every connection has them, and 10,000 idle ones are 10,000 slab entries).

use super::recvfile::FileRecv;
use super::sendfile::FileSend;
use std::collections::VecDeque;

#[derive(Default)]
pub(crate) struct Files(Option<Box<Ranges>>);

#[derive(Default)]
struct Ranges {
    /// Ranges to send, in order.
    sends: VecDeque<FileSend>,
    receiving: Option<FileRecv>,
}

impl Files {
    /// No range queued to send.
    pub(super) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|r| r.sends.is_empty())
    }

    pub(super) fn push(&mut self, send: FileSend) {
        self.0.get_or_insert_with(Default::default).sends.push_back(send);
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut FileSend> {
        self.0.as_mut().and_then(|r| r.sends.front_mut())
    }

    pub(super) fn back_mut(&mut self) -> Option<&mut FileSend> {
        self.0.as_mut().and_then(|r| r.sends.back_mut())
    }

    /// Takes the first range to send off; the memory goes with the last range.
    pub(super) fn pop_front(&mut self) -> Option<FileSend> {
        let first = self.0.as_mut()?.sends.pop_front();
        self.free_if_unused();
        first
    }

    /// Bytes written after the ranges, waiting in memory.
    pub(super) fn queued(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.sends.iter().map(|f| f.then.len()).sum())
    }

    pub(super) fn receiving(&mut self) -> Option<&mut FileRecv> {
        self.0.as_mut().and_then(|r| r.receiving.as_mut())
    }

    pub(super) fn is_receiving(&self) -> bool {
        self.0.as_ref().is_some_and(|r| r.receiving.is_some())
    }

    pub(super) fn set_receiving(&mut self, recv: Option<FileRecv>) {
        match recv {
            Some(recv) => self.0.get_or_insert_with(Default::default).receiving = Some(recv),
            None => {
                if let Some(r) = self.0.as_mut() {
                    r.receiving = None;
                }
                self.free_if_unused();
            }
        }
    }

    fn free_if_unused(&mut self) {
        if self.0.as_ref().is_some_and(|r| r.sends.is_empty() && r.receiving.is_none()) {
            self.0 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn unused_file_ranges_are_one_pointer_and_free_their_memory_when_done() {
        assert_eq!(std::mem::size_of::<Files>(), std::mem::size_of::<usize>());
        let file = Rc::new(tempfile::tempfile().expect("temp file"));
        let mut q = Files::default();
        q.push(FileSend::new(file.clone(), 0, 1));
        q.push(FileSend::new(file.clone(), 5, 2));
        q.back_mut().expect("two ranges").then.push(b"tail");
        assert_eq!(q.queued(), 4);
        assert_eq!(q.pop_front().map(|f| f.offset), Some(0));
        assert!(!q.is_empty());
        q.set_receiving(Some(FileRecv::new(file, 0, 10)));
        assert_eq!(q.pop_front().map(|f| f.remaining), Some(2));
        assert!(q.is_empty() && q.is_receiving(), "sending done, still receiving");
        q.set_receiving(None);
        assert!(q.0.is_none(), "no allocation left behind");
    }
}
