//! The host kernels' matrix product: `c = a b` (or `c += a b`) on ndarray views through the
//! `gemm` crate, which picks its AVX-512, AVX2/FMA or scalar micro-kernels at run time (the
//! `matrixmultiply` crate behind `ndarray::linalg` stops at AVX2). One thread: the callers
//! already split their work across the cores.
#![allow(unsafe_code)]

use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = a b`, or `c += a b` with `accumulate`. Any strides (transposed views included).
///
/// # Panics
/// When the shapes do not chain (`a` is `m x k`, `b` `k x n`, `c` `m x n`): a programming error,
/// never a consequence of input data.
pub fn matmul(
    mut c: ArrayViewMut2<'_, f32>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    accumulate: bool,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul of {m}x{k} by {k2}x{n} into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: each pointer is its view's first element and each stride pair is the view's own,
    // so every (row, column) index gemm forms below (m x k, k x n, m x n, checked above) lies in
    // its view; `c` is borrowed mutably, so it aliases neither input. With `read_dst` false gemm
    // never reads `c` (it may hold anything); with it, `c` holds initialised floats.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use ndarray::linalg::general_mat_mul;

    fn filled(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17 + salt) % 23) as f32 / 23.0 - 0.5
        })
    }

    /// Against ndarray's product on the host kernels' shapes, with transposed operands, a
    /// transposed destination and accumulation.
    #[test]
    fn matches_ndarray_on_every_layout() {
        for (m, k, n) in [
            (121 * 3, 27, 16),
            (50, 144, 32),
            (27, 300, 16),
            (7, 1, 5),
            (3, 0, 4),
        ] {
            let a = filled(m, k, 1);
            let at = filled(k, m, 2).reversed_axes();
            let b = filled(k, n, 3);
            for (a, accumulate) in [(a.view(), false), (at.view(), true)] {
                let start = filled(m, n, 4);
                let mut want = start.clone();
                general_mat_mul(1.0, &a, &b, if accumulate { 1.0 } else { 0.0 }, &mut want);
                let mut got = start.clone();
                matmul(got.view_mut(), a, b.view(), accumulate);
                let mut got_t = start.t().to_owned();
                matmul(got_t.view_mut().reversed_axes(), a, b.view(), accumulate);
                for ((w, g), gt) in want.iter().zip(&got).zip(got_t.t()) {
                    assert!(
                        (w - g).abs() < 1e-4 && (w - gt).abs() < 1e-4,
                        "{w} {g} {gt}"
                    );
                }
            }
        }
    }
}
