//! The training thread: owns every piece of burn state and runs the paper's pipeline — PPO, the
//! LLM feedback round (analysis, scenario review, swap-averaged labels, label review), the reward
//! model and fine-tuning with R' — driven by [`Command`]s and reporting [`Event`]s over bounded
//! channels. It never waits on its front end: streaming events are dropped when the front end is
//! behind, the others wait in an outbox that is flushed without blocking.

pub mod protocol;

pub use protocol::{
    AnalysisView, BeforeAfter, Command, EpisodeBatch, EpisodeSource, EvalPoint, Event,
    FineTuningView, JudgeChoice, LabelView, Phase, PolicyField, RewardField, ScenarioView,
    SessionSettings, ShowLevels,
};

use crate::experiment::preferences::LabeledPair;
use crate::experiment::rollouts::collect_rollouts;
use crate::experiment::round::{self, Arm};
use crate::level::{DistributionSpec, Layout, LevelSource};
use crate::llm::http::HttpJudge;
use crate::llm::oracle::Oracle;
use crate::llm::{CachedJudge, Judge, LabelCache, Rollout, Scenario};
use crate::reward::RewardModel;
use crate::rl::checkpoint;
use crate::rl::{DeviceChoice, Policy, Trainer, evaluate};
use crate::rng::{Rng, derive_seed};
use burn::tensor::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events the front end may lag behind by before streaming events are dropped.
pub const EVENT_CAPACITY: usize = 256;
/// Commands queued before `send` reports the trainer as busy.
pub const COMMAND_CAPACITY: usize = 64;

/// The front end's side of a running trainer thread.
pub struct TrainerHandle {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// Starts the thread; set-up problems (bad level file, unreadable checkpoint) arrive as
    /// [`Event::Error`] and the thread waits for a [`Command::Reset`].
    pub fn spawn(settings: SessionSettings) -> Self {
        let (command_tx, command_rx) = crossbeam_channel::bounded(COMMAND_CAPACITY);
        let (event_tx, event_rx) = crossbeam_channel::bounded(EVENT_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("maze-rllf-trainer".into())
            .spawn(move || run(settings, command_rx, Outbox::new(event_tx)))
            .ok();
        Self {
            commands: command_tx,
            events: event_rx,
            thread,
        }
    }

    /// A handle over channels served by something other than the trainer thread (a scripted
    /// front end, tests).
    pub fn from_channels(commands: Sender<Command>, events: Receiver<Event>) -> Self {
        Self {
            commands,
            events,
            thread: None,
        }
    }

    /// Queues a command without blocking.
    pub fn send(&self, command: Command) -> Result<(), String> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => "the trainer is busy; try again in a moment".to_string(),
            TrySendError::Disconnected(_) => "the trainer thread has stopped".to_string(),
        })
    }

    /// Events that have arrived, without blocking.
    pub fn try_events(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.try_iter()
    }

    /// Waits up to `timeout` for the next event (for headless front ends and tests).
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Asks the thread to stop and waits for it up to `timeout`; false if it is still busy
    /// (e.g. inside a judge call), in which case it stops on its own afterwards.
    pub fn shutdown(&mut self, timeout: Duration) -> bool {
        let _ = self.commands.try_send(Command::Shutdown);
        let deadline = Instant::now() + timeout;
        while let Some(thread) = &self.thread {
            if thread.is_finished() {
                let _ = self.thread.take().map(JoinHandle::join);
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Drain so that a full outbox never holds the thread up.
            while self.events.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Shutdown);
    }
}

/// Sends events without ever blocking: streaming events are dropped when the channel is full,
/// the rest wait here until there is room.
struct Outbox {
    tx: Sender<Event>,
    pending: VecDeque<Event>,
    dropped: u64,
}

impl Outbox {
    fn new(tx: Sender<Event>) -> Self {
        Self {
            tx,
            pending: VecDeque::new(),
            dropped: 0,
        }
    }

    fn send(&mut self, event: Event) {
        self.flush();
        if event.is_lossy() {
            if !self.pending.is_empty() || self.tx.try_send(event).is_err() {
                self.dropped += 1;
            }
        } else {
            self.pending.push_back(event);
            self.flush();
        }
    }

    fn flush(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            match self.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.pending.push_front(event);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }
}

/// The work of one feedback round.
#[derive(Default)]
struct Round {
    number: u64,
    /// Proposed by the judge, then (after review) the accepted ones.
    scenarios: Vec<Scenario>,
    rollouts: Vec<Rollout>,
    labels: Vec<LabeledPair>,
    overrides: Vec<Option<f32>>,
}

impl Round {
    /// The labels the reward model learns from: the judge's, or a person's where overridden.
    fn effective_labels(&self) -> Vec<LabeledPair> {
        self.labels
            .iter()
            .zip(&self.overrides)
            .map(|(label, o)| LabeledPair {
                mu_first: o.unwrap_or(label.mu_first),
                ..label.clone()
            })
            .collect()
    }
}

struct Session {
    settings: SessionSettings,
    device: Device,
    trainer: Trainer,
    training_levels: LevelSource,
    shifted_levels: LevelSource,
    phase: Phase,
    /// Run one iteration, then pause.
    single_step: bool,
    show: ShowLevels,
    rng: Rng,
    last_show: Option<Instant>,
    judge: Option<CachedJudge>,
    round: Round,
    reward_model: Option<Arc<RewardModel>>,
    /// The agent as it was when the latest round began.
    baseline: Option<Policy>,
    /// The arm being fine-tuned, until its before/after table is sent.
    tuning: Option<Arm>,
    metrics_log: Option<std::io::BufWriter<std::fs::File>>,
    /// Commands that arrived while a round was busy, applied next.
    deferred: VecDeque<Command>,
    /// When the session started (wall-clock times in the metrics log count from here).
    started: Instant,
}

/// What the command loop does next.
enum Flow {
    Continue,
    Stop,
}

fn run(settings: SessionSettings, commands: Receiver<Command>, mut out: Outbox) {
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
                    session = Session::new(*settings, &mut out);
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
        {
            s.iterate(&mut out);
        }
        out.flush();
    }
}

impl Session {
    fn new(settings: SessionSettings, out: &mut Outbox) -> Option<Self> {
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
                s.stream(out);
                if s.settings.checkpoint.is_some() {
                    // A loaded agent's rates are known from the first frame on.
                    s.evaluate(out);
                }
                Some(s)
            }
            Err(e) => {
                out.send(Event::Error(e));
                None
            }
        }
    }

    fn try_new(settings: SessionSettings) -> Result<Self, String> {
        let device = DeviceChoice::Cpu.device()?;
        let trainer = match &settings.checkpoint {
            Some(path) => checkpoint::resume(path, &device, &[]).map_err(|e| e.to_string())?,
            None => Trainer::new(settings.train.clone(), &device).map_err(|e| e.to_string())?,
        };
        let training_levels = trainer
            .config
            .training_levels()
            .map_err(|e| e.to_string())?;
        let shifted_levels = trainer.config.shifted_levels().map_err(|e| e.to_string())?;
        let rng = Rng::new(derive_seed(trainer.config.seed, 0xA99));
        let metrics_log = match &settings.metrics_log {
            Some(path) => Some(std::io::BufWriter::new(
                crate::files::open_append(path).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        Ok(Self {
            metrics_log,
            deferred: VecDeque::new(),
            started: Instant::now(),
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
        })
    }

    fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Training | Phase::FineTuning)
    }

    fn set_phase(&mut self, phase: Phase, out: &mut Outbox) {
        self.phase = phase;
        out.send(Event::Phase(phase));
    }

    fn handle(&mut self, command: Command, commands: &Receiver<Command>, out: &mut Outbox) -> Flow {
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
            Command::Evaluate => self.evaluate(out),
            Command::SetArm(arm) => self.settings.arm = arm,
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

    /// One PPO iteration, with metrics, periodic evaluation and streamed episodes.
    fn iterate(&mut self, out: &mut Outbox) {
        if self.trainer.finished() {
            self.set_phase(Phase::Finished, out);
            return;
        }
        let metrics = self.trainer.iterate();
        if let Some(log) = &mut self.metrics_log {
            use std::io::Write;
            let mut line = serde_json::to_value(&metrics).unwrap_or_default();
            if let Some(fields) = line.as_object_mut() {
                let wall = self.started.elapsed().as_secs_f64();
                fields.insert("time/wall_s".into(), wall.into());
            }
            if let Err(e) = writeln!(log, "{line}").and_then(|()| log.flush()) {
                out.send(Event::Error(format!("metrics log: {e}")));
                self.metrics_log = None;
            }
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
        {
            self.send_before_after(arm, out);
        }
        if self.single_step {
            self.single_step = false;
            self.set_phase(Phase::Paused, out);
        } else if self.trainer.finished() {
            self.set_phase(Phase::Finished, out);
        }
    }

    /// The round's starting agent and the fine-tuned one on the same shifted mazes (the study's
    /// evaluation mazes for this seed).
    fn send_before_after(&mut self, arm: Arm, out: &mut Outbox) {
        let Some(before) = &self.baseline else {
            return;
        };
        out.send(Event::Status(format!(
            "evaluating before and after on {} shifted mazes",
            self.settings.eval_episodes
        )));
        let table = round::before_after(
            arm,
            before,
            &self.trainer.policy(),
            &self.shifted_levels,
            self.settings.eval_episodes,
            round::evaluation_seed(self.trainer.config.seed),
            self.trainer.config.max_steps,
        );
        out.send(Event::BeforeAfter(Box::new(table)));
    }

    fn evaluate(&mut self, out: &mut Outbox) {
        let policy = self.trainer.policy();
        let seed = derive_seed(self.trainer.config.seed, 0xE0A1);
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

    fn show_source(&self) -> LevelSource {
        match &self.show {
            ShowLevels::Training => self.training_levels.clone(),
            ShowLevels::Shifted => self.shifted_levels.clone(),
            ShowLevels::Fixed(layout) => LevelSource::Fixed {
                name: "shown".into(),
                layout: layout.clone(),
            },
        }
    }

    /// Streams episodes of the current policy and its vector field.
    fn stream(&mut self, out: &mut Outbox) {
        self.last_show = Some(Instant::now());
        let source = self.show_source();
        self.play(&source, EpisodeSource::Current, out);
    }

    fn playtest(&mut self, layout: Layout, out: &mut Outbox) {
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
    fn play(&mut self, source: &LevelSource, tag: EpisodeSource, out: &mut Outbox) {
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
                    values: model.cell_rewards(&layout),
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

    /// The seed of the current round ([`round::round_seed`] of the run's seed and its number).
    fn round_seed(&self) -> u64 {
        round::round_seed(self.trainer.config.seed, self.round.number)
    }

    fn base_spec(&self) -> Result<DistributionSpec, String> {
        match &self.training_levels {
            LevelSource::Distribution { spec, .. } => Ok(spec.clone()),
            other => Err(format!(
                "feedback rounds need one level distribution to edit; `{}` is not one",
                other.name()
            )),
        }
    }

    fn make_judge(&self, base: &DistributionSpec) -> Result<CachedJudge, String> {
        let seed = round::judge_seed(self.trainer.config.seed);
        let inner: Box<dyn Judge> = match &self.settings.judge {
            JudgeChoice::Oracle(o) => Box::new(Oracle::new(o.clone(), base.clone(), seed)),
            JudgeChoice::Http(h) => {
                Box::new(HttpJudge::new(h.clone(), base.clone(), seed).map_err(|e| e.to_string())?)
            }
            #[cfg(feature = "embedded")]
            JudgeChoice::Embedded(e) => {
                Box::new(crate::llm::embedded::EmbeddedJudge::new(e, base.clone())?)
            }
        };
        let cache = match &self.settings.label_cache {
            Some(path) => LabelCache::open(path)?,
            None => LabelCache::in_memory(),
        };
        Ok(CachedJudge::new(inner, cache))
    }

    fn begin_round(&mut self, commands: &Receiver<Command>, out: &mut Outbox) -> Flow {
        if let Err(e) = self.settings.round.validate() {
            out.send(Event::Error(format!("feedback round: {e}")));
            return Flow::Continue;
        }
        let base = match self.base_spec() {
            Ok(b) => b,
            Err(e) => {
                out.send(Event::Error(e));
                return Flow::Continue;
            }
        };
        if self.judge.is_none() {
            out.send(Event::Status(format!(
                "loading the judge: {}",
                self.settings.judge.label()
            )));
            match self.make_judge(&base) {
                Ok(j) => self.judge = Some(j),
                Err(e) => {
                    out.send(Event::Error(format!("judge: {e}")));
                    return Flow::Continue;
                }
            }
        }
        self.set_phase(Phase::Analysing, out);
        let number = self.round.number + 1;
        self.round = Round {
            number,
            ..Round::default()
        };
        let policy = self.trainer.policy();
        self.baseline = Some(policy.clone());
        let settings = self.settings.round.clone();
        let max_steps = self.trainer.config.max_steps;
        let seed = self.round_seed();
        let Some(judge) = self.judge.as_mut() else {
            return Flow::Continue;
        };
        let inspection = round::inspect(
            judge,
            &policy,
            &self.shifted_levels,
            &base,
            &settings,
            max_steps,
            seed,
        );
        if let Some(failure) = inspection
            .analysis
            .rejected
            .iter()
            .find(|r| r.starts_with("analysis failed"))
        {
            out.send(Event::Error(failure.clone()));
        }
        let (analysis, scenarios, shown) =
            (inspection.analysis, inspection.scenarios, inspection.shown);
        out.send(Event::Analysis(Box::new(AnalysisView {
            judge: judge.name(),
            text: analysis.raw.clone(),
            failure_modes: analysis.failure_modes.clone(),
            scenarios: scenarios
                .iter()
                .map(|s| ScenarioView {
                    title: s.edit.title(),
                    spec: s.spec.clone(),
                })
                .collect(),
            rejected: analysis.rejected.clone(),
            names_confound: analysis.names_confound(),
            judge_agreement: judge.measured_agreement(),
            shown,
        })));
        self.round.scenarios = scenarios;
        self.set_phase(Phase::ReviewScenarios, out);
        if self.settings.auto_review {
            let all = vec![true; self.round.scenarios.len()];
            return self.label(&all, commands, out);
        }
        Flow::Continue
    }

    /// Rolls the paused agent out in the accepted scenarios and asks the judge about pairs.
    fn label(&mut self, accepted: &[bool], commands: &Receiver<Command>, out: &mut Outbox) -> Flow {
        let base = match self.base_spec() {
            Ok(b) => b,
            Err(e) => {
                out.send(Event::Error(e));
                return Flow::Continue;
            }
        };
        if !accepted.iter().any(|k| *k) {
            out.send(Event::Status(
                "every scenario was rejected: using `cheese anywhere`".into(),
            ));
        }
        let scenarios = round::accepted_scenarios(&self.round.scenarios, accepted, &base);
        let Some(policy) = self.baseline.clone() else {
            return Flow::Continue;
        };
        self.set_phase(Phase::Labelling, out);
        let settings = self.settings.round.clone();
        let seed = self.round_seed();
        let rollouts = round::scenario_rollouts(
            &policy,
            &scenarios,
            &settings,
            self.trainer.config.max_steps,
            seed,
        );
        let Some(judge) = self.judge.as_mut() else {
            return Flow::Continue;
        };
        let mut stop = false;
        let mut index = 0;
        let mut deferred = Vec::new();
        let round = round::label(judge, &rollouts, &settings, seed, |label| {
            out.send(Event::Label(Box::new(LabelView {
                index,
                first: rollouts[label.first].clone(),
                second: rollouts[label.second].clone(),
                label: label.clone(),
            })));
            index += 1;
            out.flush();
            // Only a shutdown interrupts a round; anything else waits its turn.
            match commands.try_recv() {
                Ok(Command::Shutdown) => stop = true,
                Ok(other) => deferred.push(other),
                Err(_) => {}
            }
            !stop
        });
        self.deferred.extend(deferred);
        if stop {
            return Flow::Stop;
        }
        out.send(Event::RoundStats(Box::new(round.stats.clone())));
        if round.pairs.is_empty() {
            out.send(Event::Error(format!(
                "the judge labelled no pair: {}",
                round.stats.failure_reason()
            )));
        } else if let Some(reason) = &round.stats.abandoned {
            out.send(Event::Error(format!("the judge stopped early: {reason}")));
        }
        self.round.overrides = vec![None; round.pairs.len()];
        self.round.labels = round.pairs;
        self.round.rollouts = rollouts;
        self.round.scenarios = scenarios;
        self.set_phase(Phase::ReviewLabels, out);
        if self.settings.auto_review {
            self.train_reward_model(out);
        }
        Flow::Continue
    }

    fn train_reward_model(&mut self, out: &mut Outbox) {
        let Some(paused) = self.baseline.clone() else {
            out.send(Event::Error(
                "no round yet: start a feedback round first".into(),
            ));
            return;
        };
        self.set_phase(Phase::TrainingRewardModel, out);
        let labels = self.round.effective_labels();
        match round::fit_reward(
            &self.round.rollouts,
            &labels,
            &self.settings.round,
            &paused,
            &self.training_levels,
            self.trainer.config.max_steps,
            self.round_seed(),
            &self.device,
        ) {
            Ok((model, report)) => {
                self.reward_model = Some(Arc::new(model));
                out.send(Event::RewardModel(Box::new(report)));
                self.set_phase(Phase::RewardModelReady, out);
                self.stream(out);
                if self.settings.auto_review {
                    self.start_fine_tuning(out);
                }
            }
            Err(e) => {
                out.send(Event::Error(format!("reward model: {e}")));
                self.set_phase(Phase::ReviewLabels, out);
            }
        }
    }

    /// Resumes PPO as the chosen arm (reward and level mix, see [`Arm::prepare`]) from the
    /// agent as it is now: to the configured budget if it is not reached yet (the study's
    /// remaining (1 - tau) * T), otherwise for another half of it.
    fn start_fine_tuning(&mut self, out: &mut Outbox) {
        let arm = self.settings.arm;
        if arm.uses_reward_model() && self.reward_model.is_none() {
            out.send(Event::Error(format!(
                "the {arm} arm needs a reward model: label pairs and train it first"
            )));
            return;
        }
        if arm.uses_scenarios() && self.round.scenarios.is_empty() {
            out.send(Event::Error(format!(
                "the {arm} arm trains on the judge's scenarios: run a feedback round first"
            )));
            return;
        }
        if let Err(e) = arm.prepare(
            &mut self.trainer,
            self.reward_model.as_ref(),
            &self.training_levels,
            &self.round.scenarios,
            &self.settings.round,
        ) {
            out.send(Event::Error(format!("fine-tuning: {e}")));
            return;
        }
        if self.trainer.finished() {
            let batch = self.trainer.config.ppo.batch_size() as u64;
            let done = self.trainer.state.iteration * batch;
            self.trainer.config.ppo.total_timesteps =
                done + (self.settings.train.ppo.total_timesteps / 2).max(batch);
        }
        self.tuning = Some(arm);
        out.send(Event::FineTuning(Box::new(FineTuningView {
            arm,
            levels: self.trainer.state.venv.source().name().to_string(),
            until_step: self.trainer.config.ppo.total_timesteps,
        })));
        self.set_phase(Phase::FineTuning, out);
    }

    fn compare_with_baseline(&mut self, count: usize, out: &mut Outbox) {
        let Some(baseline) = self.baseline.clone() else {
            out.send(Event::Error(
                "no baseline yet: it is frozen when a feedback round begins".into(),
            ));
            return;
        };
        let current = self.trainer.policy();
        let max_steps = self.trainer.config.max_steps;
        let mut before = Vec::new();
        let mut after = Vec::new();
        for _ in 0..count.max(1) {
            let layout = self.shifted_levels.sample(&mut self.rng);
            let source = LevelSource::Fixed {
                name: "comparison".into(),
                layout,
            };
            let seed = self.rng.next_u64();
            before.extend(collect_rollouts(&baseline, &source, 1, seed, max_steps));
            after.extend(collect_rollouts(&current, &source, 1, seed, max_steps));
        }
        let step = self.trainer.state.global_step;
        for (source, episodes) in [
            (EpisodeSource::Baseline, before),
            (EpisodeSource::Tuned, after),
        ] {
            out.send(Event::Episodes(EpisodeBatch {
                source,
                global_step: step,
                episodes,
            }));
        }
    }
}
