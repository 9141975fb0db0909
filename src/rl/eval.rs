//! A trained policy acting in mazes: batched action sampling, and evaluation of outcome rates
//! (cheese / corner-first / neither with CIs) on any level source.

use super::host;
use super::host_conv::{self, ConvWorkspace, HostConv};
use super::model::{ActorCritic, HostNet};
use crate::level::{Layout, LevelSource, Pos};
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::{Action, EpisodeStats, OutcomeSummary, VecEnv};
use burn::tensor::{Device, Tensor, TensorData};

/// Samples one action per row of `[n, 4]` logits; writes actions and their log-probabilities.
pub fn sample_actions(logits: &[f32], rng: &mut Rng, actions: &mut [usize], logprobs: &mut [f32]) {
    for (i, row) in logits.chunks(Action::COUNT).enumerate() {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs = [0.0f32; Action::COUNT];
        for (p, &l) in probs.iter_mut().zip(row) {
            *p = (l - max).exp();
        }
        let sum: f32 = probs.iter().sum();
        let a = rng.weighted(&probs);
        actions[i] = a;
        logprobs[i] = row[a] - max - sum.ln();
    }
}

/// An inference-only policy network.
#[derive(Clone, Debug)]
pub struct Policy {
    model: ActorCritic,
    device: Device,
    /// A conv network's weights for the host kernels ([`host_conv`]) when it runs on the CPU:
    /// evaluation and the study's rollouts then run as fast as training's rollouts.
    host_conv: Option<HostConv>,
}

impl Policy {
    pub fn new(model: ActorCritic, device: Device) -> Self {
        // Only the CPU runs on host kernels: other devices skip reading the weights back.
        let on_cpu = device == Device::flex();
        let host_conv = match on_cpu.then(|| model.host_net()).flatten() {
            Some(HostNet::Conv(net)) => Some(net),
            _ => None,
        };
        Self {
            model,
            device,
            host_conv,
        }
    }

    /// Logits `[n, 4]` and values `[n]` for `n` observations laid end to end.
    pub fn logits_and_values(&self, obs: &[f32], obs_len: usize) -> (Vec<f32>, Vec<f32>) {
        if let Some(net) = &self.host_conv {
            let mut workspace = ConvWorkspace::default();
            host_conv::forward(net, obs, &mut workspace);
            return (workspace.logits(), workspace.values());
        }
        let n = obs.len() / obs_len;
        let x = Tensor::<2>::from_data(TensorData::new(obs.to_vec(), [n, obs_len]), &self.device);
        let (logits, values) = self.model.forward(x);
        (host(logits), host(values))
    }

    /// Acts in every env of `venv` once (sampled, or the most likely action when `greedy`).
    pub fn act(
        &self,
        venv: &VecEnv,
        obs: &mut Vec<f32>,
        rng: &mut Rng,
        greedy: bool,
    ) -> Vec<usize> {
        let len = venv.obs_len();
        obs.resize(venv.len() * len, 0.0);
        venv.write_observations(obs);
        let (logits, _) = self.logits_and_values(obs, len);
        let mut actions = vec![0; venv.len()];
        if greedy {
            for (a, row) in actions.iter_mut().zip(logits.chunks(Action::COUNT)) {
                *a = (0..Action::COUNT)
                    .max_by(|&i, &j| row[i].total_cmp(&row[j]))
                    .unwrap_or(0);
            }
        } else {
            let mut logprobs = vec![0.0; venv.len()];
            sample_actions(&logits, rng, &mut actions, &mut logprobs);
        }
        actions
    }
}

/// Splits `episodes` over at most `max_envs` envs, fixed in advance (so that counting the first
/// episodes to finish does not over-count short ones); one entry per env.
pub fn episode_quotas(episodes: usize, max_envs: usize) -> Vec<usize> {
    let n_envs = episodes.clamp(1, max_envs.max(1));
    (0..n_envs)
        .map(|i| episodes / n_envs + usize::from(i < episodes % n_envs))
        .collect()
}

/// Runs `episodes` episodes of `policy` on `source` (each env runs a quota fixed in advance, so
/// short episodes are not over-counted) and summarises the outcomes. The episodes come back
/// ordered by env, then by episode within the env: each env draws its mazes from its own stream,
/// so two policies evaluated with the same `source`, `episodes` and `seed` play the same maze at
/// every index (what a paired test such as [`crate::sim::McNemar`] compares).
pub fn evaluate(
    policy: &Policy,
    source: &LevelSource,
    episodes: usize,
    seed: u64,
    max_steps: u32,
) -> (OutcomeSummary, Vec<EpisodeStats>) {
    let mut quota = episode_quotas(episodes, 128);
    let n_envs = quota.len();
    let mut venv = VecEnv::new(
        source.clone(),
        n_envs,
        derive_seed(seed, streams::episodes::EVALUATION_ENVS),
        max_steps,
    );
    let mut rng = Rng::new(derive_seed(seed, streams::episodes::EVALUATION_ACTIONS));
    let mut obs = Vec::new();
    let mut per_env: Vec<Vec<EpisodeStats>> =
        quota.iter().map(|&q| Vec::with_capacity(q)).collect();
    let mut remaining = episodes;
    while remaining > 0 {
        let actions = policy.act(&venv, &mut obs, &mut rng, false);
        venv.step(&actions);
        for &(env, stats) in &venv.finished {
            if quota[env] > 0 {
                quota[env] -= 1;
                remaining -= 1;
                per_env[env].push(stats);
            }
        }
    }
    let done: Vec<EpisodeStats> = per_env.into_iter().flatten().collect();
    (OutcomeSummary::from_episodes(&done), done)
}

/// Of `mazes` layouts drawn from `source`, how many a policy that knows where the cheese is
/// reaches "first" (along a path that avoids the corner, see
/// [`Layout::cheese_distance_avoiding_corner`]) within `max_steps` moves: the most any policy's
/// cheese-first rate can be on that distribution.
pub fn best_possible_cheese_rate(
    source: &LevelSource,
    mazes: usize,
    seed: u64,
    max_steps: u32,
) -> crate::sim::Rate {
    let mut rng = Rng::new(seed);
    let reachable = (0..mazes)
        .filter(|_| {
            source
                .sample(&mut rng)
                .cheese_distance_avoiding_corner()
                .is_some_and(|d| d <= max_steps as usize)
        })
        .count();
    crate::sim::Rate::new(reachable, mazes)
}

impl Policy {
    /// The most likely move and its probability with the mouse placed in each free cell of
    /// `layout` (row-major; None on walls): the policy as a vector field.
    pub fn preferred_moves(&self, layout: &Layout) -> Vec<Option<(Action, f32)>> {
        let len = crate::sim::obs::obs_len(layout.size);
        let cells: Vec<Pos> = (0..layout.size * layout.size)
            .map(|i| Pos::new(i / layout.size, i % layout.size))
            .filter(|&p| !layout.is_wall(p))
            .collect();
        let mut field = vec![None; layout.size * layout.size];
        if cells.is_empty() {
            return field;
        }
        let mut obs = vec![0.0; cells.len() * len];
        for (p, chunk) in cells.iter().zip(obs.chunks_mut(len)) {
            crate::sim::obs::write_observation_at(layout, *p, chunk);
        }
        let (logits, _) = self.logits_and_values(&obs, len);
        for (p, row) in cells.iter().zip(logits.chunks(Action::COUNT)) {
            let best = (0..Action::COUNT)
                .max_by(|&i, &j| row[i].total_cmp(&row[j]))
                .unwrap_or(0);
            let total: f32 = row.iter().map(|l| (l - row[best]).exp()).sum();
            field[layout.index(*p)] = Some((Action::from_index(best), 1.0 / total));
        }
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn a_conv_policy_on_the_cpu_runs_the_host_kernels_with_burns_outputs() {
        let device = Device::flex();
        let config = ModelConfig::Conv {
            channels: vec![8, 16],
            hidden: 32,
        };
        let (world, n) = (9, 5);
        let model = ActorCritic::new(&config, world, 4, &device);
        let policy = Policy::new(model.clone(), device.clone());
        assert!(policy.host_conv.is_some(), "a conv net on the CPU");
        let len = 3 * world * world;
        let obs: Vec<f32> = (0..n * len).map(|i| f32::from(i % 7 == 0)).collect();
        let (logits, values) = policy.logits_and_values(&obs, len);
        let x = Tensor::<2>::from_data(TensorData::new(obs, [n, len]), &device);
        let (want_logits, want_values) = model.forward(x);
        for (want, got) in [(host(want_logits), logits), (host(want_values), values)] {
            assert_eq!(want.len(), got.len());
            for (x, y) in want.iter().zip(&got) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        }
    }
}
