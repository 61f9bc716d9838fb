//! `--plot FILE.svg`: the per-second series as a chart, throughput above and p99 latency
//! below on a shared time axis, so a stall (throughput dips, p99 jumps) is seen at a glance.
//! SVG because it needs no fonts or image codecs and opens in any browser.

use super::report::Report;
use plotters::prelude::*;
use std::io;
use std::path::Path;

const SIZE: (u32, u32) = (960, 640);

pub(crate) fn write_svg(report: &Report, path: &Path) -> io::Result<()> {
    draw(report, path).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "sockloop stress {} {}: {} clients",
        report.setup.protocol.name(),
        report.setup.target,
        report.setup.clients
    );
    let root = root.titled(&title, ("sans-serif", 20))?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 20);
    let end = report.intervals.last().map_or(1.0, |iv| iv.end_secs).max(1.0);
    let throughput: Vec<(f64, f64)> =
        report.intervals.iter().map(|iv| (iv.end_secs, iv.msgs_per_sec)).collect();
    let p99_ms: Vec<(f64, f64)> =
        report.intervals.iter().map(|iv| (iv.end_secs, iv.latency.p99_us as f64 / 1e3)).collect();
    panel(&top, "messages per second", end, &throughput, &BLUE)?;
    panel(&bottom, "p99 latency (ms)", end, &p99_ms, &RED)?;
    root.present()?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    label: &str,
    end_secs: f64,
    points: &[(f64, f64)],
    color: &RGBColor,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_secs, 0.0..top)?;
    chart.configure_mesh().x_desc("seconds").y_desc(label).draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
    Ok(())
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
