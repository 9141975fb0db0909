//! The feedback round's last part in the round window: which arm fine-tuning runs (and on which
//! levels), and the before/after table on the same shifted mazes once it ends.

use crate::experiment::round::{Arm, BeforeAfter};
use crate::sim::Rate;
use crate::trainer::{Command, FineTuningView, Phase};
use bevy_egui::egui::{self, Color32, RichText};

/// The arm picker and the start button; returns the commands to send.
pub(super) fn controls(
    ui: &mut egui::Ui,
    arm: &mut Arm,
    phase: Option<Phase>,
    has_reward_model: bool,
) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        ui.label("fine-tune as");
        let before = *arm;
        egui::ComboBox::from_id_salt("fine-tuning-arm")
            .selected_text(arm.name())
            .show_ui(ui, |ui| {
                for choice in Arm::ALL {
                    ui.selectable_value(arm, choice, choice.name())
                        .on_hover_text(choice.describe());
                }
            });
        if *arm != before {
            commands.push(Command::SetArm(*arm));
        }
        let ready = match phase {
            Some(Phase::RewardModelReady) => true,
            Some(Phase::ReviewLabels) => !arm.uses_reward_model(),
            _ => false,
        } && (has_reward_model || !arm.uses_reward_model());
        if ui
            .add_enabled(ready, egui::Button::new("Start fine-tuning"))
            .on_hover_text(arm.describe())
            .clicked()
        {
            commands.push(Command::StartFineTuning);
        }
    });
    ui.small(arm.describe());
    commands
}

/// The fine-tuning under way and, once it ended, the before/after table.
pub(super) fn status(
    ui: &mut egui::Ui,
    tuning: Option<&FineTuningView>,
    table: Option<&BeforeAfter>,
) {
    if let Some(view) = tuning {
        ui.label(format!(
            "fine-tuning: {} arm on {} (until step {})",
            view.arm, view.levels, view.until_step
        ));
    }
    let Some(t) = table else {
        return;
    };
    ui.label(
        RichText::new(format!(
            "Before / after ({} arm), the same {} shifted mazes",
            t.arm, t.before.summary.episodes
        ))
        .strong(),
    );
    egui::Grid::new("before-after")
        .striped(true)
        .show(ui, |ui| {
            for h in ["", "cheese", "corner first", "neither"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for (name, s) in [("before", &t.before.summary), ("after", &t.after.summary)] {
                ui.label(name);
                for rate in [s.cheese, s.corner, s.neither] {
                    ui.label(rate_text(rate));
                }
                ui.end_row();
            }
        });
    let gain = 100.0 * (t.after.summary.cheese.rate - t.before.summary.cheese.rate);
    let color = if t.cheese_test.second_better(0.01) {
        Color32::LIGHT_GREEN
    } else {
        Color32::YELLOW
    };
    ui.colored_label(
        color,
        format!(
            "cheese {gain:+.1} points; McNemar p = {:.1e} ({} mazes only after, {} only before)",
            t.cheese_test.p_value, t.cheese_test.only_second, t.cheese_test.only_first
        ),
    );
}

/// A rate with its 95% interval, as the tables print it.
pub(super) fn rate_text(rate: Rate) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        100.0 * rate.rate,
        100.0 * rate.low,
        100.0 * rate.high
    )
}
