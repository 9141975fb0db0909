//! Command-line front end (clap): the app (default), `demo`, `train`, `eval`, `bench`, `study`,
//! `record`, `show`. Errors are printed for people
//! and end with a non-zero exit code; nothing here panics on user input.

use crate::config::TrainConfig;
use crate::level::{LevelSource, load_level_file};
use crate::rl::{DeviceChoice, Trainer, checkpoint, evaluate};
use crate::sim::OutcomeSummary;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "maze-rllf",
    version,
    about = "RL agents that learn the wrong goal, and LLM feedback that repairs it"
)]
pub struct Cli {
    /// Without a command, the app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How the app (and the demo) start.
#[derive(Parser, Debug, Clone)]
pub struct AppArgs {
    /// Training config (RON).
    #[arg(long, default_value = "assets/configs/quick-7x7.ron")]
    pub config: PathBuf,
    /// Override a config value: `--set region=4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Start from a checkpoint (a run folder or checkpoint folder) instead of fresh weights.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The judge of feedback rounds. Default: the embedded offline judge when its model is
    /// installed (`scripts/install-models.sh`), otherwise the scripted oracle (and the app says so).
    #[arg(long, value_enum)]
    pub judge: Option<AppJudge>,
    /// OpenAI-compatible server for `--judge http`.
    #[arg(long, default_value = "http://127.0.0.1:11434")]
    pub http_url: String,
    #[arg(long, default_value = "llama3.1:8b")]
    pub http_model: String,
    /// Model of `--judge embedded`: a name from scripts/install-models.sh or a GGUF path.
    #[cfg(feature = "embedded")]
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_MODEL)]
    pub embedded_model: String,
    /// Prompt variant of `--judge embedded` (assets/prompts/embedded/NAME.ron).
    #[cfg(feature = "embedded")]
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_PROMPT)]
    pub embedded_prompt: String,
    /// Cache judge answers in this JSONL file.
    #[arg(long)]
    pub label_cache: Option<PathBuf>,
    /// Window size, e.g. 1280x720.
    #[arg(long, default_value = "1280x760")]
    pub window: String,
    #[arg(long)]
    pub fullscreen: bool,
    /// Open in the level editor.
    #[arg(long)]
    pub edit: bool,
    /// Go through feedback-round reviews without waiting (scenarios all kept, labels as judged).
    #[arg(long)]
    pub auto_review: bool,
    /// Overlays on at start: visits, arrows, reward (repeatable).
    #[arg(long = "overlay", value_name = "NAME")]
    pub overlays: Vec<String>,
    /// Play the agent in this one level (ghost agents) instead of fresh training mazes.
    #[arg(long)]
    pub level: Option<PathBuf>,
    /// Frame-rate cap (the trainer shares the CPU with the renderer).
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Take a screenshot in a view and exit afterwards: `--screenshot 2d=shots/a.png` (repeatable).
    #[arg(long = "screenshot", value_name = "VIEW=PATH")]
    pub screenshots: Vec<String>,
    /// Quit after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub exit_after: Option<f64>,
    /// Send a command at a time: `--at 5=run --at 60=round` (run, pause, step, evaluate, round,
    /// shifted, training).
    #[arg(long = "at", value_name = "SECONDS=ACTION")]
    pub at: Vec<String>,
    /// Append every training iteration's metrics here (JSON lines).
    #[arg(long)]
    pub metrics_log: Option<PathBuf>,
    /// Write every frame's duration here (CSV: seconds, frame_ms, phase).
    #[arg(long)]
    pub frame_log: Option<PathBuf>,
}

/// Parses `SECONDS=ACTION`.
#[cfg(feature = "app")]
fn timed_command(text: &str) -> Result<(f64, crate::trainer::Command), String> {
    use crate::trainer::{Command, ShowLevels};
    let (at, action) = text
        .split_once('=')
        .ok_or_else(|| format!("--at {text}: expected SECONDS=ACTION, e.g. 5=run"))?;
    let at: f64 = at
        .trim()
        .parse()
        .map_err(|_| format!("--at {text}: `{at}` is not a number of seconds"))?;
    let command = match action.trim() {
        "run" => Command::Run,
        "pause" => Command::Pause,
        "step" => Command::Step,
        "evaluate" => Command::Evaluate,
        "round" => Command::BeginFeedbackRound,
        "shifted" => Command::Show(ShowLevels::Shifted),
        "training" => Command::Show(ShowLevels::Training),
        other => {
            return Err(format!(
                "--at {text}: unknown action `{other}` (run, pause, step, evaluate, round, shifted, training)"
            ));
        }
    };
    Ok((at, command))
}

/// Judges the app can ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AppJudge {
    Oracle,
    Http,
    /// The offline GGUF model (`--embedded-model`, `--embedded-prompt`).
    #[cfg(feature = "embedded")]
    Embedded,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a PPO agent on a level distribution.
    Train {
        /// Training config (RON), e.g. assets/configs/quick.ron.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override a config value: `--set ppo.learning_rate=3e-4 --set region=4`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run folder for metrics and checkpoints.
        #[arg(long)]
        out: PathBuf,
        /// Continue a run from its folder or a checkpoint folder.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Stop (with a checkpoint) once this many env steps are done, keeping the configured
        /// total: the agent a study pauses at tau*T, which fine-tuning later takes to T.
        #[arg(long, value_name = "STEPS")]
        stop_at: Option<u64>,
        /// Start a fresh run in an --out folder that already holds one: its checkpoints,
        /// `latest`, metrics files and `eval.json` are deleted first.
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
    },
    /// Evaluate a checkpoint: cheese / corner-first / neither rates with 95% CIs.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Extra level files (the training and shifted distributions are always included).
        #[arg(long, num_args = 1..)]
        levels: Vec<PathBuf>,
        #[arg(long, default_value_t = 1000)]
        episodes: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
    },
    /// Measure env throughput, maze generation and PPO training speed.
    Bench {
        #[arg(long)]
        json: bool,
        /// Shorter measurements (for smoke tests).
        #[arg(long)]
        quick: bool,
        /// Instead of the speed benchmarks: resident memory over this many PPO iterations of
        /// `--config` after `--warmup` iterations (a long run's memory growth).
        #[arg(long, value_name = "ITERATIONS")]
        soak: Option<u64>,
        /// The config the soak trains.
        #[arg(long, default_value = "assets/configs/jaxgmg-ppo.ron")]
        config: String,
        #[arg(long, default_value_t = 20)]
        warmup: u64,
        /// Instead of the speed benchmarks: train `--config` until its training cheese rate
        /// reaches this share (e.g. 0.9) or `--minutes` pass, then evaluate it on 1000 held-out
        /// mazes of its training distribution (steps and minutes to competence).
        #[arg(long, value_name = "RATE", conflicts_with = "soak")]
        competence: Option<f64>,
        #[arg(long, default_value_t = 15.0)]
        minutes: f64,
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
    },
    /// The paper's region study: baseline vs LLM-feedback arm for every region and seed.
    Study {
        /// Study config (RON), e.g. assets/configs/study-7x7.ron.
        #[arg(long, required_unless_present = "merge")]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "oracle")]
        judge: crate::experiment::study::JudgeKind,
        #[arg(long, required_unless_present = "merge")]
        out: Option<PathBuf>,
        /// Independent (region, seed) cells run in parallel.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Run only share I of N (0-based) of the study's cells and reference agents, e.g. one
        /// Slurm array task: `--cells $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`. Writes no
        /// reports: `--merge OUT` does once every share finished.
        #[arg(long, value_name = "I/N")]
        cells: Option<crate::experiment::cells::Share>,
        /// Write results.csv, report.md and plot.png of the study in this output folder from its
        /// finished cells, and list the missing ones.
        #[arg(long, value_name = "OUT", conflicts_with_all = ["config", "cells"])]
        merge: Option<PathBuf>,
        /// Override a study config value: `--set lambda=0.5 --set train.ppo.total_timesteps=1000000`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
    },
    /// How well a judge agrees with the true outcome (controlled for length and wording), how
    /// biased and how fast it is: every model x prompt variant on the same pairs.
    #[cfg(feature = "embedded")]
    JudgeEval {
        /// `embedded` (in-process GGUF models) or `http` (an OpenAI-compatible server).
        #[arg(long, default_value = "embedded")]
        judge: String,
        /// With `--judge http`: the server root, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        base_url: Option<String>,
        /// With `--judge http`: `pairwise` (one JSON question per pair) or `per-episode` (a
        /// yes/no question per rollout).
        #[arg(long, default_value = "pairwise")]
        ask: String,
        /// Model names (see `scripts/install-models.sh`) or GGUF paths, comma-separated; with
        /// `--judge http`, the names the server knows.
        #[arg(long, default_value = crate::llm::embedded::DEFAULT_MODEL, value_delimiter = ',')]
        model: Vec<String>,
        /// Prompt variants (files in assets/prompts/embedded/), comma-separated; default: all.
        #[arg(long, value_delimiter = ',')]
        prompt: Vec<String>,
        /// Pairs (one success, one failure each) per set.
        #[arg(long, default_value_t = 30)]
        pairs: usize,
        /// The corner agent whose rollouts are judged.
        #[arg(long, default_value = "assets/checkpoints/corner-7x7")]
        checkpoint: PathBuf,
        /// Episode limit of the judged rollouts.
        #[arg(long, default_value_t = 40)]
        max_steps: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Analyses asked per model/prompt.
        #[arg(long, default_value_t = 2)]
        analyses: usize,
        /// Dequantize: auto (slow types only), all, none.
        #[arg(long, default_value = "auto")]
        dequantize: String,
        /// Merge the controlled agreements into assets/judges/measured.json (shown with labels).
        #[arg(long)]
        record: bool,
        #[arg(long)]
        json: bool,
    },
    /// Open the app (the default without a command).
    #[cfg(feature = "app")]
    App(AppArgs),
    /// The captioned demo: corner-seeking agent, LLM round, reward model, fine-tuning, before/after.
    #[cfg(feature = "app")]
    Demo {
        #[command(flatten)]
        app: AppArgs,
        /// Advance by itself when each step is done, then exit.
        #[arg(long)]
        auto: bool,
        /// Write the stage timings (JSON) here at the end.
        #[arg(long)]
        report: Option<PathBuf>,
        /// With --auto: a screenshot of every step into this folder.
        #[arg(long)]
        shots: Option<PathBuf>,
    },
    /// Record episodes of a checkpoint as GIFs (and, with `--png`, a PNG of each whole path).
    Record {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Level file to play (default: the shifted distribution of the checkpoint's config).
        #[arg(long)]
        level: Option<PathBuf>,
        /// Output GIF; with `--count N > 1`, `-1`, `-2`, ... are added before the extension.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Pixels per cell.
        #[arg(long, default_value_t = 24)]
        cell_px: usize,
        /// Also write a PNG of the maze with the whole path.
        #[arg(long)]
        png: bool,
    },
    /// Validate a level file and draw it (distributions: `--count` samples).
    Show {
        level: PathBuf,
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "app")]
    let command = cli
        .command
        .unwrap_or(Command::App(AppArgs::parse_from(["app"])));
    #[cfg(not(feature = "app"))]
    let Some(command) = cli.command else {
        eprintln!(
            "error: this build has no app (the `app` feature is off): give a command, see --help"
        );
        return ExitCode::from(2);
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Train {
            config,
            set,
            out,
            resume,
            stop_at,
            force,
            device,
        } => train(
            config.as_deref(),
            &set,
            &out,
            resume.as_deref(),
            stop_at,
            force,
            device,
        ),
        Command::Eval {
            checkpoint,
            levels,
            episodes,
            json,
            device,
        } => eval(&checkpoint, &levels, episodes, json, device),
        Command::Bench {
            json,
            competence: Some(target),
            config,
            minutes,
            device,
            ..
        } => {
            if !(target > 0.0 && target <= 1.0 && minutes > 0.0 && minutes.is_finite()) {
                return Err(format!(
                    "--competence {target} --minutes {minutes}: a rate in (0, 1] and minutes > 0"
                ));
            }
            let budget = std::time::Duration::from_secs_f64(minutes * 60.0);
            let result = crate::bench::competence(&config, target, budget, 1000, device, &|m| {
                eprintln!("{m}")
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?
                );
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
            }
            Ok(())
        }
        Command::Bench {
            json,
            soak: Some(iterations),
            config,
            warmup,
            device,
            ..
        } => {
            let result = crate::bench::soak(&config, warmup, iterations, device, &|m| {
                if !json {
                    println!("{m}")
                }
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?
                );
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
        Command::Bench {
            json,
            quick,
            soak: None,
            device,
            ..
        } => crate::bench::run(json, quick, device),
        Command::Show { level, count } => show(&level, count),
        #[cfg(feature = "app")]
        Command::App(args) => crate::app::run(app_options(&args, crate::app::Mode::Watch)?),
        #[cfg(feature = "app")]
        Command::Demo {
            app,
            auto,
            report,
            shots,
        } => {
            let mut options = app_options(&app, crate::app::Mode::Demo)?;
            options.demo_auto = auto;
            options.demo_report = report;
            options.demo_shots = shots;
            options.settings.auto_review = true;
            // The round the demo runs: the designer arm (see the README's demo section).
            options.settings.arm = crate::experiment::round::Arm::Designer;
            options.settings.round.pairs = 120;
            options.settings.round.feedback_rollouts = 240;
            options.settings.eval_episodes = 400;
            if options.settings.checkpoint.is_none() {
                let shipped = PathBuf::from(DEMO_CHECKPOINT);
                if shipped.exists() {
                    options.settings.checkpoint = Some(shipped);
                }
            }
            crate::app::run(options)
        }
        Command::Record {
            checkpoint,
            level,
            out,
            count,
            seed,
            cell_px,
            png,
        } => record(
            &checkpoint,
            level.as_deref(),
            &out,
            count,
            seed,
            cell_px,
            png,
        ),
        Command::Study {
            config,
            judge,
            out,
            jobs,
            cells,
            merge,
            set,
            device,
        } => match (merge, config, out) {
            (Some(dir), _, _) => merge_study(&dir),
            (None, Some(config), Some(out)) => {
                study(&config, judge, &out, jobs, cells, &set, device)
            }
            _ => Err("study needs --config and --out (or --merge OUT)".into()),
        },
        #[cfg(feature = "embedded")]
        Command::JudgeEval {
            judge,
            base_url,
            ask,
            model,
            prompt,
            pairs,
            checkpoint,
            max_steps,
            seed,
            analyses,
            dequantize,
            record,
            json,
        } => {
            let http = match (judge.as_str(), base_url) {
                ("embedded", None) => None,
                ("embedded", Some(_)) => {
                    return Err("--base-url is for --judge http".into());
                }
                ("http", Some(url)) => {
                    let ask = match ask.as_str() {
                        "pairwise" => crate::llm::http::HttpAsk::Pairwise,
                        "per-episode" => crate::llm::http::HttpAsk::PerEpisode,
                        other => {
                            return Err(format!("--ask {other}: use pairwise or per-episode"));
                        }
                    };
                    let config = crate::llm::http::HttpConfig {
                        ask,
                        ..crate::llm::http::HttpConfig::new(&url, "")
                    };
                    config.validate()?;
                    Some(config)
                }
                ("http", None) => {
                    return Err("--judge http needs --base-url (e.g. http://127.0.0.1:8080)".into());
                }
                (other, _) => {
                    return Err(format!("--judge {other}: use embedded or http"));
                }
            };
            let dequantize = match dequantize.as_str() {
                "auto" => crate::llm::embedded::Dequantize::Auto,
                "all" => crate::llm::embedded::Dequantize::All,
                "none" => crate::llm::embedded::Dequantize::None,
                other => return Err(format!("--dequantize {other}: use auto, all or none")),
            };
            let prompts = if prompt.is_empty() {
                crate::llm::embedded::PromptVariant::names()
            } else {
                prompt
            };
            judge_eval(
                crate::experiment::judge_eval::EvalSettings {
                    checkpoint,
                    pairs,
                    seed,
                    max_steps,
                    models: model,
                    prompts,
                    dequantize,
                    analyses,
                },
                http,
                record,
                json,
            )
        }
    }
}

#[cfg(feature = "embedded")]
fn judge_eval(
    settings: crate::experiment::judge_eval::EvalSettings,
    http: Option<crate::llm::http::HttpConfig>,
    record: bool,
    json: bool,
) -> Result<(), String> {
    use crate::experiment::judge_eval::{collect_pairs, record_measured, run, run_http, table};
    if settings.pairs == 0 {
        return Err("--pairs must be at least 1".into());
    }
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_message("rolling out the agent");
    let bank = collect_pairs(&settings)?;
    // Each finished model/prompt is also logged, so long runs show partial results.
    let progress = |m: String| {
        if m.contains("controlled agreement") {
            bar.println(&m);
            if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("{m}");
            }
        }
        bar.set_message(m)
    };
    let results = match &http {
        Some(config) => run_http(&settings, &bank, config, &progress)?,
        None => run(&settings, &bank, &progress)?,
    };
    bar.finish_and_clear();
    if record {
        record_measured(&results, Path::new(crate::llm::embedded::MEASURED_FILE))?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "{} pairs per set, rollouts of {} in shifted mazes (limit {} steps)",
            settings.pairs,
            settings.checkpoint.display(),
            settings.max_steps
        );
        print!("{}", table(&results));
        for r in &results {
            println!(
                "{}/{}: analysis example: {:?} -> scenarios {:?}",
                r.model, r.prompt, r.analysis_example, r.scenarios_example
            );
        }
    }
    Ok(())
}

fn train(
    config: Option<&Path>,
    set: &[String],
    out: &Path,
    resume: Option<&Path>,
    stop_at: Option<u64>,
    force: bool,
    device: DeviceChoice,
) -> Result<(), String> {
    let device = device.device()?;
    let holds_a_run = ["latest", "metrics.jsonl", "metrics.csv"]
        .iter()
        .any(|f| out.join(f).exists());
    if resume.is_none() && holds_a_run {
        if !force {
            return Err(format!(
                "{} already holds a run: continue it with `--resume {0}`, write elsewhere, or \
                 pass --force to delete its checkpoints and metrics and start over",
                out.display()
            ));
        }
        clear_run(out)?;
    }
    let mut trainer = match (resume, config) {
        (Some(from), _) => checkpoint::resume(from, &device, set).map_err(|e| e.to_string())?,
        (None, Some(path)) => {
            let cfg = TrainConfig::load(path)
                .and_then(|c| c.with_overrides(set))
                .map_err(|e| e.to_string())?;
            Trainer::new(cfg, &device).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("train needs --config FILE (or --resume DIR)".into()),
    };
    std::fs::create_dir_all(out).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    let mut log = MetricsLog::open(out, trainer.state.iteration)?;
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
            checkpoint::save(&trainer, out).map_err(|e| e.to_string())?;
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
    let json = serde_json::to_string_pretty(&summaries).map_err(|e| e.to_string())?;
    crate::files::write_atomic(&out.join("eval.json"), json.as_bytes())
        .map_err(|e| e.to_string())?;
    println!("run folder: {}", out.display());
    Ok(())
}

/// Deletes a run folder's checkpoints, `latest`, metrics files and `eval.json` (`train --force`).
fn clear_run(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
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
        removed.map_err(|e| format!("{}: cannot delete: {e}", path.display()))?;
    }
    Ok(())
}

/// Keeps the lines of a metrics file whose iteration is at most `last` (the header of a CSV
/// stays): after a kill, the iterations between the last checkpoint and the kill are trained
/// again on resume and must not be logged twice. Unreadable lines (a torn last line) go too.
fn cut_metrics_back(dir: &Path, last: u64) -> Result<(), String> {
    let keep_json = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v["iteration"].as_u64())
            .is_some_and(|it| it <= last)
    };
    let jsonl = dir.join("metrics.jsonl");
    if let Ok(text) = std::fs::read_to_string(&jsonl) {
        let kept: String = text
            .lines()
            .filter(|l| keep_json(l))
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != text {
            crate::files::write_atomic(&jsonl, kept.as_bytes()).map_err(|e| e.to_string())?;
        }
    }
    let csv = dir.join("metrics.csv");
    if let Ok(text) = std::fs::read_to_string(&csv) {
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            return Ok(());
        };
        let Some(column) = header.split(',').position(|h| h == "iteration") else {
            return Ok(());
        };
        let mut kept = format!("{header}\n");
        for line in lines {
            let iteration = line
                .split(',')
                .nth(column)
                .and_then(|v| v.parse::<u64>().ok());
            if iteration.is_some_and(|it| it <= last)
                && line.split(',').count() == header.split(',').count()
            {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if kept != text {
            crate::files::write_atomic(&csv, kept.as_bytes()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `metrics.jsonl` and `metrics.csv` in a run folder (appended to on resume).
struct MetricsLog {
    jsonl: std::fs::File,
    csv: std::fs::File,
    csv_has_header: bool,
}

impl MetricsLog {
    /// Opens the files for appending after iteration `last` (cutting back anything logged after
    /// it by a run that was killed before its next checkpoint).
    fn open(dir: &Path, last: u64) -> Result<Self, String> {
        cut_metrics_back(dir, last)?;
        let open =
            |name: &str| crate::files::open_append(&dir.join(name)).map_err(|e| e.to_string());
        let csv = open("metrics.csv")?;
        let csv_has_header = csv.metadata().map(|m| m.len() > 0).unwrap_or(false);
        Ok(Self {
            jsonl: open("metrics.jsonl")?,
            csv,
            csv_has_header,
        })
    }

    fn append(&mut self, m: &crate::rl::IterationMetrics) -> Result<(), String> {
        let value = serde_json::to_value(m).map_err(|e| e.to_string())?;
        let line = serde_json::to_string(&value).map_err(|e| e.to_string())?;
        writeln!(self.jsonl, "{line}").map_err(|e| format!("metrics.jsonl: {e}"))?;
        if let Some(obj) = value.as_object() {
            if !self.csv_has_header {
                let header: Vec<&str> = obj.keys().map(String::as_str).collect();
                writeln!(self.csv, "{}", header.join(","))
                    .map_err(|e| format!("metrics.csv: {e}"))?;
                self.csv_has_header = true;
            }
            let row: Vec<String> = obj.values().map(|v| v.to_string()).collect();
            writeln!(self.csv, "{}", row.join(",")).map_err(|e| format!("metrics.csv: {e}"))?;
        }
        Ok(())
    }
}

/// Evaluates on the training distribution, the shifted one, and any extra level files.
pub fn evaluate_standard(
    policy: &crate::rl::Policy,
    config: &TrainConfig,
    extra: &[PathBuf],
    episodes: usize,
) -> Result<Vec<(String, OutcomeSummary)>, String> {
    let train = config.training_levels().map_err(|e| e.to_string())?;
    let world = train.world_size();
    let mut sources: Vec<(String, LevelSource)> = vec![
        (format!("train: {}", train.name()), train.clone()),
        (
            "shifted (cheese anywhere)".into(),
            config.shifted_levels().map_err(|e| e.to_string())?,
        ),
    ];
    for path in extra {
        let source = load_level_file(path).map_err(|e| e.to_string())?;
        let fitted = source
            .fitted_to(world)
            .map_err(|e| format!("{}: {e}", path.display()))?;
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

/// The corner-seeking conv agent the demo starts from, paused at tau*T as a study cell pauses
/// (see `assets/configs/demo-conv-7x7.ron` for the command that trains it).
pub const DEMO_CHECKPOINT: &str = "assets/checkpoints/corner-conv-7x7";

/// The app's judge when none is chosen: the embedded model when it is installed, otherwise the
/// oracle, with a note that says why.
#[cfg(feature = "app")]
fn default_app_judge() -> (AppJudge, Option<String>) {
    #[cfg(feature = "embedded")]
    {
        use crate::llm::embedded::{DEFAULT_MODEL, install_command, resolve_model};
        let (_, path, _) = resolve_model(DEFAULT_MODEL);
        if path.exists() {
            return (AppJudge::Embedded, None);
        }
        (
            AppJudge::Oracle,
            Some(format!(
                "the embedded judge's model ({DEFAULT_MODEL}) is not installed, so the scripted \
                 oracle labels the pairs (`{}` installs it)",
                install_command(DEFAULT_MODEL)
            )),
        )
    }
    #[cfg(not(feature = "embedded"))]
    (
        AppJudge::Oracle,
        Some(
            "this build has no embedded judge (`--features embedded`), so the scripted oracle \
             labels the pairs"
                .to_string(),
        ),
    )
}

/// Session settings and window options from the app's arguments.
#[cfg(feature = "app")]
pub fn app_options(
    args: &AppArgs,
    mode: crate::app::Mode,
) -> Result<crate::app::AppOptions, String> {
    use crate::trainer::{JudgeChoice, SessionSettings};
    let train = TrainConfig::load(&args.config)
        .and_then(|c| c.with_overrides(&args.set))
        .map_err(|e| e.to_string())?;
    let mut settings = SessionSettings::new(train);
    settings.checkpoint = args.checkpoint.clone();
    settings.label_cache = args.label_cache.clone();
    settings.metrics_log = args.metrics_log.clone();
    settings.auto_review = args.auto_review;
    let (judge, judge_note) = match args.judge {
        Some(judge) => (judge, None),
        None => default_app_judge(),
    };
    if judge == AppJudge::Http {
        settings.judge = JudgeChoice::Http(crate::llm::http::HttpConfig::new(
            &args.http_url,
            &args.http_model,
        ));
    }
    #[cfg(feature = "embedded")]
    if judge == AppJudge::Embedded {
        settings.judge = JudgeChoice::Embedded(crate::llm::embedded::EmbeddedConfig {
            model: args.embedded_model.clone(),
            prompt: args.embedded_prompt.clone(),
            ..Default::default()
        });
    }
    let window = args
        .window
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .filter(|&(w, h): &(u32, u32)| w >= 320 && h >= 240)
        .ok_or_else(|| {
            format!(
                "--window {}: expected WIDTHxHEIGHT of at least 320x240, e.g. 1280x720",
                args.window
            )
        })?;
    let screenshots = args
        .screenshots
        .iter()
        .map(|s| crate::app::record::ScriptedShot::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--screenshot {e}"))?;
    let mut timed_commands = args
        .at
        .iter()
        .map(|t| timed_command(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut overlays = crate::app::scene::Overlays::default();
    for name in &args.overlays {
        match name.as_str() {
            "visits" => overlays.heatmap = true,
            "arrows" => overlays.arrows = true,
            "reward" => overlays.reward = true,
            other => {
                return Err(format!(
                    "--overlay {other}: the overlays are visits, arrows and reward"
                ));
            }
        }
    }
    let ghosts = match &args.level {
        Some(path) => {
            let world = settings
                .train
                .training_levels()
                .map_err(|e| e.to_string())?
                .world_size();
            let source = load_level_file(path)
                .map_err(|e| e.to_string())?
                .fitted_to(world)?;
            let layout = source.sample(&mut crate::rng::Rng::new(settings.train.seed));
            timed_commands.insert(
                0,
                (
                    0.0,
                    crate::trainer::Command::Show(crate::trainer::ShowLevels::Fixed(layout)),
                ),
            );
            true
        }
        None => false,
    };
    let mode = if args.edit {
        crate::app::Mode::Edit
    } else {
        mode
    };
    Ok(crate::app::AppOptions {
        timed_commands,
        frame_log: args.frame_log.clone(),
        settings,
        mode,
        judge_note,
        demo_auto: false,
        demo_report: None,
        demo_shots: None,
        screenshots,
        exit_after_s: args.exit_after,
        window,
        fullscreen: args.fullscreen,
        fps: args.fps,
        overlays,
        ghosts,
    })
}

/// Writes GIFs of `count` episodes of a checkpoint.
fn record(
    checkpoint_path: &Path,
    level: Option<&Path>,
    out: &Path,
    count: usize,
    seed: u64,
    cell_px: usize,
    png: bool,
) -> Result<(), String> {
    let device = DeviceChoice::Cpu.device()?;
    let loaded = checkpoint::load(checkpoint_path, &device).map_err(|e| e.to_string())?;
    let world = loaded
        .config
        .training_levels()
        .map_err(|e| e.to_string())?
        .world_size();
    let source = match level {
        Some(path) => load_level_file(path)
            .map_err(|e| e.to_string())?
            .fitted_to(world)?,
        None => loaded.config.shifted_levels().map_err(|e| e.to_string())?,
    };
    if !(2..=64).contains(&cell_px) {
        return Err(format!("--cell-px {cell_px}: use 2 to 64 pixels per cell"));
    }
    let policy = crate::rl::Policy::new(loaded.model, device);
    let episodes = crate::experiment::rollouts::collect_rollouts(
        &policy,
        &source,
        count.max(1),
        seed,
        loaded.config.max_steps,
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for (i, episode) in episodes.iter().enumerate() {
        let path = if episodes.len() == 1 {
            out.to_path_buf()
        } else {
            let stem = out
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("episode");
            out.with_file_name(format!("{stem}-{}.gif", i + 1))
        };
        let gif = crate::sim::render::episode_gif(&episode.layout, &episode.path, cell_px, 12)?;
        std::fs::write(&path, gif).map_err(|e| format!("{}: {e}", path.display()))?;
        let outcome = format!("{:?}", episode.stats.outcome).to_lowercase();
        println!(
            "{}: {} steps, outcome {outcome}",
            path.display(),
            episode.stats.length
        );
        if png {
            let last = episode.path.last().copied().unwrap_or(episode.layout.start);
            let (w, h, pixels) =
                crate::sim::render::rgb(&episode.layout, last, &episode.path, cell_px);
            let png_path = path.with_extension("png");
            let bytes = crate::sim::render::png_bytes(w, h, &pixels)?;
            std::fs::write(&png_path, bytes).map_err(|e| format!("{}: {e}", png_path.display()))?;
            println!("{}", png_path.display());
        }
    }
    Ok(())
}

fn eval(
    checkpoint_path: &Path,
    levels: &[PathBuf],
    episodes: usize,
    json: bool,
    device: DeviceChoice,
) -> Result<(), String> {
    let device = device.device()?;
    let loaded = checkpoint::load(checkpoint_path, &device).map_err(|e| e.to_string())?;
    let policy = crate::rl::Policy::new(loaded.model, device);
    let rows = evaluate_standard(&policy, &loaded.config, levels, episodes)?;
    if json {
        let value = serde_json::json!({
            "checkpoint": loaded.dir.display().to_string(),
            "global_step": loaded.state.global_step,
            "results": rows.iter().map(|(n, s)| serde_json::json!({"levels": n, "summary": s})).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
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

fn study(
    config: &Path,
    judge: crate::experiment::study::JudgeKind,
    out: &Path,
    jobs: usize,
    share: Option<crate::experiment::cells::Share>,
    set: &[String],
    device: DeviceChoice,
) -> Result<(), String> {
    use crate::experiment::study::{StudyConfig, run_study};
    let device = device.device()?;
    let config = StudyConfig::load(config)?.with_overrides(set)?;
    let results = run_study(&config, judge, out, jobs, share, &device)?;
    if share.is_some() {
        println!(
            "{} cells of this share done in {}; when every share has finished: maze-rllf study \
             --merge {}",
            results.len(),
            out.display(),
            out.display()
        );
        return Ok(());
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!("{report}");
    println!(
        "{} cells; results.csv, report.md and plot.png in {}",
        results.len(),
        out.display()
    );
    Ok(())
}

/// `study --merge OUT`: the reports from every finished cell, and what is missing.
fn merge_study(out: &Path) -> Result<(), String> {
    let missing = crate::experiment::study::merge(out)?;
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!("{report}");
    if missing.is_empty() {
        println!(
            "every cell finished; results.csv, report.md and plot.png in {}",
            out.display()
        );
    } else {
        println!("{} units not finished:", missing.len());
        for work in &missing {
            println!("  {work}");
        }
    }
    Ok(())
}

fn show(path: &Path, count: usize) -> Result<(), String> {
    let source = load_level_file(path).map_err(|e| e.to_string())?;
    match &source {
        LevelSource::Fixed { name, layout } => {
            println!("{}: valid fixed level '{name}'", path.display());
            println!(
                "{}x{} world, start {:?}, cheese {:?}, corner {:?}, shortest path {} steps",
                layout.size,
                layout.size,
                layout.start,
                layout.cheese,
                layout.corner,
                layout.cheese_distance().unwrap_or(0)
            );
            print!("{}", crate::sim::render::ascii(layout, layout.start, &[]));
        }
        LevelSource::Distribution { name, spec } => {
            println!("{}: valid distribution '{name}'", path.display());
            println!(
                "generator {:?}, world {}, maze {:?}, cheese {:?}, seeds {:?}",
                spec.generator, spec.world_size, spec.maze_size, spec.cheese, spec.seeds
            );
            for i in 0..count as u64 {
                let seed = spec.seed_from_draw(i);
                let layout = spec.level_for_seed(seed);
                println!(
                    "\nseed {seed} (cheese {} steps away):",
                    layout.cheese_distance().unwrap_or(0)
                );
                print!("{}", crate::sim::render::ascii(&layout, layout.start, &[]));
            }
        }
        LevelSource::Mixture { name, parts } => {
            println!("{}: valid mixture '{name}'", path.display());
            for part in parts {
                println!("weight {}: {:?}", part.weight, part.spec);
            }
        }
    }
    Ok(())
}
