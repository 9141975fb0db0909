//! The HTTP judge's settings: the server and model, how to ask, timeouts, retries, budgets and
//! caps, checked before use; and URLs shown without their credentials.

use super::MAX_WAIT_S;
use crate::errors::Invalid;
use serde::{Deserialize, Serialize};

/// Settings of the HTTP judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Server root, e.g. `http://127.0.0.1:11434` (Ollama) or `http://127.0.0.1:8080` (llama.cpp).
    /// Credentials in it (`http://user:pass@host`) are used but written and shown as `***`
    /// ([`redact_url`]); keys belong in `api_key_env`.
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (none: no Authorization header).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub temperature: f32,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub seed: Option<u64>,
    /// Ask for the answer's JSON schema in `response_format`: OpenAI's `json_schema` form, then
    /// llama-cpp-python's `json_object` form, then none, as the server refuses each.
    #[serde(default = "default_true")]
    pub json_schema: bool,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    #[serde(default = "default_read_timeout")]
    pub read_timeout_s: f64,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default = "default_backoff")]
    pub backoff_s: f64,
    /// Calls allowed per round (retries included).
    #[serde(default = "default_budget")]
    pub round_budget: usize,
    #[serde(default)]
    pub state_outcome: bool,
    #[serde(default = "default_prompt_dir")]
    pub prompt_dir: String,
    /// How a preference is asked: both episodes in one JSON question, or one yes/no question per
    /// episode (the pair's preference is the difference of the two log-odds of "yes").
    #[serde(default)]
    pub ask: HttpAsk,
    /// How an analysis reads the episodes: all of them in one prompt answered as JSON, or the
    /// facts' yes/no questions one episode at a time, worded by `facts_prompt`.
    #[serde(default)]
    pub analysis: HttpAnalysis,
    /// With `analysis: facts`: the prompt variant that words the questions (a name in
    /// `assets/prompts/embedded/` or a path to a `.ron`), the embedded judge's files.
    #[serde(default = "default_facts_prompt")]
    pub facts_prompt: String,
    /// Longest answer body read (bytes); a longer one is a failed call, not stored.
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// Seconds a round may spend on this judge (all calls, waits and retries); then every
    /// further call of the round fails at once with the reason.
    #[serde(default = "default_round_deadline")]
    pub round_deadline_s: f64,
    /// Calls failing in a row with the same kind of error before the round stops asking.
    #[serde(default = "default_max_consecutive_failures")]
    pub max_consecutive_failures: u32,
}

/// How the HTTP judge asks for a preference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpAsk {
    /// Both rollouts in one prompt (`compare.txt`), answered as JSON.
    #[default]
    Pairwise,
    /// One rollout per prompt (`episode_system.txt`, `episode.txt`), answered yes or no.
    PerEpisode,
}

/// How the HTTP judge reads episodes for an analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpAnalysis {
    /// Every episode in one prompt (`analyze.txt`); the model answers as JSON what the mouse
    /// pursues and which menu items to try.
    #[default]
    Json,
    /// The questions of [`crate::llm::facts`], each about one episode and answered yes or no
    /// (log-probabilities), counted by the aggregation the ideal judge uses on the true answers.
    Facts,
}

fn default_facts_prompt() -> String {
    crate::llm::variant::DEFAULT_FACTS_PROMPT.into()
}

fn default_max_answer_bytes() -> usize {
    65_536
}
fn default_round_deadline() -> f64 {
    1_800.0
}
fn default_max_consecutive_failures() -> u32 {
    5
}

/// `url` with any user name and password replaced by `***` (`http://***@host:8080/v1`).
pub fn redact_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..authority_start], &rest[at..]),
        None => url.to_string(),
    }
}

fn default_max_tokens() -> u32 {
    400
}
fn default_true() -> bool {
    true
}
fn default_connect_timeout() -> f64 {
    5.0
}
fn default_read_timeout() -> f64 {
    120.0
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> f64 {
    1.0
}
fn default_budget() -> usize {
    2_000
}
fn default_prompt_dir() -> String {
    crate::llm::text::PROMPT_DIR.into()
}

impl HttpConfig {
    /// Defaults for a server at `base_url` serving `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            temperature: 0.0,
            max_tokens: default_max_tokens(),
            seed: Some(0),
            json_schema: true,
            connect_timeout_s: default_connect_timeout(),
            read_timeout_s: default_read_timeout(),
            max_retries: default_retries(),
            backoff_s: default_backoff(),
            round_budget: default_budget(),
            state_outcome: false,
            prompt_dir: default_prompt_dir(),
            ask: HttpAsk::Pairwise,
            analysis: HttpAnalysis::Json,
            facts_prompt: default_facts_prompt(),
            max_answer_bytes: default_max_answer_bytes(),
            round_deadline_s: default_round_deadline(),
            max_consecutive_failures: default_max_consecutive_failures(),
        }
    }
}

impl HttpConfig {
    /// Timeouts and backoff as durations a client can use, or what to write instead.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("read_timeout_s", self.read_timeout_s),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
                return Err(Invalid(format!(
                    "http.{name} is {value}: seconds, more than 0 and at most a day (e.g. 30)"
                )));
            }
        }
        if !(self.backoff_s.is_finite() && (0.0..=MAX_WAIT_S).contains(&self.backoff_s)) {
            return Err(Invalid(format!(
                "http.backoff_s is {}: seconds from 0 to {MAX_WAIT_S} (e.g. 1)",
                self.backoff_s
            )));
        }
        if !(self.round_deadline_s.is_finite()
            && self.round_deadline_s > 0.0
            && self.round_deadline_s <= 7.0 * 86_400.0)
        {
            return Err(Invalid(format!(
                "http.round_deadline_s is {}: seconds, more than 0 and at most a week (e.g. 1800)",
                self.round_deadline_s
            )));
        }
        if self.max_consecutive_failures == 0 {
            return Err(Invalid(
                "http.max_consecutive_failures is 0: at least 1 (e.g. 5)".into(),
            ));
        }
        if self.max_answer_bytes < 1_024 {
            return Err(Invalid(format!(
                "http.max_answer_bytes is {}: at least 1024 (e.g. 65536)",
                self.max_answer_bytes
            )));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Invalid(format!(
                "http.base_url is {:?}: a server root starting with http:// or https:// \
                 (e.g. http://127.0.0.1:8080)",
                redact_url(&self.base_url)
            )));
        }
        Ok(())
    }
}
