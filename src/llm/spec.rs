//! Which judge to ask, with its settings: the one description the CLI, the study, the trainer
//! thread and the app's panels all build their judges from.

use super::Judge;
use super::http::{HttpConfig, HttpJudge, redact_url};
use super::human::{HumanChannel, HumanJudge};
use super::oracle::{Oracle, OracleConfig};
use crate::level::DistributionSpec;
use serde::{Deserialize, Serialize};

/// The judges by name, as `--judge` takes them.
pub const JUDGE_NAMES: [&str; 4] = ["oracle", "http", "human", "embedded"];

/// A judge and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JudgeSpec {
    /// The scripted oracle (true outcome, with the configured noise and position bias).
    Oracle(OracleConfig),
    /// An OpenAI-compatible server.
    Http(HttpConfig),
    /// A person answering at the terminal.
    Human,
    /// The GGUF model run in-process.
    #[cfg(feature = "embedded")]
    Embedded(super::embedded::EmbeddedConfig),
}

/// The settings each kind of judge is built from, for choosing one by name.
#[derive(Clone, Debug, Default)]
pub struct JudgeSettings {
    pub oracle: OracleConfig,
    pub http: Option<HttpConfig>,
    #[cfg(feature = "embedded")]
    pub embedded: super::embedded::EmbeddedConfig,
}

impl JudgeSpec {
    /// The judge called `name` (one of [`JUDGE_NAMES`]) with its settings from `settings`, or what
    /// is missing and how to supply it.
    pub fn named(name: &str, settings: &JudgeSettings) -> Result<Self, String> {
        match name {
            "oracle" => Ok(Self::Oracle(settings.oracle.clone())),
            "http" => settings.http.clone().map(Self::Http).ok_or_else(|| {
                "--judge http needs the server: an `http: (base_url: .., model: ..)` section in \
                 the config (or --base-url and --model where the command takes them)"
                    .to_string()
            }),
            "human" => Ok(Self::Human),
            #[cfg(feature = "embedded")]
            "embedded" => Ok(Self::Embedded(settings.embedded.clone())),
            #[cfg(not(feature = "embedded"))]
            "embedded" => Err(
                "--judge embedded: this build has no embedded judge; build with \
                 `--features embedded` (on by default)"
                    .into(),
            ),
            other => Err(format!(
                "unknown judge `{other}`: use one of {}",
                JUDGE_NAMES.join(", ")
            )),
        }
    }

    /// The judge's name, one of [`JUDGE_NAMES`].
    pub fn name(&self) -> &'static str {
        match self {
            Self::Oracle(_) => "oracle",
            Self::Http(_) => "http",
            Self::Human => "human",
            #[cfg(feature = "embedded")]
            Self::Embedded(_) => "embedded",
        }
    }

    /// A one-line description for status lines and reports (a server's URL without credentials).
    pub fn label(&self) -> String {
        match self {
            Self::Oracle(o) => format!(
                "oracle (noise {:.2}, position bias {:.2})",
                o.noise, o.position_bias
            ),
            Self::Http(h) => format!("http {} at {}", h.model, redact_url(&h.base_url)),
            Self::Human => "human (terminal)".into(),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => format!("embedded {} ({} prompt)", e.model, e.prompt),
        }
    }

    /// Whether the judge needs a person at this process's terminal (one question at a time).
    pub fn asks_a_person(&self) -> bool {
        matches!(self, Self::Human)
    }

    /// Builds the judge for rounds on `base` (the training distribution scenarios edit); `seed`
    /// drives the oracle's noise and the server's sampling.
    pub fn build(&self, base: &DistributionSpec, seed: u64) -> Result<Box<dyn Judge>, String> {
        Ok(match self {
            Self::Oracle(o) => Box::new(Oracle::new(o.clone(), base.clone(), seed)),
            Self::Http(h) => {
                Box::new(HttpJudge::new(h.clone(), base.clone(), seed).map_err(|e| e.to_string())?)
            }
            Self::Human => Box::new(HumanJudge::new(HumanChannel::Terminal, base.clone())),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => Box::new(super::embedded::EmbeddedJudge::new(e, base.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_or_says_what_is_missing() {
        let settings = JudgeSettings::default();
        for name in JUDGE_NAMES {
            match JudgeSpec::named(name, &settings) {
                Ok(spec) => assert_eq!(spec.name(), name),
                Err(e) => assert!(e.contains(name), "{name}: {e}"),
            }
        }
        let http = JudgeSpec::named("http", &settings).expect_err("no server configured");
        assert!(http.contains("base_url"), "{http}");
        let unknown = JudgeSpec::named("gpt", &settings).expect_err("unknown");
        assert!(
            unknown.contains("oracle, http, human, embedded"),
            "{unknown}"
        );
    }
}
