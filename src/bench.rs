//! `maze-rllf bench`: env steps/s (one thread and all cores, observations written), maze
//! generation rate, and end-to-end PPO training SPS on the jaxgmg-default config (MLP) and on the
//! IMPALA-style conv config.

use crate::config::TrainConfig;
use crate::level::{DistributionSpec, LevelSource};
use crate::rl::{DeviceChoice, Trainer};
use crate::rng::{Rng, derive_seed};
use crate::sim::{VecEnv, obs_words};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Config files of the PPO benchmarks: jaxgmg's PPO defaults (MLP policy), and the IMPALA-style
/// conv policy on the easy world.
pub const PPO_BENCH_CONFIGS: [&str; 2] = [
    "assets/configs/jaxgmg-ppo.ron",
    "assets/configs/impala-conv.ron",
];

#[derive(Serialize, Debug)]
struct EnvResult {
    world: usize,
    threads: usize,
    observation: &'static str,
    steps_per_second: f64,
}

#[derive(Serialize, Debug)]
struct GenResult {
    world: usize,
    mazes_per_second: f64,
}

#[derive(Serialize, Debug)]
struct PpoResult {
    config: String,
    iterations: u64,
    env_steps_per_second: f64,
    rollout_fraction: f64,
    update_fraction: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    cores: usize,
    env: Vec<EnvResult>,
    generation: Vec<GenResult>,
    ppo: Vec<PpoResult>,
}

/// A batch of 32 envs stepped with uniformly random actions for `budget`; returns steps/s.
fn env_steps_per_second(world: usize, packed: bool, seed: u64, budget: Duration) -> f64 {
    const BATCH: usize = 32;
    let source = LevelSource::Distribution {
        name: "bench".into(),
        spec: DistributionSpec::training(world, 1),
    };
    let mut venv = VecEnv::new(source, BATCH, seed, crate::sim::DEFAULT_MAX_STEPS);
    let mut rng = Rng::new(derive_seed(seed, 7));
    let mut actions = [0usize; BATCH];
    let mut bits = vec![0u64; BATCH * obs_words(world)];
    let mut floats = vec![0f32; BATCH * venv.obs_len()];
    let started = Instant::now();
    let mut steps = 0u64;
    while started.elapsed() < budget {
        for _ in 0..64 {
            let mut word = rng.next_u64();
            for a in actions.iter_mut() {
                *a = (word & 3) as usize;
                word >>= 2;
            }
            venv.step(&actions);
            if packed {
                venv.write_observation_bits(&mut bits);
            } else {
                venv.write_observations(&mut floats);
            }
        }
        steps += 64 * BATCH as u64;
    }
    std::hint::black_box((&bits, &floats));
    steps as f64 / started.elapsed().as_secs_f64()
}

fn env_parallel(world: usize, packed: bool, threads: usize, budget: Duration) -> f64 {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || env_steps_per_second(world, packed, t as u64, budget)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

fn generation_rate(world: usize, budget: Duration) -> f64 {
    let spec = DistributionSpec::training(world, 1);
    let mut rng = Rng::new(1);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget {
        for _ in 0..256 {
            std::hint::black_box(spec.sample(&mut rng));
        }
        count += 256;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// PPO iterations of the config at `path` after one warm-up iteration: 2 with `quick` (which also
/// shrinks the batch), otherwise up to 8 while under 20 s (at least 2): the MLP's iterations take
/// a fraction of a second, the conv net's seconds.
fn ppo_bench(path: &str, quick: bool, device: DeviceChoice) -> Result<PpoResult, String> {
    let mut config = TrainConfig::load(Path::new(path)).map_err(|e| e.to_string())?;
    if quick {
        config.ppo.num_envs = 32;
        config.ppo.num_steps = 32;
    }
    let (most, budget) = if quick {
        (2, Duration::ZERO)
    } else {
        (8, Duration::from_secs(20))
    };
    config.ppo.total_timesteps = (most + 1) * config.ppo.batch_size() as u64;
    let device = device.device()?;
    let mut trainer = Trainer::new(config, &device).map_err(|e| e.to_string())?;
    trainer.iterate(); // warm-up: allocations, kernel caches
    let (mut rollout, mut update) = (0.0, 0.0);
    let started = Instant::now();
    let mut iterations = 0;
    while iterations < most && (iterations < 2 || started.elapsed() < budget) {
        let m = trainer.iterate();
        rollout += m.rollout_seconds;
        update += m.update_seconds;
        iterations += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let steps = iterations * trainer.config.ppo.batch_size() as u64;
    Ok(PpoResult {
        config: path.into(),
        iterations,
        env_steps_per_second: steps as f64 / elapsed,
        rollout_fraction: rollout / elapsed,
        update_fraction: update / elapsed,
    })
}

/// Runs every benchmark and prints a table or JSON.
pub fn run(json: bool, quick: bool, device: DeviceChoice) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let budget = Duration::from_millis(if quick { 100 } else { 2_000 });
    let bar = indicatif::ProgressBar::new(10 + PPO_BENCH_CONFIGS.len() as u64);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut env = Vec::new();
    for world in [13, 25] {
        for (packed, observation) in [(true, "packed bool"), (false, "f32")] {
            bar.set_message(format!("env {world}x{world} {observation}"));
            env.push(EnvResult {
                world,
                threads: 1,
                observation,
                steps_per_second: env_steps_per_second(world, packed, 0, budget),
            });
            bar.inc(1);
            env.push(EnvResult {
                world,
                threads: cores,
                observation,
                steps_per_second: env_parallel(world, packed, cores, budget),
            });
            bar.inc(1);
        }
    }
    let mut generation = Vec::new();
    for world in [13, 25] {
        bar.set_message(format!("maze generation {world}x{world}"));
        generation.push(GenResult {
            world,
            mazes_per_second: generation_rate(world, budget),
        });
        bar.inc(1);
    }
    let mut ppo = Vec::new();
    for path in PPO_BENCH_CONFIGS {
        bar.set_message(format!("PPO end to end ({path})"));
        ppo.push(ppo_bench(path, quick, device)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = Report {
        cores,
        env,
        generation,
        ppo,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{cores} cores");
        for e in &report.env {
            println!(
                "env {0}x{0} {1:<12} {2} thread(s): {3:>8.2} M steps/s",
                e.world,
                e.observation,
                e.threads,
                e.steps_per_second / 1e6
            );
        }
        for g in &report.generation {
            println!(
                "maze generation {0}x{0}: {1:>10.0} mazes/s",
                g.world, g.mazes_per_second
            );
        }
        for p in &report.ppo {
            println!(
                "PPO ({}): {:.0} env steps/s (rollout {:.0}%, update {:.0}%)",
                p.config,
                p.env_steps_per_second,
                100.0 * p.rollout_fraction,
                100.0 * p.update_fraction
            );
        }
    }
    Ok(())
}
