//! Command-line front end (clap): the app (default), `demo`, `train`, `eval`, `bench`, `study`,
//! `judge-eval`, `record`, `show`, each subcommand's arguments and handler in its own file.
//! Errors are printed for people and end with a non-zero exit code; nothing here panics on user
//! input.

#[cfg(feature = "app")]
mod app;
mod bench;
#[cfg(feature = "embedded")]
mod judge_eval;
mod record;
mod study;
mod train;

#[cfg(feature = "app")]
pub use app::{AppArgs, DEMO_CHECKPOINT, DemoArgs, app_options};
pub use bench::BenchArgs;
#[cfg(feature = "embedded")]
pub use judge_eval::JudgeEvalArgs;
pub use record::{RecordArgs, ShowArgs};
pub use study::StudyArgs;
pub use train::{EvalArgs, TrainArgs, evaluate_standard};

use crate::rl::DeviceChoice;
use clap::{Parser, Subcommand};
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

/// `--device cpu|gpu`.
impl clap::ValueEnum for DeviceChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &[DeviceChoice::Cpu, DeviceChoice::Gpu]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            DeviceChoice::Cpu => clap::builder::PossibleValue::new("cpu")
                .help("burn's flex backend (pure-Rust CPU, multi-threaded)"),
            DeviceChoice::Gpu => clap::builder::PossibleValue::new("gpu")
                .help("burn's wgpu backend (needs the `gpu` cargo feature)"),
        })
    }
}

/// `--judge oracle|http|human|embedded`, from the one list of judges.
impl clap::ValueEnum for crate::llm::JudgeKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.description()))
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a PPO agent on a level distribution.
    Train(TrainArgs),
    /// Evaluate a checkpoint: cheese / corner-first / neither rates with 95% CIs.
    Eval(EvalArgs),
    /// Measure env throughput, maze generation and PPO training speed.
    Bench(BenchArgs),
    /// The paper's region study: baseline vs LLM-feedback arm for every region and seed.
    Study(StudyArgs),
    /// How well a judge agrees with the true outcome (controlled for length and wording), how
    /// biased and how fast it is: every model x prompt variant on the same pairs.
    #[cfg(feature = "embedded")]
    JudgeEval(JudgeEvalArgs),
    /// Open the app (the default without a command).
    #[cfg(feature = "app")]
    App(AppArgs),
    /// The captioned demo: corner-seeking agent, LLM round, reward model, fine-tuning, before/after.
    #[cfg(feature = "app")]
    Demo(DemoArgs),
    /// Record episodes of a checkpoint as GIFs (and, with `--png`, a PNG of each whole path).
    Record(RecordArgs),
    /// Validate a level file and draw it (distributions: `--count` samples).
    Show(ShowArgs),
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
        Err(error) => {
            eprintln!("error: {}", crate::errors::chain_text(&error));
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Train(args) => train::train(args),
        Command::Eval(args) => train::eval(args),
        Command::Bench(args) => bench::run(args),
        Command::Study(args) => study::run(args),
        #[cfg(feature = "embedded")]
        Command::JudgeEval(args) => judge_eval::run(args),
        #[cfg(feature = "app")]
        Command::App(args) => crate::app::run(app_options(&args, crate::app::Mode::Watch)?)
            .map_err(anyhow::Error::msg),
        #[cfg(feature = "app")]
        Command::Demo(args) => app::demo(args),
        Command::Record(args) => record::record(args),
        Command::Show(args) => record::show(args),
    }
}
