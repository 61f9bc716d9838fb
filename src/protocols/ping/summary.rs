//! The closing statistics, in the lines ping(8) (iputils) prints, so that eyes and scripts
//! used to ping read them without a second thought:
//!
//! ```text
//! --- 127.0.0.1:8080 ping statistics ---
//! 20 packets transmitted, 18 received, +1 late, 10% packet loss, time 1903ms
//! rtt min/avg/max/mdev = 1.204/24.511/49.870/13.372 ms
//! ```
//!
//! A late reply is not "received": by the classic rule its probe was lost when its window
//! closed; it is shown as `+N late`, the way ping shows `+N duplicates`. The rtt line
//! covers the received replies only. mdev is computed as iputils does:
//! `sqrt(mean(rtt²) − mean(rtt)²)`, the population standard deviation.

use super::probes::{Outcome, ProbeLog};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rtt {
    pub min_ms: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
    pub mdev_ms: f64,
    /// Nearest-rank percentiles (not printed by ping; in the JSON and the benchmark).
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Rtt {
    /// `None` for no samples.
    pub fn of(rtts_ns: &[u64]) -> Option<Rtt> {
        let n = rtts_ns.len() as f64;
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut sorted = rtts_ns.to_vec();
        sorted.sort_unstable();
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let mean = rtts_ns.iter().map(|&x| ms(x)).sum::<f64>() / n;
        let mean_sq = rtts_ns.iter().map(|&x| ms(x) * ms(x)).sum::<f64>() / n;
        let rank = |p: f64| sorted[((p * n).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(Rtt {
            min_ms: ms(min),
            avg_ms: mean,
            max_ms: ms(max),
            // Rounding can leave the difference a hair below zero when all samples are equal.
            mdev_ms: (mean_sq - mean * mean).max(0.0).sqrt(),
            p50_ms: ms(rank(0.50)),
            p90_ms: ms(rank(0.90)),
            p99_ms: ms(rank(0.99)),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub target: SocketAddr,
    pub transmitted: u64,
    pub received: u64,
    pub late: u64,
    pub duplicates: u64,
    pub loss_percent: f64,
    /// From the first send to the end of the run.
    pub time_ms: u64,
    pub rtt: Option<Rtt>,
}

impl Summary {
    pub fn of(log: &ProbeLog, target: SocketAddr, elapsed: Duration) -> Summary {
        let mut on_time = Vec::new();
        let mut late = 0;
        for p in log.probes() {
            match p.outcome {
                Outcome::Replied { rtt_ns } => on_time.push(rtt_ns),
                Outcome::Late { .. } => late += 1,
                Outcome::Pending | Outcome::Lost => {}
            }
        }
        let transmitted = log.len() as u64;
        let received = on_time.len() as u64;
        let loss_percent =
            if transmitted == 0 { 0.0 } else { (transmitted - received) as f64 * 100.0 / transmitted as f64 };
        Summary {
            target,
            transmitted,
            received,
            late,
            duplicates: log.duplicates(),
            loss_percent,
            time_ms: elapsed.as_millis() as u64,
            rtt: Rtt::of(&on_time),
        }
    }
}

/// C's `%g`: six significant digits, no trailing zeros (`10`, `33.3333`, `0.5`).
pub fn percent_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- {} ping statistics ---", self.target)?;
        write!(f, "{} packets transmitted, {} received", self.transmitted, self.received)?;
        if self.late > 0 {
            write!(f, ", +{} late", self.late)?;
        }
        if self.duplicates > 0 {
            write!(f, ", +{} duplicates", self.duplicates)?;
        }
        if self.transmitted > 0 {
            write!(f, ", {}% packet loss", percent_g(self.loss_percent))?;
        }
        writeln!(f, ", time {}ms", self.time_ms)?;
        if let Some(r) = &self.rtt {
            writeln!(
                f,
                "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
                r.min_ms, r.avg_ms, r.max_ms, r.mdev_ms
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn mdev_is_the_population_standard_deviation() {
        let r = Rtt::of(&[MS, 2 * MS, 3 * MS, 4 * MS]).expect("samples");
        assert_eq!((r.min_ms, r.avg_ms, r.max_ms), (1.0, 2.5, 4.0));
        assert!((r.mdev_ms - 1.25f64.sqrt()).abs() < 1e-12, "{}", r.mdev_ms);
        assert_eq!((r.p50_ms, r.p90_ms, r.p99_ms), (2.0, 4.0, 4.0));
        assert_eq!(Rtt::of(&[7 * MS; 3]).map(|r| r.mdev_ms), Some(0.0));
        assert_eq!(Rtt::of(&[]), None);
    }

    #[test]
    fn the_lines_ping_prints() {
        let mut log = ProbeLog::new();
        for i in 0..20u64 {
            log.push(i * 100 * MS, 64);
        }
        for seq in 1..=18u64 {
            log.reply(seq, (seq - 1) * 100 * MS, (seq - 1) * 100 * MS + seq * MS);
        }
        log.expire_all();
        log.reply(19, 1800 * MS, 1800 * MS + 700 * MS);
        log.reply(3, 200 * MS, 250 * MS);
        let target = "127.0.0.1:8080".parse().expect("addr");
        let s = Summary::of(&log, target, Duration::from_micros(1_903_400));
        assert_eq!(
            s.to_string(),
            "--- 127.0.0.1:8080 ping statistics ---\n\
             20 packets transmitted, 18 received, +1 late, +1 duplicates, 10% packet loss, time 1903ms\n\
             rtt min/avg/max/mdev = 1.000/9.500/18.000/5.188 ms\n"
        );
    }

    #[test]
    fn nothing_back_has_no_rtt_line() {
        let mut log = ProbeLog::new();
        for i in 0..3 {
            log.push(i, 64);
        }
        log.expire_all();
        let s = Summary::of(&log, "[::1]:7".parse().expect("addr"), Duration::from_millis(3000));
        assert_eq!(
            s.to_string(),
            "--- [::1]:7 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 3000ms\n"
        );
    }

    #[test]
    fn loss_is_printed_like_c_percent_g() {
        assert_eq!(percent_g(0.0), "0");
        assert_eq!(percent_g(10.0), "10");
        assert_eq!(percent_g(100.0), "100");
        assert_eq!(percent_g(100.0 / 3.0), "33.3333");
        assert_eq!(percent_g(0.5), "0.5");
        assert_eq!(percent_g(2.0 / 3.0), "0.666667");
    }
}
