//! The conv actor-critic's forward and backward pass as host kernels, for the CPU: each 3x3
//! convolution is one matrix product ([`super::matmul`]) over the unfolded 3x3 neighbourhoods of
//! every cell (im2col, three copies per cell from a zero-bordered grid), activations live as
//! `[batch * height * width, channels]` matrices, 2x2 max-pooling with the bias and relu after it
//! is one pass, and buffers are reused from call to call. The same function as
//! [`super::model::ActorCritic::forward`] with a conv torso (burn's `conv2d` + `max_pool2d` +
//! `linear`); tests check outputs and gradients against burn's autodiff. Each workspace times its
//! phases ([`ConvWorkspace::times`], read by `maze-rllf bench --profile`).

use super::host_mlp::{Dense, Layers, dense_backward, dense_forward, relu, shape};
use super::matmul::matmul;
use super::profile::{Lap, PhaseTimes, product_flops};
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

/// Side of the convolution kernel.
const KERNEL: usize = 3;
/// Cells of the kernel's neighbourhood.
const TAPS: usize = KERNEL * KERNEL;

/// Phase names of [`ConvWorkspace::times`] (stages past the fourth share the last name).
const FORWARD_PRODUCT: [&str; 4] = [
    "conv 1 product (forward)",
    "conv 2 product (forward)",
    "conv 3 product (forward)",
    "conv 4+ product (forward)",
];
const WEIGHT_PRODUCT: [&str; 4] = [
    "conv 1 product (weight gradient)",
    "conv 2 product (weight gradient)",
    "conv 3 product (weight gradient)",
    "conv 4+ product (weight gradient)",
];
const INPUT_PRODUCT: [&str; 4] = [
    "conv 1 product (input gradient)",
    "conv 2 product (input gradient)",
    "conv 3 product (input gradient)",
    "conv 4+ product (input gradient)",
];
const UNFOLD: &str = "conv unfold (im2col)";
const POOL: &str = "conv max-pool + bias + relu";
const DENSE_FORWARD: &str = "dense + heads (forward)";
const DENSE_BACKWARD: &str = "dense + heads (backward)";
const POOL_GRADIENT: &str = "conv max-pool + relu gradient (and the bias's)";
const FOLD: &str = "conv fold (col2im)";

fn stage_phase(names: &[&'static str; 4], stage: usize) -> &'static str {
    names[stage.min(names.len() - 1)]
}

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
/// its products (before the bias), its pooled output (after bias and relu) and which cell of its
/// window each pooled value came from; then
/// the dense layer's output, the heads' outputs and the backward pass's scratch; and the time
/// each phase took.
#[derive(Debug, Default)]
pub struct ConvWorkspace {
    cols: Vec<Array2<f32>>,
    acts: Vec<Array2<f32>>,
    pooled: Vec<Array2<f32>>,
    argmax: Vec<Vec<u8>>,
    hidden: Array2<f32>,
    outputs: Array2<f32>,
    grad_outputs: Array2<f32>,
    grad_hidden: Array2<f32>,
    grad_pooled: Array2<f32>,
    grad_act: Array2<f32>,
    grad_cols: Array2<f32>,
    /// One sample's grid with a zero border, for unfolding and folding.
    padded: Vec<f32>,
    /// Time (and product flops) per phase of every pass since it was last cleared.
    pub times: PhaseTimes,
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
/// channels]`, zero outside the grid, taps in `(ky, kx, channel)` order). `pad(b, padded)` writes
/// sample `b`'s grid, channel-last, into the interior of `padded` (`(side + 2)^2` cells whose
/// border stays zero; see [`pad_cells`] and [`pad_planes`]). In the padded grid the three cells of
/// a kernel row are adjacent, so each row of `cols` is three copies.
pub(crate) fn unfold(
    n: usize,
    side: usize,
    channels: usize,
    cols: &mut Array2<f32>,
    padded: &mut Vec<f32>,
    pad: impl Fn(usize, &mut [f32]),
) {
    shape(cols, n * side * side, TAPS * channels);
    let wide = side + 2;
    padded.clear();
    padded.resize(wide * wide * channels, 0.0);
    let Some(all) = cols.as_slice_mut() else {
        return;
    };
    let (width, run) = (TAPS * channels, KERNEL * channels);
    for (b, rows) in all
        .chunks_exact_mut((side * side * width).max(1))
        .enumerate()
    {
        pad(b, padded);
        match run {
            9 => unfold_grid::<9>(padded, side, channels, rows),
            48 => unfold_grid::<48>(padded, side, channels, rows),
            96 => unfold_grid::<96>(padded, side, channels, rows),
            _ => unfold_grid::<0>(padded, side, channels, rows),
        }
    }
}

/// [`unfold`] of one padded grid into its `side * side` rows. `RUN` is the length of one run
/// (`3 * channels`) when it is one the shipped nets use (3, 16 or 32 channels: a fixed-size copy
/// the compiler writes out as a few vector moves), else 0 (a copy of the run's length).
fn unfold_grid<const RUN: usize>(padded: &[f32], side: usize, channels: usize, rows: &mut [f32]) {
    let (wide, run) = (side + 2, KERNEL * channels);
    let mut cells = rows.chunks_exact_mut(TAPS * channels);
    for y in 0..side {
        for x in 0..side {
            let Some(row) = cells.next() else {
                return;
            };
            for (ky, out) in row.chunks_exact_mut(run).enumerate() {
                let at = ((y + ky) * wide + x) * channels;
                let from = &padded[at..at + run];
                let fixed = (
                    <&mut [f32; RUN]>::try_from(&mut *out),
                    <&[f32; RUN]>::try_from(from),
                );
                if let (Ok(out), Ok(from)) = fixed {
                    *out = *from;
                } else {
                    out.copy_from_slice(from);
                }
            }
        }
    }
}

/// Writes one sample's channel-last grid (`side * side` cells of `channels`) into the interior
/// of `padded`.
pub(crate) fn pad_cells(sample: &[f32], side: usize, channels: usize, padded: &mut [f32]) {
    let (wide, run) = (side + 2, side * channels);
    for (y, from) in sample.chunks_exact(run.max(1)).enumerate() {
        let at = ((y + 1) * wide + 1) * channels;
        padded[at..at + run].copy_from_slice(from);
    }
}

/// Writes one plane-major observation (`planes` planes of `side * side` cells, as
/// [`crate::sim::obs::write_observation_at`] writes them) into the interior of `padded`,
/// channel-last.
pub(crate) fn pad_planes(sample: &[f32], side: usize, planes: usize, padded: &mut [f32]) {
    let (wide, cells) = (side + 2, side * side);
    for cell in 0..cells {
        let at = ((cell / side + 1) * wide + cell % side + 1) * planes;
        for (p, out) in padded[at..at + planes].iter_mut().enumerate() {
            *out = sample[p * cells + cell];
        }
    }
}

/// Adds every row of `grad_cols` (the gradient of [`unfold`]'s output) back into the cells it
/// was read from: `grad_input` is `[n * side * side, channels]`, overwritten. Each sample folds
/// into a zeroed padded grid (three runs per row, as [`unfold`] copies them) whose interior is
/// then copied out.
fn fold(
    n: usize,
    side: usize,
    channels: usize,
    grad_cols: &Array2<f32>,
    grad_input: &mut Array2<f32>,
    padded: &mut Vec<f32>,
) {
    shape(grad_input, n * side * side, channels);
    let (Some(cols), Some(into)) = (grad_cols.as_slice(), grad_input.as_slice_mut()) else {
        return;
    };
    let (wide, width, run) = (side + 2, TAPS * channels, KERNEL * channels);
    let per_sample = (side * side * width).max(1);
    let per_grid = (side * side * channels).max(1);
    for (rows, out) in cols
        .chunks_exact(per_sample)
        .zip(into.chunks_exact_mut(per_grid))
    {
        padded.clear();
        padded.resize(wide * wide * channels, 0.0);
        for (cell, row) in rows.chunks_exact(width).enumerate() {
            let (y, x) = (cell / side, cell % side);
            for (ky, grad) in row.chunks_exact(run).enumerate() {
                let at = ((y + ky) * wide + x) * channels;
                for (o, &g) in padded[at..at + run].iter_mut().zip(grad) {
                    *o += g;
                }
            }
        }
        for (y, to) in out.chunks_exact_mut((side * channels).max(1)).enumerate() {
            let at = ((y + 1) * wide + 1) * channels;
            to.copy_from_slice(&padded[at..at + side * channels]);
        }
    }
}

/// 2x2 max-pooling with stride 2 (an odd last row or column is dropped, as burn's valid pooling
/// does) of a stage's products `acts` (`[n * side * side, channels]`, before the bias) into
/// `pooled`, then the bias and relu on the pooled values: `relu(max(x) + b)` equals the maximum of
/// `relu(x + b)` over the window (both are monotone), on a quarter of the cells. `argmax` records
/// which of its window's four cells (row-major) each maximum came from. Below side 2 nothing is
/// pooled: bias and relu on every cell.
fn pool(
    n: usize,
    side: usize,
    acts: &Array2<f32>,
    bias: &Array1<f32>,
    pooled: &mut Array2<f32>,
    argmax: &mut Vec<u8>,
) {
    let channels = acts.ncols();
    if side < 2 {
        shape(pooled, acts.nrows(), channels);
        Zip::from(&mut *pooled)
            .and(acts)
            .and_broadcast(bias)
            .for_each(|p, &a, &b| *p = relu(a + b));
        argmax.clear();
        argmax.resize(acts.len(), 0);
        return;
    }
    let out = side / 2;
    shape(pooled, n * out * out, channels);
    argmax.resize(n * out * out * channels, 0);
    let (Some(input), Some(into), Some(bias)) =
        (acts.as_slice(), pooled.as_slice_mut(), bias.as_slice())
    else {
        return;
    };
    for (corner, at) in windows(n, side, channels) {
        let row = |offset: usize| &input[corner + offset..corner + offset + channels];
        let (a0, a1) = (row(0), row(channels));
        let (a2, a3) = (row(side * channels), row((side + 1) * channels));
        let values = &mut into[at..at + channels];
        let picks = &mut argmax[at..at + channels];
        for c in 0..channels {
            let (mut best, mut pick) = (a0[c], 0u8);
            for (candidate, index) in [(a1[c], 1u8), (a2[c], 2), (a3[c], 3)] {
                if candidate > best {
                    (best, pick) = (candidate, index);
                }
            }
            values[c] = relu(best + bias[c]);
            picks[c] = pick;
        }
    }
}

/// The 2x2 pooling windows of `n` samples of a `side x side` grid of `channels`: for each, in
/// order, where its top-left cell starts in the grid and where its pooled value starts.
fn windows(n: usize, side: usize, channels: usize) -> impl Iterator<Item = (usize, usize)> {
    let out = side / 2;
    (0..n)
        .flat_map(move |b| (0..out).flat_map(move |y| (0..out).map(move |x| (b, y, x))))
        .enumerate()
        .map(move |(window, (b, y, x))| {
            let corner = ((b * side + 2 * y) * side + 2 * x) * channels;
            (corner, window * channels)
        })
}

/// The gradient of [`pool`] (pooling, bias and relu) with respect to its input: each pooled
/// value's gradient goes to the cell its maximum came from when the value is positive (relu's
/// gradient), nothing anywhere else. `grad_act` is `[n * side * side, channels]`, overwritten.
/// Returns the bias's gradient: the sum of what went through (each pooled value's gradient lands
/// in one cell, so it is also the column sum of `grad_act`).
fn unpool(
    n: usize,
    side: usize,
    pooled: &Array2<f32>,
    argmax: &[u8],
    grad_pooled: &Array2<f32>,
    grad_act: &mut Array2<f32>,
) -> Array1<f32> {
    let channels = pooled.ncols();
    let mut bias = Array1::zeros(channels);
    shape(grad_act, n * side * side, channels);
    let (Some(values), Some(grads), Some(into), Some(sums)) = (
        pooled.as_slice(),
        grad_pooled.as_slice(),
        grad_act.as_slice_mut(),
        bias.as_slice_mut(),
    ) else {
        return bias;
    };
    let gate = |v: f32, g: f32| if v > 0.0 { g } else { 0.0 };
    if side < 2 {
        let width = channels.max(1);
        let rows = values.chunks_exact(width).zip(grads.chunks_exact(width));
        for (cells, (values, grads)) in into.chunks_exact_mut(width).zip(rows) {
            for ((o, s), (&v, &g)) in cells
                .iter_mut()
                .zip(sums.iter_mut())
                .zip(values.iter().zip(grads))
            {
                *o = gate(v, g);
                *s += *o;
            }
        }
        return bias;
    }
    into.fill(0.0);
    let offsets = [0, channels, side * channels, (side + 1) * channels];
    for (corner, at) in windows(n, side, channels) {
        let (values, grads) = (&values[at..at + channels], &grads[at..at + channels]);
        let picks = &argmax[at..at + channels];
        for (c, (s, (&v, &g))) in sums.iter_mut().zip(values.iter().zip(grads)).enumerate() {
            let g = gate(v, g);
            *s += g;
            into[corner + offsets[usize::from(picks[c] & 3)] + c] = g;
        }
    }
    bias
}

/// The forward pass on `n` observations (`obs`: `n` rows of `planes * side * side`, plane by
/// plane, as [`crate::sim::obs::write_observation_at`] writes them): per stage a 3x3 convolution,
/// relu and 2x2 max-pooling, then relu of the dense layer, then the heads. Results are read with
/// [`ConvWorkspace::logits`] and [`ConvWorkspace::values`].
pub fn forward(net: &HostConv, obs: &[f32], ws: &mut ConvWorkspace) {
    let mut lap = Lap::start();
    let (side, planes) = (net.side, net.planes);
    let len = planes * side * side;
    let n = obs.len() / len.max(1);
    let sides = net.sides();
    let depth = net.stages.len();
    ws.cols.resize_with(depth, Default::default);
    ws.acts.resize_with(depth, Default::default);
    ws.pooled.resize_with(depth, Default::default);
    ws.argmax.resize_with(depth, Default::default);
    for (k, stage) in net.stages.iter().enumerate() {
        let s = sides[k];
        if k == 0 {
            unfold(
                n,
                s,
                planes,
                &mut ws.cols[0],
                &mut ws.padded,
                |b, padded| {
                    pad_planes(&obs[b * len..(b + 1) * len], s, planes, padded);
                },
            );
        } else {
            let input = &ws.pooled[k - 1];
            let channels = input.ncols();
            let Some(flat) = input.as_slice() else {
                return;
            };
            let grid = s * s * channels;
            unfold(
                n,
                s,
                channels,
                &mut ws.cols[k],
                &mut ws.padded,
                |b, padded| {
                    pad_cells(&flat[b * grid..(b + 1) * grid], s, channels, padded);
                },
            );
        }
        lap.mark(&mut ws.times, UNFOLD, 0.0);
        let acts = &mut ws.acts[k];
        let (rows, inner, outputs) = (n * s * s, ws.cols[k].ncols(), stage.bias.len());
        shape(acts, rows, outputs);
        matmul(
            acts.view_mut(),
            ws.cols[k].view(),
            stage.weight.view(),
            false,
        );
        let flops = product_flops(rows, inner, outputs);
        lap.mark(&mut ws.times, stage_phase(&FORWARD_PRODUCT, k), flops);
        pool(
            n,
            s,
            &ws.acts[k],
            &stage.bias,
            &mut ws.pooled[k],
            &mut ws.argmax[k],
        );
        lap.mark(&mut ws.times, POOL, 0.0);
    }
    let features = flat_features(&ws.pooled[depth - 1], n);
    let width = features.ncols();
    dense_forward(&net.dense, features, &mut ws.hidden);
    ws.hidden.mapv_inplace(relu);
    dense_forward(&net.heads, ws.hidden.view(), &mut ws.outputs);
    let flops = product_flops(n, width, net.dense.bias.len())
        + product_flops(n, net.dense.bias.len(), net.heads.bias.len());
    lap.mark(&mut ws.times, DENSE_FORWARD, flops);
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
    let mut lap = Lap::start();
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
    let hidden_width = net.dense.bias.len();
    shape(&mut ws.grad_hidden, n, hidden_width);
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
    let (dense, width) = {
        let features = flat_features(last, n);
        let width = features.ncols();
        let grad_features = ws
            .grad_pooled
            .view_mut()
            .into_shape_with_order((n, width))
            .expect("a standard-layout buffer of n whole samples");
        let mut weight = Array2::zeros(net.dense.weight.raw_dim());
        matmul(
            weight.view_mut(),
            features.t(),
            ws.grad_hidden.view(),
            false,
        );
        matmul(
            grad_features,
            ws.grad_hidden.view(),
            net.dense.weight.t(),
            false,
        );
        let dense = Dense {
            weight,
            bias: ws.grad_hidden.sum_axis(Axis(0)),
        };
        (dense, width)
    };
    let flops =
        2.0 * product_flops(n, outputs, hidden_width) + 2.0 * product_flops(n, hidden_width, width);
    lap.mark(&mut ws.times, DENSE_BACKWARD, flops);
    let mut stages = Vec::with_capacity(depth);
    for (k, stage) in net.stages.iter().enumerate().rev() {
        let bias = unpool(
            n,
            sides[k],
            &ws.pooled[k],
            &ws.argmax[k],
            &ws.grad_pooled,
            &mut ws.grad_act,
        );
        lap.mark(&mut ws.times, POOL_GRADIENT, 0.0);
        let (rows, inner) = ws.cols[k].dim();
        let channels_out = stage.bias.len();
        let mut weight = Array2::zeros(stage.weight.raw_dim());
        matmul(weight.view_mut(), ws.cols[k].t(), ws.grad_act.view(), false);
        let flops = product_flops(inner, rows, channels_out);
        lap.mark(&mut ws.times, stage_phase(&WEIGHT_PRODUCT, k), flops);
        stages.push(Dense { weight, bias });
        if k > 0 {
            let s = sides[k];
            let channels = ws.pooled[k - 1].ncols();
            shape(&mut ws.grad_cols, n * s * s, TAPS * channels);
            matmul(
                ws.grad_cols.view_mut(),
                ws.grad_act.view(),
                stage.weight.t(),
                false,
            );
            let flops = product_flops(rows, channels_out, inner);
            lap.mark(&mut ws.times, stage_phase(&INPUT_PRODUCT, k), flops);
            fold(
                n,
                s,
                channels,
                &ws.grad_cols,
                &mut ws.grad_pooled,
                &mut ws.padded,
            );
            lap.mark(&mut ws.times, FOLD, 0.0);
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
        let (mut cols, mut padded) = (Array2::zeros((0, 0)), Vec::new());
        let grid = side * side * channels;
        unfold(n, side, channels, &mut cols, &mut padded, |b, padded| {
            pad_cells(&x[b * grid..(b + 1) * grid], side, channels, padded);
        });
        let y = Array2::from_shape_fn(cols.raw_dim(), |(i, j)| ((i * 3 + j * 5) % 13) as f32 - 6.0);
        let mut folded = Array2::zeros((0, 0));
        fold(n, side, channels, &y, &mut folded, &mut padded);
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
        pool(
            1,
            3,
            &acts,
            &Array1::from(vec![-1.0]),
            &mut pooled,
            &mut argmax,
        );
        assert_eq!(pooled.dim(), (1, 1));
        assert_eq!(pooled[[0, 0]], 4.0, "the maximum, 5, plus the bias");
        assert_eq!(argmax, vec![1]);
        // The gradient goes to the maximum only; a window cut to 0 by relu passes none.
        let mut grad = Array2::zeros((0, 0));
        unpool(
            1,
            3,
            &pooled,
            &argmax,
            &Array2::from_elem((1, 1), 2.0),
            &mut grad,
        );
        let expected = [0., 2., 0., 0., 0., 0., 0., 0., 0.];
        assert_eq!(grad.as_slice(), Some(&expected[..]));
        pool(
            1,
            3,
            &acts,
            &Array1::from(vec![-6.0]),
            &mut pooled,
            &mut argmax,
        );
        unpool(
            1,
            3,
            &pooled,
            &argmax,
            &Array2::from_elem((1, 1), 2.0),
            &mut grad,
        );
        assert!(grad.iter().all(|&g| g == 0.0));
    }
}
