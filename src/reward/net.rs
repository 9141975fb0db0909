//! The reward network: 3x3 convolutions over `[s_t, s_t+1]` (optionally with coordinate planes),
//! summed over the grid, then a read-out; in the trained-potential form a difference of one
//! state's scores.

use super::host::HostRewardNet;
use super::{RewardConfig, RewardForm};
use crate::rl::host;
use crate::rl::host_mlp::Dense;
use crate::rl::model::burn_conv_index;
use crate::sim::CHANNELS;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array1, Array2};

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

    /// A copy of the network for the host kernels ([`HostRewardNet`]), what inference reads.
    pub fn host(&self) -> HostRewardNet {
        let dense = |weight: Array2<f32>, bias: Option<&Param<Tensor<1>>>| {
            let outputs = weight.ncols();
            let bias = bias.map_or_else(|| vec![0.0; outputs], |b| host(b.val()));
            Dense {
                weight,
                bias: Array1::from(bias),
            }
        };
        let conv = |layer: &Conv2d| {
            let [outputs, inputs, kh, kw] = layer.weight.dims();
            let burn = host(layer.weight.val());
            let weight = Array2::from_shape_fn((kh * kw * inputs, outputs), |(row, o)| {
                burn[burn_conv_index(row, o, inputs, kh * kw)]
            });
            dense(weight, layer.bias.as_ref())
        };
        let linear = |layer: &Linear| {
            let [rows, cols] = layer.weight.dims();
            let weight = Array2::from_shape_vec((rows, cols), host(layer.weight.val()))
                .expect("a linear layer's weight holds rows x cols values");
            dense(weight, layer.bias.as_ref())
        };
        let mut convs = self.convs.iter().map(conv);
        let first = convs
            .next()
            .expect("a reward net has at least one convolution");
        HostRewardNet::new(
            self.world,
            self.coordinates,
            &first.weight,
            first.bias.as_slice().unwrap_or(&[]),
            convs.collect(),
            self.readout.as_ref().map(linear),
            linear(&self.out),
        )
    }
}
