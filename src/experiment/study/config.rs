//! The study's settings: the training run, regions and seeds, tau and lambda, the feedback round,
//! the judges' sections and the fine-tuning arms.

use crate::config::TrainConfig;
use crate::experiment::round::{Arm, RoundSettings};
use crate::llm::JudgeSettings;
use crate::llm::http::HttpConfig;
use crate::llm::oracle::OracleConfig;
use crate::reward::RewardConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything a study needs; every choice the paper leaves open is here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Training run of every cell (`ppo.total_timesteps` is T; `region` and `seed` are set per cell).
    pub train: TrainConfig,
    pub regions: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Fraction of T before the LLM is consulted.
    pub tau: f64,
    /// Reward mix R' = lambda * R_hat + (1 - lambda) * R.
    pub lambda: f32,
    /// N^I: rollouts shown to the judge for analysis.
    pub inspect_rollouts: usize,
    /// N^R: rollouts gathered in the judge's scenarios for reward modelling.
    pub feedback_rollouts: usize,
    /// Pairs asked (each in both orders).
    pub pairs: usize,
    pub reward: RewardConfig,
    /// Episodes per evaluation on the shifted distribution.
    pub eval_episodes: usize,
    pub oracle: OracleConfig,
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// The embedded offline judge (`--judge embedded`); defaults to the chosen model and prompt.
    #[cfg(feature = "embedded")]
    #[serde(default)]
    pub embedded: crate::llm::embedded::EmbeddedConfig,
    /// Keep each cell's tau*T checkpoint after the cell finishes, so that deleting a cell's
    /// `result.json` and an arm's `<arm>.json` re-runs only that arm (e.g. with other `reward`
    /// settings) and reuses the pre-training.
    #[serde(default)]
    pub keep_pretrain: bool,
    /// Judge pieces of at most this many moves instead of whole episodes (see
    /// [`crate::experiment::rollouts::segments`]); unset: whole episodes, as in the paper.
    #[serde(default)]
    pub segment_steps: Option<usize>,
    /// The fine-tuning arms, each from the same tau*T checkpoint to T (`baseline` is required:
    /// every other arm is compared with it). Default: baseline, paper, designer,
    /// scenarios-env-reward; add `ceiling` for the true-potential control.
    #[serde(default = "default_arms")]
    pub arms: Vec<Arm>,
    /// Share of the `designer` and `scenarios-env-reward` arms' fine-tuning episodes drawn from
    /// the judge's scenarios (0..=1).
    #[serde(default = "default_scenario_share")]
    pub scenario_share: f64,
    /// Also train one reference agent per seed on the shifted distribution itself for T steps:
    /// what the arms are measured against when they cannot gain 20 points.
    #[serde(default = "default_true")]
    pub reference: bool,
}

fn default_arms() -> Vec<Arm> {
    vec![
        Arm::Baseline,
        Arm::Paper,
        Arm::Designer,
        Arm::ScenariosEnvReward,
    ]
}

fn default_scenario_share() -> f64 {
    crate::experiment::round::DEFAULT_SCENARIO_SHARE
}

fn default_true() -> bool {
    true
}

impl StudyConfig {
    /// Reads and validates a study config (RON); relative paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: Self = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
            .map_err(|e| crate::config::ron_error_at(path, &e))?;
        config.train.resolve_paths(path);
        if let Some(http) = config.http.as_mut() {
            http.prompt_dir = crate::files::config_relative(&http.prompt_dir, path)
                .to_string_lossy()
                .into_owned();
        }
        config
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Applies `--set` overrides (dotted keys, JSON values) and validates the result.
    pub fn with_overrides(self, assignments: &[String]) -> Result<Self, String> {
        let config = crate::config::apply_overrides(self, assignments)
            .map_err(|(assignment, message)| format!("--set {assignment}: {message}"))?;
        config.validate().map_err(|e| format!("after --set: {e}"))?;
        Ok(config)
    }

    /// What one feedback round of this study asks for.
    pub fn round_settings(&self) -> RoundSettings {
        RoundSettings {
            inspect_rollouts: self.inspect_rollouts,
            feedback_rollouts: self.feedback_rollouts,
            pairs: self.pairs,
            segment_steps: self.segment_steps,
            reward: self.reward.clone(),
            lambda: self.lambda,
            scenario_share: self.scenario_share,
        }
    }

    /// Every study-level value in range, or what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        self.round_settings().validate()?;
        if let Some(http) = &self.http {
            http.validate()?;
        }
        if !(self.tau > 0.0 && self.tau < 1.0) {
            return Err(format!(
                "tau is {}: the share of T trained before the judge is asked, strictly between 0 and 1 (e.g. 0.5)",
                self.tau
            ));
        }
        if self.regions.is_empty() || self.seeds.is_empty() {
            return Err(
                "regions and seeds each need at least one entry, e.g. `regions: [4], seeds: [0]`"
                    .into(),
            );
        }
        if self.eval_episodes == 0 {
            return Err("eval_episodes is 0: evaluate on at least one maze (1000 gives intervals of about 3 points)".into());
        }
        if !self.arms.contains(&Arm::Baseline) {
            return Err("arms has no `baseline`: every other arm is compared with it; add it, e.g. `arms: [baseline, designer]`".into());
        }
        for (i, arm) in self.arms.iter().enumerate() {
            if self.arms[..i].contains(arm) {
                return Err(format!("arms lists `{arm}` twice"));
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
