//! `app` and `demo`: the window's options from the command line (judge, overlays, scripted
//! screenshots and commands), and the demo's round.

use crate::config::TrainConfig;
use crate::errors::Invalid;
use crate::level::load_level_file;
use crate::llm::JudgeKind;
use clap::{Args, Parser};
use std::path::PathBuf;

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
    #[arg(long, value_parser = app_judge)]
    pub judge: Option<JudgeKind>,
    /// OpenAI-compatible server for `--judge http`.
    #[arg(long, default_value = "http://127.0.0.1:11434")]
    pub http_url: String,
    #[arg(long, default_value = "llama3.1:8b")]
    pub http_model: String,
    /// How `--judge http` reads episodes for an analysis: `json` (all at once, answered as
    /// JSON) or `facts` (one yes/no question at a time, worded as the default judge's analyst
    /// asks them).
    #[arg(long, default_value = "json", value_parser = ["json", "facts"])]
    pub http_analysis: String,
    /// Model of `--judge embedded`: a name from scripts/install-models.sh or a GGUF path.
    #[cfg(feature = "embedded")]
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_MODEL)]
    pub embedded_model: String,
    /// Prompt variant of `--judge embedded` (assets/prompts/embedded/NAME.ron).
    #[cfg(feature = "embedded")]
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_PROMPT)]
    pub embedded_prompt: String,
    /// Who reads the episodes for `--judge embedded`'s analyses: `MODEL/PROMPT`, or `none` for
    /// the labelling model and prompt themselves.
    #[cfg(feature = "embedded")]
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_ANALYST)]
    pub embedded_analyst: String,
    /// Cache judge answers in this JSONL file.
    #[arg(long)]
    pub label_cache: Option<PathBuf>,
    /// Window size, e.g. 1280x720.
    #[arg(long, default_value = "1280x760")]
    pub window: String,
    #[arg(long)]
    pub fullscreen: bool,
    /// Open in the level editor; on LEVEL if given (loaded if it exists, else a new level that
    /// Save and Ctrl+S write there).
    #[arg(long, value_name = "LEVEL", num_args = 0..=1)]
    pub edit: Option<Option<PathBuf>>,
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
    /// shifted, training; `open:RUN` opens a run folder or checkpoint, `new:CONFIG` starts a new
    /// run, both as the panel's Runs section does; `compare:A,B` plays two agents, each `live`
    /// or a checkpoint, on the same mazes).
    #[arg(long = "at", value_name = "SECONDS=ACTION")]
    pub at: Vec<String>,
    /// Append every training iteration's metrics here (JSON lines), and as CSV beside it (`.csv`).
    #[arg(long)]
    pub metrics_log: Option<PathBuf>,
    /// Write every frame's duration here (CSV: seconds, frame_ms, phase, plotted_iterations,
    /// first_plotted_step).
    #[arg(long)]
    pub frame_log: Option<PathBuf>,
    /// Open a window at start: library, compare (repeatable).
    #[arg(long = "open-window", value_name = "NAME")]
    pub open_windows: Vec<String>,
}

/// The arguments of `maze-rllf demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Advance by itself when each step is done, then exit.
    #[arg(long)]
    pub auto: bool,
    /// Write the stage timings (JSON) here at the end.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// With --auto: a screenshot of every step into this folder.
    #[arg(long)]
    pub shots: Option<PathBuf>,
    /// Arms fine-tuned beside the designer from the same paused agent for the same steps and
    /// shown beside it on the same mazes, comma-separated (default: random-scenarios and
    /// scenarios-env-reward; `none`: the designer alone, about half the demo's time).
    #[arg(long, value_delimiter = ',')]
    pub controls: Option<Vec<String>>,
}

/// The arms named by `--controls` (`none` names none; not given: [`Arm::CONTROLS`]).
///
/// [`Arm::CONTROLS`]: crate::experiment::arm::Arm::CONTROLS
fn control_arms(names: Option<&[String]>) -> anyhow::Result<Vec<crate::experiment::arm::Arm>> {
    let Some(names) = names else {
        return Ok(crate::experiment::arm::Arm::CONTROLS.to_vec());
    };
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| *n != "none" && !n.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|e| anyhow::anyhow!("--controls: {e} (or none)"))
        })
        .collect()
}

/// Parses `SECONDS=ACTION`; `open:PATH` and `new:CONFIG` start from `settings`.
fn timed_command(
    text: &str,
    settings: &crate::trainer::SessionSettings,
) -> anyhow::Result<(f64, crate::trainer::Command)> {
    use crate::trainer::{Command, ShowLevels};
    let (at, action) = text
        .split_once('=')
        .ok_or_else(|| format!("--at {text}: expected SECONDS=ACTION, e.g. 5=run"))
        .map_err(anyhow::Error::msg)?;
    let at: f64 = at
        .trim()
        .parse()
        .map_err(|_| format!("--at {text}: `{at}` is not a number of seconds"))
        .map_err(anyhow::Error::msg)?;
    let command = match action.trim() {
        "run" => Command::Run,
        "pause" => Command::Pause,
        "step" => Command::Step,
        "evaluate" => Command::Evaluate,
        "round" => Command::BeginFeedbackRound,
        "shifted" => Command::Show(ShowLevels::Shifted),
        "training" => Command::Show(ShowLevels::Training),
        other if other.starts_with("open:") => Command::Reset(Box::new(
            settings.opening(PathBuf::from(&other["open:".len()..])),
        )),
        other if other.starts_with("compare:") => {
            let agent = |name: &str| match name.trim() {
                "live" => crate::trainer::AgentRef::Live,
                path => crate::trainer::AgentRef::Checkpoint(PathBuf::from(path)),
            };
            let (a, b) = other["compare:".len()..].split_once(',').ok_or_else(|| {
                anyhow::anyhow!("--at {text}: expected compare:A,B (each `live` or a checkpoint)")
            })?;
            Command::Compare {
                agents: [agent(a), agent(b)],
                count: crate::app::COMPARISON_MAZES,
            }
        }
        other if other.starts_with("new:") => Command::Reset(Box::new(
            settings
                .new_run(std::path::Path::new(&other["new:".len()..]))
                .map_err(|e| anyhow::anyhow!("--at {text}: {e}"))?,
        )),
        other => {
            anyhow::bail!(
                "--at {text}: unknown action `{other}` (run, pause, step, evaluate, round, shifted, \
                 training, open:RUN_OR_CHECKPOINT, new:CONFIG, compare:A,B)"
            );
        }
    };
    Ok((at, command))
}

/// The corner-seeking conv agent the demo starts from, paused at tau*T as a study cell pauses
/// (see `assets/configs/demo-conv-7x7.ron` for the command that trains it).
pub const DEMO_CHECKPOINT: &str = "assets/checkpoints/corner-conv-7x7";

/// A `--judge` the app can run: any kind but the terminal's human judge (in the app a person
/// labels pairs in the round window's review instead).
fn app_judge(name: &str) -> Result<JudgeKind, Invalid> {
    match name.parse()? {
        JudgeKind::Human => Err(Invalid(
            "the app has no terminal to ask at: choose oracle, http or embedded, and label pairs \
             yourself in the round window's review"
                .into(),
        )),
        kind if kind.is_control() => Err(Invalid(format!(
            "{kind} is a control of the study and the benchmark, not a judge for the app: \
             choose oracle, http or embedded"
        ))),
        kind => Ok(kind),
    }
}

/// The app's judge when none is chosen: the embedded judge when the models it needs (`models`:
/// its labeller and its analyst) are installed, otherwise the oracle, with a note that says why.
fn default_app_judge(models: &[&str]) -> (JudgeKind, Option<String>) {
    #[cfg(feature = "embedded")]
    {
        use crate::llm::embedded::{install_command, resolve_model};
        let missing: Vec<&str> = models
            .iter()
            .copied()
            .filter(|m| !resolve_model(m).1.exists())
            .collect();
        if missing.is_empty() {
            return (JudgeKind::Embedded, None);
        }
        (
            JudgeKind::Oracle,
            Some(format!(
                "the embedded judge needs {} and {} not installed, so the scripted oracle labels \
                 the pairs (`{}` installs {})",
                missing.join(" and "),
                if missing.len() == 1 {
                    "it is"
                } else {
                    "they are"
                },
                install_command(&missing.join(" ")),
                if missing.len() == 1 { "it" } else { "them" },
            )),
        )
    }
    #[cfg(not(feature = "embedded"))]
    {
        let _ = models;
        (
            JudgeKind::Oracle,
            Some(
                "this build has no embedded judge (`--features embedded`), so the scripted \
                 oracle labels the pairs"
                    .to_string(),
            ),
        )
    }
}

/// Session settings and window options from the app's arguments.
pub fn app_options(
    args: &AppArgs,
    mode: crate::app::Mode,
) -> anyhow::Result<crate::app::AppOptions> {
    use crate::llm::oracle::OracleConfig;
    use crate::llm::{JudgeSettings, JudgeSpec};
    use crate::trainer::SessionSettings;
    let train = TrainConfig::load(&args.config).and_then(|c| c.with_overrides(&args.set))?;
    let mut settings = SessionSettings::new(train);
    settings.checkpoint = args.checkpoint.clone();
    settings.label_cache = args.label_cache.clone();
    settings.metrics_log = args.metrics_log.clone();
    settings.auto_review = args.auto_review;
    #[cfg(feature = "embedded")]
    let embedded = crate::llm::embedded::EmbeddedConfig {
        model: args.embedded_model.clone(),
        prompt: args.embedded_prompt.clone(),
        analyst: crate::llm::embedded::Analyst::parse(&args.embedded_analyst)?,
        ..Default::default()
    };
    #[cfg(feature = "embedded")]
    let models: Vec<&str> = std::iter::once(embedded.model.as_str())
        .chain(embedded.analyst.as_ref().map(|a| a.model.as_str()))
        .collect();
    #[cfg(not(feature = "embedded"))]
    let models: Vec<&str> = Vec::new();
    let (judge, judge_note) = match &args.judge {
        Some(judge) => (*judge, None),
        None => default_app_judge(&models),
    };
    let judges = JudgeSettings {
        oracle: OracleConfig::default(),
        http: Some(crate::llm::http::HttpConfig {
            analysis: if args.http_analysis == "facts" {
                crate::llm::http::HttpAnalysis::Facts
            } else {
                crate::llm::http::HttpAnalysis::Json
            },
            ..crate::llm::http::HttpConfig::new(&args.http_url, &args.http_model)
        }),
        #[cfg(feature = "embedded")]
        embedded,
    };
    settings.judge = JudgeSpec::of_kind(judge, &judges)?;
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
        })
        .map_err(anyhow::Error::msg)?;
    let screenshots = args
        .screenshots
        .iter()
        .map(|s| crate::app::record::ScriptedShot::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--screenshot {e}"))?;
    let mut timed_commands = args
        .at
        .iter()
        .map(|t| timed_command(t, &settings))
        .collect::<Result<Vec<_>, _>>()?;
    let mut overlays = crate::app::scene::Overlays::default();
    for name in &args.overlays {
        match name.as_str() {
            "visits" => overlays.heatmap = true,
            "arrows" => overlays.arrows = true,
            "reward" => overlays.reward = true,
            other => {
                anyhow::bail!("--overlay {other}: the overlays are visits, arrows and reward");
            }
        }
    }
    let ghosts = match &args.level {
        Some(path) => {
            let world = settings.train.training_levels()?.world_size();
            let source = load_level_file(path)?
                .fitted_to(world)
                .map_err(anyhow::Error::msg)?;
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
    let mode = if args.edit.is_some() {
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
        edit_file: args.edit.clone().flatten(),
        open_windows: args
            .open_windows
            .iter()
            .map(|w| w.parse())
            .collect::<Result<_, String>>()
            .map_err(|e| anyhow::anyhow!("--open-window {e}"))?,
    })
}

/// `demo`: the app in demo mode with the designer arm's round on the shipped corner agent.
pub(super) fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs {
        app,
        auto,
        report,
        shots,
        controls,
    } = args;
    let controls = control_arms(controls.as_deref())?;
    let mut options = app_options(&app, crate::app::Mode::Demo)?;
    options.demo_auto = auto;
    options.demo_report = report;
    options.demo_shots = shots;
    options.settings.auto_review = true;
    // The round the demo runs: the designer arm (see the README's demo section).
    options.settings.arm = crate::experiment::arm::Arm::Designer;
    options.settings.controls = controls;
    options.settings.round = crate::experiment::round::RoundSettings::demo();
    options.settings.eval_episodes = 400;
    if options.settings.checkpoint.is_none() {
        let shipped = PathBuf::from(DEMO_CHECKPOINT);
        if shipped.exists() {
            options.settings.checkpoint = Some(shipped);
        }
    }
    crate::app::run(options).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod judge_choice_tests {
    use super::*;

    #[test]
    fn the_app_refuses_the_terminal_judge_and_the_random_controls_and_says_what_to_choose() {
        for name in ["human", "random", "random-answers"] {
            let error = app_judge(name).expect_err(name);
            assert!(
                error.0.contains("oracle, http or embedded"),
                "{name}: {error}"
            );
        }
        assert_eq!(app_judge("oracle"), Ok(JudgeKind::Oracle));
        assert!(app_judge("gpt").is_err());
    }
}
