//! `maze-rllf bench --profile`: where a config's PPO iterations spend their time, phase by phase
//! (the PPO loop's own timers and the host kernels'), beside the cores' measured peak for f32
//! matrix products, so that each product phase can say how far it runs from its limit.

use crate::config::TrainConfig;
use crate::rl::matmul::matmul;
use crate::rl::profile::{is_loop_phase, product_flops};
use crate::rl::{DeviceChoice, Trainer};
use ndarray::Array2;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// The f32 product rate the cores reach on a large square product (the kernels' best case).
#[derive(Serialize, Debug)]
pub struct Peak {
    pub times: String,
    pub one_core_gflops: f64,
    pub all_cores_gflops: f64,
    pub cores: usize,
}

/// One phase of an iteration.
#[derive(Serialize, Debug)]
pub struct PhaseRow {
    pub phase: String,
    /// Seconds per iteration: wall clock for the PPO loop's phases, summed over the threads for
    /// the host kernels' (which run on every core at once).
    pub seconds_per_iteration: f64,
    pub clock: &'static str,
    pub calls_per_iteration: f64,
    /// For matrix products: the rate on the thread that ran it, and that rate against one
    /// core's measured peak.
    pub gflops: Option<f64>,
    pub percent_of_core_peak: Option<f64>,
}

#[derive(Serialize, Debug)]
pub struct ProfileResult {
    pub config: String,
    /// The cargo profile of this binary (`release` or `dev`).
    pub build: &'static str,
    pub iterations: u64,
    pub seconds_per_iteration: f64,
    pub rollout_seconds_per_iteration: f64,
    pub update_seconds_per_iteration: f64,
    pub env_steps_per_second: f64,
    pub peak: Peak,
    /// Every matrix product of the iterations together: its rate per thread and against one
    /// core's peak.
    pub products_gflops: f64,
    pub products_percent_of_core_peak: f64,
    pub phases: Vec<PhaseRow>,
}

/// A 1024-cube product repeated for `budget` on one thread; returns GFLOP/s.
fn square_product_rate(budget: Duration) -> f64 {
    const SIDE: usize = 1024;
    let fill = |salt: usize| {
        Array2::from_shape_fn((SIDE, SIDE), |(i, j)| {
            ((i * 31 + j * 17 + salt) % 23) as f32
        })
    };
    let (a, b, mut c) = (fill(1), fill(2), Array2::zeros((SIDE, SIDE)));
    matmul(c.view_mut(), a.view(), b.view(), false);
    let started = Instant::now();
    let mut count = 0u32;
    while count == 0 || started.elapsed() < budget {
        matmul(c.view_mut(), a.view(), b.view(), false);
        count += 1;
    }
    std::hint::black_box(&c);
    f64::from(count) * product_flops(SIDE, SIDE, SIDE) / started.elapsed().as_secs_f64() / 1e9
}

/// The cores' f32 product peak as this build's kernels reach it: one thread, then every core
/// at once.
pub fn peak(budget: Duration) -> Peak {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one_core_gflops = square_product_rate(budget);
    let all_cores_gflops = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| scope.spawn(|| square_product_rate(budget)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    });
    Peak {
        times: "a 1024x1024 by 1024x1024 f32 product (the host kernels' `matmul`, one thread \
                each) repeated, on one core, then on every core at once"
            .into(),
        one_core_gflops,
        all_cores_gflops,
        cores,
    }
}

/// Runs `iterations` PPO iterations of the config at `path` after one warm-up iteration and
/// reports every phase's share.
pub fn profile(path: &str, iterations: u64, device: DeviceChoice) -> anyhow::Result<ProfileResult> {
    let mut config = TrainConfig::load(Path::new(path))?;
    let iterations = iterations.max(1);
    config.ppo.total_timesteps = (iterations + 1) * config.ppo.batch_size() as u64;
    let device = device.device()?;
    let mut trainer = Trainer::new(config, &device)?;
    trainer.iterate();
    trainer.clear_phase_times();
    let (mut rollout, mut update) = (0.0, 0.0);
    let started = Instant::now();
    for _ in 0..iterations {
        let m = trainer.iterate();
        rollout += m.rollout_seconds;
        update += m.update_seconds;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak(Duration::from_secs(2));
    let per = iterations as f64;
    let (mut product_flops_total, mut product_seconds) = (0.0, 0.0);
    let phases = trainer
        .phase_times()
        .phases()
        .iter()
        .map(|p| {
            let seconds = p.time.as_secs_f64();
            let gflops = (p.flops > 0.0).then(|| p.flops / seconds.max(1e-12) / 1e9);
            if p.flops > 0.0 {
                product_flops_total += p.flops;
                product_seconds += seconds;
            }
            let kernel = !is_loop_phase(p.name);
            PhaseRow {
                phase: p.name.into(),
                seconds_per_iteration: seconds / per,
                clock: if kernel {
                    "summed over threads"
                } else {
                    "wall clock"
                },
                calls_per_iteration: p.calls as f64 / per,
                percent_of_core_peak: gflops.map(|g| 100.0 * g / peak.one_core_gflops),
                gflops,
            }
        })
        .collect();
    let products_gflops = product_flops_total / product_seconds.max(1e-12) / 1e9;
    Ok(ProfileResult {
        config: path.into(),
        build: super::build_profile(),
        iterations,
        seconds_per_iteration: elapsed / per,
        rollout_seconds_per_iteration: rollout / per,
        update_seconds_per_iteration: update / per,
        env_steps_per_second: (iterations * trainer.config.ppo.batch_size() as u64) as f64
            / elapsed,
        products_percent_of_core_peak: 100.0 * products_gflops / peak.one_core_gflops,
        products_gflops,
        peak,
        phases,
    })
}
