//! The actor-critic network: a shared torso (residual MLP or small IMPALA-style conv net) with a
//! policy head (4 logits) and a value head.

use super::host;
use super::host_conv::HostConv;
use super::host_mlp::{Dense, HostGrids, HostWeights, Layers};
use crate::config::ModelConfig;
use crate::sim::{Action, CHANNELS};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ndarray::{Array1, Array2, Axis, Slice};

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
        seeded_init(device, seed, || Self::build(config, world_size, device))
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

    /// Whether [`ActorCritic::forward_grids`] applies (the MLP torso).
    pub fn takes_grids(&self) -> bool {
        self.mlp.is_some()
    }

    fn torso(&self, obs: Tensor<2>) -> Tensor<2> {
        if let Some(mlp) = &self.mlp {
            mlp.residual(relu(mlp.input.forward(obs)))
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
        self.heads(self.torso(obs))
    }

    /// [`ActorCritic::forward`] on observations in [`GridBatch`] form: the same function (up to
    /// the order of floating-point sums) at a fraction of the first layer's cost when
    /// [`ActorCritic::takes_grids`] holds; other torsos get the dense observations rebuilt.
    pub fn forward_grids(&self, grids: GridBatch) -> (Tensor<2>, Tensor<1>) {
        let Some(mlp) = &self.mlp else {
            return self.forward(grids.dense());
        };
        let weight = mlp.input.weight.val();
        let [_, width] = weight.dims();
        let cells = grids.cells;
        let plane = |c: usize| weight.clone().slice([c * cells..(c + 1) * cells, 0..width]);
        let mut h = grids.walls.matmul(plane(0)).select(0, grids.maze)
            + plane(1).select(0, grids.mouse)
            + plane(2).select(0, grids.cheese);
        if let Some(bias) = &mlp.input.bias {
            h = h + bias.val().unsqueeze_dim(0);
        }
        self.heads(mlp.residual(relu(h)))
    }

    fn heads(&self, h: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let logits = self.policy.forward(h.clone());
        let values = self.value.forward(h).squeeze_dim(1);
        (logits, values)
    }

    /// The network's weights on the host, for the host kernels ([`super::host_mlp`],
    /// [`super::host_conv`]); `None` for a conv torso without conv stages (and for layers without
    /// biases, which this crate never builds).
    pub fn host_net(&self) -> Option<HostNet> {
        let dense = |layer: &Linear| {
            let [rows, cols] = layer.weight.dims();
            Some(Dense {
                weight: Array2::from_shape_vec((rows, cols), host(layer.weight.val())).ok()?,
                bias: Array1::from(host(layer.bias.as_ref()?.val())),
            })
        };
        let (policy, value) = (dense(&self.policy)?, dense(&self.value)?);
        let heads = Dense {
            weight: ndarray::concatenate(Axis(1), &[policy.weight.view(), value.weight.view()])
                .ok()?,
            bias: ndarray::concatenate(Axis(0), &[policy.bias.view(), value.bias.view()]).ok()?,
        };
        if let Some(mlp) = &self.mlp {
            let input = dense(&mlp.input)?;
            return Some(HostNet::Mlp(HostWeights {
                cells: input.weight.nrows() / CHANNELS,
                input,
                blocks: mlp.blocks.iter().map(dense).collect::<Option<_>>()?,
                heads,
            }));
        }
        let conv = self.conv.as_ref()?;
        let stages = conv
            .convs
            .iter()
            .map(|layer| {
                let [outputs, inputs, kh, kw] = layer.weight.dims();
                let burn = host(layer.weight.val());
                let weight = Array2::from_shape_fn((kh * kw * inputs, outputs), |(row, o)| {
                    burn[burn_conv_index(row, o, inputs, kh * kw)]
                });
                Some(Dense {
                    weight,
                    bias: Array1::from(host(layer.bias.as_ref()?.val())),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let channels = stages.last()?.bias.len();
        let burn_dense = dense(&conv.dense)?;
        let cells = burn_dense.weight.nrows() / channels;
        let weight = Array2::from_shape_fn(burn_dense.weight.dim(), |(row, col)| {
            burn_dense.weight[[burn_dense_row(row, channels, cells), col]]
        });
        Some(HostNet::Conv(HostConv {
            side: conv.world_size,
            planes: CHANNELS,
            stages,
            dense: Dense {
                weight,
                bias: burn_dense.bias,
            },
            heads,
        }))
    }

    /// Registers gradients from the host kernels' backward passes in `into`, as tensors on
    /// `device` (where gradients live: the inner, non-autodiff device).
    pub fn add_host_grads(&self, into: &mut GradientsParams, grads: HostNet, device: &Device) {
        let register = |into: &mut GradientsParams, layer: &Linear, grad: Dense| {
            // `iter` reads in row-major order whatever the arrays' memory layout.
            let shape = [grad.weight.nrows(), grad.weight.ncols()];
            let weight = grad.weight.iter().copied().collect();
            into.register(
                layer.weight.id,
                Tensor::<2>::from_data(TensorData::new(weight, shape), device),
            );
            if let Some(bias) = &layer.bias {
                into.register(bias.id, bias_tensor(&grad, device));
            }
        };
        let heads = match (grads, &self.mlp, &self.conv) {
            (HostNet::Mlp(grads), Some(mlp), _) => {
                register(into, &mlp.input, grads.input);
                for (layer, grad) in mlp.blocks.iter().zip(grads.blocks) {
                    register(into, layer, grad);
                }
                grads.heads
            }
            (HostNet::Conv(grads), _, Some(conv)) => {
                for (layer, grad) in conv.convs.iter().zip(&grads.stages) {
                    let [outputs, inputs, kh, kw] = layer.weight.dims();
                    let mut burn = vec![0.0; outputs * inputs * kh * kw];
                    for ((row, o), &g) in grad.weight.indexed_iter() {
                        burn[burn_conv_index(row, o, inputs, kh * kw)] = g;
                    }
                    let shape = [outputs, inputs, kh, kw];
                    into.register(
                        layer.weight.id,
                        Tensor::<4>::from_data(TensorData::new(burn, shape), device),
                    );
                    if let Some(bias) = &layer.bias {
                        into.register(bias.id, bias_tensor(grad, device));
                    }
                }
                let channels = grads.stages.last().map_or(1, |s| s.bias.len()).max(1);
                let cells = grads.dense.weight.nrows() / channels;
                let mut weight = Array2::zeros(grads.dense.weight.raw_dim());
                for ((row, col), &g) in grads.dense.weight.indexed_iter() {
                    weight[[burn_dense_row(row, channels, cells), col]] = g;
                }
                let dense = Dense {
                    weight,
                    bias: grads.dense.bias,
                };
                register(into, &conv.dense, dense);
                grads.heads
            }
            _ => {
                debug_assert!(false, "host gradients of another kind of network");
                return;
            }
        };
        let actions = heads.bias.len().saturating_sub(1);
        let split = |d: &Dense, cols: Slice| Dense {
            weight: d.weight.slice_axis(Axis(1), cols).to_owned(),
            bias: d.bias.slice_axis(Axis(0), cols).to_owned(),
        };
        register(into, &self.policy, split(&heads, Slice::from(0..actions)));
        register(into, &self.value, split(&heads, Slice::from(actions..)));
    }
}

/// Where burn keeps (flat, `[outputs, inputs, kh, kw]`) the conv weight that the host kernels keep
/// at `[row, output]` (rows in `(tap, input)` order, `taps = kh * kw`).
pub(crate) fn burn_conv_index(row: usize, output: usize, inputs: usize, taps: usize) -> usize {
    let (tap, input) = (row / inputs, row % inputs);
    (output * inputs + input) * taps + tap
}

/// burn flattens the last conv stage's output channel-major (`c, y, x`) and the host kernels
/// cell-major (`y, x, c`): the burn row of the dense weight's host row `row`.
fn burn_dense_row(row: usize, channels: usize, cells: usize) -> usize {
    let (cell, c) = (row / channels, row % channels);
    c * cells + cell
}

/// A layer's bias gradient as a tensor on `device`.
fn bias_tensor(grad: &Dense, device: &Device) -> Tensor<1> {
    let values = grad.bias.to_vec();
    Tensor::<1>::from_data(TensorData::new(values, [grad.bias.len()]), device)
}

/// A network's weights on the host in the layout of its host kernels, or gradients with respect
/// to them (the same layout).
#[derive(Clone, Debug)]
pub enum HostNet {
    Mlp(HostWeights),
    Conv(HostConv),
}

impl HostNet {
    /// Adds `other` (gradients of the same network) element by element: two shards' gradients.
    pub fn add(&mut self, other: &HostNet) {
        match (self, other) {
            (HostNet::Mlp(a), HostNet::Mlp(b)) => a.add(b),
            (HostNet::Conv(a), HostNet::Conv(b)) => a.add(b),
            _ => debug_assert!(false, "gradients of two different networks"),
        }
    }

    /// Scales these gradients so that their global L2 norm is at most `max_norm`; returns the
    /// norm before clipping.
    pub fn clip_global_norm(&mut self, max_norm: f32) -> f32 {
        match self {
            HostNet::Mlp(w) => w.clip_global_norm(max_norm),
            HostNet::Conv(c) => c.clip_global_norm(max_norm),
        }
    }
}

impl MlpTorso {
    /// The residual layers after the input layer: `h = h + relu(Wi h)`.
    fn residual(&self, mut h: Tensor<2>) -> Tensor<2> {
        for block in &self.blocks {
            h = h.clone() + relu(block.forward(h));
        }
        h
    }
}

/// Observations taken apart for the MLP's first layer: `W x = W_wall x_wall + W_mouse[mouse] +
/// W_cheese[cheese]` because the mouse and cheese planes of an observation are one-hot, and the
/// wall plane is the same for every step of an episode, so it is multiplied once per maze instead
/// of once per observation. Built on the host as a rollout is collected; [`GridRows::batch`]
/// picks a minibatch.
pub struct GridRows {
    cells: usize,
    /// Wall planes as 0/1 floats, `[mazes, cells]`.
    walls: Vec<f32>,
    /// Per observation: its row in `walls`, its mouse cell, its cheese cell.
    maze: Vec<u32>,
    mouse: Vec<u32>,
    cheese: Vec<u32>,
}

/// One batch of [`GridRows`] as tensors, for [`ActorCritic::forward_grids`].
pub struct GridBatch {
    cells: usize,
    walls: Tensor<2>,
    maze: Tensor<1, Int>,
    mouse: Tensor<1, Int>,
    cheese: Tensor<1, Int>,
}

impl GridRows {
    /// No observations yet, for grids of `cells` cells.
    pub fn new(cells: usize) -> Self {
        GridRows {
            cells,
            walls: Vec::new(),
            maze: Vec::new(),
            mouse: Vec::new(),
            cheese: Vec::new(),
        }
    }

    /// Adds a maze's wall plane (row-major, `cells` long); returns its id for [`GridRows::push`].
    pub fn push_maze(&mut self, walls: &[bool]) -> u32 {
        debug_assert_eq!(walls.len(), self.cells);
        let id = (self.walls.len() / self.cells.max(1)) as u32;
        self.walls
            .extend(walls.iter().map(|&wall| f32::from(u8::from(wall))));
        id
    }

    /// Adds the observation of the mouse at cell `mouse` and the cheese at cell `cheese` in the
    /// maze `maze` (an id from [`GridRows::push_maze`]): the observation
    /// [`crate::sim::obs::write_observation_at`] writes for that state.
    pub fn push(&mut self, maze: u32, mouse: usize, cheese: usize) {
        debug_assert!(mouse < self.cells && cheese < self.cells);
        self.maze.push(maze);
        self.mouse.push(mouse as u32);
        self.cheese.push(cheese as u32);
    }

    /// Number of observations.
    pub fn len(&self) -> usize {
        self.maze.len()
    }

    /// Whether there are no observations.
    pub fn is_empty(&self) -> bool {
        self.maze.is_empty()
    }

    /// The observations at `picks`, as tensors on `device`, with only the mazes they use.
    pub fn batch(&self, picks: &[usize], device: &Device) -> GridBatch {
        let host = self.host_batch(picks);
        let n = picks.len();
        let ints = |v: Vec<u32>| {
            let data: Vec<i64> = v.into_iter().map(i64::from).collect();
            Tensor::<1, Int>::from_data(TensorData::new(data, [n]), device)
        };
        let shape = [host.walls.nrows(), self.cells];
        let (walls, _) = host.walls.into_raw_vec_and_offset();
        GridBatch {
            cells: self.cells,
            walls: Tensor::from_data(TensorData::new(walls, shape), device),
            maze: ints(host.maze),
            mouse: ints(host.mouse),
            cheese: ints(host.cheese),
        }
    }

    /// The observations at `picks` on the host, with only the mazes they use (renumbered in
    /// order of first use).
    pub fn host_batch(&self, picks: &[usize]) -> HostGrids {
        let mazes = self.walls.len() / self.cells.max(1);
        let mut local = vec![u32::MAX; mazes];
        let mut used = 0u32;
        let mut walls = Vec::new();
        let maze = picks
            .iter()
            .map(|&i| {
                let global = self.maze[i] as usize;
                if local[global] == u32::MAX {
                    local[global] = used;
                    used += 1;
                    walls.extend_from_slice(&self.walls[global * self.cells..][..self.cells]);
                }
                local[global]
            })
            .collect();
        let pick = |v: &[u32]| picks.iter().map(|&i| v[i]).collect();
        HostGrids {
            walls: Array2::from_shape_vec((used as usize, self.cells), walls)
                .expect("one wall plane of `cells` cells per maze used"),
            maze,
            mouse: pick(&self.mouse),
            cheese: pick(&self.cheese),
        }
    }
}

impl GridBatch {
    /// The dense `[batch, 3 * cells]` observations again.
    pub fn dense(self) -> Tensor<2> {
        let device = self.walls.device();
        let [n] = self.maze.dims();
        let cells = self.cells;
        let one_hot = |at: Tensor<1, Int>| {
            let eye: Tensor<2> = Tensor::eye(cells, &device);
            eye.select(0, at)
        };
        let walls = self.walls.select(0, self.maze);
        Tensor::cat(vec![walls, one_hot(self.mouse), one_hot(self.cheese)], 1)
            .reshape([n, 3 * cells])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{DistributionSpec, Pos};
    use crate::rng::Rng;
    use crate::sim::obs::write_observation_at;
    use crate::sim::obs_len;

    /// Random states of random mazes (each maze used for several states, as in a rollout), as
    /// dense observations and as [`GridRows`].
    fn observations(world: usize, n: usize) -> (Vec<f32>, GridRows) {
        let spec = DistributionSpec::training(world, 1);
        let mut rng = Rng::new(7);
        let len = obs_len(world);
        let mut dense = vec![0.0; n * len];
        let mut grids = GridRows::new(world * world);
        let mut layout = spec.sample(&mut rng);
        let mut maze = grids.push_maze(&layout.walls);
        for row in dense.chunks_mut(len) {
            if rng.below(4) == 0 {
                layout = spec.sample(&mut rng);
                maze = grids.push_maze(&layout.walls);
            }
            let free: Vec<usize> = (0..world * world).filter(|&i| !layout.walls[i]).collect();
            let at = free[rng.below(free.len())];
            write_observation_at(&layout, Pos::new(at / world, at % world), row);
            grids.push(maze, at, layout.index(layout.cheese));
        }
        (dense, grids)
    }

    fn assert_close(a: Tensor<2>, b: Tensor<2>) {
        let (a, b) = (super::super::host(a), super::super::host(b));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    #[test]
    fn grid_rows_give_the_dense_observations_forward_and_gradients() {
        let world = 9;
        let (n, len) = (48, obs_len(world));
        let (obs, rows) = observations(world, n);
        assert!(rows.walls.len() / (world * world) < n, "mazes repeat");
        let device = Device::flex().autodiff();
        let config = ModelConfig::Mlp {
            width: 16,
            blocks: 2,
        };
        let model = ActorCritic::new(&config, world, 3, &device);
        let picks: Vec<usize> = (0..n).rev().step_by(2).collect();
        let dense_rows: Vec<f32> = picks
            .iter()
            .flat_map(|&i| obs[i * len..(i + 1) * len].to_vec())
            .collect();
        let dense =
            Tensor::<2>::from_data(TensorData::new(dense_rows, [picks.len(), len]), &device);
        assert_close(dense.clone(), rows.batch(&picks, &device).dense());
        let (dense_logits, dense_values) = model.forward(dense);
        let (grid_logits, grid_values) = model.forward_grids(rows.batch(&picks, &device));
        assert_close(dense_logits.clone(), grid_logits.clone());
        assert_close(
            dense_values.clone().unsqueeze_dim(1),
            grid_values.clone().unsqueeze_dim(1),
        );
        let loss = |l: Tensor<2>, v: Tensor<1>| l.square().sum() + v.sum();
        let dense_grads = loss(dense_logits, dense_values).backward();
        let grid_grads = loss(grid_logits, grid_values).backward();
        let weight = model.mlp.as_ref().expect("mlp").input.weight.val();
        assert_close(
            weight.grad(&dense_grads).expect("first-layer gradient"),
            weight.grad(&grid_grads).expect("first-layer gradient"),
        );
    }
}
