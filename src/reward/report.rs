//! What a trained reward model is judged by: the held-out Bradley-Terry loss, the paper's
//! precision/recall/F1 table, and what it pays per kind of step.

use super::RewardModel;
use super::dataset::{Preference, features, label_class};
use crate::sim::{Rollout, obs_len};
use serde::{Deserialize, Serialize};

/// One row of the precision/recall/F1 table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    /// `(1,0)`, `(0,1)` or `(0.5,0.5)`.
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// What training reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RewardReport {
    pub train_pairs: usize,
    pub heldout_pairs: usize,
    pub final_train_loss: f64,
    pub heldout_loss: f64,
    pub table: Vec<ClassRow>,
    /// Mean normalised R_hat of steps onto the cheese, and of every other step: a reward model
    /// that learned the goal rates the first far above the second.
    pub cheese_step_reward: f64,
    pub other_step_reward: f64,
    /// Mean normalised R_hat of bumps into walls (the mouse stays put): must not look like the
    /// absorbing state, or PPO learns to bump walls.
    pub bump_step_reward: f64,
    /// Mean normalised R_hat(s_T, s_T) of staying on the cheese (the absorbing transition).
    #[serde(default)]
    pub absorbing_step_reward: f64,
    /// The same profile over the paused agent's rollouts on the training distribution, where
    /// PPO will be fine-tuned (filled in by the caller that has those rollouts).
    #[serde(default)]
    pub on_training: Option<StepProfile>,
}

/// Mean normalised R_hat per kind of transition over a set of rollouts: what the reward model pays
/// for, in the units PPO sees.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepProfile {
    /// Steps onto the cheese.
    pub cheese: f64,
    /// Every other move, and split by whether it shortens the maze distance to the cheese.
    pub other: f64,
    pub closer: f64,
    pub farther: f64,
    /// Bumps into walls (the mouse stays put).
    pub bump: f64,
    /// Steps onto the top-right corner cell when the cheese is elsewhere (the proxy goal); none
    /// when the cheese always sits on the corner.
    #[serde(default)]
    pub corner: Option<f64>,
    /// Staying on the cheese, R_hat(s_T, s_T).
    pub absorbing: f64,
    /// The 99th percentile and the maximum of real (non-absorbing) steps.
    pub p99: f64,
    pub max: f64,
}

impl RewardModel {
    /// What the model pays per kind of transition in `rollouts` (see [`StepProfile`]).
    pub fn step_profile(&self, rollouts: &[Rollout]) -> StepProfile {
        let (mut cheese, mut closer, mut farther, mut bump) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut corner = Vec::new();
        let (mut absorbing, mut real) = (Vec::new(), Vec::new());
        for r in rollouts {
            if r.stats.reached_cheese && !r.path.is_empty() {
                let mut state = vec![0.0; obs_len(r.layout.size)];
                r.observation_at(r.path.len() - 1, &mut state);
                absorbing.extend(self.potentials(&state).into_iter().map(f64::from));
            }
            let distance = r.layout.distances_from(r.layout.cheese);
            let steps = r.path.len().saturating_sub(1);
            let rewards = self.rewards(&features(r, 0));
            for (t, value) in rewards.into_iter().enumerate().take(steps) {
                let value = f64::from(value);
                real.push(value);
                let (from, to) = (r.path[t], r.path[t + 1]);
                if to == r.layout.cheese {
                    cheese.push(value);
                } else if to == r.layout.corner && from != to {
                    corner.push(value);
                } else if to == from {
                    bump.push(value);
                } else if distance[r.layout.index(to)] < distance[r.layout.index(from)] {
                    closer.push(value);
                } else {
                    farther.push(value);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        real.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            real.get(((real.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        StepProfile {
            cheese: mean(&cheese),
            other: (mean(&closer) * closer.len() as f64 + mean(&farther) * farther.len() as f64)
                / (closer.len() + farther.len()).max(1) as f64,
            closer: mean(&closer),
            farther: mean(&farther),
            bump: mean(&bump),
            corner: (!corner.is_empty()).then(|| mean(&corner)),
            absorbing: mean(&absorbing),
            p99: quantile(0.99),
            max: quantile(1.0),
        }
    }

    pub(super) fn report(
        &self,
        pairs: &[Preference],
        heldout: &[usize],
        feats: &[Vec<f32>],
        train_pairs: usize,
        final_train_loss: f64,
    ) -> RewardReport {
        let mut confusion = [[0usize; 3]; 3];
        let mut loss = 0.0;
        for &i in heldout {
            let p = &pairs[i];
            let ra: f32 = self.raw_rewards(&feats[p.first]).iter().sum();
            let rb: f32 = self.raw_rewards(&feats[p.second]).iter().sum();
            let d = f64::from(ra - rb);
            let prob = 1.0 / (1.0 + (-d).exp());
            let mu = f64::from(p.mu_first);
            loss -= mu * prob.max(1e-9).ln() + (1.0 - mu) * (1.0 - prob).max(1e-9).ln();
            let predicted = if prob > 0.6 {
                0
            } else if prob < 0.4 {
                1
            } else {
                2
            };
            confusion[label_class(p.mu_first)][predicted] += 1;
        }
        let labels = ["(1,0)", "(0,1)", "(0.5,0.5)"];
        let table = (0..3)
            .map(|c| {
                let tp = confusion[c][c] as f64;
                let predicted: usize = (0..3).map(|r| confusion[r][c]).sum();
                let actual: usize = confusion[c].iter().sum();
                let precision = if predicted > 0 {
                    tp / predicted as f64
                } else {
                    0.0
                };
                let recall = if actual > 0 { tp / actual as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassRow {
                    label: labels[c].into(),
                    precision,
                    recall,
                    f1,
                    support: actual,
                }
            })
            .collect();
        RewardReport {
            train_pairs,
            heldout_pairs: heldout.len(),
            final_train_loss,
            heldout_loss: loss / heldout.len().max(1) as f64,
            table,
            cheese_step_reward: 0.0,
            other_step_reward: 0.0,
            bump_step_reward: 0.0,
            absorbing_step_reward: 0.0,
            on_training: None,
        }
    }
}
