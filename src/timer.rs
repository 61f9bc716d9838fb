//! Timers: a binary min-heap of deadlines with lazy cancellation.
//!
//! Setting and firing are O(log n); cancelling is O(1) (the heap entry stays behind and is
//! skipped when it surfaces). The reactor asks for the earliest deadline to size its poll
//! timeout, so there is no per-turn scan and no busy loop.

use crate::id::TimerId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

pub(crate) struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: HashMap<u64, T>,
    next_id: u64,
}

impl<T> Timers<T> {
    pub(crate) fn new() -> Self {
        Timers { heap: BinaryHeap::new(), live: HashMap::new(), next_id: 0 }
    }

    pub(crate) fn set(&mut self, deadline: Instant, what: T) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse((deadline, id)));
        self.live.insert(id, what);
        TimerId(id)
    }

    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<T> {
        let what = self.live.remove(&id.0);
        if self.live.is_empty() {
            self.heap.clear();
        }
        what
    }

    /// The earliest deadline of a timer that is still live.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek() {
            if self.live.contains_key(id) {
                return Some(*deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer whose deadline is at or before `now`, earliest first.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(TimerId, T)> {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if let Some(what) = self.live.remove(&id) {
                return Some((TimerId(id), what));
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.set(t0 + Duration::from_millis(30), "c");
        let b = t.set(t0 + Duration::from_millis(20), "b");
        t.set(t0 + Duration::from_millis(10), "a");
        assert_eq!(t.cancel(b), Some("b"));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(t.pop_expired(t0).is_none());
        let fired: Vec<_> =
            std::iter::from_fn(|| t.pop_expired(t0 + Duration::from_secs(1))).map(|x| x.1).collect();
        assert_eq!(fired, ["a", "c"]);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn equal_deadlines_fire_in_the_order_they_were_set() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        for i in 0..5 {
            t.set(t0, i);
        }
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_expired(t0)).map(|x| x.1).collect();
        assert_eq!(fired, [0, 1, 2, 3, 4]);
    }
}
