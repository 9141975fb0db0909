//! What the reward model learns from: preferences over pairs of recorded episodes, and each
//! episode's transitions as `[s_t, s_t+1]` feature rows (padded with the absorbing transition).

use crate::sim::{Rollout, obs_len};
use serde::{Deserialize, Serialize};

/// One preference between two rollouts (indices into the rollouts it was labelled on):
/// `mu_first` in [0, 1] is how much `first` is preferred (1 = first better, 0 = second, 0.5 equal).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preference {
    pub first: usize,
    pub second: usize,
    pub mu_first: f32,
}

/// Transition features of a rollout: `[len, 2 * obs_len]`, padded with absorbing transitions to
/// `pad_to` rows when the episode ended on the cheese.
pub(super) fn features(rollout: &Rollout, pad_to: usize) -> Vec<f32> {
    let len = obs_len(rollout.layout.size);
    let steps = rollout.path.len().saturating_sub(1);
    let rows = if rollout.stats.reached_cheese {
        steps.max(pad_to)
    } else {
        steps
    };
    let mut out = vec![0.0; rows * 2 * len];
    let mut current = vec![0.0; len];
    if steps > 0 {
        rollout.observation_at(0, &mut current);
    }
    for t in 0..steps {
        let row = &mut out[t * 2 * len..(t + 1) * 2 * len];
        row[..len].copy_from_slice(&current);
        rollout.observation_at(t + 1, &mut row[len..]);
        current.copy_from_slice(&row[len..]);
    }
    // Absorbing state: the mouse stays on the cheese.
    for t in steps..rows {
        let row = &mut out[t * 2 * len..(t + 1) * 2 * len];
        row[..len].copy_from_slice(&current);
        row[len..].copy_from_slice(&current);
    }
    out
}

/// The rows whose R_hat sums to a rollout's return: its transitions ([`features`]), or with
/// `telescoped` (a trained potential, whose rewards g(s_t+1) - g(s_t) sum to g(s_T) - g(s_0);
/// the absorbing padding adds g(s_T) - g(s_T) = 0) the one row `[s_0, s_T]`, which costs the
/// loss two states' scores instead of two per padded step.
pub(super) fn return_rows(rollout: &Rollout, telescoped: bool, pad_to: usize) -> Vec<f32> {
    let steps = rollout.path.len().saturating_sub(1);
    if !telescoped || steps == 0 {
        return features(rollout, pad_to);
    }
    let len = obs_len(rollout.layout.size);
    let mut row = vec![0.0; 2 * len];
    rollout.observation_at(0, &mut row[..len]);
    rollout.observation_at(steps, &mut row[len..]);
    row
}

/// Every state a rollout visits, `[path.len(), obs_len]`.
pub(super) fn states(rollout: &Rollout) -> Vec<f32> {
    let len = obs_len(rollout.layout.size);
    let mut out = vec![0.0; rollout.path.len() * len];
    for (t, state) in out.chunks_mut(len).enumerate() {
        rollout.observation_at(t, state);
    }
    out
}

/// The class of a soft label in the precision/recall table: 0 `(1,0)`, 1 `(0,1)`, 2 `(0.5,0.5)`.
pub(super) fn label_class(mu: f32) -> usize {
    if mu >= 0.75 {
        0
    } else if mu <= 0.25 {
        1
    } else {
        2
    }
}
