//! Fine-tuning PPO with a shaping reward: R' = lambda * R_hat + (1 - lambda) * R, with R_hat from a
//! [`ShapingReward`] (a learned reward model, or the true maze-distance potential) read in its
//! potential form (gamma * f(s') - f(s)) or per step.

use crate::sim::{CHANNELS, maze_distance_potentials};
use std::collections::HashMap;
use std::sync::Arc;

/// How PPO reads a shaping reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapingForm {
    /// gamma * f(s_t+1) - f(s_t) with f from [`ShapingReward::potentials`]: lingering anywhere
    /// telescopes away, so no state can be farmed (Ng et al. 1999).
    Potential,
    /// R_hat(s_t, s_t+1) per step from [`ShapingReward::transition_rewards`]; with
    /// `absorbing_value`, an episode that ends on the cheese also receives the discounted value of
    /// staying there forever ([`absorbing_tail`] * f(s_T)).
    Direct { absorbing_value: bool },
}

/// A reward PPO can read in place of (part of) the env's. `reward::RewardModel` implements it for
/// learned rewards, [`MazeDistance`] for the true potential.
pub trait ShapingReward: Send + Sync {
    fn form(&self) -> ShapingForm;
    /// f(s) for each observation of `states` (`[n, obs_len]`), in the units PPO sees.
    fn potentials(&self, states: &[f32]) -> Vec<f32>;
    /// R_hat(s, s') for each row `[s, s']` of `transitions` (`[n, 2 * obs_len]`), in the units PPO
    /// sees.
    fn transition_rewards(&self, transitions: &[f32]) -> Vec<f32>;
}

/// The true potential of [`maze_distance_potentials`]: the ceiling control, what a perfect reward
/// model could do when fine-tuning on the training distribution.
#[derive(Clone, Copy, Debug)]
pub struct MazeDistance {
    /// Side of the world the observations cover.
    pub world: usize,
}

impl ShapingReward for MazeDistance {
    fn form(&self) -> ShapingForm {
        ShapingForm::Potential
    }

    fn potentials(&self, states: &[f32]) -> Vec<f32> {
        maze_distance_potentials(states, self.world)
    }

    fn transition_rewards(&self, transitions: &[f32]) -> Vec<f32> {
        let len = CHANNELS * self.world * self.world;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for row in transitions.chunks_exact(2 * len) {
            before.extend_from_slice(&row[..len]);
            after.extend_from_slice(&row[len..]);
        }
        let (f, f_next) = (self.potentials(&before), self.potentials(&after));
        f_next.iter().zip(&f).map(|(b, a)| b - a).collect()
    }
}

/// Fine-tuning with a shaping reward: R' = lambda * R_hat + (1 - lambda) * R.
#[derive(Clone)]
pub struct RewardShaping {
    pub source: Arc<dyn ShapingReward>,
    pub lambda: f32,
}

/// A rollout as shaping reads it: time-major observations (`envs` per step), the observations
/// after the last step, which steps ended on the cheese, and the final observation of every
/// episode that ended (by buffer index; the env has already reset there).
pub(super) struct ShapingBuffer<'a> {
    pub obs: &'a [f32],
    pub next_obs: &'a [f32],
    pub terminated: &'a [bool],
    pub ended: &'a HashMap<usize, Vec<f32>>,
    pub envs: usize,
    pub obs_len: usize,
    pub gamma: f32,
}

impl ShapingBuffer<'_> {
    /// The observation after buffer entry `i`.
    fn next(&self, i: usize) -> &[f32] {
        let len = self.obs_len;
        match self.ended.get(&i) {
            Some(obs) => obs,
            None if (i + self.envs + 1) * len <= self.obs.len() => {
                &self.obs[(i + self.envs) * len..(i + self.envs + 1) * len]
            }
            None => {
                let e = i % self.envs;
                &self.next_obs[e * len..(e + 1) * len]
            }
        }
    }
}

impl RewardShaping {
    /// Replaces each env reward in `rewards` (one per buffer entry) by
    /// lambda * R_hat + (1 - lambda) * R.
    pub(super) fn apply(&self, buffer: &ShapingBuffer, rewards: &mut [f32]) {
        let r_hat = match self.source.form() {
            ShapingForm::Potential => potential_rewards(self.source.as_ref(), buffer),
            ShapingForm::Direct { absorbing_value } => {
                direct_rewards(self.source.as_ref(), buffer, absorbing_value)
            }
        };
        for (r, r_hat) in rewards.iter_mut().zip(r_hat) {
            *r = self.lambda * r_hat + (1.0 - self.lambda) * *r;
        }
    }
}

/// gamma * f(s_t+1) - f(s_t) for every buffer entry: staying in the cheese state after the
/// episode ends keeps f(s_T), every other stay telescopes away. Each state's potential is computed
/// once.
fn potential_rewards(source: &dyn ShapingReward, buffer: &ShapingBuffer) -> Vec<f32> {
    let f_obs = source.potentials(buffer.obs);
    let f_last = source.potentials(buffer.next_obs);
    let ended_at: Vec<usize> = buffer.ended.keys().copied().collect();
    let ended_states: Vec<f32> = ended_at
        .iter()
        .flat_map(|i| buffer.ended[i].iter().copied())
        .collect();
    let f_ended: HashMap<usize, f32> = ended_at
        .into_iter()
        .zip(source.potentials(&ended_states))
        .collect();
    let envs = buffer.envs;
    (0..f_obs.len())
        .map(|i| {
            let f_next = match f_ended.get(&i) {
                Some(&f) => f,
                None if i + envs < f_obs.len() => f_obs[i + envs],
                None => f_last[i % envs],
            };
            buffer.gamma * f_next - f_obs[i]
        })
        .collect()
}

/// R_hat(s_t, s_t+1) for every buffer entry, one step of all envs at a time, plus the absorbing
/// value on steps that ended on the cheese when asked for.
fn direct_rewards(
    source: &dyn ShapingReward,
    buffer: &ShapingBuffer,
    absorbing_value: bool,
) -> Vec<f32> {
    let (envs, len) = (buffer.envs, buffer.obs_len);
    let entries = buffer.obs.len() / len;
    let mut out = Vec::with_capacity(entries);
    let mut features = vec![0.0f32; envs * 2 * len];
    for first in (0..entries).step_by(envs) {
        for e in 0..envs {
            let i = first + e;
            let row = &mut features[e * 2 * len..(e + 1) * 2 * len];
            row[..len].copy_from_slice(&buffer.obs[i * len..(i + 1) * len]);
            row[len..].copy_from_slice(buffer.next(i));
        }
        let mut learned = source.transition_rewards(&features);
        if absorbing_value {
            // Episodes that ended on the cheese: add the discounted value of staying there, as
            // the reward model saw it in the padding.
            let done: Vec<usize> = (0..envs)
                .filter(|&e| buffer.terminated[first + e])
                .collect();
            let last: Vec<f32> = done
                .iter()
                .flat_map(|&e| {
                    features[e * 2 * len + len..(e + 1) * 2 * len]
                        .iter()
                        .copied()
                })
                .collect();
            let tail = absorbing_tail(buffer.gamma);
            for (&e, value) in done.iter().zip(source.potentials(&last)) {
                learned[e] += tail * value;
            }
        }
        out.extend(learned);
    }
    out
}

/// Discount weight of staying in the absorbing state after a terminal transition forever:
/// gamma + gamma^2 + ... = gamma / (1 - gamma). Forever, not to the time limit, because PPO
/// bootstraps truncated episodes as if they went on: an episode that lingers is valued as an
/// endless stream of its steps, so the goal must be valued the same way, and then a constant added
/// to R_hat shifts every return alike and cannot favour ending early or late.
pub fn absorbing_tail(gamma: f32) -> f32 {
    gamma / (1.0 - gamma).max(1e-6)
}
