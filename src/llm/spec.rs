//! Which judge to ask, with its settings: the one description the CLI, the study, the trainer
//! thread and the app's panels all build their judges from.

use super::http::{HttpConfig, HttpJudge, redact_url};
use super::human::{HumanChannel, HumanJudge};
use super::oracle::{Oracle, OracleConfig};
use super::{Judge, SetupError};
use crate::errors::Invalid;
use crate::level::DistributionSpec;
use serde::{Deserialize, Serialize};

/// The kinds of judge: the one list the CLI's `--judge`, the app's judge choice and the reports'
/// notes on how far a judge's labels can be trusted are built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeKind {
    Oracle,
    Http,
    Human,
    Embedded,
    /// A control: everything drawn at random.
    Random,
    /// A control: the oracle's pipeline fed random answers.
    RandomAnswers,
}

impl JudgeKind {
    /// Every kind, in the order menus list them.
    pub const ALL: [JudgeKind; 6] = [
        Self::Oracle,
        Self::Http,
        Self::Human,
        Self::Embedded,
        Self::Random,
        Self::RandomAnswers,
    ];

    /// The name `--judge` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Oracle => "oracle",
            Self::Http => "http",
            Self::Human => "human",
            Self::Embedded => "embedded",
            Self::Random => "random",
            Self::RandomAnswers => "random-answers",
        }
    }

    /// The words a menu shows.
    pub fn title(self) -> &'static str {
        match self {
            Self::Oracle => "oracle (scripted)",
            Self::Http => "HTTP (OpenAI-compatible)",
            Self::Human => "human (you)",
            Self::Embedded => "embedded (offline)",
            Self::Random => "random (control)",
            Self::RandomAnswers => "random answers (control)",
        }
    }

    /// What choosing it means, for tooltips and `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Self::Oracle => {
                "reads the rollouts with a fixed rule and labels pairs from the true outcome: \
                 the ideal judge, no model involved"
            }
            Self::Http => {
                "asks a model on an OpenAI-compatible server (llama.cpp, Ollama, vLLM, ..)"
            }
            Self::Human => "you answer every question yourself",
            Self::Embedded => "a small GGUF model run in-process, offline",
            Self::Random => {
                "draws a diagnosis, menu items and preferences at random: the floor every judge \
                 is measured beside"
            }
            Self::RandomAnswers => {
                "the oracle's reading with a coin for every per-episode answer: what the \
                 aggregation alone gives"
            }
        }
    }

    /// Whether this build can run it (the embedded judge needs `--features embedded`).
    pub fn built(self) -> bool {
        self != Self::Embedded || cfg!(feature = "embedded")
    }

    /// Whether its labels come from the true outcome, a person or a coin, not from a model (no
    /// measured agreement applies).
    pub fn answers_without_a_model(self) -> bool {
        !matches!(self, Self::Http | Self::Embedded)
    }

    /// Whether it is a control that stands in for a judge (random answers), not a judge.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Random | Self::RandomAnswers)
    }
}

impl std::fmt::Display for JudgeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for JudgeKind {
    type Err = Invalid;

    fn from_str(name: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Invalid(format!(
                    "unknown judge `{name}`: use one of {}",
                    JUDGE_NAMES.join(", ")
                ))
            })
    }
}

/// The judges by name, as `--judge` takes them.
pub const JUDGE_NAMES: [&str; 6] = [
    JudgeKind::ALL[0].name(),
    JudgeKind::ALL[1].name(),
    JudgeKind::ALL[2].name(),
    JudgeKind::ALL[3].name(),
    JudgeKind::ALL[4].name(),
    JudgeKind::ALL[5].name(),
];

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
    /// A control: a random diagnosis, menu items and preferences.
    Random,
    /// A control: the oracle's reading of random per-episode answers.
    RandomAnswers,
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
    pub fn named(name: &str, settings: &JudgeSettings) -> Result<Self, Invalid> {
        Self::of_kind(name.parse()?, settings)
    }

    /// The judge of `kind` with its settings from `settings`, or what is missing and how to
    /// supply it.
    pub fn of_kind(kind: JudgeKind, settings: &JudgeSettings) -> Result<Self, Invalid> {
        match kind {
            JudgeKind::Oracle => Ok(Self::Oracle(settings.oracle.clone())),
            JudgeKind::Http => settings.http.clone().map(Self::Http).ok_or_else(|| {
                Invalid(
                    "--judge http needs the server: an `http: (base_url: .., model: ..)` section \
                     in the config (or --base-url and --model where the command takes them)"
                        .to_string(),
                )
            }),
            JudgeKind::Human => Ok(Self::Human),
            JudgeKind::Random => Ok(Self::Random),
            JudgeKind::RandomAnswers => Ok(Self::RandomAnswers),
            #[cfg(feature = "embedded")]
            JudgeKind::Embedded => Ok(Self::Embedded(settings.embedded.clone())),
            #[cfg(not(feature = "embedded"))]
            JudgeKind::Embedded => Err(Invalid(
                "--judge embedded: this build has no embedded judge; build with \
                 `--features embedded` (on by default)"
                    .into(),
            )),
        }
    }

    /// Which kind of judge it is.
    pub fn kind(&self) -> JudgeKind {
        match self {
            Self::Oracle(_) => JudgeKind::Oracle,
            Self::Http(_) => JudgeKind::Http,
            Self::Human => JudgeKind::Human,
            #[cfg(feature = "embedded")]
            Self::Embedded(_) => JudgeKind::Embedded,
            Self::Random => JudgeKind::Random,
            Self::RandomAnswers => JudgeKind::RandomAnswers,
        }
    }

    /// The judge's name, one of [`JUDGE_NAMES`].
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// A one-line description for status lines and reports (a server's URL without credentials).
    pub fn label(&self) -> String {
        match self {
            Self::Oracle(o) => format!(
                "oracle (noise {:.2}, position bias {:.2})",
                o.noise, o.position_bias
            ),
            Self::Http(h) => {
                let analysis = match h.analysis {
                    super::http::HttpAnalysis::Json => String::new(),
                    super::http::HttpAnalysis::Facts => format!(", facts by {}", h.facts_prompt),
                };
                format!("http {} at {}{analysis}", h.model, redact_url(&h.base_url))
            }
            Self::Human => "human (terminal)".into(),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => format!("embedded {}", e.describe()),
            Self::Random | Self::RandomAnswers => self.kind().title().into(),
        }
    }

    /// Whether the judge needs a person at this process's terminal (one question at a time).
    pub fn asks_a_person(&self) -> bool {
        matches!(self, Self::Human)
    }

    /// Builds the judge for rounds on `base` (the training distribution scenarios edit); `seed`
    /// drives the oracle's noise, the server's sampling and the controls' draws.
    pub fn build(&self, base: &DistributionSpec, seed: u64) -> Result<Box<dyn Judge>, SetupError> {
        Ok(match self {
            Self::Oracle(o) => Box::new(Oracle::new(o.clone(), base.clone(), seed)),
            Self::Http(h) => Box::new(HttpJudge::new(h.clone(), base.clone(), seed)?),
            Self::Human => Box::new(HumanJudge::new(HumanChannel::Terminal, base.clone())),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => Box::new(super::embedded::EmbeddedJudge::new(e, base.clone())?),
            Self::Random => Box::new(super::random::RandomJudge::new(base.clone(), seed)),
            Self::RandomAnswers => Box::new(super::random::RandomAnswers::new(base.clone(), seed)),
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
                Err(e) => assert!(e.0.contains(name), "{name}: {e}"),
            }
        }
        let http = JudgeSpec::named("http", &settings).expect_err("no server configured");
        assert!(http.0.contains("base_url"), "{http}");
        for kind in JudgeKind::ALL {
            assert_eq!(kind.name().parse::<JudgeKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert!(JudgeKind::Oracle.built() && JudgeKind::Human.built());
        assert_eq!(JudgeKind::Embedded.built(), cfg!(feature = "embedded"));
        let unknown = JudgeSpec::named("gpt", &settings).expect_err("unknown");
        assert!(
            unknown
                .0
                .contains("oracle, http, human, embedded, random, random-answers"),
            "{unknown}"
        );
    }
}
