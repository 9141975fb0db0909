//! OpenAI-compatible chat-completions judge (Ollama, llama.cpp server, vLLM, OpenAI): JSON-schema
//! answers where the server supports them, tolerant JSON extraction where it does not, timeouts,
//! retries with exponential backoff + jitter honouring `Retry-After`, a per-round call budget,
//! deadline and circuit breaker, and an answer size cap. Pairwise questions, or one yes/no
//! question per episode (log-probabilities when the server gives them). The API key is read from
//! an environment variable whose name is configured; credentials in `base_url` are redacted
//! wherever the URL is written or shown.

use super::scenario::{MENU, parse_suggestions};
use super::text::{Prompts, Shown, TextOptions, Wording, render_parts, render_rollout};
use super::{Analysis, Choice, Comparison, Judge, JudgeError, Rollout};
use crate::level::DistributionSpec;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

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
    super::text::PROMPT_DIR.into()
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
            max_answer_bytes: default_max_answer_bytes(),
            round_deadline_s: default_round_deadline(),
            max_consecutive_failures: default_max_consecutive_failures(),
        }
    }
}

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

impl HttpConfig {
    /// Timeouts and backoff as durations a client can use, or what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("read_timeout_s", self.read_timeout_s),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
                return Err(format!(
                    "http.{name} is {value}: seconds, more than 0 and at most a day (e.g. 30)"
                ));
            }
        }
        if !(self.backoff_s.is_finite() && (0.0..=MAX_WAIT_S).contains(&self.backoff_s)) {
            return Err(format!(
                "http.backoff_s is {}: seconds from 0 to {MAX_WAIT_S} (e.g. 1)",
                self.backoff_s
            ));
        }
        if !(self.round_deadline_s.is_finite()
            && self.round_deadline_s > 0.0
            && self.round_deadline_s <= 7.0 * 86_400.0)
        {
            return Err(format!(
                "http.round_deadline_s is {}: seconds, more than 0 and at most a week (e.g. 1800)",
                self.round_deadline_s
            ));
        }
        if self.max_consecutive_failures == 0 {
            return Err("http.max_consecutive_failures is 0: at least 1 (e.g. 5)".into());
        }
        if self.max_answer_bytes < 1_024 {
            return Err(format!(
                "http.max_answer_bytes is {}: at least 1024 (e.g. 65536)",
                self.max_answer_bytes
            ));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!(
                "http.base_url is {:?}: a server root starting with http:// or https:// \
                 (e.g. http://127.0.0.1:8080)",
                redact_url(&self.base_url)
            ));
        }
        Ok(())
    }
}

impl HttpJudge {
    pub fn new(config: HttpConfig, base: DistributionSpec, seed: u64) -> Result<Self, JudgeError> {
        config.validate().map_err(JudgeError::Config)?;
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
        let prompts = Prompts::load(Path::new(&config.prompt_dir)).map_err(JudgeError::Config)?;
        if config.ask == HttpAsk::PerEpisode {
            prompts
                .require(&["episode_system", "episode"])
                .map_err(JudgeError::Config)?;
        }
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
        };
        render_parts(rollout, shown, self.wording, self.config.state_outcome)
    }

    fn text_options(&self) -> TextOptions {
        TextOptions {
            state_outcome: self.config.state_outcome,
        }
    }

    fn analyze_prompt(&self, environment: &str, rollouts: &[Rollout]) -> String {
        let o = self.text_options();
        let shown: Vec<String> = rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| format!("Episode {}:\n{}", i + 1, render_rollout(r, o)))
            .collect();
        self.prompts.fill(
            "analyze",
            &[
                ("environment", environment),
                ("count", &rollouts.len().to_string()),
                ("rollouts", &shown.join("\n")),
                ("menu", MENU),
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
        };
        render_parts(rollout, shown, self.wording, self.config.state_outcome)
    }
}

/// `choices[0].message.content` of an answer.
fn content_of(choice: &Value) -> String {
    choice["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// P("yes") over {yes, no} from the first answer token's top log-probabilities, or from the text.
pub fn yes_probability(choice: &Value) -> Option<f64> {
    let label = |token: &str| {
        let t = token.trim().to_lowercase();
        (t == "yes").then_some(0).or((t == "no").then_some(1))
    };
    let mut p = [0.0f64; 2];
    if let Some(top) = choice["logprobs"]["content"][0]["top_logprobs"].as_array() {
        for entry in top {
            if let (Some(token), Some(lp)) = (entry["token"].as_str(), entry["logprob"].as_f64())
                && let Some(i) = label(token)
                && lp.is_finite()
            {
                p[i] += lp.exp();
            }
        }
    }
    if p[0] + p[1] > 0.0 {
        return Some(p[0] / (p[0] + p[1]));
    }
    let text = content_of(choice).trim().to_lowercase();
    let word: String = text.chars().take_while(|c| c.is_alphabetic()).collect();
    match word.as_str() {
        "yes" => Some(0.99),
        "no" => Some(0.01),
        _ => None,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The first JSON object in `text`: the whole text, a fenced block, or a balanced `{...}` inside
/// prose. One pass over the text and at most [`MAX_JSON_CANDIDATES`] parse attempts, so a
/// hostile answer (say 100 kB of `{`) costs time in proportion to its length.
pub fn extract_json(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text.trim())
        && v.is_object()
    {
        return Some(v);
    }
    // Balanced spans that may be useful objects (`{` then `"`), tried in order of their start
    // once the outermost brace around them closes (or the text ends).
    let mut open: Vec<usize> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut attempts = 0;
    let mut try_spans = |spans: &mut Vec<(usize, usize)>| {
        spans.sort_unstable();
        for &(start, end) in spans.iter() {
            if attempts >= MAX_JSON_CANDIDATES {
                break;
            }
            attempts += 1;
            if let Ok(v) = serde_json::from_str::<Value>(&text[start..=end])
                && v.is_object()
            {
                return Some(v);
            }
        }
        spans.clear();
        None
    };
    let (mut in_string, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if !open.is_empty() => in_string = true,
            b'{' => open.push(i),
            b'}' => {
                let Some(start) = open.pop() else { continue };
                let inner = text[start + 1..].trim_start();
                if inner.starts_with('"') {
                    spans.push((start, i));
                }
                if open.is_empty()
                    && let Some(v) = try_spans(&mut spans)
                {
                    return Some(v);
                }
            }
            _ => {}
        }
    }
    try_spans(&mut spans)
}

/// The most parse attempts [`extract_json`] makes on one answer.
const MAX_JSON_CANDIDATES: usize = 64;

/// Reads a comparison answer: `{"choice": 1|2|0, "rationale": ...}` (numbers or strings).
pub fn parse_comparison(text: &str) -> Result<Comparison, JudgeError> {
    let value = extract_json(text).ok_or_else(|| {
        JudgeError::Unparseable(format!("no JSON object in: {}", truncate(text, 120)))
    })?;
    let choice = match &value["choice"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().trim_start_matches("Episode ").parse::<i64>().ok(),
        _ => None,
    };
    let choice = match choice {
        Some(1) => Choice::First,
        Some(2) => Choice::Second,
        Some(0) => Choice::Tie,
        _ => {
            return Err(JudgeError::Unparseable(format!(
                "no valid \"choice\" in: {value}"
            )));
        }
    };
    Ok(Comparison {
        choice,
        rationale: value["rationale"].as_str().unwrap_or_default().to_string(),
    })
}

impl Judge for HttpJudge {
    fn name(&self) -> String {
        let ask = match self.config.ask {
            HttpAsk::Pairwise => "",
            HttpAsk::PerEpisode => "/per-episode",
        };
        format!(
            "http:{}@{}{ask}",
            self.config.model,
            redact_url(&self.config.base_url)
        )
    }

    fn analyze(&mut self, environment: &str, rollouts: &[Rollout]) -> Result<Analysis, JudgeError> {
        let prompt = self.analyze_prompt(environment, rollouts);
        let schema = json!({
            "type": "object",
            "properties": {
                "failure_modes": {"type": "array", "items": {"type": "string"}},
                "scenarios": {"type": "array", "items": {"type": "object"}},
                "reasoning": {"type": "string"},
            },
            "required": ["failure_modes", "scenarios"],
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
            failure_modes,
            scenarios,
            rejected,
            raw: text,
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
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_that_is_not_a_sane_number_never_panics_and_is_clamped() {
        assert_eq!(retry_after_seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after_seconds("1e300"),
            Some(Duration::from_secs_f64(MAX_WAIT_S))
        );
        for bad in ["-1", "NaN", "inf", "Wed, 21 Oct 2026 07:28:00 GMT", ""] {
            assert_eq!(retry_after_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn timeouts_out_of_range_are_refused_with_what_to_write() {
        let ok = HttpConfig::new("http://127.0.0.1:9", "m");
        assert!(ok.validate().is_ok());
        for (mutate, needle) in [
            (
                (|c: &mut HttpConfig| c.read_timeout_s = -1.0) as fn(&mut HttpConfig),
                "http.read_timeout_s is -1",
            ),
            (|c| c.connect_timeout_s = 1e300, "http.connect_timeout_s"),
            (
                |c| c.read_timeout_s = f64::NAN,
                "http.read_timeout_s is NaN",
            ),
            (|c| c.backoff_s = -2.0, "http.backoff_s"),
        ] {
            let mut c = ok.clone();
            mutate(&mut c);
            let e = c.validate().expect_err("refused");
            assert!(e.contains(needle), "{e}");
            let judge = HttpJudge::new(c, crate::level::DistributionSpec::training(7, 1), 0);
            assert!(judge.is_err(), "the judge is not built");
        }
    }

    #[test]
    fn credentials_in_a_url_are_redacted() {
        for (url, shown) in [
            ("http://user:pass@host:8080/v1", "http://***@host:8080/v1"),
            ("https://key@example.org", "https://***@example.org"),
            ("http://a:b@c@host/x@y", "http://***@host/x@y"),
            (
                "http://127.0.0.1:8080/p?q=a@b",
                "http://127.0.0.1:8080/p?q=a@b",
            ),
            ("user:pw@host", "***@host"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn hostile_answers_are_read_in_one_pass() {
        // Quadratic extraction would take hours on these; one pass takes milliseconds.
        let braces = "{".repeat(1_000_000);
        assert_eq!(extract_json(&braces), None);
        let nested = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        assert_eq!(extract_json(&nested), None);
        let empties = format!("{{ {} {{\"choice\": 1}}", "{}".repeat(200_000));
        assert_eq!(extract_json(&empties).expect("found")["choice"], 1);
        let broken = format!("{}{{\"choice\": 1}}", "{\"x\":}".repeat(200_000));
        assert_eq!(
            extract_json(&broken),
            None,
            "at most 64 candidates are tried"
        );
        // An object inside an unclosed brace is still found.
        let v = extract_json("Thinking { about it... {\"choice\": 2} done").expect("found");
        assert_eq!(v["choice"], 2);
        // Braces inside strings do not count.
        let v = extract_json("x {\"rationale\": \"a } b {\", \"choice\": 0} y").expect("found");
        assert_eq!(v["choice"], 0);
    }

    #[test]
    fn yes_or_no_is_read_from_log_probabilities_first() {
        let choice = json!({"message": {"content": "no"}, "logprobs": {"content": [
            {"top_logprobs": [{"token": "Yes", "logprob": -0.5}, {"token": " no", "logprob": -1.5}]}
        ]}});
        let p = yes_probability(&choice).expect("p");
        assert!((p - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-9, "{p}");
        assert_eq!(
            yes_probability(&json!({"message": {"content": " Yes."}})),
            Some(0.99)
        );
        assert_eq!(
            yes_probability(&json!({"message": {"content": "No"}})),
            Some(0.01)
        );
        assert_eq!(
            yes_probability(&json!({"message": {"content": "perhaps"}})),
            None
        );
    }

    #[test]
    fn json_is_found_in_prose_and_fences() {
        let v = extract_json(
            "Sure! ```json\n{\"choice\": 2, \"rationale\": \"it {found} it\"}\n``` done",
        )
        .expect("json");
        assert_eq!(v["choice"], 2);
        assert_eq!(
            parse_comparison("{\"choice\": \"1\"}")
                .expect("choice")
                .choice,
            Choice::First
        );
        assert!(parse_comparison("I think the second one.").is_err());
        assert!(parse_comparison("{\"choice\": 7}").is_err());
    }
}
