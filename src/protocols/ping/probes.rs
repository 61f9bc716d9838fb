//! The log of every probe sent in a run and what became of it: the raw series the
//! summary, the per-second table, the plot and the CSV/JSON exports are all read from.
//!
//! Sequence numbers start at 1, as ping(8)'s do, and index the log, so a reply is matched
//! to its probe in O(1) however late it comes. A probe is 40 bytes: a run without
//! `--count` at the default 1 s interval grows by 3.5 MB a day; an hour at the 1 ms
//! minimum decayed interval takes 144 MB.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// Sent, and its window (the next send, or `--timeout`) is still open.
    Pending,
    /// Answered within its window.
    Replied { rtt_ns: u64 },
    /// Answered after its window had closed: lost by the classic rule, but it was not.
    Late { rtt_ns: u64 },
    /// No answer within its window (and none since).
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub seq: u64,
    /// Nanoseconds since the first probe was sent.
    pub sent_ns: u64,
    /// Bytes sent.
    pub len: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a reply turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    OnTime(u64),
    Late(u64),
    /// A second reply to a probe already answered (UDP may duplicate).
    Duplicate(u64),
    /// No probe was sent with that sequence number and send time.
    Unknown,
}

#[derive(Clone, Debug, Default)]
pub struct ProbeLog {
    probes: Vec<Probe>,
    duplicates: u64,
    /// Probes still `Pending`, kept as a count so "is anything still out?" is O(1).
    waiting: usize,
}

impl ProbeLog {
    pub fn new() -> ProbeLog {
        ProbeLog::default()
    }

    /// Records a probe sent now; returns its sequence number.
    pub fn push(&mut self, sent_ns: u64, len: usize) -> u64 {
        let seq = self.probes.len() as u64 + 1;
        self.probes.push(Probe { seq, sent_ns, len, outcome: Outcome::Pending });
        self.waiting += 1;
        seq
    }

    pub fn get(&self, seq: u64) -> Option<&Probe> {
        self.probes.get(usize::try_from(seq.checked_sub(1)?).ok()?)
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Probe> {
        self.probes.get_mut(usize::try_from(seq.checked_sub(1)?).ok()?)
    }

    pub fn last(&self) -> Option<&Probe> {
        self.probes.last()
    }

    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    pub fn len(&self) -> usize {
        self.probes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Probes whose window is still open.
    pub fn pending(&self) -> usize {
        self.waiting
    }

    /// A reply for probe `seq`, which says it was sent at `sent_ns`, arrived at `now_ns`.
    /// The send time must match too, so a stray datagram that happens to parse cannot
    /// pass for a reply.
    pub fn reply(&mut self, seq: u64, sent_ns: u64, now_ns: u64) -> Matched {
        let Some(p) = self.get_mut(seq).filter(|p| p.sent_ns == sent_ns) else { return Matched::Unknown };
        let rtt_ns = now_ns.saturating_sub(p.sent_ns);
        match p.outcome {
            Outcome::Pending => {
                p.outcome = Outcome::Replied { rtt_ns };
                self.waiting -= 1;
                Matched::OnTime(rtt_ns)
            }
            Outcome::Lost => {
                p.outcome = Outcome::Late { rtt_ns };
                Matched::Late(rtt_ns)
            }
            Outcome::Replied { .. } | Outcome::Late { .. } => {
                self.duplicates += 1;
                Matched::Duplicate(rtt_ns)
            }
        }
    }

    /// Probe `seq`'s window closed; returns whether it was still waiting (now lost).
    pub fn expire(&mut self, seq: u64) -> bool {
        match self.get_mut(seq) {
            Some(p) if p.outcome == Outcome::Pending => {
                p.outcome = Outcome::Lost;
                self.waiting -= 1;
                true
            }
            _ => false,
        }
    }

    /// The run is over: whatever still waits is lost.
    pub fn expire_all(&mut self) {
        for p in &mut self.probes {
            if p.outcome == Outcome::Pending {
                p.outcome = Outcome::Lost;
            }
        }
        self.waiting = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Probe>(), 40, "the figures in the module comment");
    }

    #[test]
    fn replies_match_their_own_probe_on_time_late_or_twice() {
        let mut log = ProbeLog::new();
        assert_eq!((log.push(0, 64), log.push(1_000, 64), log.push(2_000, 64)), (1, 2, 3));
        assert_eq!(log.reply(2, 1_000, 1_500), Matched::OnTime(500));
        assert!(log.expire(1));
        assert!(!log.expire(2), "already answered");
        assert_eq!(log.reply(1, 0, 2_500), Matched::Late(2_500), "its own RTT, not probe 3's");
        assert_eq!(log.reply(2, 1_000, 1_600), Matched::Duplicate(600));
        assert_eq!(log.reply(3, 1_999, 3_000), Matched::Unknown, "wrong send time");
        assert_eq!(log.reply(9, 0, 3_000), Matched::Unknown);
        assert_eq!(log.reply(0, 0, 3_000), Matched::Unknown);
        assert_eq!(log.pending(), 1);
        log.expire_all();
        let outcomes: Vec<Outcome> = log.probes().iter().map(|p| p.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::Late { rtt_ns: 2_500 }, Outcome::Replied { rtt_ns: 500 }, Outcome::Lost]
        );
        assert_eq!(log.duplicates(), 1);
    }
}
