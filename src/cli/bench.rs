//! `bench`: the speed benchmarks, the memory soak, and steps to competence.

use crate::rl::DeviceChoice;
use clap::Args;

/// The arguments of `maze-rllf bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long)]
    pub json: bool,
    /// Shorter measurements (for smoke tests).
    #[arg(long)]
    pub quick: bool,
    /// Instead of the speed benchmarks: resident memory over this many PPO iterations of
    /// `--config` after `--warmup` iterations (a long run's memory growth).
    #[arg(long, value_name = "ITERATIONS")]
    pub soak: Option<u64>,
    /// The config the soak trains.
    #[arg(long, default_value = "assets/configs/jaxgmg-ppo.ron")]
    pub config: String,
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,
    /// Instead of the speed benchmarks: train `--config` until its training cheese rate
    /// reaches this share (e.g. 0.9) or `--minutes` pass, then evaluate it on 1000 held-out
    /// mazes of its training distribution (steps and minutes to competence).
    #[arg(long, value_name = "RATE", conflicts_with = "soak")]
    pub competence: Option<f64>,
    #[arg(long, default_value_t = 15.0)]
    pub minutes: f64,
    /// Instead of the speed benchmarks: where `--config`'s PPO iterations spend their time,
    /// phase by phase, over this many iterations after a warm-up one, beside the cores'
    /// measured peak for f32 matrix products.
    #[arg(long, value_name = "ITERATIONS", conflicts_with_all = ["soak", "competence"])]
    pub profile: Option<u64>,
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
}

/// Runs the benchmark `args` asks for.
pub(super) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs {
        json,
        quick,
        soak,
        config,
        warmup,
        competence,
        minutes,
        profile,
        device,
    } = args;
    if let Some(iterations) = profile {
        return profile_run(&config, iterations, json, device);
    }
    match (competence, soak) {
        (Some(target), _) => competence_run(&config, target, minutes, json, device),
        (None, Some(iterations)) => soak_run(&config, warmup, iterations, json, device),
        (None, None) => crate::bench::run(json, quick, device),
    }
}

fn competence_run(
    config: &str,
    target: f64,
    minutes: f64,
    json: bool,
    device: DeviceChoice,
) -> anyhow::Result<()> {
    if !(target > 0.0 && target <= 1.0 && minutes > 0.0 && minutes.is_finite()) {
        anyhow::bail!(
            "--competence {target} --minutes {minutes}: a rate in (0, 1] and minutes > 0"
        );
    }
    let budget = std::time::Duration::from_secs_f64(minutes * 60.0);
    let result =
        crate::bench::competence(config, target, budget, 1000, device, &|m| eprintln!("{m}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        match result.reached {
            Some((steps, seconds)) => println!(
                "{}: training cheese rate {:.0}% after {steps} env steps, {:.1} min",
                result.config,
                100.0 * target,
                seconds / 60.0
            ),
            None => println!(
                "{}: {:.0}% not reached in {} env steps, {:.1} min",
                result.config,
                100.0 * target,
                result.steps,
                result.seconds / 60.0
            ),
        }
        println!(
            "held out (1000 mazes of the training distribution): cheese {}, corner first \
             {}, reached the cheese at all {}",
            result.held_out.cheese, result.held_out.corner, result.held_out.reached_cheese
        );
        println!(
            "the best any policy can do on 1000 mazes of that distribution: cheese first {}",
            result.best_possible
        );
    }
    Ok(())
}

fn soak_run(
    config: &str,
    warmup: u64,
    iterations: u64,
    json: bool,
    device: DeviceChoice,
) -> anyhow::Result<()> {
    let result = crate::bench::soak(config, warmup, iterations, device, &|m| {
        if !json {
            println!("{m}")
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "{}: RSS {:+.1}% from iteration {} to {} ({:+.1} KiB per iteration)",
            result.config,
            result.growth_percent,
            result.samples[0].0,
            result.samples[result.samples.len() - 1].0,
            result.growth_kib_per_iteration
        );
    }
    Ok(())
}

fn profile_run(
    config: &str,
    iterations: u64,
    json: bool,
    device: DeviceChoice,
) -> anyhow::Result<()> {
    let result = crate::bench::profile(config, iterations, device)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    println!(
        "{} ({} build): {} iterations, {:.3} s each (rollout {:.3} s, update {:.3} s), {:.0} env \
         steps/s",
        result.config,
        result.build,
        result.iterations,
        result.seconds_per_iteration,
        result.rollout_seconds_per_iteration,
        result.update_seconds_per_iteration,
        result.env_steps_per_second
    );
    println!(
        "f32 product peak: {:.1} GFLOP/s on one core, {:.1} on {} cores; the iterations' \
         products {:.1} GFLOP/s per thread ({:.0}% of one core's peak)",
        result.peak.one_core_gflops,
        result.peak.all_cores_gflops,
        result.peak.cores,
        result.products_gflops,
        result.products_percent_of_core_peak
    );
    println!(
        "| phase | s per iteration | clock | calls per iteration | GFLOP/s | % of one core's peak |"
    );
    println!("|---|---|---|---|---|---|");
    let number = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    for p in &result.phases {
        println!(
            "| {} | {:.4} | {} | {:.1} | {} | {} |",
            p.phase,
            p.seconds_per_iteration,
            p.clock,
            p.calls_per_iteration,
            number(p.gflops),
            number(p.percent_of_core_peak)
        );
    }
    Ok(())
}
