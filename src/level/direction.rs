//! Directions on the world grid: the four steps between neighbouring cells and where each leads.

use super::Pos;
use serde::{Deserialize, Serialize};

/// A step on the grid: up, down, left or right (the agent's four moves; Procgen's 15 actions
/// collapse to these, see `sim::Action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Up = 0,
    Down = 1,
    Left = 2,
    Right = 3,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Up,
        Direction::Down,
        Direction::Left,
        Direction::Right,
    ];
    pub const COUNT: usize = 4;

    /// The direction with this index (`index % 4`).
    pub fn from_index(index: usize) -> Direction {
        Direction::ALL[index % 4]
    }

    /// The neighbouring cell in this direction, if it lies inside a `size x size` grid.
    #[inline]
    pub fn apply(self, pos: Pos, size: usize) -> Option<Pos> {
        match self {
            Direction::Up => pos.row.checked_sub(1).map(|row| Pos::new(row, pos.col)),
            Direction::Down => (pos.row + 1 < size).then(|| Pos::new(pos.row + 1, pos.col)),
            Direction::Left => pos.col.checked_sub(1).map(|col| Pos::new(pos.row, col)),
            Direction::Right => (pos.col + 1 < size).then(|| Pos::new(pos.row, pos.col + 1)),
        }
    }

    /// Lower-case name, as used in rollout text and prompts.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Left => "left",
            Direction::Right => "right",
        }
    }
}
