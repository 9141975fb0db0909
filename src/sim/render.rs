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

/// ASCII rows: `#` wall, `.` floor, `o` visited, `*` corner cell, `C` cheese, `M` mouse.
pub fn ascii(layout: &Layout, mouse: Pos, path: &[Pos]) -> String {
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
    if grid[layout.corner.row][layout.corner.col] == '.' {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::DistributionSpec;

    #[test]
    fn ascii_and_rgb_show_the_state() {
        let layout = DistributionSpec::training(7, 0).level_for_seed(2);
        let text = ascii(&layout, layout.start, &[]);
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
