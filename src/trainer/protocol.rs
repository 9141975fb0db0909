//! Every type that crosses between the trainer thread and its front end (the app, the demo, tests):
//! commands in, events out. Plain data only — no tensors, no engine types.

use crate::config::TrainConfig;
use crate::experiment::arm::Arm;
use crate::experiment::preferences::{JudgeStats, LabeledPair};
pub use crate::experiment::round::BeforeAfter;
use crate::experiment::round::RoundSettings;
use crate::level::Layout;
use crate::llm::JudgeSpec;
use crate::llm::oracle::OracleConfig;
use crate::reward::RewardReport;
use crate::rl::IterationMetrics;
use crate::sim::Rollout;
use crate::sim::{Action, OutcomeSummary};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything a session needs; the app's panel edits a copy and sends it with [`Command::Reset`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    /// The training run (`region` and `seed` live here).
    pub train: TrainConfig,
    pub judge: JudgeSpec,
    /// What a feedback round asks for (rollouts, pairs, reward model, lambda, scenario share).
    pub round: RoundSettings,
    /// Episodes streamed for display each time the scene is fed.
    pub show_episodes: usize,
    /// Seconds between two streamed batches of episodes while training.
    pub show_interval_s: f64,
    /// Episodes per evaluation point (train and shifted each).
    pub eval_episodes: usize,
    /// Iterations between evaluation points.
    pub eval_every: u64,
    /// Go through scenario and label review without waiting for a person.
    pub auto_review: bool,
    /// Where judge answers are cached (None: in memory only).
    pub label_cache: Option<PathBuf>,
    /// Start from this checkpoint instead of fresh weights.
    pub checkpoint: Option<PathBuf>,
    /// Append every iteration's metrics here (JSON lines).
    pub metrics_log: Option<PathBuf>,
    /// How fine-tuning uses the round (see [`Arm`]); `designer` by default.
    pub arm: Arm,
    /// Arms fine-tuned after `arm` from the same paused agent for the same steps, each set
    /// beside it on the before/after table's mazes (e.g. the LLM-free controls); none by
    /// default.
    pub controls: Vec<Arm>,
}

impl SessionSettings {
    /// Interactive defaults around a training config: the oracle judge, the study's feedback sizes,
    /// a few episodes streamed twice a second, and reviews that wait for a person.
    pub fn new(train: TrainConfig) -> Self {
        Self {
            train,
            judge: JudgeSpec::Oracle(OracleConfig::default()),
            round: RoundSettings::default(),
            show_episodes: 16,
            show_interval_s: 0.5,
            eval_episodes: 200,
            eval_every: 10,
            auto_review: false,
            label_cache: None,
            checkpoint: None,
            metrics_log: None,
            arm: Arm::Designer,
            controls: Vec::new(),
        }
    }

    /// These settings on the agent saved at `checkpoint` (a run folder or one of its checkpoint
    /// folders): its config, weights and logged history come from there.
    pub fn opening(&self, checkpoint: PathBuf) -> Self {
        Self {
            checkpoint: Some(checkpoint),
            ..self.clone()
        }
    }

    /// These settings on a fresh agent of the training config at `config`, or what is wrong
    /// with the file (where, and how to fix it).
    pub fn new_run(&self, config: &std::path::Path) -> Result<Self, crate::config::ConfigError> {
        let train = TrainConfig::load(config)?;
        Ok(Self {
            train,
            checkpoint: None,
            ..self.clone()
        })
    }
}

/// What the streamed episodes are played on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShowLevels {
    /// Fresh mazes from the training distribution.
    Training,
    /// Fresh mazes from the shifted (test) distribution.
    Shifted,
    /// One layout (ghost agents in one maze; playtest of an edited level).
    Fixed(Layout),
    /// Mazes from a level file (the app's level library): its layout, or mazes drawn from its
    /// distribution or mixture.
    Source(Box<crate::level::LevelSource>),
}

/// Commands from the front end; applied between iterations (never mid-update).
#[derive(Clone, Debug)]
pub enum Command {
    /// Train continuously.
    Run,
    Pause,
    /// One iteration, then pause.
    Step,
    /// Choose what streamed episodes are played on.
    Show(ShowLevels),
    /// Play the current policy in this layout now (the editor's playtest).
    Playtest(Layout),
    /// Start an LLM feedback round on the paused agent.
    BeginFeedbackRound,
    /// Keep (true) or drop each proposed scenario, in the order they were shown.
    ReviewScenarios(Vec<bool>),
    /// Replace the judge's label of pair `pair` (`Some(mu_first)`), or restore it (`None`).
    OverrideLabel {
        pair: usize,
        mu_first: Option<f32>,
    },
    /// Fit the reward model on the (possibly overridden) labels.
    TrainRewardModel,
    /// Resume PPO with R' from the paused agent.
    StartFineTuning,
    /// Play the agent frozen at the round's start and the current one on the same `count` mazes.
    CompareWithBaseline {
        count: usize,
    },
    SetLambda(f32),
    /// Which arm the next fine-tuning runs.
    SetArm(Arm),
    /// The arms trained beside the fine-tuned one when it ends (see
    /// [`SessionSettings::controls`]).
    SetControls(Vec<Arm>),
    /// Play two agents on the same shifted mazes: `count` mazes side by side for the stage, and
    /// the rates of both on [`COMPARE_EPISODES`] more with McNemar's test.
    Compare {
        agents: [AgentRef; 2],
        count: usize,
    },
    /// Evaluate the current agent on both distributions now.
    Evaluate,
    /// Start over with new settings.
    Reset(Box<SessionSettings>),
    Shutdown,
}

/// Test mazes each agent of a [`Command::Compare`] is evaluated on.
pub const COMPARE_EPISODES: usize = 300;

/// An agent to compare: the session's own, or one saved in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentRef {
    Live,
    /// A run folder (its newest checkpoint) or a checkpoint folder.
    Checkpoint(PathBuf),
}

/// Two agents on the same mazes ([`Command::Compare`]).
#[derive(Clone, Debug)]
pub struct ComparisonView {
    /// The two agents as asked, left then right: whoever asked (the window, a timed command)
    /// shows these, so the picker, the stage and the chart name the same side the same way.
    pub agents: [AgentRef; 2],
    /// What each agent is, e.g. "live agent (step 12288)" or "corner-7x7 (step 2498560)" (the
    /// run folder's name).
    pub names: [String; 2],
    /// The mazes played side by side: each pair is one maze.
    pub pairs: Vec<(Rollout, Rollout)>,
    /// Each agent's outcomes on the same test mazes.
    pub outcomes: [crate::experiment::round::ArmOutcome; 2],
    /// McNemar's test of reaching the cheese first, the first agent vs the second.
    pub cheese_test: crate::sim::McNemar,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Paused,
    Training,
    /// The judge reads rollouts of the paused agent.
    Analysing,
    /// Waiting for the scenarios to be accepted or rejected.
    ReviewScenarios,
    /// Rollouts in the scenarios and pairwise judging.
    Labelling,
    /// Waiting for the labels to be reviewed (overrides) before the reward model trains.
    ReviewLabels,
    TrainingRewardModel,
    /// The reward model is ready; fine-tuning has not started.
    RewardModelReady,
    /// PPO resumed as the chosen arm says (R' = lambda * R_hat + (1 - lambda) * R for the
    /// arms that use the reward model).
    FineTuning,
    /// The fine-tuned arm is done; the control arms train from the same paused agent.
    Controls,
    /// All configured timesteps are done.
    Finished,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Paused => "paused",
            Phase::Training => "training with the env reward",
            Phase::Analysing => "the judge is analysing rollouts",
            Phase::ReviewScenarios => "review the proposed scenarios",
            Phase::Labelling => "the judge is comparing pairs",
            Phase::ReviewLabels => "review the labels",
            Phase::TrainingRewardModel => "training the reward model",
            Phase::RewardModelReady => "reward model ready",
            Phase::FineTuning => "fine-tuning",
            Phase::Controls => "training the control arms",
            Phase::Finished => "finished",
        }
    }
}

/// Which agent an episode batch shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpisodeSource {
    /// The agent being trained.
    Current,
    /// The agent frozen when the feedback round began, beside [`EpisodeSource::Tuned`].
    Baseline,
    /// The current agent on the same mazes as the [`EpisodeSource::Baseline`] batch sent with it.
    Tuned,
    /// The current agent in a level from the editor.
    Playtest,
}

/// Episodes to play back in the scene.
#[derive(Clone, Debug)]
pub struct EpisodeBatch {
    pub source: EpisodeSource,
    pub global_step: u64,
    pub episodes: Vec<Rollout>,
}

/// The policy's preferred move in every free cell of one layout (the mouse placed there).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyField {
    pub layout: Layout,
    /// Row-major; None on walls.
    pub preferred: Vec<Option<(Action, f32)>>,
}

/// The learned reward per free cell, in the form PPO uses it (see `RewardModel::heatmap`).
#[derive(Clone, Debug, PartialEq)]
pub struct RewardField {
    pub layout: Layout,
    pub values: Vec<Option<f32>>,
}

/// One evaluation point on both distributions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    pub global_step: u64,
    pub train: OutcomeSummary,
    pub shifted: OutcomeSummary,
}

/// A proposed scenario as shown for review.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioView {
    pub title: String,
    pub spec: crate::level::DistributionSpec,
}

/// The judge's reading of the paused agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisView {
    /// Which kind of judge read the rollouts.
    pub kind: crate::llm::JudgeKind,
    /// The judge's backend and model, e.g. `http:llama3.1:8b`.
    pub judge: String,
    pub text: String,
    pub failure_modes: Vec<String>,
    pub scenarios: Vec<ScenarioView>,
    pub rejected: Vec<String>,
    /// What the judge said the agent pursues.
    pub diagnosis: crate::llm::Diagnosis,
    /// The judge's controlled agreement measured by `judge-eval` (None: never measured).
    pub judge_agreement: Option<f64>,
    /// The episodes the judge read: on the training mazes and the probes.
    pub shown: crate::llm::Episodes,
}

/// One judged pair with both rollouts, for side-by-side replay.
#[derive(Clone, Debug)]
pub struct LabelView {
    pub index: usize,
    pub first: Rollout,
    pub second: Rollout,
    pub label: LabeledPair,
}

/// The fine-tuning under way.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuningView {
    pub arm: Arm,
    /// Name of the level source PPO now draws from (the mix, for arms that use scenarios).
    pub levels: String,
    /// The env step fine-tuning stops at.
    pub until_step: u64,
}

/// Everything the trainer reports.
#[derive(Clone, Debug)]
pub enum Event {
    Phase(Phase),
    /// The loaded checkpoint's run as logged up to the checkpoint (its `metrics.jsonl`), sent
    /// once when a session starts from a checkpoint; live iterations follow it.
    History(Box<crate::rl::metrics::History>),
    Iteration(Box<IterationMetrics>),
    Evaluation(Box<EvalPoint>),
    Episodes(EpisodeBatch),
    PolicyField(Box<PolicyField>),
    RewardField(Box<RewardField>),
    Analysis(Box<AnalysisView>),
    Label(Box<LabelView>),
    RoundStats(Box<JudgeStats>),
    RewardModel(Box<RewardReport>),
    /// Fine-tuning started: which arm, on which levels.
    FineTuning(Box<FineTuningView>),
    /// Fine-tuning reached its budget: the agent of the round's start and the fine-tuned one on
    /// the same shifted mazes, with McNemar's test.
    BeforeAfter(Box<BeforeAfter>),
    /// Two agents compared on the same mazes ([`Command::Compare`]).
    Comparison(Box<ComparisonView>),
    /// A line for the status bar.
    Status(String),
    /// Something went wrong; the session goes on (shown in the panel, not only the log).
    Error(String),
}

impl Event {
    /// Streaming events may be dropped when the front end is behind; the rest are kept.
    pub fn is_lossy(&self) -> bool {
        matches!(
            self,
            Event::Iteration(_) | Event::PolicyField(_) | Event::Status(_)
        ) || matches!(self, Event::Episodes(b) if b.source == EpisodeSource::Current)
    }
}
