//! A log line that may repeat once per datagram is held to one a second.
//!
//! A UDP send that fails for a reason of its own (no route, a datagram too long, an IPv6
//! address on an IPv4 socket) fails again for every datagram a protocol sends that way: a
//! relay forwarding to such a peer would write a warning per message. The first failure is
//! logged at once, later ones at most once a second, with how many were left out between.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    /// `Some(n)` when a line may be written now, `n` being how many were held back since
    /// the last one; `None` when this one is to be held back (and counted).
    pub(super) fn admit(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now.saturating_duration_since(last) < EVERY) {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_passes_then_one_a_second_with_the_count_held_back() {
        let (t0, mut t) = (Instant::now(), Throttle::default());
        assert_eq!(t.admit(t0), Some(0));
        assert_eq!(t.admit(t0 + Duration::from_millis(10)), None);
        assert_eq!(t.admit(t0 + Duration::from_millis(999)), None);
        assert_eq!(t.admit(t0 + Duration::from_millis(1000)), Some(2));
        assert_eq!(t.admit(t0 + Duration::from_millis(1500)), None);
        assert_eq!(t.admit(t0 + Duration::from_secs(5)), Some(1));
        assert_eq!(t.admit(t0 + Duration::from_secs(7)), Some(0));
    }
}
