//! OpenAI-compatible chat-completions judge (Ollama, llama.cpp server, vLLM, OpenAI): JSON-schema
//! answers where the server supports them, tolerant JSON extraction where it does not, timeouts,
//! retries with exponential backoff + jitter honouring `Retry-After`, and a per-round call budget.
//! The API key is read from an environment variable whose name is configured; it is never logged
//! or written anywhere.

use super::scenario::{MENU, parse_suggestions};
use super::text::{Prompts, TextOptions, render_rollout};
use super::{Analysis, Choice, Comparison, Judge, JudgeError, Rollout};
use crate::level::DistributionSpec;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Settings of the HTTP judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Server root, e.g. `http://127.0.0.1:11434` (Ollama) or `http://127.0.0.1:8080` (llama.cpp).
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
    /// Ask for `response_format` with a JSON schema (dropped automatically if the server refuses).
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
}

/// The HTTP judge.
pub struct HttpJudge {
    config: HttpConfig,
    client: reqwest::blocking::Client,
    api_key: Option<String>,
    prompts: Prompts,
    base: DistributionSpec,
    rng: Rng,
    schema_supported: bool,
    round_calls: usize,
    pub stats: HttpStats,
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
        Ok(Self {
            schema_supported: config.json_schema,
            config,
            client,
            api_key,
            prompts,
            base,
            rng: Rng::new(seed),
            round_calls: 0,
            stats: HttpStats::default(),
        })
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

    /// Sends one chat request with retries; returns the assistant's text.
    fn chat(&mut self, user: &str, schema: &Value) -> Result<String, JudgeError> {
        let mut attempt = 0;
        loop {
            if self.round_calls >= self.config.round_budget {
                self.stats.failures += 1;
                return Err(JudgeError::BudgetExhausted(self.config.round_budget));
            }
            self.round_calls += 1;
            self.stats.calls += 1;
            match self.attempt(user, schema) {
                Ok(text) => return Ok(text),
                Err(Attempt::SchemaRefused) => {
                    self.schema_supported = false;
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
                        .clamp(0.0, MAX_WAIT_S);
                    std::thread::sleep(Duration::from_secs_f64(wait));
                    attempt += 1;
                }
            }
        }
    }

    fn attempt(&self, user: &str, schema: &Value) -> Result<String, Attempt> {
        let url = format!(
            "{}/v1/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut body = json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": self.prompts.fill("system", &[])},
                {"role": "user", "content": user},
            ],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        });
        if let Some(seed) = self.config.seed {
            body["seed"] = json!(seed);
        }
        if self.schema_supported {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": true},
            });
        }
        let mut request = self.client.post(&url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let timeout = self.config.read_timeout_s;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Attempt::Retry(JudgeError::Timeout(timeout), None)
            } else {
                // Messages name the URL, never headers: the key cannot leak here.
                Attempt::Retry(
                    JudgeError::Unreachable(format!("{url}: {}", error_chain(&e))),
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
        let text = response.text().map_err(transport)?;
        if status == 429 || status >= 500 {
            let error = JudgeError::Http {
                status,
                body: truncate(&text, 200),
            };
            return Err(Attempt::Retry(error, retry_after));
        }
        if status == 400 && self.schema_supported && text.contains("response_format") {
            return Err(Attempt::SchemaRefused);
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Fatal(JudgeError::Http {
                status,
                body: truncate(&text, 200),
            }));
        }
        let reply: Value = serde_json::from_str(&text).map_err(|e| {
            Attempt::Fatal(JudgeError::Unparseable(format!(
                "response is not JSON: {e}"
            )))
        })?;
        reply["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                Attempt::Fatal(JudgeError::Unparseable(
                    "no choices[0].message.content".into(),
                ))
            })
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

/// The first JSON object in `text`: the whole text, a fenced block, or a balanced `{...}` inside prose.
pub fn extract_json(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text.trim())
        && v.is_object()
    {
        return Some(v);
    }
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(offset) = text[start..].find('{') {
        let open = start + offset;
        let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                _ if escaped => escaped = false,
                b'\\' if in_string => escaped = true,
                b'"' => in_string = !in_string,
                b'{' if !in_string => depth += 1,
                b'}' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        if let Ok(v) = serde_json::from_str::<Value>(&text[open..=i]) {
                            return Some(v);
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
        start = open + 1;
    }
    None
}

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
        format!("http:{}@{}", self.config.model, self.config.base_url)
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
        let text = self.chat(&prompt, &schema)?;
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
        let prompt = self.compare_prompt(first, second);
        let schema = json!({
            "type": "object",
            "properties": {
                "choice": {"type": "integer", "enum": [0, 1, 2]},
                "rationale": {"type": "string"},
            },
            "required": ["choice", "rationale"],
        });
        let text = self.chat(&prompt, &schema)?;
        parse_comparison(&text).inspect_err(|_| self.stats.unparseable += 1)
    }

    /// A new round: the call budget refills.
    fn begin_round(&mut self) {
        self.round_calls = 0;
    }

    /// The exact user prompt of a comparison (also the label-cache key).
    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        let o = self.text_options();
        self.prompts.fill(
            "compare",
            &[
                ("first", &render_rollout(first, o)),
                ("second", &render_rollout(second, o)),
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
