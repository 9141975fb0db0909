//! PPO in CleanRL's order: rollout into time-major buffers with batched inference, GAE with
//! bootstrap on truncation, then epochs x minibatches of clipped-surrogate updates with per-minibatch
//! advantage normalisation, global grad-norm clipping, LR annealing and approx-KL early stop.

use super::gae::{GaeInput, gae};
use super::loss::{LossCoefs, Minibatch, kl_diagnostics, ppo_loss};
use super::model::ActorCritic;
use super::{eval::sample_actions, host};
use crate::config::TrainConfig;
use crate::reward::RewardForm;
use crate::rng::{Rng, derive_seed};
use crate::sim::{EpisodeStats, Outcome, VecEnv};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
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

/// Fine-tuning with a learned reward: R' = lambda * R_hat (normalised) + (1 - lambda) * R.
#[derive(Clone)]
pub struct RewardShaping {
    pub model: std::sync::Arc<crate::reward::RewardModel>,
    pub lambda: f32,
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
    /// Observation scratch for minibatches.
    mb_obs: Vec<f32>,
}

impl Trainer {
    /// A fresh run: weights, envs and RNG all derived from `config.seed`.
    pub fn new(config: TrainConfig, device: &Device) -> Result<Self, crate::config::ConfigError> {
        let source = config.training_levels()?;
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
        Ok(Self::assemble(
            config,
            train_device,
            model,
            optimizer(),
            state,
        ))
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
        let mb_obs = Vec::with_capacity(config.ppo.minibatch_size() * obs_len);
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
            mb_obs,
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
        let venv = &mut self.state.venv;
        for t in 0..steps {
            let slot = &mut self.buf.obs[t * envs * len..(t + 1) * envs * len];
            venv.write_observations(slot);
            let x = Tensor::<2>::from_data(TensorData::new(slot.to_vec(), [envs, len]), &inner);
            let (logits, values) = policy.forward(x);
            let logits = host(logits);
            sample_actions(&logits, &mut self.state.rng, &mut actions, &mut logprobs);
            let range = t * envs..(t + 1) * envs;
            self.buf.values[range.clone()].copy_from_slice(&host(values));
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
        self.shape_rewards();
    }

    /// Replaces the env rewards by R' = lambda * R_hat + (1 - lambda) * R, with R_hat in the
    /// reward model's form.
    fn shape_rewards(&mut self) {
        let Some(shaping) = self.shaping.clone() else {
            return;
        };
        let ended: std::collections::HashMap<usize, Vec<f32>> = self.ended_obs.drain(..).collect();
        let learned = match shaping.model.form {
            RewardForm::Potential => self.potential_rewards(&shaping.model, &ended),
            RewardForm::Direct => self.direct_rewards(&shaping.model, &ended),
        };
        for (r, r_hat) in self.buf.rewards.iter_mut().zip(learned) {
            *r = shaping.lambda * r_hat + (1.0 - shaping.lambda) * *r;
        }
    }

    /// gamma * f(s_t+1) - f(s_t) for every buffer entry, with f(s) = R_hat(s, s): staying in the
    /// cheese state after the episode ends keeps f(s_T), every other stay telescopes away. Each
    /// state's potential is computed once.
    fn potential_rewards(
        &self,
        model: &crate::reward::RewardModel,
        ended: &std::collections::HashMap<usize, Vec<f32>>,
    ) -> Vec<f32> {
        let envs = self.config.ppo.num_envs;
        let gamma = self.config.ppo.gamma;
        let f_obs = model.stay_potentials(&self.buf.obs);
        let f_last = model.stay_potentials(&self.buf.next_obs);
        let ended_at: Vec<usize> = ended.keys().copied().collect();
        let ended_states: Vec<f32> = ended_at.iter().flat_map(|i| ended[i].clone()).collect();
        let f_ended: std::collections::HashMap<usize, f32> = ended_at
            .into_iter()
            .zip(model.stay_potentials(&ended_states))
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
                let obs = Tensor::<2>::from_data(
                    TensorData::new(std::mem::take(&mut self.mb_obs), [chunk.len(), len]),
                    &self.device,
                );
                let (logits, values) = self.model.forward(obs);
                let parts = ppo_loss(logits, values, &mb, coefs);
                let mut grads = GradientsParams::from_grads(parts.total.backward(), &self.model);
                clip_global_norm(&self.model, &mut grads, p.max_grad_norm);
                self.model = self.optim.step(learning_rate, self.model.clone(), grads);
                let (old_kl, kl, clipfrac) = kl_diagnostics(&host(parts.logratio), p.clip_coef);
                m.policy_loss += f64::from(host(parts.policy)[0]);
                m.value_loss += f64::from(host(parts.value)[0]);
                m.entropy += f64::from(host(parts.entropy)[0]);
                m.old_approx_kl = f64::from(old_kl);
                m.approx_kl = f64::from(kl);
                m.clipfrac += f64::from(clipfrac);
                updates += 1.0;
                self.mb_obs = Vec::with_capacity(mbs * len);
            }
            if let Some(target) = p.target_kl
                && m.approx_kl > f64::from(target)
            {
                break 'epochs;
            }
        }
        let updates = f64::max(updates, 1.0);
        m.policy_loss /= updates;
        m.value_loss /= updates;
        m.entropy /= updates;
        m.clipfrac /= updates;
        m.explained_variance = explained_variance(&self.buf.values, &returns);
        m
    }

    /// Gathers one minibatch (observations into `self.mb_obs`, the rest as tensors).
    fn minibatch(
        &mut self,
        chunk: &[usize],
        advantages: &[f32],
        returns: &[f32],
        norm_adv: bool,
    ) -> Minibatch {
        let len = self.obs_len;
        self.mb_obs.clear();
        for &i in chunk {
            self.mb_obs
                .extend_from_slice(&self.buf.obs[i * len..(i + 1) * len]);
        }
        let pick = |v: &[f32]| chunk.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        let mut adv = pick(advantages);
        if norm_adv {
            normalise(&mut adv);
        }
        let n = chunk.len();
        let d = &self.device;
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), d);
        let actions: Vec<i64> = chunk.iter().map(|&i| self.buf.actions[i] as i64).collect();
        Minibatch {
            actions: Tensor::<2, Int>::from_data(TensorData::new(actions, [n, 1]), d),
            old_logprobs: t1(pick(&self.buf.logprobs)),
            advantages: t1(adv),
            returns: t1(pick(returns)),
            old_values: t1(pick(&self.buf.values)),
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

    #[test]
    fn normalise_gives_zero_mean_unit_std() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        normalise(&mut v);
        assert!(v.iter().sum::<f32>().abs() < 1e-6);
        let var = v.iter().map(|x| x * x).sum::<f32>() / 3.0;
        assert!((var - 1.0).abs() < 1e-4);
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
