//! Replies waiting out their simulated delay, keyed by the reactor timer that will send them.
//!
//! A delayed reply is one slab entry plus one global timer whose key is the entry's index;
//! the timer owns the entry until it fires, so an index is never reused while its timer is
//! live. An entry holds the parsed header and a length, never the probe's bytes, so the
//! table's memory is `cap` small entries whatever the probes' sizes.

use super::wire::Header;
use crate::ConnId;
use slab::Slab;
use std::net::SocketAddr;

/// What to send back once the delay is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// The classic `Packet Acknowledged`.
    Classic,
    /// Our numbered reply, padded to `len`.
    Numbered(Header, usize),
}

impl Body {
    /// The reply's bytes, in `buf` (reused from reply to reply) when they must be built.
    pub fn bytes(self, buf: &mut Vec<u8>) -> &[u8] {
        match self {
            Body::Classic => super::ACK.as_bytes(),
            Body::Numbered(header, len) => {
                header.write_reply(len, buf);
                buf
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub sock: ConnId,
    pub to: SocketAddr,
    pub body: Body,
}

pub struct Pending {
    slab: Slab<Reply>,
    cap: usize,
}

impl Pending {
    pub fn new(cap: usize) -> Pending {
        Pending { slab: Slab::new(), cap }
    }

    /// Stores a reply and returns the timer key for it; `None` when the table is full.
    pub fn insert(&mut self, reply: Reply) -> Option<u64> {
        (self.slab.len() < self.cap).then(|| self.slab.insert(reply) as u64)
    }

    /// The reply whose timer fired, if the key is one of ours.
    pub fn take(&mut self, key: u64) -> Option<Reply> {
        self.slab.try_remove(usize::try_from(key).ok()?)
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}
