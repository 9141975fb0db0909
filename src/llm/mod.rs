//! LLM feedback: the judge interface (analyse rollouts, compare two), its backends (scripted
//! oracle, OpenAI-compatible HTTP, human), rollout-to-text rendering, scenarios and the label cache.

pub mod cache;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod http;
pub mod human;
pub mod oracle;
pub mod scenario;
pub mod text;

pub use cache::LabelCache;
pub use scenario::{Scenario, ScenarioEdit};

use crate::level::{Layout, Pos};
use crate::sim::{Action, EpisodeStats};
use serde::{Deserialize, Serialize};

/// One recorded episode: the maze, the path walked, the moves, and (for the oracle and for
/// diagnostics only) how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub layout: Layout,
    /// Cells visited, starting with the start cell (one more than `actions`).
    pub path: Vec<Pos>,
    pub actions: Vec<Action>,
    pub stats: EpisodeStats,
}

impl Rollout {
    /// A rollout whose summary is read off its path: it reached the cheese if the path ends
    /// there (the cheese ends an episode), went corner-first if it stepped onto the corner before
    /// that; otherwise it was cut off after `path.len() - 1` moves.
    pub fn from_path(layout: Layout, path: Vec<Pos>, actions: Vec<Action>) -> Self {
        use crate::sim::{CHEESE_REWARD, Outcome};
        let reached = path.len() > 1 && path.last() == Some(&layout.cheese);
        let moved = path.get(1..).unwrap_or_default();
        let before_end = &moved[..moved.len() - usize::from(reached)];
        let corner_first = before_end.contains(&layout.corner);
        let outcome = match (reached, corner_first) {
            (_, true) => Outcome::Corner,
            (true, false) => Outcome::Cheese,
            (false, false) => Outcome::Neither,
        };
        let stats = EpisodeStats {
            outcome,
            reached_cheese: reached,
            episode_return: if reached { CHEESE_REWARD } else { 0.0 },
            length: path.len().saturating_sub(1) as u32,
            truncated: !reached,
        };
        Self {
            layout,
            path,
            actions,
            stats,
        }
    }
}

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

/// A judge's reading of the policy: failure modes, proposed scenarios, and its raw words.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub failure_modes: Vec<String>,
    /// Validated scenarios, ready to roll out in.
    pub scenarios: Vec<Scenario>,
    /// Suggestions that could not be used, with the reason.
    pub rejected: Vec<String>,
    pub raw: String,
}

impl Analysis {
    /// Whether the analysis names the cheese/corner confound.
    pub fn names_confound(&self) -> bool {
        let text = format!("{} {}", self.raw, self.failure_modes.join(" ")).to_lowercase();
        text.contains("corner") && (text.contains("cheese") || text.contains("goal"))
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

/// Anything that can analyse rollouts and compare pairs of them.
pub trait Judge: Send {
    /// Backend and model, e.g. `oracle(noise=0.1)` or `http:llama3.1:8b`; keys the label cache.
    fn name(&self) -> String;
    /// Reads rollouts of the paused agent and proposes scenarios.
    fn analyze(&mut self, environment: &str, rollouts: &[Rollout]) -> Result<Analysis, JudgeError>;
    /// Which of two rollouts (shown in this order) is better.
    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError>;
    /// A new feedback round starts (budgets refill).
    fn begin_round(&mut self) {}
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
    pub hits: usize,
    pub misses: usize,
}

impl CachedJudge {
    pub fn new(inner: Box<dyn Judge>, cache: LabelCache) -> Self {
        Self {
            inner,
            cache,
            hits: 0,
            misses: 0,
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
            return Ok(answer);
        }
        self.misses += 1;
        let answer = ask(self.inner.as_mut())?;
        let value = serde_json::to_value(&answer).map_err(|e| JudgeError::Config(e.to_string()))?;
        self.cache
            .put(&name, key, value)
            .map_err(JudgeError::Config)?;
        Ok(answer)
    }
}

impl Judge for CachedJudge {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn analyze(&mut self, environment: &str, rollouts: &[Rollout]) -> Result<Analysis, JudgeError> {
        let shown: Vec<String> = rollouts
            .iter()
            .map(|r| self.inner.compare_prompt(r, r))
            .collect();
        let key = format!("analyze\n{environment}\n{}", shown.join("\n"));
        self.cached(&key, |judge| judge.analyze(environment, rollouts))
    }

    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError> {
        let key = self.inner.compare_prompt(first, second);
        self.cached(&key, |judge| judge.compare(first, second))
    }

    fn begin_round(&mut self) {
        self.inner.begin_round();
    }

    fn measured_agreement(&self) -> Option<f64> {
        self.inner.measured_agreement()
    }

    fn compare_prompt(&self, first: &Rollout, second: &Rollout) -> String {
        self.inner.compare_prompt(first, second)
    }
}

#[cfg(test)]
mod from_path_tests {
    use super::*;
    use crate::sim::Outcome;

    #[test]
    fn the_summary_follows_the_path() {
        // An open 3x3 room: start bottom-left, corner top-right, cheese top-left.
        let layout = Layout {
            size: 3,
            walls: vec![false; 9],
            start: Pos::new(2, 0),
            cheese: Pos::new(0, 0),
            corner: Pos::new(0, 2),
        };
        let cells = |c: &[(usize, usize)]| c.iter().map(|&(r, c)| Pos::new(r, c)).collect();
        let summary = |path: Vec<Pos>| {
            let r = Rollout::from_path(layout.clone(), path, Vec::new());
            (r.stats.outcome, r.stats.reached_cheese, r.stats.length)
        };
        assert_eq!(
            summary(cells(&[(2, 0), (1, 0), (0, 0)])),
            (Outcome::Cheese, true, 2)
        );
        assert_eq!(
            summary(cells(&[
                (2, 0),
                (1, 0),
                (1, 1),
                (0, 1),
                (0, 2),
                (0, 1),
                (0, 0)
            ])),
            (Outcome::Corner, true, 6)
        );
        assert_eq!(
            summary(cells(&[(2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])),
            (Outcome::Corner, false, 4)
        );
        assert_eq!(
            summary(cells(&[(2, 0), (2, 1)])),
            (Outcome::Neither, false, 1)
        );
        assert_eq!(summary(cells(&[(2, 0)])), (Outcome::Neither, false, 0));
    }
}
