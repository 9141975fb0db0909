//! Reward-model settings: the form PPO reads R_hat in, the net's size, training and normalisation.

use crate::errors::Invalid;
use serde::{Deserialize, Serialize};

/// How PPO uses the learned reward during fine-tuning (what each form did: README, "How PPO
/// reads R_hat").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RewardForm {
    /// R_hat(s_t, s_t+1) per step, as in the paper.
    Direct,
    /// gamma * f(s_t+1) - f(s_t) with the potential f(s) = R_hat(s, s), the model's reward for
    /// staying in s. Lingering anywhere telescopes to nothing, so no state can be farmed; what is
    /// left is where the episode ends: f of the cheese state when the mouse reaches it, and the
    /// shaping along the way (Ng et al. 1999).
    #[default]
    Potential,
    /// The potential learned as such: R_hat(s_t, s_t+1) = f(s_t+1) - f(s_t) for a network f of
    /// one state, so a rollout's Bradley-Terry return telescopes to f(s_T) - f(s_0) and the
    /// preferences rank where rollouts end (on the cheese, closer to it, in the corner). PPO sees
    /// gamma * f(s_t+1) - f(s_t) as in `Potential`.
    TrainedPotential,
}

impl RewardForm {
    /// Whether PPO sees gamma * f(s') - f(s) (rather than R_hat per step).
    pub fn is_potential(self) -> bool {
        matches!(self, Self::Potential | Self::TrainedPotential)
    }
}

/// Reward-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardConfig {
    pub hidden: usize,
    /// Convolution layers of the reward net (see [`super::RewardNet::new`]).
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Row and column planes as extra inputs (see [`super::RewardNet::new`]).
    #[serde(default)]
    pub coordinates: bool,
    /// Width of a hidden layer between the pooled features and the output (0: a linear read-out).
    /// With `coordinates` it lets the model compare where the mouse and the cheese are (a linear
    /// read-out of pooled features can only add them up).
    #[serde(default)]
    pub readout_hidden: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Pairs per gradient step.
    pub batch_pairs: usize,
    /// Share of pairs held out for the report.
    pub holdout: f64,
    /// Pad episodes that ended on the cheese with the absorbing transition (s_T, s_T) — the mouse
    /// staying on the cheese — up to the longest episode, so summed rewards compare equally long
    /// sequences and cannot separate outcomes by length alone (an all-zero end token instead is
    /// learned as "ending is good", with nothing about the cheese).
    #[serde(default = "default_true")]
    pub absorbing_padding: bool,
    /// PPO sees scale * (R_hat - q) / std with q this quantile of R_hat over real steps. Unset:
    /// the form's default. `Direct`: 1.0 (the maximum), so steps cost something and no state is
    /// worth lingering in. `Potential`: 0.0 (the minimum), so every potential is >= 0 and
    /// standing still costs (1 - gamma) * f(s).
    #[serde(default)]
    pub offset_quantile: Option<f64>,
    /// Multiplies the normalised reward. Unset: 0.1 for `Direct` (large per-step returns swamp the
    /// value head of the shared torso when fine-tuning starts), 1.0 for `Potential`.
    #[serde(default)]
    pub scale: Option<f32>,
    /// `Direct` form only: when an episode ends on the cheese, PPO also receives the discounted
    /// value of staying in the absorbing state forever, gamma / (1 - gamma) * R_hat(s_T, s_T), as
    /// the padding showed it to the reward model. Off by default.
    #[serde(default)]
    pub absorbing_value: bool,
    /// `Direct` form only: caps every step's normalised reward at the reward of staying on the
    /// cheese of the same maze minus this margin, so no ordinary step can pay as much as the goal
    /// and lingering never beats ending the episode on the cheese.
    #[serde(default)]
    pub goal_margin: Option<f32>,
    /// Direct R_hat per step (the paper) or its potential form.
    #[serde(default)]
    pub form: RewardForm,
}

fn default_layers() -> usize {
    2
}

fn default_true() -> bool {
    true
}

impl RewardConfig {
    /// Every value in range, or what is wrong and how to fix it (named as in a study config).
    pub fn validate(&self) -> Result<(), Invalid> {
        let field = |name: &str, value: String, want: &str| {
            Err(Invalid(format!(
                "reward.{name} is {value}: it must be {want}"
            )))
        };
        if self.hidden == 0 {
            return field("hidden", "0".into(), "at least 1 (e.g. 16)");
        }
        if self.layers == 0 {
            return field("layers", "0".into(), "at least 1 (e.g. 2)");
        }
        if self.epochs == 0 {
            return field("epochs", "0".into(), "at least 1 (e.g. 10)");
        }
        if self.batch_pairs == 0 {
            return field("batch_pairs", "0".into(), "at least 1 (e.g. 32)");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return field(
                "learning_rate",
                self.learning_rate.to_string(),
                "a positive number (e.g. 0.003)",
            );
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return field(
                "holdout",
                self.holdout.to_string(),
                "a share from 0 up to (not including) 1 (e.g. 0.2)",
            );
        }
        if let Some(q) = self.offset_quantile
            && !(0.0..=1.0).contains(&q)
        {
            return field("offset_quantile", q.to_string(), "from 0 to 1, or unset");
        }
        if let Some(s) = self.scale
            && !(s.is_finite() && s > 0.0)
        {
            return field("scale", s.to_string(), "a positive number, or unset");
        }
        Ok(())
    }

    /// The offset quantile in use (see [`RewardConfig::offset_quantile`]).
    pub fn offset_quantile(&self) -> f64 {
        let default = match self.form {
            RewardForm::Direct => 1.0,
            RewardForm::Potential | RewardForm::TrainedPotential => 0.0,
        };
        self.offset_quantile.unwrap_or(default).clamp(0.0, 1.0)
    }

    /// The scale in use (see [`RewardConfig::scale`]).
    pub fn scale(&self) -> f32 {
        let default = match self.form {
            RewardForm::Direct => 0.1,
            RewardForm::Potential | RewardForm::TrainedPotential => 1.0,
        };
        self.scale.unwrap_or(default)
    }
}

impl Default for RewardConfig {
    /// The reward model every round uses unless a config says otherwise: the 7x7 conv study's
    /// validated one, a potential learned as such with coordinates and a hidden read-out, at
    /// learning rate 0.003 (a field a config leaves out takes its serde default instead).
    fn default() -> Self {
        Self {
            hidden: 16,
            layers: default_layers(),
            coordinates: true,
            readout_hidden: 32,
            epochs: 10,
            learning_rate: 3e-3,
            batch_pairs: 32,
            holdout: 0.2,
            absorbing_padding: true,
            offset_quantile: None,
            scale: None,
            absorbing_value: false,
            goal_margin: None,
            form: RewardForm::TrainedPotential,
        }
    }
}
