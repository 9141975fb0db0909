//! Reinforcement learning: the actor-critic network, GAE, PPO losses and trainer, checkpoints,
//! evaluation, and the metric names every report uses.

pub mod checkpoint;
pub mod eval;
pub mod gae;
pub mod grads;
pub mod host_conv;
pub mod host_mlp;
pub mod loss;
pub mod matmul;
pub mod metrics;
pub mod model;
pub mod ppo;
pub mod profile;
pub mod shaping;

pub use checkpoint::CheckpointError;
pub use eval::{Policy, evaluate};
pub use metrics::{IterationMetrics, MetricsLog};
pub use model::ActorCritic;
pub use ppo::Trainer;

use burn::tensor::{Device, Tensor};

/// Which burn device runs the networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn's flex backend (pure-Rust CPU, multi-threaded).
    #[default]
    Cpu,
    /// burn's wgpu backend (needs the `gpu` cargo feature).
    Gpu,
}

impl DeviceChoice {
    /// The burn device, or an explanation of why it is unavailable.
    pub fn device(self) -> Result<Device, crate::errors::Invalid> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "gpu")]
            DeviceChoice::Gpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "gpu"))]
            DeviceChoice::Gpu => Err(crate::errors::Invalid(
                "this build has no GPU backend: rebuild with `cargo build --release --features gpu`"
                    .into(),
            )),
        }
    }
}

/// A tensor's values on the host.
pub(crate) fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Every parameter's gradient in `grads`, flattened, in `model`'s visiting order: what tests
/// compare between gradient paths.
#[cfg(test)]
pub(crate) fn gradient_values<M: burn::module::Module>(
    model: &M,
    grads: &burn::optim::GradientsParams,
) -> Vec<Vec<f32>> {
    struct Collect<'a> {
        grads: &'a burn::optim::GradientsParams,
        out: Vec<Vec<f32>>,
    }
    impl burn::module::ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let g = self
                .grads
                .get::<D>(param.id)
                .expect("every parameter has a gradient");
            self.out.push(host(g));
        }
    }
    let mut collect = Collect { grads, out: vec![] };
    model.visit(&mut collect);
    collect.out
}
