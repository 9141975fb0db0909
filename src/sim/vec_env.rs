//! N environments stepped together with auto-reset; one seed gives every env its own stream.

use super::obs::{obs_len, obs_words};
use super::{Action, EpisodeStats, MazeEnv};
use crate::level::LevelSource;
use crate::rng::{Rng, derive_seed};
use serde::{Deserialize, Serialize};

/// A batch of maze envs drawing levels from one source; `Send`, so it can live on a worker thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VecEnv {
    pub envs: Vec<MazeEnv>,
    rngs: Vec<Rng>,
    source: LevelSource,
    /// Packed static observation bits per env (walls + cheese), refreshed on reset.
    statics: Vec<u64>,
    /// Reward of each env's last step.
    pub rewards: Vec<f32>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// For envs whose last step ended the episode: the observation it ended in (before the reset).
    pub final_obs: Vec<f32>,
    /// Episodes that ended on the last step, as (env index, stats).
    pub finished: Vec<(usize, EpisodeStats)>,
}

impl VecEnv {
    /// `n` envs; env `i` draws its levels from `derive_seed(seed, i)`.
    pub fn new(source: LevelSource, n: usize, seed: u64, max_steps: u32) -> Self {
        let mut rngs: Vec<Rng> = (0..n as u64)
            .map(|i| Rng::new(derive_seed(seed, i)))
            .collect();
        let envs: Vec<MazeEnv> = rngs
            .iter_mut()
            .map(|rng| MazeEnv::new(source.sample(rng), max_steps))
            .collect();
        let size = source.world_size();
        let words = obs_words(size);
        let mut statics = vec![0; n * words];
        for (env, out) in envs.iter().zip(statics.chunks_mut(words)) {
            env.static_observation_bits(out);
        }
        Self {
            envs,
            rngs,
            source,
            statics,
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            final_obs: vec![0.0; n * obs_len(size)],
            finished: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether a batch read back from a file is whole: `expected` envs, every buffer of its
    /// size, every maze and mouse inside the world the levels come from.
    pub fn validate(&self, expected: usize) -> Result<(), String> {
        self.source.validate()?;
        let n = self.envs.len();
        if n != expected {
            return Err(format!("{n} envs, but the config runs {expected}"));
        }
        let size = self.world_size();
        for (what, len, want) in [
            ("rngs", self.rngs.len(), n),
            ("statics", self.statics.len(), n * obs_words(size)),
            ("rewards", self.rewards.len(), n),
            ("terminated", self.terminated.len(), n),
            ("truncated", self.truncated.len(), n),
            ("final_obs", self.final_obs.len(), n * obs_len(size)),
        ] {
            if len != want {
                return Err(format!("{what} holds {len} entries, not {want}"));
            }
        }
        for (i, env) in self.envs.iter().enumerate() {
            env.layout
                .check_shape()
                .map_err(|e| format!("env {i}: {e}"))?;
            if env.layout.size != size {
                return Err(format!(
                    "env {i}: a {0}x{0} maze in a {1}x{1} world",
                    env.layout.size, size
                ));
            }
            if env.mouse.row >= size || env.mouse.col >= size {
                return Err(format!("env {i}: the mouse lies outside the world"));
            }
        }
        if let Some((i, _)) = self.finished.iter().find(|(i, _)| *i >= n) {
            return Err(format!("a finished episode names env {i} of {n}"));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    pub fn world_size(&self) -> usize {
        self.source.world_size()
    }

    pub fn source(&self) -> &LevelSource {
        &self.source
    }

    /// Draws every later reset from `source` (episodes under way finish in their mazes); its
    /// world must be the size the envs already have.
    pub fn set_source(&mut self, source: LevelSource) -> Result<(), String> {
        if source.world_size() != self.world_size() {
            return Err(format!(
                "levels '{}' are {1}x{1} worlds but these envs are {2}x{2}",
                source.name(),
                source.world_size(),
                self.world_size()
            ));
        }
        self.source = source;
        Ok(())
    }

    /// Length of one env's observation.
    pub fn obs_len(&self) -> usize {
        obs_len(self.world_size())
    }

    /// Steps every env with its action index (0..4); finished episodes reset at once.
    pub fn step(&mut self, actions: &[usize]) {
        self.finished.clear();
        let len = self.obs_len();
        let words = obs_words(self.world_size());
        for (i, env) in self.envs.iter_mut().enumerate() {
            let result = env.step(Action::from_index(actions[i]));
            self.rewards[i] = result.reward;
            self.terminated[i] = result.terminated;
            self.truncated[i] = result.truncated;
            if result.terminated || result.truncated {
                env.write_observation(&mut self.final_obs[i * len..(i + 1) * len]);
                self.finished.push((i, env.stats(result)));
                env.reset(self.source.sample(&mut self.rngs[i]));
                env.static_observation_bits(&mut self.statics[i * words..(i + 1) * words]);
            }
        }
    }

    /// Writes every env's current observation as floats (`len() * obs_len()`).
    pub fn write_observations(&self, out: &mut [f32]) {
        let len = self.obs_len();
        for (env, chunk) in self.envs.iter().zip(out.chunks_mut(len)) {
            env.write_observation(chunk);
        }
    }

    /// Writes every env's current observation as packed bits (`len() * obs_words(size)`).
    pub fn write_observation_bits(&self, out: &mut [u64]) {
        let words = obs_words(self.world_size());
        for ((env, statics), chunk) in self
            .envs
            .iter()
            .zip(self.statics.chunks(words))
            .zip(out.chunks_mut(words))
        {
            env.write_observation_bits(statics, chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::DistributionSpec;

    fn source() -> LevelSource {
        LevelSource::Distribution {
            name: "t".into(),
            spec: DistributionSpec::training(9, 3),
        }
    }

    #[test]
    fn auto_resets_and_reports_finished_episodes() {
        let mut venv = VecEnv::new(source(), 8, 5, 20);
        let mut rng = Rng::new(0);
        let mut finished = 0;
        for _ in 0..200 {
            let actions: Vec<usize> = (0..8).map(|_| rng.below(4)).collect();
            venv.step(&actions);
            for &(i, stats) in &venv.finished {
                assert!(venv.terminated[i] || venv.truncated[i]);
                assert!(stats.length <= 20);
                assert_eq!(venv.envs[i].steps, 0, "env {i} was reset");
            }
            finished += venv.finished.len();
        }
        assert!(
            finished >= 80,
            "every episode ends within 20 steps: {finished}"
        );
    }

    #[test]
    fn envs_get_distinct_streams_and_the_seed_reproduces_them() {
        let a = VecEnv::new(source(), 4, 1, 500);
        let b = VecEnv::new(source(), 4, 1, 500);
        let c = VecEnv::new(source(), 4, 2, 500);
        let layouts = |v: &VecEnv| v.envs.iter().map(|e| e.layout.clone()).collect::<Vec<_>>();
        assert_eq!(layouts(&a), layouts(&b));
        assert_ne!(layouts(&a), layouts(&c));
        assert_ne!(a.envs[0].layout, a.envs[1].layout);
    }

    #[test]
    fn finished_envs_keep_their_final_observation() {
        let mut venv = VecEnv::new(source(), 2, 9, 1);
        let mut expected = vec![0.0; venv.obs_len()];
        let mut before = venv.envs[0].clone();
        before.step(Action::Left);
        before.write_observation(&mut expected);
        venv.step(&[2, 2]);
        assert!(venv.truncated[0] || venv.terminated[0]);
        assert_eq!(&venv.final_obs[..venv.obs_len()], &expected[..]);
        assert_eq!(venv.envs[0].steps, 0, "and they were reset");
    }
}
