//! Two line charts stacked on one time axis, as SVG: the shape every `--plot` here takes
//! (a rate above, a latency below, so a stall shows as a dip above a spike). SVG because it
//! needs no fonts or image codecs and opens in any browser.

use plotters::prelude::*;
use std::io;
use std::path::Path;

const SIZE: (u32, u32) = (960, 640);

/// One panel: its y-axis label and its points (seconds, value).
pub(crate) struct Panel<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
}

/// Writes `top` (blue) above `bottom` (red), both over 0..`end_secs`, with dots on the
/// points when `dots` (a short series is easier to read that way).
pub(crate) fn two_panels(
    path: &Path,
    title: &str,
    x_desc: &str,
    end_secs: f64,
    top: Panel<'_>,
    bottom: Panel<'_>,
    dots: bool,
) -> io::Result<()> {
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 20))?;
        let (upper, lower) = root.split_vertically(SIZE.1 / 2 - 20);
        panel(&upper, x_desc, end_secs.max(1.0), &top, &BLUE, dots)?;
        panel(&lower, x_desc, end_secs.max(1.0), &bottom, &RED, dots)?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    x_desc: &str,
    end: f64,
    p: &Panel<'_>,
    color: &RGBColor,
    dots: bool,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let top = p.points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart.configure_mesh().x_desc(x_desc).y_desc(p.label).draw()?;
    chart.draw_series(LineSeries::new(p.points.iter().copied(), color.stroke_width(2)))?;
    if dots {
        chart.draw_series(p.points.iter().map(|q| Circle::new(*q, 3, color.filled())))?;
    }
    Ok(())
}
