//! Generalised advantage estimation over time-major `[steps, envs]` host buffers, keeping
//! termination (no bootstrap) and time-limit truncation (bootstrap from the cut state) distinct.

/// One rollout's per-step data, time-major: index `t * envs + e`.
pub struct GaeInput<'a> {
    pub envs: usize,
    pub rewards: &'a [f32],
    pub values: &'a [f32],
    pub terminated: &'a [bool],
    pub truncated: &'a [bool],
    /// V(state the episode was cut in), used where `truncated`.
    pub truncated_values: &'a [f32],
    /// V(observation after the last step), per env.
    pub next_values: &'a [f32],
    pub gamma: f32,
    pub lambda: f32,
}

/// Returns (advantages, returns = advantages + values).
pub fn gae(input: &GaeInput) -> (Vec<f32>, Vec<f32>) {
    let n = input.rewards.len();
    let envs = input.envs;
    let steps = n / envs;
    let mut advantages = vec![0.0; n];
    let mut last = vec![0.0f32; envs];
    for t in (0..steps).rev() {
        for (e, last) in last.iter_mut().enumerate() {
            let i = t * envs + e;
            let next_value = if input.terminated[i] {
                0.0
            } else if input.truncated[i] {
                input.truncated_values[i]
            } else if t + 1 == steps {
                input.next_values[e]
            } else {
                input.values[i + envs]
            };
            let delta = input.rewards[i] + input.gamma * next_value - input.values[i];
            let episode_goes_on = !(input.terminated[i] || input.truncated[i]);
            let carry = if episode_goes_on { *last } else { 0.0 };
            *last = delta + input.gamma * input.lambda * carry;
            advantages[i] = *last;
        }
    }
    let returns = advantages
        .iter()
        .zip(input.values)
        .map(|(a, v)| a + v)
        .collect();
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn matches_hand_computed_single_env() {
        // 3 steps, no episode end; gamma 0.9, lambda 0.8.
        let (adv, ret) = gae(&GaeInput {
            envs: 1,
            rewards: &[1.0, 0.0, 2.0],
            values: &[0.5, 1.0, 1.5],
            terminated: &[false; 3],
            truncated: &[false; 3],
            truncated_values: &[0.0; 3],
            next_values: &[2.0],
            gamma: 0.9,
            lambda: 0.8,
        });
        // deltas: d2 = 2 + 0.9*2 - 1.5 = 2.3; d1 = 0 + 0.9*1.5 - 1 = 0.35; d0 = 1 + 0.9*1 - 0.5 = 1.4
        // A2 = 2.3; A1 = 0.35 + 0.72*2.3 = 2.006; A0 = 1.4 + 0.72*2.006 = 2.84432
        close(&adv, &[2.84432, 2.006, 2.3]);
        close(&ret, &[3.34432, 3.006, 3.8]);
    }

    #[test]
    fn termination_cuts_the_bootstrap_and_truncation_uses_the_cut_state() {
        // env 0 terminates at t=0; env 1 is truncated at t=0 with V(cut state) = 4.
        let (adv, _) = gae(&GaeInput {
            envs: 2,
            rewards: &[10.0, 0.0, 0.0, 1.0],
            values: &[3.0, 2.0, 5.0, 6.0],
            terminated: &[true, false, false, false],
            truncated: &[false, true, false, false],
            truncated_values: &[0.0, 4.0, 0.0, 0.0],
            next_values: &[1.0, 1.0],
            gamma: 0.5,
            lambda: 0.5,
        });
        // t=1: e0: d = 0 + 0.5*1 - 5 = -4.5; e1: d = 1 + 0.5*1 - 6 = -4.5
        // t=0: e0: d = 10 + 0 - 3 = 7 (no carry); e1: d = 0 + 0.5*4 - 2 = 0 (no carry)
        close(&adv, &[7.0, 0.0, -4.5, -4.5]);
    }
}
