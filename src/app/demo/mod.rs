//! Demo mode: the story as captioned steps — the agent learns the corner, fails on shifted mazes,
//! the judge reads its rollouts and compares pairs, a reward model is fitted, fine-tuning runs,
//! and the agents before and after are shown side by side. Right/Space/Enter advance, Left goes
//! back, F toggles full screen; `--auto` advances by itself and reports how long each stage took.

use super::bridge::{JudgeNote, RoundLog, SendCommand, TrainingLog};
use super::fine_tune_panel::rate_text;
use super::round_panel::reliability;
use super::scene::{Arrangement, Playback, Stage, single};
use super::{AppSystems, Mode};
use crate::llm::JudgeSpec;
use crate::trainer::{BeforeAfter, Command, EvalPoint, Phase, ShowLevels};
use bevy::prelude::*;
use bevy::window::{MonitorSelection, PrimaryWindow, WindowMode};
use bevy_egui::egui::{self, Color32, RichText};
use serde::Serialize;
use std::path::PathBuf;

mod caption;
pub(super) use caption::{DemoView, caption, caption_height, controls};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<DemoOptions>()
        .init_resource::<DemoState>()
        .add_systems(OnEnter(Mode::Demo), start_demo)
        .add_systems(
            Update,
            (
                demo_keys.in_set(AppSystems::RecordInput),
                run_demo_step.in_set(AppSystems::Update),
            )
                .run_if(in_state(Mode::Demo)),
        );
}

/// How the demo runs.
#[derive(Resource, Clone, Debug, Default)]
pub struct DemoOptions {
    /// Advance without key presses when each step's work is done.
    pub auto: bool,
    /// Write the report (stage timings, judge, before/after) here when the demo ends.
    pub report: Option<PathBuf>,
    /// With `auto`: a screenshot of every step, just before it ends, into this folder.
    pub shots: Option<PathBuf>,
    /// The demo starts from a trained agent (a checkpoint): the training step shows it without
    /// training further, so fine-tuning gets the budget the checkpoint left.
    pub trained: bool,
    /// Who labels the pairs.
    pub judge: DemoJudge,
}

/// The judge of the demo's round, as its report and captions name it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DemoJudge {
    /// `oracle`, `http` or `embedded`.
    pub backend: String,
    /// The model (for the oracle: its noise and position bias).
    pub model: String,
    /// Why the oracle stands in for the embedded judge (its model is missing); None otherwise.
    /// Filled from [`JudgeNote`] when the report is written.
    pub note: Option<String>,
}

impl DemoJudge {
    pub fn of(judge: &JudgeSpec) -> Self {
        let model = match judge {
            JudgeSpec::Oracle(o) => format!(
                "scripted (noise {}, position bias {})",
                o.noise, o.position_bias
            ),
            JudgeSpec::Http(h) => h.model.clone(),
            JudgeSpec::Human => "a person at the terminal".into(),
            JudgeSpec::Random | JudgeSpec::RandomAnswers => judge.label(),
            #[cfg(feature = "embedded")]
            JudgeSpec::Embedded(e) => e.describe(),
        };
        Self {
            backend: judge.name().into(),
            model,
            note: None,
        }
    }
}

/// The steps of the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DemoStep {
    Title,
    Training,
    Shifted,
    Analysis,
    Labels,
    RewardModel,
    FineTuning,
    BeforeAfter,
    End,
}

pub const STEPS: [DemoStep; 9] = [
    DemoStep::Title,
    DemoStep::Training,
    DemoStep::Shifted,
    DemoStep::Analysis,
    DemoStep::Labels,
    DemoStep::RewardModel,
    DemoStep::FineTuning,
    DemoStep::BeforeAfter,
    DemoStep::End,
];

impl DemoStep {
    pub fn title(self) -> &'static str {
        match self {
            DemoStep::Title => "An agent that learns the wrong goal",
            DemoStep::Training => "1. Training: the cheese is always in the top-right corner",
            DemoStep::Shifted => "2. Test: the cheese can be anywhere",
            DemoStep::Analysis => "3. An LLM judge reads the agent's rollouts",
            DemoStep::Labels => "4. The judge compares pairs of rollouts, in both orders",
            DemoStep::RewardModel => "5. A reward model learns from the preferences",
            DemoStep::FineTuning => "6. PPO resumes with the learned reward, in the judge's mazes",
            DemoStep::BeforeAfter => "7. Before and after, beside the same tuning without the LLM",
            DemoStep::End => "The end",
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            DemoStep::Title => {
                "A mouse must find the cheese. During training the cheese always sits in the \
                 top-right corner (red marker), so 'go to the corner' and 'go to the \
                 cheese' earn exactly the same reward. Which one does it learn?"
            }
            DemoStep::Training => {
                "PPO on mazes whose cheese is always in the corner. The agent gets very good \
                 at this."
            }
            DemoStep::Shifted => {
                "Now the cheese moves. The agent still runs to the corner: it learned the \
                 proxy goal. This is goal misgeneralization."
            }
            DemoStep::Analysis => {
                "The judge reads the agent's episodes as text (maze, path, events): on its own \
                 training mazes and on new mazes with the cheese anywhere. It names the failure \
                 and proposes new environments from a fixed menu."
            }
            DemoStep::Labels => {
                "The agent is rolled out in those environments. Each pair is shown to the judge \
                 twice, in both orders, and the answers are averaged (position bias cancels)."
            }
            DemoStep::RewardModel => {
                "A Bradley-Terry model turns the preferences into a reward for every move \
                 R_hat(s, s')."
            }
            DemoStep::FineTuning => {
                "PPO continues from where it paused, now with R' = lambda * R_hat + \
                 (1 - lambda) * R, and a share of its mazes come from the environments the \
                 judge proposed (the judge as environment designer)."
            }
            DemoStep::BeforeAfter => {
                "Left: before feedback. Right: after. Same mazes, same seeds. The chart adds \
                 controls tuned from the same agent for as long: random menu scenarios (what the \
                 judge's choice of mazes is worth) and the judge's scenarios without the learned \
                 reward (what the reward is worth)."
            }
            DemoStep::End => "Press Left to go back through the story.",
        }
    }
}

/// One finished stage and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    pub step: DemoStep,
    pub seconds: f64,
}

#[derive(Resource, Debug, Default)]
pub struct DemoState {
    /// Index into [`STEPS`].
    pub index: usize,
    /// Seconds (app time) when the current step was entered.
    pub entered_at: f64,
    /// The furthest step whose work has been started (work is never started twice).
    started_up_to: Option<usize>,
    pub timings: Vec<StageTime>,
    /// Evaluations seen when the step began (to wait for a fresh one).
    evaluations_at_entry: usize,
    pub finished: bool,
    /// Whether the judged pairs are on stage (the labels step shows them side by side).
    pairs_shown: bool,
    /// When the current step's screenshot was requested (it is rendered before moving on).
    shot_at: Option<f64>,
}

impl DemoState {
    pub fn step(&self) -> DemoStep {
        STEPS[self.index.min(STEPS.len() - 1)]
    }
}

fn start_demo(
    mut state: ResMut<DemoState>,
    mut playback: ResMut<Playback>,
    time: Res<Time>,
    log: Res<TrainingLog>,
) {
    *state = DemoState {
        entered_at: time.elapsed_secs_f64(),
        evaluations_at_entry: log.evaluations.len(),
        ..DemoState::default()
    };
    playback.arrangement = Arrangement::Grid;
    playback.agents = 4;
}

fn demo_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    mut state: ResMut<DemoState>,
    time: Res<Time>,
    log: Res<TrainingLog>,
    mut window: Query<&mut Window, With<PrimaryWindow>>,
) {
    let Some(keys) = keys else {
        return;
    };
    let forward = keys.any_just_pressed([KeyCode::ArrowRight, KeyCode::Space, KeyCode::Enter]);
    if forward {
        advance(&mut state, 1, time.elapsed_secs_f64(), &log);
    }
    if keys.just_pressed(KeyCode::ArrowLeft) {
        advance(&mut state, -1, time.elapsed_secs_f64(), &log);
    }
    if keys.just_pressed(KeyCode::KeyF) {
        for mut w in &mut window {
            w.mode = match w.mode {
                WindowMode::Windowed => WindowMode::BorderlessFullscreen(MonitorSelection::Current),
                _ => WindowMode::Windowed,
            };
        }
    }
}

/// Moves `by` steps (clamped), recording how long the step being left took.
pub fn advance(state: &mut DemoState, by: isize, now: f64, log: &TrainingLog) {
    let next = (state.index as isize + by).clamp(0, STEPS.len() as isize - 1) as usize;
    if next == state.index {
        return;
    }
    state.timings.push(StageTime {
        step: state.step(),
        seconds: now - state.entered_at,
    });
    state.index = next;
    state.entered_at = now;
    state.shot_at = None;
    state.evaluations_at_entry = log.evaluations.len();
}

/// Starts each step's work once, and (with `--auto`) advances when it is done.
#[allow(clippy::too_many_arguments)]
fn run_demo_step(
    mut state: ResMut<DemoState>,
    options: Res<DemoOptions>,
    time: Res<Time>,
    log: Res<TrainingLog>,
    round: Res<RoundLog>,
    judge_note: Res<JudgeNote>,
    mut stage: ResMut<Stage>,
    mut commands: MessageWriter<SendCommand>,
    mut exit: MessageWriter<super::record::RequestExit>,
    mut record: MessageWriter<super::record::Record>,
    captures: Res<super::record::Captures>,
) {
    let now = time.elapsed_secs_f64();
    let step = state.step();
    if state.started_up_to.is_none_or(|s| s < state.index) {
        state.started_up_to = Some(state.index);
        let mut send = |c: Command| {
            commands.write(SendCommand(c));
        };
        match step {
            DemoStep::Title => send(Command::Show(ShowLevels::Training)),
            DemoStep::Training => {
                send(Command::Show(ShowLevels::Training));
                // A trained agent is shown as it is: training on would spend the budget that
                // fine-tuning gets.
                if !options.trained {
                    send(Command::Run);
                }
            }
            DemoStep::Shifted => {
                send(Command::Pause);
                send(Command::Show(ShowLevels::Shifted));
                send(Command::Evaluate);
            }
            DemoStep::Analysis => send(Command::BeginFeedbackRound),
            DemoStep::Labels | DemoStep::RewardModel => {}
            DemoStep::FineTuning => send(Command::Run),
            DemoStep::BeforeAfter => {
                send(Command::Pause);
                send(Command::CompareWithBaseline {
                    count: super::COMPARISON_MAZES,
                });
            }
            DemoStep::End => {}
        }
    }
    if step == DemoStep::Labels && !state.pairs_shown && round.labels.len() >= 3 {
        state.pairs_shown = true;
        let slots = round
            .labels
            .iter()
            .take(3)
            .flat_map(|l| {
                let verdict = |first: bool| {
                    let p = if first {
                        l.label.mu_first
                    } else {
                        1.0 - l.label.mu_first
                    };
                    let name = if first { "A" } else { "B" };
                    format!("{name} · judge {:.0}%", 100.0 * p)
                };
                [
                    single(&l.first, &verdict(true)),
                    single(&l.second, &verdict(false)),
                ]
            })
            .collect();
        stage.show_in_columns(slots, 2);
    }
    let dwell = now - state.entered_at;
    let phase = log.phase;
    let fresh_eval = log.evaluations.len() > state.evaluations_at_entry;
    let done = match step {
        DemoStep::Title => dwell > 4.0,
        DemoStep::Training => {
            dwell > 6.0
                && (options.trained || matches!(phase, Some(Phase::Finished) | Some(Phase::Paused)))
        }
        DemoStep::Shifted => dwell > 8.0 && fresh_eval,
        DemoStep::Analysis => dwell > 6.0 && round.analysis.is_some(),
        DemoStep::Labels => dwell > 6.0 && round.stats.is_some(),
        DemoStep::RewardModel => dwell > 5.0 && round.reward.is_some(),
        DemoStep::FineTuning => dwell > 5.0 && round.before_after.is_some(),
        DemoStep::BeforeAfter => dwell > 12.0,
        DemoStep::End => dwell > 2.0,
    };
    if !options.auto || !done {
        return;
    }
    if let Some(dir) = &options.shots {
        match state.shot_at {
            None => {
                let name = format!("{:02}-{:?}.png", state.index, step).to_lowercase();
                record.write(super::record::Record::Screenshot(Some(dir.join(name))));
                state.shot_at = Some(now);
                return;
            }
            // The step stays on screen until its screenshot is written (at most a few seconds).
            Some(at) if now - at < 0.3 || (!captures.pending.is_empty() && now - at < 5.0) => {
                return;
            }
            Some(_) => {}
        }
    }
    if step == DemoStep::End {
        if !state.finished {
            state.finished = true;
            advance_final(&mut state, now);
            if let Some(path) = &options.report {
                write_report(
                    path,
                    &DemoReport {
                        stages: &state.timings,
                        total_seconds: state.timings.iter().map(|t| t.seconds).sum(),
                        judge: &DemoJudge {
                            note: judge_note.0.clone(),
                            ..options.judge.clone()
                        },
                        round: DemoRound::of(&round),
                        before_after: round.before_after.as_ref(),
                        evaluations: &log.evaluations,
                    },
                );
            }
            exit.write(super::record::RequestExit);
        }
    } else {
        advance(&mut state, 1, now, &log);
    }
}

fn advance_final(state: &mut DemoState, now: f64) {
    state.timings.push(StageTime {
        step: state.step(),
        seconds: now - state.entered_at,
    });
}

/// What `demo --report` writes (its fields are documented in the README's demo section).
#[derive(Serialize)]
struct DemoReport<'a> {
    /// Each step and how long it took.
    stages: &'a [StageTime],
    total_seconds: f64,
    /// Who labelled the pairs.
    judge: &'a DemoJudge,
    /// What the judge read and proposed (None if the round never started).
    round: Option<DemoRound>,
    /// The agent before the round and after fine-tuning on the same shifted mazes: rates with
    /// 95% intervals, each maze's outcome and McNemar's test (None if fine-tuning never ended).
    before_after: Option<&'a BeforeAfter>,
    /// Every evaluation point on both distributions.
    evaluations: &'a [EvalPoint],
}

/// The round's analysis as the demo report records it.
#[derive(Serialize)]
struct DemoRound {
    /// The judge's own words.
    analysis: String,
    /// What it said the agent pursues (`top_right`, ..., `none`, `unstated`).
    diagnosis: String,
    /// The proposals that change the mazes, and those the review kept.
    proposed: Vec<String>,
    accepted: Vec<String>,
    /// Rounds whose designer trained on the training mazes alone (the judge proposed nothing
    /// usable or everything was rejected): nothing stands in for the judge's choice.
    rounds_without_scenarios: usize,
}

impl DemoRound {
    fn of(round: &super::bridge::RoundLog) -> Option<Self> {
        let analysis = round.analysis.as_ref()?;
        let proposed: Vec<String> = analysis.scenarios.iter().map(|s| s.title.clone()).collect();
        let accepted: Vec<String> = proposed
            .iter()
            .zip(&round.accepted)
            .filter(|(_, keep)| **keep)
            .map(|(title, _)| title.clone())
            .collect();
        Some(Self {
            analysis: analysis.text.clone(),
            diagnosis: analysis.diagnosis.key().into(),
            rounds_without_scenarios: usize::from(accepted.is_empty()),
            proposed,
            accepted,
        })
    }
}

fn write_report(path: &std::path::Path, report: &DemoReport) {
    match serde_json::to_vec_pretty(report) {
        Ok(bytes) => {
            if let Err(e) = std::fs::write(path, bytes) {
                error!("{}: {e}", path.display());
            }
        }
        Err(e) => error!("demo report: {e}"),
    }
}
