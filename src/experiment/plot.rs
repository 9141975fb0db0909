//! The study's PNG plot: cheese rate on the shifted distribution vs region, one line per
//! fine-tuning arm and the reference agent's rate, with 95% intervals. Drawn on a small RGB canvas with a built-in 5x7 font (no font files needed).

use crate::sim::Rate;

const W: usize = 640;
const H: usize = 400;
const LEFT: usize = 70;
const RIGHT: usize = 20;
const TOP: usize = 56;
const BOTTOM: usize = 60;
const BASELINE: [u8; 3] = [200, 80, 60];
const FEEDBACK: [u8; 3] = [40, 110, 200];
const CEILING: [u8; 3] = [60, 160, 90];
const DESIGNER: [u8; 3] = [150, 60, 180];
const CONTROL: [u8; 3] = [230, 160, 30];
const REFERENCE: [u8; 3] = [120, 120, 120];
const INK: [u8; 3] = [30, 30, 30];
const GRID: [u8; 3] = [225, 225, 225];

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            px: vec![255; W * H * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for s in 0..=steps {
            let x = x0 + (x1 - x0) * s / steps;
            let y = y0 + (y1 - y0) * s / steps;
            for dx in 0..thick {
                for dy in 0..thick {
                    self.set(x + dx - thick / 2, y + dy - thick / 2, c);
                }
            }
        }
    }

    fn dot(&mut self, (x, y): (i64, i64), c: [u8; 3]) {
        for dx in -3..=3 {
            for dy in -3..=3 {
                if dx * dx + dy * dy <= 9 {
                    self.set(x + dx, y + dy, c);
                }
            }
        }
    }

    fn text(&mut self, x: i64, y: i64, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (1 << (4 - col)) != 0 {
                        for sx in 0..2 {
                            for sy in 0..2 {
                                self.set(
                                    x + (k as i64) * 12 + col * 2 + sx,
                                    y + r as i64 * 2 + sy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 5x7 bitmaps for the characters the plot uses.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_lowercase() {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [30, 1, 1, 14, 1, 1, 30],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        'a' => [0, 0, 14, 1, 15, 17, 15],
        'b' => [16, 16, 22, 25, 17, 17, 30],
        'c' => [0, 0, 14, 16, 16, 17, 14],
        'd' => [1, 1, 13, 19, 17, 17, 15],
        'e' => [0, 0, 14, 17, 31, 16, 14],
        'f' => [6, 9, 8, 28, 8, 8, 8],
        'g' => [0, 15, 17, 17, 15, 1, 14],
        'h' => [16, 16, 22, 25, 17, 17, 17],
        'i' => [4, 0, 12, 4, 4, 4, 14],
        'k' => [16, 16, 18, 20, 24, 20, 18],
        'l' => [12, 4, 4, 4, 4, 4, 14],
        'm' => [0, 0, 26, 21, 21, 17, 17],
        'n' => [0, 0, 22, 25, 17, 17, 17],
        'o' => [0, 0, 14, 17, 17, 17, 14],
        'p' => [0, 0, 30, 17, 30, 16, 16],
        'r' => [0, 0, 22, 25, 16, 16, 16],
        's' => [0, 0, 14, 16, 14, 1, 30],
        't' => [8, 8, 28, 8, 8, 9, 6],
        'u' => [0, 0, 17, 17, 17, 19, 13],
        'v' => [0, 0, 17, 17, 17, 10, 4],
        'w' => [0, 0, 17, 17, 21, 21, 10],
        'y' => [0, 0, 17, 17, 15, 1, 14],
        _ => [0; 7],
    }
}

/// One arm's cheese rate per region.
pub struct PlotSeries {
    pub label: String,
    pub points: Vec<(usize, Rate)>,
}

/// Colours of the series, in order (then repeated).
const PALETTE: [[u8; 3]; 5] = [BASELINE, FEEDBACK, DESIGNER, CONTROL, CEILING];

/// PNG bytes of the cheese-rate-vs-region plot: each series as a line with 95% intervals, in
/// the colours of [`PALETTE`], and the reference agent's rate (where there is one) as a
/// horizontal line.
pub fn cheese_rate_plot(series: &[PlotSeries], reference: Option<Rate>) -> Result<Vec<u8>, String> {
    let mut c = Canvas::new();
    let max_region = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(10)
        .max(1) as i64;
    let x_of = |r: usize| LEFT as i64 + (r as i64) * (W - LEFT - RIGHT) as i64 / max_region;
    let y_of = |p: f64| (TOP as f64 + (1.0 - p.clamp(0.0, 1.0)) * (H - TOP - BOTTOM) as f64) as i64;
    for tick in 0..=4 {
        let p = tick as f64 / 4.0;
        c.line(
            (LEFT as i64, y_of(p)),
            ((W - RIGHT) as i64, y_of(p)),
            GRID,
            1,
        );
        c.text(8, y_of(p) - 7, &format!("{:.0}%", p * 100.0), INK);
    }
    c.line(
        (LEFT as i64, TOP as i64),
        (LEFT as i64, (H - BOTTOM) as i64),
        INK,
        2,
    );
    c.line(
        (LEFT as i64, (H - BOTTOM) as i64),
        ((W - RIGHT) as i64, (H - BOTTOM) as i64),
        INK,
        2,
    );
    let mut regions: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    regions.sort_unstable();
    regions.dedup();
    for r in regions {
        c.text(x_of(r) - 5, (H - BOTTOM + 8) as i64, &r.to_string(), INK);
    }
    c.text(
        (W / 2 - 100) as i64,
        (H - 24) as i64,
        "cheese region r",
        INK,
    );
    if let Some(reference) = reference {
        // Dashed: what an agent trained on the shifted mazes reaches.
        let y = y_of(reference.rate);
        let mut x = LEFT as i64;
        while x < (W - RIGHT) as i64 {
            c.line((x, y), ((x + 8).min((W - RIGHT) as i64), y), REFERENCE, 2);
            x += 16;
        }
    }
    let count = series.len().max(1) as i64;
    for (k, s) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        // Interval bars side by side so that overlapping arms stay readable.
        let shift = 3 * (2 * k as i64 - (count - 1));
        let points: Vec<(i64, i64, Rate)> = s
            .points
            .iter()
            .map(|&(r, rate)| (x_of(r), y_of(rate.rate), rate))
            .collect();
        for w in points.windows(2) {
            c.line((w[0].0, w[0].1), (w[1].0, w[1].1), color, 2);
        }
        for (x, y, rate) in &points {
            c.line(
                (x + shift, y_of(rate.low)),
                (x + shift, y_of(rate.high)),
                color,
                1,
            );
            c.dot((*x, *y), color);
        }
    }
    // Legend: entries left to right, wrapping onto a second row.
    let mut entries: Vec<(String, [u8; 3])> = series
        .iter()
        .enumerate()
        .map(|(k, s)| (s.label.clone(), PALETTE[k % PALETTE.len()]))
        .collect();
    if reference.is_some() {
        entries.push(("reference".into(), REFERENCE));
    }
    let (mut x, mut y) = (LEFT as i64 + 10, 8i64);
    for (label, color) in entries {
        let width = 40 + 12 * label.chars().count() as i64 + 20;
        if x + width > (W - RIGHT) as i64 {
            x = LEFT as i64 + 10;
            y += 18;
        }
        c.line((x, y + 7), (x + 30, y + 7), color, 3);
        c.text(x + 38, y, &label, INK);
        x += width;
    }
    c.text((W - 180) as i64, (H - 24) as i64, "y: cheese rate", INK);

    crate::sim::render::png_bytes(W, H, &c.px).map_err(|e| format!("png: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_is_a_png_with_every_arm_and_the_reference_drawn() {
        let series = |label: &str, base: usize| PlotSeries {
            label: label.into(),
            points: (0..=10)
                .map(|r| (r, Rate::new(base + 2 * r, 100)))
                .collect(),
        };
        let pixels = |series: &[PlotSeries], reference: Option<Rate>| {
            let bytes = cheese_rate_plot(series, reference).expect("png");
            assert_eq!(&bytes[1..4], b"PNG");
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = decoder.read_info().expect("header");
            let mut px = vec![0; reader.output_buffer_size().expect("size")];
            reader.next_frame(&mut px).expect("frame");
            px
        };
        let two = [series("baseline", 20), series("paper", 30)];
        let px = pixels(&two, None);
        assert!(px.chunks(3).any(|p| p == BASELINE) && px.chunks(3).any(|p| p == FEEDBACK));
        assert!(!px.chunks(3).any(|p| p == DESIGNER || p == REFERENCE));
        let all = [
            series("baseline", 20),
            series("paper", 30),
            series("designer", 50),
            series("scenarios-env-reward", 40),
            series("ceiling", 35),
        ];
        let px = pixels(&all, Some(Rate::new(90, 100)));
        for color in PALETTE.into_iter().chain([REFERENCE]) {
            assert!(px.chunks(3).any(|p| p == color), "{color:?} drawn");
        }
    }
}
