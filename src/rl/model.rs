//! The actor-critic network: a shared torso (residual MLP or small IMPALA-style conv net) with a
//! policy head (4 logits) and a value head.

use crate::config::ModelConfig;
use crate::sim::{Action, CHANNELS};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;

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
    /// the order of floating-point sums) at a fraction of the first layer's cost. Falls back to
    /// nothing: call it only when [`ActorCritic::takes_grids`] holds.
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

/// Observations (`[rows, 3 * cells]` 0/1 floats, channels-first) taken apart for the MLP's first
/// layer: `W x = W_wall x_wall + W_mouse[mouse] + W_cheese[cheese]` because the mouse and cheese
/// planes are one-hot, and the wall plane is the same for every step of an episode, so it is
/// multiplied once per distinct maze instead of once per observation. Built once per rollout on
/// the host; [`GridRows::batch`] picks a minibatch.
pub struct GridRows {
    cells: usize,
    /// Distinct wall planes, `[mazes, cells]`.
    walls: Vec<f32>,
    /// Per observation: its row in `walls`, its mouse cell, its cheese cell.
    maze: Vec<u32>,
    mouse: Vec<u32>,
    cheese: Vec<u32>,
    /// Wall plane (as bits) -> its row in `walls`.
    seen: HashMap<Vec<u64>, u32>,
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
    /// No observations yet, for `cells`-cell grids; add them with [`GridRows::extend`].
    pub fn new(cells: usize) -> Self {
        GridRows {
            cells,
            walls: Vec::new(),
            maze: Vec::new(),
            mouse: Vec::new(),
            cheese: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// Splits `rows` (observations of `cells`-cell grids). `None` when a row is not of that form
    /// (a value other than 0 or 1, or not exactly one mouse and one cheese): use the dense path.
    pub fn from_rows(rows: &[f32], cells: usize) -> Option<Self> {
        let mut out = Self::new(cells);
        out.extend(rows).then_some(out)
    }

    /// Appends `rows`; `false` (and nothing appended) when one is not of the form
    /// [`GridRows::from_rows`] needs.
    pub fn extend(&mut self, rows: &[f32]) -> bool {
        let cells = self.cells;
        let len = CHANNELS * cells;
        if cells == 0 || !rows.len().is_multiple_of(len) || cells > u32::MAX as usize {
            return false;
        }
        let mut parts = Vec::with_capacity(rows.len() / len);
        let mut key = vec![0u64; cells.div_ceil(64)];
        for row in rows.chunks_exact(len) {
            key.fill(0);
            for (i, &v) in row[..cells].iter().enumerate() {
                if v == 1.0 {
                    key[i / 64] |= 1 << (i % 64);
                } else if v != 0.0 {
                    return false;
                }
            }
            let (Some(mouse), Some(cheese)) =
                (one_hot(&row[cells..2 * cells]), one_hot(&row[2 * cells..]))
            else {
                return false;
            };
            parts.push((key.clone(), row, mouse, cheese));
        }
        for (key, row, mouse, cheese) in parts {
            let maze = match self.seen.get(key.as_slice()) {
                Some(&maze) => maze,
                None => {
                    let maze = self.seen.len() as u32;
                    self.seen.insert(key, maze);
                    self.walls.extend_from_slice(&row[..cells]);
                    maze
                }
            };
            self.maze.push(maze);
            self.mouse.push(mouse);
            self.cheese.push(cheese);
        }
        true
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
        let mut local: HashMap<u32, i64> = HashMap::new();
        let mut walls = Vec::new();
        let maze: Vec<i64> = picks
            .iter()
            .map(|&i| {
                let global = self.maze[i];
                let next = local.len() as i64;
                *local.entry(global).or_insert_with(|| {
                    let at = global as usize * self.cells;
                    walls.extend_from_slice(&self.walls[at..at + self.cells]);
                    next
                })
            })
            .collect();
        let n = picks.len();
        let ints = |v: &[u32]| {
            let data: Vec<i64> = picks.iter().map(|&i| i64::from(v[i])).collect();
            Tensor::<1, Int>::from_data(TensorData::new(data, [n]), device)
        };
        GridBatch {
            cells: self.cells,
            walls: Tensor::from_data(TensorData::new(walls, [local.len(), self.cells]), device),
            maze: Tensor::from_data(TensorData::new(maze, [n]), device),
            mouse: ints(&self.mouse),
            cheese: ints(&self.cheese),
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

/// The index of the single 1.0 in a 0/1 plane, or `None`.
fn one_hot(plane: &[f32]) -> Option<u32> {
    let mut at = None;
    for (i, &v) in plane.iter().enumerate() {
        if v == 1.0 {
            if at.is_some() {
                return None;
            }
            at = Some(i as u32);
        } else if v != 0.0 {
            return None;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{DistributionSpec, Pos};
    use crate::rng::Rng;
    use crate::sim::obs::write_observation_at;
    use crate::sim::obs_len;

    /// Observations of random mazes and mouse cells (mazes repeat, as in a rollout).
    fn observations(world: usize, n: usize) -> Vec<f32> {
        let spec = DistributionSpec::training(world, 1);
        let mut rng = Rng::new(7);
        let len = obs_len(world);
        let mut out = vec![0.0; n * len];
        let mut layout = spec.sample(&mut rng);
        for row in out.chunks_mut(len) {
            if rng.below(4) == 0 {
                layout = spec.sample(&mut rng);
            }
            let free: Vec<usize> = (0..world * world).filter(|&i| !layout.walls[i]).collect();
            let at = free[rng.below(free.len())];
            write_observation_at(&layout, Pos::new(at / world, at % world), row);
        }
        out
    }

    #[test]
    fn grid_rows_give_the_dense_forward_and_gradients() {
        let world = 9;
        let (n, len) = (48, obs_len(world));
        let obs = observations(world, n);
        let rows = GridRows::from_rows(&obs, world * world).expect("one-hot mouse and cheese");
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
        let (dense_logits, dense_values) = model.forward(dense);
        let (grid_logits, grid_values) = model.forward_grids(rows.batch(&picks, &device));
        let close = |a: Tensor<2>, b: Tensor<2>| {
            let (a, b) = (super::super::host(a), super::super::host(b));
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        };
        close(dense_logits.clone(), grid_logits.clone());
        close(
            dense_values.clone().unsqueeze_dim(1),
            grid_values.clone().unsqueeze_dim(1),
        );
        let loss = |l: Tensor<2>, v: Tensor<1>| l.square().sum() + v.sum();
        let dense_grads = loss(dense_logits, dense_values).backward();
        let grid_grads = loss(grid_logits, grid_values).backward();
        let weight = model.mlp.as_ref().expect("mlp").input.weight.val();
        close(
            weight.grad(&dense_grads).expect("first-layer gradient"),
            weight.grad(&grid_grads).expect("first-layer gradient"),
        );
    }

    #[test]
    fn grid_rows_refuse_observations_that_are_not_one_hot() {
        let world = 5;
        let cells = world * world;
        let mut obs = observations(world, 3);
        assert!(GridRows::from_rows(&obs, cells).is_some());
        let second_mouse = obs[cells..2 * cells]
            .iter()
            .position(|&v| v == 0.0)
            .expect("a free cell");
        obs[cells + second_mouse] = 1.0;
        assert!(GridRows::from_rows(&obs, cells).is_none());
        let mut rows = GridRows::from_rows(&obs[3 * cells..], cells).expect("rows 2 and 3");
        assert!(!rows.extend(&obs[..3 * cells]), "a bad row is refused");
        assert_eq!(rows.len(), 2, "and nothing of it appended");
        obs[cells + second_mouse] = 0.5;
        assert!(GridRows::from_rows(&obs, cells).is_none());
        assert!(GridRows::from_rows(&obs[1..], cells).is_none(), "ragged");
    }
}
