//! The MLP actor-critic's forward and backward pass as host kernels, for the CPU: matrix
//! products by [`super::matmul`] (the `gemm` crate), every elementwise step fused into one pass
//! over buffers that are reused from call to call, and the first layer in grid form (see
//! [`super::model::GridRows`]). burn's autodiff computes the same function op by op, allocating,
//! zeroing and copying a fresh tensor for each; on `[2048, 128]` activations that costs as much as
//! the products themselves. The PPO loss's gradient with respect to the logits and values comes
//! from [`super::loss::host_ppo_loss`]; burn keeps the parameters and Adam. Tests check losses and
//! gradients against burn's autodiff.

use super::matmul::matmul;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Slice, Zip};

/// A dense layer's parameters as burn stores them: `weight` is `[inputs, outputs]`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
}

/// The network's parameters on the host. The first layer's weight is `[3 * cells, width]` (rows:
/// wall plane, mouse plane, cheese plane); blocks are `[width, width]`; `heads` is the policy
/// head (`[width, actions]`) and the value head (`[width, 1]`) side by side, one product for
/// both. [`HostGrads`] has the same layout.
#[derive(Clone, Debug)]
pub struct HostWeights {
    pub cells: usize,
    pub input: Dense,
    pub blocks: Vec<Dense>,
    pub heads: Dense,
}

/// A network's host weights (or gradients) as a list of dense layers, first to last: what adding
/// two shards' gradients and clipping their global norm need.
pub trait Layers {
    fn layers(&self) -> impl Iterator<Item = &Dense>;

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut Dense>;

    /// Adds `other` (of the same shapes) element by element: gradients of two shards.
    fn add(&mut self, other: &Self) {
        for (into, from) in self.layers_mut().zip(other.layers()) {
            into.weight += &from.weight;
            into.bias += &from.bias;
        }
    }

    /// Scales these gradients so that their global L2 norm is at most `max_norm`, as
    /// [`super::grads::clip_global_norm`] does for burn's; returns the norm before clipping.
    fn clip_global_norm(&mut self, max_norm: f32) -> f32 {
        let square = |a: f32| f64::from(a) * f64::from(a);
        let total = self
            .layers()
            .map(|l| {
                l.weight.iter().map(|&g| square(g)).sum::<f64>()
                    + l.bias.iter().map(|&g| square(g)).sum::<f64>()
            })
            .sum::<f64>()
            .sqrt() as f32;
        if total > max_norm && total.is_finite() {
            let scale = max_norm / (total + 1e-6);
            for layer in self.layers_mut() {
                layer.weight *= scale;
                layer.bias *= scale;
            }
        }
        total
    }
}

impl Layers for HostWeights {
    fn layers(&self) -> impl Iterator<Item = &Dense> {
        std::iter::once(&self.input)
            .chain(&self.blocks)
            .chain(std::iter::once(&self.heads))
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut Dense> {
        std::iter::once(&mut self.input)
            .chain(&mut self.blocks)
            .chain(std::iter::once(&mut self.heads))
    }
}

/// Gradients of a loss with respect to [`HostWeights`].
pub type HostGrads = HostWeights;

/// A batch of observations in grid form on the host: the wall planes of the mazes it uses
/// (`[mazes, cells]`, 0/1) and, per observation, its maze row, mouse cell and cheese cell.
#[derive(Clone, Debug)]
pub struct HostGrids {
    pub walls: Array2<f32>,
    pub maze: Vec<u32>,
    pub mouse: Vec<u32>,
    pub cheese: Vec<u32>,
}

/// Buffers of one forward and backward pass, kept between calls so that no pass allocates them
/// again: `hidden[0]` is the first layer's output, `hidden[j + 1] = hidden[j] + relus[j]` block
/// `j`'s; then the heads' outputs and the backward pass's scratch.
#[derive(Debug, Default)]
pub struct Workspace {
    embedded: Array2<f32>,
    hidden: Vec<Array2<f32>>,
    relus: Vec<Array2<f32>>,
    outputs: Array2<f32>,
    grad_outputs: Array2<f32>,
    grad: Array2<f32>,
    pre: Array2<f32>,
    grad_embedded: Array2<f32>,
}

impl Workspace {
    /// The last forward pass's action logits, `[batch, actions]`.
    pub fn logits(&self) -> ArrayView2<'_, f32> {
        let actions = self.outputs.ncols().saturating_sub(1);
        self.outputs.slice_axis(Axis(1), Slice::from(0..actions))
    }

    /// The last forward pass's values, `[batch]`.
    pub fn values(&self) -> ArrayView1<'_, f32> {
        let actions = self.outputs.ncols().saturating_sub(1);
        self.outputs.column(actions)
    }
}

/// Makes `buffer` a `rows x cols` matrix, reallocating only when its shape changes (contents are
/// then zero; otherwise they are whatever the last pass left).
pub(crate) fn shape(buffer: &mut Array2<f32>, rows: usize, cols: usize) {
    if buffer.dim() != (rows, cols) {
        *buffer = Array2::zeros((rows, cols));
    }
}

/// `max(x, 0)`, written as a select so that loops over it vectorise.
#[inline]
pub(crate) fn relu(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// `out = x W + b`.
pub(crate) fn dense_forward(layer: &Dense, x: ArrayView2<'_, f32>, out: &mut Array2<f32>) {
    shape(out, x.nrows(), layer.bias.len());
    matmul(out.view_mut(), x, layer.weight.view(), false);
    Zip::from(out)
        .and_broadcast(&layer.bias)
        .for_each(|o, &b| *o += b);
}

/// The forward pass: `h = relu(W0 x + b0)`, then `h = h + relu(Wi h + bi)` per block, then the
/// heads. Results are read with [`Workspace::logits`] and [`Workspace::values`].
pub fn forward(weights: &HostWeights, grids: &HostGrids, ws: &mut Workspace) {
    let (cells, width, n) = (weights.cells, weights.input.bias.len(), grids.maze.len());
    shape(&mut ws.embedded, grids.walls.nrows(), width);
    let wall_plane = weights
        .input
        .weight
        .slice_axis(Axis(0), Slice::from(0..cells));
    matmul(
        ws.embedded.view_mut(),
        grids.walls.view(),
        wall_plane,
        false,
    );
    let depth = weights.blocks.len();
    ws.hidden.resize_with(depth + 1, Default::default);
    ws.relus.resize_with(depth, Default::default);
    shape(&mut ws.hidden[0], n, width);
    for (i, row) in ws.hidden[0].rows_mut().into_iter().enumerate() {
        let maze = ws.embedded.row(grids.maze[i] as usize);
        let mouse = weights.input.weight.row(cells + grids.mouse[i] as usize);
        let cheese = weights
            .input
            .weight
            .row(2 * cells + grids.cheese[i] as usize);
        Zip::from(row)
            .and(maze)
            .and(mouse)
            .and(cheese)
            .and(&weights.input.bias)
            .for_each(|out, &w, &m, &c, &b| *out = relu(w + m + c + b));
    }
    for (j, block) in weights.blocks.iter().enumerate() {
        let (before, after) = ws.hidden.split_at_mut(j + 1);
        let (h, next, activated) = (&before[j], &mut after[0], &mut ws.relus[j]);
        shape(activated, n, width);
        shape(next, n, width);
        matmul(activated.view_mut(), h.view(), block.weight.view(), false);
        Zip::from(next)
            .and(activated)
            .and(h)
            .and_broadcast(&block.bias)
            .for_each(|next, r, &h, &b| {
                *r = relu(*r + b);
                *next = h + *r;
            });
    }
    dense_forward(&weights.heads, ws.hidden[depth].view(), &mut ws.outputs);
}

/// `grad += dy W^T`, and the layer's gradients from its input `x`: `x^T dy` and the column sums.
pub(super) fn dense_backward(
    layer: &Dense,
    x: ArrayView2<'_, f32>,
    dy: ArrayView2<'_, f32>,
    grad: &mut Array2<f32>,
    accumulate: bool,
) -> Dense {
    let mut weight = Array2::zeros(layer.weight.raw_dim());
    matmul(weight.view_mut(), x.t(), dy, false);
    matmul(grad.view_mut(), dy, layer.weight.t(), accumulate);
    Dense {
        weight,
        bias: dy.sum_axis(Axis(0)),
    }
}

/// The backward pass after [`forward`] on the same `grids` and `ws`: the gradients of a loss
/// with respect to every weight, given its gradients `grad_logits` (`[batch, actions]`,
/// row-major) and `grad_values` (`[batch]`) with respect to the network's outputs.
pub fn backward(
    weights: &HostWeights,
    grids: &HostGrids,
    ws: &mut Workspace,
    grad_logits: &[f32],
    grad_values: &[f32],
) -> HostGrads {
    let (cells, width, n) = (weights.cells, weights.input.bias.len(), grids.maze.len());
    let depth = weights.blocks.len();
    shape(&mut ws.grad, n, width);
    shape(&mut ws.pre, n, width);
    let outputs = weights.heads.bias.len();
    let actions = outputs.saturating_sub(1);
    shape(&mut ws.grad_outputs, n, outputs);
    let rows = ws.grad_outputs.rows_mut().into_iter();
    for ((mut row, logits), &value) in rows
        .zip(grad_logits.chunks_exact(actions.max(1)))
        .zip(grad_values)
    {
        for (out, &g) in row.iter_mut().zip(logits) {
            *out = g;
        }
        row[actions] = value;
    }
    let features = ws.hidden[depth].view();
    let heads = dense_backward(
        &weights.heads,
        features,
        ws.grad_outputs.view(),
        &mut ws.grad,
        false,
    );
    let mut blocks = Vec::with_capacity(depth);
    for (j, block) in weights.blocks.iter().enumerate().rev() {
        Zip::from(&mut ws.pre)
            .and(&ws.grad)
            .and(&ws.relus[j])
            .for_each(|d, &g, &r| *d = if r > 0.0 { g } else { 0.0 });
        let h = ws.hidden[j].view();
        blocks.push(dense_backward(block, h, ws.pre.view(), &mut ws.grad, true));
    }
    blocks.reverse();
    Zip::from(&mut ws.grad)
        .and(&ws.hidden[0])
        .for_each(|g, &h| *g = if h > 0.0 { *g } else { 0.0 });
    let mut input = Array2::zeros((3 * cells, width));
    shape(&mut ws.grad_embedded, grids.walls.nrows(), width);
    ws.grad_embedded.fill(0.0);
    for (i, row) in ws.grad.rows().into_iter().enumerate() {
        let add = |mut into: ArrayViewMut1<f32>| into += &row;
        add(ws.grad_embedded.row_mut(grids.maze[i] as usize));
        add(input.row_mut(cells + grids.mouse[i] as usize));
        add(input.row_mut(2 * cells + grids.cheese[i] as usize));
    }
    matmul(
        input.slice_axis_mut(Axis(0), Slice::from(0..cells)),
        grids.walls.t(),
        ws.grad_embedded.view(),
        false,
    );
    HostGrads {
        cells,
        input: Dense {
            weight: input,
            bias: ws.grad.sum_axis(Axis(0)),
        },
        blocks,
        heads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(weight: f32, bias: f32) -> Dense {
        Dense {
            weight: Array2::from_elem((1, 1), weight),
            bias: Array1::from_elem(1, bias),
        }
    }

    #[test]
    fn gradients_add_and_clip_by_their_global_norm() {
        let grads = |scale: f32| HostGrads {
            cells: 1,
            input: layer(1.0 * scale, 0.0),
            blocks: vec![layer(0.0, 2.0 * scale)],
            heads: layer(0.0, 0.5 * scale),
        };
        let mut sum = grads(1.0);
        sum.add(&grads(1.0));
        // (2, 4, 1): norm sqrt(21); clipped to norm 1, every entry scaled alike.
        let before = sum.clip_global_norm(1.0);
        assert!((before - 21f32.sqrt()).abs() < 1e-5, "{before}");
        let entries = [
            sum.input.weight[[0, 0]],
            sum.blocks[0].bias[0],
            sum.heads.bias[0],
        ];
        for (got, want) in entries.iter().zip([2.0, 4.0, 1.0]) {
            let want = want / 21f32.sqrt();
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        let mut small = grads(0.1);
        let norm = small.clip_global_norm(1.0);
        assert!(norm < 1.0);
        assert_eq!(
            small.input.weight[[0, 0]],
            0.1,
            "under the limit: untouched"
        );
    }
}
