//! The reward network's forward pass on the host, what PPO and the reports read R_hat through: the
//! same function as [`super::RewardNet`] (tests compare the two), each 3x3 convolution one matrix
//! product over unfolded neighbourhoods (the conv policy's im2col and `gemm` kernels), the
//! coordinate planes' share of the first convolution computed once per cell, and a state's stay
//! score g(s, s) read with the two copies' first-layer weights added into one. Batches are split
//! across the cores.

use crate::rl::host_conv::{pad_cells, pad_planes, unfold};
use crate::rl::host_mlp::{Dense, dense_forward, relu, shape};
use crate::rl::matmul::matmul;
use crate::sim::CHANNELS;
use ndarray::{Array2, Axis, Zip};
use rayon::prelude::*;

/// Side of the convolution kernel and its cells.
const KERNEL: usize = 3;
const TAPS: usize = KERNEL * KERNEL;

/// Observations one worker reads at a time (bounds each worker's unfolded buffer to a few MiB).
const CHUNK: usize = 64;

/// The reward network's parameters on the host, laid out for the forward pass. Convolution
/// weights are `[taps * inputs, outputs]` with rows in `(ky, kx, input channel)` order.
#[derive(Clone, Debug)]
pub struct HostRewardNet {
    side: usize,
    /// The first convolution over `[s, s']` (`2 * CHANNELS` planes), without its bias.
    pair: Array2<f32>,
    /// The first convolution over `s` for the input `[s, s]`: both copies' weights summed.
    stay: Array2<f32>,
    /// `[cells, outputs]`: the first convolution's bias plus what the coordinate planes add at
    /// each cell (the same for every input).
    base: Array2<f32>,
    /// The convolutions after the first, with their biases.
    later: Vec<Dense>,
    readout: Option<Dense>,
    out: Dense,
}

/// Buffers of one worker, kept from chunk to chunk.
#[derive(Default)]
struct Workspace {
    cols: Array2<f32>,
    acts: Array2<f32>,
    next: Array2<f32>,
    pooled: Array2<f32>,
    hidden: Array2<f32>,
    scores: Array2<f32>,
    padded: Vec<f32>,
}

impl HostRewardNet {
    /// From the network's weights: `first` is the first convolution's `[taps * inputs,
    /// outputs]` weight (inputs: `[s, s']`'s planes, then the row and column planes with
    /// `coordinates`) and `first_bias` its bias; `later`, `readout` and `out` as the network has
    /// them.
    pub fn new(
        side: usize,
        coordinates: bool,
        first: &Array2<f32>,
        first_bias: &[f32],
        later: Vec<Dense>,
        readout: Option<Dense>,
        out: Dense,
    ) -> Self {
        let inputs = first.nrows() / TAPS;
        let outputs = first.ncols();
        let row = |tap: usize, channel: usize| first.row(tap * inputs + channel);
        let pair = Array2::from_shape_fn((TAPS * 2 * CHANNELS, outputs), |(r, o)| {
            row(r / (2 * CHANNELS), r % (2 * CHANNELS))[o]
        });
        let stay = Array2::from_shape_fn((TAPS * CHANNELS, outputs), |(r, o)| {
            let (tap, channel) = (r / CHANNELS, r % CHANNELS);
            row(tap, channel)[o] + row(tap, CHANNELS + channel)[o]
        });
        let cells = side * side;
        let mut base = Array2::from_shape_fn((cells, outputs), |(_, o)| first_bias[o]);
        if coordinates {
            let scale = (side.max(2) - 1) as f32;
            for cell in 0..cells {
                let (y, x) = (cell / side, cell % side);
                for tap in 0..TAPS {
                    let (ny, nx) = (
                        (y + tap / KERNEL).checked_sub(1),
                        (x + tap % KERNEL).checked_sub(1),
                    );
                    let (Some(ny), Some(nx)) = (ny, nx) else {
                        continue;
                    };
                    if ny >= side || nx >= side {
                        continue;
                    }
                    let planes = [ny as f32 / scale, nx as f32 / scale];
                    for (p, value) in planes.into_iter().enumerate() {
                        let weights = row(tap, 2 * CHANNELS + p);
                        Zip::from(base.row_mut(cell))
                            .and(&weights)
                            .for_each(|b, &w| *b += w * value);
                    }
                }
            }
        }
        Self {
            side,
            pair,
            stay,
            base,
            later,
            readout,
            out,
        }
    }

    /// The network's score of each row `[s, s']` of `transitions` (`[n, 2 * obs_len]`).
    pub fn scores(&self, transitions: &[f32]) -> Vec<f32> {
        self.run(transitions, 2 * CHANNELS, &self.pair)
    }

    /// The network's score of staying in each state of `states` (`[n, obs_len]`): its score of
    /// `[s, s]`.
    pub fn stay_scores(&self, states: &[f32]) -> Vec<f32> {
        self.run(states, CHANNELS, &self.stay)
    }

    fn run(&self, inputs: &[f32], planes: usize, first: &Array2<f32>) -> Vec<f32> {
        let len = planes * self.side * self.side;
        if len == 0 || inputs.len() < len {
            return Vec::new();
        }
        let chunks: Vec<Vec<f32>> = inputs
            .par_chunks(CHUNK * len)
            .map_init(Workspace::default, |ws, chunk| {
                self.chunk_scores(chunk, planes, first, ws)
            })
            .collect();
        chunks.concat()
    }

    /// The scores of one chunk of whole inputs of `planes` planes each.
    fn chunk_scores(
        &self,
        chunk: &[f32],
        planes: usize,
        first: &Array2<f32>,
        ws: &mut Workspace,
    ) -> Vec<f32> {
        let side = self.side;
        let cells = side * side;
        let len = planes * cells;
        let n = chunk.len() / len;
        let Workspace {
            cols,
            acts,
            next,
            pooled,
            hidden,
            scores,
            padded,
        } = ws;
        unfold(n, side, planes, cols, padded, |b, padded| {
            pad_planes(&chunk[b * len..(b + 1) * len], side, planes, padded);
        });
        shape(acts, n * cells, first.ncols());
        matmul(acts.view_mut(), cols.view(), first.view(), false);
        for mut rows in acts.axis_chunks_iter_mut(Axis(0), cells) {
            Zip::from(&mut rows)
                .and(&self.base)
                .for_each(|a, &b| *a = relu(*a + b));
        }
        for layer in &self.later {
            let channels = acts.ncols();
            let Some(flat) = acts.as_slice() else {
                return Vec::new();
            };
            let grid = cells * channels;
            unfold(n, side, channels, cols, padded, |b, padded| {
                pad_cells(&flat[b * grid..(b + 1) * grid], side, channels, padded);
            });
            dense_forward(layer, cols.view(), next);
            next.mapv_inplace(relu);
            std::mem::swap(acts, next);
        }
        shape(pooled, n, acts.ncols());
        for (mut into, rows) in pooled
            .rows_mut()
            .into_iter()
            .zip(acts.axis_chunks_iter(Axis(0), cells))
        {
            into.assign(&rows.sum_axis(Axis(0)));
        }
        let features = match &self.readout {
            Some(readout) => {
                dense_forward(readout, pooled.view(), hidden);
                hidden.mapv_inplace(relu);
                hidden.view()
            }
            None => pooled.view(),
        };
        dense_forward(&self.out, features, scores);
        scores.column(0).to_vec()
    }
}
