//! The conv actor-critic's forward and backward pass as host kernels, for the CPU: each 3x3
//! convolution is one matrix product over the unfolded 3x3 neighbourhoods of every cell
//! (im2col), activations live as `[batch * height * width, channels]` matrices, relu and 2x2
//! max-pooling are single passes, and buffers are reused from call to call. The same function as
//! [`super::model::ActorCritic::forward`] with a conv torso (burn's `conv2d` + `max_pool2d` +
//! `linear`); tests check outputs and gradients against burn's autodiff.

use super::host_mlp::{Dense, Layers, dense_backward, dense_forward, relu, shape};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis, Zip};

/// Side of the convolution kernel.
const KERNEL: usize = 3;
/// Cells of the kernel's neighbourhood.
const TAPS: usize = KERNEL * KERNEL;

/// The conv network's parameters on the host. Stage `k`'s weight is `[taps * inputs, outputs]`
/// with rows in `(ky, kx, input channel)` order, so that a cell's unfolded neighbourhood is a run
/// of whole input rows; `dense` reads the last stage's output in `(y, x, channel)` order; `heads`
/// is the policy head and the value head side by side. There is at least one stage
/// ([`super::model::ActorCritic::host_net`] gives none for a torso without convolutions).
/// [`HostConvGrads`] has the same layout.
#[derive(Clone, Debug)]
pub struct HostConv {
    /// Side of the world grid the network reads.
    pub side: usize,
    /// Observation planes (walls, mouse, cheese).
    pub planes: usize,
    pub stages: Vec<Dense>,
    pub dense: Dense,
    pub heads: Dense,
}

/// Gradients of a loss with respect to [`HostConv`].
pub type HostConvGrads = HostConv;

impl Layers for HostConv {
    fn layers(&self) -> impl Iterator<Item = &Dense> {
        self.stages.iter().chain([&self.dense, &self.heads])
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut Dense> {
        self.stages
            .iter_mut()
            .chain([&mut self.dense, &mut self.heads])
    }
}

impl HostConv {
    /// The grid side at each stage's input, and after the last stage (a stage pools 2x2 when its
    /// input is at least 2 wide, as the burn model does).
    pub fn sides(&self) -> Vec<usize> {
        let mut sides = vec![self.side];
        for _ in &self.stages {
            let side = sides[sides.len() - 1];
            sides.push(if side >= 2 { side / 2 } else { side });
        }
        sides
    }
}

/// Buffers of one forward and backward pass, kept between calls: per stage its unfolded input,
/// its activations (after relu), its pooled output and where each pooled value came from; then
/// the dense layer's output, the heads' outputs and the backward pass's scratch.
#[derive(Debug, Default)]
pub struct ConvWorkspace {
    cols: Vec<Array2<f32>>,
    acts: Vec<Array2<f32>>,
    pooled: Vec<Array2<f32>>,
    argmax: Vec<Vec<u32>>,
    hidden: Array2<f32>,
    outputs: Array2<f32>,
    grad_outputs: Array2<f32>,
    grad_hidden: Array2<f32>,
    grad_pooled: Array2<f32>,
    grad_act: Array2<f32>,
    grad_cols: Array2<f32>,
}

impl ConvWorkspace {
    /// The last forward pass's action logits, row-major `[batch * actions]`.
    pub fn logits(&self) -> Vec<f32> {
        let actions = self.outputs.ncols().saturating_sub(1);
        self.outputs
            .rows()
            .into_iter()
            .flat_map(|row| row.iter().take(actions).copied().collect::<Vec<_>>())
            .collect()
    }

    /// The last forward pass's values, `[batch]`.
    pub fn values(&self) -> Vec<f32> {
        let actions = self.outputs.ncols().saturating_sub(1);
        self.outputs.column(actions).to_vec()
    }
}

/// Unfolds every cell's 3x3 neighbourhood into one row of `cols` (`[n * side * side, taps *
/// channels]`, zero outside the grid); `input(b, cell)` is sample `b`'s channel vector at `cell`
/// (row-major cell index), written into the slice it is given.
fn unfold(
    n: usize,
    side: usize,
    channels: usize,
    cols: &mut Array2<f32>,
    input: impl Fn(usize, usize, &mut [f32]),
) {
    shape(cols, n * side * side, TAPS * channels);
    let Some(all) = cols.as_slice_mut() else {
        return;
    };
    let width = TAPS * channels;
    for (row_index, row) in all.chunks_exact_mut(width).enumerate() {
        let (b, cell) = (row_index / (side * side), row_index % (side * side));
        for (tap, out) in row.chunks_exact_mut(channels).enumerate() {
            match tap_source(side, cell, tap) {
                Some(source) => input(b, source, out),
                None => out.fill(0.0),
            }
        }
    }
}

/// The cell that kernel tap `tap` (row-major in the 3x3 kernel) reads for output cell `cell` of
/// a `side x side` grid padded with zeros: `None` outside the grid.
fn tap_source(side: usize, cell: usize, tap: usize) -> Option<usize> {
    let y = (cell / side + tap / KERNEL).checked_sub(1)?;
    let x = (cell % side + tap % KERNEL).checked_sub(1)?;
    (y < side && x < side).then_some(y * side + x)
}

/// Adds every row of `grad_cols` (the gradient of [`unfold`]'s output) back into the cells it
/// was read from: `grad_input` is `[n * side * side, channels]`, overwritten.
fn fold(
    n: usize,
    side: usize,
    channels: usize,
    grad_cols: &Array2<f32>,
    grad_input: &mut Array2<f32>,
) {
    shape(grad_input, n * side * side, channels);
    grad_input.fill(0.0);
    let (Some(cols), Some(into)) = (grad_cols.as_slice(), grad_input.as_slice_mut()) else {
        return;
    };
    for (row_index, row) in cols.chunks_exact(TAPS * channels).enumerate() {
        let (b, cell) = (row_index / (side * side), row_index % (side * side));
        for (tap, grad) in row.chunks_exact(channels).enumerate() {
            if let Some(source) = tap_source(side, cell, tap) {
                let at = (b * side * side + source) * channels;
                for (o, &g) in into[at..at + channels].iter_mut().zip(grad) {
                    *o += g;
                }
            }
        }
    }
}

/// 2x2 max-pooling with stride 2 (an odd last row or column is dropped, as burn's valid pooling
/// does) of `acts` (`[n * side * side, channels]`) into `pooled`, recording in `argmax` the flat
/// index in `acts` of each maximum; below side 2 it copies.
fn pool(
    n: usize,
    side: usize,
    acts: &Array2<f32>,
    pooled: &mut Array2<f32>,
    argmax: &mut Vec<u32>,
) {
    let channels = acts.ncols();
    let (Some(input), out) = (acts.as_slice(), side / 2) else {
        return;
    };
    if side < 2 {
        shape(pooled, acts.nrows(), channels);
        pooled.assign(acts);
        argmax.clear();
        argmax.extend(0..acts.len() as u32);
        return;
    }
    shape(pooled, n * out * out, channels);
    argmax.resize(n * out * out * channels, 0);
    let Some(into) = pooled.as_slice_mut() else {
        return;
    };
    for b in 0..n {
        for y in 0..out {
            for x in 0..out {
                let at = ((b * out + y) * out + x) * channels;
                let corner = ((b * side + 2 * y) * side + 2 * x) * channels;
                let offsets = [0, channels, side * channels, (side + 1) * channels];
                for c in 0..channels {
                    let mut best = corner + c;
                    for offset in &offsets[1..] {
                        if input[corner + offset + c] > input[best] {
                            best = corner + offset + c;
                        }
                    }
                    into[at + c] = input[best];
                    argmax[at + c] = best as u32;
                }
            }
        }
    }
}

/// The forward pass on `n` observations (`obs`: `n` rows of `planes * side * side`, plane by
/// plane, as [`crate::sim::obs::write_observation_at`] writes them): per stage a 3x3 convolution,
/// relu and 2x2 max-pooling, then relu of the dense layer, then the heads. Results are read with
/// [`ConvWorkspace::logits`] and [`ConvWorkspace::values`].
pub fn forward(net: &HostConv, obs: &[f32], ws: &mut ConvWorkspace) {
    let (side, planes) = (net.side, net.planes);
    let cells = side * side;
    let n = obs.len() / (planes * cells).max(1);
    let sides = net.sides();
    let depth = net.stages.len();
    ws.cols.resize_with(depth, Default::default);
    ws.acts.resize_with(depth, Default::default);
    ws.pooled.resize_with(depth, Default::default);
    ws.argmax.resize_with(depth, Default::default);
    for (k, stage) in net.stages.iter().enumerate() {
        let s = sides[k];
        if k == 0 {
            unfold(n, s, planes, &mut ws.cols[0], |b, cell, out| {
                let row = &obs[b * planes * cells..];
                for (p, o) in out.iter_mut().enumerate() {
                    *o = row[p * cells + cell];
                }
            });
        } else {
            let input = &ws.pooled[k - 1];
            let channels = input.ncols();
            let Some(flat) = input.as_slice() else {
                return;
            };
            unfold(n, s, channels, &mut ws.cols[k], |b, cell, out| {
                let at = (b * s * s + cell) * channels;
                out.copy_from_slice(&flat[at..at + channels]);
            });
        }
        let acts = &mut ws.acts[k];
        shape(acts, n * s * s, stage.bias.len());
        general_mat_mul(1.0, &ws.cols[k], &stage.weight, 0.0, acts);
        Zip::from(&mut *acts)
            .and_broadcast(&stage.bias)
            .for_each(|a, &b| *a = relu(*a + b));
        pool(n, s, &ws.acts[k], &mut ws.pooled[k], &mut ws.argmax[k]);
    }
    let features = flat_features(&ws.pooled[depth - 1], n);
    dense_forward(&net.dense, features, &mut ws.hidden);
    ws.hidden.mapv_inplace(relu);
    dense_forward(&net.heads, ws.hidden.view(), &mut ws.outputs);
}

/// The last stage's pooled output, `[n * cells, channels]`, as one feature row per sample.
fn flat_features(pooled: &Array2<f32>, n: usize) -> ArrayView2<'_, f32> {
    let width = pooled.len() / n.max(1);
    pooled
        .view()
        .into_shape_with_order((n, width))
        .expect("a standard-layout buffer of n whole samples")
}

/// The backward pass after [`forward`] on the same `obs` and `ws`: the gradients of a loss with
/// respect to every weight, given its gradients `grad_logits` (`[batch, actions]`, row-major) and
/// `grad_values` (`[batch]`) with respect to the network's outputs.
pub fn backward(
    net: &HostConv,
    ws: &mut ConvWorkspace,
    grad_logits: &[f32],
    grad_values: &[f32],
) -> HostConvGrads {
    let n = ws.hidden.nrows();
    let depth = net.stages.len();
    let sides = net.sides();
    let outputs = net.heads.bias.len();
    let actions = outputs.saturating_sub(1);
    shape(&mut ws.grad_outputs, n, outputs);
    for ((mut row, logits), &value) in ws
        .grad_outputs
        .rows_mut()
        .into_iter()
        .zip(grad_logits.chunks_exact(actions.max(1)))
        .zip(grad_values)
    {
        for (out, &g) in row.iter_mut().zip(logits) {
            *out = g;
        }
        row[actions] = value;
    }
    shape(&mut ws.grad_hidden, n, net.dense.bias.len());
    let heads = dense_backward(
        &net.heads,
        ws.hidden.view(),
        ws.grad_outputs.view(),
        &mut ws.grad_hidden,
        false,
    );
    Zip::from(&mut ws.grad_hidden)
        .and(&ws.hidden)
        .for_each(|g, &h| *g = if h > 0.0 { *g } else { 0.0 });
    let last = &ws.pooled[depth - 1];
    shape(&mut ws.grad_pooled, last.nrows(), last.ncols());
    let dense = {
        let features = flat_features(last, n);
        let width = features.ncols();
        let mut grad_features = ws
            .grad_pooled
            .view_mut()
            .into_shape_with_order((n, width))
            .expect("a standard-layout buffer of n whole samples");
        let mut weight = Array2::zeros(net.dense.weight.raw_dim());
        general_mat_mul(1.0, &features.t(), &ws.grad_hidden, 0.0, &mut weight);
        general_mat_mul(
            1.0,
            &ws.grad_hidden,
            &net.dense.weight.t(),
            0.0,
            &mut grad_features,
        );
        Dense {
            weight,
            bias: ws.grad_hidden.sum_axis(Axis(0)),
        }
    };
    let mut stages = Vec::with_capacity(depth);
    for (k, stage) in net.stages.iter().enumerate().rev() {
        let acts = &ws.acts[k];
        shape(&mut ws.grad_act, acts.nrows(), acts.ncols());
        ws.grad_act.fill(0.0);
        if let (Some(into), Some(from), Some(values)) = (
            ws.grad_act.as_slice_mut(),
            ws.grad_pooled.as_slice(),
            acts.as_slice(),
        ) {
            for (&at, &g) in ws.argmax[k].iter().zip(from) {
                let at = at as usize;
                // relu's gradient: nothing flows back where the activation was cut to 0.
                if values[at] > 0.0 {
                    into[at] += g;
                }
            }
        }
        let mut weight = Array2::zeros(stage.weight.raw_dim());
        general_mat_mul(1.0, &ws.cols[k].t(), &ws.grad_act, 0.0, &mut weight);
        stages.push(Dense {
            weight,
            bias: ws.grad_act.sum_axis(Axis(0)),
        });
        if k > 0 {
            let s = sides[k];
            let channels = ws.pooled[k - 1].ncols();
            shape(&mut ws.grad_cols, n * s * s, TAPS * channels);
            general_mat_mul(1.0, &ws.grad_act, &stage.weight.t(), 0.0, &mut ws.grad_cols);
            fold(n, s, channels, &ws.grad_cols, &mut ws.grad_pooled);
        }
    }
    stages.reverse();
    HostConvGrads {
        side: net.side,
        planes: net.planes,
        stages,
        dense,
        heads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::rl::model::{ActorCritic, HostNet};
    use crate::rl::{gradient_values, host};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor, TensorData};

    fn assert_close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4 * (1.0 + x.abs()), "{what}: {x} vs {y}");
        }
    }

    /// The host kernels against burn's autodiff on the same conv network: outputs and every
    /// parameter's gradient of a loss that weights each output differently. An 11-wide world
    /// pools an odd side (11 -> 5 -> 2 -> 1) and its last stage, 1 wide, does not pool.
    #[test]
    fn host_kernels_match_burn_outputs_and_gradients() {
        for (world, channels) in [(7, vec![16, 32]), (11, vec![4, 6, 8, 5])] {
            let config = ModelConfig::Conv {
                channels,
                hidden: 24,
            };
            let device = Device::flex().autodiff();
            let model = ActorCritic::new(&config, world, 5, &device);
            let n = 9;
            let len = 3 * world * world;
            // Dense, non-binary inputs: every weight of every tap gets a gradient.
            let obs: Vec<f32> = (0..n * len)
                .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * if i % 3 == 0 { 0.0 } else { 1.0 })
                .collect();
            let x = Tensor::<2>::from_data(TensorData::new(obs.clone(), [n, len]), &device);
            let (logits, values) = model.forward(x);
            let weights_l: Vec<f32> = (0..n * 4)
                .map(|i| ((i * 13 % 7) as f32 - 3.0) / 3.0)
                .collect();
            let weights_v: Vec<f32> = (0..n).map(|i| (i as f32 - 3.0) / 4.0).collect();
            let inner = Device::flex();
            let wl = Tensor::<2>::from_data(TensorData::new(weights_l.clone(), [n, 4]), &device);
            let wv = Tensor::<1>::from_data(TensorData::new(weights_v.clone(), [n]), &device);
            let loss = (logits.clone() * wl).sum() + (values.clone() * wv).sum();
            let burn_grads = GradientsParams::from_grads(loss.backward(), &model);

            let Some(HostNet::Conv(net)) = model.host_net() else {
                panic!("a conv network has host weights");
            };
            let mut ws = ConvWorkspace::default();
            forward(&net, &obs, &mut ws);
            assert_close("logits", &host(logits), &ws.logits());
            assert_close("values", &host(values), &ws.values());
            let grads = backward(&net, &mut ws, &weights_l, &weights_v);
            let mut host_grads = GradientsParams::new();
            model.add_host_grads(&mut host_grads, HostNet::Conv(grads), &inner);
            let values_of = |grads: &GradientsParams| gradient_values(&model, grads);
            let (want, got) = (values_of(&burn_grads), values_of(&host_grads));
            assert_eq!(want.len(), got.len());
            for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                assert!(a.iter().any(|&g| g != 0.0), "parameter {i} has a gradient");
                assert_close(&format!("world {world}, parameter {i}"), a, b);
            }
        }
    }

    /// Unfolding then folding is the adjoint pair: <unfold(x), y> == <x, fold(y)>.
    #[test]
    fn fold_is_the_adjoint_of_unfold() {
        let (n, side, channels) = (2, 5, 3);
        let x: Vec<f32> = (0..n * side * side * channels)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let mut cols = Array2::zeros((0, 0));
        unfold(n, side, channels, &mut cols, |b, cell, out| {
            let at = (b * side * side + cell) * channels;
            out.copy_from_slice(&x[at..at + channels]);
        });
        let y = Array2::from_shape_fn(cols.raw_dim(), |(i, j)| ((i * 3 + j * 5) % 13) as f32 - 6.0);
        let mut folded = Array2::zeros((0, 0));
        fold(n, side, channels, &y, &mut folded);
        let left: f32 = (&cols * &y).sum();
        let right: f32 = folded.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((left - right).abs() < 1e-3, "{left} vs {right}");
        // The centre tap of a cell reads the cell itself; a corner's out-of-grid taps read 0.
        let centre = TAPS / 2 * channels;
        assert_eq!(cols[[0, centre]], x[0]);
        assert_eq!(cols[[0, 0]], 0.0);
    }

    #[test]
    fn pooling_keeps_each_window_maximum_and_drops_an_odd_edge() {
        // One sample, one channel, 3x3: windows cover rows/cols 0..2 only.
        let acts = Array2::from_shape_vec((9, 1), vec![1., 5., 9., 3., 2., 9., 9., 9., 9.])
            .expect("9 cells");
        let (mut pooled, mut argmax) = (Array2::zeros((0, 0)), Vec::new());
        pool(1, 3, &acts, &mut pooled, &mut argmax);
        assert_eq!(pooled.dim(), (1, 1));
        assert_eq!(pooled[[0, 0]], 5.0);
        assert_eq!(argmax, vec![1]);
    }
}
