//! The compare window: any two agents (the live one or checkpoints) played on the same mazes,
//! side by side on stage with running tallies (the demo's playlist), and their rates on the same
//! test mazes as a chart with McNemar's test.

use super::bridge::{Comparisons, SendCommand};
use super::fine_tune_panel::agents_chart;
use super::scene::{Stage, paired_playlist};
use super::{AppSystems, Mode};
use crate::trainer::{AgentRef, COMPARE_EPISODES, Command};
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};
use std::path::PathBuf;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<CompareState>()
        .add_systems(Update, show_new_comparison.in_set(AppSystems::Update))
        .add_systems(EguiPrimaryContextPass, compare_window);
}

/// One side of the comparison as the window edits it.
#[derive(Debug, Clone)]
pub struct Side {
    pub live: bool,
    /// A run folder or checkpoint folder (when not live).
    pub path: String,
}

impl Side {
    /// Picks `agent` (a live side keeps the path typed for a checkpoint).
    fn show(&mut self, agent: &AgentRef) {
        match agent {
            AgentRef::Live => self.live = true,
            AgentRef::Checkpoint(path) => {
                self.live = false;
                self.path = path.display().to_string();
            }
        }
    }

    fn agent(&self) -> AgentRef {
        if self.live {
            AgentRef::Live
        } else {
            AgentRef::Checkpoint(PathBuf::from(self.path.trim()))
        }
    }
}

#[derive(Resource, Debug)]
pub struct CompareState {
    pub open: bool,
    pub sides: [Side; 2],
    /// Mazes played side by side.
    pub count: usize,
}

impl Default for CompareState {
    fn default() -> Self {
        Self {
            open: false,
            sides: [
                Side {
                    live: false,
                    path: "assets/checkpoints/corner-conv-7x7".into(),
                },
                Side {
                    live: true,
                    path: "runs/".into(),
                },
            ],
            count: 12,
        }
    }
}

/// A new comparison goes on stage as a playlist, one maze at a time, and the window's picker
/// shows the two agents it compared (it may have been asked for by a timed command).
fn show_new_comparison(
    comparisons: Res<Comparisons>,
    mut seen: Local<u64>,
    mut stage: ResMut<Stage>,
    mut state: ResMut<CompareState>,
    mut next_mode: ResMut<NextState<Mode>>,
) {
    if comparisons.received == *seen {
        return;
    }
    *seen = comparisons.received;
    let Some(c) = &comparisons.latest else {
        return;
    };
    for (side, agent) in state.sides.iter_mut().zip(&c.agents) {
        side.show(agent);
    }
    let pages = paired_playlist(&c.pairs, [&c.names[0], &c.names[1]]);
    if !pages.is_empty() {
        stage.pending = None;
        stage.show_playlist(pages);
        next_mode.set(Mode::Watch);
    }
}

fn compare_window(
    mut contexts: EguiContexts,
    mut state: ResMut<CompareState>,
    comparisons: Res<Comparisons>,
    mut send: MessageWriter<SendCommand>,
) -> Result {
    if !state.open {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?.clone();
    let mut open = true;
    egui::Window::new("Compare two agents")
        .default_pos([360.0, 40.0])
        .default_size([560.0, 520.0])
        .vscroll(true)
        .open(&mut open)
        .show(&ctx, |ui| {
            let state = &mut *state;
            for (i, side) in state.sides.iter_mut().enumerate() {
                ui.horizontal(|ui| {
                    ui.label(if i == 0 { "left" } else { "right" });
                    ui.checkbox(&mut side.live, "live agent")
                        .on_hover_text("the agent this session is training");
                    ui.add_enabled(
                        !side.live,
                        egui::TextEdit::singleline(&mut side.path).desired_width(300.0),
                    )
                    .on_hover_text("a run folder (its newest checkpoint) or a checkpoint-* folder");
                });
            }
            ui.add(egui::Slider::new(&mut state.count, 1..=40).text("mazes side by side"));
            if ui
                .button("Play both on the same mazes")
                .on_hover_text(format!(
                    "the session's shifted mazes: these side by side on stage, and both agents' \
                     rates on the same {COMPARE_EPISODES} test mazes"
                ))
                .clicked()
            {
                send.write(SendCommand(Command::Compare {
                    agents: [state.sides[0].agent(), state.sides[1].agent()],
                    count: state.count,
                }));
            }
            ui.separator();
            let Some(c) = &comparisons.latest else {
                ui.label("no comparison yet");
                return;
            };
            let agents: Vec<(String, &crate::sim::OutcomeSummary)> = c
                .names
                .iter()
                .cloned()
                .zip(c.outcomes.iter().map(|o| &o.summary))
                .collect();
            agents_chart(
                ui,
                &agents,
                egui::vec2(ui.available_width().min(540.0), 260.0),
            );
            let t = &c.cheese_test;
            ui.label(format!(
                "cheese first on the same mazes: only {} solved {} · only {} solved {} · \
                 McNemar p = {:.2e}",
                c.names[0], t.only_first, c.names[1], t.only_second, t.p_value
            ));
            if t.p_value < 0.01 {
                ui.colored_label(Color32::LIGHT_GREEN, "a significant difference (p < 0.01)");
            } else {
                ui.colored_label(Color32::GRAY, "no significant difference (p >= 0.01)");
            }
        });
    state.open = open;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_shows_the_agents_a_comparison_was_asked_for() {
        let mut state = CompareState::default();
        let asked = [
            AgentRef::Checkpoint(PathBuf::from("assets/checkpoints/corner-7x7")),
            AgentRef::Live,
        ];
        for (side, agent) in state.sides.iter_mut().zip(&asked) {
            side.show(agent);
        }
        assert_eq!(
            [state.sides[0].agent(), state.sides[1].agent()],
            asked,
            "left is what was asked first"
        );
        // A live side keeps the path typed for a checkpoint, to switch back.
        state.sides[0].show(&AgentRef::Live);
        assert!(state.sides[0].live);
        assert_eq!(state.sides[0].path, "assets/checkpoints/corner-7x7");
    }
}
