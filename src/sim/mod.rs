//! The simulation: one maze episode, a vector of auto-resetting envs, observations, metrics, renders.

pub mod env;
pub mod metrics;
pub mod obs;
mod potential;
pub mod render;
mod rollout;
pub mod vec_env;

/// The agent's four moves: one step in a grid direction.
pub use crate::level::Direction as Action;
pub use env::{EpisodeStats, MazeEnv, Outcome, StepResult};
pub use metrics::{McNemar, OutcomeSummary, Rate, cheese_first, outcome_letters};
pub use obs::{CHANNELS, obs_len, obs_words};
pub use potential::maze_distance_potentials;
pub use rollout::Rollout;
pub use vec_env::VecEnv;

/// Reward for reaching the cheese (the only reward in the environment).
pub const CHEESE_REWARD: f32 = 10.0;
/// Default episode time limit (Procgen's).
pub const DEFAULT_MAX_STEPS: u32 = 500;
