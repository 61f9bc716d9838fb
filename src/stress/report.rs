//! What a run found, as one value: printed for people (`Display`, in the shapes wrk and
//! iperf3 made familiar) or as one JSON document for scripts (`to_json`). The exit status
//! follows [`Report::is_success`]: any counted error fails the run.

use super::errors::Errors;
use super::histogram::{Percentiles, human_us};
use super::options::{FrameHeader, StressProtocol};
use super::series::Interval;
use super::shares::Shares;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

/// What was asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setup {
    pub protocol: StressProtocol,
    pub target: SocketAddr,
    pub clients: u32,
    /// Bytes per message: echo's payload, framed's payload, chat's and relay's text.
    pub size: usize,
    /// framed: the header format.
    pub header: Option<FrameHeader>,
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
    /// Replies per second of each connection over the measured window: whether every
    /// client was served alike. `None` for greet and the conversations.
    pub per_connection: Option<Shares>,
    pub errors: Errors,
    pub error_count: u64,
    /// Replies still in flight when the run ended (cut off by the end; not errors).
    pub in_flight_at_end: u64,
    pub intervals: Vec<Interval>,
    /// Conversations (chat, relay): `messages` above are deliveries, one per message per
    /// receiver, each timed from its send to its arrival; this says what was sent.
    pub fanout: Option<FanOut>,
}

/// What a conversation (chat, relay) sent, and how it set up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FanOut {
    /// How long until every client had registered its name (or given up): left out of the
    /// figures, which begin after it.
    pub setup_secs: f64,
    /// Clients that registered.
    pub ready: u64,
    /// Messages sent after the warm-up.
    pub sent: u64,
    pub sent_per_sec: f64,
    /// Deliveries each message was owed when the run began: the other members of a chat
    /// room, the partner in relay.
    pub audience: u64,
    /// Relay's `200` acknowledgements received after the warm-up.
    pub acks: u64,
    /// How long the load waited after the run for what was still in flight: until all of
    /// it had come, or nothing more came for a second (what had not come by then is lost).
    pub waited_secs: f64,
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
        let who = match s.protocol {
            StressProtocol::Chat => format!("{} members", s.clients),
            StressProtocol::Relay => format!("{} clients in pairs", s.clients),
            _ => format!("{} clients", s.clients),
        };
        let what = match s.protocol {
            StressProtocol::Echo => format!("{}-byte messages, pipeline {}", s.size, s.pipeline),
            StressProtocol::Greet => "one greeting per connection".to_string(),
            StressProtocol::Framed => {
                let header = s.header.unwrap_or_default();
                format!("{}-byte payloads, {} header, pipeline {}", s.size, header.name(), s.pipeline)
            }
            StressProtocol::Chat | StressProtocol::Relay => {
                format!("{}-byte texts, pipeline {}", s.size, s.pipeline)
            }
        };
        let pace = match s.rate {
            Some(rate) => format!("open loop at {rate} msgs/s"),
            None if s.protocol.is_conversation() => {
                "closed loop (the next message once the last reached everyone)".to_string()
            }
            None => "closed loop".to_string(),
        };
        let warmup =
            if s.warmup_secs > 0.0 { format!(" after {} s warm-up", s.warmup_secs) } else { String::new() };
        format!("{} {}: {who}, {what}, {pace}, {} s{warmup}", s.protocol.name(), s.target, s.duration_secs)
    }
}

impl Report {
    fn fmt_fanout(&self, f: &mut fmt::Formatter<'_>, fan: &FanOut) -> fmt::Result {
        let members = if self.setup.protocol == StressProtocol::Chat { "members" } else { "clients" };
        writeln!(
            f,
            "Set-up        {} {members} registered in {:.2} s (not measured)",
            fan.ready, fan.setup_secs
        )?;
        let acks = if self.setup.protocol == StressProtocol::Relay {
            format!(", {} acknowledged", fan.acks)
        } else {
            String::new()
        };
        writeln!(
            f,
            "Sent          {} messages in {:.2} s: {:.0} msgs/s, each for {} receiver{}{acks}",
            fan.sent,
            self.measured_secs,
            fan.sent_per_sec,
            fan.audience,
            if fan.audience == 1 { "" } else { "s" }
        )?;
        writeln!(
            f,
            "Deliveries    {}: {:.0} deliveries/s, {}/s received, {} sent",
            self.messages,
            self.msgs_per_sec,
            human_bytes(self.bytes_per_sec),
            human_bytes(self.bytes_sent as f64)
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

/// One iperf3-style line: `[  1.00-2.00 sec]  msgs/s 123456  bytes/s ...  p99 ...`
/// (`deliv/s` for a conversation, whose messages are deliveries).
pub(crate) fn interval_line(iv: &Interval, unit: &str) -> String {
    format!(
        "[{:>6.2}-{:.2} sec]  {unit} {:>8.0}  bytes/s {:>9}  p50 {:>7}  p99 {:>7}  max {:>7}  open {}{}",
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
            let unit = if self.fanout.is_some() { "deliv/s" } else { "msgs/s" };
            writeln!(f, "{}", interval_line(iv, unit))?;
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
        match &self.fanout {
            None => writeln!(
                f,
                "Messages      {} in {:.2} s: {:.0} msgs/s, {}/s received, {} sent",
                self.messages,
                self.measured_secs,
                self.msgs_per_sec,
                human_bytes(self.bytes_per_sec),
                human_bytes(self.bytes_sent as f64)
            )?,
            Some(fan) => self.fmt_fanout(f, fan)?,
        }
        let to = if self.fanout.is_some() { " to each receiver" } else { "" };
        writeln!(
            f,
            "Latency       {}  (from {} time{to})",
            percentiles_line(&self.latency),
            self.latency_from
        )?;
        if let Some(s) = &self.per_connection {
            writeln!(
                f,
                "Fairness      msgs/s per connection: min {:.1}  p1 {:.1}  p50 {:.1}  max {:.1}  (Jain's index {:.3}; 1 = all alike)",
                s.min, s.p1, s.p50, s.max, s.jain_index
            )?;
        }
        if self.in_flight_at_end > 0 {
            let what = match self.setup.protocol {
                StressProtocol::Chat => "deliveries",
                StressProtocol::Relay => "deliveries and acknowledgements",
                _ => "replies",
            };
            let after = match &self.fanout {
                Some(fan) => format!("checked as they came in the next {:.2} s", fan.waited_secs),
                None => "not errors".to_string(),
            };
            writeln!(f, "In flight     {} {what} when the run ended ({after})", self.in_flight_at_end)?;
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
                header: None,
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
            per_connection: Shares::of(vec![4.0, 6.0]),
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
            fanout: None,
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
        assert!(text.contains(
            "Fairness      msgs/s per connection: min 4.0  p1 4.0  p50 4.0  max 6.0  (Jain's index 0.962; 1 = all alike)"
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
        assert_eq!(v["per_connection"]["min"], 4.0);
        assert_eq!(v["errors"]["connect"]["refused"], 0);
        assert_eq!(v["intervals"][1]["msgs_per_sec"], 10.0);
        assert_eq!(v["intervals"][0]["omitted"], true);
    }

    #[test]
    fn a_conversation_reports_what_was_sent_and_delivered() {
        let mut r = sample();
        r.setup.protocol = StressProtocol::Chat;
        r.setup.clients = 3;
        r.fanout = Some(FanOut {
            setup_secs: 0.25,
            ready: 3,
            sent: 5,
            sent_per_sec: 5.0,
            audience: 2,
            acks: 0,
            waited_secs: 0.0,
        });
        let text = r.to_string();
        assert!(text.starts_with("chat 127.0.0.1:7000: 3 members, 64-byte texts"), "{text}");
        assert!(text.contains("Set-up        3 members registered in 0.25 s (not measured)"), "{text}");
        assert!(
            text.contains("Sent          5 messages in 1.00 s: 5 msgs/s, each for 2 receivers"),
            "{text}"
        );
        assert!(text.contains("Deliveries    10: 10 deliveries/s"), "{text}");
        assert!(text.contains("(from send time to each receiver)"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("valid JSON");
        assert_eq!(v["fanout"]["audience"], 2);
    }

    #[test]
    fn bytes_in_decimal_units() {
        assert_eq!(human_bytes(640.0), "640 B");
        assert_eq!(human_bytes(52_000_000.0), "52.0 MB");
        assert_eq!(human_bytes(1_500.0), "1.5 kB");
    }
}
