//! Each peer's receive size, as set by its `C <size>` message.
//!
//! The classic server has one `bufferSize` for everyone, because it served one client at
//! a time; here one client's calibration must not truncate another's probes, so the size
//! is kept per peer address. A peer that never calibrated gets the classic 1024. The table
//! is bounded: beyond `cap` peers the oldest calibration is forgotten (that peer falls
//! back to 1024), so a flood of spoofed `C` messages cannot grow memory.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

pub struct RecvSizes {
    sizes: HashMap<SocketAddr, usize>,
    /// Peers in the order they first calibrated; each appears once.
    order: VecDeque<SocketAddr>,
    cap: usize,
    default: usize,
}

impl RecvSizes {
    pub fn new(default: usize, cap: usize) -> RecvSizes {
        RecvSizes { sizes: HashMap::new(), order: VecDeque::new(), cap: cap.max(1), default }
    }

    pub fn get(&self, peer: &SocketAddr) -> usize {
        self.sizes.get(peer).copied().unwrap_or(self.default)
    }

    pub fn set(&mut self, peer: SocketAddr, size: usize) {
        if let Some(old) = self.sizes.get_mut(&peer) {
            *old = size;
            return;
        }
        if self.sizes.len() >= self.cap
            && let Some(oldest) = self.order.pop_front()
        {
            self.sizes.remove(&oldest);
        }
        self.sizes.insert(peer, size);
        self.order.push_back(peer);
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn per_peer_with_a_default_and_a_bound() {
        let mut s = RecvSizes::new(1024, 2);
        assert_eq!(s.get(&peer(1)), 1024);
        s.set(peer(1), 16);
        s.set(peer(2), 32);
        s.set(peer(1), 17);
        assert_eq!((s.get(&peer(1)), s.get(&peer(2)), s.len()), (17, 32, 2));
        s.set(peer(3), 48);
        assert_eq!(s.len(), 2, "bounded");
        assert_eq!(s.get(&peer(1)), 1024, "the oldest calibration is forgotten");
        assert_eq!((s.get(&peer(2)), s.get(&peer(3))), (32, 48));
    }
}
