//! Episode outcome rates (cheese / corner-first / neither) with 95% Wilson confidence intervals.

use super::{EpisodeStats, Outcome};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A proportion with its 95% Wilson score interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub successes: usize,
    pub trials: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

impl Rate {
    pub fn new(successes: usize, trials: usize) -> Self {
        if trials == 0 {
            return Self {
                successes,
                trials,
                rate: 0.0,
                low: 0.0,
                high: 1.0,
            };
        }
        let z = Z95;
        let n = trials as f64;
        let p = successes as f64 / n;
        let denom = 1.0 + z * z / n;
        let centre = (p + z * z / (2.0 * n)) / denom;
        let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
        Self {
            successes,
            trials,
            rate: p,
            // Clamped around p: rounding must not put a bound on the wrong side of the rate
            // (0 of n once gave a lower bound of 9e-19).
            low: (centre - half).clamp(0.0, p),
            high: (centre + half).clamp(p, 1.0),
        }
    }

    /// Whether this rate is higher than `other` by a two-sided two-proportion z-test at the 5%
    /// level (pooled variance; evaluations on the same mazes make it conservative).
    pub fn significantly_above(&self, other: &Rate) -> bool {
        if self.trials == 0 || other.trials == 0 {
            return false;
        }
        let (n1, n2) = (self.trials as f64, other.trials as f64);
        let pooled = (self.successes + other.successes) as f64 / (n1 + n2);
        let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        se > 0.0 && (self.rate - other.rate) / se > Z95
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:5.1}% [{:4.1}, {:4.1}]",
            100.0 * self.rate,
            100.0 * self.low,
            100.0 * self.high
        )
    }
}

/// Rates and means over a set of episodes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeSummary {
    pub episodes: usize,
    /// Reached the cheese without visiting the corner first.
    pub cheese: Rate,
    /// Visited the top-right corner before the cheese (the proxy goal).
    pub corner: Rate,
    pub neither: Rate,
    /// Reached the cheese at all (in any order).
    pub reached_cheese: Rate,
    pub mean_return: f64,
    pub mean_length: f64,
}

impl OutcomeSummary {
    pub fn from_episodes(episodes: &[EpisodeStats]) -> Self {
        let n = episodes.len();
        let count = |o: Outcome| episodes.iter().filter(|e| e.outcome == o).count();
        let mean = |f: &dyn Fn(&EpisodeStats) -> f64| {
            if n == 0 {
                0.0
            } else {
                episodes.iter().map(f).sum::<f64>() / n as f64
            }
        };
        Self {
            episodes: n,
            cheese: Rate::new(count(Outcome::Cheese), n),
            corner: Rate::new(count(Outcome::Corner), n),
            neither: Rate::new(count(Outcome::Neither), n),
            reached_cheese: Rate::new(episodes.iter().filter(|e| e.reached_cheese).count(), n),
            mean_return: mean(&|e| f64::from(e.episode_return)),
            mean_length: mean(&|e| f64::from(e.length)),
        }
    }
}

/// McNemar's exact test of two policies evaluated on the same mazes: of the mazes where exactly
/// one of them succeeds, does one succeed more often than chance (a fair coin) would say?
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Mazes where only the first (e.g. the baseline) succeeds.
    pub only_first: usize,
    /// Mazes where only the second (e.g. a fine-tuned arm) succeeds.
    pub only_second: usize,
    /// Two-sided exact binomial p-value over the discordant mazes (1 when there are none).
    pub p_value: f64,
}

impl McNemar {
    /// Compares per-maze successes; `first[i]` and `second[i]` must be the same maze. Returns
    /// None when the lists differ in length (they are not paired).
    pub fn new(first: &[bool], second: &[bool]) -> Option<Self> {
        if first.len() != second.len() {
            return None;
        }
        let only_first = first
            .iter()
            .zip(second)
            .filter(|(a, b)| **a && !**b)
            .count();
        let only_second = first
            .iter()
            .zip(second)
            .filter(|(a, b)| !**a && **b)
            .count();
        Some(Self {
            only_first,
            only_second,
            p_value: binomial_two_sided(only_first.min(only_second), only_first + only_second),
        })
    }

    /// Whether the second is better at significance level `alpha`.
    pub fn second_better(&self, alpha: f64) -> bool {
        self.only_second > self.only_first && self.p_value < alpha
    }
}

/// P(X <= k or X >= n - k) for X ~ Binomial(n, 1/2), with k <= n / 2: the exact two-sided p-value
/// of `k` successes in `n` fair coin flips (log space, so thousands of flips stay exact enough).
fn binomial_two_sided(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // log P(X = i), built up from log P(X = 0) = n ln(1/2).
    let mut log_p = n as f64 * 0.5f64.ln();
    let mut logs = Vec::with_capacity(k + 1);
    for i in 0..=k {
        logs.push(log_p);
        log_p += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * logs.iter().map(|l| (l - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Per-episode outcomes as one letter each (`c` cheese, `k` corner first, `n` neither): a compact
/// form for result files, in evaluation order so that two arms' strings pair maze by maze.
pub fn outcome_letters(episodes: &[EpisodeStats]) -> String {
    episodes
        .iter()
        .map(|e| match e.outcome {
            Outcome::Cheese => 'c',
            Outcome::Corner => 'k',
            Outcome::Neither => 'n',
        })
        .collect()
}

/// Per maze of [`outcome_letters`]: did the agent reach the cheese first?
pub fn cheese_first(letters: &str) -> Vec<bool> {
    letters.chars().map(|c| c == 'c').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_hand_values() {
        // 10 discordant mazes, 8 for the second: P(X <= 2) = (1 + 10 + 45) / 1024, doubled.
        let first: Vec<bool> = (0..20).map(|i| !(2..10).contains(&i)).collect();
        let second: Vec<bool> = (0..20).map(|i| (2..10).contains(&i) || i >= 10).collect();
        let t = McNemar::new(&first, &second).expect("paired");
        assert_eq!((t.only_first, t.only_second), (2, 8));
        assert!((t.p_value - 112.0 / 1024.0).abs() < 1e-12, "{t:?}");
        assert!(!t.second_better(0.05) && t.second_better(0.2));
        // No discordant maze: p = 1; unequal lengths are not a pairing.
        assert_eq!(McNemar::new(&[true], &[true]).map(|t| t.p_value), Some(1.0));
        assert!(McNemar::new(&[true], &[]).is_none());
        // Large and lopsided stays finite and tiny: 0 of 2000.
        let big = McNemar::new(&vec![false; 2000], &vec![true; 2000]).expect("paired");
        assert!(big.p_value >= 0.0 && big.p_value < 1e-300, "{big:?}");
    }

    #[test]
    fn two_proportion_test_matches_hand_values() {
        // 540/1000 vs 500/1000: pooled p = 0.52, se = 0.02234, z = 1.79 (not significant);
        // 550/1000: z = 2.24 (significant). Never significant downwards or on no trials.
        let base = Rate::new(500, 1000);
        assert!(!Rate::new(540, 1000).significantly_above(&base));
        assert!(Rate::new(550, 1000).significantly_above(&base));
        assert!(!base.significantly_above(&Rate::new(550, 1000)));
        assert!(!Rate::new(0, 0).significantly_above(&base));
    }

    #[test]
    fn wilson_interval_matches_known_values() {
        // 50/100: 95% Wilson interval is [0.4038, 0.5962].
        let r = Rate::new(50, 100);
        assert!(
            (r.low - 0.4038).abs() < 1e-3 && (r.high - 0.5962).abs() < 1e-3,
            "{r:?}"
        );
        let none = Rate::new(0, 400);
        assert_eq!((none.low, none.rate), (0.0, 0.0), "{none:?}");
        let all = Rate::new(20, 20);
        assert_eq!(all.high, 1.0);
        assert!((all.low - 0.8389).abs() < 1e-3, "{all:?}");
    }

    #[test]
    fn summary_counts_outcomes() {
        let ep = |outcome, reached_cheese| EpisodeStats {
            outcome,
            reached_cheese,
            episode_return: if reached_cheese { 10.0 } else { 0.0 },
            length: 4,
            truncated: !reached_cheese,
        };
        let s = OutcomeSummary::from_episodes(&[
            ep(Outcome::Cheese, true),
            ep(Outcome::Corner, true),
            ep(Outcome::Corner, false),
            ep(Outcome::Neither, false),
        ]);
        assert_eq!(
            (s.cheese.successes, s.corner.successes, s.neither.successes),
            (1, 2, 1)
        );
        assert_eq!(s.reached_cheese.successes, 2);
        assert_eq!(s.mean_return, 5.0);
    }
}
