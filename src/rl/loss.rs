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

/// A minibatch's stored rollout data on the host, for [`host_ppo_loss`].
pub struct HostMinibatchData<'a> {
    pub actions: &'a [i64],
    pub old_logprobs: &'a [f32],
    pub advantages: &'a [f32],
    pub returns: &'a [f32],
    pub old_values: &'a [f32],
}

/// [`ppo_loss`]'s values and its gradient with respect to the network's outputs, from
/// [`host_ppo_loss`].
pub struct HostLoss {
    pub policy: f64,
    pub value: f64,
    pub entropy: f64,
    pub logratio: Vec<f32>,
    /// d(scale * total) / d logits, `[batch, actions]` row-major.
    pub grad_logits: Vec<f32>,
    /// d(scale * total) / d values, `[batch]`.
    pub grad_values: Vec<f32>,
}

/// [`ppo_loss`] on the host, with the gradient of `scale` times the total loss with respect to
/// the logits (`[batch, actions]` row-major) and values, derived by hand: the same maths, without
/// building an autodiff graph for a few thousand numbers. Tests compare it with [`ppo_loss`] and
/// burn's gradients.
pub fn host_ppo_loss(
    logits: &[f32],
    values: &[f32],
    mb: &HostMinibatchData<'_>,
    c: LossCoefs,
    scale: f32,
) -> HostLoss {
    let n = values.len();
    let actions = logits.len() / n.max(1);
    let per = scale / n.max(1) as f32;
    let (low, high) = (1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let mut out = HostLoss {
        policy: 0.0,
        value: 0.0,
        entropy: 0.0,
        logratio: Vec::with_capacity(n),
        grad_logits: vec![0.0; logits.len()],
        grad_values: vec![0.0; n],
    };
    let mut logp = vec![0.0f32; actions];
    for i in 0..n {
        let z = &logits[i * actions..(i + 1) * actions];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + z.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
        for (l, &v) in logp.iter_mut().zip(z) {
            *l = v - lse;
        }
        let entropy = -logp.iter().map(|&l| l.exp() * l).sum::<f32>();
        let action = usize::try_from(mb.actions[i]).unwrap_or(0).min(actions - 1);
        let logratio = logp[action] - mb.old_logprobs[i];
        let ratio = logratio.exp();
        let advantage = mb.advantages[i];
        let unclipped = -advantage * ratio;
        let clipped = -advantage * ratio.clamp(low, high);
        // d(policy loss)/d ratio for this sample: through the branch `max` picks.
        let d_ratio = if unclipped >= clipped || (low..=high).contains(&ratio) {
            -advantage
        } else {
            0.0
        };
        let grad = &mut out.grad_logits[i * actions..(i + 1) * actions];
        for (k, (g, &l)) in grad.iter_mut().zip(&logp).enumerate() {
            let p = l.exp();
            let onehot = if k == action { 1.0 } else { 0.0 };
            // policy: d ratio / d z_k = ratio (onehot - p_k); entropy bonus: -ent_coef * dH/dz_k
            // with dH/dz_k = -p_k (log p_k + H).
            *g = per * (d_ratio * ratio * (onehot - p) + c.ent_coef * p * (l + entropy));
        }
        let (v, target, old) = (values[i], mb.returns[i], mb.old_values[i]);
        let square = (v - target) * (v - target);
        let (value_loss, d_value) = if c.clip_vloss {
            let clipped_value = old + (v - old).clamp(-c.clip_coef, c.clip_coef);
            let clipped_square = (clipped_value - target) * (clipped_value - target);
            if square >= clipped_square {
                (square, v - target)
            } else {
                let inside = (-c.clip_coef..=c.clip_coef).contains(&(v - old));
                let d = if inside { clipped_value - target } else { 0.0 };
                (clipped_square, d)
            }
        } else {
            (square, v - target)
        };
        out.grad_values[i] = per * c.vf_coef * d_value;
        out.policy += f64::from(unclipped.max(clipped));
        out.value += f64::from(value_loss);
        out.entropy += f64::from(entropy);
        out.logratio.push(logratio);
    }
    let count = n.max(1) as f64;
    out.policy /= count;
    out.value *= 0.5 / count;
    out.entropy /= count;
    out
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

    #[test]
    fn host_loss_matches_burn_values_and_gradients() {
        let device = Device::flex().autodiff();
        let (n, actions) = (64, 4);
        let wave = |i: usize, f: f32, a: f32| a * (i as f32 * f).sin();
        let logits: Vec<f32> = (0..n * actions).map(|i| wave(i, 0.71, 2.0)).collect();
        let values: Vec<f32> = (0..n).map(|i| wave(i, 0.37, 1.5)).collect();
        let actions_taken: Vec<i64> = (0..n).map(|i| (i * 7 % actions) as i64).collect();
        // Old log-probs spread around the new ones so that ratios fall inside and outside the
        // clip range; old values near and far from the new ones.
        let old_logprobs: Vec<f32> = (0..n).map(|i| -1.4 + wave(i, 0.53, 0.6)).collect();
        let advantages: Vec<f32> = (0..n).map(|i| wave(i, 0.91, 1.0)).collect();
        let returns: Vec<f32> = (0..n).map(|i| wave(i, 0.13, 2.0)).collect();
        let old_values: Vec<f32> = (0..n).map(|i| values[i] + wave(i, 0.29, 0.5)).collect();
        for clip_vloss in [true, false] {
            let c = LossCoefs {
                clip_coef: 0.2,
                clip_vloss,
                ent_coef: 0.01,
                vf_coef: 0.5,
            };
            let scale = 0.75;
            let data = HostMinibatchData {
                actions: &actions_taken,
                old_logprobs: &old_logprobs,
                advantages: &advantages,
                returns: &returns,
                old_values: &old_values,
            };
            let ours = host_ppo_loss(&logits, &values, &data, c, scale);
            let l = Tensor::<2>::from_data(TensorData::new(logits.clone(), [n, actions]), &device)
                .require_grad();
            let v = t1(&values, &device).require_grad();
            let mb = Minibatch {
                actions: Tensor::from_data(TensorData::new(actions_taken.clone(), [n, 1]), &device),
                old_logprobs: t1(&old_logprobs, &device),
                advantages: t1(&advantages, &device),
                returns: t1(&returns, &device),
                old_values: t1(&old_values, &device),
            };
            let parts = ppo_loss(l.clone(), v.clone(), &mb, c);
            let close = |a: f32, b: f32| (a - b).abs() < 1e-5 * (1.0 + a.abs());
            let clipped = ours.logratio.iter().filter(|r| (r.exp() - 1.0).abs() > 0.2);
            assert!(clipped.count() > n / 8, "some ratios leave the clip range");
            for (name, a, b) in [
                ("policy", host(parts.policy)[0], ours.policy as f32),
                ("value", host(parts.value)[0], ours.value as f32),
                ("entropy", host(parts.entropy)[0], ours.entropy as f32),
            ] {
                assert!(close(a, b), "{name}: burn {a} vs host {b}");
            }
            for (a, b) in host(parts.logratio).iter().zip(&ours.logratio) {
                assert!(close(*a, *b), "log-ratio {a} vs {b}");
            }
            let grads = parts.total.mul_scalar(scale).backward();
            let burn_logits = host(l.grad(&grads).expect("logits gradient"));
            let burn_values = host(v.grad(&grads).expect("values gradient"));
            for (a, b) in burn_logits.iter().zip(&ours.grad_logits) {
                assert!(close(*a, *b), "d/dlogits: burn {a} vs host {b}");
            }
            for (a, b) in burn_values.iter().zip(&ours.grad_values) {
                assert!(close(*a, *b), "d/dvalues: burn {a} vs host {b}");
            }
        }
    }
}
