//! `maze-rllf bench`'s learned-reward entries: how fast R_hat's potentials g(s) are read over one
//! rollout buffer of the 11-region study (32 envs x 128 steps of 11x11 mazes), through burn's
//! network (the form training differentiates) and through its host copy (what PPO reads).

use crate::level::{DistributionSpec, LevelSource};
use crate::reward::{RewardConfig, RewardNet};
use crate::rl::host;
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::VecEnv;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The world, envs and steps of the buffer (the 11-region study's).
const WORLD: usize = 11;
const ENVS: usize = 32;
const STEPS: usize = 128;

#[derive(Serialize, Debug)]
pub struct RewardResult {
    pub path: &'static str,
    pub times: String,
    pub states_per_second: f64,
}

/// A rollout buffer's observations: `ENVS` envs stepped `STEPS` times with random actions.
fn buffer() -> Vec<f32> {
    let source = LevelSource::Distribution {
        name: "bench".into(),
        spec: DistributionSpec::training(WORLD, 1),
    };
    let mut venv = VecEnv::new(source, ENVS, 0, crate::sim::DEFAULT_MAX_STEPS);
    let mut rng = Rng::new(derive_seed(0, streams::episodes::BENCH_ACTIONS));
    let len = venv.obs_len();
    let mut states = vec![0f32; STEPS * ENVS * len];
    for step in states.chunks_mut(ENVS * len) {
        venv.write_observations(step);
        let actions: Vec<usize> = (0..ENVS).map(|_| rng.below(4)).collect();
        venv.step(&actions);
    }
    states
}

/// States per second of `potentials` over the buffer, repeated for `budget` (at least twice).
fn rate(states: &[f32], budget: Duration, potentials: impl Fn(&[f32]) -> Vec<f32>) -> f64 {
    std::hint::black_box(potentials(states)); // warm-up: allocations, thread pools
    let started = Instant::now();
    let mut passes = 0u32;
    while passes < 2 || started.elapsed() < budget {
        std::hint::black_box(potentials(states));
        passes += 1;
    }
    f64::from(passes) * (STEPS * ENVS) as f64 / started.elapsed().as_secs_f64()
}

/// Both paths on the same buffer and the same (untrained, seeded) network of the default round's
/// shape.
pub fn reward_bench(budget: Duration) -> Vec<RewardResult> {
    let device = Device::flex();
    let config = RewardConfig::default();
    let net = crate::rl::model::seeded_init(&device, 0, || RewardNet::new(WORLD, &config, &device));
    let host_net = net.host();
    let states = buffer();
    let len = states.len() / (STEPS * ENVS);
    let times = |path: &str| {
        format!(
            "the default round's reward net (hidden {}, {} convolutions, coordinates, read-out {}) \
             scoring g(s) = R_hat(s, s) for a rollout buffer of {ENVS} envs x {STEPS} steps of \
             {WORLD}x{WORLD} mazes, {path}",
            config.hidden, config.layers, config.readout_hidden
        )
    };
    let burn = rate(&states, budget, |states| {
        let x = Tensor::<2>::from_data(
            TensorData::new(states.to_vec(), [states.len() / len, len]),
            &device,
        );
        host(net.stay_score(x))
    });
    let host = rate(&states, budget, |states| host_net.stay_scores(states));
    vec![
        RewardResult {
            path: "burn",
            times: times("through burn's network (the form training differentiates)"),
            states_per_second: burn,
        },
        RewardResult {
            path: "host",
            times: times("through its host copy (what PPO and the reports read)"),
            states_per_second: host,
        },
    ]
}
