//! PPO's loss pieces on tensors: clipped surrogate from log-probs, (optionally clipped) value
//! loss, entropy bonus, and the approx-KL / clip-fraction diagnostics (CleanRL's definitions).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Coefficients of the combined loss.
#[derive(Clone, Copy, Debug)]
pub struct LossCoefs {
    pub clip_coef: f32,
    pub clip_vloss: bool,
    pub ent_coef: f32,
    pub vf_coef: f32,
}

/// A minibatch's stored rollout data.
pub struct Minibatch {
    /// Actions taken, `[batch, 1]`.
    pub actions: Tensor<2, Int>,
    pub old_logprobs: Tensor<1>,
    pub advantages: Tensor<1>,
    pub returns: Tensor<1>,
    pub old_values: Tensor<1>,
}

/// The loss (differentiable) and its parts (for logging).
pub struct LossParts {
    pub total: Tensor<1>,
    pub policy: Tensor<1>,
    pub value: Tensor<1>,
    pub entropy: Tensor<1>,
    /// Log-ratio of new to old action probabilities, detached, `[batch]`.
    pub logratio: Tensor<1>,
}

/// Computes the PPO loss from the network's outputs on a minibatch.
pub fn ppo_loss(logits: Tensor<2>, values: Tensor<1>, mb: &Minibatch, c: LossCoefs) -> LossParts {
    let logp_all = log_softmax(logits, 1);
    let new_logprobs: Tensor<1> = logp_all
        .clone()
        .gather(1, mb.actions.clone())
        .squeeze_dim(1);
    let entropy = (logp_all.clone().exp() * logp_all)
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .neg()
        .mean();

    let logratio = new_logprobs - mb.old_logprobs.clone();
    let ratio = logratio.clone().exp();
    let adv = mb.advantages.clone();
    let pg1 = adv.clone().neg() * ratio.clone();
    let pg2 = adv.neg() * ratio.clamp(1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let policy = pg1.max_pair(pg2).mean();

    let unclipped = (values.clone() - mb.returns.clone()).square();
    let value = if c.clip_vloss {
        let clipped_values = mb.old_values.clone()
            + (values - mb.old_values.clone()).clamp(-c.clip_coef, c.clip_coef);
        let clipped = (clipped_values - mb.returns.clone()).square();
        unclipped.max_pair(clipped).mean().mul_scalar(0.5)
    } else {
        unclipped.mean().mul_scalar(0.5)
    };

    let total = policy.clone() - entropy.clone().mul_scalar(c.ent_coef)
        + value.clone().mul_scalar(c.vf_coef);
    LossParts {
        total,
        policy,
        value,
        entropy,
        logratio: logratio.detach(),
    }
}

/// (old_approx_kl, approx_kl, clipfrac) from host log-ratios (CleanRL's estimators).
pub fn kl_diagnostics(logratio: &[f32], clip_coef: f32) -> (f32, f32, f32) {
    let n = logratio.len().max(1) as f32;
    let old_kl = logratio.iter().map(|l| -l).sum::<f32>() / n;
    let kl = logratio.iter().map(|l| (l.exp() - 1.0) - l).sum::<f32>() / n;
    let clipfrac = logratio
        .iter()
        .filter(|l| (l.exp() - 1.0).abs() > clip_coef)
        .count() as f32
        / n;
    (old_kl, kl, clipfrac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::host;
    use burn::tensor::{Device, TensorData};

    fn t1(values: &[f32], device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
    }

    #[test]
    fn loss_pieces_match_hand_computed_values() {
        let device = Device::flex();
        // Two samples, two actions each (logits of the other two actions are -inf-ish: use 4
        // actions with equal logits so log-probs are simple: ln(1/4)).
        let logits = Tensor::<2>::from_data(TensorData::new(vec![0.0f32; 8], [2, 4]), &device);
        let ln_quarter = (0.25f32).ln();
        let mb = Minibatch {
            actions: Tensor::from_data(TensorData::new(vec![1i64, 3], [2, 1]), &device),
            // old log-probs: ratio = exp(ln 1/4 - old) -> 1.5 and 0.5
            old_logprobs: t1(
                &[ln_quarter - 1.5f32.ln(), ln_quarter - 0.5f32.ln()],
                &device,
            ),
            advantages: t1(&[1.0, -2.0], &device),
            returns: t1(&[1.0, 0.0], &device),
            old_values: t1(&[0.0, 0.5], &device),
        };
        let values = t1(&[0.5, 1.0], &device);
        let c = LossCoefs {
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
        };
        let parts = ppo_loss(logits, values, &mb, c);
        // Policy: sample 0: max(-1*1.5, -1*1.2) = -1.2; sample 1: max(2*0.5, 2*0.8) = 1.6
        // mean = 0.2
        let policy = host(parts.policy)[0];
        assert!((policy - 0.2).abs() < 1e-5, "policy {policy}");
        // Entropy of a uniform 4-way distribution: ln 4.
        let entropy = host(parts.entropy)[0];
        assert!((entropy - 4f32.ln()).abs() < 1e-5, "entropy {entropy}");
        // Value (clipped): s0: v=0.5, clipped v = 0 + clamp(0.5, ±0.2) = 0.2;
        // max((0.5-1)^2, (0.2-1)^2) = 0.64; s1: v=1, clipped = 0.5+0.2 = 0.7;
        // max(1, 0.49) = 1; 0.5 * mean(0.64, 1) = 0.41
        let value = host(parts.value)[0];
        assert!((value - 0.41).abs() < 1e-5, "value {value}");
        let total = host(parts.total)[0];
        assert!(
            (total - (0.2 - 0.01 * 4f32.ln() + 0.5 * 0.41)).abs() < 1e-5,
            "total {total}"
        );
        let (old_kl, kl, clipfrac) = kl_diagnostics(&host(parts.logratio), 0.2);
        let (l0, l1) = (1.5f32.ln(), 0.5f32.ln());
        assert!((old_kl - (-(l0 + l1) / 2.0)).abs() < 1e-5);
        assert!((kl - ((0.5 - l0) + (-0.5 - l1)) / 2.0).abs() < 1e-5);
        assert_eq!(clipfrac, 1.0);
    }

    #[test]
    fn unclipped_value_loss_is_half_mse() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![0.0f32; 4], [1, 4]), &device);
        let mb = Minibatch {
            actions: Tensor::from_data(TensorData::new(vec![0i64], [1, 1]), &device),
            old_logprobs: t1(&[0.25f32.ln()], &device),
            advantages: t1(&[0.0], &device),
            returns: t1(&[3.0], &device),
            old_values: t1(&[0.0], &device),
        };
        let c = LossCoefs {
            clip_coef: 0.2,
            clip_vloss: false,
            ent_coef: 0.0,
            vf_coef: 1.0,
        };
        let parts = ppo_loss(logits, t1(&[1.0], &device), &mb, c);
        assert!((host(parts.value)[0] - 2.0).abs() < 1e-6);
        assert!(host(parts.policy)[0].abs() < 1e-6);
    }
}
