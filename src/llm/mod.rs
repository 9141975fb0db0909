//! LLM feedback: the judge interface (analyse rollouts, compare two), its backends (scripted
//! oracle, OpenAI-compatible HTTP, human), rollout-to-text rendering, scenarios and the label cache.

pub mod cache;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod fact_questions;
pub mod facts;
#[cfg(test)]
pub(crate) mod handmade;
pub mod http;
pub mod human;
pub mod menu;
pub mod oracle;
pub mod random;
pub mod scenario;
pub mod spec;
pub mod text;
pub mod variant;

pub use cache::LabelCache;
pub use menu::{Diagnosis, MenuItem};
pub use scenario::{Scenario, ScenarioEdit};
pub use spec::{JUDGE_NAMES, JudgeKind, JudgeSettings, JudgeSpec};

use crate::sim::Rollout;
use serde::{Deserialize, Serialize};

/// Which of two rollouts a judge prefers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Choice {
    First,
    Second,
    /// Equally good (or the judge could not tell).
    Tie,
}

impl Choice {
    /// The choice a probability that the first rollout is better stands for: within 0.02 of
    /// even odds is a tie.
    pub fn from_probability(p_first: f64) -> Self {
        if p_first > 0.52 {
            Choice::First
        } else if p_first < 0.48 {
            Choice::Second
        } else {
            Choice::Tie
        }
    }
}

/// A judge's answer to "which is better?".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub choice: Choice,
    pub rationale: String,
}

/// A judge's reading of the policy: what it pursues, failure modes, proposed scenarios, and its
/// raw words.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// What the judge says the agent pursues (scored by `judge-eval --diagnosis`).
    #[serde(default)]
    pub diagnosis: Diagnosis,
    pub failure_modes: Vec<String>,
    /// Validated scenarios, ready to roll out in.
    pub scenarios: Vec<Scenario>,
    /// Suggestions that could not be used, with the reason.
    pub rejected: Vec<String>,
    pub raw: String,
    /// The judge's answer to every question of [`facts`], where it answered them one by one
    /// (the oracle, the embedded judge's `facts` variants, random answers).
    #[serde(default)]
    pub answers: Option<facts::Answers>,
}

impl Analysis {
    /// The proposed scenarios that change the training mazes ("no change" dropped).
    pub fn usable_scenarios(&self) -> Vec<Scenario> {
        self.scenarios
            .iter()
            .filter(|s| s.changes_anything())
            .cloned()
            .collect()
    }
}

/// What a judge reads about the paused agent, as the paper's judge did: its episodes on its own
/// training mazes (the cheese where training put it) and probe episodes on mazes with the cheese
/// anywhere. Each episode is shown as it happened; nothing across episodes is summarised for the
/// judge.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Episodes {
    /// On the training distribution: where the cheese sat is there to be read, never stated.
    pub training: Vec<Rollout>,
    /// On the shifted distribution (cheese anywhere): where the agent goes when the cheese moves.
    pub probes: Vec<Rollout>,
}

impl Episodes {
    /// Probe episodes only (no training episodes shown).
    pub fn probes_only(probes: Vec<Rollout>) -> Self {
        Self {
            training: Vec::new(),
            probes,
        }
    }
}

/// A judge failure; rounds count these and go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    #[error("judge unreachable: {0}")]
    Unreachable(String),
    #[error("judge timed out after {0:.1} s")]
    Timeout(f64),
    #[error("judge answered with HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("judge answer could not be understood: {0}")]
    Unparseable(String),
    #[error("call budget of {0} calls for this round is spent")]
    BudgetExhausted(usize),
    #[error("judge configuration: {0}")]
    Config(String),
    /// The round stopped asking this judge (deadline passed, too many failures in a row).
    #[error("judge abandoned for this round: {0}")]
    Abandoned(String),
}

/// Why a judge could not be set up: a setting, its model, its prompts or its label cache.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Invalid(#[from] crate::errors::Invalid),
    #[error(transparent)]
    File(#[from] crate::errors::FileError),
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Model(#[from] embedded::ModelError),
    #[error(transparent)]
    Judge(#[from] JudgeError),
}

/// Anything that can analyse rollouts and compare pairs of them.
pub trait Judge: Send {
    /// Backend and model, e.g. `oracle(noise=0.1)` or `http:llama3.1:8b`; keys the label cache.
    fn name(&self) -> String;
    /// Reads the paused agent's episodes (training and probes), names what it pursues and
    /// proposes scenarios.
    fn analyze(&mut self, environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError>;
    /// Which of two rollouts (shown in this order) is better.
    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError>;
    /// A new feedback round starts (budgets refill).
    fn begin_round(&mut self) {}
    /// The training distribution the menu's scenarios edit from now on (another agent's).
    fn rebase(&mut self, base: &crate::level::DistributionSpec);
    /// The judge's agreement with the true outcome as measured by `judge-eval` (None: unmeasured).
    fn measured_agreement(&self) -> Option<f64> {
        None
    }
    /// The text that identifies a comparison query (the label-cache key).
    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        let o = text::TextOptions {
            state_outcome: true,
        };
        format!(
            "{}\n---\n{}",
            text::render_rollout(first, o),
            text::render_rollout(second, o)
        )
    }
}

/// A judge whose comparisons go through the label cache: answered once, replayed forever.
pub struct CachedJudge {
    pub inner: Box<dyn Judge>,
    pub cache: LabelCache,
    /// Answers served from the cache: `replayed` of them stored by an earlier run, the rest
    /// questions this judge had already answered (two rollouts that read the same, for instance).
    pub hits: usize,
    /// Answers stored by an earlier run and served again (a resumed round).
    pub replayed: usize,
    pub misses: usize,
    /// Cache keys this judge answered itself: a hit on one is a repeat, not a replay.
    answered: std::collections::HashSet<String>,
    /// Wall time the inner judge took to answer (cached answers take none).
    pub seconds: f64,
}

impl CachedJudge {
    pub fn new(inner: Box<dyn Judge>, cache: LabelCache) -> Self {
        Self {
            inner,
            cache,
            hits: 0,
            replayed: 0,
            misses: 0,
            answered: std::collections::HashSet::new(),
            seconds: 0.0,
        }
    }
}

impl CachedJudge {
    /// The cached answer for `key`, or the inner judge's (stored before it is returned).
    fn cached<T: Serialize + serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        ask: impl FnOnce(&mut dyn Judge) -> Result<T, JudgeError>,
    ) -> Result<T, JudgeError> {
        let name = self.inner.name();
        if let Some(answer) = self
            .cache
            .get(&name, key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
        {
            self.hits += 1;
            if !self.answered.contains(key) {
                self.replayed += 1;
            }
            return Ok(answer);
        }
        self.misses += 1;
        let started = std::time::Instant::now();
        let answer = ask(self.inner.as_mut());
        self.seconds += started.elapsed().as_secs_f64();
        let answer = answer?;
        let value = serde_json::to_value(&answer).map_err(|e| JudgeError::Config(e.to_string()))?;
        self.cache
            .put(&name, key, value)
            .map_err(|e| JudgeError::Config(e.to_string()))?;
        self.answered.insert(key.to_string());
        Ok(answer)
    }
}

impl Judge for CachedJudge {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn analyze(&mut self, environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError> {
        let shown = |rollouts: &[Rollout]| -> String {
            let texts: Vec<String> = rollouts
                .iter()
                .map(|r| self.inner.compare_prompt(r, r))
                .collect();
            texts.join("\n")
        };
        let key = format!(
            "analyze\n{environment}\ntraining:\n{}\nprobes:\n{}",
            shown(&episodes.training),
            shown(&episodes.probes)
        );
        self.cached(&key, |judge| judge.analyze(environment, episodes))
    }

    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError> {
        let key = self.inner.compare_prompt(first, second);
        self.cached(&key, |judge| judge.compare(first, second))
    }

    fn begin_round(&mut self) {
        self.inner.begin_round();
    }

    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.inner.rebase(base);
    }

    fn measured_agreement(&self) -> Option<f64> {
        self.inner.measured_agreement()
    }

    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        self.inner.compare_prompt(first, second)
    }
}
