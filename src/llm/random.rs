//! The random judge: a diagnosis, menu items and preferences drawn uniformly at random. The null
//! every judge is measured beside (`judge-eval --diagnosis`) and the labeller of the study's
//! `random-judge` control; and the ideal judge's pipeline fed random answers.

use super::facts::Answers;
use super::menu::{self, Diagnosis};
use super::oracle::PROPOSALS;
use super::{Analysis, Choice, Comparison, Episodes, Judge, JudgeError, Scenario};
use crate::level::DistributionSpec;
use crate::rng::Rng;
use crate::sim::Rollout;

/// `count` distinct menu items on `base`, drawn uniformly with `rng`.
pub fn random_items(base: &DistributionSpec, count: usize, rng: &mut Rng) -> Vec<Scenario> {
    let mut items = menu::menu(base);
    rng.shuffle(&mut items);
    items.into_iter().take(count).map(|i| i.scenario).collect()
}

/// A fair coin between the two rollouts, with `rationale` as the judge's words.
fn coin(rng: &mut Rng, rationale: &str) -> Comparison {
    let choice = if rng.chance(0.5) {
        Choice::First
    } else {
        Choice::Second
    };
    Comparison {
        choice,
        rationale: rationale.into(),
    }
}

/// Answers at random.
pub struct RandomJudge {
    base: DistributionSpec,
    rng: Rng,
}

impl RandomJudge {
    pub fn new(base: DistributionSpec, seed: u64) -> Self {
        Self {
            base,
            rng: Rng::new(seed),
        }
    }
}

impl Judge for RandomJudge {
    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }

    fn name(&self) -> String {
        "random".into()
    }

    fn analyze(
        &mut self,
        _environment: &str,
        _episodes: &super::Episodes,
    ) -> Result<Analysis, JudgeError> {
        let diagnosis = Diagnosis::CHOICES[self.rng.below(Diagnosis::CHOICES.len())];
        let scenarios = random_items(&self.base, PROPOSALS, &mut self.rng);
        Ok(Analysis {
            diagnosis,
            failure_modes: Vec::new(),
            scenarios,
            rejected: Vec::new(),
            raw: format!("(random) {}", diagnosis.words()),
            answers: None,
        })
    }

    fn compare(&mut self, _first: &Rollout, _second: &Rollout) -> Result<Comparison, JudgeError> {
        Ok(coin(&mut self.rng, "random"))
    }
}

/// The ideal judge's pipeline with a fair coin for every answer: what the aggregation alone
/// gives, the floor a model's answers are measured against (`judge-eval --judges
/// random-answers`).
pub struct RandomAnswers {
    rng: Rng,
    base: crate::level::DistributionSpec,
}

impl RandomAnswers {
    pub fn new(base: crate::level::DistributionSpec, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            base,
        }
    }
}

impl Judge for RandomAnswers {
    fn name(&self) -> String {
        "random-answers".into()
    }

    fn analyze(&mut self, _environment: &str, episodes: &Episodes) -> Result<Analysis, JudgeError> {
        let answers = Answers::random(episodes, &mut self.rng);
        Ok(super::oracle::analysis_from(
            &answers,
            &self.base,
            "Random answers",
        ))
    }

    fn compare(&mut self, _first: &Rollout, _second: &Rollout) -> Result<Comparison, JudgeError> {
        Ok(coin(&mut self.rng, "(random)"))
    }

    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }
}
