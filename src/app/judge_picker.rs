//! The run settings' judge picker: one radio per judge kind built into this binary and each
//! kind's own settings. The kind has one owner, the draft's [`JudgeSpec`]; the picker edits that
//! spec in place and remembers each kind's settings so that switching away and back keeps them.

use super::round_panel::reliability;
use crate::llm::http::{HttpAnalysis, HttpConfig};
use crate::llm::oracle::OracleConfig;
use crate::llm::{JudgeKind, JudgeSpec};
use bevy_egui::egui;

/// Each kind's settings as last edited (the spec holds only the chosen kind's).
pub(super) struct JudgeChoices {
    /// Taken from the session's judge the first time the picker shows.
    seeded: bool,
    http: HttpConfig,
    #[cfg(feature = "embedded")]
    embedded: crate::llm::embedded::EmbeddedConfig,
    /// Measured agreement per "model/prompt", read once from the measurements file.
    #[cfg(feature = "embedded")]
    measured: std::collections::HashMap<String, Option<f64>>,
}

impl Default for JudgeChoices {
    fn default() -> Self {
        Self {
            seeded: false,
            http: HttpConfig::new("http://127.0.0.1:11434", "llama3.1:8b"),
            #[cfg(feature = "embedded")]
            embedded: crate::llm::embedded::EmbeddedConfig::default(),
            #[cfg(feature = "embedded")]
            measured: std::collections::HashMap::new(),
        }
    }
}

impl JudgeChoices {
    /// Remembers the settings of the kind `judge` is.
    fn remember(&mut self, judge: &JudgeSpec) {
        match judge {
            JudgeSpec::Http(h) => self.http = h.clone(),
            #[cfg(feature = "embedded")]
            JudgeSpec::Embedded(e) => self.embedded = e.clone(),
            _ => {}
        }
    }

    /// A judge of `kind` with the settings last used for it.
    fn spec(&self, kind: JudgeKind) -> JudgeSpec {
        match kind {
            JudgeKind::Http => JudgeSpec::Http(self.http.clone()),
            #[cfg(feature = "embedded")]
            JudgeKind::Embedded => JudgeSpec::Embedded(self.embedded.clone()),
            JudgeKind::Human => JudgeSpec::Human,
            JudgeKind::Random => JudgeSpec::Random,
            JudgeKind::RandomAnswers => JudgeSpec::RandomAnswers,
            _ => JudgeSpec::Oracle(OracleConfig::default()),
        }
    }
}

/// The picker: a radio per judge (a person's part is the round window's review, not a terminal
/// judge; the random controls are the study's and the benchmark's), then the chosen kind's
/// settings, edited in `judge` itself.
pub(super) fn judge_picker(ui: &mut egui::Ui, choices: &mut JudgeChoices, judge: &mut JudgeSpec) {
    if !choices.seeded {
        choices.seeded = true;
        choices.remember(judge);
    }
    let mut kind = judge.kind();
    ui.horizontal(|ui| {
        ui.label("judge");
        for k in JudgeKind::ALL
            .into_iter()
            .filter(|&k| k.built() && k != JudgeKind::Human && !k.is_control())
        {
            ui.radio_value(&mut kind, k, k.title())
                .on_hover_text(k.description());
        }
    });
    if kind != judge.kind() {
        choices.remember(judge);
        *judge = choices.spec(kind);
    }
    match judge {
        JudgeSpec::Http(http) => {
            ui.horizontal(|ui| {
                ui.label("base URL");
                ui.text_edit_singleline(&mut http.base_url);
            });
            ui.horizontal(|ui| {
                ui.label("model");
                ui.text_edit_singleline(&mut http.model);
            });
            let mut facts = http.analysis == HttpAnalysis::Facts;
            ui.checkbox(&mut facts, "analyses ask one question at a time")
                .on_hover_text(
                    "Each training cheese's row and column and each probe's corner asked yes or \
                     no (log-probabilities), counted as the ideal judge counts them; off: the \
                     model reads every episode at once and answers as JSON",
                );
            http.analysis = if facts {
                HttpAnalysis::Facts
            } else {
                HttpAnalysis::Json
            };
        }
        #[cfg(feature = "embedded")]
        JudgeSpec::Embedded(embedded) => embedded_settings(ui, embedded, &mut choices.measured),
        _ => {}
    }
    ui.small(format!("judge: {}", judge.label()));
}

/// The embedded judge's model and prompt, and the agreement measured for the pair.
#[cfg(feature = "embedded")]
fn embedded_settings(
    ui: &mut egui::Ui,
    embedded: &mut crate::llm::embedded::EmbeddedConfig,
    measured: &mut std::collections::HashMap<String, Option<f64>>,
) {
    ui.horizontal(|ui| {
        ui.label("model");
        egui::ComboBox::from_id_salt("embedded-model")
            .selected_text(embedded.model.clone())
            .show_ui(ui, |ui| {
                for known in crate::llm::embedded::KNOWN_MODELS {
                    ui.selectable_value(&mut embedded.model, known.name.to_string(), known.name);
                }
            });
        ui.label("prompt");
        egui::ComboBox::from_id_salt("embedded-prompt")
            .selected_text(embedded.prompt.clone())
            .show_ui(ui, |ui| {
                for name in crate::llm::embedded::PromptVariant::names() {
                    ui.selectable_value(&mut embedded.prompt, name.clone(), name);
                }
            });
    });
    let key = format!("{}/{}", embedded.model, embedded.prompt);
    let agreement = *measured.entry(key).or_insert_with(|| {
        crate::llm::embedded::measured_agreement(&embedded.model, &embedded.prompt)
    });
    let (note, color) = reliability(JudgeKind::Embedded, agreement);
    ui.colored_label(color, note);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_kinds_and_back_keeps_each_kinds_settings() {
        let mut choices = JudgeChoices::default();
        let mut judge = JudgeSpec::Http(HttpConfig::new("http://example:8080", "big"));
        choices.remember(&judge);
        // To the oracle and back: the server typed earlier comes back.
        choices.remember(&judge);
        judge = choices.spec(JudgeKind::Oracle);
        assert_eq!(judge.kind(), JudgeKind::Oracle);
        choices.remember(&judge);
        judge = choices.spec(JudgeKind::Http);
        match judge {
            JudgeSpec::Http(h) => {
                assert_eq!(
                    (h.base_url.as_str(), h.model.as_str()),
                    ("http://example:8080", "big")
                );
            }
            other => panic!("expected the server judge, got {}", other.label()),
        }
    }
}
