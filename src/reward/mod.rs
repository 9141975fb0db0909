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

/// Reward-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardConfig {
    pub hidden: usize,
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
    /// PPO sees scale * (R_hat - q) / std with q this quantile of R_hat over real steps (1.0: the
    /// maximum): steps then cost something, so no state is worth lingering in and ending the
    /// episode on the cheese stays the best plan. Measured at r=3 on 7x7 mazes: a mean-centred or
    /// 0.95-quantile offset let the fine-tuned agent hover (~90% "neither"); the maximum did not.
    #[serde(default = "default_quantile")]
    pub offset_quantile: f64,
    /// Multiplies the normalised reward. Large shaped returns swamp the value head of the shared
    /// torso when fine-tuning starts (measured at r=3, 7x7: scale 1.0 left 17% cheese on shifted
    /// mazes, 0.1 left 25%; the baseline had 33-45%).
    #[serde(default = "default_scale")]
    pub scale: f32,
    /// When an episode ends on the cheese, PPO also receives the discounted value of staying in
    /// the absorbing state, gamma / (1 - gamma) * R_hat(s_T, s_T): the part of the return the
    /// reward model learned from the padding, which an episode that terminates never sees.
    /// Off by default: measured at r=4 on 7x7 mazes (oracle, 400 pairs) the learned absorbing
    /// reward sat at the top of the real steps (-0.01 normalised) rather than above them, and the
    /// fine-tuned agent ended 83% "neither" (51% without; baseline 32%).
    #[serde(default)]
    pub absorbing_value: bool,
}

fn default_scale() -> f32 {
    0.1
}

fn default_quantile() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            hidden: 16,
            epochs: 10,
            learning_rate: 1e-3,
            batch_pairs: 32,
            holdout: 0.2,
            absorbing_padding: true,
            offset_quantile: default_quantile(),
            scale: default_scale(),
            absorbing_value: false,
        }
    }
}

/// A small conv net over `[s_t, s_t+1]` stacked as 6 channels: two 3x3 convolutions (which can
/// tell "the mouse stands on / next to the cheese" at any position), summed over the grid, then a
/// linear read-out. An MLP over the flat grids cannot express co-location cheaply and learns
/// shortcuts (episode length, standing still) instead.
#[derive(Module, Debug)]
pub struct RewardNet {
    conv1: Conv2d,
    conv2: Conv2d,
    out: Linear,
    world: usize,
}

impl RewardNet {
    pub fn new(world: usize, hidden: usize, device: &Device) -> Self {
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Self {
            conv1: conv(2 * CHANNELS, hidden),
            conv2: conv(hidden, hidden),
            out: LinearConfig::new(hidden, 1).init(device),
            world,
        }
    }

    /// `[n, 2 * obs_len]` -> rewards `[n]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let [n, _] = x.dims();
        let w = self.world;
        let x: Tensor<4> = x.reshape([n, 2 * CHANNELS, w, w]);
        let h = relu(self.conv1.forward(x));
        let h = relu(self.conv2.forward(h));
        let [_, c, _, _] = h.dims();
        let pooled: Tensor<2> = h.reshape([n, c, w * w]).sum_dim(2).reshape([n, c]);
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
}

/// A trained reward model with its normalisation (mean/std of R_hat over training transitions).
pub struct RewardModel {
    net: RewardNet,
    device: Device,
    world: usize,
    /// Subtracted from R_hat (a high quantile over real steps; see `RewardConfig::offset_quantile`).
    pub offset: f32,
    pub std: f32,
    pub scale: f32,
    /// See [`RewardConfig::absorbing_value`].
    pub absorbing_value: bool,
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
            RewardNet::new(world, config.hidden, &train_device)
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
            scale: config.scale,
            absorbing_value: config.absorbing_value,
        };
        // Normalisation over the real steps (no padding) of every rollout seen in training.
        let mut all: Vec<f32> = train
            .iter()
            .flat_map(|&i| [pairs[i].first, pairs[i].second])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .flat_map(|r| model.raw_rewards(&features(&rollouts[r], 0)))
            .collect();
        if !all.is_empty() {
            let n = all.len() as f32;
            let mean = all.iter().sum::<f32>() / n;
            let var = all.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / n;
            model.std = var.sqrt().max(1e-6);
            all.sort_by(f32::total_cmp);
            let q = config.offset_quantile.clamp(0.0, 1.0);
            model.offset = all[((all.len() - 1) as f64 * q).round() as usize];
        }
        let mut report = model.report(pairs, heldout, &feats, train.len(), last_loss);
        let (mut cheese, mut other, mut bump) = (Vec::new(), Vec::new(), Vec::new());
        let mut absorbing = Vec::new();
        for r in rollouts {
            if r.stats.reached_cheese && !r.path.is_empty() {
                let len = obs_len(r.layout.size);
                let mut row = vec![0.0; 2 * len];
                observation_at(r, r.path.len() - 1, &mut row[..len]);
                let (a, b) = row.split_at_mut(len);
                b.copy_from_slice(a);
                absorbing.extend(model.rewards(&row).into_iter().map(f64::from));
            }
            let steps = r.path.len().saturating_sub(1);
            let rewards = model.rewards(&features(r, 0));
            for (t, value) in rewards.into_iter().enumerate().take(steps) {
                if r.path[t + 1] == r.layout.cheese {
                    cheese.push(f64::from(value));
                } else if r.path[t + 1] == r.path[t] {
                    bump.push(f64::from(value));
                } else {
                    other.push(f64::from(value));
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        report.cheese_step_reward = mean(&cheese);
        report.other_step_reward = mean(&other);
        report.bump_step_reward = mean(&bump);
        report.absorbing_step_reward = mean(&absorbing);
        Ok((model, report))
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

    /// Normalised R_hat, as PPO sees it.
    pub fn rewards(&self, features: &[f32]) -> Vec<f32> {
        self.raw_rewards(features)
            .into_iter()
            .map(|r| self.scale * (r - self.offset) / self.std)
            .collect()
    }

    /// Normalised R_hat for stepping into each free cell of `layout`, averaged over the moves
    /// from its free neighbours (row-major; None on walls): the reward model as a heatmap.
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
