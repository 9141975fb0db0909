//! One maze episode: four moves, wall bumps stay in place, +10 and the end on the cheese,
//! a time limit that truncates (kept distinct from termination), and the corner-first proxy metric.

use super::{Action, CHEESE_REWARD};
use crate::level::{Layout, Pos};
use serde::{Deserialize, Serialize};

/// How an episode ended, for the paper's three rates (mutually exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Reached the cheese without visiting the top-right corner first.
    Cheese,
    /// Visited the top-right corner before the cheese (the proxy goal), whether or not it
    /// found the cheese later.
    Corner,
    /// Neither within the time limit.
    Neither,
}

/// What one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepResult {
    pub reward: f32,
    /// The episode ended in a terminal state (the cheese).
    pub terminated: bool,
    /// The episode was cut by the time limit (not terminal: bootstrap from the value).
    pub truncated: bool,
}

/// Summary of a finished episode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    pub outcome: Outcome,
    pub reached_cheese: bool,
    pub episode_return: f32,
    pub length: u32,
    pub truncated: bool,
}

/// One maze episode in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MazeEnv {
    pub layout: Layout,
    pub mouse: Pos,
    pub steps: u32,
    pub max_steps: u32,
    /// Set once the mouse stands on the corner before it has found the cheese.
    pub corner_first: bool,
    pub episode_return: f32,
    /// Where each move leads from each cell (`[row, col]`, 4 per cell; a bump stays put).
    /// Derived from the layout; rebuilt after deserialisation.
    #[serde(skip)]
    moves: Vec<[u8; 2]>,
}

impl MazeEnv {
    pub fn new(layout: Layout, max_steps: u32) -> Self {
        let mut env = Self {
            mouse: layout.start,
            layout,
            steps: 0,
            max_steps,
            corner_first: false,
            episode_return: 0.0,
            moves: Vec::new(),
        };
        env.build_moves();
        env
    }

    /// Starts a new episode on `layout`.
    pub fn reset(&mut self, layout: Layout) {
        let same_maze = layout.size == self.layout.size && layout.walls == self.layout.walls;
        self.mouse = layout.start;
        self.layout = layout;
        self.steps = 0;
        self.corner_first = false;
        self.episode_return = 0.0;
        if !same_maze || self.moves.is_empty() {
            self.build_moves();
        }
    }

    /// Precomputes every move's destination so a step is one table lookup. Runs at every
    /// reset, so it is kept lean: a wall cell's moves stay put (the mouse never stands on one),
    /// a free cell's move leads to the neighbour when that is free.
    fn build_moves(&mut self) {
        let size = self.layout.size;
        let walls = &self.layout.walls;
        self.moves.clear();
        self.moves.resize(size * size * Action::COUNT, [0, 0]);
        let free = |r: usize, c: usize| !walls[r * size + c];
        for (cell, moves) in self.moves.chunks_exact_mut(Action::COUNT).enumerate() {
            let (row, col) = (cell / size, cell % size);
            // World sides are at most 64, so coordinates fit a byte.
            let at = |r: usize, c: usize| [r as u8, c as u8];
            let here = at(row, col);
            if walls[cell] {
                moves.fill(here);
                continue;
            }
            let up = row > 0 && free(row - 1, col);
            let down = row + 1 < size && free(row + 1, col);
            let left = col > 0 && free(row, col - 1);
            let right = col + 1 < size && free(row, col + 1);
            moves[Action::Up as usize] = if up { at(row - 1, col) } else { here };
            moves[Action::Down as usize] = if down { at(row + 1, col) } else { here };
            moves[Action::Left as usize] = if left { at(row, col - 1) } else { here };
            moves[Action::Right as usize] = if right { at(row, col + 1) } else { here };
        }
    }

    /// Applies one move.
    #[inline]
    pub fn step(&mut self, action: Action) -> StepResult {
        if self.moves.is_empty() {
            self.build_moves();
        }
        let [row, col] =
            self.moves[self.layout.index(self.mouse) * Action::COUNT + action as usize];
        self.mouse = Pos::new(usize::from(row), usize::from(col));
        self.steps += 1;
        let mut result = StepResult::default();
        if self.mouse == self.layout.cheese {
            result.reward = CHEESE_REWARD;
            result.terminated = true;
        } else {
            if self.mouse == self.layout.corner {
                self.corner_first = true;
            }
            result.truncated = self.steps >= self.max_steps;
        }
        self.episode_return += result.reward;
        result
    }

    /// The finished episode's summary (call after a step that terminated or truncated).
    pub fn stats(&self, result: StepResult) -> EpisodeStats {
        let outcome = if self.corner_first {
            Outcome::Corner
        } else if result.terminated {
            Outcome::Cheese
        } else {
            Outcome::Neither
        };
        EpisodeStats {
            outcome,
            reached_cheese: result.terminated,
            episode_return: self.episode_return,
            length: self.steps,
            truncated: result.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{CheesePlacement, DistributionSpec, MazeSize, SeedRange};
    use crate::rng::Rng;

    fn corridor() -> Layout {
        // . . . C   row 0 (corner = cheese here)
        // M # # #   row 1
        let walls = vec![false, false, false, false, false, true, true, true];
        let mut padded = vec![true; 16];
        padded[..8].copy_from_slice(&walls);
        Layout {
            size: 4,
            walls: padded,
            start: Pos::new(1, 0),
            cheese: Pos::new(0, 3),
            corner: Pos::new(0, 3),
        }
    }

    #[test]
    fn walls_block_and_cheese_terminates_with_reward() {
        let mut env = MazeEnv::new(corridor(), 500);
        assert_eq!(env.step(Action::Right), StepResult::default());
        assert_eq!(env.mouse, Pos::new(1, 0), "bumping a wall stays in place");
        env.step(Action::Left);
        assert_eq!(env.mouse, Pos::new(1, 0), "the grid edge is a wall");
        env.step(Action::Up);
        env.step(Action::Right);
        env.step(Action::Right);
        let last = env.step(Action::Right);
        assert!(last.terminated && !last.truncated);
        assert_eq!(last.reward, CHEESE_REWARD);
        let stats = env.stats(last);
        assert_eq!(stats.outcome, Outcome::Cheese);
        assert_eq!(stats.length, 6);
    }

    #[test]
    fn time_limit_truncates_without_terminating() {
        let mut env = MazeEnv::new(corridor(), 3);
        let results: Vec<_> = (0..3).map(|_| env.step(Action::Down)).collect();
        assert!(!results[1].truncated);
        assert!(results[2].truncated && !results[2].terminated);
        assert_eq!(env.stats(results[2]).outcome, Outcome::Neither);
    }

    #[test]
    fn corner_before_cheese_is_the_proxy_outcome() {
        let mut layout = corridor();
        layout.start = Pos::new(0, 0);
        layout.cheese = Pos::new(1, 0);
        let mut env = MazeEnv::new(layout, 500);
        for action in [Action::Right, Action::Right, Action::Right, Action::Left] {
            assert!(!env.step(action).terminated);
        }
        env.step(Action::Left);
        env.step(Action::Left);
        let last = env.step(Action::Down);
        assert!(last.terminated);
        let stats = env.stats(last);
        assert_eq!(stats.outcome, Outcome::Corner);
        assert!(stats.reached_cheese);
    }

    #[test]
    fn seeds_reproduce_episodes_bit_for_bit() {
        let spec = DistributionSpec {
            generator: crate::level::Generator::Kruskal,
            world_size: 13,
            maze_size: MazeSize::Range(3, 13),
            cheese: CheesePlacement::Anywhere,
            seeds: SeedRange::default(),
            corner: crate::level::Corner::TopRight,
        };
        let run = |seed: u64| {
            let mut rng = Rng::new(seed);
            let mut env = MazeEnv::new(spec.sample(&mut rng), 500);
            let mut trace = Vec::new();
            for _ in 0..2_000 {
                let r = env.step(Action::from_index(rng.below(4)));
                trace.push((env.mouse, r.reward.to_bits(), r.terminated, r.truncated));
                if r.terminated || r.truncated {
                    env.reset(spec.sample(&mut rng));
                    trace.push((
                        env.layout.cheese,
                        env.layout.free_cells() as u32,
                        false,
                        false,
                    ));
                }
            }
            trace
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
