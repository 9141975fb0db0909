//! PPO in CleanRL's order: rollout into time-major buffers with batched inference, GAE with
//! bootstrap on truncation, then epochs x minibatches of clipped-surrogate updates with per-minibatch
//! advantage normalisation, global grad-norm clipping, LR annealing and approx-KL early stop.

use super::gae::{GaeInput, gae};
use super::host_conv::{self, ConvWorkspace, HostConv};
use super::host_mlp::{self, HostGrids, HostWeights, Workspace};
use super::loss::{
    HostMinibatchData, LossCoefs, Minibatch, host_ppo_loss, kl_diagnostics, ppo_loss,
};
use super::model::{ActorCritic, GridRows, HostNet};
use super::{eval::sample_actions, host};
use crate::config::TrainConfig;
use crate::level::LevelSource;
use crate::rng::{Rng, derive_seed};
use crate::sim::{Action, CHANNELS, EpisodeStats, Outcome, VecEnv};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Instant;

/// Episodes kept for the rolling charts.
const RECENT_EPISODES: usize = 256;

/// One iteration's metrics, under CleanRL's names.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IterationMetrics {
    pub global_step: u64,
    pub iteration: u64,
    #[serde(rename = "charts/SPS")]
    pub sps: f64,
    #[serde(rename = "charts/learning_rate")]
    pub learning_rate: f64,
    #[serde(rename = "charts/episodic_return")]
    pub episodic_return: f64,
    #[serde(rename = "charts/episodic_length")]
    pub episodic_length: f64,
    #[serde(rename = "charts/cheese_rate")]
    pub cheese_rate: f64,
    #[serde(rename = "charts/corner_rate")]
    pub corner_rate: f64,
    #[serde(rename = "charts/episodes")]
    pub episodes: u64,
    #[serde(rename = "losses/value_loss")]
    pub value_loss: f64,
    #[serde(rename = "losses/policy_loss")]
    pub policy_loss: f64,
    #[serde(rename = "losses/entropy")]
    pub entropy: f64,
    #[serde(rename = "losses/old_approx_kl")]
    pub old_approx_kl: f64,
    #[serde(rename = "losses/approx_kl")]
    pub approx_kl: f64,
    #[serde(rename = "losses/clipfrac")]
    pub clipfrac: f64,
    #[serde(rename = "losses/explained_variance")]
    pub explained_variance: f64,
    #[serde(rename = "time/rollout_s")]
    pub rollout_seconds: f64,
    #[serde(rename = "time/update_s")]
    pub update_seconds: f64,
}

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

/// Frees what burn's autodiff keeps of tensors nobody will differentiate. It sweeps those graph
/// entries only when a backward pass runs; the host kernels compute gradients without one, so the
/// entries of every optimizer step and model fork would pile up (1.16 MB per iteration on the
/// jaxgmg MLP config, without bound). A backward pass through one scalar sweeps them.
fn sweep_autodiff_graph(device: &Device) {
    let one = Tensor::<1>::from_data(TensorData::new(vec![0.0f32], [1]), device).require_grad();
    drop(one.sum().backward());
}

/// Fine-tuning with a shaping reward: R' = lambda * R_hat (normalised) + (1 - lambda) * R.
#[derive(Clone)]
pub struct RewardShaping {
    pub source: RewardSource,
    pub lambda: f32,
}

/// Where R_hat comes from.
#[derive(Clone)]
pub enum RewardSource {
    /// A reward model learned from preferences (the LLM-feedback arm), in its own form.
    Learned(std::sync::Arc<crate::reward::RewardModel>),
    /// The true potential of [`crate::reward::maze_distance_potentials`] in the potential form:
    /// the ceiling control, what a perfect reward model could do when fine-tuning on the training
    /// distribution.
    MazeDistance,
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
    /// One buffer set per shard for the host kernels.
    workspaces: Vec<HostBuffers>,
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
            derive_seed(config.seed, 1),
            &train_device,
        );
        let venv = VecEnv::new(
            source,
            config.ppo.num_envs,
            derive_seed(config.seed, 2),
            config.max_steps,
        );
        let state = TrainerState {
            global_step: 0,
            iteration: 0,
            rng: Rng::new(derive_seed(config.seed, 3)),
            venv,
            recent: VecDeque::with_capacity(RECENT_EPISODES),
            episodes: 0,
        };
        Self::assemble(config, train_device, model, optimizer(), state)
    }

    /// Trains on `source` from now on: every episode that starts from here draws its maze from
    /// it (those under way finish in theirs). The world size must stay the policy's.
    pub fn set_training_levels(&mut self, source: LevelSource) -> Result<(), String> {
        self.state.venv.set_source(source)
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

    /// Whether the configured number of timesteps has been reached.
    pub fn finished(&self) -> bool {
        self.state.iteration >= self.config.ppo.num_iterations()
    }

    /// The current policy, for evaluation or display (no autodiff).
    pub fn policy(&self) -> super::Policy {
        super::Policy::new(self.model.valid(), self.device.clone().inner())
    }

    fn learning_rate(&self) -> f64 {
        let p = &self.config.ppo;
        if p.anneal_lr {
            let frac = 1.0 - self.state.iteration as f64 / p.num_iterations().max(1) as f64;
            frac.max(0.0) * p.learning_rate
        } else {
            p.learning_rate
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
        self.collect_rollout();
        let rollout_seconds = started.elapsed().as_secs_f64();
        let update_started = Instant::now();
        let mut metrics = self.update(learning_rate);
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

    fn collect_rollout(&mut self) {
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
            let (logits, values) = inference.run(slot, len, t * envs, &mut self.workspaces);
            sample_actions(&logits, &mut self.state.rng, &mut actions, &mut logprobs);
            let range = t * envs..(t + 1) * envs;
            self.buf.values[range.clone()].copy_from_slice(&values);
            self.buf.actions[range.clone()].copy_from_slice(&actions);
            self.buf.logprobs[range.clone()].copy_from_slice(&logprobs);
            venv.step(&actions);
            self.buf.rewards[range.clone()].copy_from_slice(&venv.rewards);
            self.buf.terminated[range.clone()].copy_from_slice(&venv.terminated);
            self.buf.truncated[range.clone()].copy_from_slice(&venv.truncated);
            let cut: Vec<usize> = (0..envs).filter(|&e| venv.truncated[e]).collect();
            if !cut.is_empty() {
                let mut rows = Vec::with_capacity(cut.len() * len);
                for &e in &cut {
                    rows.extend_from_slice(&venv.final_obs[e * len..(e + 1) * len]);
                }
                let x = Tensor::<2>::from_data(TensorData::new(rows, [cut.len(), len]), &inner);
                let (_, cut_values) = policy.forward(x);
                for (&e, v) in cut.iter().zip(host(cut_values)) {
                    self.buf.truncated_values[t * envs + e] = v;
                }
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
        self.grids = grids;
        self.shape_rewards();
    }

    /// Replaces the env rewards by R' = lambda * R_hat + (1 - lambda) * R, with R_hat in the
    /// reward model's form (or the true potential, for the ceiling arm).
    fn shape_rewards(&mut self) {
        let Some(shaping) = self.shaping.clone() else {
            return;
        };
        let ended: std::collections::HashMap<usize, Vec<f32>> = self.ended_obs.drain(..).collect();
        let world = (self.obs_len / CHANNELS).isqrt();
        let r_hat = match &shaping.source {
            RewardSource::Learned(model) if model.form.is_potential() => {
                self.potential_rewards(&|states| model.stay_potentials(states), &ended)
            }
            RewardSource::Learned(model) => self.direct_rewards(model, &ended),
            RewardSource::MazeDistance => self.potential_rewards(
                &|states| crate::reward::maze_distance_potentials(states, world),
                &ended,
            ),
        };
        for (r, r_hat) in self.buf.rewards.iter_mut().zip(r_hat) {
            *r = shaping.lambda * r_hat + (1.0 - shaping.lambda) * *r;
        }
    }

    /// gamma * f(s_t+1) - f(s_t) for every buffer entry, with `potentials` computing f over a
    /// block of observations (for a learned model, `RewardModel::stay_potentials`): staying in the cheese state
    /// after the episode ends keeps f(s_T), every other stay telescopes away. Each state's
    /// potential is computed once.
    fn potential_rewards(
        &self,
        potentials: &dyn Fn(&[f32]) -> Vec<f32>,
        ended: &std::collections::HashMap<usize, Vec<f32>>,
    ) -> Vec<f32> {
        let envs = self.config.ppo.num_envs;
        let gamma = self.config.ppo.gamma;
        let f_obs = potentials(&self.buf.obs);
        let f_last = potentials(&self.buf.next_obs);
        let ended_at: Vec<usize> = ended.keys().copied().collect();
        let ended_states: Vec<f32> = ended_at.iter().flat_map(|i| ended[i].clone()).collect();
        let f_ended: std::collections::HashMap<usize, f32> = ended_at
            .into_iter()
            .zip(potentials(&ended_states))
            .collect();
        (0..f_obs.len())
            .map(|i| {
                let f_next = match f_ended.get(&i) {
                    Some(&f) => f,
                    None if i + envs < f_obs.len() => f_obs[i + envs],
                    None => f_last[i % envs],
                };
                gamma * f_next - f_obs[i]
            })
            .collect()
    }

    /// R_hat(s_t, s_t+1) for every buffer entry, with the optional goal cap and absorbing value.
    fn direct_rewards(
        &self,
        model: &crate::reward::RewardModel,
        ended: &std::collections::HashMap<usize, Vec<f32>>,
    ) -> Vec<f32> {
        let (envs, steps, len) = (
            self.config.ppo.num_envs,
            self.config.ppo.num_steps,
            self.obs_len,
        );
        let mut out = Vec::with_capacity(envs * steps);
        let mut features = vec![0.0f32; envs * 2 * len];
        for t in 0..steps {
            for e in 0..envs {
                let i = t * envs + e;
                let row = &mut features[e * 2 * len..(e + 1) * 2 * len];
                row[..len].copy_from_slice(&self.buf.obs[i * len..(i + 1) * len]);
                let next = match ended.get(&i) {
                    Some(obs) => obs.as_slice(),
                    None if t + 1 < steps => &self.buf.obs[(i + envs) * len..(i + envs + 1) * len],
                    None => &self.buf.next_obs[e * len..(e + 1) * len],
                };
                row[len..].copy_from_slice(next);
            }
            let mut learned = model.rewards(&features);
            if let Some(margin) = model.goal_margin {
                let goals = model.goal_rewards(&features);
                for (r_hat, goal) in learned.iter_mut().zip(goals) {
                    *r_hat = r_hat.min(goal - margin);
                }
            }
            if model.absorbing_value {
                // Episodes that ended on the cheese: add the discounted value of staying there
                // (see `absorbing_tail`), as the reward model saw it in the padding.
                let done: Vec<usize> = (0..envs)
                    .filter(|&e| self.buf.terminated[t * envs + e])
                    .collect();
                let last: Vec<f32> = done
                    .iter()
                    .flat_map(|&e| features[e * 2 * len + len..(e + 1) * 2 * len].to_vec())
                    .collect();
                let tail = absorbing_tail(self.config.ppo.gamma);
                for (&e, value) in done.iter().zip(model.stay_potentials(&last)) {
                    learned[e] += tail * value;
                }
            }
            out.extend(learned);
        }
        out
    }

    fn update(&mut self, learning_rate: f64) -> IterationMetrics {
        let p = self.config.ppo.clone();
        let (envs, len) = (p.num_envs, self.obs_len);
        let inner = self.device.clone().inner();
        let next = Tensor::<2>::from_data(
            TensorData::new(self.buf.next_obs.clone(), [envs, len]),
            &inner,
        );
        let next_values = host(self.model.valid().forward(next).1);
        let (advantages, returns) = gae(&GaeInput {
            envs,
            rewards: &self.buf.rewards,
            values: &self.buf.values,
            terminated: &self.buf.terminated,
            truncated: &self.buf.truncated,
            truncated_values: &self.buf.truncated_values,
            next_values: &next_values,
            gamma: p.gamma,
            lambda: p.gae_lambda,
        });
        let coefs = LossCoefs {
            clip_coef: p.clip_coef,
            clip_vloss: p.clip_vloss,
            ent_coef: p.ent_coef,
            vf_coef: p.vf_coef,
        };
        let batch = p.batch_size();
        let mbs = p.minibatch_size();
        let mut indices: Vec<usize> = (0..batch).collect();
        let mut m = IterationMetrics::default();
        let mut updates = 0.0;
        'epochs: for _ in 0..p.update_epochs {
            self.state.rng.shuffle(&mut indices);
            for chunk in indices.chunks(mbs) {
                let mb = self.minibatch(chunk, &advantages, &returns, p.norm_adv);
                let weights = self.host_weights(&self.model);
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
                self.model = self.optim.step(learning_rate, self.model.clone(), grads);
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

/// What rollout inference reads: the policy, and the rollout's grid form and the policy's host
/// weights when it runs on them.
struct Inference<'a> {
    policy: &'a ActorCritic,
    grids: Option<&'a GridRows>,
    weights: Option<&'a HostNet>,
    device: &'a Device,
}

impl Inference<'_> {
    /// Logits (`[n * 4]`) and values of the `n` observations in `obs` (rows `first..first + n`
    /// of `grids` when set), computed in [`UPDATE_SHARDS`] parts in parallel.
    fn run(
        &self,
        obs: &[f32],
        len: usize,
        first: usize,
        workspaces: &mut [HostBuffers],
    ) -> (Vec<f32>, Vec<f32>) {
        let n = obs.len() / len;
        let part =
            |rows: std::ops::Range<usize>, ws: &mut HostBuffers| match (self.grids, self.weights) {
                (Some(grids), Some(HostNet::Mlp(weights))) => {
                    let picks: Vec<usize> = rows.map(|r| first + r).collect();
                    host_mlp::forward(weights, &grids.host_batch(&picks), &mut ws.mlp);
                    (
                        ws.mlp.logits().iter().copied().collect(),
                        ws.mlp.values().to_vec(),
                    )
                }
                (_, Some(HostNet::Conv(net))) => {
                    host_conv::forward(net, &obs[rows.start * len..rows.end * len], &mut ws.conv);
                    (ws.conv.logits(), ws.conv.values())
                }
                (Some(grids), _) => {
                    let picks: Vec<usize> = rows.map(|r| first + r).collect();
                    let (logits, values) =
                        self.policy.forward_grids(grids.batch(&picks, self.device));
                    (host(logits), host(values))
                }
                (None, _) => {
                    let data = obs[rows.start * len..rows.end * len].to_vec();
                    let x = TensorData::new(data, [rows.len(), len]);
                    let (logits, values) =
                        self.policy.forward(Tensor::<2>::from_data(x, self.device));
                    (host(logits), host(values))
                }
            };
        let size = n.div_ceil(UPDATE_SHARDS).max(1);
        let ranges: Vec<_> = (0..n.div_ceil(size))
            .map(|c| c * size..((c + 1) * size).min(n))
            .collect();
        let parts: Vec<(Vec<f32>, Vec<f32>)> = ranges
            .into_par_iter()
            .zip(workspaces.par_iter_mut())
            .map(|(rows, ws)| part(rows, ws))
            .collect();
        let mut logits = Vec::with_capacity(n * Action::COUNT);
        let mut values = Vec::with_capacity(n);
        for (l, v) in parts {
            logits.extend(l);
            values.extend(v);
        }
        (logits, values)
    }
}

/// One shard's input to the host kernels: the MLP's weights and the shard in grid form, or the
/// conv net's weights and the shard's observations.
enum HostPass<'a> {
    Mlp(&'a HostWeights, HostGrids),
    Conv(&'a HostConv, Vec<f32>),
}

/// One shard's buffers for the host kernels, kept between calls.
#[derive(Debug, Default)]
struct HostBuffers {
    mlp: Workspace,
    conv: ConvWorkspace,
}

/// How many parts each minibatch's forward and backward pass is split into (run in parallel). A
/// constant, not the core count, so that results do not depend on the machine.
const UPDATE_SHARDS: usize = 2;

/// A minibatch on the host: buffer rows and their stored data; `weight` is its share of the whole
/// minibatch (its loss is scaled by it).
struct HostMinibatch {
    rows: Vec<usize>,
    actions: Vec<i64>,
    old_logprobs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
    weight: f32,
}

impl HostMinibatch {
    /// `count` parts of (nearly) equal size, in order, each weighted by its share.
    fn shards(self, count: usize) -> Vec<Self> {
        let n = self.rows.len();
        let size = n.div_ceil(count.max(1)).max(1);
        (0..n.div_ceil(size))
            .map(|c| {
                let r = c * size..((c + 1) * size).min(n);
                Self {
                    weight: self.weight * r.len() as f32 / n as f32,
                    rows: self.rows[r.clone()].to_vec(),
                    actions: self.actions[r.clone()].to_vec(),
                    old_logprobs: self.old_logprobs[r.clone()].to_vec(),
                    advantages: self.advantages[r.clone()].to_vec(),
                    returns: self.returns[r.clone()].to_vec(),
                    old_values: self.old_values[r].to_vec(),
                }
            })
            .collect()
    }

    /// The stored data as tensors on `device`, for the loss.
    fn tensors(self, device: &Device) -> Minibatch {
        let n = self.rows.len();
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), device);
        Minibatch {
            actions: Tensor::<2, Int>::from_data(TensorData::new(self.actions, [n, 1]), device),
            old_logprobs: t1(self.old_logprobs),
            advantages: t1(self.advantages),
            returns: t1(self.returns),
            old_values: t1(self.old_values),
        }
    }
}

/// What every shard of a minibatch reads.
struct ShardData<'a> {
    grids: Option<&'a GridRows>,
    /// The network's weights on the host when it runs on the host kernels ([`host_mlp`]'s read
    /// `grids`, [`host_conv`]'s the observations).
    weights: Option<&'a HostNet>,
    obs: &'a [f32],
    obs_len: usize,
    device: &'a Device,
    coefs: LossCoefs,
}

/// One shard's gradients: burn's, keyed by parameter, or the host kernels' (summed and clipped
/// on the host, then handed to burn once per minibatch).
enum ShardGrads {
    Burn(GradientsParams),
    Host(Box<HostNet>),
}

impl ShardGrads {
    /// As burn's gradients of `model`, on `device` (the inner device).
    fn into_params(self, model: &ActorCritic, device: &Device) -> GradientsParams {
        match self {
            ShardGrads::Burn(params) => params,
            ShardGrads::Host(host) => {
                let mut params = GradientsParams::new();
                model.add_host_grads(&mut params, *host, device);
                params
            }
        }
    }

    /// The sum of two shards' gradients (self first, a fixed order).
    fn add(self, other: ShardGrads, model: &ActorCritic, device: &Device) -> ShardGrads {
        match (self, other) {
            (ShardGrads::Host(mut a), ShardGrads::Host(b)) => {
                a.add(&b);
                ShardGrads::Host(a)
            }
            (a, b) => {
                let mut into = a.into_params(model, device);
                model.visit(&mut GradAdd {
                    into: &mut into,
                    from: b.into_params(model, device),
                });
                ShardGrads::Burn(into)
            }
        }
    }
}

/// One shard's loss parts, already weighted by its share, and its log-ratios.
struct ShardStats {
    policy: f64,
    value: f64,
    entropy: f64,
    logratio: Vec<f32>,
}

impl ShardStats {
    fn absorb(&mut self, other: ShardStats) {
        self.policy += other.policy;
        self.value += other.value;
        self.entropy += other.entropy;
        self.logratio.extend(other.logratio);
    }
}

impl ShardData<'_> {
    /// Forward and backward on one shard with `model` (on the host kernels when `weights` is
    /// set, and for the MLP `grids` too): its gradients (of the loss scaled by the shard's weight)
    /// and its stats.
    fn run(
        &self,
        model: &ActorCritic,
        mb: HostMinibatch,
        ws: &mut HostBuffers,
    ) -> (ShardGrads, ShardStats) {
        let host_pass = match (self.weights, self.grids) {
            (Some(HostNet::Mlp(w)), Some(grids)) => {
                Some(HostPass::Mlp(w, grids.host_batch(&mb.rows)))
            }
            (Some(HostNet::Conv(net)), _) => Some(HostPass::Conv(net, self.rows(&mb.rows))),
            _ => None,
        };
        if let Some(pass) = host_pass {
            return self.run_host(pass, mb, ws);
        }
        let (logits, values) = match self.grids {
            Some(grids) => model.forward_grids(grids.batch(&mb.rows, self.device)),
            None => {
                let obs = TensorData::new(self.rows(&mb.rows), [mb.rows.len(), self.obs_len]);
                model.forward(Tensor::<2>::from_data(obs, self.device))
            }
        };
        let (grads, stats) = self.loss_backward(logits, values, mb);
        (
            ShardGrads::Burn(GradientsParams::from_grads(grads, model)),
            stats,
        )
    }

    /// The observations of buffer rows `rows`, one after another.
    fn rows(&self, rows: &[usize]) -> Vec<f32> {
        let len = self.obs_len;
        let mut obs = Vec::with_capacity(rows.len() * len);
        for &i in rows {
            obs.extend_from_slice(&self.obs[i * len..(i + 1) * len]);
        }
        obs
    }

    /// [`ShardData::run`] on the host kernels: the network's forward pass ([`host_mlp::forward`]
    /// on the grid form or [`host_conv::forward`] on the observations), the loss and its
    /// gradient with respect to the logits and values by [`host_ppo_loss`], and the weights'
    /// gradients by the kernels' backward pass from those.
    fn run_host(
        &self,
        pass: HostPass,
        mb: HostMinibatch,
        ws: &mut HostBuffers,
    ) -> (ShardGrads, ShardStats) {
        let (logits, values) = match &pass {
            HostPass::Mlp(w, grids) => {
                host_mlp::forward(w, grids, &mut ws.mlp);
                (
                    ws.mlp.logits().iter().copied().collect(),
                    ws.mlp.values().to_vec(),
                )
            }
            HostPass::Conv(net, obs) => {
                host_conv::forward(net, obs, &mut ws.conv);
                (ws.conv.logits(), ws.conv.values())
            }
        };
        let data = HostMinibatchData {
            actions: &mb.actions,
            old_logprobs: &mb.old_logprobs,
            advantages: &mb.advantages,
            returns: &mb.returns,
            old_values: &mb.old_values,
        };
        let loss = host_ppo_loss(&logits, &values, &data, self.coefs, mb.weight);
        let (gl, gv) = (&loss.grad_logits, &loss.grad_values);
        let host_grads = match pass {
            HostPass::Mlp(w, grids) => {
                HostNet::Mlp(host_mlp::backward(w, &grids, &mut ws.mlp, gl, gv))
            }
            HostPass::Conv(net, _) => HostNet::Conv(host_conv::backward(net, &mut ws.conv, gl, gv)),
        };
        let weight = f64::from(mb.weight);
        let stats = ShardStats {
            policy: weight * loss.policy,
            value: weight * loss.value,
            entropy: weight * loss.entropy,
            logratio: loss.logratio,
        };
        (ShardGrads::Host(Box::new(host_grads)), stats)
    }

    /// The PPO loss of `mb` from the network's outputs, scaled by the shard's weight, and its
    /// backward pass; the shard's stats.
    fn loss_backward(
        &self,
        logits: Tensor<2>,
        values: Tensor<1>,
        mb: HostMinibatch,
    ) -> (Gradients, ShardStats) {
        let weight = mb.weight;
        let parts = ppo_loss(logits, values, &mb.tensors(self.device), self.coefs);
        let grads = parts.total.mul_scalar(weight).backward();
        let weighted = |t: Tensor<1>| f64::from(weight) * f64::from(host(t)[0]);
        let stats = ShardStats {
            policy: weighted(parts.policy),
            value: weighted(parts.value),
            entropy: weighted(parts.entropy),
            logratio: host(parts.logratio),
        };
        (grads, stats)
    }
}

/// Adds `from`'s gradients into `into`, parameter by parameter.
struct GradAdd<'a> {
    into: &'a mut GradientsParams,
    from: GradientsParams,
}

impl ModuleVisitor for GradAdd<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(more) = self.from.remove::<D>(param.id) {
            let sum = match self.into.remove::<D>(param.id) {
                Some(g) => g + more,
                None => more,
            };
            self.into.register(param.id, sum);
        }
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

/// Sums the squares of every parameter's gradient.
struct GradNormSq<'a> {
    grads: &'a GradientsParams,
    total: f32,
}

impl ModuleVisitor for GradNormSq<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.total += host(g.square().sum())[0];
        }
    }
}

/// Multiplies every parameter's gradient by `scale`.
struct GradScale<'a> {
    grads: &'a mut GradientsParams,
    scale: f32,
}

impl ModuleVisitor for GradScale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.scale));
        }
    }
}

/// Clips the global L2 norm of all gradients to `max_norm`; returns the norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    let mut norm = GradNormSq { grads, total: 0.0 };
    model.visit(&mut norm);
    let total = norm.total.sqrt();
    if total > max_norm && total.is_finite() {
        let scale = max_norm / (total + 1e-6);
        model.visit(&mut GradScale { grads, scale });
    }
    total
}

/// Discount weight of staying in the absorbing state after a terminal transition forever:
/// gamma + gamma^2 + ... = gamma / (1 - gamma). Forever, not to the time limit, because PPO
/// bootstraps truncated episodes as if they went on: an episode that lingers is valued as an
/// endless stream of its steps, so the goal must be valued the same way, and then a constant added
/// to R_hat shifts every return alike and cannot favour ending early or late.
pub fn absorbing_tail(gamma: f32) -> f32 {
    gamma / (1.0 - gamma).max(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::rl::gradient_values;

    #[test]
    fn normalise_gives_zero_mean_unit_std() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        normalise(&mut v);
        assert!(v.iter().sum::<f32>().abs() < 1e-6);
        let var = v.iter().map(|x| x * x).sum::<f32>() / 3.0;
        assert!((var - 1.0).abs() < 1e-4);
    }

    #[test]
    fn sharded_minibatch_gradients_equal_the_whole_minibatch_on_every_path() {
        // burn on dense observations, burn on the grid form, the host kernels on the grid form.
        check_update_paths(None, &[(false, false), (true, false), (true, true)]);
        // A conv torso: burn, and the host conv kernels on the observations.
        let conv = ModelConfig::Conv {
            channels: vec![8, 16],
            hidden: 32,
        };
        check_update_paths(Some(conv), &[(false, false), (false, true)]);
    }

    /// Runs one minibatch's forward and backward pass through each of `paths` (grid form, host
    /// kernels) whole and in three shards, on a rollout of the quick 7x7 config (with `model`
    /// when given): every path and every sharding give the same losses and gradients.
    fn check_update_paths(model: Option<ModelConfig>, paths: &[(bool, bool)]) {
        let path = std::path::Path::new("assets/configs/quick-7x7.ron");
        let mut config = TrainConfig::load(path).expect("shipped config");
        config.ppo.num_envs = 8;
        config.ppo.num_steps = 48; // more than the 40-step limit: every env starts a new maze
        if let Some(model) = model {
            config.model = model;
        }
        let mut trainer = Trainer::new(config, &Device::flex()).expect("trainer");
        trainer.collect_rollout();
        if let Some(grids) = trainer.grids.as_ref() {
            let all: Vec<usize> = (0..grids.len()).collect();
            let rebuilt = host(grids.batch(&all, &trainer.device).dense());
            assert_eq!(
                rebuilt, trainer.buf.obs,
                "the grid form is the rollout's observations"
            );
        }
        assert!(
            trainer.state.episodes > 0,
            "episodes ended and their envs moved to new mazes"
        );
        let n = trainer.buf.rewards.len();
        let advantages: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let returns: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let chunk: Vec<usize> = (0..n).rev().step_by(3).collect();
        let coefs = LossCoefs {
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
        };
        let host_weights = trainer.model.host_net().expect("host weights");
        let mut reference: Option<(Vec<Vec<f32>>, [f64; 3])> = None;
        for &(grid_form, host_kernels) in paths {
            let data = ShardData {
                grids: trainer.grids.as_ref().filter(|_| grid_form),
                weights: Some(&host_weights).filter(|_| host_kernels),
                obs: &trainer.buf.obs,
                obs_len: trainer.obs_len,
                device: &trainer.device,
                coefs,
            };
            let values = |grads: &GradientsParams| gradient_values(&trainer.model, grads);
            let mb = || trainer.minibatch(&chunk, &advantages, &returns, true);
            let inner = trainer.device.clone().inner();
            let (whole, whole_stats) = data.run(&trainer.model, mb(), &mut HostBuffers::default());
            let whole = whole.into_params(&trainer.model, &inner);
            let shards = mb().shards(3);
            assert_eq!(shards.len(), 3);
            assert!((shards.iter().map(|s| s.weight).sum::<f32>() - 1.0).abs() < 1e-6);
            let mut shards = shards.into_iter();
            let first = shards.next().expect("a first shard");
            let (mut grads, mut stats) =
                data.run(&trainer.model, first, &mut HostBuffers::default());
            for shard in shards {
                let forked = trainer.model.clone().fork(&trainer.device);
                let (more, more_stats) = data.run(&forked, shard, &mut HostBuffers::default());
                grads = grads.add(more, &trainer.model, &inner);
                stats.absorb(more_stats);
            }
            let grads = grads.into_params(&trainer.model, &inner);
            for (a, b) in values(&whole).iter().zip(values(&grads)) {
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
                }
            }
            assert!((whole_stats.policy - stats.policy).abs() < 1e-5);
            assert!((whole_stats.value - stats.value).abs() < 1e-5);
            assert!((whole_stats.entropy - stats.entropy).abs() < 1e-5);
            assert_eq!(whole_stats.logratio.len(), stats.logratio.len());
            let whole = values(&whole);
            let losses = [whole_stats.policy, whole_stats.value, whole_stats.entropy];
            let (reference, reference_losses) =
                reference.get_or_insert_with(|| (whole.clone(), losses));
            for (x, y) in reference_losses.iter().zip(losses) {
                assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "losses {x} vs {y}");
            }
            assert_eq!(
                reference.len(),
                whole.len(),
                "the same parameters have gradients"
            );
            for (a, b) in reference.iter().zip(&whole) {
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() < 1e-4 * (1.0 + x.abs()),
                        "path {grid_form}/{host_kernels}: {x} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn global_norm_clip_scales_all_gradients_together() {
        let device = Device::flex().autodiff();
        let w = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32, 1.0], [2]),
            &device,
        ));
        #[derive(Module, Debug)]
        struct Two {
            w: Param<Tensor<1>>,
        }
        let model = Two { w };
        let x = Tensor::<1>::from_data(TensorData::new(vec![3.0f32, 4.0], [2]), &device);
        let loss = (model.w.val() * x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let before = clip_global_norm(&model, &mut grads, 1.0);
        assert!((before - 5.0).abs() < 1e-5);
        let g = host(grads.get::<1>(model.w.id).expect("gradient"));
        assert!(
            (g[0] - 0.6).abs() < 1e-4 && (g[1] - 0.8).abs() < 1e-4,
            "{g:?}"
        );
    }
}
