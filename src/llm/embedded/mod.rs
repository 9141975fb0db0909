//! The embedded offline judge: a GGUF chat model run in-process. Pairwise choices come from the
//! next-token probabilities of the two option labels, calibrated against a content-free query;
//! analyses pick from the scenario menu by the same means, next to the model's own words.

pub mod model;

pub use model::{ChatModel, Dequantize, ModelError};

use super::facts::{Answers, Question, corner_index, corner_quarter};
use super::menu::{self, Diagnosis};
use super::oracle::{CornerReading, analysis_from};
use super::scenario::Scenario;
use super::text::{Shown, Wording, numbered_episodes, render_parts, render_positions};
use super::{Analysis, Choice, Comparison, Episodes, Judge, JudgeError};
use crate::level::DistributionSpec;
use crate::sim::Rollout;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A model the project knows how to install and check.
#[derive(Clone, Copy, Debug)]
pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub bytes: u64,
    pub licence: &'static str,
}

/// The models `scripts/install-models.sh` installs (from PyPI wheels; sha256-checked).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "smollm2-135m",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        bytes: 98_362_432,
        licence: "Apache-2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        file: "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        bytes: 491_400_064,
        licence: "Apache-2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        file: "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        bytes: 1_117_320_768,
        licence: "Apache-2.0",
    },
];

/// Where installed models live: `$MAZE_RLLF_MODELS`, else `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("MAZE_RLLF_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::files::project_path("models"))
}

/// The command that installs `name`.
pub fn install_command(name: &str) -> String {
    format!("scripts/install-models.sh {name}")
}

/// Default folder of the embedded judge's prompt variants.
pub const VARIANT_DIR: &str = "assets/prompts/embedded";

/// The judge's settings (the `embedded` section of study and app configs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddedConfig {
    /// A known model's name (see `KNOWN_MODELS`) or a path to any llama/qwen2 ChatML GGUF.
    pub model: String,
    /// A prompt variant: a folder name under `assets/prompts/embedded/`, or a path to a `.ron`.
    pub prompt: String,
    pub dequantize: Dequantize,
    /// Check a known model's sha256 at load (about 0.3 s per 100 MB).
    pub verify_sha256: bool,
    /// Divide out the label prior measured on a content-free query.
    pub calibrate: bool,
    /// Tokens of free text an analysis may write.
    pub analysis_tokens: usize,
    /// How many menu scenarios an analysis proposes.
    pub scenarios: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            prompt: DEFAULT_PROMPT.into(),
            dequantize: Dequantize::Auto,
            verify_sha256: true,
            calibrate: true,
            analysis_tokens: 48,
            scenarios: 3,
        }
    }
}

/// The default offline judge, chosen by `judge-eval` (see README, "Offline judge").
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";
pub const DEFAULT_PROMPT: &str = "positions-yesno";

/// How a variant asks for a pairwise preference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AskMode {
    /// Both rollouts in one prompt; the labels name the first and the second.
    #[default]
    Pairwise,
    /// One rollout per prompt, answered with the labels (yes, no); the pair's preference is the
    /// difference of the two log-odds of "yes" (no position to be biased towards).
    PerEpisode,
}

/// How a variant reads what the agent pursues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosisMode {
    /// The model writes its analysis of a few episodes, then answers `diagnosis_question` once.
    #[default]
    Whole,
    /// The model answers `episode_question` for each inspected episode on its own (one letter:
    /// a corner, or none); the episodes it names a corner for are counted with the oracle's rule
    /// ([`CornerReading::diagnosis`]): the model reads, the count is fixed.
    PerEpisode,
    /// The model answers `corner_question` (yes or no) for each episode and each corner; an
    /// episode heads for the corner with the highest log-odds of yes, if it is above even, and
    /// the episodes are counted with the oracle's rule.
    PerCorner,
    /// The model answers every question of [`crate::llm::facts`] itself — per training episode
    /// and corner `cheese_question`, per probe and corner `heads_question`, each episode shown
    /// as positions — yes when its log-odds of yes exceed `fact_threshold`; the answers go
    /// through the one aggregation the oracle uses on the true answers, and the corner named is
    /// mapped to the menu items that disambiguate it.
    Facts,
}

/// How a variant picks its proposals from the menu.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalMode {
    /// One letter after the analysis (`menu_question`), each letter's probability divided by
    /// its probability after a content-free context; the best ones.
    #[default]
    Letter,
    /// `item_question` (yes or no) for each menu item given the diagnosed corner; the items with
    /// the highest log-odds of yes.
    PerItem,
}

/// A prompt variant (`assets/prompts/embedded/NAME.ron`): templates and what a rollout shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptVariant {
    pub system: String,
    #[serde(default)]
    pub mode: AskMode,
    /// Pairwise: `{first}` and `{second}` (the two rollouts), `{first_label}`, `{second_label}`.
    /// Per episode: `{episode}`.
    pub compare: String,
    /// The two option labels (pairwise: first, second; per episode: yes, no); each must be a
    /// single token of the model.
    pub labels: (String, String),
    /// Text the assistant's answer starts with, before the label.
    #[serde(default)]
    pub prefill: String,
    pub show: Shown,
    /// `{environment}` and `{rollouts}`.
    pub analyze: String,
    /// After the analysis: `{menu}` (lettered, the shared menu), answered with one letter.
    pub menu_question: String,
    /// After the analysis: which corner the mouse heads for, `{choices}` (lettered), answered
    /// with one letter.
    #[serde(default = "default_diagnosis_question")]
    pub diagnosis_question: String,
    /// What each rollout of an analysis shows (corner events and positions unless set).
    #[serde(default = "default_analysis_show")]
    pub analysis_show: Shown,
    /// How the diagnosis is read (the whole analysis by default).
    #[serde(default)]
    pub diagnosis: DiagnosisMode,
    /// Per-episode diagnosis: `{episode}` and `{choices}` (lettered), answered with one letter.
    #[serde(default = "default_episode_question")]
    pub episode_question: String,
    /// Per-episode diagnosis: divide each letter's probability by its probability for an empty
    /// episode (`N/A`) before choosing; off: the most probable letter.
    #[serde(default)]
    pub episode_prior: bool,
    /// Per-corner diagnosis: `{episode}` and `{corner}`, answered yes or no.
    #[serde(default = "default_corner_question")]
    pub corner_question: String,
    /// How proposals are picked from the menu (one letter by default).
    #[serde(default)]
    pub proposals: ProposalMode,
    /// Per-item proposals: `{corner}` (the diagnosis) and `{item}`, answered yes or no.
    #[serde(default = "default_item_question")]
    pub item_question: String,
    /// Per-item proposals: a second yes/no question (same placeholders) whose log-odds is
    /// subtracted, e.g. "would the cheese then often be in that corner?"; none by default.
    #[serde(default)]
    pub item_contrast: Option<String>,
    /// Per-item proposals: only items scoring above this are proposed (none: the best ones,
    /// whatever their score).
    #[serde(default)]
    pub item_min_odds: Option<f64>,
    /// Facts: `{episode}` (positions), `{cheese}` (its row and column), `{corner}`, `{rows}` and
    /// `{columns}` (the corner's quarter of the maze), answered yes or no.
    #[serde(default = "default_cheese_question")]
    pub cheese_question: String,
    /// Facts: `{episode}` (positions), `{cheese}`, `{corner}` and `{cell}` (the corner's row and
    /// column), answered yes or no.
    #[serde(default = "default_heads_question")]
    pub heads_question: String,
    /// Facts: the log-odds of yes above which an answer counts as yes.
    #[serde(default)]
    pub fact_threshold: f64,
    /// Facts: when above 0, the model writes up to this many tokens of reasoning before its
    /// answer, and its last "yes" or "no" is the answer (log-odds +1 or -1); 0 reads the
    /// log-odds of the first token.
    #[serde(default)]
    pub fact_reasoning: usize,
}

fn default_cheese_question() -> String {
    "An episode of the mouse:\n{episode}\nIs the cheese in the {corner} quarter of the maze, \
     that is in rows {rows} and in columns {columns}? Answer yes or no."
        .into()
}

fn default_heads_question() -> String {
    "An episode of the mouse:\n{episode}\nOf the maze's corners, the mouse may stand on some \
     before it reaches the cheese. Is the {corner} corner, the cell at {cell}, the corner where \
     it stands the most steps before the cheese? If it stands on no corner, the answer is no. \
     Answer yes or no."
        .into()
}

fn default_corner_question() -> String {
    "An episode of the mouse:\n{episode}\nDoes the mouse spend steps in the {corner} corner? \
     Answer yes or no."
        .into()
}

fn default_item_question() -> String {
    "The mouse goes to the {corner} corner instead of the cheese. A proposed change to its \
     training mazes: {item}. Would the cheese then be away from the {corner} corner? Answer yes \
     or no."
        .into()
}

fn default_episode_question() -> String {
    "An episode of the mouse:\n{episode}\nWhere does the mouse go instead of the cheese? \
     Options:\n{choices}\nAnswer with the letter of one option."
        .into()
}

fn default_diagnosis_question() -> String {
    "Where does the mouse go instead of the cheese? Options:\n{choices}\nAnswer with the letter \
     of one option."
        .into()
}

fn default_analysis_show() -> Shown {
    Shown {
        maze: false,
        moves: false,
        events: true,
        positions: true,
        corner_steps: false,
    }
}

impl PromptVariant {
    /// Loads a variant by name (a file in [`VARIANT_DIR`]) or path.
    pub fn load(name_or_path: &str) -> Result<(String, Self), String> {
        let path = if name_or_path.ends_with(".ron") {
            PathBuf::from(name_or_path)
        } else {
            crate::files::project_path(VARIANT_DIR).join(format!("{name_or_path}.ron"))
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: cannot read the prompt variant ({e}); variants are the .ron files in {VARIANT_DIR}",
                path.display()
            )
        })?;
        let variant: Self =
            ron::from_str(&text).map_err(|e| crate::config::ron_error_at(&path, &e))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok((name, variant))
    }

    /// Every variant in [`VARIANT_DIR`], by name.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(crate::files::project_path(VARIANT_DIR))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "ron"))
                    .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

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
    measured: Option<f64>,
}

/// Resolves a model name or path to (display name, path, expected sha256).
pub fn resolve_model(model: &str) -> (String, PathBuf, Option<&'static str>) {
    match KNOWN_MODELS.iter().find(|m| m.name == model) {
        Some(known) => (
            known.name.to_string(),
            models_dir().join(known.file),
            Some(known.sha256),
        ),
        None => {
            let path = PathBuf::from(model);
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| model.to_string());
            (name, path, None)
        }
    }
}

impl EmbeddedJudge {
    /// Loads the model and the prompt variant; errors say which command installs a missing model.
    pub fn new(config: &EmbeddedConfig, base: DistributionSpec) -> Result<Self, String> {
        let (model_name, path, sha256) = resolve_model(&config.model);
        let (variant_name, variant) = PromptVariant::load(&config.prompt)?;
        let install = if sha256.is_some() {
            install_command(&model_name)
        } else {
            "a llama or qwen2 ChatML GGUF at that path".to_string()
        };
        let model = ChatModel::load(
            &path,
            sha256.filter(|_| config.verify_sha256),
            config.dequantize,
            &install,
        )
        .map_err(|e| e.to_string())?;
        let label_ids = [
            model.single_token(&variant.labels.0),
            model.single_token(&variant.labels.1),
        ];
        let [Some(a), Some(b)] = label_ids else {
            return Err(format!(
                "prompt variant '{variant_name}': labels {:?} must each be one token of {model_name}",
                variant.labels
            ));
        };
        let measured = measured_agreement(&model_name, &variant_name);
        Ok(Self {
            model,
            model_name,
            variant_name,
            variant,
            label_ids: [a, b],
            calibrate: config.calibrate,
            analysis_tokens: config.analysis_tokens,
            scenario_count: config.scenarios.max(1),
            base,
            prior: None,
            episode_scores: std::collections::HashMap::new(),
            measured,
        })
    }

    /// Switches to another prompt variant, keeping the loaded model.
    pub fn set_variant(&mut self, name_or_path: &str) -> Result<(), String> {
        let (name, variant) = PromptVariant::load(name_or_path)?;
        let ids = [
            self.model.single_token(&variant.labels.0),
            self.model.single_token(&variant.labels.1),
        ];
        let [Some(a), Some(b)] = ids else {
            return Err(format!(
                "prompt variant '{name}': labels {:?} must each be one token of {}",
                variant.labels, self.model_name
            ));
        };
        self.label_ids = [a, b];
        self.measured = measured_agreement(&self.model_name, &name);
        self.variant_name = name;
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

impl EmbeddedJudge {
    /// The `count` options of `question` asked after `context`, best first: each letter's
    /// probability divided by its probability after a content-free context.
    fn best_option(
        &mut self,
        context: &str,
        question: &str,
        count: usize,
    ) -> Result<Vec<usize>, JudgeError> {
        let scores = self.menu_scores(&format!("{context}{question}"), count)?;
        let prior = self.menu_scores(&format!("N/A\n\n{question}"), count)?;
        let mut ranked: Vec<(usize, f64)> = scores
            .iter()
            .zip(&prior)
            .map(|(p, q)| p / q.max(1e-9))
            .enumerate()
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked.into_iter().map(|(i, _)| i).collect())
    }
}

/// The diagnosis choices as lettered lines (`A. the top-left corner`, ...).
fn diagnosis_choices() -> Vec<String> {
    Diagnosis::CHOICES
        .iter()
        .zip('A'..)
        .map(|(d, key)| match d {
            Diagnosis::Corner(c) => format!("{key}. the {c} corner"),
            _ => format!("{key}. nowhere else: it goes for the cheese"),
        })
        .collect()
}

impl EmbeddedJudge {
    /// The whole reading: the model's own analysis of a few episodes, then one diagnosis
    /// letter. Returns the diagnosis, the analysis and the context the menu is asked after.
    fn read_whole(
        &mut self,
        environment: &str,
        episodes: &Episodes,
    ) -> Result<(Diagnosis, String, String), JudgeError> {
        let context = self.analysis_text(environment, episodes);
        let prompt = ChatModel::chat_prompt(&self.variant.system, &context, "");
        let words = self
            .model
            .generate(&prompt, self.analysis_tokens)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        let with_words = format!("{context}\n\nYour analysis: {words}\n\n");
        let choices = diagnosis_choices();
        let question = self
            .variant
            .diagnosis_question
            .replace("{choices}", &choices.join("\n"));
        let diagnosis =
            Diagnosis::CHOICES[self.best_option(&with_words, &question, choices.len())?[0]];
        Ok((diagnosis, words, with_words))
    }

    /// log P(yes) - log P(no) as the assistant's first token after `user` (either case).
    fn yes_log_odds(&mut self, user: &str) -> Result<f64, JudgeError> {
        let prompt = ChatModel::chat_prompt(&self.variant.system, user, "");
        let logprobs = self
            .model
            .next_token_logprobs(&prompt)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        let model = &self.model;
        let mass = |words: [&str; 2]| -> f64 {
            words
                .iter()
                .filter_map(|w| model.single_token(w))
                .map(|id| f64::from(logprobs[id as usize]).exp())
                .sum::<f64>()
        };
        let (yes, no) = (mass(["Yes", "yes"]), mass(["No", "no"]));
        Ok(yes.max(1e-12).ln() - no.max(1e-12).ln())
    }

    /// The log-odds of yes the model gives to `question` about `episode` (shown as positions).
    pub fn fact_odds(&mut self, question: Question, episode: &Rollout) -> Result<f64, JudgeError> {
        let layout = &episode.layout;
        let shown = render_positions(episode);
        let asked = match question {
            Question::CheeseIn(corner) => {
                let (rows, columns) = corner_quarter(layout, corner).unwrap_or(([0, 0], [0, 0]));
                self.variant
                    .cheese_question
                    .replace("{rows}", &format!("{} to {}", rows[0], rows[1]))
                    .replace("{columns}", &format!("{} to {}", columns[0], columns[1]))
                    .replace("{corner}", corner.words())
            }
            Question::HeadsFor(corner) => {
                let cell = layout
                    .maze_corners()
                    .into_iter()
                    .find(|(c, _)| *c == corner)
                    .map_or(String::new(), |(_, p)| {
                        format!("row {}, column {}", p.row, p.col)
                    });
                self.variant
                    .heads_question
                    .replace("{cell}", &cell)
                    .replace("{corner}", corner.words())
            }
        };
        let cheese = layout.cheese;
        let asked = asked.replace("{episode}", &shown).replace(
            "{cheese}",
            &format!("row {}, column {}", cheese.row, cheese.col),
        );
        if self.variant.fact_reasoning == 0 {
            return self.yes_log_odds(&asked);
        }
        // The model writes its reasoning first; its last "yes" or "no" is the answer.
        let prompt = ChatModel::chat_prompt(&self.variant.system, &asked, "");
        let words = self
            .model
            .generate(&prompt, self.variant.fact_reasoning)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?
            .to_lowercase();
        let answer = words
            .split(|c: char| !c.is_alphanumeric())
            .rfind(|w| *w == "yes" || *w == "no");
        Ok(if answer == Some("yes") { 1.0 } else { -1.0 })
    }

    /// One episode, corner by corner: the corner with the highest log-odds of yes, if the model
    /// leans to yes; otherwise none.
    fn read_corners(&mut self, episode: &str) -> Result<Diagnosis, JudgeError> {
        let mut best: Option<(crate::level::Corner, f64)> = None;
        for corner in crate::level::Corner::ALL {
            let asked = self
                .variant
                .corner_question
                .replace("{episode}", episode)
                .replace("{corner}", &corner.to_string());
            let odds = self.yes_log_odds(&asked)?;
            if odds > 0.0 && best.is_none_or(|(_, b)| odds > b) {
                best = Some((corner, odds));
            }
        }
        Ok(best.map_or(Diagnosis::Healthy, |(c, _)| Diagnosis::Corner(c)))
    }

    /// Each menu item (on the judge's base) with the log-odds of yes to `item_question` about
    /// `corner`, less the log-odds of yes to `item_contrast` when the variant has one: how much
    /// the model favours proposing it to an agent that pursues `corner`.
    pub fn item_odds(&mut self, corner: crate::level::Corner) -> Result<ScoredMenu, JudgeError> {
        let items = menu::menu(&self.base);
        let mut scored = Vec::with_capacity(items.len());
        for item in items {
            let ask = |template: &str| {
                template
                    .replace("{corner}", &corner.to_string())
                    .replace("{item}", &item.text)
            };
            let mut odds = self.yes_log_odds(&ask(&self.variant.item_question))?;
            if let Some(contrast) = self.variant.item_contrast.clone() {
                odds -= self.yes_log_odds(&ask(&contrast))?;
            }
            scored.push((item, odds));
        }
        Ok(scored)
    }

    /// Per-item proposals for an agent that pursues `corner`: every menu item with its
    /// [`Self::item_odds`], and the indices of the items proposed, best first (the
    /// `scenarios` best that change anything and, with the variant's `item_min_odds`, score
    /// above it).
    pub fn propose_for(
        &mut self,
        corner: crate::level::Corner,
    ) -> Result<(ScoredMenu, Vec<usize>), JudgeError> {
        let scored = self.item_odds(corner)?;
        let min = self.variant.item_min_odds;
        let mut proposed: Vec<usize> = (0..scored.len())
            .filter(|&i| scored[i].0.scenario.changes_anything())
            .filter(|&i| min.is_none_or(|min| scored[i].1 > min))
            .collect();
        proposed.sort_by(|&a, &b| scored[b].1.total_cmp(&scored[a].1));
        proposed.truncate(self.scenario_count);
        Ok((scored, proposed))
    }

    /// The per-episode reading: one letter per episode, counted by the oracle's rule. Returns
    /// the diagnosis, what the model answered per episode and the context the menu is asked
    /// after.
    fn read_episodes(
        &mut self,
        environment: &str,
        rollouts: &[Rollout],
    ) -> Result<(Diagnosis, String, String), JudgeError> {
        let choices = diagnosis_choices();
        let mut reading = CornerReading {
            episodes: rollouts.len(),
            ..CornerReading::default()
        };
        // The letters' prior: the same question about an empty episode (or none).
        let letters = self.variant.diagnosis == DiagnosisMode::PerEpisode;
        let prior = if letters && self.variant.episode_prior {
            let empty = self
                .variant
                .episode_question
                .replace("{episode}", "N/A")
                .replace("{choices}", &choices.join("\n"));
            self.menu_scores(&empty, choices.len())?
        } else {
            vec![1.0; choices.len()]
        };
        let mut answers = Vec::new();
        for rollout in rollouts {
            let episode = render_parts(
                rollout,
                self.variant.analysis_show,
                Wording::Standard,
                false,
            );
            let read = if self.variant.diagnosis == DiagnosisMode::PerCorner {
                self.read_corners(&episode)?
            } else {
                let asked = self
                    .variant
                    .episode_question
                    .replace("{episode}", &episode)
                    .replace("{choices}", &choices.join("\n"));
                let scores = self.menu_scores(&asked, choices.len())?;
                let best = (0..choices.len())
                    .max_by(|&a, &b| {
                        (scores[a] / prior[a].max(1e-9))
                            .total_cmp(&(scores[b] / prior[b].max(1e-9)))
                    })
                    .unwrap_or(choices.len() - 1);
                Diagnosis::CHOICES[best]
            };
            if let Diagnosis::Corner(c) = read {
                reading.heads_for[corner_index(c)] += 1;
            }
            answers.push(read);
        }
        let diagnosis = reading.diagnosis();
        let per_episode: Vec<String> = answers
            .iter()
            .enumerate()
            .map(|(i, d)| format!("episode {}: {}", i + 1, d.words()))
            .collect();
        let words = format!(
            "Read one by one: {}. Diagnosis: {}.",
            per_episode.join("; "),
            diagnosis.words()
        );
        let context = format!("{environment}\n\n{words}\n\n");
        Ok((diagnosis, words, context))
    }
}

/// Every menu item with the model's score for proposing it (see [`EmbeddedJudge::item_odds`]).
pub type ScoredMenu = Vec<(menu::MenuItem, f64)>;

/// Rollouts an analysis shows the model (its context is short).
const ANALYSED_ROLLOUTS: usize = 3;

/// The controlled agreement `judge-eval` measured for a model and prompt, from
/// `assets/judges/measured.json`.
pub fn measured_agreement(model: &str, prompt: &str) -> Option<f64> {
    let text = std::fs::read_to_string(crate::files::project_path(MEASURED_FILE)).ok()?;
    let table: serde_json::Value = serde_json::from_str(&text).ok()?;
    table
        .get(format!("{model}/{prompt}"))?
        .get("controlled_agreement")?
        .as_f64()
}

/// Where the measured agreement of each model/prompt is kept.
pub const MEASURED_FILE: &str = "assets/judges/measured.json";

/// Below this controlled agreement a judge is shown as unreliable.
pub const RELIABLE_AGREEMENT: f64 = 0.70;

impl Judge for EmbeddedJudge {
    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }

    fn name(&self) -> String {
        format!("embedded:{}/{}", self.model_name, self.variant_name)
    }

    fn measured_agreement(&self) -> Option<f64> {
        self.measured
    }

    fn analyze(&mut self, environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError> {
        // The per-episode readings ask about the probes only: the training episodes reach the
        // model in the whole reading alone.
        let (diagnosis, words, context) = match self.variant.diagnosis {
            DiagnosisMode::Facts => {
                let threshold = self.variant.fact_threshold;
                let answers = Answers::ask(episodes, |q, r| Ok(self.fact_odds(q, r)? > threshold))?;
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
