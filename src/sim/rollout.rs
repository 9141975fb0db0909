//! One recorded episode (the maze, the path walked, the moves, how it ended): what judges read,
//! reward models learn from and the app replays.

use super::obs::write_observation_at;
use super::{Action, CHEESE_REWARD, EpisodeStats, Outcome};
use crate::level::{Layout, Pos};
use serde::{Deserialize, Serialize};

/// One recorded episode: the maze, the path walked, the moves, and (for the oracle and for
/// diagnostics only) how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub layout: Layout,
    /// Cells visited, starting with the start cell (one more than `actions`).
    pub path: Vec<Pos>,
    pub actions: Vec<Action>,
    pub stats: EpisodeStats,
}

impl Rollout {
    /// A rollout whose summary is read off its path: it reached the cheese if the path ends
    /// there (the cheese ends an episode), went corner-first if it stepped onto the corner before
    /// that; otherwise it was cut off after `path.len() - 1` moves.
    pub fn from_path(layout: Layout, path: Vec<Pos>, actions: Vec<Action>) -> Self {
        let reached = path.len() > 1 && path.last() == Some(&layout.cheese);
        let moved = path.get(1..).unwrap_or_default();
        let before_end = &moved[..moved.len() - usize::from(reached)];
        let corner_first = before_end.contains(&layout.corner);
        let outcome = match (reached, corner_first) {
            (_, true) => Outcome::Corner,
            (true, false) => Outcome::Cheese,
            (false, false) => Outcome::Neither,
        };
        let stats = EpisodeStats {
            outcome,
            reached_cheese: reached,
            episode_return: if reached { CHEESE_REWARD } else { 0.0 },
            length: path.len().saturating_sub(1) as u32,
            truncated: !reached,
        };
        Self {
            layout,
            path,
            actions,
            stats,
        }
    }

    /// The float observation at step `t` (the mouse at `path[t]`).
    pub fn observation_at(&self, t: usize, out: &mut [f32]) {
        write_observation_at(&self.layout, self.path[t], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_follows_the_path() {
        // An open 3x3 room: start bottom-left, corner top-right, cheese top-left.
        let layout = Layout {
            size: 3,
            walls: vec![false; 9],
            start: Pos::new(2, 0),
            cheese: Pos::new(0, 0),
            corner: Pos::new(0, 2),
        };
        let cells = |c: &[(usize, usize)]| c.iter().map(|&(r, c)| Pos::new(r, c)).collect();
        let summary = |path: Vec<Pos>| {
            let r = Rollout::from_path(layout.clone(), path, Vec::new());
            (r.stats.outcome, r.stats.reached_cheese, r.stats.length)
        };
        assert_eq!(
            summary(cells(&[(2, 0), (1, 0), (0, 0)])),
            (Outcome::Cheese, true, 2)
        );
        assert_eq!(
            summary(cells(&[
                (2, 0),
                (1, 0),
                (1, 1),
                (0, 1),
                (0, 2),
                (0, 1),
                (0, 0)
            ])),
            (Outcome::Corner, true, 6)
        );
        assert_eq!(
            summary(cells(&[(2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])),
            (Outcome::Corner, false, 4)
        );
        assert_eq!(
            summary(cells(&[(2, 0), (2, 1)])),
            (Outcome::Neither, false, 1)
        );
        assert_eq!(summary(cells(&[(2, 0)])), (Outcome::Neither, false, 0));
    }
}
