//! Errors as people read them: an error with its causes on one line; the two typed errors every
//! layer shares (a value that cannot work, a file the OS refused).

use std::path::{Path, PathBuf};

/// A value, request or file content that cannot work, in words that say how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Self {
        Self(message.to_string())
    }
}

/// A file or folder the OS refused, with what was being done; the OS's reason is the source.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {doing}: {source}")]
pub struct FileError {
    pub path: PathBuf,
    pub doing: String,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// For `map_err`: the OS's error while `doing` something to `path`.
    pub fn at(path: &Path, doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let (path, doing) = (path.to_path_buf(), doing.into());
        move |source| Self {
            path,
            doing,
            source,
        }
    }
}

/// An error and its causes as one line, `what: why: why`; a cause whose text the message already
/// includes (typed errors that print their source) is not repeated.
pub fn chain_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_added_once() {
        let io = std::io::Error::other("disk full");
        let typed = anyhow::Error::new(io).context("metrics.jsonl");
        assert_eq!(chain_text(&typed), "metrics.jsonl: disk full");
        let repeated = anyhow::anyhow!("config.ron: cannot read: disk full")
            .context("config.ron: cannot read: disk full");
        assert_eq!(chain_text(&repeated), "config.ron: cannot read: disk full");
    }
}
