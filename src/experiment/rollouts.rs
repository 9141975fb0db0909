//! Records whole episodes of a policy (maze, path, moves, outcome) for judges and reward models.

use crate::level::LevelSource;
use crate::llm::Rollout;
use crate::rl::Policy;
use crate::rng::{Rng, derive_seed};
use crate::sim::VecEnv;

/// Runs `count` episodes of `policy` on `source` and records each one whole.
pub fn collect_rollouts(
    policy: &Policy,
    source: &LevelSource,
    count: usize,
    seed: u64,
    max_steps: u32,
) -> Vec<Rollout> {
    let mut quota = crate::rl::eval::episode_quotas(count, 64);
    let n_envs = quota.len();
    let mut venv = VecEnv::new(source.clone(), n_envs, derive_seed(seed, 0x5011), max_steps);
    let mut rng = Rng::new(derive_seed(seed, 0x5012));
    let mut paths: Vec<_> = venv.envs.iter().map(|e| vec![e.mouse]).collect();
    let mut moves: Vec<Vec<crate::sim::Action>> = vec![Vec::new(); n_envs];
    let mut layouts: Vec<_> = venv.envs.iter().map(|e| e.layout.clone()).collect();
    let mut obs = Vec::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let actions = policy.act(&venv, &mut obs, &mut rng, false);
        let before: Vec<_> = venv.envs.iter().map(|e| e.mouse).collect();
        venv.step(&actions);
        let mut ended = vec![None; n_envs];
        for &(e, stats) in &venv.finished {
            ended[e] = Some(stats);
        }
        for e in 0..n_envs {
            let action = crate::sim::Action::from_index(actions[e]);
            moves[e].push(action);
            match ended[e] {
                Some(stats) => {
                    // The env already reset: the last cell is where the move led.
                    let last = action
                        .apply(before[e], layouts[e].size)
                        .filter(|p| !layouts[e].is_wall(*p))
                        .unwrap_or(before[e]);
                    paths[e].push(last);
                    if quota[e] > 0 {
                        quota[e] -= 1;
                        out.push(Rollout {
                            layout: layouts[e].clone(),
                            path: std::mem::take(&mut paths[e]),
                            actions: std::mem::take(&mut moves[e]),
                            stats,
                        });
                    }
                    paths[e] = vec![venv.envs[e].mouse];
                    moves[e].clear();
                    layouts[e] = venv.envs[e].layout.clone();
                }
                None => paths[e].push(venv.envs[e].mouse),
            }
        }
    }
    out
}

/// The float observation of `rollout` at step `t` (mouse at `path[t]`).
pub fn observation_at(rollout: &Rollout, t: usize, out: &mut [f32]) {
    crate::sim::obs::write_observation_at(&rollout.layout, rollout.path[t], out);
}
