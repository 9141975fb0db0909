//! Training the reward model: the Bradley-Terry loss with soft labels over summed rewards of each
//! pair's two rollouts (a trained potential's sum read off the episode's ends), a held-out split,
//! and the normalisation PPO reads R_hat with.

use super::dataset::{Preference, features, return_rows, states};
use super::{RewardConfig, RewardForm, RewardModel, RewardNet, RewardReport};
use crate::errors::Invalid;
use crate::rl::host;
use crate::rl::model::seeded_init;
use crate::rng::Rng;
use crate::sim::{Rollout, obs_len};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

impl RewardModel {
    /// Trains on labelled pairs of `rollouts` (all from one world size); deterministic per seed.
    pub fn train(
        rollouts: &[Rollout],
        pairs: &[Preference],
        config: &RewardConfig,
        seed: u64,
        device: &Device,
    ) -> Result<(Self, RewardReport), Invalid> {
        let world = rollouts
            .first()
            .map(|r| r.layout.size)
            .ok_or_else(|| Invalid("no rollouts to learn a reward from".into()))?;
        if pairs.is_empty() {
            return Err(Invalid("no labelled pairs to learn a reward from".into()));
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
        let telescoped = config.form == RewardForm::TrainedPotential;
        let feats: Vec<Vec<f32>> = rollouts
            .iter()
            .map(|r| return_rows(r, telescoped, pad_to))
            .collect();
        let train_device = device.clone().autodiff();
        let mut net = seeded_init(&train_device, seed, || {
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
                let batch: Vec<&Preference> = chunk.iter().map(|&i| &pairs[i]).collect();
                let loss = bt_loss(&net, &batch, &feats, obs, &train_device);
                total += f64::from(host(loss.clone())[0]) * chunk.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(config.learning_rate, net, grads);
            }
            last_loss = total / train.len().max(1) as f64;
        }
        let mut model = RewardModel {
            net: net.valid().host(),
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
}

/// Bradley-Terry loss with soft labels over summed rewards of each pair's two rollouts.
fn bt_loss(
    net: &RewardNet,
    batch: &[&Preference],
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
