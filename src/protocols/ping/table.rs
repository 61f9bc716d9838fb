//! The per-second table of the classic second experiment: for each second of the run, the
//! average throughput and the average delay.
//!
//! A probe belongs to the second it was sent in (since the first probe), so a slow reply
//! raises the delay of the second that caused it rather than of a later one. Throughput
//! counts both directions, as the classic program does: acked probes × size × 8 × 2 bits,
//! over the second's length (the last second of a run may be shorter than one second).
//! Only replies within their window count as acked; late ones were lost by the rule.

use super::probes::{Outcome, Probe};
use serde::Serialize;
use std::fmt;

const SEC_NS: u64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Second {
    /// 0 for the first second of the run.
    pub second: u64,
    pub sent: u64,
    pub acked: u64,
    pub throughput_bps: f64,
    /// Mean RTT of the acked probes; `None` when none was.
    pub avg_delay_ms: Option<f64>,
}

/// The table for a run that lasted `elapsed_ns` from the first send.
pub fn per_second(probes: &[Probe], elapsed_ns: u64) -> Vec<Second> {
    // The run lasted at least until just after its last send.
    let end_ns = probes.last().map_or(elapsed_ns, |p| elapsed_ns.max(p.sent_ns + 1));
    let seconds = end_ns.div_ceil(SEC_NS);
    let mut rows: Vec<(Second, u64, u64)> = (0..seconds)
        .map(|second| {
            let row = Second { second, sent: 0, acked: 0, throughput_bps: 0.0, avg_delay_ms: None };
            (row, 0, 0)
        })
        .collect();
    for p in probes {
        let Some((row, bytes, rtt_sum)) = rows.get_mut((p.sent_ns / SEC_NS) as usize) else { continue };
        row.sent += 1;
        if let Outcome::Replied { rtt_ns } = p.outcome {
            row.acked += 1;
            *bytes += p.len as u64;
            *rtt_sum += rtt_ns;
        }
    }
    rows.into_iter()
        .map(|(mut row, bytes, rtt_sum)| {
            let start = row.second * SEC_NS;
            let length = (end_ns.min(start + SEC_NS) - start) as f64 / 1e9;
            row.throughput_bps = (bytes * 8 * 2) as f64 / length;
            row.avg_delay_ms = (row.acked > 0).then(|| rtt_sum as f64 / row.acked as f64 / 1e6);
            row
        })
        .collect()
}

/// The table as text, one line a second.
pub struct Table<'a>(pub &'a [Second]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "second  sent  acked  throughput (bit/s)  avg delay (ms)")?;
        for s in self.0 {
            let delay = s.avg_delay_ms.map_or_else(|| "-".to_string(), |d| format!("{d:.3}"));
            writeln!(
                f,
                "{:>6}  {:>4}  {:>5}  {:>18.0}  {:>14}",
                s.second, s.sent, s.acked, s.throughput_bps, delay
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn probe(seq: u64, sent_ms: u64, outcome: Outcome) -> Probe {
        Probe { seq, sent_ns: sent_ms * MS, len: 100, outcome }
    }

    #[test]
    fn each_probe_counts_in_the_second_it_was_sent() {
        let probes = [
            probe(1, 0, Outcome::Replied { rtt_ns: 10 * MS }),
            probe(2, 500, Outcome::Replied { rtt_ns: 30 * MS }),
            probe(3, 999, Outcome::Lost),
            probe(4, 1_200, Outcome::Late { rtt_ns: 900 * MS }),
            probe(5, 2_100, Outcome::Replied { rtt_ns: 4 * MS }),
        ];
        let rows = per_second(&probes, 2_500 * MS);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].sent, rows[0].acked, rows[0].avg_delay_ms), (3, 2, Some(20.0)));
        assert_eq!(rows[0].throughput_bps, 2.0 * 100.0 * 8.0 * 2.0, "both directions");
        assert_eq!((rows[1].sent, rows[1].acked, rows[1].avg_delay_ms), (1, 0, None), "late is not acked");
        assert_eq!(rows[1].throughput_bps, 0.0);
        assert_eq!(rows[2].throughput_bps, 1600.0 / 0.5, "the last second lasted half a second");
        let text = Table(&rows).to_string();
        assert!(text.contains("     0     3      2                3200          20.000"), "{text}");
        assert!(text.contains("     1     1      0                   0               -"), "{text}");
    }

    #[test]
    fn an_empty_run_has_no_rows() {
        assert!(per_second(&[], 0).is_empty());
    }
}
