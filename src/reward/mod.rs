//! The learned reward R_hat(s_t, s_t+1): a small conv net over both observations, trained with
//! the Bradley-Terry loss on soft preference labels, normalised for PPO, and read as per-step
//! rewards, as potentials and as heatmaps. `config` holds its settings, `net` the network, `host`
//! its copy that inference runs on, `dataset` what it learns from, `train` the training, `report`
//! what a trained model is judged by.

mod config;
mod dataset;
mod host;
mod net;
mod report;
mod train;

pub use config::{RewardConfig, RewardForm};
pub use dataset::Preference;
pub use host::HostRewardNet;
pub use net::RewardNet;
pub use report::{ClassRow, RewardReport, StepProfile};

use crate::level::{Layout, Pos};
use crate::rl::shaping::{ShapingForm, ShapingReward};
use crate::sim::obs::write_observation_at;
use crate::sim::obs_len;

/// A trained reward model with its normalisation (mean/std of R_hat over training transitions).
pub struct RewardModel {
    /// The trained network's host copy (inference reads it; training keeps the burn module).
    net: HostRewardNet,
    world: usize,
    /// Subtracted from R_hat (a quantile over real steps; see `RewardConfig::offset_quantile`).
    pub offset: f32,
    pub std: f32,
    pub scale: f32,
    /// See [`RewardConfig::absorbing_value`].
    pub absorbing_value: bool,
    /// See [`RewardConfig::form`].
    pub form: RewardForm,
    /// See [`RewardConfig::goal_margin`].
    pub goal_margin: Option<f32>,
}

impl RewardModel {
    /// Normalised R_hat, as PPO sees it (for `TrainedPotential`, the difference of normalised
    /// potentials, undiscounted).
    pub fn rewards(&self, features: &[f32]) -> Vec<f32> {
        let offset = if self.form == RewardForm::TrainedPotential {
            0.0
        } else {
            self.offset
        };
        self.raw_rewards(features)
            .into_iter()
            .map(|r| self.scale * (r - offset) / self.std)
            .collect()
    }

    /// Normalised f(s) for each observation of `states` (`[n, obs_len]`): the potential of the
    /// potential forms — R_hat(s, s), the reward of staying in s, for `Potential` (and the
    /// reward of staying on the cheese for `Direct`), the network's state score itself for
    /// `TrainedPotential`.
    pub fn potentials(&self, states: &[f32]) -> Vec<f32> {
        if self.form == RewardForm::TrainedPotential {
            return self
                .raw_potentials(states)
                .into_iter()
                .map(|f| self.scale * (f - self.offset) / self.std)
                .collect();
        }
        let len = obs_len(self.world);
        let mut stays = Vec::with_capacity(2 * states.len());
        for state in states.chunks_exact(len) {
            stays.extend_from_slice(state);
            stays.extend_from_slice(state);
        }
        self.rewards(&stays)
    }

    /// The learned reward as a heatmap over `layout` (row-major; None on walls), in the form PPO
    /// uses it: the potential f of the mouse standing in each cell for the `Potential` form, the
    /// reward for stepping into each cell for the `Direct` form.
    pub fn heatmap(&self, layout: &Layout) -> Vec<Option<f32>> {
        match self.form {
            RewardForm::Direct => self.entry_heatmap(layout),
            RewardForm::Potential | RewardForm::TrainedPotential => self.stay_heatmap(layout),
        }
    }

    /// The world size the model reads.
    pub fn world_size(&self) -> usize {
        self.world
    }

    /// Raw R_hat for a block of transition features `[n, 2 * obs_len]` (for a trained potential,
    /// g(s_t+1) - g(s_t)).
    pub(crate) fn raw_rewards(&self, features: &[f32]) -> Vec<f32> {
        if self.form != RewardForm::TrainedPotential {
            return self.net.scores(features);
        }
        let len = obs_len(self.world);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for row in features.chunks_exact(2 * len) {
            before.extend_from_slice(&row[..len]);
            after.extend_from_slice(&row[len..]);
        }
        let f = self.net.stay_scores(&before);
        let f_next = self.net.stay_scores(&after);
        f_next.iter().zip(&f).map(|(b, a)| b - a).collect()
    }

    /// Raw g(s, s) of the network for each observation of `states` (`[n, obs_len]`).
    pub(crate) fn raw_potentials(&self, states: &[f32]) -> Vec<f32> {
        self.net.stay_scores(states)
    }

    /// Normalised R_hat(g, g) of the goal state g of each transition row `[s_t, s_t+1]`: s_t
    /// with the mouse moved onto the cheese, the reward of staying there.
    fn goal_rewards(&self, features: &[f32]) -> Vec<f32> {
        let len = obs_len(self.world);
        let plane = self.world * self.world;
        let mut goals = Vec::with_capacity(features.len() / 2);
        for row in features.chunks_exact(2 * len) {
            let start = goals.len();
            goals.extend_from_slice(&row[..len]);
            let goal = &mut goals[start..];
            let (walls_and_mouse, cheese) = goal.split_at_mut(2 * plane);
            walls_and_mouse[plane..].copy_from_slice(cheese);
        }
        self.potentials(&goals)
    }

    /// Normalised R_hat(s, s) of the mouse standing in each free cell of `layout`.
    fn stay_heatmap(&self, layout: &Layout) -> Vec<Option<f32>> {
        let len = obs_len(layout.size);
        let cells: Vec<Pos> = (0..layout.size * layout.size)
            .map(|i| Pos::new(i / layout.size, i % layout.size))
            .filter(|&p| !layout.is_wall(p))
            .collect();
        let mut states = vec![0.0; cells.len() * len];
        for (&cell, state) in cells.iter().zip(states.chunks_mut(len)) {
            write_observation_at(layout, cell, state);
        }
        let mut out = vec![None; layout.size * layout.size];
        for (&cell, value) in cells.iter().zip(self.potentials(&states)) {
            out[layout.index(cell)] = Some(value);
        }
        out
    }

    /// Normalised R_hat for stepping into each free cell of `layout`, averaged over the moves
    /// from its free neighbours (row-major; None on walls).
    fn entry_heatmap(&self, layout: &Layout) -> Vec<Option<f32>> {
        let len = obs_len(layout.size);
        let mut moves = Vec::new();
        for i in 0..layout.size * layout.size {
            let to = Pos::new(i / layout.size, i % layout.size);
            if layout.is_wall(to) {
                continue;
            }
            for from in layout.neighbours(to) {
                moves.push((from, to));
            }
        }
        let mut features = vec![0.0; moves.len() * 2 * len];
        for (&(from, to), row) in moves.iter().zip(features.chunks_mut(2 * len)) {
            write_observation_at(layout, from, &mut row[..len]);
            write_observation_at(layout, to, &mut row[len..]);
        }
        let rewards = self.rewards(&features);
        let mut sums = vec![(0.0f32, 0usize); layout.size * layout.size];
        for (&(_, to), r) in moves.iter().zip(rewards) {
            let cell = &mut sums[layout.index(to)];
            cell.0 += r;
            cell.1 += 1;
        }
        sums.into_iter()
            .map(|(sum, n)| (n > 0).then(|| sum / n as f32))
            .collect()
    }
}

/// PPO reads a learned reward through [`ShapingReward`]: in its potential form as normalised
/// potentials, in the direct form as normalised R_hat per step, capped at the goal's reward minus
/// `goal_margin` when that is set.
impl ShapingReward for RewardModel {
    fn form(&self) -> ShapingForm {
        if self.form.is_potential() {
            ShapingForm::Potential
        } else {
            ShapingForm::Direct {
                absorbing_value: self.absorbing_value,
            }
        }
    }

    fn potentials(&self, states: &[f32]) -> Vec<f32> {
        RewardModel::potentials(self, states)
    }

    fn transition_rewards(&self, transitions: &[f32]) -> Vec<f32> {
        let mut rewards = self.rewards(transitions);
        if let Some(margin) = self.goal_margin {
            for (r_hat, goal) in rewards.iter_mut().zip(self.goal_rewards(transitions)) {
                *r_hat = r_hat.min(goal - margin);
            }
        }
        rewards
    }
}

#[cfg(test)]
mod tests;
