//! Where a training iteration's time goes: wall-clock seconds (and, for matrix products, floating-
//! point operations) per named phase, accumulated by the host kernels and the PPO loop and read by
//! `maze-rllf bench --profile`. Timing a phase costs two clock reads.

use std::time::{Duration, Instant};

/// One phase's accumulated time, calls and floating-point operations (0 where not counted).
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    pub time: Duration,
    pub calls: u64,
    pub flops: f64,
}

/// Accumulated phases, in the order they were first seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    phases: Vec<Phase>,
}

impl PhaseTimes {
    /// Adds `time` (and `flops`) to phase `name`.
    pub fn add(&mut self, name: &'static str, time: Duration, flops: f64) {
        match self.phases.iter_mut().find(|p| p.name == name) {
            Some(phase) => {
                phase.time += time;
                phase.calls += 1;
                phase.flops += flops;
            }
            None => self.phases.push(Phase {
                name,
                time,
                calls: 1,
                flops,
            }),
        }
    }

    /// Adds every phase of `other` to this one.
    pub fn merge(&mut self, other: &PhaseTimes) {
        for phase in &other.phases {
            match self.phases.iter_mut().find(|p| p.name == phase.name) {
                Some(into) => {
                    into.time += phase.time;
                    into.calls += phase.calls;
                    into.flops += phase.flops;
                }
                None => self.phases.push(phase.clone()),
            }
        }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Forgets everything (a new measurement starts).
    pub fn clear(&mut self) {
        self.phases.clear();
    }
}

/// A stopwatch that charges the time since its last mark to a phase.
#[derive(Debug)]
pub struct Lap(Instant);

impl Lap {
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Charges the time since the last mark (or the start) to `name`, with `flops` operations.
    pub fn mark(&mut self, times: &mut PhaseTimes, name: &'static str, flops: f64) {
        let now = Instant::now();
        times.add(name, now - self.0, flops);
        self.0 = now;
    }
}

/// Whether phase `name` is one of the PPO loop's own (named `rollout: ...` or `update: ...`,
/// timed on the wall clock of the iteration's thread) rather than a host kernel's (timed on
/// each thread that runs it, so summed over the threads).
pub fn is_loop_phase(name: &str) -> bool {
    name.starts_with("rollout: ") || name.starts_with("update: ")
}

/// The floating-point operations of an `m x k` by `k x n` product.
pub fn product_flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_accumulate_in_first_seen_order_and_merge() {
        let mut a = PhaseTimes::default();
        a.add("x", Duration::from_millis(2), 10.0);
        a.add("y", Duration::from_millis(1), 0.0);
        a.add("x", Duration::from_millis(3), 5.0);
        let mut b = PhaseTimes::default();
        b.add("z", Duration::from_millis(4), 0.0);
        b.add("x", Duration::from_millis(1), 1.0);
        a.merge(&b);
        let names: Vec<_> = a.phases().iter().map(|p| p.name).collect();
        assert_eq!(names, ["x", "y", "z"]);
        let x = &a.phases()[0];
        assert_eq!(
            (x.time, x.calls, x.flops),
            (Duration::from_millis(6), 3, 16.0)
        );
        a.clear();
        assert!(a.phases().is_empty());
        assert!(is_loop_phase("update: GAE") && is_loop_phase("rollout: observations"));
        assert!(!is_loop_phase("conv unfold (im2col)"));
    }
}
