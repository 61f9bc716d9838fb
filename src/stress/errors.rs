//! Everything that went wrong, counted by kind. Nothing a run sees is silently dropped: a
//! connect that failed, a reply with a wrong byte, bytes nobody asked for, replies a closed
//! connection took with it, a connection the server ended early. Any of them makes the run a
//! failure (non-zero exit), and the kinds tell a port shortage from a server bug.

use crate::CloseReason;
use serde::Serialize;
use std::io;

/// Failed connects, by the errno that says what to do about them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectFailures {
    /// ECONNREFUSED: nothing listens there, or its backlog is full.
    pub refused: u64,
    /// ETIMEDOUT, or still pending a second or more when the run ended (the first SYN
    /// retransmission comes after one second, so such a connect has already lost packets).
    pub timed_out: u64,
    /// ECONNRESET during the handshake.
    pub reset: u64,
    /// EADDRNOTAVAIL: no free ephemeral port for this source and destination (see `--bind`).
    pub address_not_available: u64,
    pub other: u64,
}

impl ConnectFailures {
    pub(crate) fn count(&mut self, e: &io::Error) {
        let slot = match e.kind() {
            io::ErrorKind::ConnectionRefused => &mut self.refused,
            io::ErrorKind::TimedOut => &mut self.timed_out,
            io::ErrorKind::ConnectionReset => &mut self.reset,
            io::ErrorKind::AddrNotAvailable => &mut self.address_not_available,
            _ => &mut self.other,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u64 {
        self.refused + self.timed_out + self.reset + self.address_not_available + self.other
    }
}

/// Established connections that ended before the run did, by how they ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EarlyCloses {
    /// The server closed (FIN) while the client still expected to hear from it.
    pub by_peer: u64,
    /// RST or EPIPE.
    pub reset: u64,
    /// Any other socket error, or the reactor's own limits.
    pub other: u64,
}

impl EarlyCloses {
    pub(crate) fn count(&mut self, reason: CloseReason) {
        let slot = match reason {
            CloseReason::PeerClosed => &mut self.by_peer,
            CloseReason::Reset => &mut self.reset,
            _ => &mut self.other,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u64 {
        self.by_peer + self.reset + self.other
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    pub connect: ConnectFailures,
    /// Replies that arrived whole but with at least one byte not the one expected (a
    /// corrupted byte, another connection's reply, replies out of order).
    pub mismatched: u64,
    /// Connections that received bytes when no reply was due; the client cannot tell where
    /// the next reply starts, so it drops such a connection.
    pub unexpected_data: u64,
    /// Replies still outstanding when their connection closed early; in a conversation,
    /// names whose registration was never answered.
    pub lost_replies: u64,
    /// Bytes of those replies that never came (for reference; not added to the count).
    pub lost_bytes: u64,
    pub closed_early: EarlyCloses,
    /// Conversations (chat, relay): deliveries a member never got, seen when a later
    /// message from the same sender reached it first.
    pub missing: u64,
    /// A message that reached the same member again.
    pub duplicated: u64,
    /// A message that reached a member after a later one from the same sender (it was
    /// counted missing until then, and is not any more).
    pub out_of_order: u64,
    /// Deliveries and acknowledgements still owed at the end for messages sent more than a
    /// second before, or owed to a member whose connection closed early.
    pub lost_deliveries: u64,
    /// Error answers from the server: a chat `! ...` line, a relay code other than 200.
    pub refused: u64,
}

impl Errors {
    /// Every error counted once per kind it was seen as: a connection reset with three
    /// replies outstanding is one early close and three lost replies.
    pub fn count(&self) -> u64 {
        self.connect.total()
            + self.mismatched
            + self.unexpected_data
            + self.lost_replies
            + self.closed_early.total()
            + self.missing
            + self.duplicated
            + self.out_of_order
            + self.lost_deliveries
            + self.refused
    }

    /// `refused 3, mismatched 1`: the non-zero kinds, for the text report.
    pub(crate) fn describe(&self) -> String {
        let kinds = [
            ("connect refused", self.connect.refused),
            ("connect timed out", self.connect.timed_out),
            ("connect reset", self.connect.reset),
            ("connect address not available", self.connect.address_not_available),
            ("connect other", self.connect.other),
            ("mismatched replies", self.mismatched),
            ("unexpected data", self.unexpected_data),
            ("lost replies", self.lost_replies),
            ("closed early by peer", self.closed_early.by_peer),
            ("reset", self.closed_early.reset),
            ("other close", self.closed_early.other),
            ("missing deliveries", self.missing),
            ("duplicated deliveries", self.duplicated),
            ("out-of-order deliveries", self.out_of_order),
            ("lost deliveries", self.lost_deliveries),
            ("refused by the server", self.refused),
        ];
        let parts: Vec<String> =
            kinds.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name} {n}")).collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_by_errno() {
        let mut f = ConnectFailures::default();
        for errno in
            [libc::ECONNREFUSED, libc::ETIMEDOUT, libc::ECONNRESET, libc::EADDRNOTAVAIL, libc::EHOSTUNREACH]
        {
            f.count(&io::Error::from_raw_os_error(errno));
        }
        f.count(&io::Error::from_raw_os_error(libc::ECONNREFUSED));
        let want = ConnectFailures { refused: 2, timed_out: 1, reset: 1, address_not_available: 1, other: 1 };
        assert_eq!(f, want);
        assert_eq!(f.total(), 6);
    }

    #[test]
    fn count_sums_every_kind_and_describe_names_them() {
        let mut e = Errors { mismatched: 2, lost_replies: 3, lost_bytes: 300, ..Errors::default() };
        e.closed_early.count(CloseReason::Reset);
        e.connect.count(&io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(e.count(), 7);
        assert_eq!(e.describe(), "connect refused 1, mismatched replies 2, lost replies 3, reset 1");
        assert_eq!(Errors::default().describe(), "");
    }
}
