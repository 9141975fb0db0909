//! The embedded offline judge: a GGUF chat model run in-process. Pairwise choices come from the
//! next-token probabilities of the two option labels, calibrated against a content-free query;
//! analyses pick from the scenario menu by the same means, next to the model's own words.

mod config;
pub mod model;
mod reading;

pub use crate::llm::variant::*;
pub use config::*;
pub use model::{ChatModel, Dequantize, ModelError};

use super::fact_questions::FactAsker;
use super::facts::{Question, corner_index};
use super::menu::{self, Diagnosis};
use super::oracle::{CornerReading, analysis_from};
use super::scenario::Scenario;
use super::text::{Wording, numbered_episodes, render_parts};
use super::{Analysis, Choice, Comparison, Episodes, Judge, JudgeError, SetupError};
use crate::errors::Invalid;
use crate::level::DistributionSpec;
use crate::sim::Rollout;
use serde::{Deserialize, Serialize};

/// A pairwise score: the probability that the first rollout is the better one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// Over the two labels only, as the model gives it.
    pub raw: f64,
    /// After dividing out the content-free label prior.
    pub calibrated: f64,
    /// How much of the next-token probability fell on the two labels.
    pub label_mass: f64,
}

/// The embedded judge.
pub struct EmbeddedJudge {
    model: ChatModel,
    model_name: String,
    variant_name: String,
    variant: PromptVariant,
    label_ids: [u32; 2],
    calibrate: bool,
    analysis_tokens: usize,
    scenario_count: usize,
    base: DistributionSpec,
    /// Label prior on the content-free compare query, measured once.
    prior: Option<[f64; 2]>,
    /// Per-episode answers by prompt text: (P(yes) over the two labels, label mass).
    episode_scores: std::collections::HashMap<String, (f64, f64)>,
    /// How the variant asks the facts' questions (with its answers kept).
    facts: FactAsker,
    measured: Option<f64>,
    /// The judge that reads episodes for an analysis, when another model or variant does.
    analyst: Option<Box<EmbeddedJudge>>,
}

impl EmbeddedJudge {
    /// Loads the model and the prompt variant; errors say which command installs a missing model.
    pub fn new(config: &EmbeddedConfig, base: DistributionSpec) -> Result<Self, SetupError> {
        let (model_name, path, sha256) = resolve_model(&config.model);
        let (variant_name, variant) = PromptVariant::load(&config.prompt)?;
        let install = if sha256.is_some() {
            install_command(&model_name)
        } else {
            "a llama or qwen2 ChatML GGUF at that path".to_string()
        };
        // A relative adapter path is found from the working directory or the project's root,
        // as the shipped assets are.
        let adapter = config.adapter.as_deref().map(crate::files::project_path);
        let model = ChatModel::load_tuned(
            &path,
            sha256.filter(|_| config.verify_sha256),
            config.dequantize,
            &install,
            adapter.as_deref(),
        )?;
        let label_ids = [
            model.single_token(&variant.labels.0),
            model.single_token(&variant.labels.1),
        ];
        let [Some(a), Some(b)] = label_ids else {
            return Err(Invalid(format!(
                "prompt variant '{variant_name}': labels {:?} must each be one token of {model_name}",
                variant.labels
            ))
            .into());
        };
        // A tuned model is another judge: its name carries the adapter's.
        let model_name = match &config.adapter {
            Some(adapter) => format!(
                "{model_name}+{}",
                adapter.file_stem().map_or_else(
                    || adapter.display().to_string(),
                    |s| s.to_string_lossy().into()
                )
            ),
            None => model_name,
        };
        let measured = measured_agreement(&model_name, &variant_name);
        let analyst = match &config.analyst {
            Some(a)
                if a.model != config.model
                    || a.prompt != config.prompt
                    || a.adapter != config.adapter =>
            {
                let own = EmbeddedConfig {
                    model: a.model.clone(),
                    prompt: a.prompt.clone(),
                    adapter: a.adapter.clone(),
                    analyst: None,
                    ..config.clone()
                };
                Some(Box::new(EmbeddedJudge::new(&own, base.clone())?))
            }
            _ => None,
        };
        Ok(Self {
            model,
            model_name,
            variant_name,
            facts: FactAsker::new(variant.clone()),
            variant,
            label_ids: [a, b],
            calibrate: config.calibrate,
            analysis_tokens: config.analysis_tokens,
            scenario_count: config.scenarios.max(1),
            base,
            prior: None,
            episode_scores: std::collections::HashMap::new(),
            measured,
            analyst,
        })
    }

    /// Switches to another prompt variant, keeping the loaded model.
    pub fn set_variant(&mut self, name_or_path: &str) -> Result<(), SetupError> {
        let (name, variant) = PromptVariant::load(name_or_path)?;
        let ids = [
            self.model.single_token(&variant.labels.0),
            self.model.single_token(&variant.labels.1),
        ];
        let [Some(a), Some(b)] = ids else {
            return Err(Invalid(format!(
                "prompt variant '{name}': labels {:?} must each be one token of {}",
                variant.labels, self.model_name
            ))
            .into());
        };
        self.label_ids = [a, b];
        self.measured = measured_agreement(&self.model_name, &name);
        self.variant_name = name;
        self.facts = FactAsker::new(variant.clone());
        self.variant = variant;
        self.prior = None;
        self.episode_scores.clear();
        Ok(())
    }

    pub fn variant_name(&self) -> &str {
        &self.variant_name
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    pub fn model_info(&self) -> &model::ModelInfo {
        &self.model.info
    }

    /// The compare prompt for two rendered rollouts.
    pub fn compare_text(&self, first: &str, second: &str) -> String {
        let user = self
            .variant
            .compare
            .replace("{first}", first)
            .replace("{second}", second)
            .replace("{first_label}", &self.variant.labels.0)
            .replace("{second_label}", &self.variant.labels.1);
        ChatModel::chat_prompt(&self.variant.system, &user, &self.variant.prefill)
    }

    /// The per-episode prompt for one rendered rollout.
    pub fn episode_text(&self, episode: &str) -> String {
        let user = self.variant.compare.replace("{episode}", episode);
        ChatModel::chat_prompt(&self.variant.system, &user, &self.variant.prefill)
    }

    /// A rollout as this variant shows it.
    pub fn render(&self, rollout: &Rollout, wording: Wording) -> String {
        render_parts(rollout, self.variant.show, wording, false)
    }

    fn label_probabilities(&mut self, prompt: &str) -> Result<([f64; 2], f64), JudgeError> {
        let logprobs = self
            .model
            .next_token_logprobs(prompt)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        let p = self
            .label_ids
            .map(|id| f64::from(logprobs[id as usize]).exp());
        let mass = p[0] + p[1];
        if mass <= 0.0 {
            return Ok(([0.5, 0.5], 0.0));
        }
        Ok(([p[0] / mass, p[1] / mass], mass))
    }

    /// The label prior on a content-free query (both rollouts replaced by "N/A").
    pub fn prior(&mut self) -> Result<[f64; 2], JudgeError> {
        if let Some(prior) = self.prior {
            return Ok(prior);
        }
        let prompt = self.compare_text("N/A", "N/A");
        let (prior, _) = self.label_probabilities(&prompt)?;
        self.prior = Some(prior);
        Ok(prior)
    }

    /// P(yes) (over the two labels) and the label mass for one rendered rollout.
    fn episode_yes(&mut self, episode: &str) -> Result<(f64, f64), JudgeError> {
        if let Some(score) = self.episode_scores.get(episode) {
            return Ok(*score);
        }
        let prompt = self.episode_text(episode);
        let (p, mass) = self.label_probabilities(&prompt)?;
        if self.episode_scores.len() > 4096 {
            self.episode_scores.clear();
        }
        self.episode_scores
            .insert(episode.to_string(), (p[0], mass));
        Ok((p[0], mass))
    }

    /// P(first is better) for two rendered rollouts.
    pub fn score_texts(&mut self, first: &str, second: &str) -> Result<PairScore, JudgeError> {
        if self.variant.mode == AskMode::PerEpisode {
            let (yes_first, mass_first) = self.episode_yes(first)?;
            let (yes_second, mass_second) = self.episode_yes(second)?;
            let logit =
                |p: f64| (p.clamp(1e-9, 1.0 - 1e-9) / (1.0 - p.clamp(1e-9, 1.0 - 1e-9))).ln();
            // A label prior shifts both log-odds alike: calibration cancels in the difference.
            let p = 1.0 / (1.0 + (logit(yes_second) - logit(yes_first)).exp());
            return Ok(PairScore {
                raw: p,
                calibrated: p,
                label_mass: (mass_first + mass_second) / 2.0,
            });
        }
        let prior = self.prior()?;
        let prompt = self.compare_text(first, second);
        let (p, label_mass) = self.label_probabilities(&prompt)?;
        let q = [p[0] / prior[0].max(1e-9), p[1] / prior[1].max(1e-9)];
        Ok(PairScore {
            raw: p[0],
            calibrated: q[0] / (q[0] + q[1]),
            label_mass,
        })
    }

    /// P(first is better) for two rollouts, events worded as asked.
    pub fn score(
        &mut self,
        first: &Rollout,
        second: &Rollout,
        wording: Wording,
    ) -> Result<PairScore, JudgeError> {
        let (a, b) = (self.render(first, wording), self.render(second, wording));
        self.score_texts(&a, &b)
    }

    fn analysis_text(&self, environment: &str, episodes: &Episodes) -> String {
        let shown = Episodes {
            training: episodes
                .training
                .iter()
                .take(ANALYSED_ROLLOUTS)
                .cloned()
                .collect(),
            probes: episodes
                .probes
                .iter()
                .take(ANALYSED_ROLLOUTS)
                .cloned()
                .collect(),
        };
        let (training, probes) = numbered_episodes(&shown, |r| {
            render_parts(r, self.variant.analysis_show, Wording::Standard, false)
        });
        let rollouts = if training.is_empty() {
            probes
        } else {
            format!("{training}\n{probes}")
        };
        self.variant
            .analyze
            .replace("{environment}", environment)
            .replace("{rollouts}", &rollouts)
    }

    /// The probability of each of `count` option letters (A, B, ...) as the next token.
    fn menu_scores(&mut self, context: &str, count: usize) -> Result<Vec<f64>, JudgeError> {
        let digits: Vec<Option<u32>> = ('A'..='Z')
            .take(count)
            .map(|c| self.model.single_token(&c.to_string()))
            .collect();
        let prompt = ChatModel::chat_prompt(&self.variant.system, context, "");
        let logprobs = self
            .model
            .next_token_logprobs(&prompt)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        Ok(digits
            .iter()
            .map(|d| d.map_or(0.0, |id| f64::from(logprobs[id as usize]).exp()))
            .collect())
    }
}

/// Every menu item with the model's score for proposing it (see [`EmbeddedJudge::item_odds`]).
pub type ScoredMenu = Vec<(menu::MenuItem, f64)>;

/// Rollouts an analysis shows the model (its context is short).
const ANALYSED_ROLLOUTS: usize = 3;

impl Judge for EmbeddedJudge {
    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }

    fn name(&self) -> String {
        let own = format!("embedded:{}/{}", self.model_name, self.variant_name);
        match &self.analyst {
            Some(a) => format!("{own}, analyses by {}/{}", a.model_name, a.variant_name),
            None => own,
        }
    }

    fn measured_agreement(&self) -> Option<f64> {
        self.measured
    }

    fn analyze(&mut self, environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError> {
        if let Some(analyst) = self.analyst.as_mut() {
            analyst.rebase(&self.base);
            return analyst.analyze(environment, episodes);
        }
        // The per-episode readings ask about the probes only: the training episodes reach the
        // model in the whole reading alone.
        let (diagnosis, words, context) = match self.variant.diagnosis {
            DiagnosisMode::Facts => {
                let answers = self.facts.answers(&mut self.model, episodes)?;
                return Ok(analysis_from(&answers, &self.base, "The model's answers"));
            }
            DiagnosisMode::Whole => self.read_whole(environment, episodes)?,
            DiagnosisMode::PerEpisode | DiagnosisMode::PerCorner => {
                self.read_episodes(environment, &episodes.probes)?
            }
        };
        // Proposals: "no change" alone for a healthy reading; otherwise the menu, ranked the
        // variant's way.
        let items = menu::menu(&self.base);
        let scenarios: Vec<Scenario> = match (diagnosis, self.variant.proposals) {
            (Diagnosis::Healthy, _) => items
                .iter()
                .filter(|i| !i.scenario.changes_anything())
                .map(|i| i.scenario.clone())
                .collect(),
            (Diagnosis::Corner(corner), ProposalMode::PerItem) => {
                let (scored, proposed) = self.propose_for(corner)?;
                proposed
                    .into_iter()
                    .map(|i| scored[i].0.scenario.clone())
                    .collect()
            }
            _ => {
                let question = self
                    .variant
                    .menu_question
                    .replace("{menu}", &menu::listing(&items));
                self.best_option(&context, &question, items.len())?
                    .into_iter()
                    .map(|i| items[i].scenario.clone())
                    .filter(Scenario::changes_anything)
                    .take(self.scenario_count)
                    .collect()
            }
        };
        let failure_modes = words
            .split(['.', '\n'])
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(|s| vec![s.to_string()])
            .unwrap_or_default();
        Ok(Analysis {
            diagnosis,
            failure_modes,
            scenarios,
            rejected: Vec::new(),
            raw: words,
            answers: None,
        })
    }

    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError> {
        let score = self.score(first, second, Wording::Standard)?;
        let p = if self.calibrate {
            score.calibrated
        } else {
            score.raw
        };
        Ok(Comparison {
            choice: Choice::from_probability(p),
            rationale: format!(
                "P(first better) = {:.2} calibrated, {:.2} raw; {:.0}% of the next-token \
                 probability on the two labels",
                score.calibrated,
                score.raw,
                100.0 * score.label_mass
            ),
        })
    }

    /// Everything the model reads for this pair (the label-cache key).
    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        let (a, b) = (
            self.render(first, Wording::Standard),
            self.render(second, Wording::Standard),
        );
        match self.variant.mode {
            AskMode::Pairwise => self.compare_text(&a, &b),
            AskMode::PerEpisode => {
                format!("{}\n---\n{}", self.episode_text(&a), self.episode_text(&b))
            }
        }
    }
}
