//! The experiment layer's error: why a study, a round or a benchmark stopped, with its source
//! kept (a bad setting, a file the OS refused, a checkpoint, a judge that could not be set up).

use crate::config::ConfigError;
use crate::errors::{FileError, Invalid};
use crate::files::WriteError;
use crate::level::LevelError;
use crate::llm::{JudgeError, SetupError};
use crate::rl::checkpoint::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A setting or input that cannot work; the message says how to fix it.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Level(#[from] LevelError),
    #[error(transparent)]
    Judge(#[from] JudgeError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A feedback round whose judge labelled no pair: nothing to learn a reward from.
    #[error(
        "the judge labelled none of {pairs} pairs ({failed} of {queries} queries failed): {reason}"
    )]
    Unlabelled {
        pairs: usize,
        failed: usize,
        queries: usize,
        reason: String,
    },
    #[error(transparent)]
    Plot(#[from] super::plot::PlotError),
}

impl ExperimentError {
    /// A setting or input that cannot work (for `Err(ExperimentError::invalid(..))`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(Invalid(message.into()))
    }
}
