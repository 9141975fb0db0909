//! OpenAI-compatible chat-completions judge (Ollama, llama.cpp server, vLLM, OpenAI): JSON-schema
//! answers where the server supports them, tolerant JSON extraction where it does not, timeouts,
//! retries with exponential backoff + jitter honouring `Retry-After`, a per-round call budget,
//! deadline and circuit breaker, and an answer size cap. Pairwise questions, or one yes/no
//! question per episode (log-probabilities when the server gives them). The API key is read from
//! an environment variable whose name is configured; credentials in `base_url` are redacted
//! wherever the URL is written or shown.

mod answer;
mod config;

pub use answer::{extract_json, parse_comparison, yes_log_odds, yes_probability};
pub use config::{HttpAnalysis, HttpAsk, HttpConfig, redact_url};

use super::fact_questions::{FactAsker, YesNoModel};
use super::menu::parse_suggestions;
use super::menu::{self, Diagnosis};
use super::oracle::analysis_from;
use super::text::{
    Prompts, Shown, TextOptions, Wording, numbered_episodes, render_parts, render_rollout,
};
use super::{Analysis, Choice, Comparison, Episodes, Judge, JudgeError};
use crate::level::DistributionSpec;
use crate::rng::Rng;
use crate::sim::Rollout;
use answer::{content_of, error_chain, truncate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

/// Counters shown to users (never silently hidden).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpStats {
    pub calls: usize,
    pub retries: usize,
    pub failures: usize,
    pub schema_fallbacks: usize,
    pub unparseable: usize,
    /// Calls refused because the round's deadline passed or its circuit breaker tripped.
    pub abandoned: usize,
}

/// The HTTP judge.
pub struct HttpJudge {
    config: HttpConfig,
    client: reqwest::blocking::Client,
    api_key: Option<String>,
    prompts: Prompts,
    base: DistributionSpec,
    rng: Rng,
    /// How the answer's JSON schema is asked for now (steps down on each refusal).
    schema_form: SchemaForm,
    /// A request with the schema has succeeded: later refusals are not the schema's fault.
    schema_confirmed: bool,
    round_calls: usize,
    round_started: Instant,
    /// The kind of the last failed call and how many failed in a row.
    failing: Option<(std::mem::Discriminant<JudgeError>, u32)>,
    /// Why this round stopped asking (the deadline or the circuit breaker).
    abandoned: Option<String>,
    /// P(yes) of each rendered episode already asked (per-episode mode).
    episode_yes: HashMap<String, f64>,
    /// How rollouts' events are worded (`judge-eval` paraphrases to test understanding).
    wording: Wording,
    /// With `analysis: facts`: how the questions are worded, with the answers kept (taken out
    /// while an analysis asks them).
    facts: Option<FactAsker>,
    pub stats: HttpStats,
}

/// How a JSON schema for the answer is sent: OpenAI's `json_schema` form, then (refused)
/// llama-cpp-python's `json_object` with a schema, then (refused again) not at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemaForm {
    JsonSchema,
    JsonObject,
    Unasked,
}

impl SchemaForm {
    fn fallback(self) -> Self {
        match self {
            SchemaForm::JsonSchema => SchemaForm::JsonObject,
            SchemaForm::JsonObject | SchemaForm::Unasked => SchemaForm::Unasked,
        }
    }
}

/// What went wrong in one attempt, and whether retrying may help.
enum Attempt {
    Retry(JudgeError, Option<Duration>),
    Fatal(JudgeError),
    SchemaRefused,
}

/// The longest wait between two attempts, whatever a server asks for.
const MAX_WAIT_S: f64 = 60.0;

/// A `Retry-After` header as a wait: seconds as a number, clamped to `[0, MAX_WAIT_S]`; anything
/// else (a negative number, NaN, an HTTP date) leaves the backoff to us (None).
fn retry_after_seconds(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(MAX_WAIT_S)))
}

impl HttpJudge {
    pub fn new(config: HttpConfig, base: DistributionSpec, seed: u64) -> Result<Self, JudgeError> {
        config
            .validate()
            .map_err(|e| JudgeError::Config(e.to_string()))?;
        let api_key = match &config.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                JudgeError::Config(format!(
                    "environment variable {var} (the API key) is not set"
                ))
            })?),
            None => None,
        };
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs_f64(config.connect_timeout_s))
            .timeout(Duration::from_secs_f64(config.read_timeout_s))
            .build()
            .map_err(|e| JudgeError::Config(format!("HTTP client: {e}")))?;
        let prompts = Prompts::load(Path::new(&config.prompt_dir))
            .map_err(|e| JudgeError::Config(e.to_string()))?;
        if config.ask == HttpAsk::PerEpisode {
            prompts
                .require(&["episode_system", "episode"])
                .map_err(|e| JudgeError::Config(e.to_string()))?;
        }
        let facts = match config.analysis {
            HttpAnalysis::Json => None,
            HttpAnalysis::Facts => Some(facts_asker(&config.facts_prompt)?),
        };
        Ok(Self {
            schema_form: if config.json_schema {
                SchemaForm::JsonSchema
            } else {
                SchemaForm::Unasked
            },
            schema_confirmed: false,
            config,
            client,
            api_key,
            prompts,
            base,
            rng: Rng::new(seed),
            round_calls: 0,
            round_started: Instant::now(),
            failing: None,
            abandoned: None,
            episode_yes: HashMap::new(),
            wording: Wording::Standard,
            facts,
            stats: HttpStats::default(),
        })
    }

    /// Words rollouts' events in `wording` from now on.
    pub fn set_wording(&mut self, wording: Wording) {
        self.wording = wording;
    }

    /// A rollout as the pairwise questions show it: the maze with the path, moves, events.
    fn rollout_text(&self, rollout: &Rollout) -> String {
        let shown = Shown {
            maze: true,
            moves: true,
            events: true,
            positions: false,
            corner_steps: false,
        };
        render_parts(rollout, shown, self.wording, self.config.state_outcome)
    }

    fn text_options(&self) -> TextOptions {
        TextOptions {
            state_outcome: self.config.state_outcome,
        }
    }

    fn analyze_prompt(&self, environment: &str, episodes: &Episodes) -> String {
        let o = self.text_options();
        let (training, probes) = numbered_episodes(episodes, |r| render_rollout(r, o));
        self.prompts.fill(
            "analyze",
            &[
                ("environment", environment),
                ("training_count", &episodes.training.len().to_string()),
                ("training", &training),
                ("count", &episodes.probes.len().to_string()),
                ("rollouts", &probes),
                ("menu", &menu::listing(&menu::menu(&self.base))),
            ],
        )
    }

    /// Why the round must stop asking now (deadline passed, breaker tripped), if it must.
    fn refusal(&mut self) -> Option<JudgeError> {
        if self.abandoned.is_none() && self.round_left().is_zero() {
            self.abandoned = Some(format!(
                "the round's deadline of {:.0} s (http.round_deadline_s) passed",
                self.config.round_deadline_s
            ));
        }
        let reason = self.abandoned.clone()?;
        self.stats.abandoned += 1;
        Some(JudgeError::Abandoned(reason))
    }

    fn round_left(&self) -> Duration {
        Duration::from_secs_f64(self.config.round_deadline_s)
            .saturating_sub(self.round_started.elapsed())
    }

    /// Counts a call's final result; trips the breaker after `max_consecutive_failures` failures
    /// of one kind in a row.
    fn record(&mut self, result: &Result<Value, JudgeError>) {
        let Err(error) = result else {
            self.failing = None;
            return;
        };
        if matches!(error, JudgeError::Abandoned(_)) {
            return;
        }
        let kind = std::mem::discriminant(error);
        let count = match self.failing {
            Some((k, n)) if k == kind => n + 1,
            _ => 1,
        };
        self.failing = Some((kind, count));
        if count >= self.config.max_consecutive_failures && self.abandoned.is_none() {
            self.abandoned = Some(format!(
                "{count} calls in a row failed (http.max_consecutive_failures), the last with: \
                 {error}"
            ));
        }
    }

    /// Sends one chat request (`user` after the system prompt, `extra` fields merged into the
    /// body) with retries; returns `choices[0]` of the answer.
    fn chat(
        &mut self,
        system: &str,
        user: &str,
        schema: Option<&Value>,
        extra: &Value,
    ) -> Result<Value, JudgeError> {
        let result = self.chat_with_retries(system, user, schema, extra);
        self.record(&result);
        result
    }

    fn chat_with_retries(
        &mut self,
        system: &str,
        user: &str,
        schema: Option<&Value>,
        extra: &Value,
    ) -> Result<Value, JudgeError> {
        let mut attempt = 0;
        loop {
            if let Some(refused) = self.refusal() {
                return Err(refused);
            }
            if self.round_calls >= self.config.round_budget {
                self.stats.failures += 1;
                return Err(JudgeError::BudgetExhausted(self.config.round_budget));
            }
            self.round_calls += 1;
            self.stats.calls += 1;
            let with_schema = schema.filter(|_| self.schema_form != SchemaForm::Unasked);
            match self.attempt(system, user, with_schema, extra) {
                Ok(choice) => {
                    self.schema_confirmed |= with_schema.is_some();
                    return Ok(choice);
                }
                Err(Attempt::SchemaRefused) => {
                    self.schema_form = self.schema_form.fallback();
                    self.stats.schema_fallbacks += 1;
                }
                Err(Attempt::Fatal(e)) => {
                    self.stats.failures += 1;
                    return Err(e);
                }
                Err(Attempt::Retry(e, retry_after)) => {
                    if attempt >= self.config.max_retries {
                        self.stats.failures += 1;
                        return Err(e);
                    }
                    self.stats.retries += 1;
                    let backoff = self.config.backoff_s * 2f64.powi(attempt as i32);
                    let jitter = 1.0 + 0.25 * self.rng.unit_f64();
                    let wait = retry_after
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(backoff * jitter)
                        .clamp(0.0, MAX_WAIT_S)
                        .min(self.round_left().as_secs_f64());
                    std::thread::sleep(Duration::from_secs_f64(wait));
                    attempt += 1;
                }
            }
        }
    }

    fn attempt(
        &self,
        system: &str,
        user: &str,
        schema: Option<&Value>,
        extra: &Value,
    ) -> Result<Value, Attempt> {
        let url = format!(
            "{}/v1/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let shown_url = redact_url(&url);
        let mut body = json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        });
        if let Some(seed) = self.config.seed {
            body["seed"] = json!(seed);
        }
        match (schema, self.schema_form) {
            (Some(schema), SchemaForm::JsonSchema) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": true},
                });
            }
            // llama-cpp-python's grammar-constrained form.
            (Some(schema), SchemaForm::JsonObject) => {
                body["response_format"] = json!({"type": "json_object", "schema": schema});
            }
            _ => {}
        }
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        // No attempt outlives the round's deadline.
        let timeout = self
            .round_left()
            .min(Duration::from_secs_f64(self.config.read_timeout_s))
            .max(Duration::from_millis(1));
        let mut request = self.client.post(&url).json(&body).timeout(timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let seconds = timeout.as_secs_f64();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Attempt::Retry(JudgeError::Timeout(seconds), None)
            } else {
                // Messages name the redacted URL, never headers: no credential leaks here.
                Attempt::Retry(
                    JudgeError::Unreachable(format!(
                        "{shown_url}: {}",
                        error_chain(&e.without_url())
                    )),
                    None,
                )
            }
        };
        let response = request.send().map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_seconds);
        let cap = self.config.max_answer_bytes;
        let mut bytes = Vec::new();
        response
            .take(cap as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                Attempt::Retry(
                    JudgeError::Unreachable(format!("{shown_url}: reading the answer: {e}")),
                    None,
                )
            })?;
        if bytes.len() > cap {
            return Err(Attempt::Fatal(JudgeError::Unparseable(format!(
                "the answer is longer than {cap} bytes (http.max_answer_bytes); not read"
            ))));
        }
        let text = String::from_utf8_lossy(&bytes);
        // Servers refuse an unsupported `response_format` with 400, 422 or even 500: until a
        // request with the schema has worked once, any refusal is retried without it.
        if schema.is_some() && !self.schema_confirmed && status >= 400 && status != 429 {
            return Err(Attempt::SchemaRefused);
        }
        if status == 429 || status >= 500 {
            let error = JudgeError::Http {
                status,
                body: truncate(&text, 200),
            };
            return Err(Attempt::Retry(error, retry_after));
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Fatal(JudgeError::Http {
                status,
                body: truncate(&text, 200),
            }));
        }
        let mut reply: Value = serde_json::from_str(&text).map_err(|e| {
            Attempt::Fatal(JudgeError::Unparseable(format!(
                "response is not JSON: {e}"
            )))
        })?;
        let choice = reply["choices"][0].take();
        if choice["message"]["content"].is_string() {
            Ok(choice)
        } else {
            Err(Attempt::Fatal(JudgeError::Unparseable(
                "no choices[0].message.content".into(),
            )))
        }
    }

    /// The assistant's text of a chat answer.
    fn chat_text(&mut self, user: &str, schema: &Value) -> Result<String, JudgeError> {
        let system = self.prompts.fill("system", &[]);
        let choice = self.chat(&system, user, Some(schema), &json!({}))?;
        Ok(content_of(&choice))
    }

    /// P("yes") for one rendered episode: from the answer's log-probabilities when the server
    /// gives them, else from its text (yes: 0.99, no: 0.01).
    fn episode_yes(&mut self, episode: &str) -> Result<f64, JudgeError> {
        if let Some(&p) = self.episode_yes.get(episode) {
            return Ok(p);
        }
        let system = self.prompts.fill("episode_system", &[]);
        let user = self.prompts.fill("episode", &[("episode", episode)]);
        let extra = json!({"logprobs": true, "top_logprobs": 10, "max_tokens": 2});
        let choice = self.chat(&system, &user, None, &extra)?;
        let p = yes_probability(&choice).ok_or_else(|| {
            self.stats.unparseable += 1;
            JudgeError::Unparseable(format!(
                "neither yes nor no in: {}",
                truncate(&content_of(&choice), 120)
            ))
        })?;
        if self.episode_yes.len() > 4096 {
            self.episode_yes.clear();
        }
        self.episode_yes.insert(episode.to_string(), p);
        Ok(p)
    }

    /// A rollout as the per-episode question shows it: where the cheese is and where the mouse
    /// ended (the form the embedded judge measured best with).
    fn episode_text(&self, rollout: &Rollout) -> String {
        let shown = Shown {
            maze: false,
            moves: false,
            events: false,
            positions: true,
            corner_steps: false,
        };
        render_parts(rollout, shown, self.wording, self.config.state_outcome)
    }
}

/// The facts' questions worded by the prompt variant `name_or_path`, which must be a facts
/// variant.
fn facts_asker(name_or_path: &str) -> Result<FactAsker, JudgeError> {
    let (name, variant) = crate::llm::variant::PromptVariant::load(name_or_path)
        .map_err(|e| JudgeError::Config(format!("http.facts_prompt: {e}")))?;
    if variant.diagnosis != crate::llm::variant::DiagnosisMode::Facts {
        return Err(JudgeError::Config(format!(
            "http.facts_prompt is {name:?}, which does not ask the facts' questions (its \
             `diagnosis` is not `facts`): use {:?} or another variant with `diagnosis: facts`",
            crate::llm::variant::DEFAULT_FACTS_PROMPT
        )));
    }
    Ok(FactAsker::new(variant))
}

/// One question at a time through the server: the first answer token's log-probabilities.
impl YesNoModel for HttpJudge {
    fn yes_log_odds(&mut self, system: &str, user: &str) -> Result<f64, JudgeError> {
        let extra = json!({"logprobs": true, "top_logprobs": 10, "max_tokens": 2});
        let choice = self.chat(system, user, None, &extra)?;
        yes_log_odds(&choice).ok_or_else(|| {
            self.stats.unparseable += 1;
            JudgeError::Unparseable(format!(
                "neither yes nor no in: {}",
                truncate(&content_of(&choice), 120)
            ))
        })
    }

    fn answer_text(
        &mut self,
        system: &str,
        user: &str,
        tokens: usize,
    ) -> Result<String, JudgeError> {
        let choice = self.chat(system, user, None, &json!({"max_tokens": tokens}))?;
        Ok(content_of(&choice))
    }
}

impl Judge for HttpJudge {
    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }

    fn name(&self) -> String {
        let ask = match self.config.ask {
            HttpAsk::Pairwise => "",
            HttpAsk::PerEpisode => "/per-episode",
        };
        let analysis = match self.config.analysis {
            HttpAnalysis::Json => String::new(),
            HttpAnalysis::Facts => format!("/analysis={}", self.config.facts_prompt),
        };
        format!(
            "http:{}@{}{ask}{analysis}",
            self.config.model,
            redact_url(&self.config.base_url)
        )
    }

    fn analyze(&mut self, environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError> {
        if let Some(mut facts) = self.facts.take() {
            let answers = facts.answers(self, episodes);
            self.facts = Some(facts);
            return Ok(analysis_from(&answers?, &self.base, "The model's answers"));
        }
        let prompt = self.analyze_prompt(environment, episodes);
        let schema = json!({
            "type": "object",
            "properties": {
                "pursues": {"type": "string", "enum": ["top_left", "top_right", "bottom_right", "none"]},
                "failure_modes": {"type": "array", "items": {"type": "string"}},
                "scenarios": {"type": "array", "items": {"type": "string"}},
                "reasoning": {"type": "string"},
            },
            "required": ["pursues", "failure_modes", "scenarios"],
        });
        let text = self.chat_text(&prompt, &schema)?;
        let Some(value) = extract_json(&text) else {
            self.stats.unparseable += 1;
            return Ok(Analysis {
                rejected: vec!["the answer held no JSON object".into()],
                raw: text,
                ..Analysis::default()
            });
        };
        let failure_modes = value["failure_modes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let suggestions = value["scenarios"].as_array().cloned().unwrap_or_default();
        let (scenarios, rejected) = parse_suggestions(&suggestions, &self.base);
        Ok(Analysis {
            diagnosis: value["pursues"]
                .as_str()
                .map_or(Diagnosis::Unstated, Diagnosis::parse),
            failure_modes,
            scenarios,
            rejected,
            raw: text,
            answers: None,
        })
    }

    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError> {
        if self.config.ask == HttpAsk::PerEpisode {
            let yes_first = self.episode_yes(&self.episode_text(first))?;
            let yes_second = self.episode_yes(&self.episode_text(second))?;
            let logit = |p: f64| {
                let p = p.clamp(1e-9, 1.0 - 1e-9);
                (p / (1.0 - p)).ln()
            };
            let p = 1.0 / (1.0 + (logit(yes_second) - logit(yes_first)).exp());
            return Ok(Comparison {
                choice: Choice::from_probability(p),
                rationale: format!(
                    "P(yes) {yes_first:.2} for the first, {yes_second:.2} for the second: \
                     P(first better) = {p:.2}"
                ),
            });
        }
        let prompt = self.compare_prompt(first, second);
        let schema = json!({
            "type": "object",
            "properties": {
                "choice": {"type": "integer", "enum": [0, 1, 2]},
                "rationale": {"type": "string"},
            },
            "required": ["choice", "rationale"],
        });
        let text = self.chat_text(&prompt, &schema)?;
        parse_comparison(&text).inspect_err(|_| self.stats.unparseable += 1)
    }

    /// A new round: the call budget, the deadline and the circuit breaker start afresh.
    fn begin_round(&mut self) {
        self.round_calls = 0;
        self.round_started = Instant::now();
        self.failing = None;
        self.abandoned = None;
    }

    /// The exact user prompt of a comparison (also the label-cache key).
    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        if self.config.ask == HttpAsk::PerEpisode {
            let ask = |r: &Rollout| {
                let text = self.episode_text(r);
                self.prompts.fill("episode", &[("episode", &text)])
            };
            return format!("{}\n---\n{}", ask(first), ask(second));
        }
        self.prompts.fill(
            "compare",
            &[
                ("first", &self.rollout_text(first)),
                ("second", &self.rollout_text(second)),
            ],
        )
    }
}

#[cfg(test)]
mod tests;
