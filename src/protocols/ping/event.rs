//! What the ping client tells its user as a run goes, and how ping(8) would print it:
//! `64 bytes from 127.0.0.1:8080: seq=1 time=0.123 ms`, `no answer yet for seq=2`.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// How a reply relates to its probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    OnTime,
    /// After the probe's window closed: the probe stays lost.
    Late,
    Duplicate,
}

/// What the client tells its user as the run goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start {
        to: SocketAddr,
        size: usize,
    },
    Calibrated {
        bytes: usize,
    },
    NotCalibrated {
        waited: Duration,
    },
    Reply {
        seq: u64,
        bytes: usize,
        from: SocketAddr,
        rtt: Duration,
        kind: ReplyKind,
    },
    NoAnswer {
        seq: u64,
    },
    /// The first reply without a sequence number (a classic server).
    ClassicReplies,
    /// A datagram that answers no probe.
    Unmatched {
        bytes: usize,
        from: SocketAddr,
    },
}

/// ping(8)'s precision: three significant digits, down to the microsecond.
pub fn ms_text(d: Duration) -> String {
    let ms = d.as_nanos() as f64 / 1e6;
    if ms >= 99.95 {
        format!("{ms:.0}")
    } else if ms >= 9.995 {
        format!("{ms:.1}")
    } else if ms >= 0.9995 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Start { to, size } => write!(f, "PING {to}: {size} bytes per probe"),
            Event::Calibrated { bytes } => {
                write!(f, "receive size calibrated at the server ({bytes}-byte answer)")
            }
            Event::NotCalibrated { waited } => {
                write!(f, "no answer to the calibration within {}: probing anyway", ms_text(*waited) + " ms")
            }
            Event::Reply { seq, bytes, from, rtt, kind } => {
                write!(f, "{bytes} bytes from {from}: seq={seq} time={} ms", ms_text(*rtt))?;
                match kind {
                    ReplyKind::OnTime => Ok(()),
                    ReplyKind::Late => f.write_str(" (late: counted as lost)"),
                    ReplyKind::Duplicate => f.write_str(" (DUP!)"),
                }
            }
            Event::NoAnswer { seq } => write!(f, "no answer yet for seq={seq}"),
            Event::ClassicReplies => f.write_str(
                "note: the replies carry no sequence number (a classic server?): each is taken for the \
                 latest probe's, as the classic client does, so a late reply cannot be told apart",
            ),
            Event::Unmatched { bytes, from } => {
                write!(f, "{bytes} bytes from {from}: answers no probe (ignored)")
            }
        }
    }
}
