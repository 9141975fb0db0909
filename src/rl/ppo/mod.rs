//! PPO in CleanRL's order: rollout into time-major buffers with batched inference, GAE with
//! bootstrap on truncation, then epochs x minibatches of clipped-surrogate updates with per-minibatch
//! advantage normalisation, global grad-norm clipping, LR annealing and approx-KL early stop.

mod shards;

use super::gae::{GaeInput, gae};
use super::grads::{clip_global_norm, sweep_autodiff_graph};
use super::loss::{LossCoefs, kl_diagnostics};
use super::metrics::IterationMetrics;
use super::model::{ActorCritic, GridRows, HostNet};
use super::profile::{Lap, PhaseTimes};
use super::shaping::{RewardShaping, ShapingBuffer};
use super::{eval::sample_actions, host};
use crate::config::TrainConfig;
use crate::level::LevelSource;
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::{CHANNELS, EpisodeStats, Outcome, VecEnv};
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shards::{HostBuffers, HostMinibatch, Inference, ShardData, ShardGrads, UPDATE_SHARDS};
use std::collections::VecDeque;
use std::time::Instant;

/// Episodes kept for the rolling charts.
const RECENT_EPISODES: usize = 256;

/// Everything besides weights and optimizer state that a checkpoint must restore.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerState {
    pub global_step: u64,
    pub iteration: u64,
    pub rng: Rng,
    pub venv: VecEnv,
    pub recent: VecDeque<EpisodeStats>,
    pub episodes: u64,
}

/// Time-major rollout storage, allocated once.
struct Rollout {
    obs: Vec<f32>,
    actions: Vec<usize>,
    logprobs: Vec<f32>,
    values: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    truncated_values: Vec<f32>,
    next_obs: Vec<f32>,
}

/// Owns the network, optimizer, envs and RNG of one training run (all on the calling thread).
pub struct Trainer {
    /// Learned reward used in place of (part of) the env reward, when set.
    pub shaping: Option<RewardShaping>,
    /// (buffer index, final observation) of episodes that ended this rollout, for R_hat(s, s').
    ended_obs: Vec<(usize, Vec<f32>)>,
    pub config: TrainConfig,
    device: Device,
    model: ActorCritic,
    optim: ModuleOptimizer,
    pub state: TrainerState,
    obs_len: usize,
    buf: Rollout,
    /// The rollout's observations taken apart for the MLP's first layer (see [`GridRows`]).
    grids: Option<GridRows>,
    /// One buffer set per shard for the host kernels' updates, and one for rollout inference
    /// (its batches are smaller: sharing buffers would reshape them twice an iteration).
    workspaces: Vec<HostBuffers>,
    inference_workspaces: Vec<HostBuffers>,
    /// Time per phase of the rollouts and updates since [`Trainer::clear_phase_times`].
    times: PhaseTimes,
}

impl Trainer {
    /// A fresh run: weights, envs and RNG all derived from `config.seed`.
    pub fn new(config: TrainConfig, device: &Device) -> Result<Self, crate::config::ConfigError> {
        let source = config.training_levels()?;
        Ok(Self::on_levels(config, source, device))
    }

    /// A fresh run that trains on `source` in place of the config's training levels (the
    /// study's reference agent trains on the shifted distribution itself); `source` must have
    /// the world size the config's levels have.
    pub fn on_levels(config: TrainConfig, source: LevelSource, device: &Device) -> Self {
        let world = source.world_size();
        let train_device = device.clone().autodiff();
        let model = ActorCritic::new(
            &config.model,
            world,
            derive_seed(config.seed, streams::run::WEIGHTS),
            &train_device,
        );
        let venv = VecEnv::new(
            source,
            config.ppo.num_envs,
            derive_seed(config.seed, streams::run::ENVS),
            config.max_steps,
        );
        let state = TrainerState {
            global_step: 0,
            iteration: 0,
            rng: Rng::new(derive_seed(config.seed, streams::run::PPO)),
            venv,
            recent: VecDeque::with_capacity(RECENT_EPISODES),
            episodes: 0,
        };
        Self::assemble(config, train_device, model, optimizer(), state)
    }

    /// Trains on `source` from now on: every episode that starts from here draws its maze from
    /// it (those under way finish in theirs). The world size must stay the policy's.
    pub fn set_training_levels(
        &mut self,
        source: LevelSource,
    ) -> Result<(), crate::errors::Invalid> {
        self.state
            .venv
            .set_source(source)
            .map_err(crate::errors::Invalid)
    }

    /// Rebuilds a trainer from checkpoint parts.
    pub(crate) fn assemble(
        config: TrainConfig,
        device: Device,
        model: ActorCritic,
        optim: ModuleOptimizer,
        state: TrainerState,
    ) -> Self {
        let obs_len = state.venv.obs_len();
        let (e, s) = (config.ppo.num_envs, config.ppo.num_steps);
        let n = e * s;
        let buf = Rollout {
            obs: vec![0.0; n * obs_len],
            actions: vec![0; n],
            logprobs: vec![0.0; n],
            values: vec![0.0; n],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            truncated_values: vec![0.0; n],
            next_obs: vec![0.0; e * obs_len],
        };
        Self {
            shaping: None,
            ended_obs: Vec::new(),
            config,
            device,
            model,
            optim,
            state,
            obs_len,
            buf,
            grids: None,
            workspaces: (0..UPDATE_SHARDS).map(|_| HostBuffers::default()).collect(),
            inference_workspaces: (0..UPDATE_SHARDS).map(|_| HostBuffers::default()).collect(),
            times: PhaseTimes::default(),
        }
    }

    /// `model`'s weights on the host when it runs on the host kernels: on the CPU (the same
    /// function and gradients as burn's autodiff in a fraction of the time, see [`host_mlp`] and
    /// [`host_conv`]). The GPU runs through burn.
    fn host_weights(&self, model: &ActorCritic) -> Option<HostNet> {
        if self.device == Device::flex() {
            model.host_net()
        } else {
            None
        }
    }

    /// Where the iterations since the last [`Trainer::clear_phase_times`] spent their time: the
    /// PPO loop's phases (wall clock) and the host kernels' (summed over the threads that ran
    /// them, so about [`UPDATE_SHARDS`] times their wall clock).
    pub fn phase_times(&self) -> PhaseTimes {
        let mut times = self.times.clone();
        for ws in self.inference_workspaces.iter().chain(&self.workspaces) {
            times.merge(&ws.conv.times);
        }
        times
    }

    /// Starts a new measurement of [`Trainer::phase_times`].
    pub fn clear_phase_times(&mut self) {
        self.times.clear();
        for ws in self
            .inference_workspaces
            .iter_mut()
            .chain(&mut self.workspaces)
        {
            ws.conv.times.clear();
        }
    }

    /// Whether the configured number of timesteps has been reached.
    pub fn finished(&self) -> bool {
        self.state.iteration >= self.config.ppo.num_iterations()
    }

    /// The current policy, for evaluation or display (no autodiff).
    pub fn policy(&self) -> super::Policy {
        super::Policy::new(self.model.valid(), self.device.clone().inner())
    }

    /// The share of the run still ahead (1 at the start, 0 at the end): what annealing scales by.
    fn remaining(&self) -> f64 {
        let p = &self.config.ppo;
        (1.0 - self.state.iteration as f64 / p.num_iterations().max(1) as f64).max(0.0)
    }

    fn learning_rate(&self) -> f64 {
        let p = &self.config.ppo;
        if p.anneal_lr {
            self.remaining() * p.learning_rate
        } else {
            p.learning_rate
        }
    }

    fn ent_coef(&self) -> f32 {
        let p = &self.config.ppo;
        if p.anneal_ent {
            self.remaining() as f32 * p.ent_coef
        } else {
            p.ent_coef
        }
    }

    /// Runs one rollout + update; returns its metrics.
    pub fn iterate(&mut self) -> IterationMetrics {
        // On a rayon worker, the parallel parts split their work between this thread and the
        // pool's other one; called from outside, they would hand every half to the pool's
        // threads while the caller waits, three threads wanting two cores.
        if rayon::current_thread_index().is_none() {
            return rayon::join(|| self.iterate(), || ()).0;
        }
        let started = Instant::now();
        let learning_rate = self.learning_rate();
        let next_values = self.collect_rollout();
        let rollout_seconds = started.elapsed().as_secs_f64();
        let update_started = Instant::now();
        let mut metrics = self.update(learning_rate, &next_values);
        metrics.update_seconds = update_started.elapsed().as_secs_f64();
        metrics.rollout_seconds = rollout_seconds;
        self.state.iteration += 1;
        let steps = self.config.ppo.batch_size() as u64;
        self.state.global_step += steps;
        metrics.global_step = self.state.global_step;
        metrics.iteration = self.state.iteration;
        metrics.learning_rate = learning_rate;
        metrics.sps = steps as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let recent = &self.state.recent;
        let n = recent.len().max(1) as f64;
        metrics.episodic_return = recent
            .iter()
            .map(|e| f64::from(e.episode_return))
            .sum::<f64>()
            / n;
        metrics.episodic_length = recent.iter().map(|e| f64::from(e.length)).sum::<f64>() / n;
        metrics.cheese_rate = recent
            .iter()
            .filter(|e| e.outcome == Outcome::Cheese)
            .count() as f64
            / n;
        metrics.corner_rate = recent
            .iter()
            .filter(|e| e.outcome == Outcome::Corner)
            .count() as f64
            / n;
        metrics.episodes = self.state.episodes;
        metrics
    }

    /// Steps every env `num_steps` times with the current policy into the rollout buffers;
    /// returns the values of the states the rollout ends in (GAE's bootstrap).
    fn collect_rollout(&mut self) -> Vec<f32> {
        let policy = self.model.valid();
        let inner = self.device.clone().inner();
        let (envs, steps, len) = (
            self.config.ppo.num_envs,
            self.config.ppo.num_steps,
            self.obs_len,
        );
        let mut actions = vec![0usize; envs];
        let mut logprobs = vec![0.0f32; envs];
        // The rollout's observations taken apart for the MLP's first layer, built as they come.
        // Each env's maze is added once per episode (`maze_of` forgets it when the episode ends).
        let mut grids = policy.takes_grids().then(|| GridRows::new(len / CHANNELS));
        let mut maze_of: Vec<Option<u32>> = vec![None; envs];
        let weights = self.host_weights(&policy);
        let venv = &mut self.state.venv;
        let times = &mut self.times;
        let mut lap = Lap::start();
        for t in 0..steps {
            let slot = &mut self.buf.obs[t * envs * len..(t + 1) * envs * len];
            venv.write_observations(slot);
            if let Some(rows) = &mut grids {
                for (env, maze) in venv.envs.iter().zip(&mut maze_of) {
                    let layout = &env.layout;
                    let maze = *maze.get_or_insert_with(|| rows.push_maze(&layout.walls));
                    rows.push(maze, layout.index(env.mouse), layout.index(layout.cheese));
                }
            }
            let inference = Inference {
                policy: &policy,
                grids: grids.as_ref(),
                weights: weights.as_ref(),
                device: &inner,
            };
            lap.mark(times, "rollout: observations", 0.0);
            let (logits, values) =
                inference.run(slot, len, t * envs, &mut self.inference_workspaces);
            lap.mark(times, "rollout: policy inference (wall clock)", 0.0);
            sample_actions(&logits, &mut self.state.rng, &mut actions, &mut logprobs);
            let range = t * envs..(t + 1) * envs;
            self.buf.values[range.clone()].copy_from_slice(&values);
            self.buf.actions[range.clone()].copy_from_slice(&actions);
            self.buf.logprobs[range.clone()].copy_from_slice(&logprobs);
            venv.step(&actions);
            self.buf.rewards[range.clone()].copy_from_slice(&venv.rewards);
            self.buf.terminated[range.clone()].copy_from_slice(&venv.terminated);
            self.buf.truncated[range.clone()].copy_from_slice(&venv.truncated);
            lap.mark(times, "rollout: action sampling + env step", 0.0);
            let cut: Vec<usize> = (0..envs).filter(|&e| venv.truncated[e]).collect();
            if !cut.is_empty() {
                let mut rows = Vec::with_capacity(cut.len() * len);
                for &e in &cut {
                    rows.extend_from_slice(&venv.final_obs[e * len..(e + 1) * len]);
                }
                let cut_values = inference.values_of(&rows, len, &mut self.inference_workspaces[0]);
                for (&e, v) in cut.iter().zip(cut_values) {
                    self.buf.truncated_values[t * envs + e] = v;
                }
                lap.mark(times, "rollout: values of cut episodes", 0.0);
            }
            for &(e, stats) in &venv.finished {
                maze_of[e] = None;
                if self.shaping.is_some() {
                    let final_obs = venv.final_obs[e * len..(e + 1) * len].to_vec();
                    self.ended_obs.push((t * envs + e, final_obs));
                }
                if self.state.recent.len() == RECENT_EPISODES {
                    self.state.recent.pop_front();
                }
                self.state.recent.push_back(stats);
                self.state.episodes += 1;
            }
        }
        venv.write_observations(&mut self.buf.next_obs);
        let next_values = Inference {
            policy: &policy,
            grids: None,
            weights: weights.as_ref(),
            device: &inner,
        }
        .values_of(&self.buf.next_obs, len, &mut self.inference_workspaces[0]);
        lap.mark(times, "rollout: values after the rollout", 0.0);
        self.grids = grids;
        self.shape_rewards();
        lap.mark(&mut self.times, "rollout: reward shaping", 0.0);
        next_values
    }

    /// Replaces the env rewards by R' = lambda * R_hat + (1 - lambda) * R when fine-tuning with a
    /// shaping reward.
    fn shape_rewards(&mut self) {
        let ended: std::collections::HashMap<usize, Vec<f32>> = self.ended_obs.drain(..).collect();
        let Some(shaping) = &self.shaping else {
            return;
        };
        let buffer = ShapingBuffer {
            obs: &self.buf.obs,
            next_obs: &self.buf.next_obs,
            terminated: &self.buf.terminated,
            ended: &ended,
            envs: self.config.ppo.num_envs,
            obs_len: self.obs_len,
            gamma: self.config.ppo.gamma,
        };
        shaping.apply(&buffer, &mut self.buf.rewards);
    }

    fn update(&mut self, learning_rate: f64, next_values: &[f32]) -> IterationMetrics {
        let mut lap = Lap::start();
        let p = self.config.ppo.clone();
        let (envs, len) = (p.num_envs, self.obs_len);
        let inner = self.device.clone().inner();
        let (advantages, returns) = gae(&GaeInput {
            envs,
            rewards: &self.buf.rewards,
            values: &self.buf.values,
            terminated: &self.buf.terminated,
            truncated: &self.buf.truncated,
            truncated_values: &self.buf.truncated_values,
            next_values,
            gamma: p.gamma,
            lambda: p.gae_lambda,
        });
        let coefs = LossCoefs {
            clip_coef: p.clip_coef,
            clip_vloss: p.clip_vloss,
            ent_coef: self.ent_coef(),
            vf_coef: p.vf_coef,
        };
        let batch = p.batch_size();
        let mbs = p.minibatch_size();
        let mut indices: Vec<usize> = (0..batch).collect();
        let mut m = IterationMetrics::default();
        let mut updates = 0.0;
        lap.mark(&mut self.times, "update: GAE", 0.0);
        'epochs: for _ in 0..p.update_epochs {
            self.state.rng.shuffle(&mut indices);
            for chunk in indices.chunks(mbs) {
                let mb = self.minibatch(chunk, &advantages, &returns, p.norm_adv);
                let weights = self.host_weights(&self.model);
                lap.mark(&mut self.times, "update: minibatch + host weights", 0.0);
                let data = ShardData {
                    grids: self.grids.as_ref(),
                    weights: weights.as_ref(),
                    obs: &self.buf.obs,
                    obs_len: len,
                    device: &self.device,
                    coefs,
                };
                // The minibatch's loss is a mean over its samples, so it is the weighted sum of
                // its shards' losses: the shards run forward and backward in parallel (each but
                // the first on a fork of the model, with its own autodiff graph) and their
                // gradients are added in a fixed order.
                let mut shards = mb
                    .shards(UPDATE_SHARDS)
                    .into_par_iter()
                    .zip(self.workspaces.par_iter_mut())
                    .enumerate()
                    .map(|(i, (mb, ws))| match i {
                        0 => data.run(&self.model, mb, ws),
                        _ => data.run(&self.model.clone().fork(&self.device), mb, ws),
                    })
                    .collect::<Vec<_>>()
                    .into_iter();
                lap.mark(
                    &mut self.times,
                    "update: shards' forward, loss, backward (wall clock)",
                    0.0,
                );
                let Some((mut grads, mut stats)) = shards.next() else {
                    continue;
                };
                for (more, more_stats) in shards {
                    grads = grads.add(more, &self.model, &inner);
                    stats.absorb(more_stats);
                }
                let grads = match grads {
                    ShardGrads::Host(mut host) => {
                        host.clip_global_norm(p.max_grad_norm);
                        ShardGrads::Host(host).into_params(&self.model, &inner)
                    }
                    ShardGrads::Burn(mut params) => {
                        clip_global_norm(&self.model, &mut params, p.max_grad_norm);
                        params
                    }
                };
                lap.mark(&mut self.times, "update: gradient sum + clip", 0.0);
                self.model = self.optim.step(learning_rate, self.model.clone(), grads);
                lap.mark(&mut self.times, "update: Adam step (burn)", 0.0);
                let (old_kl, kl, clipfrac) = kl_diagnostics(&stats.logratio, p.clip_coef);
                m.policy_loss += stats.policy;
                m.value_loss += stats.value;
                m.entropy += stats.entropy;
                m.old_approx_kl = f64::from(old_kl);
                m.approx_kl = f64::from(kl);
                m.clipfrac += f64::from(clipfrac);
                updates += 1.0;
            }
            if let Some(target) = p.target_kl
                && m.approx_kl > f64::from(target)
            {
                break 'epochs;
            }
        }
        sweep_autodiff_graph(&self.device);
        lap.mark(&mut self.times, "update: autodiff sweep + stats", 0.0);
        let updates = f64::max(updates, 1.0);
        m.policy_loss /= updates;
        m.value_loss /= updates;
        m.entropy /= updates;
        m.clipfrac /= updates;
        m.explained_variance = explained_variance(&self.buf.values, &returns);
        m
    }

    /// Gathers one minibatch's rows on the host (advantages normalised over the whole minibatch).
    fn minibatch(
        &self,
        chunk: &[usize],
        advantages: &[f32],
        returns: &[f32],
        norm_adv: bool,
    ) -> HostMinibatch {
        let pick = |v: &[f32]| chunk.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        let mut adv = pick(advantages);
        if norm_adv {
            normalise(&mut adv);
        }
        HostMinibatch {
            rows: chunk.to_vec(),
            actions: chunk.iter().map(|&i| self.buf.actions[i] as i64).collect(),
            old_logprobs: pick(&self.buf.logprobs),
            advantages: adv,
            returns: pick(returns),
            old_values: pick(&self.buf.values),
            weight: 1.0,
        }
    }

    /// Parts needed to write a checkpoint.
    pub(crate) fn parts(&self) -> (&TrainConfig, &ActorCritic, &ModuleOptimizer, &TrainerState) {
        (&self.config, &self.model, &self.optim, &self.state)
    }
}

/// The Adam optimizer PPO uses (CleanRL's epsilon).
pub(crate) fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-5).init()
}

/// Zero-mean, unit-variance (CleanRL: `(a - mean) / (std + 1e-8)`).
fn normalise(values: &mut [f32]) {
    let n = values.len() as f32;
    if n < 2.0 {
        return;
    }
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / (n - 1.0);
    let std = var.sqrt() + 1e-8;
    values.iter_mut().for_each(|v| *v = (*v - mean) / std);
}

fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = returns.len() as f64;
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let mean = v.iter().sum::<f64>() / n;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
    };
    let var_y = var(&mut returns.iter().map(|&r| f64::from(r)));
    let var_diff = var(&mut returns.iter().zip(values).map(|(&r, &v)| f64::from(r - v)));
    if var_y == 0.0 {
        f64::NAN
    } else {
        1.0 - var_diff / var_y
    }
}

#[cfg(test)]
mod tests;
