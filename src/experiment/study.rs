//! The region study: for each cheese region r and seed, PPO with the env reward to tau*T, one LLM
//! feedback round ([`super::round`]: analysis, scenarios, swap-averaged preferences, reward
//! model), then every configured fine-tuning arm from that same checkpoint to T (baseline,
//! paper, designer, the scenarios-with-env-reward control, the ceiling), all evaluated on the same
//! shifted mazes and compared with the baseline by McNemar's paired test; plus one reference
//! agent per seed trained on the shifted distribution itself. Resumable (finished cells and arms
//! are skipped, labels are cached as they arrive), `--jobs N` parallel, and reported as
//! `results.csv`, `report.md` and `plot.png`.

use super::cells::{
    Finished, Share, UnitLock, Work, all_work, cell_dir, read_finished, reference_path,
};
use super::plot::{PlotSeries, cheese_rate_plot};
use super::preferences::JudgeStats;
use super::round::{self, Arm, ArmOutcome, RoundSettings};
use crate::config::TrainConfig;
use crate::files::write_atomic;
use crate::level::{DistributionSpec, LevelSource};
use crate::llm::http::{HttpConfig, HttpJudge};
use crate::llm::human::{HumanChannel, HumanJudge};
use crate::llm::oracle::{Oracle, OracleConfig};
use crate::llm::scenario::ScenarioEdit;
use crate::llm::{CachedJudge, Judge, LabelCache};
use crate::reward::{RewardConfig, RewardReport};
use crate::rl::Trainer;
use crate::rl::checkpoint;
use crate::sim::{McNemar, OutcomeSummary, Rate, cheese_first};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Everything a study needs; every choice the paper leaves open is here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Training run of every cell (`ppo.total_timesteps` is T; `region` and `seed` are set per cell).
    pub train: TrainConfig,
    pub regions: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Fraction of T before the LLM is consulted.
    pub tau: f64,
    /// Reward mix R' = lambda * R_hat + (1 - lambda) * R.
    pub lambda: f32,
    /// N^I: rollouts shown to the judge for analysis.
    pub inspect_rollouts: usize,
    /// N^R: rollouts gathered in the judge's scenarios for reward modelling.
    pub feedback_rollouts: usize,
    /// Pairs asked (each in both orders).
    pub pairs: usize,
    pub reward: RewardConfig,
    /// Episodes per evaluation on the shifted distribution.
    pub eval_episodes: usize,
    pub oracle: OracleConfig,
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// The embedded offline judge (`--judge embedded`); defaults to the chosen model and prompt.
    #[cfg(feature = "embedded")]
    #[serde(default)]
    pub embedded: crate::llm::embedded::EmbeddedConfig,
    /// Keep each cell's tau*T checkpoint after the cell finishes, so that deleting a cell's
    /// `result.json` and an arm's `<arm>.json` re-runs only that arm (e.g. with other `reward`
    /// settings) and reuses the pre-training.
    #[serde(default)]
    pub keep_pretrain: bool,
    /// Judge pieces of at most this many moves instead of whole episodes (see
    /// [`crate::experiment::rollouts::segments`]); unset: whole episodes, as in the paper.
    #[serde(default)]
    pub segment_steps: Option<usize>,
    /// The fine-tuning arms, each from the same tau*T checkpoint to T (`baseline` is required:
    /// every other arm is compared with it). Default: baseline, paper, designer,
    /// scenarios-env-reward; add `ceiling` for the true-potential control.
    #[serde(default = "default_arms")]
    pub arms: Vec<Arm>,
    /// Share of the `designer` and `scenarios-env-reward` arms' fine-tuning episodes drawn from
    /// the judge's scenarios (0..=1).
    #[serde(default = "default_scenario_share")]
    pub scenario_share: f64,
    /// Also train one reference agent per seed on the shifted distribution itself for T steps:
    /// what the arms are measured against when they cannot gain 20 points.
    #[serde(default = "default_true")]
    pub reference: bool,
}

fn default_arms() -> Vec<Arm> {
    vec![
        Arm::Baseline,
        Arm::Paper,
        Arm::Designer,
        Arm::ScenariosEnvReward,
    ]
}

fn default_scenario_share() -> f64 {
    round::DEFAULT_SCENARIO_SHARE
}

fn default_true() -> bool {
    true
}

impl StudyConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: Self = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
            .map_err(|e| crate::config::ron_error_at(path, &e))?;
        config.train.resolve_paths(path);
        if let Some(http) = config.http.as_mut() {
            http.prompt_dir = crate::files::config_relative(&http.prompt_dir, path)
                .to_string_lossy()
                .into_owned();
        }
        config
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Applies `--set` overrides (dotted keys, JSON values) and validates the result.
    pub fn with_overrides(self, assignments: &[String]) -> Result<Self, String> {
        let config = crate::config::apply_overrides(self, assignments)
            .map_err(|(assignment, message)| format!("--set {assignment}: {message}"))?;
        config.validate().map_err(|e| format!("after --set: {e}"))?;
        Ok(config)
    }

    /// What one feedback round of this study asks for.
    pub fn round_settings(&self) -> RoundSettings {
        RoundSettings {
            inspect_rollouts: self.inspect_rollouts,
            feedback_rollouts: self.feedback_rollouts,
            pairs: self.pairs,
            segment_steps: self.segment_steps,
            reward: self.reward.clone(),
            lambda: self.lambda,
            scenario_share: self.scenario_share,
        }
    }

    /// Every study-level value in range, or what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        self.round_settings().validate()?;
        if let Some(http) = &self.http {
            http.validate()?;
        }
        if !(self.tau > 0.0 && self.tau < 1.0) {
            return Err(format!(
                "tau is {}: the share of T trained before the judge is asked, strictly between 0 and 1 (e.g. 0.5)",
                self.tau
            ));
        }
        if self.regions.is_empty() || self.seeds.is_empty() {
            return Err(
                "regions and seeds each need at least one entry, e.g. `regions: [4], seeds: [0]`"
                    .into(),
            );
        }
        if self.eval_episodes == 0 {
            return Err("eval_episodes is 0: evaluate on at least one maze (1000 gives intervals of about 3 points)".into());
        }
        if !self.arms.contains(&Arm::Baseline) {
            return Err("arms has no `baseline`: every other arm is compared with it; add it, e.g. `arms: [baseline, designer]`".into());
        }
        for (i, arm) in self.arms.iter().enumerate() {
            if self.arms[..i].contains(arm) {
                return Err(format!("arms lists `{arm}` twice"));
            }
        }
        Ok(())
    }
}

/// Which judge the feedback arm asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JudgeKind {
    Oracle,
    Http,
    Human,
    /// The GGUF model run in-process (needs the `embedded` feature and an installed model).
    Embedded,
}

/// One fine-tuning arm of a finished cell, evaluated on the cell's shifted mazes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmRun {
    pub arm: Arm,
    pub outcome: ArmOutcome,
    /// Wall time of the arm's fine-tuning and evaluation.
    pub seconds: f64,
}

/// The reference agent of one seed: trained on the shifted distribution itself for T steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReferenceRun {
    pub outcome: ArmOutcome,
    pub seconds: f64,
    pub steps: u64,
}

/// One finished (region, seed) cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    pub region: usize,
    pub seed: u64,
    pub judge: String,
    /// Every configured arm, in the config's order (`baseline` among them).
    pub arms: Vec<ArmRun>,
    pub reward_model: RewardReport,
    pub judge_stats: JudgeStats,
    /// The judge's controlled agreement as measured by `judge-eval` (None: never measured).
    #[serde(default)]
    pub judge_measured_agreement: Option<f64>,
    pub names_confound: bool,
    pub scenarios: Vec<ScenarioEdit>,
    pub rejected_scenarios: Vec<String>,
    pub analysis: String,
    /// Judge answers replayed from the label cache (a resumed cell asks nothing twice).
    pub cached_answers: usize,
    /// Env steps of pre-training (tau * T) and of each arm's fine-tuning.
    pub pretrain_steps: u64,
    pub arm_steps: u64,
    pub seconds: f64,
}

impl CellResult {
    /// The outcome of `arm`, if it ran.
    pub fn arm(&self, arm: Arm) -> Option<&ArmOutcome> {
        self.arms.iter().find(|a| a.arm == arm).map(|a| &a.outcome)
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Trains `trainer` until it has done `iterations` iterations (or finishes), checkpointing into `dir`.
fn train_until(trainer: &mut Trainer, iterations: u64, dir: &Path) -> Result<(), String> {
    while trainer.state.iteration < iterations && !trainer.finished() {
        trainer.iterate();
        if trainer
            .state
            .iteration
            .is_multiple_of(trainer.config.checkpoint_every.max(1))
        {
            checkpoint::save(trainer, dir).map_err(|e| e.to_string())?;
        }
    }
    checkpoint::save(trainer, dir).map_err(|e| e.to_string())?;
    Ok(())
}

/// The value stored at `path` by an earlier run, or `make`'s, stored there (atomically) so that
/// a killed study does not compute it again.
fn finished_once<T: Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    if let Some(done) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        return Ok(done);
    }
    let value = make()?;
    let json = serde_json::to_vec_pretty(&value).map_err(|e| e.to_string())?;
    write_atomic(path, &json).map_err(|e| e.to_string())?;
    Ok(value)
}

/// Runs `trainer` to its end, writing the curve (CleanRL metric names, one JSON line per
/// iteration) to `curve_path`.
fn train_to_end(trainer: &mut Trainer, curve_path: &Path) -> Result<(), String> {
    let mut curve = String::new();
    while !trainer.finished() {
        let metrics = trainer.iterate();
        if let Ok(line) = serde_json::to_string(&metrics) {
            curve.push_str(&line);
            curve.push('\n');
        }
    }
    write_atomic(curve_path, curve.as_bytes()).map_err(|e| e.to_string())
}

/// Trains `trainer` to its end (the curve into `curve_path`) and evaluates it on the seed's
/// shifted mazes, the same for every arm and the reference agent.
fn finish_and_evaluate(
    trainer: &mut Trainer,
    curve_path: &Path,
    shifted: &LevelSource,
    config: &StudyConfig,
    seed: u64,
) -> Result<ArmOutcome, String> {
    train_to_end(trainer, curve_path)?;
    Ok(round::evaluate_on(
        &trainer.policy(),
        shifted,
        config.eval_episodes,
        round::evaluation_seed(seed),
        trainer.config.max_steps,
    ))
}

/// The judge of a study run.
pub fn make_judge(
    kind: JudgeKind,
    config: &StudyConfig,
    base: &DistributionSpec,
    seed: u64,
) -> Result<Box<dyn Judge>, String> {
    Ok(match kind {
        JudgeKind::Oracle => Box::new(Oracle::new(config.oracle.clone(), base.clone(), seed)),
        JudgeKind::Http => {
            let http = config
                .http
                .clone()
                .ok_or("--judge http needs an `http: (base_url: .., model: ..)` section in the study config")?;
            Box::new(HttpJudge::new(http, base.clone(), seed).map_err(|e| e.to_string())?)
        }
        JudgeKind::Human => Box::new(HumanJudge::new(HumanChannel::Terminal)),
        #[cfg(feature = "embedded")]
        JudgeKind::Embedded => Box::new(crate::llm::embedded::EmbeddedJudge::new(
            &config.embedded,
            base.clone(),
        )?),
        #[cfg(not(feature = "embedded"))]
        JudgeKind::Embedded => {
            return Err(
                "--judge embedded: this build has no embedded judge; build with \
                        `--features embedded` (on by default)"
                    .into(),
            );
        }
    })
}

/// The reference agent of `seed`: trained on the shifted distribution itself for all T steps,
/// evaluated on the same shifted mazes as the arms (trained once per seed, stored in
/// `reference/`).
pub fn run_reference(
    config: &StudyConfig,
    seed: u64,
    out: &Path,
    device: &Device,
    status: &dyn Fn(String),
) -> Result<ReferenceRun, String> {
    let path = reference_path(out, seed);
    finished_once(&path, || {
        status(format!("seed={seed}: reference agent on the shifted mazes"));
        let started = Instant::now();
        let mut train = config.train.clone();
        train.seed = seed;
        train.region = Some(config.regions.first().copied().unwrap_or(0));
        let shifted = train.shifted_levels().map_err(|e| e.to_string())?;
        let mut trainer = Trainer::on_levels(train.clone(), shifted.clone(), device);
        let dir = out.join("reference");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let curve = dir.join(format!("s{seed}-metrics.jsonl"));
        let outcome = finish_and_evaluate(&mut trainer, &curve, &shifted, config, seed)?;
        Ok(ReferenceRun {
            outcome,
            seconds: started.elapsed().as_secs_f64(),
            steps: trainer.state.global_step,
        })
    })
}

/// Runs one cell (or loads it if it already finished): pre-training to tau*T, the feedback
/// round ([`round`]), then every configured arm from the same checkpoint to T, each evaluated
/// on the same shifted mazes.
pub fn run_cell(
    config: &StudyConfig,
    kind: JudgeKind,
    region: usize,
    seed: u64,
    out: &Path,
    device: &Device,
    status: &dyn Fn(String),
) -> Result<CellResult, String> {
    let dir = cell_dir(out, region, seed);
    let result_path = dir.join("result.json");
    if let Ok(text) = std::fs::read_to_string(&result_path)
        && let Ok(done) = serde_json::from_str::<CellResult>(&text)
    {
        status(format!("r={region} seed={seed}: finished earlier, skipped"));
        return Ok(done);
    }
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let started = Instant::now();
    let settings = config.round_settings();
    let mut train = config.train.clone();
    train.region = Some(region);
    train.seed = seed;
    let total_iterations = train.ppo.num_iterations();
    let pause_at =
        ((config.tau * total_iterations as f64).round() as u64).clamp(1, total_iterations);
    let tag = format!("r={region} seed={seed}");

    // Train with R for tau * T.
    let pretrain_dir = dir.join("pretrain");
    let mut trainer = match checkpoint::resume(&pretrain_dir, device, &[]) {
        Ok(t) => t,
        Err(_) => Trainer::new(train.clone(), device).map_err(|e| e.to_string())?,
    };
    status(format!("{tag}: training to tau*T"));
    train_until(&mut trainer, pause_at, &pretrain_dir)?;
    let paused = trainer.policy();
    let batch = train.ppo.batch_size() as u64;
    let pretrain_steps = trainer.state.iteration * batch;
    let shifted = train.shifted_levels().map_err(|e| e.to_string())?;
    let training = train.training_levels().map_err(|e| e.to_string())?;
    let LevelSource::Distribution { spec: base, .. } = &training else {
        return Err("the study needs a level distribution, not a fixed layout".into());
    };

    // The feedback round: inspection, scenarios, labels, reward model.
    status(format!("{tag}: LLM analysis"));
    let cache = LabelCache::open(&dir.join("labels.jsonl"))?;
    let mut judge = CachedJudge::new(
        make_judge(kind, config, base, round::judge_seed(seed))?,
        cache,
    );
    let round_seed = round::round_seed(seed, 1);
    let inspection = round::inspect(
        &mut judge,
        &paused,
        &shifted,
        base,
        &settings,
        train.max_steps,
        round_seed,
    );
    status(format!(
        "{tag}: rollouts + {} preference pairs",
        settings.pairs
    ));
    let rollouts = round::scenario_rollouts(
        &paused,
        &inspection.scenarios,
        &settings,
        train.max_steps,
        round_seed,
    );
    let labels = round::label(&mut judge, &rollouts, &settings, round_seed, |_| true);
    if labels.pairs.is_empty() {
        return Err(format!(
            "the judge ({}) labelled none of {} pairs ({} of {} queries failed): {}",
            judge.name(),
            settings.pairs,
            labels.stats.failures,
            labels.stats.queries,
            labels.stats.failure_reason()
        ));
    }
    let preferences = serde_json::to_vec(&labels.pairs).map_err(|e| e.to_string())?;
    write_atomic(&dir.join("preferences.json"), &preferences).map_err(|e| e.to_string())?;
    status(format!("{tag}: reward model"));
    let (reward_model, reward_report) = round::fit_reward(
        &rollouts,
        &labels.pairs,
        &settings,
        &paused,
        &training,
        train.max_steps,
        round_seed,
        device,
    )?;
    let reward_model = Arc::new(reward_model);

    // Every arm from the same checkpoint to T, evaluated on the same shifted mazes.
    let mut arms = Vec::new();
    for &arm in &config.arms {
        let run = finished_once(&dir.join(format!("{arm}.json")), || {
            status(format!("{tag}: {arm} arm ({})", arm.describe()));
            let arm_started = Instant::now();
            let mut tuned =
                checkpoint::resume(&pretrain_dir, device, &[]).map_err(|e| e.to_string())?;
            arm.prepare(
                &mut tuned,
                Some(&reward_model),
                &training,
                &inspection.scenarios,
                &settings,
            )?;
            let curve = dir.join(format!("{arm}-metrics.jsonl"));
            let outcome = finish_and_evaluate(&mut tuned, &curve, &shifted, config, seed)?;
            Ok(ArmRun {
                arm,
                outcome,
                seconds: arm_started.elapsed().as_secs_f64(),
            })
        })?;
        arms.push(run);
    }

    let result = CellResult {
        region,
        seed,
        judge: judge.name(),
        arms,
        reward_model: reward_report,
        judge_stats: labels.stats,
        judge_measured_agreement: judge.measured_agreement(),
        names_confound: inspection.analysis.names_confound(),
        scenarios: inspection
            .scenarios
            .iter()
            .map(|s| s.edit.clone())
            .collect(),
        rejected_scenarios: inspection.analysis.rejected.clone(),
        analysis: inspection.analysis.raw.clone(),
        cached_answers: judge.hits,
        pretrain_steps,
        arm_steps: total_iterations.saturating_sub(pause_at) * batch,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())?;
    write_atomic(&result_path, &json).map_err(|e| e.to_string())?;
    // The pretrain checkpoints are only needed until the cell is done (unless kept on purpose).
    if !config.keep_pretrain {
        let _ = std::fs::remove_dir_all(&pretrain_dir);
    }
    Ok(result)
}

/// Runs the study's units (all of them, or one `share` of them for one of several workers on a
/// shared `out` folder) in `jobs` threads; a unit finished earlier is skipped, one another
/// worker holds is left to it. Without a share, the reports are then written from every
/// finished unit in `out` ([`merge`] does the same for shares).
pub fn run_study(
    config: &StudyConfig,
    kind: JudgeKind,
    out: &Path,
    jobs: usize,
    share: Option<Share>,
    device: &Device,
) -> Result<Vec<CellResult>, String> {
    if kind == JudgeKind::Human && jobs > 1 {
        return Err("--judge human asks at one terminal: use --jobs 1".into());
    }
    config.validate()?;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    // The record of the run names the server without any credential in its URL.
    let mut recorded = config.clone();
    if let Some(http) = recorded.http.as_mut() {
        http.base_url = crate::llm::http::redact_url(&http.base_url);
    }
    let config_text = ron::ser::to_string_pretty(&recorded, ron::ser::PrettyConfig::default())
        .map_err(|e| e.to_string())?;
    write_atomic(&out.join("study.ron"), config_text.as_bytes()).map_err(|e| e.to_string())?;
    let all = all_work(config);
    let mine = match share {
        Some(share) => {
            let mine = share.of(&all);
            println!(
                "share {}/{}: {} of {} units: {}",
                share.index,
                share.count,
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
    let multi = indicatif::MultiProgress::new();
    let overall = multi.add(indicatif::ProgressBar::new(mine.len() as u64));
    overall.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} cells and reference agents {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Popped from the end: cells last-first, then the reference agents.
    let (references, cells): (Vec<Work>, Vec<Work>) = mine
        .into_iter()
        .partition(|w| matches!(w, Work::Reference(_)));
    let queue = Mutex::new([references, cells].concat());
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let line = multi.add(indicatif::ProgressBar::new_spinner());
            scope.spawn(|| {
                let line = line;
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some(work) = next else { break };
                    let status = |m: String| line.set_message(m);
                    if let Err(e) = run_unit(config, kind, work, out, device, &status, &results)
                        && let Ok(mut v) = errors.lock()
                    {
                        v.push(format!("{work}: {e}"));
                    }
                    overall.inc(1);
                }
                line.finish_and_clear();
            });
        }
    });
    overall.finish();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r: &CellResult| (r.region, r.seed));
    let errors = errors.into_inner().unwrap_or_default();
    if share.is_none() {
        write_reports(config, &read_finished(config, out), &errors, out)?;
    }
    if !errors.is_empty() {
        return Err(format!(
            "{} cell(s) failed:\n{}",
            errors.len(),
            errors.join("\n")
        ));
    }
    Ok(results)
}

/// Runs one unit under its lock (a finished unit is only read back; one held by another worker
/// is left to it).
fn run_unit(
    config: &StudyConfig,
    kind: JudgeKind,
    work: Work,
    out: &Path,
    device: &Device,
    status: &dyn Fn(String),
    results: &Mutex<Vec<CellResult>>,
) -> Result<(), String> {
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
            let result = run_cell(config, kind, region, seed, out, device, status)?;
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
pub fn merge(out: &Path) -> Result<Vec<Work>, String> {
    let path = out.join("study.ron");
    let config = StudyConfig::load(&path).map_err(|e| {
        format!("{e} (merge reads the study.ron a worker wrote into the output folder)")
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

/// One arm in one region, pooled over seeds.
pub struct ArmRow {
    pub region: usize,
    pub arm: Arm,
    /// Cheese, corner-first, neither.
    pub rates: [Rate; 3],
    /// McNemar's test of reaching the cheese, baseline vs this arm, over every (seed, maze)
    /// pair (None for the baseline itself).
    pub versus_baseline: Option<McNemar>,
}

/// The outcome letters of several evaluations, end to end (mazes stay paired across arms as
/// long as every arm lists its seeds in the same order).
fn rates_of(letters: &str) -> [Rate; 3] {
    let n = letters.len();
    let count = |c: char| letters.chars().filter(|&x| x == c).count();
    [
        Rate::new(count('c'), n),
        Rate::new(count('k'), n),
        Rate::new(count('n'), n),
    ]
}

/// Per region and arm: rates pooled over seeds and the paired test against the baseline.
pub fn arm_rows(results: &[CellResult], arms: &[Arm]) -> Vec<ArmRow> {
    let mut regions: Vec<usize> = results.iter().map(|r| r.region).collect();
    regions.dedup();
    let mut rows = Vec::new();
    for region in regions {
        let cells: Vec<&CellResult> = results.iter().filter(|r| r.region == region).collect();
        let letters = |arm: Arm| -> Option<String> {
            cells
                .iter()
                .map(|c| c.arm(arm).map(|o| o.outcomes.clone()))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat())
        };
        let Some(baseline) = letters(Arm::Baseline) else {
            continue;
        };
        for &arm in arms {
            let Some(l) = letters(arm) else { continue };
            rows.push(ArmRow {
                region,
                arm,
                rates: rates_of(&l),
                versus_baseline: (arm != Arm::Baseline)
                    .then(|| McNemar::new(&cheese_first(&baseline), &cheese_first(&l)))
                    .flatten(),
            });
        }
    }
    rows
}

/// Significance level of the `improved` column.
const ALPHA: f64 = 0.01;

/// Writes `results.csv`, `report.md` (with the cells that failed and why) and `plot.png`.
pub fn write_reports(
    config: &StudyConfig,
    finished: &Finished,
    failures: &[String],
    out: &Path,
) -> Result<(), String> {
    let (results, references) = (&finished.cells, &finished.references);
    let rows = arm_rows(results, &config.arms);
    let mut csv = String::from(
        "region,seed,arm,episodes,cheese,cheese_low,cheese_high,corner,corner_low,corner_high,neither,mcnemar_p_vs_baseline\n",
    );
    let mut csv_row = |region: &str, seed: u64, arm: &str, s: &OutcomeSummary, p: Option<f64>| {
        csv.push_str(&format!(
            "{region},{seed},{arm},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{}\n",
            s.episodes,
            s.cheese.rate,
            s.cheese.low,
            s.cheese.high,
            s.corner.rate,
            s.corner.low,
            s.corner.high,
            s.neither.rate,
            p.map_or(String::new(), |p| format!("{p:.3e}"))
        ));
    };
    for r in results {
        let baseline = r.arm(Arm::Baseline).map(ArmOutcome::cheese);
        for run in &r.arms {
            let p = (run.arm != Arm::Baseline)
                .then(|| {
                    baseline
                        .as_ref()
                        .and_then(|b| McNemar::new(b, &run.outcome.cheese()))
                })
                .flatten()
                .map(|t| t.p_value);
            csv_row(
                &r.region.to_string(),
                r.seed,
                run.arm.name(),
                &run.outcome.summary,
                p,
            );
        }
    }
    for (seed, reference) in references {
        csv_row("all", *seed, "reference", &reference.outcome.summary, None);
    }
    write_atomic(&out.join("results.csv"), csv.as_bytes()).map_err(|e| e.to_string())?;

    let reference = (!references.is_empty()).then(|| {
        rates_of(
            &references
                .iter()
                .map(|(_, r)| r.outcome.outcomes.as_str())
                .collect::<String>(),
        )
    });
    let mut md = String::from("# Region study: fine-tuning arms from one checkpoint\n\n");
    md.push_str(&format!(
        "Shifted-distribution outcomes (cheese anywhere), pooled over seeds {:?}; T = {} steps, tau = {}, lambda = {}, scenario share = {}, N^I = {}, N^R = {}, {} pairs (both orders), judge `{}`. Every arm starts from the same tau*T checkpoint and is evaluated on the same mazes; `p` is McNemar's exact test of reaching the cheese against the baseline on those paired mazes.\n\n",
        config.seeds,
        config.train.ppo.total_timesteps,
        config.tau,
        config.lambda,
        config.scenario_share,
        config.inspect_rollouts,
        config.feedback_rollouts,
        config.pairs,
        results.first().map(|r| r.judge.as_str()).unwrap_or("-")
    ));
    md.push_str("| r | arm | cheese | corner first | neither | cheese vs baseline | p | improved |\n|---|---|---|---|---|---|---|---|\n");
    let baseline_of = |region: usize| {
        rows.iter()
            .find(|r| r.region == region && r.arm == Arm::Baseline)
            .map(|r| r.rates)
    };
    for row in &rows {
        let base = baseline_of(row.region);
        let delta = base.map_or("-".into(), |b| {
            format!("{:+.1}", 100.0 * (row.rates[0].rate - b[0].rate))
        });
        let (p, verdict) = match &row.versus_baseline {
            None => ("-".to_string(), "-"),
            Some(t) => (
                format!("{:.1e}", t.p_value),
                if t.second_better(ALPHA) {
                    "**yes** (p < 0.01)"
                } else if t.second_better(0.05) {
                    "yes (p < 0.05)"
                } else if row.rates[0].rate > base.map_or(1.0, |b| b[0].rate) {
                    "higher, not significant"
                } else {
                    "no"
                },
            ),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {delta} | {p} | {verdict} |\n",
            row.region, row.arm, row.rates[0], row.rates[1], row.rates[2]
        ));
    }
    if let Some(reference) = &reference {
        md.push_str(&format!(
            "| all | reference (trained on the shifted mazes, T steps) | {} | {} | {} | | | |\n",
            reference[0], reference[1], reference[2]
        ));
    }
    md.push_str("\n## Per arm\n\n");
    let regions = rows.iter().filter(|r| r.arm == Arm::Baseline).count();
    for &arm in config.arms.iter().filter(|a| **a != Arm::Baseline) {
        let mine: Vec<&ArmRow> = rows.iter().filter(|r| r.arm == arm).collect();
        let gains: Vec<f64> = mine
            .iter()
            .filter_map(|r| baseline_of(r.region).map(|b| r.rates[0].rate - b[0].rate))
            .collect();
        let mean_gain = 100.0 * gains.iter().sum::<f64>() / gains.len().max(1) as f64;
        let significant = mine
            .iter()
            .filter(|r| r.versus_baseline.is_some_and(|t| t.second_better(ALPHA)))
            .count();
        // The repair target: +20 points (or to within 5 points of the reference agent where that
        // is less), p < 0.01, and the corner-first rate at least halved.
        let repaired = mine
            .iter()
            .filter(|r| {
                let Some(b) = baseline_of(r.region) else {
                    return false;
                };
                let wanted = reference.map_or(0.20, |f| (f[0].rate - 0.05 - b[0].rate).min(0.20));
                // Rates are counts over the same number of mazes: 588 - 388 of 1000 is 20 points
                // even where the floating-point difference falls a hair short.
                r.rates[0].rate - b[0].rate >= wanted - 1e-9
                    && r.versus_baseline.is_some_and(|t| t.second_better(ALPHA))
                    && r.rates[1].rate <= 0.5 * b[1].rate
            })
            .count();
        md.push_str(&format!(
            "- **{arm}** ({}): mean cheese gain {mean_gain:+.1} points; significantly higher (p < 0.01) in **{significant} of {regions}** regions; repaired (cheese +20 points or within 5 of the reference, p < 0.01, corner-first at least halved) in **{repaired} of {regions}**\n",
            arm.describe()
        ));
    }
    if config.regions.contains(&0) && config.regions.contains(&1) {
        md.push_str(
            "\nRegions 0 and 1 are the same training distribution (the cheese on the corner cell).\n",
        );
    }
    md.push_str(&format!(
        "\nWall time per cell: {}.\n",
        results
            .iter()
            .map(|r| format!("r={} s={}: {:.0} s", r.region, r.seed, r.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    md.push_str("\n## Reward model (held-out pairs, mean over cells)\n\n| label | precision | recall | F1 |\n|---|---|---|---|\n");
    for class in 0..3 {
        let rows: Vec<_> = results
            .iter()
            .filter_map(|r| r.reward_model.table.get(class))
            .collect();
        if let Some(first) = rows.first() {
            let mean = |f: &dyn Fn(&crate::reward::ClassRow) -> f64| {
                rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64
            };
            md.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.2} |\n",
                first.label,
                mean(&|r| r.precision),
                mean(&|r| r.recall),
                mean(&|r| r.f1)
            ));
        }
    }
    md.push_str(&format!(
        "\n## What the learned reward pays on the training mazes\n\nMean normalised R_hat per kind of step over 200 episodes of the paused agent on the training distribution (form `{:?}`; {}).\n\n| r | seed | stay on cheese | onto cheese | closer | farther | wall bump | onto corner | 99th pct | max |\n|---|---|---|---|---|---|---|---|---|---|\n",
        config.reward.form,
        match config.reward.form {
            crate::reward::RewardForm::Direct => "PPO sees each step's R_hat",
            crate::reward::RewardForm::Potential => "PPO sees gamma * f(s') - f(s) with f(s) = R_hat(s, s), so a state's worth is the \"stay\" column of where the mouse ends",
            crate::reward::RewardForm::TrainedPotential => "each step's R_hat is f(s') - f(s) for the learned potential f and PPO sees gamma * f(s') - f(s); \"stay on cheese\" is f of the cheese state",
        }
    ));
    for r in results {
        if let Some(p) = &r.reward_model.on_training {
            md.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} |\n",
                r.region,
                r.seed,
                p.absorbing,
                p.cheese,
                p.closer,
                p.farther,
                p.bump,
                p.corner.map_or("-".into(), |c| format!("{c:.2}")),
                p.p99,
                p.max
            ));
        }
    }
    let n = results.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CellResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    md.push_str(&format!(
        "\n## Judge diagnostics\n\n- agreement with the oracle: {:.1}% (pairs with different outcomes: {:.1}%)\n- position: first {:.1}%, second {:.1}%, tie {:.1}%; same position in both orders: {:.1}% of pairs\n- failed queries: {}\n- analyses naming the cheese/corner confound: {:.0}%\n- scenarios proposed: {}\n- rejected scenario suggestions: {}\n",
        100.0 * mean(&|r| r.judge_stats.oracle_agreement),
        100.0 * mean(&|r| r.judge_stats.oracle_agreement_decisive),
        100.0 * mean(&|r| r.judge_stats.first_share),
        100.0 * mean(&|r| r.judge_stats.second_share),
        100.0 * mean(&|r| r.judge_stats.tie_share),
        100.0 * mean(&|r| r.judge_stats.order_flips),
        results.iter().map(|r| r.judge_stats.failures).sum::<usize>(),
        100.0 * mean(&|r| f64::from(u8::from(r.names_confound))),
        {
            let mut titles: Vec<String> = results
                .iter()
                .flat_map(|r| r.scenarios.iter().map(ScenarioEdit::title))
                .collect();
            titles.sort();
            titles.dedup();
            titles.join("; ")
        },
        results.iter().map(|r| r.rejected_scenarios.len()).sum::<usize>(),
    ));
    if let Some(measured) = results.iter().find_map(|r| r.judge_measured_agreement) {
        md.push_str(&format!(
            "- the judge's controlled agreement measured by `judge-eval`: {:.0}%{}\n",
            100.0 * measured,
            if measured < 0.70 {
                " — **unreliable** (below 70%): treat its labels and this table with caution"
            } else {
                ""
            }
        ));
    }
    for r in results.iter().filter(|r| r.judge_stats.abandoned.is_some()) {
        md.push_str(&format!(
            "- r={} seed={}: the judge stopped early: {}\n",
            r.region,
            r.seed,
            r.judge_stats.failure_reason()
        ));
    }
    if !failures.is_empty() {
        md.push_str(&format!(
            "\n## Cells that failed ({})\n\nRun the same command again to retry them (finished cells are kept).\n\n",
            failures.len()
        ));
        for failure in failures {
            md.push_str(&format!("- {failure}\n"));
        }
    }
    write_atomic(&out.join("report.md"), md.as_bytes()).map_err(|e| e.to_string())?;
    let series: Vec<PlotSeries> = config
        .arms
        .iter()
        .map(|&arm| PlotSeries {
            label: arm.name().to_string(),
            points: rows
                .iter()
                .filter(|r| r.arm == arm)
                .map(|r| (r.region, r.rates[0]))
                .collect(),
        })
        .collect();
    let png = cheese_rate_plot(&series, reference.map(|r| r[0]))?;
    write_atomic(&out.join("plot.png"), &png).map_err(|e| e.to_string())
}
