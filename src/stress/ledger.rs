//! The books of a conversation: for every message in flight, who still owes it a delivery
//! (and whether the server still owes its acknowledgement); for every receiver, the next
//! message it expects from each sender.
//!
//! A sender keeps `pipeline` slots; message `seq` holds slot `seq % pipeline` from its send
//! until every delivery and acknowledgement it is owed has come, which is also when its
//! sender may use the slot again (closed loop: the next message once the last reached
//! everyone). So the books are fixed in size: nothing is allocated per message.
//!
//! The server promises each receiver a sender's messages in the order sent, so a receiver
//! needs one number per sender. A message past the expected one means the ones between were
//! skipped: they are counted missing at once (and no longer owed, so a closed loop does not
//! wait for them forever). A message before it has come already (a duplicate), or comes
//! after a later one (out of order): the last few gaps of the run are remembered to tell
//! the two apart.

use super::errors::Errors;

/// The gaps remembered to tell a late message from a repeated one. Gaps are errors, so this
/// is only ever searched on a path that is already wrong.
const GAPS_KEPT: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    busy: bool,
    seq: u64,
    /// Latency counts from here: the send, or when the send was due (open loop).
    reference_ns: u64,
    /// Deliveries still owed.
    owed: u32,
    /// The acknowledgement is still owed.
    ack: bool,
}

/// Messages `lo..hi` from the sender in `column` never reached `receiver` in order.
#[derive(Clone, Copy, Debug)]
struct Gap {
    receiver: u32,
    column: u32,
    lo: u64,
    hi: u64,
    /// How many of them have come late since.
    late: u64,
}

/// What one delivery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// From the message's reference time; `None` for a delivery that is an error.
    pub(crate) latency_ns: Option<u64>,
    /// A message of the sender's is complete: the sender may have room for the next.
    pub(crate) freed: bool,
}

pub(crate) struct Ledger {
    pipeline: usize,
    /// Columns per receiver: senders a receiver hears from.
    width: usize,
    /// `pipeline` per sender.
    slots: Vec<Slot>,
    /// `width` per receiver: the next sequence number expected.
    expected: Vec<u32>,
    gaps: Vec<Gap>,
}

impl Ledger {
    pub(crate) fn new(senders: usize, receivers: usize, width: usize, pipeline: u32) -> Ledger {
        let pipeline = pipeline.max(1) as usize;
        Ledger {
            pipeline,
            width,
            slots: vec![Slot::default(); senders * pipeline],
            expected: vec![0; receivers * width],
            gaps: Vec::new(),
        }
    }

    fn slot(&mut self, sender: u32, seq: u64) -> Option<&mut Slot> {
        let i = sender as usize * self.pipeline + (seq % self.pipeline as u64) as usize;
        self.slots.get_mut(i)
    }

    /// Whether `sender` may send message `seq` now.
    pub(crate) fn has_room(&mut self, sender: u32, seq: u64) -> bool {
        self.slot(sender, seq).is_some_and(|s| !s.busy)
    }

    /// Message `seq` went out, owed `owed` deliveries (and an acknowledgement if `ack`).
    pub(crate) fn open(&mut self, sender: u32, seq: u64, reference_ns: u64, owed: u32, ack: bool) {
        if let Some(s) = self.slot(sender, seq) {
            *s = Slot { busy: owed > 0 || ack, seq, reference_ns, owed, ack };
        }
    }

    /// Message `seq` of `sender` (heard in `column`) reached `receiver`.
    pub(crate) fn deliver(
        &mut self,
        receiver: u32,
        column: u32,
        sender: u32,
        seq: u64,
        now_ns: u64,
        errors: &mut Errors,
    ) -> Delivery {
        let Some(i) = self.cell(receiver, column) else { return Delivery::default() };
        let expected = u64::from(self.expected[i]);
        if seq < expected {
            self.late_or_repeated(receiver, column, seq, errors);
            return Delivery::default();
        }
        let Ok(next) = u32::try_from(seq + 1) else { return Delivery::default() };
        self.expected[i] = next;
        let mut freed = false;
        if seq > expected {
            errors.missing += seq - expected;
            self.remember(Gap { receiver, column, lo: expected, hi: seq, late: 0 });
            // Only the last `pipeline` can still be in flight.
            for skipped in expected.max(seq.saturating_sub(self.pipeline as u64))..seq {
                freed |= self.settle_one(sender, skipped, |_| {});
            }
        }
        let mut latency_ns = None;
        freed |=
            self.settle_one(sender, seq, |slot| latency_ns = Some(now_ns.saturating_sub(slot.reference_ns)));
        Delivery { latency_ns, freed }
    }

    /// Takes one owed delivery off message `seq`, calling `f` if it was owed; returns
    /// whether that completed the message.
    fn settle_one(&mut self, sender: u32, seq: u64, f: impl FnOnce(&Slot)) -> bool {
        match self.slot(sender, seq) {
            Some(slot) if slot.busy && slot.seq == seq && slot.owed > 0 => {
                slot.owed -= 1;
                f(slot);
                slot.busy = slot.owed > 0 || slot.ack;
                !slot.busy
            }
            _ => false,
        }
    }

    fn cell(&self, receiver: u32, column: u32) -> Option<usize> {
        let column = column as usize;
        (column < self.width)
            .then(|| receiver as usize * self.width + column)
            .filter(|&i| i < self.expected.len())
    }

    fn remember(&mut self, gap: Gap) {
        if self.gaps.len() == GAPS_KEPT {
            self.gaps.remove(0);
        }
        self.gaps.push(gap);
    }

    fn late_or_repeated(&mut self, receiver: u32, column: u32, seq: u64, errors: &mut Errors) {
        let gap = self.gaps.iter_mut().rev().find(|g| {
            g.receiver == receiver
                && g.column == column
                && (g.lo..g.hi).contains(&seq)
                && g.late < g.hi - g.lo
        });
        match gap {
            Some(gap) => {
                gap.late += 1;
                errors.missing = errors.missing.saturating_sub(1);
                errors.out_of_order += 1;
            }
            None => errors.duplicated += 1,
        }
    }

    /// The acknowledgement of message `seq` of `sender` came. Returns whether it completed
    /// the message, or `None` if no such acknowledgement was owed.
    pub(crate) fn ack(&mut self, sender: u32, seq: u64) -> Option<bool> {
        let slot = self.slot(sender, seq).filter(|s| s.busy && s.seq == seq && s.ack)?;
        slot.ack = false;
        slot.busy = slot.owed > 0;
        Some(!slot.busy)
    }

    /// `receiver` is gone: what it was still owed by the sender in `column` (messages up to
    /// `sent`) is lost. Returns whether that completed one of the sender's messages.
    pub(crate) fn forget_receiver(
        &mut self,
        receiver: u32,
        column: u32,
        sender: u32,
        sent: u64,
        errors: &mut Errors,
    ) -> bool {
        let Some(i) = self.cell(receiver, column) else { return false };
        let from = u64::from(self.expected[i]).max(sent.saturating_sub(self.pipeline as u64));
        let mut freed = false;
        for seq in from..sent {
            let mut owed = false;
            freed |= self.settle_one(sender, seq, |_| owed = true);
            errors.lost_deliveries += u64::from(owed);
        }
        freed
    }

    /// `sender` is gone: the acknowledgements it was owed are lost with its connection.
    pub(crate) fn forget_acks(&mut self, sender: u32, errors: &mut Errors) {
        let start = sender as usize * self.pipeline;
        for slot in self.slots.iter_mut().skip(start).take(self.pipeline) {
            if slot.busy && slot.ack {
                slot.ack = false;
                slot.busy = slot.owed > 0;
                errors.lost_deliveries += 1;
            }
        }
    }

    /// Deliveries and acknowledgements still owed.
    pub(crate) fn owed(&self) -> u64 {
        self.slots.iter().filter(|s| s.busy).map(|s| u64::from(s.owed) + u64::from(s.ack)).sum()
    }

    /// Nothing more will come: whatever is still owed is lost.
    pub(crate) fn close_books(&mut self, errors: &mut Errors) {
        errors.lost_deliveries += self.owed();
        for slot in &mut self.slots {
            slot.busy = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two senders, three receivers hearing both (columns = senders), pipeline 2.
    fn books() -> Ledger {
        Ledger::new(2, 3, 2, 2)
    }

    #[test]
    fn a_message_is_complete_when_every_receiver_has_it() {
        let (mut l, mut e) = (books(), Errors::default());
        assert!(l.has_room(0, 0));
        l.open(0, 0, 100, 2, false);
        assert!(!l.has_room(0, 0) && l.has_room(0, 1));
        let d = l.deliver(1, 0, 0, 0, 150, &mut e);
        assert_eq!(d, Delivery { latency_ns: Some(50), freed: false });
        let d = l.deliver(2, 0, 0, 0, 170, &mut e);
        assert_eq!(d, Delivery { latency_ns: Some(70), freed: true });
        assert!(l.has_room(0, 0) && l.has_room(0, 2));
        assert_eq!(e, Errors::default());
    }

    #[test]
    fn a_skip_is_missing_at_once_and_frees_the_sender() {
        let (mut l, mut e) = (books(), Errors::default());
        l.open(0, 0, 0, 1, false);
        l.open(0, 1, 0, 1, false);
        let d = l.deliver(1, 0, 0, 1, 10, &mut e);
        assert!(d.freed && d.latency_ns.is_some());
        assert_eq!(e.missing, 1);
        assert!(l.has_room(0, 2) && l.has_room(0, 3), "nothing is owed any more");
        let late = l.deliver(1, 0, 0, 0, 20, &mut e);
        assert_eq!(late, Delivery::default());
        assert_eq!((e.missing, e.out_of_order, e.duplicated), (0, 1, 0), "late, not lost");
        l.deliver(1, 0, 0, 0, 30, &mut e);
        assert_eq!((e.missing, e.out_of_order, e.duplicated), (0, 1, 1), "then a repeat");
    }

    #[test]
    fn acks_and_deliveries_both_complete_a_message() {
        let (mut l, mut e) = (books(), Errors::default());
        l.open(1, 0, 0, 1, true);
        assert_eq!(l.ack(1, 0), Some(false));
        assert_eq!(l.ack(1, 0), None, "one acknowledgement per message");
        assert!(l.deliver(0, 1, 1, 0, 5, &mut e).freed);
        l.open(1, 1, 0, 1, true);
        assert!(!l.deliver(0, 1, 1, 1, 5, &mut e).freed);
        assert_eq!(l.ack(1, 1), Some(true));
    }

    #[test]
    fn a_receiver_gone_loses_what_it_was_owed() {
        let (mut l, mut e) = (books(), Errors::default());
        l.open(0, 0, 0, 2, false);
        l.open(0, 1, 0, 2, false);
        l.deliver(1, 0, 0, 0, 1, &mut e);
        l.deliver(2, 0, 0, 0, 1, &mut e);
        l.deliver(2, 0, 0, 1, 1, &mut e);
        assert!(l.forget_receiver(1, 0, 0, 2, &mut e), "message 1 is no longer owed");
        assert_eq!(e.lost_deliveries, 1);
    }

    #[test]
    fn what_is_owed_at_the_close_is_lost() {
        let (mut l, mut e) = (books(), Errors::default());
        l.open(0, 0, 0, 2, false);
        l.open(1, 0, 0, 2, true);
        l.deliver(1, 0, 0, 0, 1, &mut e);
        assert_eq!(l.owed(), 4);
        l.close_books(&mut e);
        assert_eq!((e.lost_deliveries, l.owed()), (4, 0));
        let mut l = books();
        l.open(0, 0, 0, 0, true);
        l.forget_acks(0, &mut e);
        assert_eq!(e.lost_deliveries, 5);
    }
}
