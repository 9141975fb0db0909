//! `train` and `eval`: training runs with their metrics and checkpoints, and evaluation on the
//! standard distributions.

use crate::config::TrainConfig;
use crate::level::{LevelSource, load_level_file};
use crate::rl::{DeviceChoice, Trainer, checkpoint, evaluate};
use crate::sim::OutcomeSummary;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// The arguments of `maze-rllf train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training config (RON), e.g. assets/configs/quick.ron.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config value: `--set ppo.learning_rate=3e-4 --set region=4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Run folder for metrics and checkpoints.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a run from its folder or a checkpoint folder.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop (with a checkpoint) once this many env steps are done, keeping the configured
    /// total: the agent a study pauses at tau*T, which fine-tuning later takes to T.
    #[arg(long, value_name = "STEPS")]
    pub stop_at: Option<u64>,
    /// Start a fresh run in an --out folder that already holds one: its checkpoints,
    /// `latest`, metrics files and `eval.json` are deleted first.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
}

/// The arguments of `maze-rllf eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Extra level files (the training and shifted distributions are always included).
    #[arg(long, num_args = 1..)]
    pub levels: Vec<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub episodes: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
}

/// `train`: a fresh run from a config, or a resumed one, logged and checkpointed into `--out`,
/// then evaluated.
pub(super) fn train(args: TrainArgs) -> anyhow::Result<()> {
    let TrainArgs {
        config,
        set,
        out,
        resume,
        stop_at,
        force,
        device,
    } = args;
    let (config, set, out, resume) = (
        config.as_deref(),
        set.as_slice(),
        out.as_path(),
        resume.as_deref(),
    );
    let device = device.device()?;
    let holds_a_run = ["latest", "metrics.jsonl", "metrics.csv"]
        .iter()
        .any(|f| out.join(f).exists());
    if resume.is_none() && holds_a_run {
        if !force {
            anyhow::bail!(
                "{} already holds a run: continue it with `--resume {0}`, write elsewhere, or \
                 pass --force to delete its checkpoints and metrics and start over",
                out.display()
            );
        }
        clear_run(out)?;
    }
    let mut trainer = match (resume, config) {
        (Some(from), _) => checkpoint::resume(from, &device, set)?,
        (None, Some(path)) => {
            let cfg = TrainConfig::load(path).and_then(|c| c.with_overrides(set))?;
            Trainer::new(cfg, &device)?
        }
        (None, None) => {
            return Err(anyhow::anyhow!(
                "train needs --config FILE (or --resume DIR)"
            ));
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let mut log =
        crate::rl::MetricsLog::resume(&out.join("metrics.jsonl"), trainer.state.iteration)?;
    let total = trainer.config.ppo.num_iterations();
    let bar = ProgressBar::new(total).with_position(trainer.state.iteration);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} it  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stopped = |t: &Trainer| stop_at.is_some_and(|s| t.state.global_step >= s);
    while !trainer.finished() && !stopped(&trainer) {
        let m = trainer.iterate();
        bar.set_position(m.iteration);
        bar.set_message(format!(
            "step {} | {:.0} SPS | return {:.2} | cheese {:.0}% corner {:.0}%",
            m.global_step,
            m.sps,
            m.episodic_return,
            100.0 * m.cheese_rate,
            100.0 * m.corner_rate
        ));
        log.append(&m)?;
        if m.iteration % trainer.config.checkpoint_every.max(1) == 0
            || trainer.finished()
            || stopped(&trainer)
        {
            checkpoint::save(&trainer, out)?;
        }
    }
    bar.finish();
    let summaries = evaluate_standard(
        &trainer.policy(),
        &trainer.config,
        &[],
        trainer.config.eval_episodes,
    )?;
    print_table(&summaries);
    let json = serde_json::to_string_pretty(&summaries)?;
    crate::files::write_atomic(&out.join("eval.json"), json.as_bytes())?;
    println!("run folder: {}", out.display());
    Ok(())
}

/// Deletes a run folder's checkpoints, `latest`, metrics files and `eval.json` (`train --force`).
fn clear_run(dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| dir.display().to_string())?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let removed = if name.starts_with("checkpoint-") && path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if ["latest", "metrics.jsonl", "metrics.csv", "eval.json"].contains(&name.as_str()) {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.with_context(|| format!("{}: cannot delete", path.display()))?;
    }
    Ok(())
}

/// `eval`: a checkpoint's rates on the training and shifted distributions and any extra levels.
pub(super) fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let EvalArgs {
        checkpoint: checkpoint_path,
        levels,
        episodes,
        json,
        device,
    } = args;
    let device = device.device()?;
    let loaded = checkpoint::load(&checkpoint_path, &device)?;
    let policy = crate::rl::Policy::new(loaded.model, device);
    let rows = evaluate_standard(&policy, &loaded.config, &levels, episodes)?;
    if json {
        let value = serde_json::json!({
            "checkpoint": loaded.dir.display().to_string(),
            "global_step": loaded.state.global_step,
            "results": rows.iter().map(|(n, s)| serde_json::json!({"levels": n, "summary": s})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "checkpoint {} (step {})",
            loaded.dir.display(),
            loaded.state.global_step
        );
        print_table(&rows);
    }
    Ok(())
}

/// Evaluates on the training distribution, the shifted one, and any extra level files.
pub fn evaluate_standard(
    policy: &crate::rl::Policy,
    config: &TrainConfig,
    extra: &[PathBuf],
    episodes: usize,
) -> anyhow::Result<Vec<(String, OutcomeSummary)>> {
    let train = config.training_levels()?;
    let world = train.world_size();
    let mut sources: Vec<(String, LevelSource)> = vec![
        (format!("train: {}", train.name()), train.clone()),
        ("shifted (cheese anywhere)".into(), config.shifted_levels()?),
    ];
    for path in extra {
        let source = load_level_file(path)?;
        let fitted = source
            .fitted_to(world)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        sources.push((path.display().to_string(), fitted));
    }
    let bar = ProgressBar::new(sources.len() as u64);
    let out = sources
        .into_iter()
        .map(|(name, source)| {
            bar.set_message(name.clone());
            let (summary, _) = evaluate(policy, &source, episodes, config.seed, config.max_steps);
            bar.inc(1);
            (name, summary)
        })
        .collect();
    bar.finish_and_clear();
    Ok(out)
}

fn print_table(rows: &[(String, OutcomeSummary)]) {
    println!(
        "{:<34} {:>6}  {:<21} {:<21} {:<21} {:>7}",
        "levels", "eps", "cheese", "corner-first", "neither", "length"
    );
    for (name, s) in rows {
        println!(
            "{:<34} {:>6}  {:<21} {:<21} {:<21} {:>7.1}",
            name, s.episodes, s.cheese, s.corner, s.neither, s.mean_length
        );
    }
}
