//! The study's figure: cheese rate on the shifted mazes against the cheese region, one line per
//! fine-tuning arm with 95% whiskers and the reference agent's rate, drawn with `plotters` as SVG
//! (for papers) and PNG (for the README), in a colour-blind-safe palette, sized to stay readable
//! when printed at column width.

use crate::sim::Rate;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// Pixels of the figure: at 3.3 inches (one column) a PNG of this width prints at ~300 dpi, and
/// the text (`TEXT` px) at ~7 pt.
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 620;
/// Width of the legend column to the right of the axes (the legend never covers data).
const LEGEND: u32 = 290;
const TEXT: u32 = 30;
const FONT: &str = "sans-serif";

/// The Okabe-Ito colours (distinguishable with every common colour-vision deficiency), in the
/// order the series get them.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];
/// The reference agent's dashed line.
pub const REFERENCE: RGBColor = RGBColor(120, 120, 120);

/// One arm's cheese rate per region.
pub struct PlotSeries {
    pub label: String,
    pub points: Vec<(usize, Rate)>,
}

/// The figure in both formats.
pub struct Figure {
    pub svg: String,
    pub png: Vec<u8>,
}

/// A figure that could not be drawn or encoded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plot: {0}")]
pub struct PlotError(pub String);

/// Registers the bundled font once (plotters' `ab_glyph` backend reads no system fonts).
fn register_font() -> Result<(), PlotError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .map_err(|_| PlotError("the bundled font (Ubuntu Light) did not parse".into()));
    });
    result
}

/// The x-axis label of region `r`: regions 0 and 1 are one distribution (the cheese on the corner
/// cell), so where only 1 ran its tick says so.
fn region_label(r: usize, regions: &[usize]) -> String {
    if r == 1 && !regions.contains(&0) {
        "0-1".into()
    } else {
        r.to_string()
    }
}

/// The figure of `series` (and the reference agent's rate, where there is one) as SVG and PNG.
pub fn cheese_rate_plot(
    series: &[PlotSeries],
    reference: Option<Rate>,
) -> Result<Figure, PlotError> {
    register_font()?;
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area(),
        series,
        reference,
    )?;
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    draw(
        BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area(),
        series,
        reference,
    )?;
    let png = crate::sim::render::png_bytes(WIDTH as usize, HEIGHT as usize, &rgb)
        .map_err(|e| PlotError(format!("png: {e}")))?;
    Ok(Figure { svg, png })
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[PlotSeries],
    reference: Option<Rate>,
) -> Result<(), PlotError> {
    let fail =
        |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError(format!("drawing the figure: {e}"));
    root.fill(&WHITE).map_err(fail)?;
    let (axes, legend) = root.split_horizontally(WIDTH - LEGEND);
    let mut regions: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let (lo, hi) = match (regions.first(), regions.last()) {
        (Some(&lo), Some(&hi)) => (lo as f64, hi.max(lo + 1) as f64),
        _ => (0.0, 1.0),
    };
    let pad = 0.35;
    let mut chart = ChartBuilder::on(&axes)
        .margin(16)
        .margin_top(28)
        .margin_right(8)
        .x_label_area_size(80)
        .y_label_area_size(100)
        .build_cartesian_2d(lo - pad..hi + pad, 0.0..1.0)
        .map_err(fail)?;
    let tick_regions = regions.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(regions.len().max(2) * 2 + 1)
        .x_label_formatter(&|x| {
            let r = x.round();
            if (x - r).abs() < 1e-6 && r >= 0.0 && tick_regions.contains(&(r as usize)) {
                region_label(r as usize, &tick_regions)
            } else {
                String::new()
            }
        })
        .y_labels(6)
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .x_desc("cheese region r (training)")
        .y_desc("cheese reached, shifted mazes")
        .label_style((FONT, TEXT))
        .axis_desc_style((FONT, TEXT))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(fail)?;
    if let Some(reference) = reference {
        chart
            .draw_series(DashedLineSeries::new(
                [(lo - pad, reference.rate), (hi + pad, reference.rate)],
                12,
                8,
                REFERENCE.stroke_width(3),
            ))
            .map_err(fail)?;
    }
    // Side by side, so that overlapping whiskers stay readable.
    let dodge = 0.32 / series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let shift = dodge * (k as f64 - (series.len() as f64 - 1.0) / 2.0);
        let points: Vec<(f64, Rate)> = s
            .points
            .iter()
            .map(|&(r, rate)| (r as f64 + shift, rate))
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, r)| (x, r.rate)),
                color.stroke_width(3),
            ))
            .map_err(fail)?;
        chart
            .draw_series(points.iter().map(|&(x, r)| {
                ErrorBar::new_vertical(x, r.low, r.rate, r.high, color.stroke_width(2), 10)
            }))
            .map_err(fail)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, r)| Circle::new((x, r.rate), 6, color.filled())),
            )
            .map_err(fail)?;
    }
    // The legend in its own column: one row per series, then the reference.
    let mut entries: Vec<(String, RGBColor, bool)> = series
        .iter()
        .enumerate()
        .map(|(k, s)| (s.label.clone(), PALETTE[k % PALETTE.len()], false))
        .collect();
    if reference.is_some() {
        entries.push(("reference".into(), REFERENCE, true));
    }
    let row = TEXT as i32 + 12;
    for (k, (label, color, dashed)) in entries.iter().enumerate() {
        let y = 40 + row * k as i32;
        let stroke = color.stroke_width(4);
        if *dashed {
            for x in [8, 26] {
                legend
                    .draw(&PathElement::new(vec![(x, y), (x + 12, y)], stroke))
                    .map_err(fail)?;
            }
        } else {
            legend
                .draw(&PathElement::new(vec![(8, y), (46, y)], stroke))
                .map_err(fail)?;
            legend
                .draw(&Circle::new((27, y), 6, color.filled()))
                .map_err(fail)?;
        }
        legend
            .draw(&Text::new(
                label.clone(),
                (56, y - TEXT as i32 / 2),
                (FONT, TEXT - 4).into_font().color(&BLACK),
            ))
            .map_err(fail)?;
    }
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, base: usize) -> PlotSeries {
        PlotSeries {
            label: label.into(),
            points: (1..=6).map(|r| (r, Rate::new(base + 2 * r, 100))).collect(),
        }
    }

    fn pixels(series: &[PlotSeries], reference: Option<Rate>) -> (Vec<u8>, String) {
        let figure = cheese_rate_plot(series, reference).expect("figure");
        assert_eq!(&figure.png[1..4], b"PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(figure.png));
        let mut reader = decoder.read_info().expect("header");
        let mut px = vec![0; reader.output_buffer_size().expect("size")];
        reader.next_frame(&mut px).expect("frame");
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
        (px, figure.svg)
    }

    /// Whether a line or marker of colour `c` is in the picture (more pixels of it than a
    /// text edge's anti-aliasing makes).
    fn drawn(px: &[u8], c: RGBColor) -> bool {
        px.chunks(3).filter(|p| *p == [c.0, c.1, c.2]).count() > 60
    }

    /// Whether the SVG draws anything in colour `c`.
    fn in_svg(svg: &str, c: RGBColor) -> bool {
        svg.contains(&format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
    }

    #[test]
    fn every_arm_and_the_reference_are_drawn_in_both_formats() {
        let (px, svg) = pixels(&[series("baseline", 20), series("paper", 30)], None);
        assert!(drawn(&px, PALETTE[0]) && drawn(&px, PALETTE[1]));
        assert!(!drawn(&px, PALETTE[2]) && !drawn(&px, REFERENCE));
        assert!(svg.starts_with("<svg") && svg.contains("baseline") && svg.contains("paper"));
        assert!(in_svg(&svg, PALETTE[0]) && in_svg(&svg, PALETTE[1]));
        assert!(!in_svg(&svg, PALETTE[2]) && !in_svg(&svg, REFERENCE));
        assert!(!svg.contains("reference"));
        let all: Vec<PlotSeries> = ["baseline", "paper", "designer", "a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(k, name)| series(name, 10 + 8 * k))
            .collect();
        let (px, svg) = pixels(&all, Some(Rate::new(90, 100)));
        for color in PALETTE[..6].iter().chain([&REFERENCE]) {
            assert!(
                drawn(&px, *color) && in_svg(&svg, *color),
                "{color:?} drawn"
            );
        }
        assert!(svg.contains("reference") && svg.contains("designer"));
    }

    #[test]
    fn regions_zero_and_one_share_a_tick_where_only_one_ran() {
        let (_, svg) = pixels(&[series("baseline", 20)], None);
        let ticks: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(ticks.contains(&"0-1"), "the first tick names both regions");
        let with_zero = PlotSeries {
            label: "baseline".into(),
            points: (0..=2).map(|r| (r, Rate::new(50, 100))).collect(),
        };
        let (_, svg) = pixels(&[with_zero], None);
        let ticks: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(!ticks.contains(&"0-1") && ticks.contains(&"0") && ticks.contains(&"1"));
    }

    #[test]
    fn the_legend_stays_out_of_the_axes() {
        // Nothing of a series' colour right of the axes but the legend's own rows.
        let (px, _) = pixels(&[series("baseline", 20)], None);
        let c = PALETTE[0];
        let legend_x = (WIDTH - LEGEND) as usize;
        for y in 0..HEIGHT as usize {
            for x in legend_x..WIDTH as usize {
                let i = (y * WIDTH as usize + x) * 3;
                if px[i..i + 3] == [c.0, c.1, c.2] {
                    assert!(y < 40 + 20 && x < legend_x + 60, "colour at ({x}, {y})");
                }
            }
        }
    }
}
