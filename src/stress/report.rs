//! What a run found, as one value: printed for people (`Display`, in the shapes wrk and
//! iperf3 made familiar) or as one JSON document for scripts (`to_json`). The exit status
//! follows [`Report::is_success`]: any counted error fails the run.

use super::errors::Errors;
use super::histogram::{Percentiles, human_us};
use super::options::StressProtocol;
use super::series::Interval;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

/// What was asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setup {
    pub protocol: StressProtocol,
    pub target: SocketAddr,
    pub clients: u32,
    /// Bytes per message (echo).
    pub size: usize,
    /// Requests in flight per connection, as used (lock-step protocols use 1).
    pub pipeline: u32,
    /// Offered load in messages per second across all connections; `None`: closed loop.
    pub rate: Option<f64>,
    pub connect_rate: Option<f64>,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    /// Source addresses connections are spread over (`--bind`); empty: the kernel's choice.
    pub bind: Vec<std::net::IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connections {
    /// Connects begun (a protocol with one exchange per connection reconnects, so this can
    /// exceed the number of clients).
    pub attempted: u64,
    pub established: u64,
    /// Failed connects of every kind (the kinds are in `errors.connect`).
    pub failed: u64,
    /// Connects the end of the run cut off less than a second after they began; not errors.
    pub abandoned: u64,
    pub peak_open: u64,
    /// How long it took until every client had connected or failed once (`--connect-rate`).
    pub ramp_secs: Option<f64>,
    pub connect_time: Percentiles,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub setup: Setup,
    /// The whole run, warm-up included.
    pub elapsed_secs: f64,
    /// The part after the warm-up, which the totals below cover.
    pub measured_secs: f64,
    pub connections: Connections,
    /// Replies completed and verified after the warm-up.
    pub messages: u64,
    pub msgs_per_sec: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Verified reply bytes per second.
    pub bytes_per_sec: f64,
    pub latency: Percentiles,
    /// `send` in closed loop; `intended send` in open loop (coordinated omission corrected).
    pub latency_from: String,
    pub errors: Errors,
    pub error_count: u64,
    /// Replies still in flight when the run ended (cut off by the end; not errors).
    pub in_flight_at_end: u64,
    pub intervals: Vec<Interval>,
}

impl Report {
    pub fn is_success(&self) -> bool {
        self.error_count == 0
    }

    pub fn to_json(&self) -> String {
        // Every field is a number, a string or a plain struct of them: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    fn describe_setup(&self) -> String {
        let s = &self.setup;
        let what = match s.protocol {
            StressProtocol::Echo => format!("{}-byte messages, pipeline {}", s.size, s.pipeline),
            StressProtocol::Greet => "one greeting per connection".to_string(),
        };
        let pace = match s.rate {
            Some(rate) => format!("open loop at {rate} msgs/s"),
            None => "closed loop".to_string(),
        };
        let warmup =
            if s.warmup_secs > 0.0 { format!(" after {} s warm-up", s.warmup_secs) } else { String::new() };
        format!(
            "{} {}: {} clients, {what}, {pace}, {} s{warmup}",
            s.protocol.name(),
            s.target,
            s.clients,
            s.duration_secs
        )
    }
}

/// `52.0 MB`: decimal units, as network rates are usually given.
fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn percentiles_line(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        human_us(p.p50_us),
        human_us(p.p90_us),
        human_us(p.p99_us),
        human_us(p.p99_9_us),
        human_us(p.max_us)
    )
}

/// One iperf3-style line: `[  1.00-2.00 sec]  msgs/s 123456  bytes/s ...  p99 ...`.
pub(crate) fn interval_line(iv: &Interval) -> String {
    format!(
        "[{:>6.2}-{:.2} sec]  msgs/s {:>8.0}  bytes/s {:>9}  p50 {:>7}  p99 {:>7}  max {:>7}  open {}{}",
        iv.start_secs,
        iv.end_secs,
        iv.msgs_per_sec,
        human_bytes(iv.bytes_per_sec),
        human_us(iv.latency.p50_us),
        human_us(iv.latency.p99_us),
        human_us(iv.latency.max_us),
        iv.open,
        if iv.omitted { "  (omitted)" } else { "" }
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.describe_setup())?;
        for iv in &self.intervals {
            writeln!(f, "{}", interval_line(iv))?;
        }
        let c = &self.connections;
        write!(
            f,
            "Connections   {} attempted, {} established, {} failed, peak {} open",
            c.attempted, c.established, c.failed, c.peak_open
        )?;
        if let Some(ramp) = c.ramp_secs {
            write!(f, ", ramped up in {ramp:.2} s")?;
        }
        if c.abandoned > 0 {
            write!(f, ", {} cut off by the end", c.abandoned)?;
        }
        writeln!(f)?;
        if c.connect_time.count > 0 {
            writeln!(f, "Connect time  {}", percentiles_line(&c.connect_time))?;
        }
        writeln!(
            f,
            "Messages      {} in {:.2} s: {:.0} msgs/s, {}/s received, {} sent",
            self.messages,
            self.measured_secs,
            self.msgs_per_sec,
            human_bytes(self.bytes_per_sec),
            human_bytes(self.bytes_sent as f64)
        )?;
        writeln!(f, "Latency       {}  (from {} time)", percentiles_line(&self.latency), self.latency_from)?;
        if self.in_flight_at_end > 0 {
            writeln!(f, "In flight     {} replies when the run ended (not errors)", self.in_flight_at_end)?;
        }
        if self.is_success() {
            writeln!(f, "Errors        none")
        } else {
            writeln!(f, "Errors        {}: {}", self.error_count, self.errors.describe())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Report {
        let latency = Percentiles {
            count: 10,
            mean_us: 150.0,
            p50_us: 120,
            p90_us: 300,
            p99_us: 900,
            p99_9_us: 1_500,
            max_us: 2_000,
        };
        Report {
            setup: Setup {
                protocol: StressProtocol::Echo,
                target: "127.0.0.1:7000".parse().expect("address"),
                clients: 2,
                size: 64,
                pipeline: 1,
                rate: None,
                connect_rate: None,
                warmup_secs: 1.0,
                duration_secs: 1.0,
                bind: Vec::new(),
            },
            elapsed_secs: 2.0,
            measured_secs: 1.0,
            connections: Connections {
                attempted: 2,
                established: 2,
                failed: 0,
                abandoned: 0,
                peak_open: 2,
                ramp_secs: None,
                connect_time: latency,
            },
            messages: 10,
            msgs_per_sec: 10.0,
            bytes_sent: 640,
            bytes_received: 640,
            bytes_per_sec: 640.0,
            latency,
            latency_from: "send".into(),
            errors: Errors::default(),
            error_count: 0,
            in_flight_at_end: 2,
            intervals: vec![
                Interval {
                    start_secs: 0.0,
                    end_secs: 1.0,
                    messages: 3,
                    msgs_per_sec: 3.0,
                    bytes_per_sec: 192.0,
                    latency,
                    open: 2,
                    omitted: true,
                },
                Interval {
                    start_secs: 1.0,
                    end_secs: 2.0,
                    messages: 10,
                    msgs_per_sec: 10.0,
                    bytes_per_sec: 640.0,
                    latency,
                    open: 2,
                    omitted: false,
                },
            ],
        }
    }

    #[test]
    fn text_has_interval_lines_totals_and_errors() {
        let text = sample().to_string();
        assert!(
            text.starts_with("echo 127.0.0.1:7000: 2 clients, 64-byte messages, pipeline 1, closed loop")
        );
        assert!(text.contains("[  0.00-1.00 sec]  msgs/s        3"), "{text}");
        assert!(text.contains("(omitted)"));
        assert!(
            text.contains("[  1.00-2.00 sec]  msgs/s       10  bytes/s     640 B  p50   120us  p99   900us")
        );
        assert!(text.contains(
            "Latency       p50 120us  p90 300us  p99 900us  p99.9 1.5ms  max 2ms  (from send time)"
        ));
        assert!(text.contains("Errors        none"));
        let mut failed = sample();
        failed.errors.mismatched = 4;
        failed.error_count = failed.errors.count();
        assert!(!failed.is_success());
        assert!(failed.to_string().contains("Errors        4: mismatched replies 4"));
    }

    #[test]
    fn json_is_one_document_with_the_numbers() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).expect("valid JSON");
        assert_eq!(v["setup"]["protocol"], "echo");
        assert_eq!(v["setup"]["target"], "127.0.0.1:7000");
        assert_eq!(v["messages"], 10);
        assert_eq!(v["latency"]["p99.9_us"], 1500);
        assert_eq!(v["errors"]["connect"]["refused"], 0);
        assert_eq!(v["intervals"][1]["msgs_per_sec"], 10.0);
        assert_eq!(v["intervals"][0]["omitted"], true);
    }

    #[test]
    fn bytes_in_decimal_units() {
        assert_eq!(human_bytes(640.0), "640 B");
        assert_eq!(human_bytes(52_000_000.0), "52.0 MB");
        assert_eq!(human_bytes(1_500.0), "1.5 kB");
    }
}
