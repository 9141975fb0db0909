//! `study`: the region study on this machine or as one slice of several workers, its progress
//! bars, and `--merge`.

use crate::llm::JudgeKind;
use crate::rl::DeviceChoice;
use clap::Args;
use std::path::{Path, PathBuf};

/// The arguments of `maze-rllf study`.
#[derive(Args, Debug)]
pub struct StudyArgs {
    /// Study config (RON), e.g. assets/configs/study-7x7.ron.
    #[arg(long, required_unless_present = "merge")]
    pub config: Option<PathBuf>,
    /// Who reads the rollouts, proposes scenarios and labels the pairs.
    #[arg(long, value_enum, default_value_t = JudgeKind::Oracle)]
    pub judge: JudgeKind,
    #[arg(long, required_unless_present = "merge")]
    pub out: Option<PathBuf>,
    /// Independent (region, seed) cells run in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run only slice I of N (0-based) of the study's cells and reference agents, e.g. one
    /// Slurm array task: `--cells $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`. Writes no
    /// reports: `--merge OUT` does once every slice finished.
    #[arg(long, value_name = "I/N")]
    pub cells: Option<crate::experiment::cells::Slice>,
    /// Write results.csv, report.md and plot.svg/.png of the study in this output folder from its
    /// finished cells, and list the missing ones.
    #[arg(long, value_name = "OUT", conflicts_with_all = ["config", "cells"])]
    pub merge: Option<PathBuf>,
    /// Override a study config value: `--set round.lambda=0.5 --set train.ppo.total_timesteps=1000000`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
}

/// `study`: runs a study (or one slice of it), or merges the slices' results.
pub(super) fn run(args: StudyArgs) -> anyhow::Result<()> {
    let StudyArgs {
        config,
        judge,
        out,
        jobs,
        cells,
        merge,
        set,
        device,
    } = args;
    match (merge, config, out) {
        (Some(dir), _, _) => merge_study(&dir),
        (None, Some(config), Some(out)) => study(&config, judge, &out, jobs, cells, &set, device),
        _ => Err(anyhow::anyhow!(
            "study needs --config and --out (or --merge OUT)"
        )),
    }
}

fn study(
    config: &Path,
    judge: JudgeKind,
    out: &Path,
    jobs: usize,
    slice: Option<crate::experiment::cells::Slice>,
    set: &[String],
    device: DeviceChoice,
) -> anyhow::Result<()> {
    use crate::experiment::study::{StudyConfig, run_study};
    let device = device.device()?;
    let config = StudyConfig::load(config)?.with_overrides(set)?;
    let judge = crate::llm::JudgeSpec::of_kind(judge, &config.judge_settings())?;
    let progress = Bars::default();
    let results = run_study(&config, &judge, out, jobs, slice, &device, &progress)?;
    if slice.is_some() {
        println!(
            "{} cells of this slice done in {}; when every slice has finished: maze-rllf study \
             --merge {}",
            results.len(),
            out.display(),
            out.display()
        );
        return Ok(());
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!("{report}");
    println!(
        "{} cells; results.csv, report.md and plot.svg/.png in {}",
        results.len(),
        out.display()
    );
    Ok(())
}

/// The study's progress as terminal bars: one for the units, one status line per worker.
#[derive(Default)]
struct Bars {
    multi: indicatif::MultiProgress,
    overall: std::sync::OnceLock<indicatif::ProgressBar>,
    workers: std::sync::OnceLock<Vec<indicatif::ProgressBar>>,
}

impl crate::experiment::study::StudyProgress for Bars {
    fn start(&self, units: usize, workers: usize) {
        let overall = self.multi.add(indicatif::ProgressBar::new(units as u64));
        overall.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells and reference agents {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let _ = self.overall.set(overall);
        let lines = (0..workers)
            .map(|_| self.multi.add(indicatif::ProgressBar::new_spinner()))
            .collect();
        let _ = self.workers.set(lines);
    }

    fn status(&self, worker: usize, message: String) {
        if let Some(line) = self.workers.get().and_then(|w| w.get(worker)) {
            line.set_message(message);
        }
    }

    fn unit_done(&self) {
        if let Some(overall) = self.overall.get() {
            overall.inc(1);
        }
    }

    fn finish(&self) {
        for line in self.workers.get().into_iter().flatten() {
            line.finish_and_clear();
        }
        if let Some(overall) = self.overall.get() {
            overall.finish();
        }
    }
}

/// `study --merge OUT`: the reports from every finished cell, and what is missing.
fn merge_study(out: &Path) -> anyhow::Result<()> {
    let missing = crate::experiment::study::merge(out)?;
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!("{report}");
    if missing.is_empty() {
        println!(
            "every cell finished; results.csv, report.md and plot.svg/.png in {}",
            out.display()
        );
    } else {
        println!("{} units not finished:", missing.len());
        for work in &missing {
            println!("  {work}");
        }
    }
    Ok(())
}
