//! `judge-eval`: how often a judge (embedded, or an OpenAI-compatible server) prefers the rollout
//! that reaches the cheese, on rollouts of a trained corner agent in shifted mazes — as rolled
//! out, on length-balanced pairs and with paraphrased wording — with position bias before and
//! after swapping and calibration, speed, load time and memory, and how often its analyses name
//! the corner agent's proxy (the top-right corner). `--diagnosis` is [`super::diagnosis`].

use super::ExperimentError;
use crate::files::WriteError;
use crate::llm::embedded::{Dequantize, EmbeddedConfig, EmbeddedJudge, PairScore};
use crate::llm::http::{HttpConfig, HttpJudge};
use crate::llm::text::{Wording, environment_description};
use crate::llm::{Choice, Diagnosis, Episodes, Judge, JudgeError};

/// The proxy of the corner agent whose rollouts are judged.
const TOP_RIGHT: Diagnosis = Diagnosis::Corner(crate::level::Corner::TopRight);
use crate::rl::{Policy, checkpoint};
use crate::sim::Rollout;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// What to measure.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    pub checkpoint: PathBuf,
    pub pairs: usize,
    pub seed: u64,
    /// Episode limit of the judged rollouts (a failure runs this long).
    pub max_steps: u32,
    pub models: Vec<String>,
    pub prompts: Vec<String>,
    pub dequantize: Dequantize,
    /// Analyses asked per model/prompt (each writes free text: the slow part).
    pub analyses: usize,
}

/// Agreement and bias on one set of pairs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SetResult {
    pub pairs: usize,
    /// Both orders averaged, calibrated: the share of pairs where the success is preferred.
    pub agreement: f64,
    /// The same without calibration.
    pub agreement_raw: f64,
    /// Share of single queries answering the first position, raw and calibrated.
    pub first_raw: f64,
    pub first_calibrated: f64,
    /// Mean share of the next-token probability on the two labels (0 where not seen).
    pub label_mass: f64,
    /// Queries that failed (counted as ties).
    pub failed: usize,
}

/// One model with one prompt variant.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    pub model: String,
    pub prompt: String,
    pub original: SetResult,
    pub balanced: SetResult,
    pub paraphrased: SetResult,
    /// Mean of the balanced and paraphrased agreements: what the judge knows about content.
    pub controlled_agreement: f64,
    /// Labelled pairs (both orders) per second.
    pub pairs_per_second: f64,
    pub load_seconds: f64,
    pub rss_mib: f64,
    pub analyses: usize,
    /// Analyses of the top-right corner agent that named its corner (the diagnosis benchmark,
    /// [`super::diagnosis`], measures this on held-out agents of every kind).
    pub analyses_naming_proxy: usize,
    pub analysis_example: String,
    pub scenarios_example: Vec<String>,
}

/// The judged pairs: (success, failure), the failure as rolled out and cut to the success's
/// length.
pub struct PairBank {
    pub original: Vec<(Rollout, Rollout)>,
    pub balanced: Vec<(Rollout, Rollout)>,
    pub environment: String,
    pub base: crate::level::DistributionSpec,
}

/// The first `moves` moves of a rollout (a failure stays a failure).
pub fn truncated(rollout: &Rollout, moves: usize) -> Rollout {
    let moves = moves.min(rollout.actions.len());
    let mut out = rollout.clone();
    out.actions.truncate(moves);
    out.path.truncate(moves + 1);
    out.stats.length = moves as u32;
    out
}

/// Rolls the checkpoint's agent out on its shifted distribution until `pairs` successes and
/// `pairs` failures are recorded.
pub fn collect_pairs(settings: &EvalSettings) -> Result<PairBank, ExperimentError> {
    let device = burn::tensor::Device::flex();
    let loaded = checkpoint::load(&settings.checkpoint, &device)?;
    let shifted = loaded.config.shifted_levels()?;
    let base = match loaded.config.training_levels()? {
        crate::level::LevelSource::Distribution { spec, .. } => spec,
        _ => {
            return Err(ExperimentError::invalid(
                "judge-eval needs a checkpoint trained on a level distribution",
            ));
        }
    };
    let world = shifted.world_size();
    let policy = Policy::new(loaded.model, device);
    let (mut hits, mut misses) = (Vec::new(), Vec::new());
    for batch in 0..50u64 {
        let rollouts = crate::experiment::collect_rollouts(
            &policy,
            &shifted,
            64,
            crate::rng::derive_seed(settings.seed, batch),
            settings.max_steps,
        );
        for r in rollouts {
            if r.stats.reached_cheese {
                hits.push(r);
            } else {
                misses.push(r);
            }
        }
        if hits.len() >= settings.pairs && misses.len() >= settings.pairs {
            break;
        }
    }
    if hits.len() < settings.pairs || misses.len() < settings.pairs {
        return Err(ExperimentError::invalid(format!(
            "the agent gave {} successes and {} failures in 3200 episodes; need {} of each",
            hits.len(),
            misses.len(),
            settings.pairs
        )));
    }
    let original: Vec<(Rollout, Rollout)> =
        hits.into_iter().zip(misses).take(settings.pairs).collect();
    let balanced = original
        .iter()
        .map(|(s, f)| (s.clone(), truncated(f, s.actions.len())))
        .collect();
    Ok(PairBank {
        original,
        balanced,
        environment: environment_description(world, settings.max_steps),
        base,
    })
}

/// Scores with a cache: identical prompts are computed once.
struct Scorer<'a> {
    judge: &'a mut EmbeddedJudge,
    cache: HashMap<(String, String), PairScore>,
    computed: usize,
    seconds: f64,
}

impl Scorer<'_> {
    fn score(
        &mut self,
        first: &Rollout,
        second: &Rollout,
        wording: Wording,
    ) -> Result<PairScore, JudgeError> {
        let key = (
            self.judge.render(first, wording),
            self.judge.render(second, wording),
        );
        if let Some(score) = self.cache.get(&key) {
            return Ok(*score);
        }
        let started = std::time::Instant::now();
        let score = self.judge.score_texts(&key.0, &key.1)?;
        self.seconds += started.elapsed().as_secs_f64();
        self.computed += 1;
        self.cache.insert(key, score);
        Ok(score)
    }

    fn set(
        &mut self,
        pairs: &[(Rollout, Rollout)],
        wording: Wording,
    ) -> Result<SetResult, JudgeError> {
        let mut out = SetResult {
            pairs: pairs.len(),
            ..SetResult::default()
        };
        for (success, failure) in pairs {
            let forward = self.score(success, failure, wording)?;
            let swapped = self.score(failure, success, wording)?;
            let calibrated = (forward.calibrated + 1.0 - swapped.calibrated) / 2.0;
            let raw = (forward.raw + 1.0 - swapped.raw) / 2.0;
            out.agreement += f64::from(u8::from(calibrated > 0.5));
            out.agreement_raw += f64::from(u8::from(raw > 0.5));
            for s in [forward, swapped] {
                out.first_raw += f64::from(u8::from(s.raw > 0.5)) / 2.0;
                out.first_calibrated += f64::from(u8::from(s.calibrated > 0.5)) / 2.0;
                out.label_mass += s.label_mass / 2.0;
            }
        }
        let n = pairs.len().max(1) as f64;
        out.agreement /= n;
        out.agreement_raw /= n;
        out.first_raw /= n;
        out.first_calibrated /= n;
        out.label_mass /= n;
        Ok(out)
    }
}

/// Measures every model x prompt variant on the same pairs; `progress` hears each step.
pub fn run(
    settings: &EvalSettings,
    bank: &PairBank,
    progress: &dyn Fn(String),
) -> Result<Vec<VariantResult>, ExperimentError> {
    let mut results = Vec::new();
    for model in &settings.models {
        let first_prompt = settings
            .prompts
            .first()
            .ok_or_else(|| ExperimentError::invalid("no prompt variant given"))?;
        let config = EmbeddedConfig {
            model: model.clone(),
            prompt: first_prompt.clone(),
            dequantize: settings.dequantize,
            analyst: None,
            ..EmbeddedConfig::default()
        };
        let before = crate::files::rss_mib();
        progress(format!("{model}: loading"));
        let mut judge = EmbeddedJudge::new(&config, bank.base.clone())?;
        let rss = crate::files::rss_mib() - before;
        let load_seconds = judge.model_info().load_seconds;
        for prompt in &settings.prompts {
            judge.set_variant(prompt)?;
            progress(format!(
                "{model}/{prompt}: {} pairs x 3 sets x 2 orders",
                bank.original.len()
            ));
            let mut scorer = Scorer {
                judge: &mut judge,
                cache: HashMap::new(),
                computed: 0,
                seconds: 0.0,
            };
            let original = scorer.set(&bank.original, Wording::Standard)?;
            let balanced = scorer.set(&bank.balanced, Wording::Standard)?;
            let paraphrased = scorer.set(&bank.balanced, Wording::Paraphrased)?;
            let pairs_per_second = if scorer.seconds > 0.0 {
                scorer.computed as f64 / 2.0 / scorer.seconds
            } else {
                0.0
            };
            let tag = format!("{model}/{prompt}");
            let analyses = proxy_analyses(&mut judge, bank, settings.analyses, &tag, progress);
            if let Some(error) = analyses.first_error {
                return Err(error.into());
            }
            progress(format!(
                "{model}/{prompt}: controlled agreement {:.0}% (balanced {:.0}%, paraphrased {:.0}%, original {:.0}%), {:.2} pairs/s",
                50.0 * (balanced.agreement + paraphrased.agreement),
                100.0 * balanced.agreement,
                100.0 * paraphrased.agreement,
                100.0 * original.agreement,
                pairs_per_second
            ));
            results.push(VariantResult {
                model: model.clone(),
                prompt: prompt.clone(),
                controlled_agreement: (balanced.agreement + paraphrased.agreement) / 2.0,
                original,
                balanced,
                paraphrased,
                pairs_per_second,
                load_seconds,
                rss_mib: rss,
                analyses: settings.analyses,
                analyses_naming_proxy: analyses.naming,
                analysis_example: analyses.example,
                scenarios_example: analyses.scenarios,
            });
        }
    }
    Ok(results)
}

/// Measures a judge behind an OpenAI-compatible server (`config`, once per model in
/// `settings.models`) on the same pairs, through its `compare` answers in both orders.
pub fn run_http(
    settings: &EvalSettings,
    bank: &PairBank,
    config: &HttpConfig,
    progress: &dyn Fn(String),
) -> Result<Vec<VariantResult>, ExperimentError> {
    let mut results = Vec::new();
    for model in &settings.models {
        let config = HttpConfig {
            model: model.clone(),
            ..config.clone()
        };
        let prompt = match config.ask {
            crate::llm::http::HttpAsk::Pairwise => "pairwise",
            crate::llm::http::HttpAsk::PerEpisode => "per-episode",
        };
        let mut judge = HttpJudge::new(config, bank.base.clone(), settings.seed)?;
        let started = std::time::Instant::now();
        let mut sets = Vec::new();
        for (pairs, wording) in [
            (&bank.original, Wording::Standard),
            (&bank.balanced, Wording::Standard),
            (&bank.balanced, Wording::Paraphrased),
        ] {
            progress(format!(
                "http {model}/{prompt}: {} pairs x 2 orders",
                pairs.len()
            ));
            judge.set_wording(wording);
            judge.begin_round();
            sets.push(answer_set(&mut judge, pairs));
        }
        let asked = 2.0 * sets.iter().map(|s| s.pairs).sum::<usize>() as f64;
        let seconds = started.elapsed().as_secs_f64();
        judge.set_wording(Wording::Standard);
        // A server's failed analysis counts as not naming the proxy.
        let tag = format!("http {model}/{prompt}");
        let analyses = proxy_analyses(&mut judge, bank, settings.analyses, &tag, progress);
        let [original, balanced, paraphrased] = <[SetResult; 3]>::try_from(sets)
            .map_err(|_| ExperimentError::invalid("three sets of pairs"))?;
        progress(format!(
            "http {model}/{prompt}: controlled agreement {:.0}% (balanced {:.0}%, paraphrased {:.0}%, original {:.0}%), {:.2} pairs/s",
            50.0 * (balanced.agreement + paraphrased.agreement),
            100.0 * balanced.agreement,
            100.0 * paraphrased.agreement,
            100.0 * original.agreement,
            asked / 2.0 / seconds.max(1e-9)
        ));
        results.push(VariantResult {
            model: format!("http:{model}"),
            prompt: prompt.into(),
            controlled_agreement: (balanced.agreement + paraphrased.agreement) / 2.0,
            original,
            balanced,
            paraphrased,
            pairs_per_second: asked / 2.0 / seconds.max(1e-9),
            load_seconds: 0.0,
            rss_mib: 0.0,
            analyses: settings.analyses,
            analyses_naming_proxy: analyses.naming,
            analysis_example: analyses.example,
            scenarios_example: analyses.scenarios,
        });
    }
    Ok(results)
}

/// How a judge's analyses of the corner agent went: how many named its proxy, the first one's
/// words and proposals, and the first error.
struct ProxyAnalyses {
    naming: usize,
    example: String,
    scenarios: Vec<String>,
    first_error: Option<JudgeError>,
}

/// `count` analyses by `judge`, each of three probe episodes of the corner agent (failures and
/// successes in turn); one that fails counts as not naming the proxy.
fn proxy_analyses(
    judge: &mut dyn Judge,
    bank: &PairBank,
    count: usize,
    tag: &str,
    progress: &dyn Fn(String),
) -> ProxyAnalyses {
    let mut out = ProxyAnalyses {
        naming: 0,
        example: String::new(),
        scenarios: Vec::new(),
        first_error: None,
    };
    for i in 0..count {
        progress(format!("{tag}: analysis {}", i + 1));
        let shown: Vec<Rollout> = bank
            .original
            .iter()
            .skip(3 * i)
            .take(3)
            .map(|(s, f)| if i % 2 == 0 { f.clone() } else { s.clone() })
            .collect();
        match judge.analyze(&bank.environment, &Episodes::probes_only(shown)) {
            Ok(analysis) => {
                out.naming += usize::from(analysis.diagnosis == TOP_RIGHT);
                if out.example.is_empty() {
                    out.example = analysis.raw.clone();
                    out.scenarios = analysis.scenarios.iter().map(|s| s.edit.title()).collect();
                }
            }
            Err(e) => {
                out.first_error.get_or_insert(e);
            }
        }
    }
    out
}

/// Agreement of `judge`'s answers with the true outcome on (success, failure) pairs, each asked
/// in both orders; a failed query counts as a tie.
fn answer_set(judge: &mut dyn Judge, pairs: &[(Rollout, Rollout)]) -> SetResult {
    let mut out = SetResult {
        pairs: pairs.len(),
        ..SetResult::default()
    };
    // 1 when the answer prefers the success, 0 the failure, 0.5 a tie or a failure.
    let mut ask = |first: &Rollout, second: &Rollout, success_first: bool| match judge
        .compare(first, second)
    {
        Ok(c) => {
            out.first_raw += f64::from(u8::from(c.choice == Choice::First)) / 2.0;
            match (c.choice, success_first) {
                (Choice::Tie, _) => 0.5,
                (Choice::First, true) | (Choice::Second, false) => 1.0,
                _ => 0.0,
            }
        }
        Err(_) => {
            out.failed += 1;
            0.5
        }
    };
    let mut agreement = 0.0;
    for (success, failure) in pairs {
        let mu = (ask(success, failure, true) + ask(failure, success, false)) / 2.0;
        agreement += f64::from(u8::from(mu > 0.5));
    }
    let n = pairs.len().max(1) as f64;
    out.agreement = agreement / n;
    out.agreement_raw = out.agreement;
    out.first_raw /= n;
    out.first_calibrated = out.first_raw;
    out
}

/// The results as a Markdown table.
pub fn table(results: &[VariantResult]) -> String {
    let mut out = String::from(
        "| model | prompt | original | balanced | paraphrased | controlled | first (raw) | first (calibrated) | label mass | pairs/s | load s | RAM MiB | proxy named |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {:.0}% (raw {:.0}%) | {:.0}% (raw {:.0}%) | {:.0}% (raw {:.0}%) | **{:.0}%** | {:.0}% | {:.0}% | {:.2} | {:.2} | {:.1} | {:.0} | {}/{} |\n",
            r.model,
            r.prompt,
            100.0 * r.original.agreement,
            100.0 * r.original.agreement_raw,
            100.0 * r.balanced.agreement,
            100.0 * r.balanced.agreement_raw,
            100.0 * r.paraphrased.agreement,
            100.0 * r.paraphrased.agreement_raw,
            100.0 * r.controlled_agreement,
            100.0 * (r.original.first_raw + r.balanced.first_raw + r.paraphrased.first_raw) / 3.0,
            100.0
                * (r.original.first_calibrated
                    + r.balanced.first_calibrated
                    + r.paraphrased.first_calibrated)
                / 3.0,
            (r.original.label_mass + r.balanced.label_mass + r.paraphrased.label_mass) / 3.0,
            r.pairs_per_second,
            r.load_seconds,
            r.rss_mib,
            r.analyses_naming_proxy,
            r.analyses,
        ));
    }
    out
}

/// Merges the controlled agreements into the measured-agreement file the judges read.
pub fn record_measured(
    results: &[VariantResult],
    path: &std::path::Path,
) -> Result<(), WriteError> {
    let mut table: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    for r in results {
        table.insert(
            format!("{}/{}", r.model, r.prompt),
            serde_json::json!({
                "controlled_agreement": r.controlled_agreement,
                "balanced": r.balanced.agreement,
                "paraphrased": r.paraphrased.agreement,
                "original": r.original.agreement,
                "pairs": r.balanced.pairs,
                "pairs_per_second": r.pairs_per_second,
            }),
        );
    }
    let text = serde_json::to_string_pretty(&table).map_err(|e| WriteError {
        path: path.to_path_buf(),
        action: "encoding the table",
        source: e.into(),
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| WriteError {
            path: dir.to_path_buf(),
            action: "creating the folder",
            source,
        })?;
    }
    crate::files::write_atomic(path, text.as_bytes())
}
