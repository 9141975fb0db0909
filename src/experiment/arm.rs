//! The fine-tuning arms — how an agent is fine-tuned from the paused checkpoint — and the level
//! mix of the arms that train on scenarios. The LLM-free controls are arms too:
//! `random-scenarios` (scenarios drawn from the menu at random, the judge's labels) and
//! `random-judge` (random scenarios and random labels).

use crate::errors::Invalid;
use crate::level::{LevelSource, MixturePart};
use crate::llm::Scenario;
use crate::reward::RewardModel;
use crate::rl::Trainer;
use crate::rl::shaping::{MazeDistance, RewardShaping, ShapingReward};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Whose scenarios and labels an arm fine-tunes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The judge's proposals, labelled by the judge.
    Judge,
    /// Scenarios drawn uniformly from the menu, labelled by the judge.
    RandomScenarios,
    /// Scenarios drawn uniformly from the menu, labelled at random.
    RandomJudge,
}

/// What a round produced for one [`Source`]: its scenarios and the reward model fitted on its
/// labels.
#[derive(Clone)]
pub struct Feedback {
    /// Scenarios that change the training mazes (may be empty: the judge proposed none).
    pub scenarios: Vec<Scenario>,
    pub reward_model: Option<Arc<RewardModel>>,
}

/// How an arm fine-tunes, the same for the study and the app's trainer: the reward mix
/// R' = lambda * R_hat + (1 - lambda) * R and the share of episodes from the scenarios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FineTune {
    pub lambda: f32,
    pub share: f64,
}

/// How an agent is fine-tuned from the paused checkpoint for the rest of the budget. Written as
/// its name in configs and files (`"designer"`, `"scenarios-env-reward"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arm {
    /// The env reward R on the training mazes (no feedback).
    Baseline,
    /// The paper: R' = lambda * R_hat + (1 - lambda) * R on the training mazes.
    Paper,
    /// The LLM as environment designer: R' on the training mazes plus `scenario_share` of the
    /// judge's scenarios.
    Designer,
    /// Control: the designer's level mix with the env reward R only (what the learned reward
    /// adds).
    ScenariosEnvReward,
    /// Control: scenarios drawn uniformly from the menu, the judge's labels, R' (what the
    /// judge's choice of environments adds).
    RandomScenarios,
    /// Control: random scenarios and random labels, R' (the whole null).
    RandomJudge,
    /// The true maze-distance potential on the training mazes: what a perfect reward model could
    /// do without new environments.
    Ceiling,
}

impl Arm {
    pub const ALL: [Arm; 7] = [
        Arm::Baseline,
        Arm::Paper,
        Arm::Designer,
        Arm::ScenariosEnvReward,
        Arm::RandomScenarios,
        Arm::RandomJudge,
        Arm::Ceiling,
    ];

    /// The LLM-free controls the demo (and the app, when asked) trains beside the designer:
    /// what the judge's choice of environments adds, and what the learned reward adds.
    pub const CONTROLS: [Arm; 2] = [Arm::RandomScenarios, Arm::ScenariosEnvReward];

    /// The arm's name in configs, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Baseline => "baseline",
            Arm::Paper => "paper",
            Arm::Designer => "designer",
            Arm::ScenariosEnvReward => "scenarios-env-reward",
            Arm::RandomScenarios => "random-scenarios",
            Arm::RandomJudge => "random-judge",
            Arm::Ceiling => "ceiling",
        }
    }

    /// Reward and levels in a few words, for captions and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Arm::Baseline => "env reward, training mazes",
            Arm::Paper => "learned reward R', training mazes",
            Arm::Designer => "learned reward R', training mazes + the judge's scenarios",
            Arm::ScenariosEnvReward => "env reward, training mazes + the judge's scenarios",
            Arm::RandomScenarios => "learned reward R', training mazes + random menu scenarios",
            Arm::RandomJudge => {
                "reward learned from random labels, training mazes + random menu scenarios"
            }
            Arm::Ceiling => "true maze-distance potential, training mazes",
        }
    }

    /// Where the arm's scenarios and reward model come from (None: it uses neither).
    pub fn source(self) -> Option<Source> {
        match self {
            Arm::Paper | Arm::Designer | Arm::ScenariosEnvReward => Some(Source::Judge),
            Arm::RandomScenarios => Some(Source::RandomScenarios),
            Arm::RandomJudge => Some(Source::RandomJudge),
            Arm::Baseline | Arm::Ceiling => None,
        }
    }

    /// Whether the arm fine-tunes with a learned reward model.
    pub fn uses_reward_model(self) -> bool {
        matches!(
            self,
            Arm::Paper | Arm::Designer | Arm::RandomScenarios | Arm::RandomJudge
        )
    }

    /// Whether the arm trains on scenarios mixed into the training mazes.
    pub fn uses_scenarios(self) -> bool {
        matches!(
            self,
            Arm::Designer | Arm::ScenariosEnvReward | Arm::RandomScenarios | Arm::RandomJudge
        )
    }

    /// Sets `trainer` (resumed from the paused checkpoint) up for this arm: its reward (mixed by
    /// `tune.lambda`) and its level mix, `tune.share` of the episodes from `feedback`'s scenarios
    /// (the training mazes alone when there are none). `training` is the training distribution.
    pub fn prepare(
        self,
        trainer: &mut Trainer,
        feedback: &Feedback,
        training: &LevelSource,
        tune: FineTune,
    ) -> Result<(), Invalid> {
        let FineTune { lambda, share } = tune;
        let source: Option<Arc<dyn ShapingReward>> = if self.uses_reward_model() {
            let model = feedback.reward_model.as_ref().ok_or_else(|| {
                Invalid(format!(
                    "the {} arm needs a reward model: label pairs first",
                    self.name()
                ))
            })?;
            Some(model.clone())
        } else if self == Arm::Ceiling {
            Some(Arc::new(MazeDistance {
                world: training.world_size(),
            }))
        } else {
            None
        };
        trainer.shaping = source.map(|source| RewardShaping { source, lambda });
        let levels = if self.uses_scenarios() {
            designer_levels(training, &feedback.scenarios, share)?
        } else {
            training.clone()
        };
        trainer.set_training_levels(levels)
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Arm> for String {
    fn from(arm: Arm) -> String {
        arm.name().to_string()
    }
}

impl TryFrom<String> for Arm {
    type Error = Invalid;
    fn try_from(name: String) -> Result<Self, Invalid> {
        name.parse()
    }
}

impl std::str::FromStr for Arm {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Arm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Arm::ALL.iter().map(|a| a.name()).collect();
            Invalid(format!("unknown arm `{s}`: one of {}", names.join(", ")))
        })
    }
}

/// The training mazes with weight `1 - share` and each scenario with `share / scenarios`; the
/// training mazes alone when there are no scenarios (nothing stands in for them).
pub fn designer_levels(
    training: &LevelSource,
    scenarios: &[Scenario],
    share: f64,
) -> Result<LevelSource, Invalid> {
    let LevelSource::Distribution { name, spec } = training else {
        return Err(Invalid(format!(
            "mixing scenarios into '{}' needs a level distribution",
            training.name()
        )));
    };
    let changing: Vec<&Scenario> = scenarios.iter().filter(|s| s.changes_anything()).collect();
    if changing.is_empty() || share == 0.0 {
        return Ok(training.clone());
    }
    let mut parts = vec![MixturePart {
        weight: 1.0 - share,
        spec: spec.clone(),
    }];
    let each = share / changing.len() as f64;
    parts.extend(changing.iter().map(|s| MixturePart {
        weight: each,
        spec: s.spec.clone(),
    }));
    LevelSource::mixture(format!("{name} + {:.0}% scenarios", 100.0 * share), parts)
        .map_err(Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{CheesePlacement, DistributionSpec};
    use crate::llm::ScenarioEdit;
    use crate::rng::Rng;

    #[test]
    fn the_designer_mix_draws_scenarios_at_their_share() {
        let base = DistributionSpec::training(7, 1);
        let training = LevelSource::Distribution {
            name: "train".into(),
            spec: base.clone(),
        };
        let anywhere = ScenarioEdit::CheeseAnywhere.apply(&base).expect("valid");
        let mix = designer_levels(&training, std::slice::from_ref(&anywhere), 0.25).expect("mix");
        let mut rng = Rng::new(3);
        let n = 4000;
        // With region 1 the training cheese sits on the corner; elsewhere it came from the scenario.
        let elsewhere = (0..n)
            .filter(|_| {
                let layout = mix.sample(&mut rng);
                layout.cheese != layout.corner
            })
            .count();
        let share = elsewhere as f64 / n as f64;
        // Cheese anywhere lands on the corner cell now and then: a little under 25%.
        assert!((0.18..0.26).contains(&share), "{share}");
        assert!(matches!(base.cheese, CheesePlacement::Region(1)));
        // A share of 0, no scenarios, or only "no change": the training mazes, nothing invented.
        let no_change = ScenarioEdit::NoChange.apply(&base).expect("valid");
        for (scenarios, share) in [(vec![anywhere], 0.0), (vec![], 0.8), (vec![no_change], 0.8)] {
            let levels = designer_levels(&training, &scenarios, share).expect("levels");
            assert_eq!(levels, training);
        }
    }

    #[test]
    fn arms_round_trip_through_their_names() {
        for arm in Arm::ALL {
            assert_eq!(arm.name().parse::<Arm>(), Ok(arm));
            let json = serde_json::to_string(&arm).expect("json");
            assert_eq!(json, format!("\"{}\"", arm.name()));
            assert_eq!(
                arm.uses_reward_model() || arm.uses_scenarios(),
                arm.source().is_some()
            );
        }
        assert!(
            "designers"
                .parse::<Arm>()
                .expect_err("unknown")
                .0
                .contains("designer")
        );
    }
}
