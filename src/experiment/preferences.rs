//! Preference gathering: pairs chosen so that some differ in outcome, each asked in both orders
//! and averaged into a soft label; position-bias and oracle-agreement statistics per round.

use crate::llm::oracle::Oracle;
use crate::llm::{Choice, Judge, JudgeError};
use crate::reward::Preference;
use crate::rng::Rng;
use crate::sim::Rollout;
use serde::{Deserialize, Serialize};

/// One labelled pair: `mu_first` is the judge's averaged preference for rollout `first`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabeledPair {
    pub first: usize,
    pub second: usize,
    /// In [0, 1]: 1 = `first` better, 0 = `second` better, 0.5 = equal.
    pub mu_first: f32,
    /// The answer with `first` shown first, and with the order swapped (None: the call failed).
    pub answers: [Option<Choice>; 2],
    pub rationales: [String; 2],
}

impl LabeledPair {
    /// The averaged preference, as the reward model learns from it.
    pub fn preference(&self) -> Preference {
        Preference {
            first: self.first,
            second: self.second,
            mu_first: self.mu_first,
        }
    }
}

/// Per-round statistics of the judge.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeStats {
    pub queries: usize,
    pub failures: usize,
    /// Share of answers naming the first / second position / a tie.
    pub first_share: f64,
    pub second_share: f64,
    pub tie_share: f64,
    /// Share of swapped pairs where the judge contradicted itself (same position both times).
    pub order_flips: f64,
    /// Agreement of the averaged label with the true outcome (ties count when the truth is a tie).
    pub oracle_agreement: f64,
    /// The same, only on pairs where exactly one rollout reached the cheese.
    pub oracle_agreement_decisive: f64,
    pub errors: Vec<String>,
    /// Why the round stopped asking before every pair was labelled (the judge's deadline or
    /// circuit breaker), if it did.
    #[serde(default)]
    pub abandoned: Option<String>,
}

impl JudgeStats {
    /// Why no pair could be labelled: the abandonment reason, else the first error.
    pub fn failure_reason(&self) -> String {
        self.abandoned
            .clone()
            .or_else(|| self.errors.first().cloned())
            .unwrap_or_else(|| "the judge gave no answer".into())
    }
}

/// A round's labels and statistics.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PreferenceRound {
    pub pairs: Vec<LabeledPair>,
    pub stats: JudgeStats,
}

/// Picks `count` distinct pairs; about half differ in whether they reached the cheese (when the
/// rollouts allow it).
pub fn choose_pairs(rollouts: &[Rollout], count: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
    let n = rollouts.len();
    if n < 2 {
        return Vec::new();
    }
    let (hit, miss): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|&i| rollouts[i].stats.reached_cheese);
    let mut pairs = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    let mut attempts = 0;
    while pairs.len() < count && attempts < count * 20 {
        attempts += 1;
        let (a, b) = if pairs.len() % 2 == 0 && !hit.is_empty() && !miss.is_empty() {
            (hit[rng.below(hit.len())], miss[rng.below(miss.len())])
        } else {
            (rng.below(n), rng.below(n))
        };
        // Random presentation order: which one is "first" carries no information.
        let (a, b) = if rng.chance(0.5) { (a, b) } else { (b, a) };
        if a != b && seen.insert((a.min(b), a.max(b))) {
            pairs.push((a, b));
        }
    }
    pairs
}

fn score_first(choice: Choice, first_shown_first: bool) -> f32 {
    match (choice, first_shown_first) {
        (Choice::Tie, _) => 0.5,
        (Choice::First, true) | (Choice::Second, false) => 1.0,
        _ => 0.0,
    }
}

/// Asks the judge about every pair in both orders and averages the answers; `on_label` sees each
/// label as it arrives and stops the round early by returning false.
pub fn gather_preferences(
    judge: &mut dyn Judge,
    rollouts: &[Rollout],
    pairs: &[(usize, usize)],
    mut on_label: impl FnMut(&LabeledPair) -> bool,
) -> PreferenceRound {
    let mut round = PreferenceRound::default();
    let (mut first, mut second, mut tie, mut flips, mut swapped) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for &(a, b) in pairs {
        if round.stats.abandoned.is_some() {
            break;
        }
        let mut answers = [None, None];
        let mut rationales = [String::new(), String::new()];
        for (slot, (x, y)) in [(a, b), (b, a)].into_iter().enumerate() {
            round.stats.queries += 1;
            match judge.compare(&rollouts[x], &rollouts[y]) {
                Ok(c) => {
                    match c.choice {
                        Choice::First => first += 1,
                        Choice::Second => second += 1,
                        Choice::Tie => tie += 1,
                    }
                    answers[slot] = Some(c.choice);
                    rationales[slot] = c.rationale;
                }
                Err(JudgeError::Abandoned(reason)) => {
                    round.stats.abandoned = Some(reason);
                    break;
                }
                Err(e) => {
                    round.stats.failures += 1;
                    if round.stats.errors.len() < 20 {
                        round.stats.errors.push(e.to_string());
                    }
                }
            }
        }
        let scores: Vec<f32> = answers
            .iter()
            .zip([true, false])
            .filter_map(|(c, order)| c.map(|c| score_first(c, order)))
            .collect();
        if scores.is_empty() {
            continue;
        }
        if let [Some(x), Some(y)] = answers {
            swapped += 1;
            if x == y && x != Choice::Tie {
                flips += 1;
            }
        }
        let label = LabeledPair {
            first: a,
            second: b,
            mu_first: scores.iter().sum::<f32>() / scores.len() as f32,
            answers,
            rationales,
        };
        let go_on = on_label(&label);
        round.pairs.push(label);
        if !go_on {
            break;
        }
    }
    let answered = (first + second + tie).max(1) as f64;
    round.stats.first_share = first as f64 / answered;
    round.stats.second_share = second as f64 / answered;
    round.stats.tie_share = tie as f64 / answered;
    round.stats.order_flips = flips as f64 / swapped.max(1) as f64;
    let label_class = |mu: f32| {
        if mu > 0.5 {
            Choice::First
        } else if mu < 0.5 {
            Choice::Second
        } else {
            Choice::Tie
        }
    };
    let (mut agree, mut decisive, mut agree_decisive) = (0usize, 0usize, 0usize);
    for p in &round.pairs {
        let truth = Oracle::truth(&rollouts[p.first], &rollouts[p.second]);
        let ok = label_class(p.mu_first) == truth;
        agree += usize::from(ok);
        if rollouts[p.first].stats.reached_cheese != rollouts[p.second].stats.reached_cheese {
            decisive += 1;
            agree_decisive += usize::from(ok);
        }
    }
    round.stats.oracle_agreement = agree as f64 / round.pairs.len().max(1) as f64;
    round.stats.oracle_agreement_decisive = agree_decisive as f64 / decisive.max(1) as f64;
    round
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::DistributionSpec;
    use crate::llm::oracle::OracleConfig;
    use crate::llm::{Analysis, Comparison, JudgeError};
    use crate::sim::{EpisodeStats, Outcome};

    fn rollout(reached: bool) -> Rollout {
        let layout = DistributionSpec::training(7, 1).level_for_seed(1);
        Rollout {
            path: vec![layout.start],
            layout,
            actions: vec![],
            stats: EpisodeStats {
                outcome: if reached {
                    Outcome::Cheese
                } else {
                    Outcome::Neither
                },
                reached_cheese: reached,
                episode_return: if reached { 10.0 } else { 0.0 },
                length: 5,
                truncated: !reached,
            },
        }
    }

    /// Always answers "second": pure position bias.
    struct AlwaysSecond;
    impl Judge for AlwaysSecond {
        fn rebase(&mut self, _: &crate::level::DistributionSpec) {}

        fn name(&self) -> String {
            "always-second".into()
        }
        fn analyze(&mut self, _: &str, _: &crate::llm::Episodes) -> Result<Analysis, JudgeError> {
            Ok(Analysis::default())
        }
        fn compare(&mut self, _: &Rollout, _: &Rollout) -> Result<Comparison, JudgeError> {
            Ok(Comparison {
                choice: Choice::Second,
                rationale: String::new(),
            })
        }
    }

    #[test]
    fn swapping_cancels_pure_position_bias() {
        let rollouts = vec![rollout(true), rollout(false), rollout(true), rollout(false)];
        let pairs = choose_pairs(&rollouts, 4, &mut Rng::new(1));
        let round = gather_preferences(&mut AlwaysSecond, &rollouts, &pairs, |_| true);
        assert_eq!(round.pairs.len(), pairs.len());
        assert!(
            round.pairs.iter().all(|p| p.mu_first == 0.5),
            "bias averages to a tie"
        );
        assert_eq!(round.stats.second_share, 1.0);
        assert_eq!(round.stats.order_flips, 1.0);
    }

    #[test]
    fn a_truthful_oracle_agrees_with_itself_and_some_pairs_differ_in_outcome() {
        let rollouts: Vec<Rollout> = (0..20).map(|i| rollout(i % 3 == 0)).collect();
        let pairs = choose_pairs(&rollouts, 10, &mut Rng::new(2));
        assert_eq!(pairs.len(), 10);
        let differing = pairs
            .iter()
            .filter(|(a, b)| rollouts[*a].stats.reached_cheese != rollouts[*b].stats.reached_cheese)
            .count();
        assert!(differing >= 5);
        let mut oracle = Oracle::new(
            OracleConfig {
                noise: 0.0,
                position_bias: 0.0,
            },
            DistributionSpec::training(7, 1),
            3,
        );
        let round = gather_preferences(&mut oracle, &rollouts, &pairs, |_| true);
        assert_eq!(round.stats.oracle_agreement, 1.0);
        assert!(
            round
                .pairs
                .iter()
                .all(|p| [0.0, 0.5, 1.0].contains(&p.mu_first))
        );
    }
}
