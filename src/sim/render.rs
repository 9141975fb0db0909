//! Renders a maze state: ASCII (with the path walked) for terminals and LLM prompts, RGB for images.

use crate::level::{Layout, Pos};

/// Palette shared by every render (RGB).
pub mod colors {
    pub const WALL: [u8; 3] = [38, 50, 82];
    pub const FLOOR: [u8; 3] = [232, 226, 210];
    pub const MOUSE: [u8; 3] = [120, 120, 130];
    pub const CHEESE: [u8; 3] = [250, 196, 30];
    pub const PATH: [u8; 3] = [150, 205, 235];
    pub const CORNER: [u8; 3] = [230, 120, 120];
}

/// ASCII rows: `#` wall, `.` floor, `o` visited, `*` proxy corner cell (when `mark_corner`),
/// `C` cheese, `M` mouse.
pub fn ascii(layout: &Layout, mouse: Pos, path: &[Pos], mark_corner: bool) -> String {
    let mut grid: Vec<Vec<char>> = layout
        .ascii_rows()
        .into_iter()
        .map(|r| r.replace('M', ".").chars().collect())
        .collect();
    for p in path {
        if grid[p.row][p.col] == '.' {
            grid[p.row][p.col] = 'o';
        }
    }
    if mark_corner && grid[layout.corner.row][layout.corner.col] == '.' {
        grid[layout.corner.row][layout.corner.col] = '*';
    }
    grid[mouse.row][mouse.col] = 'M';
    grid.into_iter()
        .map(|r| r.into_iter().collect::<String>() + "\n")
        .collect()
}

/// An RGB image of the state, `cell_px` pixels per cell: (width, height, row-major RGB bytes).
pub fn rgb(layout: &Layout, mouse: Pos, path: &[Pos], cell_px: usize) -> (usize, usize, Vec<u8>) {
    let side = layout.size * cell_px;
    let mut pixels = vec![0u8; side * side * 3];
    let mut paint = |pos: Pos, color: [u8; 3], inset: usize| {
        for y in pos.row * cell_px + inset..(pos.row + 1) * cell_px - inset {
            for x in pos.col * cell_px + inset..(pos.col + 1) * cell_px - inset {
                pixels[(y * side + x) * 3..][..3].copy_from_slice(&color);
            }
        }
    };
    for row in 0..layout.size {
        for col in 0..layout.size {
            let p = Pos::new(row, col);
            paint(
                p,
                if layout.is_wall(p) {
                    colors::WALL
                } else {
                    colors::FLOOR
                },
                0,
            );
        }
    }
    let inset = cell_px / 4;
    for &p in path {
        paint(p, colors::PATH, inset);
    }
    paint(layout.corner, colors::CORNER, cell_px / 3);
    paint(layout.cheese, colors::CHEESE, inset.saturating_sub(1));
    paint(mouse, colors::MOUSE, inset);
    (side, side, pixels)
}

/// A binary PPM (P6) file of an RGB image: viewable everywhere, no image crate needed.
pub fn ppm(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = format!("P6\n{width} {height}\n255\n").into_bytes();
    out.extend_from_slice(pixels);
    out
}

/// An animated GIF of a whole episode: one frame per step (the path drawn so far), `delay_cs`
/// hundredths of a second per frame, looping; the last frame is held for a second.
pub fn episode_gif(
    layout: &Layout,
    path: &[Pos],
    cell_px: usize,
    delay_cs: u16,
) -> Result<Vec<u8>, String> {
    let side = layout.size * cell_px;
    let side16 =
        u16::try_from(side).map_err(|_| format!("a {side}px image is too large for a GIF"))?;
    let mut out = Vec::new();
    {
        let mut encoder =
            gif::Encoder::new(&mut out, side16, side16, &[]).map_err(|e| e.to_string())?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| e.to_string())?;
        let steps = path.len().max(1);
        for t in 0..steps {
            let mouse = path.get(t).copied().unwrap_or(layout.start);
            let (_, _, pixels) = rgb(layout, mouse, &path[..t.min(path.len())], cell_px);
            let mut frame = gif::Frame::from_rgb_speed(side16, side16, &pixels, 10);
            frame.delay = if t + 1 == steps { 100 } else { delay_cs };
            encoder.write_frame(&frame).map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// A PNG file of an RGB image.
pub fn png_bytes(width: usize, height: usize, pixels: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_becomes_a_gif_with_one_frame_per_step() {
        let layout = crate::level::DistributionSpec::training(7, 1).level_for_seed(4);
        let path = vec![layout.start; 5];
        let bytes = episode_gif(&layout, &path, 8, 10).expect("gif");
        assert!(bytes.starts_with(b"GIF89a"));
        let mut decoder = gif::DecodeOptions::new()
            .read_info(std::io::Cursor::new(bytes))
            .expect("decodes");
        let mut frames = 0;
        while decoder.read_next_frame().expect("frame").is_some() {
            frames += 1;
        }
        assert_eq!(frames, 5);
    }
    use crate::level::DistributionSpec;

    #[test]
    fn ascii_and_rgb_show_the_state() {
        let layout = DistributionSpec::training(7, 0).level_for_seed(2);
        let text = ascii(&layout, layout.start, &[], true);
        assert_eq!(text.lines().count(), 7);
        assert_eq!(text.matches('M').count(), 1);
        assert_eq!(text.matches('C').count(), 1);
        let (w, h, px) = rgb(&layout, layout.start, &[], 8);
        assert_eq!((w, h, px.len()), (56, 56, 56 * 56 * 3));
        assert!(px.chunks(3).any(|c| c == colors::WALL));
        assert!(px.chunks(3).any(|c| c == colors::CHEESE));
        assert!(ppm(w, h, &px).starts_with(b"P6\n56 56\n255\n"));
    }
}
