//! Maze layouts: the grid, the start, the cheese and the proxy corner; generators and level files.

mod check;
mod direction;
pub mod edit;
pub mod file;
pub mod generate;
pub mod library;

pub use check::validate_spec;
pub use direction::Direction;
pub use file::{LevelError, LevelFile, LevelSource, MixturePart, load_level_file, parse_level};
pub use generate::{
    CheesePlacement, Corner, DistributionSpec, Generator, MazeSize, Quadrant, SeedRange,
};

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Largest world side a level may use.
pub const MAX_WORLD_SIZE: usize = 64;

/// A cell of the world grid; row 0 is the top row, col 0 the left column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pos {
    pub row: usize,
    pub col: usize,
}

impl Pos {
    pub const fn new(row: usize, col: usize) -> Self {
        Self { row, col }
    }

    /// Manhattan distance.
    pub fn manhattan(self, other: Pos) -> usize {
        self.row.abs_diff(other.row) + self.col.abs_diff(other.col)
    }
}

/// One concrete maze: a square world of `size x size` cells, everything outside the maze is wall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Side length of the (square) world grid.
    pub size: usize,
    /// Row-major wall flags, `size * size` long.
    pub walls: Vec<bool>,
    /// Where the mouse starts (the maze's bottom-left cell for generated mazes).
    pub start: Pos,
    /// The true goal.
    pub cheese: Pos,
    /// The proxy goal: a corner cell of the maze (the top-right one unless the distribution
    /// names another).
    pub corner: Pos,
}

impl Layout {
    /// The cells of the maze's three corners other than the bottom-left (the start's), from the
    /// bounding box of its free cells: what a judge sees as "the top-left corner" and so on.
    pub fn maze_corners(&self) -> Vec<(Corner, Pos)> {
        let free = (0..self.size * self.size).filter(|&i| !self.walls[i]);
        let (mut top, mut bottom, mut left, mut right) = (usize::MAX, 0, usize::MAX, 0);
        for i in free {
            let (row, col) = (i / self.size, i % self.size);
            (top, bottom) = (top.min(row), bottom.max(row));
            (left, right) = (left.min(col), right.max(col));
        }
        if top == usize::MAX {
            return Vec::new();
        }
        vec![
            (Corner::TopLeft, Pos::new(top, left)),
            (Corner::TopRight, Pos::new(top, right)),
            (Corner::BottomRight, Pos::new(bottom, right)),
        ]
    }

    /// Row-major index of a cell.
    #[inline]
    pub fn index(&self, pos: Pos) -> usize {
        pos.row * self.size + pos.col
    }

    /// Whether `pos` is a wall (cells outside the world count as wall).
    #[inline]
    pub fn is_wall(&self, pos: Pos) -> bool {
        pos.row >= self.size || pos.col >= self.size || self.walls[self.index(pos)]
    }

    /// Free neighbours of a cell, in action order (up, down, left, right).
    pub fn neighbours(&self, pos: Pos) -> impl Iterator<Item = Pos> + '_ {
        Direction::ALL
            .into_iter()
            .filter_map(move |a| a.apply(pos, self.size))
            .filter(move |p| !self.is_wall(*p))
    }

    /// Breadth-first distances from `from` over free cells; `usize::MAX` where unreachable.
    pub fn distances_from(&self, from: Pos) -> Vec<usize> {
        let mut dist = vec![usize::MAX; self.size * self.size];
        if self.is_wall(from) {
            return dist;
        }
        let mut queue = VecDeque::from([from]);
        dist[self.index(from)] = 0;
        while let Some(p) = queue.pop_front() {
            let d = dist[self.index(p)];
            for n in self.neighbours(p) {
                let i = self.index(n);
                if dist[i] == usize::MAX {
                    dist[i] = d + 1;
                    queue.push_back(n);
                }
            }
        }
        dist
    }

    /// Shortest path length from the start to the cheese, if reachable.
    pub fn cheese_distance(&self) -> Option<usize> {
        let d = self.distances_from(self.start)[self.index(self.cheese)];
        (d != usize::MAX).then_some(d)
    }

    /// Shortest path length from the start to the cheese that never steps on the corner (unless
    /// the cheese lies on it), if there is one. The corner-first metric counts an episode as
    /// reaching the cheese "first" only along such a path, so where there is none (in a perfect
    /// maze: the corner lies on the one path to the cheese) no policy can.
    pub fn cheese_distance_avoiding_corner(&self) -> Option<usize> {
        let mut detour = self.clone();
        if self.corner != self.cheese && self.corner != self.start {
            let corner = self.index(self.corner);
            detour.walls[corner] = true;
        }
        detour.cheese_distance()
    }

    /// Whether the grid is `size x size` (3 to [`MAX_WORLD_SIZE`]) and the start, cheese
    /// and corner lie inside it; what is wrong otherwise (for layouts read from files).
    pub fn check_shape(&self) -> Result<(), String> {
        if !(3..=MAX_WORLD_SIZE).contains(&self.size) {
            return Err(format!(
                "layout size {} is not between 3 and {}",
                self.size, MAX_WORLD_SIZE
            ));
        }
        if self.walls.len() != self.size * self.size {
            return Err(format!(
                "a {0}x{0} layout has {1} wall flags, not {2}",
                self.size,
                self.walls.len(),
                self.size * self.size
            ));
        }
        for (what, p) in [
            ("start", self.start),
            ("cheese", self.cheese),
            ("corner", self.corner),
        ] {
            if p.row >= self.size || p.col >= self.size {
                return Err(format!(
                    "the {what} at row {}, column {} lies outside the {2}x{2} layout",
                    p.row, p.col, self.size
                ));
            }
        }
        Ok(())
    }

    /// Number of free cells.
    pub fn free_cells(&self) -> usize {
        self.walls.iter().filter(|w| !**w).count()
    }

    /// The layout centred in a larger world, padded with wall (policies see a fixed world size).
    pub fn padded_to(&self, size: usize) -> Option<Layout> {
        if size < self.size {
            return None;
        }
        if size == self.size {
            return Some(self.clone());
        }
        let off = (size - self.size) / 2;
        let mut walls = vec![true; size * size];
        for row in 0..self.size {
            for col in 0..self.size {
                walls[(row + off) * size + col + off] = self.walls[row * self.size + col];
            }
        }
        let shift = |p: Pos| Pos::new(p.row + off, p.col + off);
        Some(Layout {
            size,
            walls,
            start: shift(self.start),
            cheese: shift(self.cheese),
            corner: shift(self.corner),
        })
    }

    /// ASCII rows: `#` wall, `.` floor, `M` start, `C` cheese (the level-file alphabet).
    pub fn ascii_rows(&self) -> Vec<String> {
        (0..self.size)
            .map(|row| {
                (0..self.size)
                    .map(|col| {
                        let p = Pos::new(row, col);
                        if p == self.cheese {
                            'C'
                        } else if p == self.start {
                            'M'
                        } else if self.is_wall(p) {
                            '#'
                        } else {
                            '.'
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 maze whose only way to the cheese runs through the corner, then one with a detour.
    #[test]
    fn the_cheese_is_reached_first_only_along_a_path_that_avoids_the_corner() {
        let mut layout = Layout {
            size: 3,
            walls: vec![false; 9],
            start: Pos::new(2, 0),
            cheese: Pos::new(1, 2),
            corner: Pos::new(0, 2),
        };
        for wall in [Pos::new(1, 1), Pos::new(2, 1), Pos::new(2, 2)] {
            let i = layout.index(wall);
            layout.walls[i] = true;
        }
        assert_eq!(layout.cheese_distance(), Some(5));
        assert_eq!(layout.cheese_distance_avoiding_corner(), None);
        let middle = layout.index(Pos::new(1, 1));
        layout.walls[middle] = false;
        assert_eq!(layout.cheese_distance_avoiding_corner(), Some(3));
        // The cheese on the corner itself counts as reached first.
        layout.cheese = layout.corner;
        assert_eq!(layout.cheese_distance_avoiding_corner(), Some(4));
    }
}
