//! One LLM feedback round — inspect the paused agent, propose scenarios, roll out there, label
//! pairs in both orders, fit the reward model, fine-tune one of the arms, evaluate before and
//! after on the same mazes — as the functions the study, the app's trainer thread and the demo
//! all call. Nothing else implements a step of the round.

use super::preferences::{LabeledPair, PreferenceRound, choose_pairs, gather_preferences};
use super::rollouts::{collect_rollouts, segments};
use crate::level::{DistributionSpec, LevelSource, MixturePart};
use crate::llm::text::environment_description;
use crate::llm::{Analysis, CachedJudge, Judge, Scenario, ScenarioEdit};
use crate::reward::{RewardConfig, RewardModel, RewardReport};
use crate::rl::shaping::{MazeDistance, RewardShaping, ShapingReward};
use crate::rl::{Policy, Trainer, evaluate};
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::Rollout;
use crate::sim::{McNemar, OutcomeSummary, cheese_first, outcome_letters};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The seed of round `number` (1, 2, ...) of the run seeded `run_seed`.
pub fn round_seed(run_seed: u64, number: u64) -> u64 {
    derive_seed(run_seed, streams::run::ROUND + number)
}

/// The seed of the judge of the run seeded `run_seed`.
pub fn judge_seed(run_seed: u64) -> u64 {
    derive_seed(run_seed, streams::run::JUDGE)
}

/// The seed of the shifted mazes every arm of the run seeded `run_seed` is evaluated on.
pub fn evaluation_seed(run_seed: u64) -> u64 {
    derive_seed(run_seed, streams::run::EVALUATION)
}

/// The share of fine-tuning episodes drawn from the judge's scenarios unless a config says
/// otherwise (the study's and the app's default; the README says what each share measured).
pub const DEFAULT_SCENARIO_SHARE: f64 = 0.8;

/// What a round asks for: the app's session settings carry it, a study config maps its own fields
/// onto it ([`crate::experiment::study::StudyConfig::round_settings`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundSettings {
    /// N^I: rollouts shown to the judge for analysis.
    pub inspect_rollouts: usize,
    /// N^R: rollouts gathered in the accepted scenarios for reward modelling.
    pub feedback_rollouts: usize,
    /// Pairs asked (each in both orders).
    pub pairs: usize,
    /// Judge pieces of at most this many moves instead of whole episodes.
    pub segment_steps: Option<usize>,
    pub reward: RewardConfig,
    /// R' = lambda * R_hat + (1 - lambda) * R.
    pub lambda: f32,
    /// Share of fine-tuning episodes drawn from the accepted scenarios in the arms that train on
    /// them (`designer`, `scenarios-env-reward`); the rest are the training mazes.
    pub scenario_share: f64,
}

impl RoundSettings {
    /// Every value in range, or what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        self.reward.validate()?;
        if !(0.0..=1.0).contains(&self.scenario_share) {
            return Err(format!(
                "scenario_share is {}: it is the share of fine-tuning episodes drawn from the \
                 judge's scenarios, a number from 0 to 1 (e.g. 0.8)",
                self.scenario_share
            ));
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(format!(
                "lambda is {}: R' = lambda * R_hat + (1 - lambda) * R needs 0 <= lambda <= 1",
                self.lambda
            ));
        }
        if self.pairs == 0 {
            return Err("pairs is 0: a round asks the judge about at least one pair".into());
        }
        if self.feedback_rollouts < 2 {
            return Err(format!(
                "feedback_rollouts is {}: pairs need at least 2 rollouts",
                self.feedback_rollouts
            ));
        }
        if self.inspect_rollouts == 0 {
            return Err("inspect_rollouts is 0: the judge reads at least one rollout".into());
        }
        if self.segment_steps == Some(0) {
            return Err(
                "segment_steps is 0: a segment has at least one move (or leave it unset)".into(),
            );
        }
        Ok(())
    }
}

/// What the judge made of the paused agent.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The rollouts it read (on the shifted distribution).
    pub shown: Vec<Rollout>,
    pub analysis: Analysis,
    /// The scenarios it proposed (never empty: `cheese anywhere` when it proposed none).
    pub scenarios: Vec<Scenario>,
}

/// Step 1: the judge reads `settings.inspect_rollouts` episodes of `paused` on `shifted`, names
/// the failure and proposes scenarios (edits of `base`). A failed analysis does not stop the
/// round: it is recorded in `analysis.rejected` and the plainest scenario stands in.
pub fn inspect(
    judge: &mut CachedJudge,
    paused: &Policy,
    shifted: &LevelSource,
    base: &DistributionSpec,
    settings: &RoundSettings,
    max_steps: u32,
    seed: u64,
) -> Inspection {
    judge.begin_round();
    let shown = collect_rollouts(
        paused,
        shifted,
        settings.inspect_rollouts.max(1),
        derive_seed(seed, streams::round::INSPECT),
        max_steps,
    );
    let environment = environment_description(base.world_size, max_steps);
    let analysis = judge
        .analyze(&environment, &shown)
        .unwrap_or_else(|e| Analysis {
            rejected: vec![format!("analysis failed: {e}")],
            ..Default::default()
        });
    let scenarios = with_fallback(analysis.scenarios.clone(), base);
    Inspection {
        shown,
        analysis,
        scenarios,
    }
}

/// `scenarios`, or `cheese anywhere` on `base` when there are none.
fn with_fallback(mut scenarios: Vec<Scenario>, base: &DistributionSpec) -> Vec<Scenario> {
    if scenarios.is_empty()
        && let Ok(s) = ScenarioEdit::CheeseAnywhere.apply(base)
    {
        scenarios.push(s);
    }
    scenarios
}

/// The proposed scenarios a reviewer kept (`keep[i]` for scenario `i`; missing entries are
/// rejections); `cheese anywhere` when every one was rejected.
pub fn accepted_scenarios(
    proposed: &[Scenario],
    keep: &[bool],
    base: &DistributionSpec,
) -> Vec<Scenario> {
    let kept = proposed
        .iter()
        .zip(keep.iter().chain(std::iter::repeat(&false)))
        .filter(|(_, keep)| **keep)
        .map(|(s, _)| s.clone())
        .collect();
    with_fallback(kept, base)
}

/// Step 2: `paused` rolled out in the accepted scenarios, `feedback_rollouts` in all (split
/// evenly), cut into segments when `segment_steps` says so.
pub fn scenario_rollouts(
    paused: &Policy,
    scenarios: &[Scenario],
    settings: &RoundSettings,
    max_steps: u32,
    seed: u64,
) -> Vec<Rollout> {
    let per = settings.feedback_rollouts.div_ceil(scenarios.len().max(1));
    let mut rollouts = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let source = LevelSource::Distribution {
            name: s.edit.title(),
            spec: s.spec.clone(),
        };
        rollouts.extend(collect_rollouts(
            paused,
            &source,
            per,
            derive_seed(seed, streams::round::SCENARIO + i as u64),
            max_steps,
        ));
    }
    match settings.segment_steps {
        Some(steps) => segments(&rollouts, steps),
        None => rollouts,
    }
}

/// Step 3: `settings.pairs` pairs of `rollouts` (about half differing in outcome), each asked in
/// both orders and averaged; `on_label` sees each label as it arrives and stops the round early
/// by returning false. The judge's budget and deadline start afresh here (a reviewer may have
/// spent any time between the analysis and this step).
pub fn label(
    judge: &mut dyn Judge,
    rollouts: &[Rollout],
    settings: &RoundSettings,
    seed: u64,
    on_label: impl FnMut(&LabeledPair) -> bool,
) -> PreferenceRound {
    judge.begin_round();
    let mut rng = Rng::new(derive_seed(seed, streams::round::PAIRS));
    let pairs = choose_pairs(rollouts, settings.pairs, &mut rng);
    gather_preferences(judge, rollouts, &pairs, on_label)
}

/// Step 4: the Bradley-Terry reward model on the labels, its held-out report, and what it pays
/// per kind of step on `paused`'s episodes in the training mazes (where PPO is fine-tuned).
#[allow(clippy::too_many_arguments)]
pub fn fit_reward(
    rollouts: &[Rollout],
    labels: &[LabeledPair],
    settings: &RoundSettings,
    paused: &Policy,
    training: &LevelSource,
    max_steps: u32,
    seed: u64,
    device: &Device,
) -> Result<(RewardModel, RewardReport), String> {
    let preferences: Vec<_> = labels.iter().map(LabeledPair::preference).collect();
    let (model, mut report) = RewardModel::train(
        rollouts,
        &preferences,
        &settings.reward,
        derive_seed(seed, streams::round::REWARD),
        device,
    )?;
    let on_training = collect_rollouts(
        paused,
        training,
        200,
        derive_seed(seed, streams::round::PROFILE),
        max_steps,
    );
    report.on_training = Some(model.step_profile(&on_training));
    Ok((model, report))
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
    /// judge's accepted scenarios.
    Designer,
    /// Control: the designer's level mix with the env reward R only (what the environment change
    /// does without the learned reward).
    ScenariosEnvReward,
    /// The true maze-distance potential on the training mazes: what a perfect reward model could
    /// do without new environments.
    Ceiling,
}

impl Arm {
    pub const ALL: [Arm; 5] = [
        Arm::Baseline,
        Arm::Paper,
        Arm::Designer,
        Arm::ScenariosEnvReward,
        Arm::Ceiling,
    ];

    /// The arm's name in configs, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Baseline => "baseline",
            Arm::Paper => "paper",
            Arm::Designer => "designer",
            Arm::ScenariosEnvReward => "scenarios-env-reward",
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
            Arm::Ceiling => "true maze-distance potential, training mazes",
        }
    }

    /// Whether the arm fine-tunes with the learned reward model.
    pub fn uses_reward_model(self) -> bool {
        matches!(self, Arm::Paper | Arm::Designer)
    }

    /// Whether the arm trains on the judge's scenarios.
    pub fn uses_scenarios(self) -> bool {
        matches!(self, Arm::Designer | Arm::ScenariosEnvReward)
    }

    /// Sets `trainer` (resumed from the paused checkpoint) up for this arm: its reward and its
    /// level mix. `reward_model` is needed by the arms that use it; `training` is the training
    /// distribution the scenarios are mixed into.
    pub fn prepare(
        self,
        trainer: &mut Trainer,
        reward_model: Option<&Arc<RewardModel>>,
        training: &LevelSource,
        scenarios: &[Scenario],
        settings: &RoundSettings,
    ) -> Result<(), String> {
        let source: Option<Arc<dyn ShapingReward>> = match self {
            Arm::Baseline | Arm::ScenariosEnvReward => None,
            Arm::Paper | Arm::Designer => {
                let model = reward_model.ok_or_else(|| {
                    format!(
                        "the {} arm needs a reward model: label pairs first",
                        self.name()
                    )
                })?;
                Some(model.clone())
            }
            Arm::Ceiling => Some(Arc::new(MazeDistance {
                world: training.world_size(),
            })),
        };
        trainer.shaping = source.map(|source| RewardShaping {
            source,
            lambda: settings.lambda,
        });
        let levels = if self.uses_scenarios() {
            designer_levels(training, scenarios, settings.scenario_share)?
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
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        name.parse()
    }
}

impl std::str::FromStr for Arm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Arm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Arm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown arm `{s}`: one of {}", names.join(", "))
        })
    }
}

/// The training mazes with weight `1 - share` and each scenario with `share / scenarios`.
pub fn designer_levels(
    training: &LevelSource,
    scenarios: &[Scenario],
    share: f64,
) -> Result<LevelSource, String> {
    let LevelSource::Distribution { name, spec } = training else {
        return Err(format!(
            "mixing scenarios into '{}' needs a level distribution",
            training.name()
        ));
    };
    let mut parts = vec![MixturePart {
        weight: 1.0 - share,
        spec: spec.clone(),
    }];
    let each = share / scenarios.len().max(1) as f64;
    parts.extend(scenarios.iter().map(|s| MixturePart {
        weight: each,
        spec: s.spec.clone(),
    }));
    LevelSource::mixture(
        format!("{name} + {:.0}% the judge's scenarios", 100.0 * share),
        parts,
    )
}

/// An agent evaluated on the shifted distribution: the rates and each maze's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmOutcome {
    pub summary: OutcomeSummary,
    /// One letter per maze in evaluation order (see [`outcome_letters`]): agents evaluated with
    /// the same seed pair up maze by maze.
    pub outcomes: String,
}

impl ArmOutcome {
    /// Per maze: did it reach the cheese first?
    pub fn cheese(&self) -> Vec<bool> {
        cheese_first(&self.outcomes)
    }
}

/// Evaluates `policy` on `episodes` shifted mazes drawn from `seed`.
pub fn evaluate_on(
    policy: &Policy,
    shifted: &LevelSource,
    episodes: usize,
    seed: u64,
    max_steps: u32,
) -> ArmOutcome {
    let (summary, stats) = evaluate(policy, shifted, episodes, seed, max_steps);
    ArmOutcome {
        summary,
        outcomes: outcome_letters(&stats),
    }
}

/// The paused agent against the fine-tuned one on the same mazes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub arm: Arm,
    pub before: ArmOutcome,
    pub after: ArmOutcome,
    /// McNemar's test on reaching the cheese first, before vs after.
    pub cheese_test: McNemar,
}

/// Step 6: evaluates `before` and `after` on the same `episodes` shifted mazes.
pub fn before_after(
    arm: Arm,
    before: &Policy,
    after: &Policy,
    shifted: &LevelSource,
    episodes: usize,
    seed: u64,
    max_steps: u32,
) -> BeforeAfter {
    let before = evaluate_on(before, shifted, episodes, seed, max_steps);
    let after = evaluate_on(after, shifted, episodes, seed, max_steps);
    let cheese_test = McNemar::new(&before.cheese(), &after.cheese()).unwrap_or(McNemar {
        only_first: 0,
        only_second: 0,
        p_value: 1.0,
    });
    BeforeAfter {
        arm,
        before,
        after,
        cheese_test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{CheesePlacement, DistributionSpec};

    fn settings() -> RoundSettings {
        RoundSettings {
            inspect_rollouts: 4,
            feedback_rollouts: 20,
            pairs: 10,
            segment_steps: None,
            reward: RewardConfig::default(),
            lambda: 1.0,
            scenario_share: 0.2,
        }
    }

    #[test]
    fn settings_out_of_range_say_what_to_write() {
        assert!(settings().validate().is_ok());
        type Mutation = fn(&mut RoundSettings);
        let cases: [(Mutation, &str); 7] = [
            (|s| s.reward.hidden = 0, "reward.hidden is 0"),
            (
                |s| s.reward.learning_rate = f64::NAN,
                "reward.learning_rate",
            ),
            (|s| s.scenario_share = 1.5, "scenario_share is 1.5"),
            (|s| s.scenario_share = f64::NAN, "a number from 0 to 1"),
            (|s| s.lambda = -0.1, "lambda"),
            (|s| s.pairs = 0, "pairs is 0"),
            (|s| s.segment_steps = Some(0), "segment_steps"),
        ];
        for (mutate, needle) in cases {
            let mut s = settings();
            mutate(&mut s);
            let error = s.validate().expect_err("invalid");
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn the_designer_mix_draws_scenarios_at_their_share() {
        let base = DistributionSpec::training(7, 1);
        let training = LevelSource::Distribution {
            name: "train".into(),
            spec: base.clone(),
        };
        let anywhere = ScenarioEdit::CheeseAnywhere.apply(&base).expect("valid");
        let mix = designer_levels(&training, &[anywhere], 0.25).expect("mix");
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
        // A share of 0 never draws a scenario.
        let anywhere = ScenarioEdit::CheeseAnywhere.apply(&base).expect("valid");
        let none = designer_levels(&training, &[anywhere], 0.0).expect("mix");
        assert!((0..500).all(|_| {
            let l = none.sample(&mut rng);
            l.cheese == l.corner
        }));
    }

    #[test]
    fn arms_round_trip_through_their_names() {
        for arm in Arm::ALL {
            assert_eq!(arm.name().parse::<Arm>(), Ok(arm));
            let json = serde_json::to_string(&arm).expect("json");
            assert_eq!(json, format!("\"{}\"", arm.name()));
        }
        assert!(
            "designers"
                .parse::<Arm>()
                .expect_err("unknown")
                .contains("designer")
        );
    }
}
