//! `maze-rllf bench`: env steps/s (one thread and all cores; observations written as f32, the
//! form training and evaluation use, and as packed bits), maze generation rate, end-to-end PPO
//! training SPS on the jaxgmg-like MLP config and on the small conv config, the learned reward's
//! potentials over a rollout buffer ([`reward`]) — each entry saying what it times — and
//! `--soak`: resident memory over a long training run; `--profile` ([`profile`]): one config's
//! iteration phase by phase.

mod profile;
mod reward;

pub use profile::{ProfileResult, profile};

use crate::config::TrainConfig;
use crate::level::{DistributionSpec, LevelSource};
use crate::rl::{DeviceChoice, Trainer};
use crate::rng::{Rng, derive_seed, streams};
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
    /// What the figure times.
    times: String,
    steps_per_second: f64,
}

#[derive(Serialize, Debug)]
struct GenResult {
    world: usize,
    times: String,
    mazes_per_second: f64,
}

#[derive(Serialize, Debug)]
struct PpoResult {
    config: String,
    times: String,
    iterations: u64,
    env_steps_per_second: f64,
    rollout_fraction: f64,
    update_fraction: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    /// The cargo profile this binary was built with ([`build_profile`]).
    build: &'static str,
    cores: usize,
    env: Vec<EnvResult>,
    generation: Vec<GenResult>,
    ppo: Vec<PpoResult>,
    reward: Vec<reward::RewardResult>,
}

/// Which cargo profile built this binary: `release` (what `scripts/run.sh` gives users, and
/// what the README's figures are) or `dev` (debug assertions on, the crate at opt-level 2: about
/// half as fast).
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// A batch of 32 envs stepped with uniformly random actions for `budget`; returns steps/s.
fn env_steps_per_second(world: usize, packed: bool, seed: u64, budget: Duration) -> f64 {
    const BATCH: usize = 32;
    let source = LevelSource::Distribution {
        name: "bench".into(),
        spec: DistributionSpec::training(world, 1),
    };
    let mut venv = VecEnv::new(source, BATCH, seed, crate::sim::DEFAULT_MAX_STEPS);
    let mut rng = Rng::new(derive_seed(seed, streams::episodes::BENCH_ACTIONS));
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
fn ppo_bench(path: &str, quick: bool, device: DeviceChoice) -> anyhow::Result<PpoResult> {
    let mut config = TrainConfig::load(Path::new(path))?;
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
    let mut trainer = Trainer::new(config, &device)?;
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
    let p = &trainer.config.ppo;
    Ok(PpoResult {
        times: format!(
            "whole PPO iterations as `train` runs them (rollout of {} envs x {} steps with f32 \
             observations, GAE, {} epochs x {} minibatches of updates) after one warm-up iteration",
            p.num_envs, p.num_steps, p.update_epochs, p.num_minibatches
        ),
        config: path.into(),
        iterations,
        env_steps_per_second: steps as f64 / elapsed,
        rollout_fraction: rollout / elapsed,
        update_fraction: update / elapsed,
    })
}

/// Resident memory over a long training run.
#[derive(Serialize, Debug)]
pub struct SoakResult {
    pub config: String,
    /// Iterations before the first measurement (allocations, caches, the episode window fill).
    pub warmup_iterations: u64,
    /// (iteration, env steps, RSS in MiB), from the end of the warm-up on.
    pub samples: Vec<(u64, u64, f64)>,
    /// RSS growth from the end of the warm-up to the last sample, in percent.
    pub growth_percent: f64,
    /// The same per iteration, in KiB.
    pub growth_kib_per_iteration: f64,
}

/// Trains the config at `path` (constant learning rate, as a long run's middle is) for
/// `warmup + iterations` iterations and samples the process's RSS ten times after the warm-up.
pub fn soak(
    path: &str,
    warmup: u64,
    iterations: u64,
    device: DeviceChoice,
    progress: &dyn Fn(String),
) -> anyhow::Result<SoakResult> {
    let mut config = TrainConfig::load(Path::new(path))?;
    config.ppo.anneal_lr = false;
    config.ppo.total_timesteps = (warmup + iterations) * config.ppo.batch_size() as u64;
    let mut trainer = Trainer::new(config, &device.device()?)?;
    for _ in 0..warmup {
        trainer.iterate();
    }
    let sample = |t: &Trainer| {
        (
            t.state.iteration,
            t.state.global_step,
            crate::files::rss_mib(),
        )
    };
    let mut samples = vec![sample(&trainer)];
    let every = (iterations / 10).max(1);
    for i in 1..=iterations {
        trainer.iterate();
        if i % every == 0 || i == iterations {
            let s = sample(&trainer);
            progress(format!(
                "iteration {}, {} env steps: {:.1} MiB",
                s.0, s.1, s.2
            ));
            samples.push(s);
        }
    }
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    Ok(SoakResult {
        config: path.into(),
        warmup_iterations: warmup,
        growth_percent: 100.0 * (last.2 - first.2) / first.2.max(1e-9),
        growth_kib_per_iteration: 1024.0 * (last.2 - first.2) / (last.0 - first.0).max(1) as f64,
        samples,
    })
}

/// How fast a config's agent becomes competent on its own training distribution.
#[derive(Serialize, Debug)]
pub struct CompetenceResult {
    pub config: String,
    /// The cargo profile of this binary (`release` or `dev`).
    pub build: &'static str,
    /// The cheese rate (reached without visiting the corner first) to reach.
    pub target: f64,
    /// Per iteration: env steps, seconds of training, and the cheese and corner-first rates of the
    /// last 256 training episodes.
    pub curve: Vec<(u64, f64, f64, f64)>,
    /// Env steps and seconds when the training cheese rate first reached the target.
    pub reached: Option<(u64, f64)>,
    /// Where training stopped (the target reached, the time or the step budget spent).
    pub steps: u64,
    pub seconds: f64,
    /// The agent where it stopped on held-out mazes of its training distribution.
    pub held_out: crate::sim::OutcomeSummary,
    /// The most any policy reaches the cheese first on as many mazes of that distribution (the
    /// rest have the corner on every path to the cheese within the step limit).
    pub best_possible: crate::sim::Rate,
}

/// Trains the config at `path` until its training cheese rate (last 256 episodes) reaches
/// `target`, or `budget` or its step budget runs out, then evaluates it on `episodes` held-out
/// mazes of its training distribution (an evaluation seed stream, not the training one).
pub fn competence(
    path: &str,
    target: f64,
    budget: Duration,
    episodes: usize,
    device: DeviceChoice,
    progress: &dyn Fn(String),
) -> anyhow::Result<CompetenceResult> {
    let config = TrainConfig::load(Path::new(path))?;
    let mut trainer = Trainer::new(config, &device.device()?)?;
    let started = Instant::now();
    let (mut curve, mut reached) = (Vec::new(), None);
    while !trainer.finished() && started.elapsed() < budget {
        let m = trainer.iterate();
        let seconds = started.elapsed().as_secs_f64();
        curve.push((m.global_step, seconds, m.cheese_rate, m.corner_rate));
        if m.iteration % 10 == 0 {
            progress(format!(
                "{} env steps, {:.0} s: cheese {:.1}%, corner first {:.1}%",
                m.global_step,
                seconds,
                100.0 * m.cheese_rate,
                100.0 * m.corner_rate
            ));
        }
        if m.cheese_rate >= target && m.episodes >= 256 {
            reached = Some((m.global_step, seconds));
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let training = trainer.config.training_levels()?;
    let (held_out, _) = crate::rl::eval::evaluate(
        &trainer.policy(),
        &training,
        episodes,
        derive_seed(trainer.config.seed, streams::run::HELD_OUT),
        trainer.config.max_steps,
    );
    let best_possible = crate::rl::eval::best_possible_cheese_rate(
        &training,
        episodes,
        derive_seed(trainer.config.seed, streams::run::BEST_POSSIBLE),
        trainer.config.max_steps,
    );
    Ok(CompetenceResult {
        config: path.into(),
        build: build_profile(),
        target,
        curve,
        reached,
        steps: trainer.state.global_step,
        seconds,
        held_out,
        best_possible,
    })
}

/// Runs every benchmark and prints a table or JSON.
pub fn run(json: bool, quick: bool, device: DeviceChoice) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let budget = Duration::from_millis(if quick { 100 } else { 2_000 });
    let bar = indicatif::ProgressBar::new(11 + PPO_BENCH_CONFIGS.len() as u64);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut env = Vec::new();
    for world in [13, 25] {
        // f32 first: the observations training and evaluation write; packed bits are the env's
        // own form, which only this benchmark reads out.
        for (packed, observation) in [(false, "f32"), (true, "packed bool")] {
            bar.set_message(format!("env {world}x{world} {observation}"));
            let times = |threads: usize| {
                format!(
                    "{threads} thread(s) x 32 envs (Kruskal mazes 3..{world} in a {world}x{world} world) stepped with \
                     random actions, finished episodes reset with a new maze, then every env's \
                     observation written as {}",
                    if packed {
                        "packed bits (not used by training)"
                    } else {
                        "f32 (as training and evaluation do)"
                    }
                )
            };
            env.push(EnvResult {
                world,
                threads: 1,
                observation,
                times: times(1),
                steps_per_second: env_steps_per_second(world, packed, 0, budget),
            });
            bar.inc(1);
            env.push(EnvResult {
                world,
                threads: cores,
                observation,
                times: times(cores),
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
            times: format!(
                "one thread drawing Kruskal mazes of sizes 3..{world} with the cheese placed"
            ),
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
    bar.set_message("learned reward potentials");
    let reward = reward::reward_bench(budget);
    bar.inc(1);
    bar.finish_and_clear();
    let report = Report {
        build: build_profile(),
        cores,
        env,
        generation,
        ppo,
        reward,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{cores} cores, {} build", report.build);
        for e in &report.env {
            let note = if e.observation == "f32" {
                "(training's path)"
            } else {
                "(env only)"
            };
            println!(
                "env {0}x{0} {1:<12} {2} thread(s): {3:>8.2} M steps/s {note}",
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
        for r in &report.reward {
            println!(
                "learned reward g(s), {} (11x11 rollout buffer): {:>8.0} states/s",
                r.path, r.states_per_second
            );
        }
    }
    Ok(())
}
