//! The learned reward R_hat(s_t, s_t+1): an MLP over both observations, trained with the
//! Bradley-Terry loss on soft preference labels over summed rewards, with a held-out split, the
//! paper's precision/recall/F1 table, and normalisation statistics for PPO.

use crate::experiment::preferences::LabeledPair;
use crate::experiment::rollouts::observation_at;
use crate::level::{Layout, Pos};
use crate::llm::Rollout;
use crate::rl::host;
use crate::rng::Rng;
use crate::sim::obs::write_observation_at;
use crate::sim::{CHANNELS, obs_len};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_sigmoid, relu};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How PPO uses the learned reward during fine-tuning.
///
/// Measured with earlier builds, whose rounds drew other pairs, at r = 4 on 7x7 mazes (oracle
/// judge, 400 pairs, seed 0; shifted-maze cheese rate of
/// the fine-tuned agent, baseline 45.9%): `Direct` 32.5% (scale 0.1, offset at the maximum), 10.4%
/// with `absorbing_value`, 22.5% with `coordinates` + `absorbing_value` + `goal_margin`; `Potential`
/// 45.9% (47.1% with `coordinates`). Per-step learned rewards are farmed by the fine-tuned agent
/// (ordinary steps on the training mazes reach above the goal's reward); the potential form
/// cannot be farmed, and with an MLP policy it neither hurts nor helps. With a conv policy
/// (`assets/configs/study-7x7-conv.ron`, r = 3..6, baseline 46.0 / 55.3 / 57.4 / 69.8%):
/// `Potential` 48.5 / 58.6 / 56.6 / 70.8% (an earlier build); `TrainedPotential` with
/// `coordinates` and `readout_hidden: 32` 47.5 / 58.5 / 59.5 / 70.7% (this build's `paper` arm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RewardForm {
    /// R_hat(s_t, s_t+1) per step, as in the paper.
    Direct,
    /// gamma * f(s_t+1) - f(s_t) with the potential f(s) = R_hat(s, s), the model's reward for
    /// staying in s. Lingering anywhere telescopes to nothing, so no state can be farmed; what is
    /// left is where the episode ends: f of the cheese state when the mouse reaches it, and the
    /// shaping along the way (Ng et al. 1999).
    #[default]
    Potential,
    /// The potential learned as such: R_hat(s_t, s_t+1) = f(s_t+1) - f(s_t) for a network f of
    /// one state, so a rollout's Bradley-Terry return telescopes to f(s_T) - f(s_0) and the
    /// preferences rank where rollouts end (on the cheese, closer to it, in the corner). PPO sees
    /// gamma * f(s_t+1) - f(s_t) as in `Potential`.
    TrainedPotential,
}

impl RewardForm {
    /// Whether PPO sees gamma * f(s') - f(s) (rather than R_hat per step).
    pub fn is_potential(self) -> bool {
        matches!(self, Self::Potential | Self::TrainedPotential)
    }
}

/// Reward-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardConfig {
    pub hidden: usize,
    /// Convolution layers of the reward net (see [`RewardNet::new`]).
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Row and column planes as extra inputs (see [`RewardNet::new`]).
    #[serde(default)]
    pub coordinates: bool,
    /// Width of a hidden layer between the pooled features and the output (0: a linear read-out).
    /// With `coordinates` it lets the model compare where the mouse and the cheese are (a linear
    /// read-out of pooled features can only add them up).
    #[serde(default)]
    pub readout_hidden: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Pairs per gradient step.
    pub batch_pairs: usize,
    /// Share of pairs held out for the report.
    pub holdout: f64,
    /// Pad episodes that ended on the cheese with the absorbing transition (s_T, s_T) — the mouse
    /// staying on the cheese — up to the longest episode, so summed rewards compare equally long
    /// sequences and cannot separate outcomes by length alone (an all-zero end token instead is
    /// learned as "ending is good", with nothing about the cheese).
    #[serde(default = "default_true")]
    pub absorbing_padding: bool,
    /// PPO sees scale * (R_hat - q) / std with q this quantile of R_hat over real steps. Unset:
    /// the form's default. `Direct`: 1.0 (the maximum), so steps cost something and no state is
    /// worth lingering in (measured at r=3 on 7x7 mazes: a mean-centred or 0.95-quantile offset
    /// let the fine-tuned agent hover, ~90% "neither"). `Potential`: 0.0 (the minimum), so every
    /// potential is >= 0 and standing still costs (1 - gamma) * f(s) (measured at r=4 on 7x7
    /// mazes: the median left 50% "neither" against the baseline's 32%, the minimum 33%).
    #[serde(default)]
    pub offset_quantile: Option<f64>,
    /// Multiplies the normalised reward. Unset: 0.1 for `Direct` (large per-step returns swamp the
    /// value head of the shared torso when fine-tuning starts; measured at r=3, 7x7: scale 1.0 left
    /// 17% cheese on shifted mazes, 0.1 left 25%), 1.0 for `Potential`.
    #[serde(default)]
    pub scale: Option<f32>,
    /// `Direct` form only: when an episode ends on the cheese, PPO also receives the discounted
    /// value of staying in the absorbing state forever, gamma / (1 - gamma) * R_hat(s_T, s_T), as
    /// the padding showed it to the reward model. Off by default: measured at r=4 on 7x7 mazes
    /// (oracle, 400 pairs) ordinary steps on the training mazes reach above the absorbing reward
    /// (99th percentile 0.25 vs 0.24 normalised) and the fine-tuned agent ended 83-89% "neither"
    /// (baseline 32%), with the value counted to the time limit or forever.
    #[serde(default)]
    pub absorbing_value: bool,
    /// `Direct` form only: caps every step's normalised reward at the reward of staying on the
    /// cheese of the same maze minus this margin, so no ordinary step can pay as much as the goal
    /// and lingering never beats ending the episode on the cheese. Measured at r=4 on 7x7 mazes
    /// (with `coordinates` and `absorbing_value`, margin 0.05 at scale 0.1): 22.5% cheese on
    /// shifted mazes against the baseline's 45.9% — the agent no longer farms, but learns less.
    #[serde(default)]
    pub goal_margin: Option<f32>,
    /// Direct R_hat per step (the paper) or its potential form.
    #[serde(default)]
    pub form: RewardForm,
}

fn default_layers() -> usize {
    2
}

fn default_true() -> bool {
    true
}

impl RewardConfig {
    /// Every value in range, or what is wrong and how to fix it (named as in a study config).
    pub fn validate(&self) -> Result<(), String> {
        let field = |name: &str, value: String, want: &str| {
            Err(format!("reward.{name} is {value}: it must be {want}"))
        };
        if self.hidden == 0 {
            return field("hidden", "0".into(), "at least 1 (e.g. 16)");
        }
        if self.layers == 0 {
            return field("layers", "0".into(), "at least 1 (e.g. 2)");
        }
        if self.epochs == 0 {
            return field("epochs", "0".into(), "at least 1 (e.g. 10)");
        }
        if self.batch_pairs == 0 {
            return field("batch_pairs", "0".into(), "at least 1 (e.g. 32)");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return field(
                "learning_rate",
                self.learning_rate.to_string(),
                "a positive number (e.g. 0.003)",
            );
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return field(
                "holdout",
                self.holdout.to_string(),
                "a share from 0 up to (not including) 1 (e.g. 0.2)",
            );
        }
        if let Some(q) = self.offset_quantile
            && !(0.0..=1.0).contains(&q)
        {
            return field("offset_quantile", q.to_string(), "from 0 to 1, or unset");
        }
        if let Some(s) = self.scale
            && !(s.is_finite() && s > 0.0)
        {
            return field("scale", s.to_string(), "a positive number, or unset");
        }
        Ok(())
    }

    /// The offset quantile in use (see [`RewardConfig::offset_quantile`]).
    pub fn offset_quantile(&self) -> f64 {
        let default = match self.form {
            RewardForm::Direct => 1.0,
            RewardForm::Potential | RewardForm::TrainedPotential => 0.0,
        };
        self.offset_quantile.unwrap_or(default).clamp(0.0, 1.0)
    }

    /// The scale in use (see [`RewardConfig::scale`]).
    pub fn scale(&self) -> f32 {
        let default = match self.form {
            RewardForm::Direct => 0.1,
            RewardForm::Potential | RewardForm::TrainedPotential => 1.0,
        };
        self.scale.unwrap_or(default)
    }
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            hidden: 16,
            layers: default_layers(),
            coordinates: false,
            readout_hidden: 0,
            epochs: 10,
            learning_rate: 1e-3,
            batch_pairs: 32,
            holdout: 0.2,
            absorbing_padding: true,
            offset_quantile: None,
            scale: None,
            absorbing_value: false,
            goal_margin: None,
            form: RewardForm::default(),
        }
    }
}

/// A small conv net over `[s_t, s_t+1]` stacked as 6 channels: 3x3 convolutions (which can tell
/// "the mouse stands on / near the cheese" at any position), summed over the grid, then a linear
/// read-out. An MLP over the flat grids cannot express co-location cheaply and learns
/// shortcuts (episode length, standing still) instead.
#[derive(Module, Debug)]
pub struct RewardNet {
    convs: Vec<Conv2d>,
    readout: Option<Linear>,
    out: Linear,
    world: usize,
    coordinates: bool,
    /// R_hat(s, s') = g(s', s') - g(s, s) (the `TrainedPotential` form).
    potential: bool,
}

impl RewardNet {
    /// `layers` 3x3 convolutions: the receptive field, 2 * layers + 1 cells wide, bounds how far
    /// apart the mouse and the cheese can be for the model to see them together. With
    /// `coordinates`, two more input planes hold each cell's row and column (in [0, 1]): without
    /// them the convolutions cannot tell where in the world a cell is (zero padding looks like
    /// floor), so "the mouse went to the top-right corner" cannot be rewarded or penalised.
    pub fn new(world: usize, config: &RewardConfig, device: &Device) -> Self {
        let RewardConfig {
            hidden,
            layers,
            coordinates,
            readout_hidden,
            ..
        } = *config;
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let inputs = 2 * CHANNELS + if coordinates { 2 } else { 0 };
        let convs = (0..layers.max(1))
            .map(|k| conv(if k == 0 { inputs } else { hidden }, hidden))
            .collect();
        let (readout, out) = match readout_hidden {
            0 => (None, LinearConfig::new(hidden, 1).init(device)),
            width => (
                Some(LinearConfig::new(hidden, width).init(device)),
                LinearConfig::new(width, 1).init(device),
            ),
        };
        Self {
            convs,
            readout,
            out,
            world,
            coordinates,
            potential: config.form == RewardForm::TrainedPotential,
        }
    }

    /// `[n, 2 * obs_len]` -> rewards `[n]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        if !self.potential {
            return self.score(x);
        }
        let [n, width] = x.dims();
        let obs = width / 2;
        let before = x.clone().slice([0..n, 0..obs]);
        let after = x.slice([0..n, obs..width]);
        let stays = Tensor::cat(
            vec![
                Tensor::cat(vec![after.clone(), after], 1),
                Tensor::cat(vec![before.clone(), before], 1),
            ],
            0,
        );
        let g = self.score(stays);
        g.clone().narrow(0, 0, n) - g.narrow(0, n, n)
    }

    /// The potential f(s) = g(s, s) of each state in `states` (`[n, obs_len]`): the network's
    /// score of staying in s (for the `TrainedPotential` form, what its rewards are differences
    /// of).
    pub fn stay_score(&self, states: Tensor<2>) -> Tensor<1> {
        self.score(Tensor::cat(vec![states.clone(), states], 1))
    }

    /// The network itself, `[n, 2 * obs_len]` -> `[n]`.
    fn score(&self, x: Tensor<2>) -> Tensor<1> {
        let [n, _] = x.dims();
        let w = self.world;
        let mut h: Tensor<4> = x.reshape([n, 2 * CHANNELS, w, w]);
        if self.coordinates {
            let scale = (w.max(2) - 1) as f32;
            let mut planes = vec![0.0f32; 2 * w * w];
            for row in 0..w {
                for col in 0..w {
                    planes[row * w + col] = row as f32 / scale;
                    planes[w * w + row * w + col] = col as f32 / scale;
                }
            }
            let coords: Tensor<4> =
                Tensor::from_data(TensorData::new(planes, [1, 2, w, w]), &h.device());
            h = Tensor::cat(vec![h, coords.expand([n as i64, 2, w as i64, w as i64])], 1);
        }
        for conv in &self.convs {
            h = relu(conv.forward(h));
        }
        let [_, c, _, _] = h.dims();
        let mut pooled: Tensor<2> = h.reshape([n, c, w * w]).sum_dim(2).reshape([n, c]);
        if let Some(readout) = &self.readout {
            pooled = relu(readout.forward(pooled));
        }
        self.out.forward(pooled).squeeze_dim(1)
    }
}

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

/// A trained reward model with its normalisation (mean/std of R_hat over training transitions).
pub struct RewardModel {
    net: RewardNet,
    device: Device,
    world: usize,
    /// Subtracted from R_hat (a quantile over real steps; see `RewardConfig::offset_quantile`).
    pub offset: f32,
    pub std: f32,
    pub scale: f32,
    /// See [`RewardConfig::absorbing_value`].
    pub absorbing_value: bool,
    /// See [`RewardConfig::form`].
    pub form: RewardForm,
    /// See [`RewardConfig::goal_margin`].
    pub goal_margin: Option<f32>,
}

/// The true potential of each observation in `states` (`[n, obs_len(world)]`, channels {wall,
/// mouse, cheese}): `CHEESE_REWARD * (1 - d / d_max)` with d the maze distance from the mouse to
/// the cheese and d_max = world * world / 2, clamped at 0 (cells farther than d_max, rare, and
/// mazes where the cheese cannot be reached). It is what a perfect reward model would learn from
/// "closer to the cheese is better"; the study's ceiling arm fine-tunes with it.
pub fn maze_distance_potentials(states: &[f32], world: usize) -> Vec<f32> {
    let plane = world * world;
    let d_max = (plane as f32 / 2.0).max(1.0);
    let mut dist = vec![usize::MAX; plane];
    let mut queue = std::collections::VecDeque::with_capacity(plane);
    states
        .chunks_exact(CHANNELS * plane)
        .map(|obs| {
            let find = |c: usize| {
                obs[c * plane..(c + 1) * plane]
                    .iter()
                    .position(|&v| v > 0.5)
            };
            let (Some(mouse), Some(cheese)) = (find(1), find(2)) else {
                return 0.0;
            };
            dist.fill(usize::MAX);
            queue.clear();
            dist[mouse] = 0;
            queue.push_back(mouse);
            while let Some(cell) = queue.pop_front() {
                if cell == cheese {
                    break;
                }
                let (row, col) = (cell / world, cell % world);
                let next = [
                    (row > 0).then(|| cell - world),
                    (row + 1 < world).then(|| cell + world),
                    (col > 0).then(|| cell - 1),
                    (col + 1 < world).then(|| cell + 1),
                ];
                for n in next.into_iter().flatten() {
                    if obs[n] < 0.5 && dist[n] == usize::MAX {
                        dist[n] = dist[cell] + 1;
                        queue.push_back(n);
                    }
                }
            }
            match dist[cheese] {
                usize::MAX => 0.0,
                d => crate::sim::CHEESE_REWARD * (1.0 - d as f32 / d_max).max(0.0),
            }
        })
        .collect()
}

/// Transition features of a rollout: `[len, 2 * obs_len]`, padded with absorbing transitions to
/// `pad_to` rows when the episode ended on the cheese.
fn features(rollout: &Rollout, pad_to: usize) -> Vec<f32> {
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
        observation_at(rollout, 0, &mut current);
    }
    for t in 0..steps {
        let row = &mut out[t * 2 * len..(t + 1) * 2 * len];
        row[..len].copy_from_slice(&current);
        observation_at(rollout, t + 1, &mut row[len..]);
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

/// Every state a rollout visits, `[path.len(), obs_len]`.
fn states(rollout: &Rollout) -> Vec<f32> {
    let len = obs_len(rollout.layout.size);
    let mut out = vec![0.0; rollout.path.len() * len];
    for (t, state) in out.chunks_mut(len).enumerate() {
        observation_at(rollout, t, state);
    }
    out
}

fn label_class(mu: f32) -> usize {
    if mu >= 0.75 {
        0
    } else if mu <= 0.25 {
        1
    } else {
        2
    }
}

impl RewardModel {
    /// Trains on labelled pairs of `rollouts` (all from one world size); deterministic per seed.
    pub fn train(
        rollouts: &[Rollout],
        pairs: &[LabeledPair],
        config: &RewardConfig,
        seed: u64,
        device: &Device,
    ) -> Result<(Self, RewardReport), String> {
        let world = rollouts
            .first()
            .map(|r| r.layout.size)
            .ok_or("no rollouts to learn a reward from")?;
        if pairs.is_empty() {
            return Err("no labelled pairs to learn a reward from".into());
        }
        let obs = obs_len(world);
        let pad_to = if config.absorbing_padding {
            rollouts
                .iter()
                .map(|r| r.path.len().saturating_sub(1))
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        let feats: Vec<Vec<f32>> = rollouts.iter().map(|r| features(r, pad_to)).collect();
        let train_device = device.clone().autodiff();
        let mut net = crate::rl::model::seeded_init(&train_device, seed, || {
            RewardNet::new(world, config, &train_device)
        });
        let mut rng = Rng::new(seed);
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        rng.shuffle(&mut order);
        let held = ((pairs.len() as f64 * config.holdout).round() as usize)
            .min(pairs.len().saturating_sub(1));
        let (heldout, train) = order.split_at(held);
        let mut train = train.to_vec();
        let mut optim = AdamConfig::new().init();
        let mut last_loss = 0.0;
        for _ in 0..config.epochs {
            rng.shuffle(&mut train);
            let mut total = 0.0;
            for chunk in train.chunks(config.batch_pairs.max(1)) {
                let batch: Vec<&LabeledPair> = chunk.iter().map(|&i| &pairs[i]).collect();
                let loss = bt_loss(&net, &batch, &feats, obs, &train_device);
                total += f64::from(host(loss.clone())[0]) * chunk.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(config.learning_rate, net, grads);
            }
            last_loss = total / train.len().max(1) as f64;
        }
        let net = net.valid();
        let inner = device.clone();
        let mut model = RewardModel {
            net,
            device: inner,
            world,
            offset: 0.0,
            std: 1.0,
            scale: config.scale(),
            absorbing_value: config.absorbing_value,
            form: config.form,
            goal_margin: config.goal_margin,
        };
        // Normalisation over the real steps (no padding) of every rollout seen in training; for a
        // trained potential, over the potentials of every state they visit.
        let seen = train
            .iter()
            .flat_map(|&i| [pairs[i].first, pairs[i].second])
            .collect::<std::collections::BTreeSet<_>>();
        let mut all: Vec<f32> = if config.form == RewardForm::TrainedPotential {
            seen.into_iter()
                .flat_map(|r| model.raw_potentials(&states(&rollouts[r])))
                .collect()
        } else {
            seen.into_iter()
                .flat_map(|r| model.raw_rewards(&features(&rollouts[r], 0)))
                .collect()
        };
        if !all.is_empty() {
            let n = all.len() as f32;
            let mean = all.iter().sum::<f32>() / n;
            let var = all.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / n;
            model.std = var.sqrt().max(1e-6);
            all.sort_by(f32::total_cmp);
            let q = config.offset_quantile();
            model.offset = all[((all.len() - 1) as f64 * q).round() as usize];
        }
        let mut report = model.report(pairs, heldout, &feats, train.len(), last_loss);
        let profile = model.step_profile(rollouts);
        report.cheese_step_reward = profile.cheese;
        report.other_step_reward = profile.other;
        report.bump_step_reward = profile.bump;
        report.absorbing_step_reward = profile.absorbing;
        report.on_training = None;
        Ok((model, report))
    }

    /// What the model pays per kind of transition in `rollouts` (see [`StepProfile`]).
    pub fn step_profile(&self, rollouts: &[Rollout]) -> StepProfile {
        let (mut cheese, mut closer, mut farther, mut bump) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut corner = Vec::new();
        let (mut absorbing, mut real) = (Vec::new(), Vec::new());
        for r in rollouts {
            if r.stats.reached_cheese && !r.path.is_empty() {
                let mut state = vec![0.0; obs_len(r.layout.size)];
                observation_at(r, r.path.len() - 1, &mut state);
                absorbing.extend(self.stay_potentials(&state).into_iter().map(f64::from));
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

    /// Raw R_hat for a block of transition features `[n, 2 * obs_len]`.
    pub fn raw_rewards(&self, features: &[f32]) -> Vec<f32> {
        let width = 2 * obs_len(self.world);
        let n = features.len() / width;
        if n == 0 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(n);
        for chunk in features.chunks(4096 * width) {
            let rows = chunk.len() / width;
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [rows, width]),
                &self.device,
            );
            out.extend(host(self.net.forward(x)));
        }
        out
    }

    /// Raw g(s, s) of the network for each observation of `states` (`[n, obs_len]`).
    fn raw_potentials(&self, states: &[f32]) -> Vec<f32> {
        let len = obs_len(self.world);
        let mut out = Vec::with_capacity(states.len() / len);
        for chunk in states.chunks(4096 * len) {
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / len, len]),
                &self.device,
            );
            out.extend(host(self.net.stay_score(x)));
        }
        out
    }

    /// Normalised f(s) for each observation of `states` (`[n, obs_len]`): the potential of the
    /// potential forms — R_hat(s, s), the reward of staying in s, for `Potential` (and the
    /// reward of staying on the cheese for `Direct`), the network's state score itself for
    /// `TrainedPotential`.
    pub fn stay_potentials(&self, states: &[f32]) -> Vec<f32> {
        if self.form == RewardForm::TrainedPotential {
            return self
                .raw_potentials(states)
                .into_iter()
                .map(|f| self.scale * (f - self.offset) / self.std)
                .collect();
        }
        let len = obs_len(self.world);
        let mut stays = Vec::with_capacity(2 * states.len());
        for state in states.chunks_exact(len) {
            stays.extend_from_slice(state);
            stays.extend_from_slice(state);
        }
        self.rewards(&stays)
    }

    /// Normalised R_hat(g, g) of the goal state g of each transition row `[s_t, s_t+1]`: s_t
    /// with the mouse moved onto the cheese, the reward of staying there.
    pub fn goal_rewards(&self, features: &[f32]) -> Vec<f32> {
        let len = obs_len(self.world);
        let plane = self.world * self.world;
        let mut goals = Vec::with_capacity(features.len() / 2);
        for row in features.chunks_exact(2 * len) {
            let start = goals.len();
            goals.extend_from_slice(&row[..len]);
            let goal = &mut goals[start..];
            let (walls_and_mouse, cheese) = goal.split_at_mut(2 * plane);
            walls_and_mouse[plane..].copy_from_slice(cheese);
        }
        self.stay_potentials(&goals)
    }

    /// Normalised R_hat, as PPO sees it (for `TrainedPotential`, the difference of normalised
    /// potentials, undiscounted).
    pub fn rewards(&self, features: &[f32]) -> Vec<f32> {
        let offset = if self.form == RewardForm::TrainedPotential {
            0.0
        } else {
            self.offset
        };
        self.raw_rewards(features)
            .into_iter()
            .map(|r| self.scale * (r - offset) / self.std)
            .collect()
    }

    /// The learned reward as a heatmap over `layout` (row-major; None on walls), in the form PPO
    /// uses it: the potential f of the mouse standing in each cell for the `Potential` form, the
    /// reward for stepping into each cell for the `Direct` form.
    pub fn cell_rewards(&self, layout: &Layout) -> Vec<Option<f32>> {
        match self.form {
            RewardForm::Direct => self.entry_rewards(layout),
            RewardForm::Potential | RewardForm::TrainedPotential => self.stay_rewards(layout),
        }
    }

    /// Normalised R_hat(s, s) of the mouse standing in each free cell of `layout`.
    pub fn stay_rewards(&self, layout: &Layout) -> Vec<Option<f32>> {
        let len = obs_len(layout.size);
        let cells: Vec<Pos> = (0..layout.size * layout.size)
            .map(|i| Pos::new(i / layout.size, i % layout.size))
            .filter(|&p| !layout.is_wall(p))
            .collect();
        let mut states = vec![0.0; cells.len() * len];
        for (&cell, state) in cells.iter().zip(states.chunks_mut(len)) {
            write_observation_at(layout, cell, state);
        }
        let mut out = vec![None; layout.size * layout.size];
        for (&cell, value) in cells.iter().zip(self.stay_potentials(&states)) {
            out[layout.index(cell)] = Some(value);
        }
        out
    }

    /// Normalised R_hat for stepping into each free cell of `layout`, averaged over the moves
    /// from its free neighbours (row-major; None on walls).
    pub fn entry_rewards(&self, layout: &Layout) -> Vec<Option<f32>> {
        let len = obs_len(layout.size);
        let mut moves = Vec::new();
        for i in 0..layout.size * layout.size {
            let to = Pos::new(i / layout.size, i % layout.size);
            if layout.is_wall(to) {
                continue;
            }
            for from in layout.neighbours(to) {
                moves.push((from, to));
            }
        }
        let mut features = vec![0.0; moves.len() * 2 * len];
        for (&(from, to), row) in moves.iter().zip(features.chunks_mut(2 * len)) {
            write_observation_at(layout, from, &mut row[..len]);
            write_observation_at(layout, to, &mut row[len..]);
        }
        let rewards = self.rewards(&features);
        let mut sums = vec![(0.0f32, 0usize); layout.size * layout.size];
        for (&(_, to), r) in moves.iter().zip(rewards) {
            let cell = &mut sums[layout.index(to)];
            cell.0 += r;
            cell.1 += 1;
        }
        sums.into_iter()
            .map(|(sum, n)| (n > 0).then(|| sum / n as f32))
            .collect()
    }

    /// The world size the model reads.
    pub fn world_size(&self) -> usize {
        self.world
    }

    /// Sum of R_hat over a rollout.
    pub fn rollout_return(&self, rollout: &Rollout) -> f32 {
        self.raw_rewards(&features(rollout, 0)).iter().sum()
    }

    fn report(
        &self,
        pairs: &[LabeledPair],
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

/// Bradley-Terry loss with soft labels over summed rewards of each pair's two rollouts.
fn bt_loss(
    net: &RewardNet,
    batch: &[&LabeledPair],
    feats: &[Vec<f32>],
    obs: usize,
    device: &Device,
) -> Tensor<1> {
    let width = 2 * obs;
    let mut rows = Vec::new();
    let mut owner = Vec::new(); // which trajectory (2k: first, 2k+1: second) each row belongs to
    for (k, p) in batch.iter().enumerate() {
        for (side, r) in [p.first, p.second].into_iter().enumerate() {
            rows.extend_from_slice(&feats[r]);
            owner.extend(std::iter::repeat_n(2 * k + side, feats[r].len() / width));
        }
    }
    let n_rows = owner.len();
    let n_traj = 2 * batch.len();
    let mut segments = vec![0.0f32; n_traj * n_rows];
    for (row, &t) in owner.iter().enumerate() {
        segments[t * n_rows + row] = 1.0;
    }
    let b = batch.len();
    let x = Tensor::<2>::from_data(TensorData::new(rows, [n_rows, width]), device);
    let rewards = net.forward(x).unsqueeze_dim::<2>(1);
    let seg = Tensor::<2>::from_data(TensorData::new(segments, [n_traj, n_rows]), device);
    let returns: Tensor<2> = seg.matmul(rewards).reshape([b, 2]);
    let first: Tensor<1> = returns.clone().slice([0..b, 0..1]).reshape([b]);
    let second: Tensor<1> = returns.slice([0..b, 1..2]).reshape([b]);
    let d = first - second;
    let mu: Vec<f32> = batch.iter().map(|p| p.mu_first).collect();
    let mu = Tensor::<1>::from_data(TensorData::new(mu, [b]), device);
    let prefer_first = mu.clone() * log_sigmoid(d.clone());
    let prefer_second = mu.neg().add_scalar(1.0) * log_sigmoid(d.neg());
    (prefer_first + prefer_second).neg().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Layout;

    fn device() -> Device {
        Device::default()
    }

    fn open_layout(size: usize) -> Layout {
        Layout {
            size,
            walls: vec![false; size * size],
            start: Pos::new(size - 1, 0),
            cheese: Pos::new(0, size - 1),
            corner: Pos::new(0, size - 1),
        }
    }

    /// Features of the mouse standing still at `mouse` in `layout`: `[s, s]`.
    fn standing(layout: &Layout, mouse: Pos) -> Vec<f32> {
        let len = obs_len(layout.size);
        let mut row = vec![0.0; 2 * len];
        write_observation_at(layout, mouse, &mut row[..len]);
        let (a, b) = row.split_at_mut(len);
        b.copy_from_slice(a);
        row
    }

    fn model(world: usize, coordinates: bool) -> RewardModel {
        let device = device();
        let net = crate::rl::model::seeded_init(&device, 3, || {
            let config = RewardConfig {
                hidden: 8,
                layers: 2,
                coordinates,
                ..RewardConfig::default()
            };
            RewardNet::new(world, &config, &device)
        });
        RewardModel {
            net,
            device,
            world,
            offset: 0.0,
            std: 1.0,
            scale: 1.0,
            absorbing_value: false,
            form: RewardForm::Potential,
            goal_margin: None,
        }
    }

    #[test]
    fn only_coordinates_let_the_reward_tell_where_the_mouse_is() {
        // An open 11x11 room: two cells far enough from the border and the cheese that every
        // feature of two stacked 3x3 convolutions sees the same neighbourhood: summed over the
        // grid, they look the same without coordinates.
        let layout = open_layout(11);
        let (a, b) = (Pos::new(4, 5), Pos::new(5, 5));
        let mut both = standing(&layout, a);
        both.extend(standing(&layout, b));
        let blind = model(11, false).raw_rewards(&both);
        assert!((blind[0] - blind[1]).abs() < 1e-4, "{blind:?}");
        let seeing = model(11, true).raw_rewards(&both);
        assert!((seeing[0] - seeing[1]).abs() > 1e-4, "{seeing:?}");
    }

    #[test]
    fn the_goal_state_is_the_mouse_standing_on_the_cheese() {
        let layout = open_layout(7);
        let model = model(7, true);
        let mut step = vec![0.0; 2 * obs_len(7)];
        write_observation_at(&layout, layout.start, &mut step[..obs_len(7)]);
        write_observation_at(&layout, Pos::new(5, 0), &mut step[obs_len(7)..]);
        let goal = model.goal_rewards(&step);
        let staying = model.rewards(&standing(&layout, layout.cheese));
        assert_eq!(goal, staying);
        let mut on_cheese = vec![0.0; obs_len(7)];
        write_observation_at(&layout, layout.cheese, &mut on_cheese);
        assert_eq!(model.stay_potentials(&on_cheese), staying);
    }

    #[test]
    fn the_maze_distance_potential_follows_the_path_not_the_straight_line() {
        // A wall between mouse and cheese: two cells apart in a straight line, six along the maze.
        let rows = ["#####", "#.#.#", "#.#.#", "#...#", "#####"];
        let layout = Layout {
            size: 5,
            walls: rows.concat().chars().map(|c| c == '#').collect(),
            start: Pos::new(3, 1),
            cheese: Pos::new(1, 3),
            corner: Pos::new(1, 3),
        };
        let potential = |mouse: Pos| {
            let mut state = vec![0.0; obs_len(5)];
            write_observation_at(&layout, mouse, &mut state);
            maze_distance_potentials(&state, 5)[0]
        };
        let d_max = 12.5;
        let expect = |d: f32| crate::sim::CHEESE_REWARD * (1.0 - d / d_max);
        assert!((potential(Pos::new(1, 1)) - expect(6.0)).abs() < 1e-5);
        assert!((potential(Pos::new(3, 2)) - expect(3.0)).abs() < 1e-5);
        assert!((potential(Pos::new(1, 3)) - crate::sim::CHEESE_REWARD).abs() < 1e-5);
        // No cheese plane (or no mouse): no potential, never a panic.
        assert_eq!(maze_distance_potentials(&[0.0; 75], 5), vec![0.0]);
    }

    /// A rollout in an open room with the cheese at `cheese`: from the start, `ups` moves up
    /// then `rights` moves right, stopping on the cheese.
    fn walk(size: usize, cheese: Pos, ups: usize, rights: usize) -> Rollout {
        let mut layout = open_layout(size);
        layout.cheese = cheese;
        let mut path = vec![layout.start];
        let mut actions = Vec::new();
        let moves = std::iter::repeat_n(crate::sim::Action::Up, ups)
            .chain(std::iter::repeat_n(crate::sim::Action::Right, rights));
        for action in moves {
            let here = *path.last().expect("start");
            if here == cheese {
                break;
            }
            let next = match action {
                crate::sim::Action::Up => Pos::new(here.row - 1, here.col),
                _ => Pos::new(here.row, here.col + 1),
            };
            path.push(next);
            actions.push(action);
        }
        Rollout::from_path(layout, path, actions)
    }

    #[test]
    fn a_trained_potential_telescopes_and_learns_where_rollouts_end() {
        let size = 7;
        let config = RewardConfig {
            hidden: 16,
            coordinates: true,
            readout_hidden: 16,
            epochs: 60,
            learning_rate: 3e-3,
            form: RewardForm::TrainedPotential,
            ..RewardConfig::default()
        };
        // Rollouts toward cheeses all over the room; the better of two ends closer to its
        // cheese (maze distance in an open room: Manhattan).
        let mut rng = Rng::new(5);
        let rollouts: Vec<Rollout> = (0..240)
            .map(|_| {
                let cheese = loop {
                    let p = Pos::new(rng.below(size), rng.below(size));
                    if p != Pos::new(size - 1, 0) {
                        break p;
                    }
                };
                walk(size, cheese, rng.below(size), rng.below(size))
            })
            .collect();
        let left = |r: &Rollout| r.path.last().expect("path").manhattan(r.layout.cheese);
        let pairs: Vec<LabeledPair> = (0..rollouts.len() / 2)
            .map(|k| {
                let (a, b) = (&rollouts[2 * k], &rollouts[2 * k + 1]);
                let mu_first = match left(a).cmp(&left(b)) {
                    std::cmp::Ordering::Less => 1.0,
                    std::cmp::Ordering::Greater => 0.0,
                    std::cmp::Ordering::Equal => 0.5,
                };
                LabeledPair {
                    first: 2 * k,
                    second: 2 * k + 1,
                    mu_first,
                    answers: [None, None],
                    rationales: Default::default(),
                }
            })
            .collect();
        let (model, report) =
            RewardModel::train(&rollouts, &pairs, &config, 3, &device()).expect("trains");
        // The return of a rollout is f(s_T) - f(s_0), whatever it did on the way.
        let len = obs_len(size);
        for r in &rollouts[..10] {
            let all = states(r);
            let f = model.raw_potentials(&[&all[..len], &all[all.len() - len..]].concat());
            assert!((model.rollout_return(r) - (f[1] - f[0])).abs() < 1e-3);
        }
        // It learned where rollouts end: the mouse standing next to the cheese is worth more than
        // the mouse far from it.
        let mut layout = open_layout(size);
        layout.cheese = Pos::new(3, 3);
        let f = model.stay_rewards(&layout);
        let at = |p: Pos| f[layout.index(p)].expect("free cell");
        let near = (at(Pos::new(2, 3)) + at(Pos::new(3, 4)) + at(Pos::new(4, 3))) / 3.0;
        let far = (at(Pos::new(0, 0)) + at(Pos::new(6, 6)) + at(Pos::new(0, 6))) / 3.0;
        assert!(near > far + 0.5, "near {near}, far {far}: {report:?}");
    }

    #[test]
    fn the_offset_and_scale_follow_the_form() {
        let mut config = RewardConfig::default();
        assert_eq!(config.form, RewardForm::Potential);
        assert_eq!((config.offset_quantile(), config.scale()), (0.0, 1.0));
        config.form = RewardForm::Direct;
        assert_eq!((config.offset_quantile(), config.scale()), (1.0, 0.1));
        config.offset_quantile = Some(0.5);
        config.scale = Some(2.0);
        assert_eq!((config.offset_quantile(), config.scale()), (0.5, 2.0));
    }
}
