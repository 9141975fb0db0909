//! The watch panel's Runs section: open a run folder or checkpoint (its config, weights and logged
//! history come with it; the plots continue live when training resumes), start a new run from a
//! training config, and the runs found in a folder — all without restarting the app.

use super::bridge::Notices;
use crate::rl::checkpoint::{RunSummary, find_runs};
use crate::trainer::SessionSettings;
use bevy_egui::egui::{self, Color32};
use std::path::{Path, PathBuf};

/// What the Runs section remembers between frames.
#[derive(Debug)]
pub(super) struct RunsState {
    /// A run folder or checkpoint folder to open.
    pub(super) open: String,
    /// A training config to start a new run from.
    pub(super) config: String,
    /// The folder searched for runs, and what was found there (None: not searched yet).
    pub(super) folder: String,
    pub(super) found: Option<Result<Vec<RunSummary>, String>>,
}

impl Default for RunsState {
    fn default() -> Self {
        Self {
            open: "runs/".into(),
            config: "assets/configs/quick-7x7.ron".into(),
            folder: "runs".into(),
            found: None,
        }
    }
}

/// The Runs section; returns the settings of the session the user asked for (a run opened or a
/// new run), which replace the current session. A config that does not load is a notice.
pub(super) fn runs_section(
    ui: &mut egui::Ui,
    runs: &mut RunsState,
    current: &SessionSettings,
    notices: &mut Notices,
) -> Option<SessionSettings> {
    let mut next = None;
    ui.collapsing("Runs: open a run or checkpoint, start a new one", |ui| {
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut runs.open)
                .on_hover_text("a run folder (its newest checkpoint) or a checkpoint-* folder");
        });
        let mut open = None;
        if ui
            .button("Open run / checkpoint")
            .on_hover_text(
                "the agent, its training config and its logged history (metrics.jsonl) replace \
                 the current session; a path that does not load leaves the session as it is",
            )
            .clicked()
        {
            open = Some(PathBuf::from(runs.open.trim()));
        }
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut runs.config)
                .on_hover_text("a training config (RON), e.g. assets/configs/quick-7x7.ron");
        });
        let mut fresh = None;
        if ui
            .button("New run from config")
            .on_hover_text(
                "fresh weights trained on this config (the judge and round settings stay)",
            )
            .clicked()
        {
            fresh = Some(PathBuf::from(runs.config.trim()));
        }
        ui.horizontal(|ui| {
            ui.label("runs in");
            ui.add(egui::TextEdit::singleline(&mut runs.folder).desired_width(120.0));
            if ui
                .button("Find")
                .on_hover_text("list the run folders here and one level below (a study's arms)")
                .clicked()
                || runs.found.is_none()
            {
                runs.found =
                    Some(find_runs(Path::new(runs.folder.trim())).map_err(|e| e.to_string()));
            }
        });
        match &runs.found {
            Some(Ok(found)) if found.is_empty() => {
                ui.small("no run folders here yet (`maze-rllf train --out runs/NAME`)");
            }
            Some(Ok(found)) => {
                egui::ScrollArea::vertical()
                    .id_salt("runs-found")
                    .max_height(120.0)
                    .show(ui, |ui| {
                        for run in found {
                            let label = format!(
                                "{} · {}{}",
                                run.path.display(),
                                run.latest,
                                if run.has_metrics {
                                    ""
                                } else {
                                    " · no history"
                                }
                            );
                            if ui
                                .small_button(label)
                                .on_hover_text("open this run")
                                .clicked()
                            {
                                open = Some(run.path.clone());
                            }
                        }
                    });
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            None => {}
        }
        if let Some(path) = open {
            runs.open = path.display().to_string();
            next = Some(current.opening(path));
        }
        if let Some(config) = fresh {
            match current.new_run(&config) {
                Ok(settings) => next = Some(settings),
                Err(e) => notices.error(e.to_string()),
            }
        }
    });
    next
}
