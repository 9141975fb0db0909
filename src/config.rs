//! The one training configuration: seed, levels, model and PPO settings. Loaded from RON, then
//! overridden with `--set key=value` (dotted paths), and saved beside every checkpoint.

use crate::level::{CheesePlacement, validate_spec};
use crate::level::{DistributionSpec, LevelSource, load_level_file};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where training levels come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LevelRef {
    /// A level file: a path from the working directory, the config file's folder or the
    /// project root (`levels/train.ron`).
    File(String),
    /// A distribution written inline.
    Inline(DistributionSpec),
}

/// The policy network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelConfig {
    /// Residual MLP over the flattened boolean grid: input layer + `blocks` residual layers.
    Mlp { width: usize, blocks: usize },
    /// IMPALA-style conv net: per stage a 3x3 conv and a 2x2 max-pool, then a dense layer.
    Conv { channels: Vec<usize>, hidden: usize },
}

/// PPO hyper-parameters (CleanRL's names and meanings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoConfig {
    pub total_timesteps: u64,
    pub num_envs: usize,
    pub num_steps: usize,
    pub learning_rate: f64,
    pub anneal_lr: bool,
    pub gamma: f32,
    pub gae_lambda: f32,
    pub num_minibatches: usize,
    pub update_epochs: usize,
    pub norm_adv: bool,
    pub clip_coef: f32,
    pub clip_vloss: bool,
    pub ent_coef: f32,
    /// Anneal the entropy coefficient to 0 over the run, as `anneal_lr` does the learning rate
    /// (a late policy that wanders less; absent in older configs: off).
    #[serde(default)]
    pub anneal_ent: bool,
    pub vf_coef: f32,
    pub max_grad_norm: f32,
    /// Stop the epoch loop once the approximate KL exceeds this.
    pub target_kl: Option<f32>,
}

impl PpoConfig {
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.num_steps
    }

    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches.max(1)
    }

    pub fn num_iterations(&self) -> u64 {
        self.total_timesteps / self.batch_size().max(1) as u64
    }
}

/// Everything a training run needs; saved with each checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The one seed every RNG derives from.
    pub seed: u64,
    pub levels: LevelRef,
    /// Overrides the cheese region of the training levels (the paper's `r`).
    #[serde(default)]
    pub region: Option<usize>,
    /// Episode time limit.
    pub max_steps: u32,
    pub model: ModelConfig,
    pub ppo: PpoConfig,
    /// Checkpoint every this many iterations (the final one is always written).
    pub checkpoint_every: u64,
    /// Episodes per distribution in the end-of-run evaluation; in a study, the test mazes every
    /// arm is evaluated on.
    pub eval_episodes: usize,
}

/// A configuration problem, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message} (fix: see assets/configs/*.ron for valid configs)")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("--set {assignment}: {message}")]
    Override { assignment: String, message: String },
    #[error("{0}")]
    Level(#[from] crate::level::LevelError),
    #[error("config: {0}")]
    Invalid(String),
}

impl ConfigError {
    /// RON's error at its place in the file `path`.
    pub fn parse_at(path: &Path, e: &ron::error::SpannedError) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        }
    }
}

impl TrainConfig {
    /// Reads a RON config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(path, &text)?;
        config.resolve_paths(path);
        Ok(config)
    }

    /// Makes a relative `levels: File(..)` work from any working directory: found beside
    /// `config_file` or among the shipped files when not from here.
    pub fn resolve_paths(&mut self, config_file: &Path) {
        if let LevelRef::File(written) = &self.levels {
            let found = crate::files::config_relative(written, config_file);
            if found != Path::new(written) {
                self.levels = LevelRef::File(found.to_string_lossy().into_owned());
            }
        }
    }

    /// Parses RON config text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        ron_options()
            .from_str(text.strip_prefix('\u{feff}').unwrap_or(text))
            .map_err(|e| ConfigError::parse_at(path, &e))
    }

    /// Writes the config as pretty RON.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .unwrap_or_else(|e| format!("// could not serialize config: {e}"))
    }

    /// Applies `key=value` overrides; keys are dotted paths (`ppo.learning_rate=3e-4`,
    /// `region=4`); values are JSON (`true`, `0.1`, `"text"`; bare words are strings).
    pub fn with_overrides(self, assignments: &[String]) -> Result<Self, ConfigError> {
        apply_overrides(self, assignments).map_err(|(assignment, message)| ConfigError::Override {
            assignment,
            message,
        })
    }

    /// Resolves and validates the training levels (with the region override applied).
    pub fn training_levels(&self) -> Result<LevelSource, ConfigError> {
        let mut source = match &self.levels {
            LevelRef::File(path) => load_level_file(&crate::files::project_path(path))?,
            LevelRef::Inline(spec) => LevelSource::Distribution {
                name: "inline".into(),
                spec: spec.clone(),
            },
        };
        if let Some(region) = self.region {
            match &mut source {
                LevelSource::Distribution { spec, name } => {
                    spec.cheese = CheesePlacement::Region(region);
                    *name = format!("{name} (region {region})");
                }
                LevelSource::Fixed { .. } | LevelSource::Mixture { .. } => {
                    return Err(ConfigError::Invalid(
                        "region applies to level distributions, not to a fixed layout".into(),
                    ));
                }
            }
        }
        if let LevelSource::Distribution { spec, .. } = &source {
            validate_spec(spec).map_err(|(field, message, hint)| {
                ConfigError::Invalid(format!("levels.{field}: {message} (fix: {hint})"))
            })?;
        }
        self.validate()?;
        Ok(source)
    }

    /// The shifted test distribution matching the training levels.
    pub fn shifted_levels(&self) -> Result<LevelSource, ConfigError> {
        Ok(match self.training_levels()? {
            LevelSource::Distribution { spec, .. } => LevelSource::Distribution {
                name: "shifted (cheese anywhere)".into(),
                spec: spec.shifted(),
            },
            fixed => fixed,
        })
    }

    /// Every PPO and model value in range (also checked when a run resumes with overrides).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.ppo;
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if p.num_envs == 0 || p.num_steps == 0 {
            return bad("ppo.num_envs and ppo.num_steps must be at least 1");
        }
        if p.num_minibatches == 0 || !p.batch_size().is_multiple_of(p.num_minibatches) {
            return bad("ppo.num_minibatches must divide num_envs * num_steps");
        }
        if p.total_timesteps < p.batch_size() as u64 {
            return bad("ppo.total_timesteps must be at least num_envs * num_steps");
        }
        if self.max_steps == 0 {
            return bad("max_steps must be at least 1");
        }
        match &self.model {
            ModelConfig::Mlp { width, .. } if *width == 0 => bad("model width must be at least 1"),
            ModelConfig::Conv { channels, hidden } if channels.is_empty() || *hidden == 0 => {
                bad("a conv model needs at least one channel stage and a hidden width")
            }
            _ => Ok(()),
        }
    }
}

/// Applies dotted `key=value` overrides to any serde config; on failure returns the offending
/// assignment and what is wrong with it.
pub fn apply_overrides<T: Serialize + serde::de::DeserializeOwned>(
    config: T,
    assignments: &[String],
) -> Result<T, (String, String)> {
    if assignments.is_empty() {
        return Ok(config);
    }
    let mut root = serde_json::to_value(&config).map_err(|e| (String::new(), e.to_string()))?;
    // Values that are not JSON are taken as strings; one that looks structured was probably
    // meant as RON, which the final error then explains.
    let mut read_as_text = Vec::new();
    for assignment in assignments {
        let Some((key, raw)) = assignment.split_once('=') else {
            return Err((assignment.clone(), "expected key=value".into()));
        };
        let value: serde_json::Value = serde_json::from_str(raw).unwrap_or_else(|_| {
            if raw.contains(['(', '[', '{']) {
                read_as_text.push(assignment.as_str());
            }
            serde_json::Value::String(raw.to_string())
        });
        let mut slot = &mut root;
        for part in key.split('.') {
            let known: Vec<String> = slot
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            slot = slot.get_mut(part).ok_or_else(|| {
                (
                    assignment.clone(),
                    format!("unknown key '{part}'; known: {}", known.join(", ")),
                )
            })?;
        }
        *slot = value;
    }
    serde_json::from_value(root).map_err(|e| match read_as_text.first() {
        Some(&assignment) => (
            assignment.to_string(),
            format!(
                "{e} (fix: values are JSON, and this one was not, so it was read as text; write \
                 a variant with fields as {{\"Conv\": {{\"channels\": [16, 32], \"hidden\": 128}}}})"
            ),
        ),
        None => (assignments.join(" "), e.to_string()),
    })
}

/// A RON parse error as `file:line:column: what is wrong`.
pub fn ron_error_at(path: &Path, e: &ron::error::SpannedError) -> String {
    format!(
        "{}:{}:{}: {}",
        path.display(),
        e.span.start.line,
        e.span.start.col,
        e.code
    )
}

/// RON as every file the project reads is parsed: an optional field may be written without
/// `Some(...)`.
pub(crate) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrainConfig {
        TrainConfig {
            seed: 1,
            levels: LevelRef::Inline(DistributionSpec::training(7, 0)),
            region: None,
            max_steps: 50,
            model: ModelConfig::Mlp {
                width: 16,
                blocks: 1,
            },
            ppo: PpoConfig {
                total_timesteps: 1024,
                num_envs: 8,
                num_steps: 16,
                learning_rate: 1e-3,
                anneal_lr: true,
                gamma: 0.99,
                gae_lambda: 0.95,
                num_minibatches: 4,
                update_epochs: 2,
                norm_adv: true,
                clip_coef: 0.2,
                clip_vloss: true,
                ent_coef: 0.01,
                anneal_ent: false,
                vf_coef: 0.5,
                max_grad_norm: 0.5,
                target_kl: None,
            },
            checkpoint_every: 10,
            eval_episodes: 10,
        }
    }

    #[test]
    fn ron_round_trip_and_overrides() {
        let cfg = sample();
        let back = TrainConfig::parse(Path::new("x.ron"), &cfg.to_ron()).expect("round trip");
        assert_eq!(back, cfg);
        let changed = cfg
            .with_overrides(&[
                "ppo.learning_rate=0.5".into(),
                "region=3".into(),
                "ppo.target_kl=0.02".into(),
            ])
            .expect("overrides apply");
        assert_eq!(changed.ppo.learning_rate, 0.5);
        assert_eq!(changed.region, Some(3));
        assert_eq!(changed.ppo.target_kl, Some(0.02));
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let err = sample()
            .with_overrides(&["ppo.lr=1".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key 'lr'") && err.contains("learning_rate"),
            "{err}"
        );
        let err = sample()
            .with_overrides(&["seed=abc".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("seed=abc"), "{err}");
        let err = sample()
            .with_overrides(&["model=Conv(channels: [8], hidden: 32)".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model=Conv(") && err.contains("{\"Conv\": {"),
            "{err}"
        );
        let conv = sample()
            .with_overrides(&[r#"model={"Conv": {"channels": [8], "hidden": 32}}"#.into()])
            .expect("JSON variant");
        assert_eq!(
            conv.model,
            ModelConfig::Conv {
                channels: vec![8],
                hidden: 32
            }
        );
        let err = TrainConfig::parse(Path::new("c.ron"), "(seed: 1,\n  bogus: 2)")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.ron:2:"), "{err}");
    }

    #[test]
    fn region_larger_than_the_maze_is_rejected() {
        let mut cfg = sample();
        cfg.region = Some(9);
        let err = cfg.training_levels().unwrap_err().to_string();
        assert!(err.contains("region 9 is larger"), "{err}");
    }
}
