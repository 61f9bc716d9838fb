//! `--plot FILE.svg`: the per-second series as a chart, throughput above and p99 latency
//! below on a shared time axis, so a stall (throughput dips, p99 jumps) is seen at a glance.

use super::report::Report;
use crate::plot::{Panel, two_panels};
use std::io;
use std::path::Path;

pub(crate) fn write_svg(report: &Report, path: &Path) -> io::Result<()> {
    let title = format!(
        "sockloop stress {} {}: {} clients",
        report.setup.protocol.name(),
        report.setup.target,
        report.setup.clients
    );
    let end = report.intervals.last().map_or(1.0, |iv| iv.end_secs);
    let throughput: Vec<(f64, f64)> =
        report.intervals.iter().map(|iv| (iv.end_secs, iv.msgs_per_sec)).collect();
    let p99_ms: Vec<(f64, f64)> =
        report.intervals.iter().map(|iv| (iv.end_secs, iv.latency.p99_us as f64 / 1e3)).collect();
    two_panels(
        path,
        &title,
        "seconds",
        end,
        Panel { label: "messages per second", points: &throughput },
        Panel { label: "p99 latency (ms)", points: &p99_ms },
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_both_panels() {
        let path = std::env::temp_dir().join(format!("sockloop-plot-{}.svg", std::process::id()));
        write_svg(&super::super::report::tests::sample(), &path).expect("plot written");
        let svg = std::fs::read_to_string(&path).expect("readable");
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("messages per second") && svg.contains("p99 latency (ms)"));
        assert!(svg.contains("<polyline"), "line series drawn");
    }
}
