//! One minibatch's forward and backward pass split into shards run in parallel (burn's autodiff
//! or the host kernels), and batched rollout inference; every path gives the same losses and
//! gradients.

use super::host;
use crate::rl::grads::GradAdd;
use crate::rl::host_conv::{self, ConvWorkspace, HostConv};
use crate::rl::host_mlp::{self, HostGrids, HostWeights, Workspace};
use crate::rl::loss::{HostMinibatchData, LossCoefs, Minibatch, host_ppo_loss, ppo_loss};
use crate::rl::model::{ActorCritic, GridRows, HostNet};
use crate::sim::Action;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use rayon::prelude::*;

/// What rollout inference reads: the policy, and the rollout's grid form and the policy's host
/// weights when it runs on them.
pub(super) struct Inference<'a> {
    pub(super) policy: &'a ActorCritic,
    pub(super) grids: Option<&'a GridRows>,
    pub(super) weights: Option<&'a HostNet>,
    pub(super) device: &'a Device,
}

impl Inference<'_> {
    /// Logits (`[n * 4]`) and values of the `n` observations in `obs` (rows `first..first + n`
    /// of `grids` when set), computed in [`UPDATE_SHARDS`] parts in parallel.
    pub(super) fn run(
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

    /// The values of the `n` observations in `obs` that are not rows of the rollout (the states
    /// episodes were cut in, the state after the rollout): on the conv host kernels when the
    /// policy runs on them, otherwise through burn.
    pub(super) fn values_of(&self, obs: &[f32], len: usize, ws: &mut HostBuffers) -> Vec<f32> {
        if let Some(HostNet::Conv(net)) = self.weights {
            host_conv::forward(net, obs, &mut ws.conv);
            return ws.conv.values();
        }
        let x = TensorData::new(obs.to_vec(), [obs.len() / len.max(1), len]);
        host(
            self.policy
                .forward(Tensor::<2>::from_data(x, self.device))
                .1,
        )
    }
}

/// One shard's input to the host kernels: the MLP's weights and the shard in grid form, or the
/// conv net's weights and the shard's observations.
pub(super) enum HostPass<'a> {
    Mlp(&'a HostWeights, HostGrids),
    Conv(&'a HostConv, Vec<f32>),
}

/// One shard's buffers for the host kernels, kept between calls.
#[derive(Debug, Default)]
pub(super) struct HostBuffers {
    pub(super) mlp: Workspace,
    pub(super) conv: ConvWorkspace,
}

/// How many parts each minibatch's forward and backward pass is split into (run in parallel). A
/// constant, not the core count, so that results do not depend on the machine.
pub(super) const UPDATE_SHARDS: usize = 2;

/// The most samples the conv kernels take in one pass during an update (11x11 mazes: about a
/// megabyte of unfolded inputs, within a core's L2 cache).
pub(super) const CONV_CHUNK: usize = 32;

/// A minibatch on the host: buffer rows and their stored data; `weight` is its share of the whole
/// minibatch (its loss is scaled by it).
pub(super) struct HostMinibatch {
    pub(super) rows: Vec<usize>,
    pub(super) actions: Vec<i64>,
    pub(super) old_logprobs: Vec<f32>,
    pub(super) advantages: Vec<f32>,
    pub(super) returns: Vec<f32>,
    pub(super) old_values: Vec<f32>,
    pub(super) weight: f32,
}

impl HostMinibatch {
    /// `count` parts of (nearly) equal size, in order, each weighted by its share.
    pub(super) fn shards(self, count: usize) -> Vec<Self> {
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
    pub(super) fn tensors(self, device: &Device) -> Minibatch {
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
pub(super) struct ShardData<'a> {
    pub(super) grids: Option<&'a GridRows>,
    /// The network's weights on the host when it runs on the host kernels ([`host_mlp`]'s read
    /// `grids`, [`host_conv`]'s the observations).
    pub(super) weights: Option<&'a HostNet>,
    pub(super) obs: &'a [f32],
    pub(super) obs_len: usize,
    pub(super) device: &'a Device,
    pub(super) coefs: LossCoefs,
}

/// One shard's gradients: burn's, keyed by parameter, or the host kernels' (summed and clipped
/// on the host, then handed to burn once per minibatch).
pub(super) enum ShardGrads {
    Burn(GradientsParams),
    Host(Box<HostNet>),
}

impl ShardGrads {
    /// As burn's gradients of `model`, on `device` (the inner device).
    pub(super) fn into_params(self, model: &ActorCritic, device: &Device) -> GradientsParams {
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
    pub(super) fn add(self, other: ShardGrads, model: &ActorCritic, device: &Device) -> ShardGrads {
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
pub(super) struct ShardStats {
    pub(super) policy: f64,
    pub(super) value: f64,
    pub(super) entropy: f64,
    pub(super) logratio: Vec<f32>,
}

impl ShardStats {
    pub(super) fn absorb(&mut self, other: ShardStats) {
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
    pub(super) fn run(
        &self,
        model: &ActorCritic,
        mb: HostMinibatch,
        ws: &mut HostBuffers,
    ) -> (ShardGrads, ShardStats) {
        let host_pass = match (self.weights, self.grids) {
            (Some(HostNet::Mlp(w)), Some(grids)) => {
                Some(HostPass::Mlp(w, grids.host_batch(&mb.rows)))
            }
            (Some(HostNet::Conv(net)), _) => return self.run_conv_chunks(net, model, mb, ws),
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

    /// [`ShardData::run_host`] on the conv kernels in chunks of at most [`CONV_CHUNK`]
    /// samples, one after another, their gradients added: a chunk's unfolded inputs and
    /// activations stay in the core's cache, where a whole shard's would not.
    fn run_conv_chunks(
        &self,
        net: &HostConv,
        model: &ActorCritic,
        mb: HostMinibatch,
        ws: &mut HostBuffers,
    ) -> (ShardGrads, ShardStats) {
        if mb.rows.len() <= CONV_CHUNK {
            return self.run_host(HostPass::Conv(net, self.rows(&mb.rows)), mb, ws);
        }
        let mut total: Option<(ShardGrads, ShardStats)> = None;
        let count = mb.rows.len().div_ceil(CONV_CHUNK);
        for chunk in mb.shards(count) {
            let pass = HostPass::Conv(net, self.rows(&chunk.rows));
            let (grads, stats) = self.run_host(pass, chunk, ws);
            total = Some(match total {
                None => (grads, stats),
                Some((sum, mut all)) => {
                    all.absorb(stats);
                    (sum.add(grads, model, self.device), all)
                }
            });
        }
        total.expect("a minibatch of more than CONV_CHUNK samples has chunks")
    }

    /// The observations of buffer rows `rows`, one after another.
    pub(super) fn rows(&self, rows: &[usize]) -> Vec<f32> {
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
    pub(super) fn run_host(
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
    pub(super) fn loss_backward(
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
