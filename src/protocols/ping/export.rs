//! The raw series for other tools: `--json` (one document: settings, summary, per-second
//! table, every probe) and `--csv FILE` (one row per probe, for a spreadsheet or pandas).

use super::client::PingClient;
use super::probes::{Outcome, Probe};
use super::summary::Summary;
use super::table::Second;
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;

#[derive(Serialize)]
struct Document<'a> {
    target: SocketAddr,
    size: usize,
    count: Option<u64>,
    interval_ms: f64,
    decay: f64,
    timeout_ms: Option<f64>,
    /// Replies carried no sequence number and were matched the classic way.
    classic_matching: bool,
    interrupted: bool,
    unmatched: u64,
    summary: Summary,
    seconds: Vec<Second>,
    probes: &'a [Probe],
}

pub fn json(client: &PingClient) -> String {
    let opts = client.options();
    let doc = Document {
        target: client.server(),
        size: opts.size,
        count: opts.count,
        interval_ms: opts.interval.as_secs_f64() * 1e3,
        decay: opts.decay,
        timeout_ms: opts.timeout.map(|t| t.as_secs_f64() * 1e3),
        classic_matching: client.classic(),
        interrupted: client.interrupted(),
        unmatched: client.unmatched(),
        summary: client.summary(),
        seconds: client.seconds(),
        probes: client.log().probes(),
    };
    // Numbers, strings and plain structs of them: serialising cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `seq,sent_ms,bytes,outcome,rtt_ms`; `rtt_ms` is empty for a lost probe.
pub fn write_csv(probes: &[Probe], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "seq,sent_ms,bytes,outcome,rtt_ms")?;
    for p in probes {
        let (outcome, rtt) = match p.outcome {
            Outcome::Pending => ("pending", None),
            Outcome::Replied { rtt_ns } => ("replied", Some(rtt_ns)),
            Outcome::Late { rtt_ns } => ("late", Some(rtt_ns)),
            Outcome::Lost => ("lost", None),
        };
        let rtt = rtt.map_or_else(String::new, |ns| format!("{:.6}", ns as f64 / 1e6));
        writeln!(out, "{},{:.6},{},{outcome},{rtt}", p.seq, p.sent_ns as f64 / 1e6, p.len)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_csv_row_per_probe() {
        let probes = [
            Probe { seq: 1, sent_ns: 0, len: 64, outcome: Outcome::Replied { rtt_ns: 1_234_567 } },
            Probe { seq: 2, sent_ns: 1_000_000_000, len: 64, outcome: Outcome::Lost },
        ];
        let mut out = Vec::new();
        write_csv(&probes, &mut out).expect("in memory");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "seq,sent_ms,bytes,outcome,rtt_ms\n1,0.000000,64,replied,1.234567\n2,1000.000000,64,lost,\n"
        );
    }
}
