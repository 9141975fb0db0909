//! The actor-critic network: a shared torso (residual MLP or small IMPALA-style conv net) with a
//! policy head (4 logits) and a value head.

use crate::config::ModelConfig;
use crate::sim::{Action, CHANNELS};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Residual MLP torso: `h = relu(W0 x)`, then `h = h + relu(Wi h)` per block.
#[derive(Module, Debug)]
pub struct MlpTorso {
    input: Linear,
    blocks: Vec<Linear>,
}

/// Conv torso: per stage conv 3x3 (same padding) + relu + 2x2 max-pool; then a dense layer.
#[derive(Module, Debug)]
pub struct ConvTorso {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    dense: Linear,
    world_size: usize,
}

/// Builds a module with weights drawn from `seed`. burn's initialisers draw from a backend-wide
/// RNG and initialise lazily, so seeding, building and initialising happen under one
/// process-wide lock: concurrent builders get exactly the weights their seed names.
pub(crate) fn seeded_init<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let module = build();
    module.visit(&mut Initialise);
    module
}

/// Forces burn's lazy parameter initialisation (reading a parameter initialises it).
struct Initialise;

impl ModuleVisitor for Initialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Policy and value over observations `[batch, 3 * size * size]`.
#[derive(Module, Debug)]
pub struct ActorCritic {
    mlp: Option<MlpTorso>,
    conv: Option<ConvTorso>,
    policy: Linear,
    value: Linear,
}

/// A dense layer with orthogonal weights (gain `gain`) and zero bias, as CleanRL initialises.
fn dense(d_input: usize, d_output: usize, gain: f64, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output).init(device);
    layer.weight = Initializer::Orthogonal { gain }.init([d_input, d_output], device);
    layer.bias = Some(Initializer::Zeros.init([d_output], device));
    layer
}

impl ActorCritic {
    /// Builds the network for a `world_size x world_size` world with weights drawn from `seed`.
    pub fn new(config: &ModelConfig, world_size: usize, seed: u64, device: &Device) -> Self {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(seed);
        let model = Self::build(config, world_size, device);
        model.visit(&mut Initialise);
        model
    }

    fn build(config: &ModelConfig, world_size: usize, device: &Device) -> Self {
        let input = CHANNELS * world_size * world_size;
        let sqrt2 = std::f64::consts::SQRT_2;
        let (mlp, conv, width) = match config {
            ModelConfig::Mlp { width, blocks } => {
                let layer = |i: usize, o: usize| dense(i, o, sqrt2, device);
                let torso = MlpTorso {
                    input: layer(input, *width),
                    blocks: (0..*blocks).map(|_| layer(*width, *width)).collect(),
                };
                (Some(torso), None, *width)
            }
            ModelConfig::Conv { channels, hidden } => {
                let mut convs = Vec::new();
                let mut in_ch = CHANNELS;
                let mut side = world_size;
                for &out_ch in channels {
                    convs.push(
                        Conv2dConfig::new([in_ch, out_ch], [3, 3])
                            .with_padding(PaddingConfig2d::Same)
                            .init(device),
                    );
                    in_ch = out_ch;
                    side = (side / 2).max(1);
                }
                let torso = ConvTorso {
                    convs,
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                    dense: dense(in_ch * side * side, *hidden, sqrt2, device),
                    world_size,
                };
                (None, Some(torso), *hidden)
            }
        };
        Self {
            mlp,
            conv,
            policy: dense(width, Action::COUNT, 0.01, device),
            value: dense(width, 1, 1.0, device),
        }
    }

    fn torso(&self, obs: Tensor<2>) -> Tensor<2> {
        if let Some(mlp) = &self.mlp {
            let mut h = relu(mlp.input.forward(obs));
            for block in &mlp.blocks {
                h = h.clone() + relu(block.forward(h));
            }
            h
        } else if let Some(conv) = &self.conv {
            let [batch, _] = obs.dims();
            let side = conv.world_size;
            let mut x: Tensor<4> = obs.reshape([batch, CHANNELS, side, side]);
            for layer in &conv.convs {
                x = relu(layer.forward(x));
                let [_, _, h, w] = x.dims();
                if h >= 2 && w >= 2 {
                    x = conv.pool.forward(x);
                }
            }
            let [b, c, h, w] = x.dims();
            relu(conv.dense.forward(x.reshape([b, c * h * w])))
        } else {
            obs
        }
    }

    /// `obs [batch, obs_len]` -> (action logits `[batch, 4]`, values `[batch]`).
    pub fn forward(&self, obs: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let h = self.torso(obs);
        let logits = self.policy.forward(h.clone());
        let values = self.value.forward(h).squeeze_dim(1);
        (logits, values)
    }
}
