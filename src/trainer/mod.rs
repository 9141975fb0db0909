//! The training thread: owns every piece of burn state and runs the paper's pipeline — PPO, the
//! LLM feedback round (analysis, scenario review, swap-averaged labels, label review), the reward
//! model and fine-tuning with R' — driven by [`Command`]s and reporting [`Event`]s over bounded
//! channels. It never waits on its front end: streaming events are dropped when the front end is
//! behind, the others wait in an outbox that is flushed without blocking.

mod compare;
mod feedback;
pub mod protocol;
mod session;

pub use protocol::{
    AgentRef, AnalysisView, BeforeAfter, COMPARE_EPISODES, Command, ComparisonView, EpisodeBatch,
    EpisodeSource, EvalPoint, Event, FineTuningView, LabelView, Phase, PolicyField, RewardField,
    ScenarioView, SessionSettings, ShowLevels,
};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use session::run;
use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events the front end may lag behind by before streaming events are dropped.
pub const EVENT_CAPACITY: usize = 256;
/// Commands queued before `send` reports the trainer as busy.
pub const COMMAND_CAPACITY: usize = 64;

/// Why the trainer thread did not take a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the trainer is busy; try again in a moment")]
    Busy,
    #[error("the trainer thread has stopped")]
    Stopped,
}

/// Why a session, a round's control arm or an agent to compare could not be set up on the
/// trainer thread (it reports these as [`Event::Error`] and goes on).
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    #[error(transparent)]
    Experiment(#[from] crate::experiment::ExperimentError),
    /// The run's metrics log could not be resumed (its causes on one line).
    #[error("{0}")]
    Metrics(String),
}

/// The lower layers' errors reach a [`TrainerError`] through [`ExperimentError`](crate::experiment::ExperimentError).
macro_rules! through_experiment {
    ($($error:ty),*) => {$(
        impl From<$error> for TrainerError {
            fn from(e: $error) -> Self {
                Self::Experiment(e.into())
            }
        }
    )*};
}
through_experiment!(
    crate::errors::Invalid,
    crate::errors::FileError,
    crate::files::WriteError,
    crate::config::ConfigError,
    crate::rl::checkpoint::CheckpointError,
    crate::llm::SetupError
);

/// The front end's side of a running trainer thread.
pub struct TrainerHandle {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// Starts the thread; set-up problems (bad level file, unreadable checkpoint) arrive as
    /// [`Event::Error`] and the thread waits for a [`Command::Reset`]. Fails only when the system
    /// cannot start a thread.
    pub fn spawn(settings: SessionSettings) -> std::io::Result<Self> {
        let (command_tx, command_rx) = crossbeam_channel::bounded(COMMAND_CAPACITY);
        let (event_tx, event_rx) = crossbeam_channel::bounded(EVENT_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("maze-rllf-trainer".into())
            .spawn(move || run(settings, command_rx, Outbox::new(event_tx)))?;
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            thread: Some(thread),
        })
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
    pub fn send(&self, command: Command) -> Result<(), SendError> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => SendError::Busy,
            TrySendError::Disconnected(_) => SendError::Stopped,
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

/// How long dropping a handle (the app exiting) waits for the thread to finish its step.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Dropping the handle stops the thread and joins it (up to [`SHUTDOWN_TIMEOUT`]), so that no
/// metrics or label line is cut off by the process exiting.
impl Drop for TrainerHandle {
    fn drop(&mut self) {
        if !self.shutdown(SHUTDOWN_TIMEOUT) {
            eprintln!(
                "the training thread did not stop within {} s (busy in a judge call?); exiting \
                 without it",
                SHUTDOWN_TIMEOUT.as_secs()
            );
        }
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
