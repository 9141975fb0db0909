//! One cell of the study (a cheese region and a seed): pre-training to tau*T, the feedback round,
//! every fine-tuning arm from that checkpoint to T; and the reference agent of a seed.

use super::*;
use crate::experiment::arm::{Arm, Feedback, FineTune, Source};
use crate::experiment::cells::{cell_dir, reference_path};
use crate::experiment::preferences::JudgeStats;
use crate::experiment::round::{self, ArmOutcome};
use crate::experiment::split::Split;
use crate::files::write_atomic;
use crate::level::LevelSource;
use crate::llm::scenario::ScenarioEdit;
use crate::llm::{CachedJudge, Diagnosis, Judge, JudgeSpec, LabelCache};
use crate::reward::RewardReport;
use crate::rl::checkpoint;
use crate::rl::{MetricsLog, Trainer};
use anyhow::Context;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One fine-tuning arm of a finished cell (at one scenario share), evaluated on the cell's
/// shifted test mazes and on its validation mazes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmRun {
    pub arm: Arm,
    /// The share of episodes from the arm's scenarios (None: the arm uses none).
    #[serde(default)]
    pub share: Option<f64>,
    /// On the test mazes: what is reported.
    pub outcome: ArmOutcome,
    /// On the validation mazes: where the share is chosen.
    pub validation: ArmOutcome,
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
    /// What the judge said the agent pursues.
    pub diagnosis: Diagnosis,
    /// Everything the judge proposed ("no change" included).
    pub proposed: Vec<ScenarioEdit>,
    /// The proposals the designer arm trains on (empty: it stays on the training mazes).
    pub scenarios: Vec<ScenarioEdit>,
    /// The menu items the random controls train on.
    pub random_scenarios: Vec<ScenarioEdit>,
    pub rejected_scenarios: Vec<String>,
    pub analysis: String,
    /// Judge answers served from the label cache: a resumed cell asks nothing twice, and a
    /// question repeated within the round (two rollouts that read the same) is asked once.
    pub cached_answers: usize,
    /// Env steps of pre-training (tau * T) and of each arm's fine-tuning.
    pub pretrain_steps: u64,
    pub arm_steps: u64,
    pub seconds: f64,
    /// Where the run that finished the cell spent its time (None in cells finished before it
    /// was recorded).
    #[serde(default)]
    pub cost: Option<CellCost>,
}

/// What the run that finished a cell spent on it, beside each arm's [`ArmRun::seconds`]. A run
/// that resumed a cell counts only its own part: `resumed` says so.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellCost {
    /// Pre-training to tau * T (what was left of it when resumed).
    pub pretrain_seconds: f64,
    /// The feedback round of every source the arms need: rollouts, the judge's analysis and
    /// labels, the reward models.
    pub round_seconds: f64,
    /// Of the round, the judge's own answering time (analysis and labels; replayed answers cost
    /// nothing).
    pub judge_seconds: f64,
    /// The process's peak resident memory when the cell finished (Linux; with `--jobs` above 1
    /// the workers share one process, so it covers them all).
    pub peak_memory_mib: Option<f64>,
    /// The run found pre-training checkpoints or cached judge answers from an earlier one.
    pub resumed: bool,
}

impl CellResult {
    /// The run of `arm` at `share` (ignored for arms without scenarios), if it ran.
    pub fn run(&self, arm: Arm, share: f64) -> Option<&ArmRun> {
        self.arms
            .iter()
            .find(|a| a.arm == arm && a.share.is_none_or(|s| (s - share).abs() < 1e-9))
    }

    /// The test outcome of `arm` at `share`, if it ran.
    pub fn arm(&self, arm: Arm, share: f64) -> Option<&ArmOutcome> {
        self.run(arm, share).map(|a| &a.outcome)
    }
}

/// Trains `trainer` until it has done `iterations` iterations (or finishes), checkpointing into `dir`.
fn train_until(trainer: &mut Trainer, iterations: u64, dir: &Path) -> anyhow::Result<()> {
    while trainer.state.iteration < iterations && !trainer.finished() {
        trainer.iterate();
        if trainer
            .state
            .iteration
            .is_multiple_of(trainer.config.checkpoint_every.max(1))
        {
            checkpoint::save(trainer, dir)?;
        }
    }
    checkpoint::save(trainer, dir)?;
    Ok(())
}

/// The value stored at `path` by an earlier run, or `make`'s, stored there (atomically) so that
/// a killed study does not compute it again.
fn finished_once<T: Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if let Some(done) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        return Ok(done);
    }
    let value = make()?;
    let json = serde_json::to_vec_pretty(&value)?;
    write_atomic(path, &json)?;
    Ok(value)
}

/// Runs `trainer` to its end, writing the curve (CleanRL metric names, one row per iteration) to
/// `curve_path` and the CSV beside it.
fn train_to_end(trainer: &mut Trainer, curve_path: &Path) -> anyhow::Result<()> {
    let mut curve = MetricsLog::create(curve_path)?;
    while !trainer.finished() {
        curve.append(&trainer.iterate())?;
    }
    Ok(())
}

/// What one cell's feedback sources and arms share: where it writes, its mazes and its seed.
struct CellRun<'a> {
    config: &'a StudyConfig,
    dir: &'a Path,
    pretrain_dir: &'a Path,
    training: &'a LevelSource,
    shifted: &'a LevelSource,
    seed: u64,
    tag: &'a str,
    device: &'a Device,
    status: &'a dyn Fn(String),
}

impl CellRun<'_> {
    /// One feedback round per source the arms need (the judge's, the LLM-free controls'), each
    /// with its rollouts, preference labels and reward model; the judge's labels are kept.
    fn feedback_sources(
        &self,
        judge: &mut CachedJudge,
        scenarios: &[crate::llm::Scenario],
        paused: &crate::rl::Policy,
        settings: &round::RoundSettings,
        round_seed: u64,
    ) -> anyhow::Result<Vec<round::SourceRound>> {
        let LevelSource::Distribution { spec: base, .. } = self.training else {
            anyhow::bail!("the study needs a level distribution, not a fixed layout");
        };
        let mut sources: Vec<round::SourceRound> = Vec::new();
        for source in self.config.arms.iter().filter_map(|a| a.source()) {
            if sources.iter().any(|s| s.source == source) {
                continue;
            }
            (self.status)(format!(
                "{}: {source:?}: rollouts + {} preference pairs + reward model",
                self.tag, settings.pairs
            ));
            let agent = round::PausedAgent {
                policy: paused,
                training: self.training,
                max_steps: self.config.train.max_steps,
                device: self.device,
            };
            let round =
                round::source_round(source, judge, scenarios, agent, base, settings, round_seed)
                    .map_err(|e| anyhow::anyhow!("{source:?} feedback ({}): {e}", judge.name()))?;
            if source == Source::Judge {
                write_atomic(
                    &self.dir.join("preferences.json"),
                    &serde_json::to_vec(&round.labels.pairs)?,
                )?;
            }
            sources.push(round);
        }
        Ok(sources)
    }

    /// Every arm (at every share, for arms with scenarios) from the same checkpoint to T,
    /// evaluated on the same shifted mazes; an arm finished earlier is read back.
    fn fine_tune_arms(
        &self,
        sources: &[round::SourceRound],
        lambda: f32,
    ) -> anyhow::Result<Vec<ArmRun>> {
        let feedback_of = |arm: Arm| -> Feedback {
            arm.source()
                .and_then(|source| sources.iter().find(|s| s.source == source))
                .map_or_else(round::no_feedback, |s| s.feedback.clone())
        };
        let mut arms: Vec<ArmRun> = Vec::new();
        for &arm in &self.config.arms {
            let feedback = feedback_of(arm);
            let shares: Vec<Option<f64>> = if arm.uses_scenarios() {
                self.config.shares.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for share in shares {
                // Without scenarios the level mix is the training mazes at every share: one run.
                if feedback.scenarios.is_empty()
                    && let Some(done) = arms.iter().find(|a| a.arm == arm).cloned()
                {
                    arms.push(ArmRun { share, ..done });
                    continue;
                }
                let name = match share {
                    Some(share) => format!("{arm}-share{share}"),
                    None => arm.name().to_string(),
                };
                let run = finished_once(&self.dir.join(format!("{name}.json")), || {
                    (self.status)(format!("{}: {name} arm ({})", self.tag, arm.describe()));
                    let arm_started = Instant::now();
                    let mut tuned = checkpoint::resume(self.pretrain_dir, self.device, &[])?;
                    let tune = FineTune {
                        lambda,
                        share: share.unwrap_or(0.0),
                    };
                    arm.prepare(&mut tuned, &feedback, self.training, tune)?;
                    let curve = self.dir.join(format!("{name}-metrics.jsonl"));
                    let (outcome, validation) = finish_and_evaluate(
                        &mut tuned,
                        &curve,
                        self.shifted,
                        self.config,
                        self.seed,
                    )?;
                    Ok(ArmRun {
                        arm,
                        share,
                        outcome,
                        validation,
                        seconds: arm_started.elapsed().as_secs_f64(),
                    })
                })?;
                arms.push(run);
            }
        }
        Ok(arms)
    }
}

/// Trains `trainer` to its end (the curve into `curve_path`) and evaluates it on the seed's
/// shifted test and validation mazes, the same for every arm and the reference agent.
fn finish_and_evaluate(
    trainer: &mut Trainer,
    curve_path: &Path,
    shifted: &LevelSource,
    config: &StudyConfig,
    seed: u64,
) -> anyhow::Result<(ArmOutcome, ArmOutcome)> {
    train_to_end(trainer, curve_path)?;
    let policy = trainer.policy();
    let on = |split: Split, episodes: usize| {
        round::evaluate_on(
            &policy,
            &split.levels(shifted),
            episodes,
            round::evaluation_seed(seed),
            trainer.config.max_steps,
        )
    };
    Ok((
        on(Split::Test, config.train.eval_episodes),
        on(Split::Validation, config.validation_episodes),
    ))
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
) -> anyhow::Result<ReferenceRun> {
    let path = reference_path(out, seed);
    finished_once(&path, || {
        status(format!("seed={seed}: reference agent on the shifted mazes"));
        let started = Instant::now();
        let mut train = config.train.clone();
        train.seed = seed;
        train.region = Some(config.regions.first().copied().unwrap_or(0));
        let shifted = train.shifted_levels()?;
        let mut trainer = Trainer::on_levels(train.clone(), shifted.clone(), device);
        let dir = out.join("reference");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let curve = dir.join(format!("s{seed}-metrics.jsonl"));
        let (outcome, _) = finish_and_evaluate(&mut trainer, &curve, &shifted, config, seed)?;
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
    judge: &JudgeSpec,
    region: usize,
    seed: u64,
    out: &Path,
    device: &Device,
    status: &dyn Fn(String),
) -> anyhow::Result<CellResult> {
    let dir = cell_dir(out, region, seed);
    let result_path = dir.join("result.json");
    if let Ok(text) = std::fs::read_to_string(&result_path)
        && let Ok(done) = serde_json::from_str::<CellResult>(&text)
    {
        status(format!("r={region} seed={seed}: finished earlier, skipped"));
        return Ok(done);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
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
    let (mut trainer, resumed) = match checkpoint::resume(&pretrain_dir, device, &[]) {
        Ok(t) => (t, true),
        Err(_) => (Trainer::new(train.clone(), device)?, false),
    };
    status(format!("{tag}: training to tau*T"));
    train_until(&mut trainer, pause_at, &pretrain_dir)?;
    let pretrain_seconds = started.elapsed().as_secs_f64();
    let paused = trainer.policy();
    let batch = train.ppo.batch_size() as u64;
    let pretrain_steps = trainer.state.iteration * batch;
    let shifted = train.shifted_levels()?;
    let training = train.training_levels()?;
    let LevelSource::Distribution { spec: base, .. } = &training else {
        anyhow::bail!("the study needs a level distribution, not a fixed layout");
    };

    // The feedback round: inspection, scenarios, labels, reward model.
    status(format!("{tag}: LLM analysis"));
    let cache = LabelCache::open(&dir.join("labels.jsonl"))?;
    let mut judge = CachedJudge::new(judge.build(base, round::judge_seed(seed))?, cache);
    let round_seed = round::round_seed(seed, 1, region);
    let inspection = round::inspect(
        &mut judge,
        &paused,
        &shifted,
        base,
        &settings,
        train.max_steps,
        round_seed,
    );

    // Each source of feedback the arms need: the judge's, and the LLM-free controls'.
    let cell = CellRun {
        config,
        dir: &dir,
        pretrain_dir: &pretrain_dir,
        training: &training,
        shifted: &shifted,
        seed,
        tag: &tag,
        device,
        status,
    };
    let sources = cell.feedback_sources(
        &mut judge,
        &inspection.scenarios,
        &paused,
        &settings,
        round_seed,
    )?;
    let round_seconds = started.elapsed().as_secs_f64() - pretrain_seconds;
    let arms = cell.fine_tune_arms(&sources, settings.lambda)?;
    let judge_round = sources.iter().find(|s| s.source == Source::Judge);
    let random_round = sources.iter().find(|s| s.source != Source::Judge);
    let edits = |scenarios: &[crate::llm::Scenario]| -> Vec<ScenarioEdit> {
        scenarios.iter().map(|s| s.edit.clone()).collect()
    };

    let result = CellResult {
        region,
        seed,
        judge: judge.name(),
        arms,
        reward_model: judge_round
            .and_then(|s| s.report.clone())
            .unwrap_or_default(),
        judge_stats: judge_round
            .map(|s| s.labels.stats.clone())
            .unwrap_or_default(),
        judge_measured_agreement: judge.measured_agreement(),
        diagnosis: inspection.analysis.diagnosis,
        proposed: edits(&inspection.analysis.scenarios),
        scenarios: edits(&inspection.scenarios),
        random_scenarios: random_round
            .map(|s| edits(&s.scenarios))
            .unwrap_or_default(),
        rejected_scenarios: inspection.analysis.rejected.clone(),
        analysis: inspection.analysis.raw.clone(),
        cached_answers: judge.hits,
        pretrain_steps,
        arm_steps: total_iterations.saturating_sub(pause_at) * batch,
        seconds: started.elapsed().as_secs_f64(),
        cost: Some(CellCost {
            pretrain_seconds,
            round_seconds,
            judge_seconds: judge.seconds,
            peak_memory_mib: crate::files::peak_rss_mib(),
            resumed: resumed || judge.replayed > 0,
        }),
    };
    let json = serde_json::to_vec_pretty(&result)?;
    write_atomic(&result_path, &json)?;
    // The pretrain checkpoints are only needed until the cell is done (unless kept on purpose).
    if !config.keep_pretrain {
        let _ = std::fs::remove_dir_all(&pretrain_dir);
    }
    Ok(result)
}
