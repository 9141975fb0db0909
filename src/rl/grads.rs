//! Gradient plumbing for burn modules: adding two gradient sets, the global L2 norm clip, and
//! sweeping autodiff state that no backward pass will collect.

use super::host;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// Frees what burn's autodiff keeps of tensors nobody will differentiate. It sweeps those graph
/// entries only when a backward pass runs; the host kernels compute gradients without one, so the
/// entries of every optimizer step and model fork would pile up (1.16 MB per iteration on the
/// jaxgmg MLP config, without bound). A backward pass through one scalar sweeps them.
pub(crate) fn sweep_autodiff_graph(device: &Device) {
    let one = Tensor::<1>::from_data(TensorData::new(vec![0.0f32], [1]), device).require_grad();
    drop(one.sum().backward());
}

/// Adds `from`'s gradients into `into`, parameter by parameter.
pub(crate) struct GradAdd<'a> {
    pub into: &'a mut GradientsParams,
    pub from: GradientsParams,
}

impl ModuleVisitor for GradAdd<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(more) = self.from.remove::<D>(param.id) {
            let sum = match self.into.remove::<D>(param.id) {
                Some(g) => g + more,
                None => more,
            };
            self.into.register(param.id, sum);
        }
    }
}

/// Sums the squares of every parameter's gradient.
struct GradNormSq<'a> {
    grads: &'a GradientsParams,
    total: f32,
}

impl ModuleVisitor for GradNormSq<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.total += host(g.square().sum())[0];
        }
    }
}

/// Multiplies every parameter's gradient by `scale`.
struct GradScale<'a> {
    grads: &'a mut GradientsParams,
    scale: f32,
}

impl ModuleVisitor for GradScale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.scale));
        }
    }
}

/// Clips the global L2 norm of all gradients to `max_norm`; returns the norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    let mut norm = GradNormSq { grads, total: 0.0 };
    model.visit(&mut norm);
    let total = norm.total.sqrt();
    if total > max_norm && total.is_finite() {
        let scale = max_norm / (total + 1e-6);
        model.visit(&mut GradScale { grads, scale });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::host;

    #[test]
    fn global_norm_clip_scales_all_gradients_together() {
        let device = Device::flex().autodiff();
        let w = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32, 1.0], [2]),
            &device,
        ));
        #[derive(Module, Debug)]
        struct Two {
            w: Param<Tensor<1>>,
        }
        let model = Two { w };
        let x = Tensor::<1>::from_data(TensorData::new(vec![3.0f32, 4.0], [2]), &device);
        let loss = (model.w.val() * x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let before = clip_global_norm(&model, &mut grads, 1.0);
        assert!((before - 5.0).abs() < 1e-5);
        let g = host(grads.get::<1>(model.w.id).expect("gradient"));
        assert!(
            (g[0] - 0.6).abs() < 1e-4 && (g[1] - 0.8).abs() < 1e-4,
            "{g:?}"
        );
    }
}
