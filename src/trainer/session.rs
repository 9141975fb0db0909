//! One training session on the trainer thread: its state, the command loop, PPO iterations with
//! metrics, evaluations and streamed episodes, playtests.

use super::feedback::Round;
use super::*;
use crate::experiment::arm::Arm;
use crate::experiment::rollouts::collect_rollouts;
use crate::level::{Layout, LevelSource};
use crate::llm::CachedJudge;
use crate::reward::RewardModel;
use crate::rl::checkpoint;
use crate::rl::{DeviceChoice, MetricsLog, Policy, Trainer, evaluate};
use crate::rng::{Rng, derive_seed, streams};
use burn::tensor::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One training session: the trainer, its levels, the feedback round in progress and what the
/// front end is shown.
pub(super) struct Session {
    pub(super) settings: SessionSettings,
    pub(super) device: Device,
    pub(super) trainer: Trainer,
    pub(super) training_levels: LevelSource,
    pub(super) shifted_levels: LevelSource,
    pub(super) phase: Phase,
    /// Run one iteration, then pause.
    pub(super) single_step: bool,
    pub(super) show: ShowLevels,
    pub(super) rng: Rng,
    pub(super) last_show: Option<Instant>,
    pub(super) judge: Option<CachedJudge>,
    pub(super) round: Round,
    pub(super) reward_model: Option<Arc<RewardModel>>,
    /// The agent as it was when the latest round began.
    pub(super) baseline: Option<Policy>,
    /// The arm being fine-tuned, until its before/after table is sent.
    pub(super) tuning: Option<Arm>,
    /// The agent as it was when the latest round began, saved for the control arms (only when
    /// controls are configured).
    pub(super) paused_checkpoint: Option<tempfile::TempDir>,
    pub(super) metrics_log: Option<MetricsLog>,
    /// Commands that arrived while a round was busy, applied next.
    pub(super) deferred: VecDeque<Command>,
}

/// What the command loop does next.
pub(super) enum Flow {
    Continue,
    Stop,
}

/// The thread's loop: commands in, events out, until told to stop.
pub(super) fn run(settings: SessionSettings, commands: Receiver<Command>, mut out: Outbox) {
    let mut session = Session::new(settings, &mut out);
    loop {
        let busy = session.as_ref().is_some_and(Session::is_running);
        let deferred = session.as_mut().and_then(|s| s.deferred.pop_front());
        let command = if deferred.is_some() {
            deferred
        } else if busy {
            match commands.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match commands.recv_timeout(Duration::from_millis(50)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        if let Some(command) = command {
            let flow = match (command, session.as_mut()) {
                (Command::Shutdown, _) => Flow::Stop,
                (Command::Reset(settings), _) => {
                    // Settings that do not start (a bad checkpoint or level file) leave the
                    // running session as it was.
                    match Session::new(*settings, &mut out) {
                        Some(new) => session = Some(new),
                        None if session.is_some() => out.send(Event::Status(
                            "the new settings did not start; the current session goes on".into(),
                        )),
                        None => {}
                    }
                    Flow::Continue
                }
                (command, Some(s)) => s.handle(command, &commands, &mut out),
                (_, None) => {
                    out.send(Event::Error(
                        "no session is running: fix the settings and start again".into(),
                    ));
                    Flow::Continue
                }
            };
            if let Flow::Stop = flow {
                return;
            }
        }
        if let Some(s) = session.as_mut()
            && s.is_running()
            && let Flow::Stop = s.iterate(&commands, &mut out)
        {
            return;
        }
        out.flush();
    }
}

impl Session {
    pub(super) fn new(settings: SessionSettings, out: &mut Outbox) -> Option<Self> {
        match Self::try_new(settings) {
            Ok(mut s) => {
                out.send(Event::Status(format!(
                    "ready: {} (region {}), seed {}",
                    s.training_levels.name(),
                    s.trainer
                        .config
                        .region
                        .map_or("from the file".to_string(), |r| r.to_string()),
                    s.trainer.config.seed
                )));
                out.send(Event::Phase(s.phase));
                if let Some(path) = &s.settings.checkpoint {
                    out.send(Event::History(Box::new(s.history(path))));
                }
                s.stream(out);
                if s.settings.checkpoint.is_some() {
                    // A loaded agent's rates are known from the first frame on.
                    s.evaluate(out);
                }
                Some(s)
            }
            Err(e) => {
                out.send(Event::Error(e.to_string()));
                None
            }
        }
    }

    pub(super) fn try_new(settings: SessionSettings) -> Result<Self, TrainerError> {
        let device = DeviceChoice::Cpu.device()?;
        let trainer = match &settings.checkpoint {
            Some(path) => checkpoint::resume(path, &device, &[])?,
            None => Trainer::new(settings.train.clone(), &device)?,
        };
        let training_levels = trainer.config.training_levels()?;
        let shifted_levels = trainer.config.shifted_levels()?;
        let rng = Rng::new(derive_seed(
            trainer.config.seed,
            streams::run::SHOWN_EPISODES,
        ));
        let metrics_log = match &settings.metrics_log {
            Some(path) => Some(
                MetricsLog::resume(path, u64::MAX)
                    .map_err(|e| TrainerError::Metrics(crate::errors::chain_text(&e)))?
                    .with_wall_clock(),
            ),
            None => None,
        };
        Ok(Self {
            metrics_log,
            deferred: VecDeque::new(),
            settings,
            device,
            trainer,
            training_levels,
            shifted_levels,
            phase: Phase::Paused,
            single_step: false,
            show: ShowLevels::Training,
            rng,
            last_show: None,
            judge: None,
            round: Round::default(),
            reward_model: None,
            baseline: None,
            tuning: None,
            paused_checkpoint: None,
        })
    }

    /// The loaded checkpoint's run history: the `metrics.jsonl` of the run folder holding the
    /// checkpoint (or of the folder itself), up to the checkpoint's iteration.
    fn history(&self, path: &std::path::Path) -> crate::rl::metrics::History {
        let dir = checkpoint::resolve(path).unwrap_or_else(|_| path.to_path_buf());
        let in_run = dir
            .parent()
            .filter(|run| run.join(checkpoint::LATEST).is_file());
        let run = in_run.unwrap_or(&dir);
        crate::rl::metrics::read_history(run, self.trainer.state.iteration)
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Training | Phase::FineTuning)
    }

    pub(super) fn set_phase(&mut self, phase: Phase, out: &mut Outbox) {
        self.phase = phase;
        out.send(Event::Phase(phase));
    }

    pub(super) fn handle(
        &mut self,
        command: Command,
        commands: &Receiver<Command>,
        out: &mut Outbox,
    ) -> Flow {
        match command {
            Command::Run | Command::Step => {
                self.single_step = matches!(command, Command::Step);
                match self.phase {
                    Phase::Paused | Phase::Training | Phase::FineTuning => {
                        let phase = if self.trainer.shaping.is_some() {
                            Phase::FineTuning
                        } else {
                            Phase::Training
                        };
                        self.set_phase(phase, out);
                    }
                    Phase::Finished => out.send(Event::Status(
                        "all configured timesteps are done: start a feedback round or reset".into(),
                    )),
                    other => out.send(Event::Status(format!(
                        "cannot train now: {}",
                        other.label()
                    ))),
                }
            }
            Command::Pause => {
                if self.is_running() {
                    self.set_phase(Phase::Paused, out);
                }
            }
            Command::Show(levels) => {
                let size = self.training_levels.world_size();
                if let ShowLevels::Source(source) = &levels
                    && source.world_size() != size
                {
                    out.send(Event::Error(format!(
                        "`{}` has {1}x{1} worlds and this agent sees {size}x{size}: open a level \
                         of its size, or resize it in the editor",
                        source.name(),
                        source.world_size()
                    )));
                    return Flow::Continue;
                }
                self.show = levels;
                self.stream(out);
            }
            Command::Playtest(layout) => self.playtest(layout, out),
            Command::BeginFeedbackRound => return self.begin_round(commands, out),
            Command::ReviewScenarios(accepted) => {
                if self.phase == Phase::ReviewScenarios {
                    return self.label(&accepted, commands, out);
                }
                out.send(Event::Status("no scenarios are waiting for review".into()));
            }
            Command::OverrideLabel { pair, mu_first } => match self.round.overrides.get_mut(pair) {
                Some(slot) => *slot = mu_first.map(|m| m.clamp(0.0, 1.0)),
                None => out.send(Event::Error(format!(
                    "there is no pair {pair} in this round ({} pairs)",
                    self.round.labels.len()
                ))),
            },
            Command::TrainRewardModel => {
                if self.round.labels.is_empty() {
                    out.send(Event::Error(
                        "no labels yet: run a feedback round first".into(),
                    ));
                } else {
                    self.train_reward_model(out);
                }
            }
            Command::StartFineTuning => self.start_fine_tuning(out),
            Command::CompareWithBaseline { count } => self.compare_with_baseline(count, out),
            Command::Compare { agents, count } => self.compare(&agents, count, out),
            Command::Evaluate => self.evaluate(out),
            Command::SetArm(arm) => self.settings.arm = arm,
            Command::SetControls(arms) => self.settings.controls = arms,
            Command::SetLambda(lambda) => {
                self.settings.round.lambda = lambda.clamp(0.0, 1.0);
                if let Some(shaping) = &mut self.trainer.shaping {
                    shaping.lambda = self.settings.round.lambda;
                }
            }
            Command::Reset(_) | Command::Shutdown => {}
        }
        Flow::Continue
    }

    /// One PPO iteration, with metrics, periodic evaluation and streamed episodes; when a
    /// fine-tuned arm ends, its before/after table (with the control arms, trained here, which
    /// only a shutdown interrupts).
    pub(super) fn iterate(&mut self, commands: &Receiver<Command>, out: &mut Outbox) -> Flow {
        if self.trainer.finished() {
            self.set_phase(Phase::Finished, out);
            return Flow::Continue;
        }
        let metrics = self.trainer.iterate();
        if let Some(log) = &mut self.metrics_log
            && let Err(e) = log.append(&metrics)
        {
            out.send(Event::Error(format!(
                "metrics log: {}",
                crate::errors::chain_text(&e)
            )));
            self.metrics_log = None;
        }
        out.send(Event::Iteration(Box::new(metrics)));
        if self
            .trainer
            .state
            .iteration
            .is_multiple_of(self.settings.eval_every.max(1))
            || self.trainer.finished()
        {
            self.evaluate(out);
        }
        let due = self
            .last_show
            .is_none_or(|t| t.elapsed().as_secs_f64() >= self.settings.show_interval_s);
        if due {
            self.stream(out);
        }
        if self.trainer.finished()
            && let Some(arm) = self.tuning.take()
            && let Flow::Stop = self.send_before_after(arm, commands, out)
        {
            return Flow::Stop;
        }
        if self.single_step {
            self.single_step = false;
            self.set_phase(Phase::Paused, out);
        } else if self.trainer.finished() {
            self.set_phase(Phase::Finished, out);
        }
        Flow::Continue
    }

    pub(super) fn evaluate(&mut self, out: &mut Outbox) {
        let policy = self.trainer.policy();
        let seed = derive_seed(self.trainer.config.seed, streams::run::LIVE_EVALUATION);
        let max_steps = self.trainer.config.max_steps;
        let n = self.settings.eval_episodes;
        let (train, _) = evaluate(&policy, &self.training_levels, n, seed, max_steps);
        let (shifted, _) = evaluate(&policy, &self.shifted_levels, n, seed, max_steps);
        out.send(Event::Evaluation(Box::new(EvalPoint {
            global_step: self.trainer.state.global_step,
            train,
            shifted,
        })));
    }

    pub(super) fn show_source(&self) -> LevelSource {
        match &self.show {
            ShowLevels::Training => self.training_levels.clone(),
            ShowLevels::Shifted => self.shifted_levels.clone(),
            ShowLevels::Fixed(layout) => LevelSource::Fixed {
                name: "shown".into(),
                layout: layout.clone(),
            },
            ShowLevels::Source(source) => (**source).clone(),
        }
    }

    /// Streams episodes of the current policy and its vector field.
    pub(super) fn stream(&mut self, out: &mut Outbox) {
        self.last_show = Some(Instant::now());
        let source = self.show_source();
        self.play(&source, EpisodeSource::Current, out);
    }

    pub(super) fn playtest(&mut self, layout: Layout, out: &mut Outbox) {
        if layout.size != self.training_levels.world_size() {
            out.send(Event::Error(format!(
                "this agent sees {0}x{0} worlds; the edited level is {1}x{1} (resize it to {0})",
                self.training_levels.world_size(),
                layout.size
            )));
            return;
        }
        let source = LevelSource::Fixed {
            name: "playtest".into(),
            layout,
        };
        self.play(&source, EpisodeSource::Playtest, out);
    }

    /// Plays the current policy on `source` and sends the episodes, tagged `tag`, with the
    /// policy's vector field (and the learned reward, once there is one) on the first maze.
    pub(super) fn play(&mut self, source: &LevelSource, tag: EpisodeSource, out: &mut Outbox) {
        let policy = self.trainer.policy();
        let episodes = collect_rollouts(
            &policy,
            source,
            self.settings.show_episodes.max(1),
            self.rng.next_u64(),
            self.trainer.config.max_steps,
        );
        if let Some(first) = episodes.first() {
            let layout = first.layout.clone();
            out.send(Event::PolicyField(Box::new(PolicyField {
                preferred: policy.preferred_moves(&layout),
                layout: layout.clone(),
            })));
            if let Some(model) = &self.reward_model
                && model.world_size() == layout.size
            {
                out.send(Event::RewardField(Box::new(RewardField {
                    values: model.heatmap(&layout),
                    layout,
                })));
            }
        }
        out.send(Event::Episodes(EpisodeBatch {
            source: tag,
            global_step: self.trainer.state.global_step,
            episodes,
        }));
    }
}
