//! The feedback round's last part in the round window: which arm fine-tuning runs (and on which
//! levels), and the before/after table and bar chart on the same shifted mazes once it ends (the
//! demo shows the same chart).

use crate::experiment::arm::Arm;
use crate::experiment::round::BeforeAfter;
use crate::sim::Rate;
use crate::trainer::{Command, FineTuningView, Phase, SessionSettings};
use bevy_egui::egui::{self, Color32, RichText};

/// The arm picker, the controls switch and the start button; returns the commands to send.
pub(super) fn controls(
    ui: &mut egui::Ui,
    settings: &mut SessionSettings,
    phase: Option<Phase>,
    has_reward_model: bool,
) -> Vec<Command> {
    let mut commands = Vec::new();
    let arm = &mut settings.arm;
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
    let mut with_controls = !settings.controls.is_empty();
    let names: Vec<&str> = Arm::CONTROLS.iter().map(|a| a.name()).collect();
    if ui
        .checkbox(&mut with_controls, "then train the LLM-free controls")
        .on_hover_text(format!(
            "when fine-tuning ends, fine-tune {} from the same paused agent for the same steps \
             and set them beside it on the same mazes (McNemar's p against each); takes about \
             as long again per control",
            names.join(" and ")
        ))
        .changed()
    {
        settings.controls = if with_controls {
            Arm::CONTROLS.to_vec()
        } else {
            Vec::new()
        };
        commands.push(Command::SetControls(settings.controls.clone()));
    }
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
            for (name, s) in series(t) {
                ui.label(name);
                for rate in [s.cheese, s.corner, s.neither] {
                    ui.label(rate_text(rate));
                }
                ui.end_row();
            }
        });
    rate_chart(ui, t, egui::vec2(ui.available_width().min(520.0), 220.0));
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
    for (line, control) in control_lines(t).into_iter().zip(&t.controls) {
        ui.label(line).on_hover_text(format!(
            "{}: {}, fine-tuned from the same paused agent for the same steps, on the same \
             mazes (what the {} arm adds over it)",
            control.arm,
            control.arm.describe(),
            t.arm
        ));
    }
}

/// One line per control arm: the fine-tuned arm's cheese rate against it, with McNemar's p.
pub(super) fn control_lines(t: &BeforeAfter) -> Vec<String> {
    t.controls
        .iter()
        .map(|c| {
            let diff = 100.0 * (t.after.summary.cheese.rate - c.outcome.summary.cheese.rate);
            format!(
                "{} vs {}: cheese {diff:+.1} points, McNemar p = {:.1e} ({} mazes only {0}, {} \
                 only {1})",
                t.arm,
                c.arm,
                c.versus_tuned.p_value,
                c.versus_tuned.only_second,
                c.versus_tuned.only_first
            )
        })
        .collect()
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

/// Bar colours: the agent before feedback, the fine-tuned arm, then each control arm.
const SERIES_COLOURS: [Color32; 5] = [
    Color32::from_rgb(150, 152, 166),
    Color32::from_rgb(96, 200, 120),
    Color32::from_rgb(236, 160, 60),
    Color32::from_rgb(90, 150, 235),
    Color32::from_rgb(190, 110, 220),
];

/// The agents of a before/after table in chart order: before, the fine-tuned arm, the controls.
fn series(t: &BeforeAfter) -> Vec<(String, &crate::sim::OutcomeSummary)> {
    let mut all = vec![
        ("before feedback".to_string(), &t.before.summary),
        (format!("after: {}", t.arm), &t.after.summary),
    ];
    all.extend(
        t.controls
            .iter()
            .map(|c| (c.arm.name().to_string(), &c.outcome.summary)),
    );
    all
}

/// The before/after rates as a bar chart: cheese, corner first and neither, each agent's rate
/// (before, the fine-tuned arm and each control arm) as a bar with its 95% interval as a whisker
/// and the rate written above. `size` in points.
pub(super) fn rate_chart(ui: &mut egui::Ui, t: &BeforeAfter, size: egui::Vec2) {
    agents_chart(ui, &series(t), size);
}

/// The rates of several agents on the same mazes as [`rate_chart`] draws them, one colour per
/// agent in order.
pub(super) fn agents_chart(
    ui: &mut egui::Ui,
    agents: &[(String, &crate::sim::OutcomeSummary)],
    size: egui::Vec2,
) {
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let text = |size: f32| egui::FontId::proportional(size);
    let axis = Color32::from_gray(120);
    let Some(episodes) = agents.first().map(|a| a.1.episodes) else {
        return;
    };
    let colour = |i: usize| SERIES_COLOURS[i.min(SERIES_COLOURS.len() - 1)];

    // The legend, wrapped onto as many rows as the width needs.
    let mut legend = Vec::new();
    let (mut x, mut row) = (rect.left() + 40.0, 0);
    for (i, (name, _)) in agents.iter().enumerate() {
        let galley = painter.layout_no_wrap(name.clone(), text(15.0), Color32::LIGHT_GRAY);
        let width = 20.0 + galley.size().x;
        if x + width > rect.right() && x > rect.left() + 40.0 {
            (x, row) = (rect.left() + 40.0, row + 1);
        }
        legend.push((
            egui::pos2(x, rect.top() + 4.0 + 20.0 * row as f32),
            galley,
            i,
        ));
        x += width + 18.0;
    }
    let legend_h = 20.0 * (row + 1) as f32 + 20.0;
    for (at, galley, i) in legend {
        painter.rect_filled(
            egui::Rect::from_min_size(at, egui::vec2(14.0, 14.0)),
            2.0,
            colour(i),
        );
        painter.galley(at + egui::vec2(20.0, -1.0), galley, Color32::LIGHT_GRAY);
    }
    painter.text(
        egui::pos2(rect.left() + 40.0, rect.top() + legend_h - 8.0),
        egui::Align2::LEFT_CENTER,
        format!("share of {episodes} shifted mazes, with 95% intervals (Wilson)"),
        text(13.0),
        axis,
    );

    let label_h = 22.0;
    let plot = egui::Rect::from_min_max(
        rect.min + egui::vec2(40.0, legend_h + 18.0),
        rect.max - egui::vec2(8.0, label_h),
    );
    let y_of = |rate: f64| plot.bottom() - plot.height() * rate.clamp(0.0, 1.0) as f32;
    for tick in [0.0, 0.5, 1.0] {
        let y = y_of(tick);
        painter.hline(
            plot.x_range(),
            y,
            egui::Stroke::new(1.0, axis.gamma_multiply(0.5)),
        );
        painter.text(
            egui::pos2(plot.left() - 6.0, y),
            egui::Align2::RIGHT_CENTER,
            format!("{:.0}%", 100.0 * tick),
            text(13.0),
            axis,
        );
    }
    type Pick = fn(&crate::sim::OutcomeSummary) -> Rate;
    let groups: [(&str, Pick); 3] = [
        ("cheese", |s| s.cheese),
        ("corner first", |s| s.corner),
        ("neither", |s| s.neither),
    ];
    let group_w = plot.width() / groups.len() as f32;
    let n = agents.len() as f32;
    let gap = 4.0;
    let bar_w = ((group_w * 0.85 - gap * (n - 1.0)) / n).clamp(6.0, 70.0);
    let value_size = (bar_w * 0.45).clamp(11.0, 16.0);
    for (g, (name, pick)) in groups.iter().enumerate() {
        let centre = plot.left() + group_w * (g as f32 + 0.5);
        for (k, (_, summary)) in agents.iter().enumerate() {
            let rate = pick(summary);
            let x = centre + (k as f32 - (n - 1.0) / 2.0) * (bar_w + gap);
            let bar = egui::Rect::from_min_max(
                egui::pos2(x - bar_w / 2.0, y_of(rate.rate)),
                egui::pos2(x + bar_w / 2.0, plot.bottom()),
            );
            painter.rect_filled(bar, 2.0, colour(k));
            let whisker = egui::Stroke::new(2.0, Color32::WHITE);
            let (lo, hi) = (y_of(rate.low), y_of(rate.high));
            painter.vline(x, lo..=hi, whisker);
            for y in [lo, hi] {
                painter.hline(x - bar_w * 0.2..=x + bar_w * 0.2, y, whisker);
            }
            painter.text(
                egui::pos2(x, hi - 3.0),
                egui::Align2::CENTER_BOTTOM,
                format!("{:.0}%", 100.0 * rate.rate),
                text(value_size),
                Color32::WHITE,
            );
        }
        painter.text(
            egui::pos2(centre, plot.bottom() + 3.0),
            egui::Align2::CENTER_TOP,
            *name,
            text(16.0),
            Color32::LIGHT_GRAY,
        );
    }
}
