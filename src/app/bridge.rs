//! The bridge to the trainer thread: drains its events each frame (never blocking, a bounded
//! number per frame) into resources and messages, and forwards commands the app writes.

use super::AppSystems;
use crate::experiment::preferences::JudgeStats;
use crate::reward::RewardReport;
use crate::rl::IterationMetrics;
use crate::trainer::{
    AnalysisView, BeforeAfter, Command, EpisodeBatch, EvalPoint, Event, FineTuningView, LabelView,
    Phase, PolicyField, RewardField, SessionSettings, TrainerHandle,
};
use bevy::prelude::*;
use std::collections::VecDeque;

/// Most events taken from the channel in one frame; the rest wait for the next frame.
pub const EVENTS_PER_FRAME: usize = 512;
/// Iteration metrics kept for the plots.
const HISTORY: usize = 4000;

pub(super) fn plugin(app: &mut App) {
    app.add_message::<SendCommand>()
        .add_message::<EpisodesArrived>()
        .init_resource::<TrainingLog>()
        .init_resource::<RoundLog>()
        .init_resource::<Comparisons>()
        .init_resource::<Fields>()
        .init_resource::<Notices>()
        .init_resource::<JudgeNote>()
        .add_systems(
            Update,
            (
                receive_trainer_events.in_set(AppSystems::ReceiveEvents),
                forward_commands.in_set(AppSystems::Present),
            ),
        );
}

/// The running trainer.
#[derive(Resource)]
pub struct TrainerLink {
    pub handle: TrainerHandle,
}

impl TrainerLink {
    pub fn new(handle: TrainerHandle) -> Self {
        Self { handle }
    }
}

/// The settings the panel edits before a restart.
#[derive(Resource, Clone, Debug)]
pub struct SessionDraft {
    pub settings: SessionSettings,
}

impl SessionDraft {
    pub fn new(settings: SessionSettings) -> Self {
        Self { settings }
    }
}

/// A command for the trainer, written by panels, keys, the editor or the demo.
#[derive(Message, Clone, Debug)]
pub struct SendCommand(pub Command);

/// Episodes streamed by the trainer, for the scene to play.
#[derive(Message, Clone, Debug)]
pub struct EpisodesArrived(pub EpisodeBatch);

/// The training run as the panels show it.
#[derive(Resource, Default, Debug)]
pub struct TrainingLog {
    pub phase: Option<Phase>,
    pub iterations: VecDeque<IterationMetrics>,
    pub evaluations: Vec<EvalPoint>,
    pub status: String,
    /// Where the plotted history came from (a loaded run's log, or why there is none).
    pub history_note: Option<String>,
    /// Events received since the app started.
    pub events: u64,
}

impl TrainingLog {
    pub fn latest(&self) -> Option<&IterationMetrics> {
        self.iterations.back()
    }
}

/// The latest comparison of two agents (the compare window).
#[derive(Resource, Default, Debug)]
pub struct Comparisons {
    pub latest: Option<crate::trainer::ComparisonView>,
    /// Comparisons received since the app started (tells a new one from the last).
    pub received: u64,
}

/// The latest feedback round.
#[derive(Resource, Default, Debug)]
pub struct RoundLog {
    pub analysis: Option<AnalysisView>,
    /// The reviewer's choice per proposed scenario.
    pub accepted: Vec<bool>,
    pub labels: Vec<LabelView>,
    /// A person's label per pair (None: the judge's stands).
    pub overrides: Vec<Option<f32>>,
    pub stats: Option<JudgeStats>,
    pub reward: Option<RewardReport>,
    /// The fine-tuning under way (which arm, on which levels).
    pub fine_tuning: Option<FineTuningView>,
    /// The round's agent and the fine-tuned one on the same shifted mazes, once fine-tuning ends.
    pub before_after: Option<BeforeAfter>,
    /// Analyses received since the app started (tells a new round from the last one).
    pub rounds: u64,
}

/// Why the scripted oracle labels the pairs when the embedded judge was the default (its model
/// is missing); None when the chosen judge does.
#[derive(Resource, Default, Debug)]
pub struct JudgeNote(pub Option<String>);

/// The overlays' data.
#[derive(Resource, Default, Debug)]
pub struct Fields {
    pub policy: Option<PolicyField>,
    pub reward: Option<RewardField>,
}

/// Errors and notes for the panel (not only the log).
#[derive(Resource, Default, Debug)]
pub struct Notices {
    pub errors: Vec<String>,
}

impl Notices {
    pub fn error(&mut self, message: impl Into<String>) {
        let message = message.into();
        warn!("{message}");
        self.errors.push(message);
        if self.errors.len() > 20 {
            self.errors.remove(0);
        }
    }
}

/// Takes what the trainer sent since the last frame, without ever waiting for it.
pub fn receive_trainer_events(
    link: Option<Res<TrainerLink>>,
    mut log: ResMut<TrainingLog>,
    mut round: ResMut<RoundLog>,
    mut fields: ResMut<Fields>,
    mut notices: ResMut<Notices>,
    mut comparisons: ResMut<Comparisons>,
    mut episodes: MessageWriter<EpisodesArrived>,
) {
    let Some(link) = link else {
        return;
    };
    for event in link.handle.try_events().take(EVENTS_PER_FRAME) {
        log.events += 1;
        match event {
            Event::Phase(p) => log.phase = Some(p),
            Event::History(h) => {
                let from = h.iterations.len().saturating_sub(HISTORY);
                log.iterations = h.iterations[from..].iter().cloned().collect();
                log.evaluations.clear();
                log.history_note = Some(h.note.unwrap_or_else(|| {
                    format!(
                        "the run's history: {} logged iterations",
                        h.iterations.len()
                    )
                }));
            }
            Event::Iteration(m) => {
                log.iterations.push_back(*m);
                if log.iterations.len() > HISTORY {
                    log.iterations.pop_front();
                }
            }
            Event::Evaluation(e) => log.evaluations.push(*e),
            Event::Episodes(batch) => {
                episodes.write(EpisodesArrived(batch));
            }
            Event::PolicyField(f) => fields.policy = Some(*f),
            Event::RewardField(f) => fields.reward = Some(*f),
            Event::Analysis(a) => {
                *round = RoundLog {
                    accepted: vec![true; a.scenarios.len()],
                    analysis: Some(*a),
                    rounds: round.rounds + 1,
                    ..RoundLog::default()
                };
            }
            Event::Label(l) => {
                round.labels.push(*l);
                round.overrides.push(None);
            }
            Event::RoundStats(s) => round.stats = Some(*s),
            Event::RewardModel(r) => round.reward = Some(*r),
            Event::FineTuning(f) => round.fine_tuning = Some(*f),
            Event::BeforeAfter(t) => round.before_after = Some(*t),
            Event::Comparison(c) => {
                comparisons.latest = Some(*c);
                comparisons.received += 1;
            }
            Event::Status(s) => log.status = s,
            Event::Error(e) => notices.error(e),
        }
    }
}

/// Sends the commands written this frame; a full queue becomes a notice, never a wait.
pub fn forward_commands(
    link: Option<Res<TrainerLink>>,
    mut commands: MessageReader<SendCommand>,
    mut notices: ResMut<Notices>,
) {
    for SendCommand(command) in commands.read() {
        match &link {
            Some(link) => {
                if let Err(e) = link.handle.send(command.clone()) {
                    notices.error(e.to_string());
                }
            }
            None => notices.error("no trainer is running"),
        }
    }
}
