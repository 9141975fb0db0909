//! Running a study: its units of work on `--jobs` threads (or one slice of them for one of
//! several workers), each under its lock, then the reports; and merging the slices' results.

use super::*;
use crate::experiment::cells::{Slice, UnitLock, Work, all_work, read_finished};
use crate::files::write_atomic;
use crate::llm::JudgeSpec;
use anyhow::Context;
use burn::tensor::Device;
use std::path::Path;
use std::sync::Mutex;

/// Where a running study reports what it is doing (the CLI draws progress bars from it).
pub trait StudyProgress: Sync {
    /// `units` units of work are about to run on `workers` workers.
    fn start(&self, units: usize, workers: usize);
    /// What worker `worker` is doing now.
    fn status(&self, worker: usize, message: String);
    /// One more unit is done (finished, failed, or left to another worker).
    fn unit_done(&self);
    /// Every unit is done.
    fn finish(&self);
}

/// Reports nothing.
impl StudyProgress for () {
    fn start(&self, _: usize, _: usize) {}
    fn status(&self, _: usize, _: String) {}
    fn unit_done(&self) {}
    fn finish(&self) {}
}

/// Runs the study's units (all of them, or one `slice` of them for one of several workers on a
/// shared `out` folder) in `jobs` threads; a unit finished earlier is skipped, one another
/// worker holds is left to it. Without a slice, the reports are then written from every
/// finished unit in `out` ([`merge`] does the same for slices).
pub fn run_study(
    config: &StudyConfig,
    judge: &JudgeSpec,
    out: &Path,
    jobs: usize,
    slice: Option<Slice>,
    device: &Device,
    progress: &dyn StudyProgress,
) -> anyhow::Result<Vec<CellResult>> {
    if judge.asks_a_person() && jobs > 1 {
        anyhow::bail!("--judge human asks at one terminal: use --jobs 1");
    }
    config.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    // The record of the run names the server without any credential in its URL.
    let mut recorded = config.clone();
    if let Some(http) = recorded.http.as_mut() {
        http.base_url = crate::llm::http::redact_url(&http.base_url);
    }
    let config_text = ron::ser::to_string_pretty(&recorded, ron::ser::PrettyConfig::default())?;
    write_atomic(&out.join("study.ron"), config_text.as_bytes())?;
    let all = all_work(config);
    let mine = match slice {
        Some(slice) => {
            let mine = slice.of(&all);
            println!(
                "slice {}/{}: {} of {} units: {}",
                slice.index,
                slice.count,
                mine.len(),
                all.len(),
                mine.iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            mine
        }
        None => all,
    };
    let workers = jobs.max(1);
    progress.start(mine.len(), workers);
    // Popped from the end: cells last-first, then the reference agents.
    let (references, cells): (Vec<Work>, Vec<Work>) = mine
        .into_iter()
        .partition(|w| matches!(w, Work::Reference(_)));
    let queue = Mutex::new([references, cells].concat());
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (queue, results, errors) = (&queue, &results, &errors);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some(work) = next else { break };
                    let status = |m: String| progress.status(worker, m);
                    if let Err(e) = run_unit(config, judge, work, out, device, &status, results)
                        && let Ok(mut v) = errors.lock()
                    {
                        v.push(format!("{work}: {}", crate::errors::chain_text(&e)));
                    }
                    progress.unit_done();
                }
            });
        }
    });
    progress.finish();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r: &CellResult| (r.region, r.seed));
    let errors = errors.into_inner().unwrap_or_default();
    if slice.is_none() {
        write_reports(config, &read_finished(config, out), &errors, out)?;
    }
    if !errors.is_empty() {
        anyhow::bail!("{} cell(s) failed:\n{}", errors.len(), errors.join("\n"));
    }
    Ok(results)
}

/// Runs one unit under its lock (a finished unit is only read back; one held by another worker
/// is left to it).
fn run_unit(
    config: &StudyConfig,
    judge: &JudgeSpec,
    work: Work,
    out: &Path,
    device: &Device,
    status: &dyn Fn(String),
    results: &Mutex<Vec<CellResult>>,
) -> anyhow::Result<()> {
    let _lock = if work.is_finished(out) {
        None
    } else {
        match UnitLock::take(work, out)? {
            Ok(lock) => Some(lock),
            Err(holder) => {
                status(format!(
                    "{work}: running in another worker ({holder}), left to it"
                ));
                return Ok(());
            }
        }
    };
    match work {
        Work::Cell(region, seed) => {
            let result = run_cell(config, judge, region, seed, out, device, status)?;
            if let Ok(mut v) = results.lock() {
                v.push(result);
            }
        }
        Work::Reference(seed) => {
            run_reference(config, seed, out, device, status)?;
        }
    }
    Ok(())
}

/// Writes the reports of the study in `out` (its `study.ron`, as the workers wrote it) from
/// every finished unit, listing the missing ones; returns them.
pub fn merge(out: &Path) -> anyhow::Result<Vec<Work>> {
    let path = out.join("study.ron");
    let config = StudyConfig::load(&path).map_err(|e| {
        anyhow::anyhow!("{e} (merge reads the study.ron a worker wrote into the output folder)")
    })?;
    let finished = read_finished(&config, out);
    let missing: Vec<String> = finished
        .missing
        .iter()
        .map(|w| format!("{w}: not finished (no result yet)"))
        .collect();
    write_reports(&config, &finished, &missing, out)?;
    Ok(finished.missing)
}
