//! `--plot FILE.svg`: the per-second table as two panels on one time axis, throughput above
//! and average delay below, the chart the classic second experiment asks for.

use super::table::Second;
use crate::plot::{Panel, two_panels};
use std::io;
use std::path::Path;

pub fn write_svg(title: &str, seconds: &[Second], path: &Path) -> io::Result<()> {
    // Each second's value is drawn at the middle of its second.
    let at = |s: &Second| s.second as f64 + 0.5;
    let throughput: Vec<(f64, f64)> = seconds.iter().map(|s| (at(s), s.throughput_bps)).collect();
    let delay: Vec<(f64, f64)> = seconds.iter().filter_map(|s| Some((at(s), s.avg_delay_ms?))).collect();
    two_panels(
        path,
        title,
        "second of the run",
        seconds.len() as f64,
        Panel { label: "throughput (bit/s)", points: &throughput },
        Panel { label: "average delay (ms)", points: &delay },
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_panels() {
        let seconds = [
            Second { second: 0, sent: 10, acked: 9, throughput_bps: 9216.0, avg_delay_ms: Some(12.5) },
            Second { second: 1, sent: 10, acked: 0, throughput_bps: 0.0, avg_delay_ms: None },
        ];
        let path = std::env::temp_dir().join(format!("sockloop-ping-plot-{}.svg", std::process::id()));
        write_svg("udp-ping 127.0.0.1:8080", &seconds, &path).expect("plot written");
        let svg = std::fs::read_to_string(&path).expect("readable");
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("throughput (bit/s)") && svg.contains("average delay (ms)"));
        assert!(svg.contains("<polyline"));
    }
}
