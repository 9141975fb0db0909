//! Training metrics under CleanRL's names, and the one writer every training loop logs them with
//! (`metrics.jsonl` and `metrics.csv`, one row per PPO iteration).

use crate::files::{open_append, write_atomic};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One iteration's metrics, under CleanRL's names.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IterationMetrics {
    pub global_step: u64,
    pub iteration: u64,
    #[serde(rename = "charts/SPS")]
    pub sps: f64,
    #[serde(rename = "charts/learning_rate")]
    pub learning_rate: f64,
    #[serde(rename = "charts/episodic_return")]
    pub episodic_return: f64,
    #[serde(rename = "charts/episodic_length")]
    pub episodic_length: f64,
    #[serde(rename = "charts/cheese_rate")]
    pub cheese_rate: f64,
    #[serde(rename = "charts/corner_rate")]
    pub corner_rate: f64,
    #[serde(rename = "charts/episodes")]
    pub episodes: u64,
    #[serde(rename = "losses/value_loss")]
    pub value_loss: f64,
    #[serde(rename = "losses/policy_loss")]
    pub policy_loss: f64,
    #[serde(rename = "losses/entropy")]
    pub entropy: f64,
    #[serde(rename = "losses/old_approx_kl")]
    pub old_approx_kl: f64,
    #[serde(rename = "losses/approx_kl")]
    pub approx_kl: f64,
    #[serde(rename = "losses/clipfrac")]
    pub clipfrac: f64,
    #[serde(rename = "losses/explained_variance")]
    pub explained_variance: f64,
    #[serde(rename = "time/rollout_s")]
    pub rollout_seconds: f64,
    #[serde(rename = "time/update_s")]
    pub update_seconds: f64,
}

/// A JSONL file of [`IterationMetrics`] and a CSV file with the same columns beside it
/// (`metrics.jsonl` -> `metrics.csv`), written line by line and flushed after each iteration, so
/// a killed run leaves at most its last line torn (repaired when appended to again).
pub struct MetricsLog {
    jsonl: (PathBuf, std::fs::File),
    csv: (PathBuf, std::fs::File),
    csv_has_header: bool,
    /// When set, each row also records `time/wall_s`, the seconds since this instant.
    wall_clock: Option<Instant>,
}

impl MetricsLog {
    /// A fresh log at `jsonl` (and its `.csv`), replacing what was there.
    pub fn create(jsonl: &Path) -> anyhow::Result<Self> {
        let csv = csv_beside(jsonl)?;
        for path in [jsonl, csv.as_path()] {
            write_atomic(path, b"")?;
        }
        Self::open(jsonl)
    }

    /// The log at `jsonl` (and its `.csv`) appended to after iteration `last`: lines of later
    /// iterations (logged by a run killed before its next checkpoint, which will train them
    /// again) and unreadable lines (a torn last line) are dropped first.
    pub fn resume(jsonl: &Path, last: u64) -> anyhow::Result<Self> {
        csv_beside(jsonl)?;
        cut_back(jsonl, last)?;
        Self::open(jsonl)
    }

    /// Records `time/wall_s` (seconds since now) in every row from here on.
    pub fn with_wall_clock(mut self) -> Self {
        self.wall_clock = Some(Instant::now());
        self
    }

    fn open(jsonl: &Path) -> anyhow::Result<Self> {
        let open = |path: PathBuf| -> anyhow::Result<_> {
            let file = open_append(&path)?;
            Ok((path, file))
        };
        let csv = open(csv_beside(jsonl)?)?;
        let csv_has_header = csv.1.metadata().map(|m| m.len() > 0).unwrap_or(false);
        Ok(Self {
            jsonl: open(jsonl.to_path_buf())?,
            csv,
            csv_has_header,
            wall_clock: None,
        })
    }

    /// Appends one iteration's row to both files.
    pub fn append(&mut self, metrics: &IterationMetrics) -> anyhow::Result<()> {
        let mut value = serde_json::to_value(metrics)?;
        if let (Some(started), Some(fields)) = (self.wall_clock, value.as_object_mut()) {
            fields.insert("time/wall_s".into(), started.elapsed().as_secs_f64().into());
        }
        let (path, file) = &mut self.jsonl;
        writeln!(file, "{value}")
            .and_then(|()| file.flush())
            .with_context(|| path.display().to_string())?;
        if let Some(fields) = value.as_object() {
            let (path, file) = &mut self.csv;
            if !self.csv_has_header {
                let header: Vec<&str> = fields.keys().map(String::as_str).collect();
                writeln!(file, "{}", header.join(","))
                    .with_context(|| path.display().to_string())?;
                self.csv_has_header = true;
            }
            let row: Vec<String> = fields.values().map(|v| v.to_string()).collect();
            writeln!(file, "{}", row.join(","))
                .and_then(|()| file.flush())
                .with_context(|| path.display().to_string())?;
        }
        Ok(())
    }
}

/// A run's logged iterations, read back for plotting.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub iterations: Vec<IterationMetrics>,
    /// What the reader could not use (no log, unreadable lines), for a notice; None: all read.
    pub note: Option<String>,
}

/// The iterations of the run folder `run` (its `metrics.jsonl`) up to and including `up_to` (the
/// checkpoint's iteration: a run may have logged past its last checkpoint), in order. A missing
/// or unreadable log and unreadable lines (a torn last line) are said in `note`, never an error.
pub fn read_history(run: &Path, up_to: u64) -> History {
    let jsonl = run.join("metrics.jsonl");
    let text = match std::fs::read_to_string(&jsonl) {
        Ok(text) => text,
        Err(e) => {
            // A checkpoint shipped or copied without its run's log is normal, not a failure.
            let note = if e.kind() == std::io::ErrorKind::NotFound {
                "this checkpoint has no training history (no metrics.jsonl beside it); the plots \
                 start at the checkpoint"
                    .to_string()
            } else {
                format!(
                    "{}: training history unreadable ({e}); the plots start at the checkpoint",
                    jsonl.display()
                )
            };
            return History {
                iterations: Vec::new(),
                note: Some(note),
            };
        }
    };
    let mut bad = Vec::new();
    let mut iterations: Vec<IterationMetrics> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, l)| match serde_json::from_str::<IterationMetrics>(l) {
            Ok(m) => Some(m),
            Err(_) => {
                bad.push(i + 1);
                None
            }
        })
        .filter(|m| m.iteration <= up_to)
        .collect();
    iterations.sort_by_key(|m| m.iteration);
    iterations.dedup_by_key(|m| m.iteration);
    let note = (!bad.is_empty()).then(|| {
        let lines: Vec<String> = bad.iter().take(5).map(|l| l.to_string()).collect();
        format!(
            "{}: {} unreadable line(s) skipped (line {}{})",
            jsonl.display(),
            bad.len(),
            lines.join(", "),
            if bad.len() > 5 { ", .." } else { "" }
        )
    });
    History { iterations, note }
}

/// The CSV beside a JSONL log (`metrics.jsonl` -> `metrics.csv`), or an error when the two would
/// be one file.
fn csv_beside(jsonl: &Path) -> anyhow::Result<PathBuf> {
    let csv = jsonl.with_extension("csv");
    if csv == jsonl {
        anyhow::bail!(
            "{}: a metrics log is JSON lines with its CSV beside it; name it `.jsonl`",
            jsonl.display()
        );
    }
    Ok(csv)
}

/// Keeps the lines of the metrics files whose iteration is at most `last` (the CSV's header
/// stays); unreadable lines go too.
fn cut_back(jsonl: &Path, last: u64) -> anyhow::Result<()> {
    let keep_json = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v["iteration"].as_u64())
            .is_some_and(|it| it <= last)
    };
    if let Ok(text) = std::fs::read_to_string(jsonl) {
        let kept: String = text
            .lines()
            .filter(|l| keep_json(l))
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != text {
            write_atomic(jsonl, kept.as_bytes())?;
        }
    }
    let csv = jsonl.with_extension("csv");
    if let Ok(text) = std::fs::read_to_string(&csv) {
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            return Ok(());
        };
        let Some(column) = header.split(',').position(|h| h == "iteration") else {
            return Ok(());
        };
        let mut kept = format!("{header}\n");
        for line in lines {
            let iteration = line
                .split(',')
                .nth(column)
                .and_then(|v| v.parse::<u64>().ok());
            if iteration.is_some_and(|it| it <= last)
                && line.split(',').count() == header.split(',').count()
            {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if kept != text {
            write_atomic(&csv, kept.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(iteration: u64) -> IterationMetrics {
        IterationMetrics {
            iteration,
            global_step: 100 * iteration,
            ..IterationMetrics::default()
        }
    }

    #[test]
    fn a_resumed_log_drops_iterations_after_the_checkpoint_and_torn_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::create(&path).expect("create");
        for it in 1..=5 {
            log.append(&at(it)).expect("append");
        }
        drop(log);
        let mut text = std::fs::read_to_string(&path).expect("jsonl");
        text.push_str("{\"iteration\": 6, \"glob");
        std::fs::write(&path, text).expect("tear");
        let mut log = MetricsLog::resume(&path, 3).expect("resume");
        log.append(&at(4)).expect("append");
        let iterations = |text: &str| -> Vec<u64> {
            text.lines()
                .map(|l| {
                    serde_json::from_str::<IterationMetrics>(l)
                        .expect("row")
                        .iteration
                })
                .collect()
        };
        assert_eq!(
            iterations(&std::fs::read_to_string(&path).expect("jsonl")),
            [1, 2, 3, 4]
        );
        let csv = std::fs::read_to_string(path.with_extension("csv")).expect("csv");
        let mut rows = csv.lines();
        let header: Vec<&str> = rows.next().expect("header").split(',').collect();
        let column = header
            .iter()
            .position(|h| *h == "iteration")
            .expect("column");
        let csv_iterations: Vec<&str> = rows
            .map(|r| r.split(',').nth(column).expect("cell"))
            .collect();
        assert_eq!(csv_iterations, ["1", "2", "3", "4"]);
    }

    #[test]
    fn history_is_read_up_to_the_checkpoint_and_says_what_it_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = MetricsLog::create(&dir.path().join("metrics.jsonl")).expect("create");
        for it in 1..=6 {
            log.append(&at(it)).expect("append");
        }
        drop(log);
        let all = read_history(dir.path(), u64::MAX);
        assert_eq!(all.iterations.len(), 6);
        assert!(all.note.is_none());
        let path = dir.path().join("metrics.jsonl");
        let mut text = std::fs::read_to_string(&path).expect("jsonl");
        text.push_str("{\"iteration\": 7, \"glob");
        std::fs::write(&path, text).expect("tear");
        let history = read_history(dir.path(), 4);
        let its: Vec<u64> = history.iterations.iter().map(|m| m.iteration).collect();
        assert_eq!(its, [1, 2, 3, 4], "up to the checkpoint's iteration");
        assert_eq!(history.iterations[0].global_step, 100);
        let note = history.note.expect("the torn line is said");
        assert!(
            note.contains("1 unreadable line(s)") && note.contains("line 7"),
            "{note}"
        );
        let none = read_history(&dir.path().join("elsewhere"), 4);
        assert!(none.iterations.is_empty());
        let plain = none.note.expect("said");
        assert!(plain.contains("no training history"), "{plain}");
        assert!(
            !plain.contains("os error"),
            "a missing log is said plainly: {plain}"
        );
    }

    #[test]
    fn a_log_named_like_its_csv_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = MetricsLog::create(&dir.path().join("metrics.csv"))
            .err()
            .expect("refused");
        assert!(error.to_string().contains("name it `.jsonl`"), "{error}");
    }

    #[test]
    fn a_wall_clock_log_records_seconds_and_a_fresh_log_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("arm-metrics.jsonl");
        std::fs::write(&path, "old\n").expect("old file");
        let mut log = MetricsLog::create(&path).expect("create").with_wall_clock();
        log.append(&at(1)).expect("append");
        let text = std::fs::read_to_string(&path).expect("jsonl");
        assert_eq!(text.lines().count(), 1);
        let row: serde_json::Value = serde_json::from_str(text.trim()).expect("json");
        assert!(
            row["time/wall_s"].as_f64().is_some_and(|s| s >= 0.0),
            "{row}"
        );
    }
}
