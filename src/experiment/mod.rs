//! The paper's loop as a pipeline: rollouts of the paused agent, an LLM round ([`round`]: analysis,
//! scenarios, swap-averaged preferences), the reward model, fine-tuning — and the region x seed
//! study with its reports, its units of work shared between workers ([`cells`]).

pub mod arm;
pub mod cells;
pub mod diagnosis;
pub mod error;
#[cfg(feature = "embedded")]
pub mod judge_eval;
#[cfg(feature = "embedded")]
pub mod menu_ranking;
pub mod plot;
pub mod preferences;
pub mod rollouts;
pub mod round;
pub mod split;
pub mod study;

pub use error::ExperimentError;
pub use preferences::{PreferenceRound, gather_preferences};
pub use rollouts::collect_rollouts;
