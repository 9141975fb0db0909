//! Records whole episodes of a policy (maze, path, moves, outcome) for judges and reward models.

use crate::level::LevelSource;
use crate::rl::Policy;
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::Rollout;
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
    let mut venv = VecEnv::new(
        source.clone(),
        n_envs,
        derive_seed(seed, streams::episodes::ROLLOUT_ENVS),
        max_steps,
    );
    let mut rng = Rng::new(derive_seed(seed, streams::episodes::ROLLOUT_ACTIONS));
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

/// Cuts every rollout into consecutive pieces of at most `steps` moves, each a rollout of its own
/// (it starts where the mouse stood, ends on the cheese or after `steps` moves), so that a judge
/// compares equally long stretches of behaviour and the reward model learns which steps are
/// better, not only which episodes. An empty input or `steps == 0` returns the rollouts as they are.
pub fn segments(rollouts: &[Rollout], steps: usize) -> Vec<Rollout> {
    if steps == 0 {
        return rollouts.to_vec();
    }
    let mut out = Vec::new();
    for rollout in rollouts {
        let moves = rollout
            .actions
            .len()
            .min(rollout.path.len().saturating_sub(1));
        for from in (0..moves).step_by(steps) {
            let to = (from + steps).min(moves);
            let mut layout = rollout.layout.clone();
            layout.start = rollout.path[from];
            out.push(Rollout::from_path(
                layout,
                rollout.path[from..=to].to_vec(),
                rollout.actions[from..to].to_vec(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{Layout, Pos};
    use crate::sim::{Action, EpisodeStats, Outcome};

    #[test]
    fn segments_cover_the_episode_and_only_the_last_reaches_the_cheese() {
        // A 1x5 corridor walked left to right: start (0,0), cheese (0,4), corner (0,4).
        let layout = Layout {
            size: 5,
            walls: vec![false; 25],
            start: Pos::new(0, 0),
            cheese: Pos::new(0, 4),
            corner: Pos::new(0, 4),
        };
        let path: Vec<Pos> = (0..5).map(|c| Pos::new(0, c)).collect();
        let episode = Rollout {
            layout,
            actions: vec![Action::from_index(3); 4],
            stats: EpisodeStats {
                outcome: Outcome::Cheese,
                reached_cheese: true,
                episode_return: 10.0,
                length: 4,
                truncated: false,
            },
            path: path.clone(),
        };
        let pieces = segments(std::slice::from_ref(&episode), 3);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].path, path[..4].to_vec());
        assert_eq!(pieces[1].path, path[3..].to_vec());
        assert_eq!(pieces[1].layout.start, Pos::new(0, 3));
        assert_eq!(
            pieces
                .iter()
                .map(|p| p.stats.reached_cheese)
                .collect::<Vec<_>>(),
            [false, true]
        );
        assert_eq!(pieces[1].stats.outcome, Outcome::Cheese);
        assert_eq!(pieces[0].stats.outcome, Outcome::Neither);
        assert_eq!(pieces.iter().map(|p| p.actions.len()).sum::<usize>(), 4);
        assert_eq!(segments(std::slice::from_ref(&episode), 0), vec![episode]);
    }
}
