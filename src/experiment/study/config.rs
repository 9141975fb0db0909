//! The study's settings: the training run, regions and seeds, tau, the feedback round (one
//! [`RoundSettings`] section, the same settings the app and the demo use), the judges' sections,
//! the fine-tuning arms and their scenario shares. Study folders written before the round had its
//! own section (its fields at the top level) still load.

use crate::config::{ConfigError, TrainConfig};
use crate::errors::Invalid;
use crate::experiment::arm::Arm;
use crate::experiment::round::RoundSettings;
use crate::llm::JudgeSettings;
use crate::llm::http::HttpConfig;
use crate::llm::oracle::OracleConfig;
use crate::reward::RewardConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything a study needs; every choice the paper leaves open is here. It is read through
/// [`StudyConfigFile`] (the defaults of fields a file leaves out live there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StudyConfigFile")]
pub struct StudyConfig {
    /// Training run of every cell (`ppo.total_timesteps` is T; `region` and `seed` are set per cell).
    pub train: TrainConfig,
    pub regions: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Fraction of T before the LLM is consulted.
    pub tau: f64,
    /// The feedback round and how arms fine-tune: lambda, N^I, N^R, pairs, the reward model
    /// (a config lists what differs from [`RoundSettings::default`], the 7x7 study's validated
    /// round). Its `scenario_share` stays the default: every scenario arm runs at each of
    /// `shares`, and a config that sets it is refused with that advice.
    pub round: RoundSettings,
    /// Episodes per evaluation on the shifted validation mazes (where the share is chosen; their
    /// level seeds never meet the test mazes', see [`crate::experiment::split`]).
    pub validation_episodes: usize,
    pub oracle: OracleConfig,
    pub http: Option<HttpConfig>,
    /// The embedded offline judge (`--judge embedded`); defaults to the chosen model and prompt.
    #[cfg(feature = "embedded")]
    pub embedded: crate::llm::embedded::EmbeddedConfig,
    /// A build without the embedded judge still reads configs written for it (the section is
    /// skipped; `--judge embedded` is refused by the CLI with how to build it).
    #[cfg(not(feature = "embedded"))]
    #[serde(skip_serializing)]
    pub embedded: Option<serde::de::IgnoredAny>,
    /// Keep each cell's tau*T checkpoint after the cell finishes, so that deleting a cell's
    /// `result.json` and an arm's `<arm>.json` re-runs only that arm (e.g. with other `reward`
    /// settings) and reuses the pre-training.
    pub keep_pretrain: bool,
    /// The fine-tuning arms, each from the same tau*T checkpoint to T (`baseline` is required:
    /// every other arm is compared with it). Default: baseline, paper, designer and the controls
    /// scenarios-env-reward, random-scenarios, random-judge; add `ceiling` for the
    /// true-potential control.
    pub arms: Vec<Arm>,
    /// Shares of the scenario arms' fine-tuning episodes drawn from their scenarios (each in
    /// 0..=1); every scenario arm runs at each, and the report picks one on validation mazes.
    pub shares: Vec<f64>,
    /// Also train one reference agent per seed on the shifted distribution itself for T steps:
    /// what the arms are measured against when they cannot gain 20 points.
    pub reference: bool,
}

/// A study config as written: the round in its own section, or (in study folders written before
/// it had one) its fields at the top level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyConfigFile {
    train: TrainConfig,
    regions: Vec<usize>,
    seeds: Vec<u64>,
    tau: f64,
    #[serde(default)]
    round: Option<RoundSettings>,
    /// The test mazes per evaluation as written before `train.eval_episodes` was their one
    /// home (and as `--set eval_episodes=N` still writes it): it sets `train.eval_episodes`.
    #[serde(default)]
    eval_episodes: Option<usize>,
    // The round's fields at the top level, as written before `round: (..)`.
    #[serde(default)]
    lambda: Option<f32>,
    #[serde(default)]
    inspect_rollouts: Option<usize>,
    #[serde(default)]
    feedback_rollouts: Option<usize>,
    #[serde(default)]
    pairs: Option<usize>,
    #[serde(default)]
    reward: Option<RewardConfig>,
    #[serde(default)]
    segment_steps: Option<usize>,
    #[serde(default = "default_validation_episodes")]
    validation_episodes: usize,
    oracle: OracleConfig,
    #[serde(default)]
    http: Option<HttpConfig>,
    #[cfg(feature = "embedded")]
    #[serde(default)]
    embedded: crate::llm::embedded::EmbeddedConfig,
    #[cfg(not(feature = "embedded"))]
    #[serde(default)]
    embedded: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    keep_pretrain: bool,
    #[serde(default = "default_arms")]
    arms: Vec<Arm>,
    #[serde(default)]
    shares: Option<Vec<f64>>,
    /// The one share of study folders written before `shares`.
    #[serde(default)]
    scenario_share: Option<f64>,
    #[serde(default = "default_true")]
    reference: bool,
}

impl StudyConfigFile {
    /// Whether the round's fields are written at the top level (the older form).
    fn has_top_level_round(&self) -> bool {
        self.lambda.is_some()
            || self.inspect_rollouts.is_some()
            || self.feedback_rollouts.is_some()
            || self.pairs.is_some()
            || self.reward.is_some()
            || self.segment_steps.is_some()
    }

    /// The round the top-level fields describe; what they leave out is the default round's.
    fn top_level_round(&self) -> RoundSettings {
        let d = RoundSettings::default();
        RoundSettings {
            inspect_rollouts: self.inspect_rollouts.unwrap_or(d.inspect_rollouts),
            feedback_rollouts: self.feedback_rollouts.unwrap_or(d.feedback_rollouts),
            pairs: self.pairs.unwrap_or(d.pairs),
            segment_steps: self.segment_steps.or(d.segment_steps),
            reward: self.reward.clone().unwrap_or(d.reward),
            lambda: self.lambda.unwrap_or(d.lambda),
            scenario_share: d.scenario_share,
        }
    }
}

impl TryFrom<StudyConfigFile> for StudyConfig {
    type Error = Invalid;

    fn try_from(file: StudyConfigFile) -> Result<Self, Invalid> {
        if file.shares.is_some() && file.scenario_share.is_some() {
            return Err(Invalid(
                "both `shares` and `scenario_share` (its older one-share form): keep `shares`"
                    .into(),
            ));
        }
        let round = match (&file.round, file.has_top_level_round()) {
            (Some(round), false) => round.clone(),
            (None, _) => file.top_level_round(),
            (Some(_), true) => {
                return Err(Invalid(
                    "the round's settings are both in `round: (..)` and at the top level \
                     (lambda, inspect_rollouts, feedback_rollouts, pairs, reward, segment_steps): \
                     keep them in `round` only"
                        .into(),
                ));
            }
        };
        let mut train = file.train;
        if let Some(episodes) = file.eval_episodes {
            train.eval_episodes = episodes;
        }
        Ok(Self {
            train,
            regions: file.regions,
            seeds: file.seeds,
            tau: file.tau,
            round,
            validation_episodes: file.validation_episodes,
            oracle: file.oracle,
            http: file.http,
            embedded: file.embedded,
            keep_pretrain: file.keep_pretrain,
            arms: file.arms,
            shares: file.shares.clone().unwrap_or_else(|| {
                file.scenario_share
                    .map_or_else(default_shares, |share| vec![share])
            }),
            reference: file.reference,
        })
    }
}

fn default_arms() -> Vec<Arm> {
    vec![
        Arm::Baseline,
        Arm::Paper,
        Arm::Designer,
        Arm::ScenariosEnvReward,
        Arm::RandomScenarios,
        Arm::RandomJudge,
    ]
}

fn default_shares() -> Vec<f64> {
    vec![crate::experiment::round::DEFAULT_SCENARIO_SHARE]
}

fn default_validation_episodes() -> usize {
    500
}

fn default_true() -> bool {
    true
}

impl StudyConfig {
    /// Reads and validates a study config (RON); relative paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Self = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
            .map_err(|e| ConfigError::parse_at(path, &e))?;
        config.train.resolve_paths(path);
        if let Some(http) = config.http.as_mut() {
            http.prompt_dir = crate::files::config_relative(&http.prompt_dir, path)
                .to_string_lossy()
                .into_owned();
        }
        config
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// Applies `--set` overrides (dotted keys, JSON values) and validates the result. The key
    /// `eval_episodes` of older commands sets its one home, `train.eval_episodes`.
    pub fn with_overrides(self, assignments: &[String]) -> Result<Self, ConfigError> {
        let assignments: Vec<String> = assignments
            .iter()
            .map(|a| match a.strip_prefix("eval_episodes=") {
                Some(value) => format!("train.eval_episodes={value}"),
                None => a.clone(),
            })
            .collect();
        let config = crate::config::apply_overrides(self, &assignments).map_err(
            |(assignment, message)| ConfigError::Override {
                assignment,
                message,
            },
        )?;
        config
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("after --set: {e}")))?;
        Ok(config)
    }

    /// What one feedback round of this study asks for (at its first share).
    pub fn round_settings(&self) -> RoundSettings {
        RoundSettings {
            scenario_share: self.shares.first().copied().unwrap_or_default(),
            ..self.round.clone()
        }
    }

    /// Every study-level value in range, or what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.round_settings()
            .validate()
            .map_err(|e| Invalid(format!("round: {e}")))?;
        let unused_share = self.round.scenario_share;
        if unused_share != RoundSettings::default().scenario_share {
            return Err(Invalid(format!(
                "round.scenario_share is {unused_share}: a study runs every scenario arm at each \
                 of `shares`; write `shares: [{unused_share}]` instead"
            )));
        }
        if let Some(http) = &self.http {
            http.validate()?;
        }
        if !(self.tau > 0.0 && self.tau < 1.0) {
            return Err(Invalid(format!(
                "tau is {}: the share of T trained before the judge is asked, strictly between 0 and 1 (e.g. 0.5)",
                self.tau
            )));
        }
        if self.regions.is_empty() || self.seeds.is_empty() {
            return Err(Invalid(
                "regions and seeds each need at least one entry, e.g. `regions: [4], seeds: [0]`"
                    .into(),
            ));
        }
        if self.train.eval_episodes == 0 {
            return Err(Invalid("train.eval_episodes is 0: evaluate every arm on at least one test maze (1000 gives intervals of about 3 points)".into()));
        }
        if self.shares.is_empty() {
            return Err(Invalid(
                "shares is empty: list at least one scenario share, e.g. `shares: [0.1, 0.3]`"
                    .into(),
            ));
        }
        if let Some(bad) = self.shares.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(Invalid(format!(
                "shares holds {bad}: each is the share of fine-tuning episodes drawn from the \
                 scenarios, a number from 0 to 1"
            )));
        }
        if self.validation_episodes == 0 {
            return Err(Invalid("validation_episodes is 0: the share is chosen on at least one validation maze (500 gives intervals of about 4 points)".into()));
        }
        if !self.arms.contains(&Arm::Baseline) {
            return Err(Invalid("arms has no `baseline`: every other arm is compared with it; add it, e.g. `arms: [baseline, designer]`".into()));
        }
        for (i, arm) in self.arms.iter().enumerate() {
            if self.arms[..i].contains(arm) {
                return Err(Invalid(format!("arms lists `{arm}` twice")));
            }
        }
        Ok(())
    }

    /// The settings each kind of judge is built from (`--judge NAME` picks one).
    pub fn judge_settings(&self) -> JudgeSettings {
        JudgeSettings {
            oracle: self.oracle.clone(),
            http: self.http.clone(),
            #[cfg(feature = "embedded")]
            embedded: self.embedded.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn study_folders_of_every_earlier_form_load_as_the_same_settings() {
        let load = |rel: &str| {
            StudyConfig::load(&crate::files::project_path(rel)).unwrap_or_else(|e| panic!("{e}"))
        };
        // The round's fields at the top level and one `scenario_share` (the oldest form).
        let oldest = load("results/study-7x7-conv/study.ron");
        assert_eq!(oldest.shares, [0.8]);
        assert_eq!(oldest.round.pairs, 400);
        // The round's fields at the top level with `shares`.
        let flat = load("results/study-7x7-conv-controls/study.ron");
        assert_eq!(flat.shares, [0.02, 0.1, 0.3]);
        // The shipped config (a round section with the defaults) is the same round.
        let shipped = load("assets/configs/study-7x7-conv.ron");
        assert_eq!(shipped.round.reward, flat.round.reward);
        assert_eq!(shipped.round.lambda, flat.round.lambda);
        // Written back in today's form, a config reads as itself (compared as written: a build
        // without the embedded judge skips that section).
        let text = ron::ser::to_string(&flat).expect("serialises");
        let again: StudyConfig = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .expect("reads back");
        assert_eq!(again.round, flat.round);
        assert_eq!(ron::ser::to_string(&again).expect("serialises"), text);
    }

    #[test]
    fn a_round_both_in_its_section_and_at_the_top_level_is_refused() {
        let text = std::fs::read_to_string(crate::files::project_path(
            "assets/configs/study-7x7-conv.ron",
        ))
        .expect("config");
        let both = text.replacen(
            "    tau: 0.5,",
            "    tau: 0.5,\n    pairs: 10,\n    round: (),",
            1,
        );
        let error = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str::<StudyConfig>(&both)
            .expect_err("two homes for the round");
        assert!(
            error.to_string().contains("keep them in `round` only"),
            "{error}"
        );
    }

    fn shipped_conv_study() -> StudyConfig {
        StudyConfig::load(&crate::files::project_path(
            "assets/configs/study-7x7-conv.ron",
        ))
        .expect("config")
    }

    #[test]
    fn a_round_share_that_a_study_would_ignore_is_refused_with_the_key_to_use() {
        let error = shipped_conv_study()
            .with_overrides(&["round.scenario_share=0.5".into()])
            .expect_err("a study reads `shares`, not the round's share");
        assert!(matches!(error, ConfigError::Invalid(_)), "{error:?}");
        assert!(error.to_string().contains("shares: [0.5]"), "{error}");
    }

    #[test]
    fn the_older_eval_episodes_key_sets_the_test_mazes_one_home() {
        let older_key = shipped_conv_study()
            .with_overrides(&["eval_episodes=7".into()])
            .expect("the key of older commands");
        assert_eq!(
            older_key.train.eval_episodes, 7,
            "one home for the test mazes"
        );
    }

    #[test]
    fn every_shipped_study_config_loads_and_validates() {
        let dir = crate::files::project_path("assets/configs");
        let mut studies = 0;
        for entry in std::fs::read_dir(&dir).expect("assets/configs") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("study-") && name.ends_with(".ron") {
                StudyConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                studies += 1;
            }
        }
        assert!(
            studies >= 5,
            "found {studies} study configs in {}",
            dir.display()
        );
    }
}
