//! One LLM feedback round — inspect the paused agent, propose scenarios, roll out there, label
//! pairs in both orders, fit the reward model, fine-tune one of the arms, evaluate before and
//! after on the same mazes — as the functions the study, the app's trainer thread and the demo
//! all call. Nothing else implements a step of the round.

use super::ExperimentError;
use super::arm::{Arm, Feedback, Source};
use super::preferences::{LabeledPair, PreferenceRound, choose_pairs, gather_preferences};
use super::rollouts::{collect_rollouts, segments};
use super::split::Split;
use crate::errors::Invalid;
use crate::level::{DistributionSpec, LevelSource};
use crate::llm::oracle::PROPOSALS;
use crate::llm::random::{RandomJudge, random_items};
use crate::llm::text::environment_description;
use crate::llm::{Analysis, CachedJudge, Episodes, Judge, Scenario};
use crate::reward::{RewardConfig, RewardModel, RewardReport};
use crate::rl::{Policy, evaluate};
use crate::rng::{Rng, derive_seed, streams};
use crate::sim::Rollout;
use crate::sim::{McNemar, OutcomeSummary, cheese_first, outcome_letters};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The seed of round `number` (1, 2, ...) of the run seeded `run_seed` that trains at cheese
/// region `region` (a study cell is round 1 of its region; the trainer thread passes its
/// config's region, 0 when it has none): distinct per region, so that every region's random
/// controls draw their own menu items, and the same for the study and the trainer thread.
pub fn round_seed(run_seed: u64, number: u64, region: usize) -> u64 {
    derive_seed(
        derive_seed(run_seed, streams::run::ROUND + number),
        streams::round::CELL + region as u64,
    )
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
/// otherwise: 0.3, the share the 7x7 conv study chose on its validation mazes among 0.02, 0.1 and
/// 0.3 (0.8, the earlier default, had been chosen on test mazes). The app, the demo and study
/// configs without `shares` use it.
pub const DEFAULT_SCENARIO_SHARE: f64 = 0.3;

/// What a round asks for, and how its arms fine-tune: the app's session settings carry it, a
/// study config's `round` section is one (a field it leaves out is [`RoundSettings::default`]'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl Default for RoundSettings {
    /// The round's one set of defaults, the 7x7 conv study's validated settings (the app's, the
    /// demo's and the shipped study configs' sizes): 10 rollouts read on the training mazes and
    /// 10 probes, 400 rollouts and 400 pairs, whole episodes, the reward model learned as a
    /// potential with coordinates and a hidden read-out at learning rate 0.003, lambda 1 (0.5
    /// did worse on validation mazes) and [`DEFAULT_SCENARIO_SHARE`].
    fn default() -> Self {
        Self {
            inspect_rollouts: 10,
            feedback_rollouts: 400,
            pairs: 400,
            segment_steps: None,
            reward: RewardConfig::default(),
            lambda: 1.0,
            scenario_share: DEFAULT_SCENARIO_SHARE,
        }
    }
}

impl RoundSettings {
    /// How the round's arms fine-tune: its lambda and scenario share.
    pub fn fine_tune(&self) -> crate::experiment::arm::FineTune {
        crate::experiment::arm::FineTune {
            lambda: self.lambda,
            share: self.scenario_share,
        }
    }

    /// The demo's round: the study's settings (share, reward form, lambda) with fewer pairs and
    /// rollouts, so that the whole demo, controls included, fits in minutes on 2 cores.
    pub fn demo() -> Self {
        Self {
            pairs: 120,
            feedback_rollouts: 240,
            ..Self::default()
        }
    }

    /// Every value in range, or what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.reward.validate()?;
        if !(0.0..=1.0).contains(&self.scenario_share) {
            return Err(Invalid(format!(
                "scenario_share is {}: it is the share of fine-tuning episodes drawn from the \
                 judge's scenarios, a number from 0 to 1 (e.g. 0.8)",
                self.scenario_share
            )));
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(Invalid(format!(
                "lambda is {}: R' = lambda * R_hat + (1 - lambda) * R needs 0 <= lambda <= 1",
                self.lambda
            )));
        }
        if self.pairs == 0 {
            return Err(Invalid(
                "pairs is 0: a round asks the judge about at least one pair".into(),
            ));
        }
        if self.feedback_rollouts < 2 {
            return Err(Invalid(format!(
                "feedback_rollouts is {}: pairs need at least 2 rollouts",
                self.feedback_rollouts
            )));
        }
        if self.inspect_rollouts == 0 {
            return Err(Invalid(
                "inspect_rollouts is 0: the judge reads at least one rollout".into(),
            ));
        }
        if self.segment_steps == Some(0) {
            return Err(Invalid(
                "segment_steps is 0: a segment has at least one move (or leave it unset)".into(),
            ));
        }
        Ok(())
    }
}

/// What the judge made of the paused agent.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The episodes it read: on the training mazes and on probe mazes (the shifted distribution).
    pub shown: Episodes,
    pub analysis: Analysis,
    /// The proposed scenarios that change the training mazes; empty when the judge proposed
    /// none, only "no change", or failed (nothing stands in for them).
    pub scenarios: Vec<Scenario>,
}

/// Step 1: the judge reads `settings.inspect_rollouts` episodes of `paused` on its training
/// mazes (`base`, the cheese where training put it) and as many on probe mazes (`shifted`),
/// names the failure and proposes scenarios (edits of `base`). A failed analysis does not stop
/// the round: it is recorded in `analysis.rejected` and the round goes on without scenarios.
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
    let count = settings.inspect_rollouts.max(1);
    let training = LevelSource::Distribution {
        name: "training".into(),
        spec: base.clone(),
    };
    let shown = Episodes {
        training: collect_rollouts(
            paused,
            &training,
            count,
            derive_seed(seed, streams::round::INSPECT_TRAINING),
            max_steps,
        ),
        probes: collect_rollouts(
            paused,
            shifted,
            count,
            derive_seed(seed, streams::round::INSPECT),
            max_steps,
        ),
    };
    let environment = environment_description(base.world_size, max_steps);
    let analysis = judge
        .analyze(&environment, &shown)
        .unwrap_or_else(|e| Analysis {
            rejected: vec![format!("analysis failed: {e}")],
            ..Default::default()
        });
    let scenarios = analysis.usable_scenarios();
    Inspection {
        shown,
        analysis,
        scenarios,
    }
}

/// The proposed scenarios a reviewer kept (`keep[i]` for scenario `i`; missing entries are
/// rejections), "no change" dropped; empty when every one was rejected.
pub fn accepted_scenarios(proposed: &[Scenario], keep: &[bool]) -> Vec<Scenario> {
    proposed
        .iter()
        .zip(keep.iter().chain(std::iter::repeat(&false)))
        .filter(|(s, keep)| **keep && s.changes_anything())
        .map(|(s, _)| s.clone())
        .collect()
}

/// Step 2: `paused` rolled out in the accepted scenarios, `feedback_rollouts` in all (split
/// evenly; on the `training` mazes when there are no scenarios), cut into segments when
/// `segment_steps` says so.
pub fn scenario_rollouts(
    paused: &Policy,
    scenarios: &[Scenario],
    training: &LevelSource,
    settings: &RoundSettings,
    max_steps: u32,
    seed: u64,
) -> Vec<Rollout> {
    let sources: Vec<LevelSource> = if scenarios.is_empty() {
        vec![training.clone()]
    } else {
        scenarios
            .iter()
            .map(|s| LevelSource::Distribution {
                name: s.edit.title(),
                spec: s.spec.clone(),
            })
            .collect()
    };
    let per = settings.feedback_rollouts.div_ceil(sources.len());
    let mut rollouts = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        rollouts.extend(collect_rollouts(
            paused,
            source,
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

/// The agent a round is about, paused at tau*T, with its training mazes, its episode limit and
/// the device its reward model trains on.
#[derive(Clone, Copy)]
pub struct PausedAgent<'a> {
    pub policy: &'a Policy,
    pub training: &'a LevelSource,
    pub max_steps: u32,
    pub device: &'a Device,
}

/// Step 4: the Bradley-Terry reward model on the labels, its held-out report, and what it pays
/// per kind of step on the paused agent's episodes in the training mazes (where PPO is
/// fine-tuned).
pub fn fit_reward(
    rollouts: &[Rollout],
    labels: &[LabeledPair],
    settings: &RoundSettings,
    agent: PausedAgent,
    seed: u64,
) -> Result<(RewardModel, RewardReport), Invalid> {
    let PausedAgent {
        policy: paused,
        training,
        max_steps,
        device,
    } = agent;
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

/// What one [`Source`] of feedback produced in a round: its scenarios, rollouts, labels and the
/// reward model fitted on them.
pub struct SourceRound {
    pub source: Source,
    pub scenarios: Vec<Scenario>,
    pub rollouts: Vec<Rollout>,
    pub labels: PreferenceRound,
    pub feedback: Feedback,
    pub report: Option<RewardReport>,
}

/// The scenarios the random controls train on in the round seeded `seed`: [`PROPOSALS`] menu
/// items drawn uniformly (the same for `random-scenarios` and `random-judge`), "no change"
/// dropped.
pub fn random_scenarios(base: &DistributionSpec, seed: u64) -> Vec<Scenario> {
    let mut rng = Rng::new(derive_seed(seed, streams::round::RANDOM_SCENARIOS));
    random_items(base, PROPOSALS, &mut rng)
        .into_iter()
        .filter(Scenario::changes_anything)
        .collect()
}

/// Steps 2-4 for one source: its scenarios (the judge's accepted ones, or random menu items),
/// the paused agent's rollouts there, labels (the judge's, or random ones for
/// [`Source::RandomJudge`]) and the reward model. Every arm and every front end gets its
/// controls' feedback from here.
pub fn source_round(
    source: Source,
    judge: &mut dyn Judge,
    accepted: &[Scenario],
    agent: PausedAgent,
    base: &DistributionSpec,
    settings: &RoundSettings,
    seed: u64,
) -> Result<SourceRound, ExperimentError> {
    let PausedAgent {
        policy: paused,
        training,
        max_steps,
        ..
    } = agent;
    let scenarios = match source {
        Source::Judge => accepted.to_vec(),
        Source::RandomScenarios | Source::RandomJudge => random_scenarios(base, seed),
    };
    let rollouts = scenario_rollouts(paused, &scenarios, training, settings, max_steps, seed);
    let labels = match source {
        Source::RandomJudge => {
            let mut random = RandomJudge::new(
                base.clone(),
                derive_seed(seed, streams::round::RANDOM_LABELS),
            );
            label(&mut random, &rollouts, settings, seed, |_| true)
        }
        _ => label(judge, &rollouts, settings, seed, |_| true),
    };
    if labels.pairs.is_empty() {
        return Err(ExperimentError::Unlabelled {
            pairs: settings.pairs,
            failed: labels.stats.failures,
            queries: labels.stats.queries,
            reason: labels.stats.failure_reason(),
        });
    }
    let (model, report) = fit_reward(&rollouts, &labels.pairs, settings, agent, seed)?;
    Ok(SourceRound {
        source,
        feedback: Feedback {
            scenarios: scenarios.clone(),
            reward_model: Some(Arc::new(model)),
        },
        scenarios,
        rollouts,
        labels,
        report: Some(report),
    })
}

/// The arms' feedback that needs no judge: what `baseline` and `ceiling` are given.
pub fn no_feedback() -> Feedback {
    Feedback {
        scenarios: Vec::new(),
        reward_model: None,
    }
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
    /// The LLM-free controls fine-tuned from the same paused agent for the same steps,
    /// on the same mazes (empty when none were asked for).
    #[serde(default)]
    pub controls: Vec<ControlOutcome>,
}

/// An LLM-free control arm beside the fine-tuned one, on the same mazes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlOutcome {
    pub arm: Arm,
    pub outcome: ArmOutcome,
    /// McNemar's test on reaching the cheese first, the control (first) vs the fine-tuned arm
    /// (second): `only_second` counts mazes only the fine-tuned arm solved.
    pub versus_tuned: McNemar,
}

/// McNemar's test of two agents' cheese-first outcomes on the same mazes (p = 1 and no
/// discordant mazes when the two lists cannot be paired).
fn cheese_mcnemar(first: &ArmOutcome, second: &ArmOutcome) -> McNemar {
    McNemar::new(&first.cheese(), &second.cheese()).unwrap_or(McNemar {
        only_first: 0,
        only_second: 0,
        p_value: 1.0,
    })
}

impl BeforeAfter {
    /// Evaluates `control` on the table's mazes (the same split, seed and count as
    /// [`before_after`]) and adds it beside the fine-tuned arm.
    pub fn add_control(
        &mut self,
        arm: Arm,
        control: &Policy,
        shifted: &LevelSource,
        seed: u64,
        max_steps: u32,
    ) {
        let outcome = evaluate_on(
            control,
            &Split::Test.levels(shifted),
            self.after.summary.episodes,
            seed,
            max_steps,
        );
        let versus_tuned = cheese_mcnemar(&outcome, &self.after);
        self.controls.push(ControlOutcome {
            arm,
            outcome,
            versus_tuned,
        });
    }
}

/// Two agents on the same `episodes` shifted test mazes ([`Split::Test`]), maze by maze, with
/// McNemar's test of reaching the cheese first (the first agent first).
pub fn compare_agents(
    first: &Policy,
    second: &Policy,
    shifted: &LevelSource,
    episodes: usize,
    seed: u64,
    max_steps: u32,
) -> (ArmOutcome, ArmOutcome, McNemar) {
    let test = Split::Test.levels(shifted);
    let first = evaluate_on(first, &test, episodes, seed, max_steps);
    let second = evaluate_on(second, &test, episodes, seed, max_steps);
    let test = cheese_mcnemar(&first, &second);
    (first, second, test)
}

/// Step 6: evaluates `before` and `after` on the same `episodes` shifted test mazes (the study's
/// test split, see [`Split`]).
pub fn before_after(
    arm: Arm,
    before: &Policy,
    after: &Policy,
    shifted: &LevelSource,
    episodes: usize,
    seed: u64,
    max_steps: u32,
) -> BeforeAfter {
    let (before, after, cheese_test) =
        compare_agents(before, after, shifted, episodes, seed, max_steps);
    BeforeAfter {
        arm,
        before,
        after,
        cheese_test,
        controls: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(error.0.contains(needle), "{error}");
        }
    }

    /// Random weights: two different seeds give two different agents.
    fn untrained_policy(seed: u64) -> Policy {
        let device = Device::flex();
        let config = crate::config::ModelConfig::Conv {
            channels: vec![4],
            hidden: 8,
        };
        Policy::new(
            crate::rl::ActorCritic::new(&config, 7, seed, &device),
            device,
        )
    }

    #[test]
    fn controls_are_paired_maze_by_maze_with_the_tuned_agent() {
        let shifted = LevelSource::Distribution {
            name: "shifted".into(),
            spec: crate::level::DistributionSpec::training(7, 1).shifted(),
        };
        let (before, after, other) = (
            untrained_policy(1),
            untrained_policy(2),
            untrained_policy(3),
        );
        let mut table = before_after(Arm::Designer, &before, &after, &shifted, 60, 5, 30);
        assert!(table.controls.is_empty());
        // The tuned agent as its own control: the same mazes, so no maze differs.
        table.add_control(Arm::RandomScenarios, &after, &shifted, 5, 30);
        let same = &table.controls[0];
        assert_eq!(same.outcome, table.after);
        assert_eq!(
            (same.versus_tuned.only_first, same.versus_tuned.only_second),
            (0, 0)
        );
        assert_eq!(same.versus_tuned.p_value, 1.0);
        // Another agent: its own outcomes, tested against the tuned agent's on the same mazes.
        table.add_control(Arm::ScenariosEnvReward, &other, &shifted, 5, 30);
        let control = &table.controls[1];
        assert_eq!(control.arm, Arm::ScenariosEnvReward);
        assert_eq!(control.outcome.outcomes.len(), 60);
        let want = McNemar::new(&control.outcome.cheese(), &table.after.cheese()).expect("paired");
        assert_eq!(control.versus_tuned, want);
    }

    #[test]
    fn the_app_and_the_demo_run_the_studys_validated_round() {
        // The round the 7x7 conv study ran when its validation mazes chose the share, as its
        // folder recorded it (written before the round had its own section).
        let path = crate::files::project_path("results/study-7x7-conv-controls/study.ron");
        let study = crate::experiment::study::StudyConfig::load(&path).expect("the study's record");
        for preset in [RoundSettings::default(), RoundSettings::demo()] {
            assert_eq!(preset.reward, study.round.reward);
            assert_eq!(preset.lambda, study.round.lambda);
            assert_eq!(preset.inspect_rollouts, study.round.inspect_rollouts);
            // The share the study chose on its validation mazes is one it ran.
            assert!(study.shares.contains(&preset.scenario_share));
        }
        assert!(RoundSettings::demo().validate().is_ok());
    }

    #[test]
    fn each_study_cell_draws_its_own_random_items_reproducibly() {
        let base = crate::level::DistributionSpec::training(7, 1);
        let draws: Vec<Vec<String>> = (1..=6)
            .map(|region| {
                random_scenarios(&base, round_seed(0, 1, region))
                    .iter()
                    .map(|s| s.edit.title())
                    .collect()
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(
            distinct.len() >= 3,
            "six cells, {} draws: {draws:?}",
            distinct.len()
        );
        let again: Vec<String> = random_scenarios(&base, round_seed(0, 1, 1))
            .iter()
            .map(|s| s.edit.title())
            .collect();
        assert_eq!(again, draws[0]);
        assert_ne!(round_seed(0, 1, 1), round_seed(1, 1, 1));
        assert_ne!(round_seed(0, 1, 1), round_seed(0, 2, 1));
    }

    #[test]
    fn rejected_proposals_and_no_change_leave_no_scenario_and_none_is_invented() {
        let base = crate::level::DistributionSpec::training(7, 1);
        let far = crate::llm::ScenarioEdit::CheeseFarFromCorner {
            corner: "top_right".into(),
            min_steps: 7,
        }
        .apply(&base)
        .expect("valid");
        let none = crate::llm::ScenarioEdit::NoChange
            .apply(&base)
            .expect("valid");
        let proposed = [far.clone(), none];
        assert!(accepted_scenarios(&proposed, &[false, false]).is_empty());
        assert!(accepted_scenarios(&proposed, &[false, true]).is_empty());
        assert!(accepted_scenarios(&proposed, &[]).is_empty());
        assert_eq!(accepted_scenarios(&proposed, &[true, true]), vec![far]);
        // A judge that proposed nothing usable: nothing stands in.
        let analysis = Analysis {
            scenarios: proposed[1..].to_vec(),
            ..Analysis::default()
        };
        assert!(analysis.usable_scenarios().is_empty());
        // The random controls draw from the same menu, never "no change", reproducibly.
        let a = random_scenarios(&base, 3);
        assert_eq!(a, random_scenarios(&base, 3));
        assert!(a.iter().all(Scenario::changes_anything) && !a.is_empty());
    }
}
