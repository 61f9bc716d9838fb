//! `--plot FILE.svg`: the per-second table as two panels on one time axis, throughput above
//! and average delay below, the chart the classic second experiment asks for. SVG needs no
//! fonts or image codecs and opens in any browser.

use super::table::Second;
use plotters::prelude::*;
use std::io;
use std::path::Path;

const SIZE: (u32, u32) = (960, 640);

pub fn write_svg(title: &str, seconds: &[Second], path: &Path) -> io::Result<()> {
    draw(title, seconds, path).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

fn draw(title: &str, seconds: &[Second], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 20);
    let end = seconds.len().max(1) as f64;
    // Each second's value is drawn at the middle of its second.
    let at = |s: &Second| s.second as f64 + 0.5;
    let throughput: Vec<(f64, f64)> = seconds.iter().map(|s| (at(s), s.throughput_bps)).collect();
    let delay: Vec<(f64, f64)> = seconds.iter().filter_map(|s| Some((at(s), s.avg_delay_ms?))).collect();
    panel(&top, "throughput (bit/s)", end, &throughput, &BLUE)?;
    panel(&bottom, "average delay (ms)", end, &delay, &RED)?;
    root.present()?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    label: &str,
    end: f64,
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
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart.configure_mesh().x_desc("second of the run").y_desc(label).draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    Ok(())
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
