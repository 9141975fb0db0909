//! The simulation: one maze episode, a vector of auto-resetting envs, observations, metrics, renders.

pub mod env;
pub mod metrics;
pub mod obs;
pub mod render;
pub mod vec_env;

pub use env::{Action, EpisodeStats, MazeEnv, Outcome, StepResult};
pub use metrics::{McNemar, OutcomeSummary, Rate, cheese_first, outcome_letters};
pub use obs::{CHANNELS, obs_len, obs_words};
pub use vec_env::VecEnv;

/// Reward for reaching the cheese (the only reward in the environment).
pub const CHEESE_REWARD: f32 = 10.0;
/// Default episode time limit (Procgen's).
pub const DEFAULT_MAX_STEPS: u32 = 500;
