//! The region study: for each cheese region r and seed, a baseline (env reward for all T steps)
//! and an LLM-feedback arm (from the same tau*T checkpoint: analysis, scenarios, swap-averaged
//! preferences, reward model, fine-tuning with R'), optionally a ceiling arm (the same fine-tuning
//! with the true maze-distance potential), all evaluated on the shifted distribution.
//! Resumable (finished cells are skipped, labels are cached as they arrive), `--jobs N` parallel,
//! and reported as `results.csv`, `report.md` and `plot.png`.

use super::preferences::{JudgeStats, choose_pairs, gather_preferences};
use super::rollouts::collect_rollouts;
use crate::config::TrainConfig;
use crate::level::{DistributionSpec, LevelSource};
use crate::llm::http::{HttpConfig, HttpJudge};
use crate::llm::human::{HumanChannel, HumanJudge};
use crate::llm::oracle::{Oracle, OracleConfig};
use crate::llm::scenario::ScenarioEdit;
use crate::llm::text::environment_description;
use crate::llm::{CachedJudge, Judge, LabelCache, Rollout};
use crate::reward::{RewardConfig, RewardModel, RewardReport};
use crate::rl::checkpoint::{self, write_atomic};
use crate::rl::ppo::{RewardShaping, RewardSource};
use crate::rl::{Trainer, evaluate};
use crate::rng::derive_seed;
use crate::sim::OutcomeSummary;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
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
    /// `result.json` re-runs only the feedback arm (e.g. with other `reward` settings) and reuses
    /// the pre-training and the baseline.
    #[serde(default)]
    pub keep_pretrain: bool,
    /// Judge pieces of at most this many moves instead of whole episodes (see
    /// [`crate::experiment::rollouts::segments`]); unset: whole episodes, as in the paper.
    #[serde(default)]
    pub segment_steps: Option<usize>,
    /// Also fine-tune a third arm from the same checkpoint with the true maze-distance potential
    /// in place of the learned reward (see [`crate::reward::maze_distance_potentials`]): the most
    /// a perfect reward model could do when fine-tuning on the training distribution, so that a
    /// null result can be told apart from a reward model that failed.
    #[serde(default)]
    pub ceiling: bool,
}

impl StudyConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .map_err(|e| crate::config::ron_error_at(path, &e))
    }

    /// Applies `--set` overrides (dotted keys, JSON values).
    pub fn with_overrides(self, assignments: &[String]) -> Result<Self, String> {
        crate::config::apply_overrides(self, assignments)
            .map_err(|(assignment, message)| format!("--set {assignment}: {message}"))
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

/// One finished (region, seed) cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    pub region: usize,
    pub seed: u64,
    pub judge: String,
    pub baseline: OutcomeSummary,
    pub feedback: OutcomeSummary,
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
    pub seconds: f64,
    /// The ceiling arm's outcomes (when `ceiling` is on).
    #[serde(default)]
    pub ceiling: Option<OutcomeSummary>,
}

fn cell_dir(out: &Path, region: usize, seed: u64) -> PathBuf {
    out.join("cells").join(format!("r{region:02}-s{seed}"))
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

/// The outcome stored at `path` by an earlier run, or `arm`'s, stored there (atomically) so that a
/// killed study does not run the arm again.
fn finished_once(
    path: &Path,
    arm: impl FnOnce() -> Result<OutcomeSummary, String>,
) -> Result<OutcomeSummary, String> {
    if let Some(done) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        return Ok(done);
    }
    let summary = arm()?;
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    write_atomic(path, &json).map_err(|e| e.to_string())?;
    Ok(summary)
}

/// Resumes the tau*T checkpoint in `pretrain_dir`, fine-tunes it to T with `shaping`, writes the
/// fine-tuning curve (CleanRL metric names, one JSON line per iteration: the training
/// distribution's cheese rate and episode length under R') to `curve_path`, and evaluates the
/// result on the shifted distribution.
fn fine_tune(
    config: &StudyConfig,
    pretrain_dir: &Path,
    device: &Device,
    shaping: RewardShaping,
    curve_path: &Path,
    shifted: &LevelSource,
    seed: u64,
) -> Result<OutcomeSummary, String> {
    let mut tuned = checkpoint::resume(pretrain_dir, device, &[]).map_err(|e| e.to_string())?;
    tuned.shaping = Some(shaping);
    let mut curve = String::new();
    while !tuned.finished() {
        let metrics = tuned.iterate();
        if let Ok(line) = serde_json::to_string(&metrics) {
            curve.push_str(&line);
            curve.push('\n');
        }
    }
    write_atomic(curve_path, curve.as_bytes()).map_err(|e| e.to_string())?;
    let (summary, _) = evaluate(
        &tuned.policy(),
        shifted,
        config.eval_episodes,
        derive_seed(seed, 77),
        tuned.config.max_steps,
    );
    Ok(summary)
}

fn make_judge(
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

/// Runs one cell (or loads it if it already finished).
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
    let mut train = config.train.clone();
    train.region = Some(region);
    train.seed = seed;
    let total_iterations = train.ppo.num_iterations();
    let pause_at =
        ((config.tau * total_iterations as f64).round() as u64).clamp(1, total_iterations);
    let tag = format!("r={region} seed={seed}");

    // 1. Train with R for tau * T.
    let pretrain_dir = dir.join("pretrain");
    let mut trainer = match checkpoint::resume(&pretrain_dir, device, &[]) {
        Ok(t) => t,
        Err(_) => Trainer::new(train.clone(), device).map_err(|e| e.to_string())?,
    };
    status(format!("{tag}: training to tau*T"));
    train_until(&mut trainer, pause_at, &pretrain_dir)?;
    let paused = trainer.policy();
    let shifted = train.shifted_levels().map_err(|e| e.to_string())?;
    let LevelSource::Distribution { spec: base, .. } =
        train.training_levels().map_err(|e| e.to_string())?
    else {
        return Err("the study needs a level distribution, not a fixed layout".into());
    };

    // 2. Baseline: R for the remaining steps.
    let baseline = finished_once(&dir.join("baseline.json"), || {
        status(format!("{tag}: baseline to T"));
        let mut base_trainer =
            checkpoint::resume(&pretrain_dir, device, &[]).map_err(|e| e.to_string())?;
        while !base_trainer.finished() {
            base_trainer.iterate();
        }
        let (summary, _) = evaluate(
            &base_trainer.policy(),
            &shifted,
            config.eval_episodes,
            derive_seed(seed, 77),
            train.max_steps,
        );
        Ok(summary)
    })?;

    // 3. Inspect: the judge reads rollouts of the paused agent and proposes scenarios.
    status(format!("{tag}: LLM analysis"));
    let cache = LabelCache::open(&dir.join("labels.jsonl"))?;
    let mut judge = CachedJudge::new(
        make_judge(kind, config, &base, derive_seed(seed, 5))?,
        cache,
    );
    judge.begin_round();
    let inspect = collect_rollouts(
        &paused,
        &shifted,
        config.inspect_rollouts,
        derive_seed(seed, 11),
        train.max_steps,
    );
    let environment = environment_description(base.world_size, train.max_steps);
    let analysis = judge
        .analyze(&environment, &inspect)
        .unwrap_or_else(|e| crate::llm::Analysis {
            rejected: vec![format!("analysis failed: {e}")],
            ..Default::default()
        });
    let mut scenarios = analysis.scenarios.clone();
    if scenarios.is_empty() {
        // The round goes on: fall back to the plainest edit, and say so in the report.
        if let Ok(s) = ScenarioEdit::CheeseAnywhere.apply(&base) {
            scenarios.push(s);
        }
    }

    // 4. Roll out in the scenarios and gather swap-averaged preferences.
    status(format!(
        "{tag}: rollouts + {} preference pairs",
        config.pairs
    ));
    let per = config.feedback_rollouts.div_ceil(scenarios.len().max(1));
    let mut rollouts: Vec<Rollout> = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let source = LevelSource::Distribution {
            name: format!("{:?}", s.edit),
            spec: s.spec.clone(),
        };
        rollouts.extend(collect_rollouts(
            &paused,
            &source,
            per,
            derive_seed(seed, 100 + i as u64),
            train.max_steps,
        ));
    }
    if let Some(steps) = config.segment_steps {
        rollouts = crate::experiment::rollouts::segments(&rollouts, steps);
    }
    let mut rng = crate::rng::Rng::new(derive_seed(seed, 13));
    let pairs = choose_pairs(&rollouts, config.pairs, &mut rng);
    let round = gather_preferences(&mut judge, &rollouts, &pairs, |_| true);

    // 5. Reward model.
    status(format!("{tag}: reward model"));
    let (reward_model, mut reward_report) = RewardModel::train(
        &rollouts,
        &round.pairs,
        &config.reward,
        derive_seed(seed, 17),
        device,
    )?;

    let on_training = collect_rollouts(
        &paused,
        &train.training_levels().map_err(|e| e.to_string())?,
        200,
        derive_seed(seed, 19),
        train.max_steps,
    );
    reward_report.on_training = Some(reward_model.step_profile(&on_training));

    // 6. Fine-tune from the same checkpoint with R'.
    status(format!("{tag}: fine-tuning with R'"));
    let tune = |source: RewardSource, curve: &str| {
        let shaping = RewardShaping {
            source,
            lambda: config.lambda,
        };
        fine_tune(
            config,
            &pretrain_dir,
            device,
            shaping,
            &dir.join(curve),
            &shifted,
            seed,
        )
    };
    let learned = RewardSource::Learned(Arc::new(reward_model));
    let feedback = tune(learned, "finetune-metrics.jsonl")?;

    // 7. The ceiling control: the same fine-tuning with the true potential.
    let ceiling = if config.ceiling {
        Some(finished_once(&dir.join("ceiling.json"), || {
            status(format!("{tag}: ceiling arm (true maze-distance reward)"));
            tune(RewardSource::MazeDistance, "ceiling-metrics.jsonl")
        })?)
    } else {
        None
    };

    let result = CellResult {
        region,
        seed,
        judge: judge.name(),
        baseline,
        feedback,
        reward_model: reward_report,
        judge_stats: round.stats,
        judge_measured_agreement: judge.measured_agreement(),
        names_confound: analysis.names_confound(),
        scenarios: scenarios.iter().map(|s| s.edit.clone()).collect(),
        rejected_scenarios: analysis.rejected.clone(),
        analysis: analysis.raw.clone(),
        cached_answers: judge.hits,
        seconds: started.elapsed().as_secs_f64(),
        ceiling,
    };
    let json = serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())?;
    write_atomic(&result_path, &json).map_err(|e| e.to_string())?;
    // The pretrain checkpoints are only needed until the cell is done (unless kept on purpose).
    if !config.keep_pretrain {
        let _ = std::fs::remove_dir_all(&pretrain_dir);
    }
    Ok(result)
}

/// Runs every cell (in `jobs` threads), then writes the reports.
pub fn run_study(
    config: &StudyConfig,
    kind: JudgeKind,
    out: &Path,
    jobs: usize,
    device: &Device,
) -> Result<Vec<CellResult>, String> {
    if kind == JudgeKind::Human && jobs > 1 {
        return Err("--judge human asks at one terminal: use --jobs 1".into());
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let config_text = ron::ser::to_string_pretty(config, ron::ser::PrettyConfig::default())
        .map_err(|e| e.to_string())?;
    write_atomic(&out.join("study.ron"), config_text.as_bytes()).map_err(|e| e.to_string())?;
    let cells: Vec<(usize, u64)> = config
        .regions
        .iter()
        .flat_map(|&r| config.seeds.iter().map(move |&s| (r, s)))
        .collect();
    let multi = indicatif::MultiProgress::new();
    let overall = multi.add(indicatif::ProgressBar::new(cells.len() as u64));
    overall.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} cells {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let queue = Mutex::new(cells.clone());
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let line = multi.add(indicatif::ProgressBar::new_spinner());
            scope.spawn(|| {
                let line = line;
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some((region, seed)) = next else { break };
                    let status = |m: String| line.set_message(m);
                    match run_cell(config, kind, region, seed, out, device, &status) {
                        Ok(r) => {
                            if let Ok(mut v) = results.lock() {
                                v.push(r);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("r={region} seed={seed}: {e}"));
                            }
                        }
                    }
                    overall.inc(1);
                }
                line.finish_and_clear();
            });
        }
    });
    overall.finish();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| (r.region, r.seed));
    write_reports(config, &results, out)?;
    let errors = errors.into_inner().unwrap_or_default();
    if !errors.is_empty() {
        return Err(format!(
            "{} cell(s) failed:\n{}",
            errors.len(),
            errors.join("\n")
        ));
    }
    Ok(results)
}

/// Pooled outcome rates of several summaries.
fn pooled(summaries: &[&OutcomeSummary]) -> (crate::sim::Rate, crate::sim::Rate, crate::sim::Rate) {
    let n: usize = summaries.iter().map(|s| s.episodes).sum();
    let sum = |f: &dyn Fn(&OutcomeSummary) -> usize| summaries.iter().map(|s| f(s)).sum::<usize>();
    (
        crate::sim::Rate::new(sum(&|s| s.cheese.successes), n),
        crate::sim::Rate::new(sum(&|s| s.corner.successes), n),
        crate::sim::Rate::new(sum(&|s| s.neither.successes), n),
    )
}

/// Per region: (region, baseline rates, feedback rates).
type RegionRow = (usize, [crate::sim::Rate; 3], [crate::sim::Rate; 3]);

fn region_rows(results: &[CellResult]) -> Vec<RegionRow> {
    let mut regions: Vec<usize> = results.iter().map(|r| r.region).collect();
    regions.dedup();
    regions
        .into_iter()
        .map(|region| {
            let cells: Vec<&CellResult> = results.iter().filter(|r| r.region == region).collect();
            let b = pooled(&cells.iter().map(|c| &c.baseline).collect::<Vec<_>>());
            let f = pooled(&cells.iter().map(|c| &c.feedback).collect::<Vec<_>>());
            (region, [b.0, b.1, b.2], [f.0, f.1, f.2])
        })
        .collect()
}

/// Writes `results.csv`, `report.md` and `plot.png`.
pub fn write_reports(
    config: &StudyConfig,
    results: &[CellResult],
    out: &Path,
) -> Result<(), String> {
    let mut csv = String::from(
        "region,seed,arm,episodes,cheese,cheese_low,cheese_high,corner,corner_low,corner_high,neither\n",
    );
    for r in results {
        let arms = [
            ("baseline", Some(&r.baseline)),
            ("llm_feedback", Some(&r.feedback)),
            ("ceiling", r.ceiling.as_ref()),
        ];
        for (arm, s) in arms.into_iter().filter_map(|(a, s)| Some((a, s?))) {
            csv.push_str(&format!(
                "{},{},{arm},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
                r.region,
                r.seed,
                s.episodes,
                s.cheese.rate,
                s.cheese.low,
                s.cheese.high,
                s.corner.rate,
                s.corner.low,
                s.corner.high,
                s.neither.rate
            ));
        }
    }
    write_atomic(&out.join("results.csv"), csv.as_bytes()).map_err(|e| e.to_string())?;

    let rows = region_rows(results);
    let improved = rows
        .iter()
        .filter(|(_, b, f)| f[0].rate > b[0].rate)
        .count();
    let significant = rows
        .iter()
        .filter(|(_, b, f)| f[0].significantly_above(&b[0]))
        .count();
    // The ceiling arm's pooled cheese rate per region, where it ran.
    let ceilings: Vec<Option<crate::sim::Rate>> = rows
        .iter()
        .map(|(region, _, _)| {
            let cells: Vec<&OutcomeSummary> = results
                .iter()
                .filter(|r| r.region == *region)
                .filter_map(|r| r.ceiling.as_ref())
                .collect();
            (!cells.is_empty()).then(|| pooled(&cells).0)
        })
        .collect();
    let with_ceiling = ceilings.iter().any(Option::is_some);
    let mut md = String::from("# Region study: baseline vs LLM feedback\n\n");
    md.push_str(&format!(
        "Shifted-distribution outcomes (cheese anywhere), pooled over seeds {:?}; T = {} steps, tau = {}, lambda = {}, N^I = {}, N^R = {}, {} pairs (both orders), judge `{}`.\n\n",
        config.seeds,
        config.train.ppo.total_timesteps,
        config.tau,
        config.lambda,
        config.inspect_rollouts,
        config.feedback_rollouts,
        config.pairs,
        results.first().map(|r| r.judge.as_str()).unwrap_or("-")
    ));
    md.push_str("| r | baseline cheese | baseline corner-first | baseline neither | LLM cheese | LLM corner-first | LLM neither | improved |");
    md.push_str(if with_ceiling {
        " ceiling cheese |\n|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|---|\n"
    });
    for ((region, b, f), ceiling) in rows.iter().zip(&ceilings) {
        let verdict = if f[0].significantly_above(&b[0]) {
            "yes (p < 0.05)"
        } else if f[0].rate > b[0].rate {
            "yes"
        } else {
            "no"
        };
        md.push_str(&format!(
            "| {region} | {} | {} | {} | {} | {} | {} | {verdict} |",
            b[0], b[1], b[2], f[0], f[1], f[2],
        ));
        if with_ceiling {
            md.push_str(&ceiling.map_or(" - |".into(), |c| format!(" {c} |")));
        }
        md.push('\n');
    }
    md.push_str(&format!(
        "\nThe LLM-feedback arm reaches the cheese more often in **{improved} of {} regions** (point estimates); significantly more often (two-proportion z-test, p < 0.05) in **{significant}**.\n\n",
        rows.len()
    ));
    if with_ceiling {
        md.push_str("The ceiling arm fine-tunes from the same checkpoint with the true maze-distance potential in place of the learned reward: what a perfect reward model could do on the training distribution.\n\n");
    }
    md.push_str("## Reward model (held-out pairs, mean over cells)\n\n| label | precision | recall | F1 |\n|---|---|---|---|\n");
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
        "\n## Judge diagnostics\n\n- agreement with the oracle: {:.1}% (pairs with different outcomes: {:.1}%)\n- position: first {:.1}%, second {:.1}%, tie {:.1}%; same position in both orders: {:.1}% of pairs\n- failed queries: {}\n- analyses naming the cheese/corner confound: {:.0}%\n- rejected scenario suggestions: {}\n",
        100.0 * mean(&|r| r.judge_stats.oracle_agreement),
        100.0 * mean(&|r| r.judge_stats.oracle_agreement_decisive),
        100.0 * mean(&|r| r.judge_stats.first_share),
        100.0 * mean(&|r| r.judge_stats.second_share),
        100.0 * mean(&|r| r.judge_stats.tie_share),
        100.0 * mean(&|r| r.judge_stats.order_flips),
        results.iter().map(|r| r.judge_stats.failures).sum::<usize>(),
        100.0 * mean(&|r| f64::from(u8::from(r.names_confound))),
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
    write_atomic(&out.join("report.md"), md.as_bytes()).map_err(|e| e.to_string())?;
    let png = super::plot::cheese_rate_plot(&rows, &ceilings)?;
    write_atomic(&out.join("plot.png"), &png).map_err(|e| e.to_string())
}
