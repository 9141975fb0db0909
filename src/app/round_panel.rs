//! The LLM feedback round's window: the judge's analysis and proposed scenarios for review, the
//! labelled pairs as side-by-side replays with overrides, the judge's diagnostics, the reward
//! model's table, and fine-tuning (its controls in `fine_tune_panel`).

use super::bridge::RoundLog;
use super::glyphs::for_panels;
use super::icons;
use super::kit::Outputs;
use super::palette::c32;
use super::scene::corner_first_step;
use crate::level::{Layout, Pos};
use crate::llm::{Choice, JudgeKind};
use crate::sim::render::colors;
use crate::trainer::{Command, Phase};
use bevy_egui::egui::{self, Color32, RichText};

/// How far a judge's labels can be trusted, from its measured controlled agreement.
pub fn reliability(kind: JudgeKind, agreement: Option<f64>) -> (String, Color32) {
    match kind {
        JudgeKind::Oracle => {
            return (
                "answers from the true outcome (scripted)".into(),
                Color32::GRAY,
            );
        }
        JudgeKind::Human => return ("your own labels".into(), Color32::GRAY),
        JudgeKind::Random | JudgeKind::RandomAnswers => {
            return ("a control: random answers".into(), Color32::GRAY);
        }
        JudgeKind::Http | JudgeKind::Embedded => {}
    }
    match agreement {
        Some(a) if a >= 0.70 => (
            format!("measured agreement {:.0}%", 100.0 * a),
            Color32::LIGHT_GREEN,
        ),
        Some(a) => (
            format!(
                "measured agreement {:.0}%: unreliable (below 70%)",
                100.0 * a
            ),
            Color32::from_rgb(255, 120, 90),
        ),
        None => (
            "agreement not measured (run `maze-rllf judge-eval`)".into(),
            Color32::YELLOW,
        ),
    }
}

/// Draws `layout` with `path` walked up to step `t` into a `side`-pixel square.
fn mini_replay(ui: &mut egui::Ui, layout: &Layout, path: &[Pos], t: f32, side: f32) {
    let (response, painter) = ui.allocate_painter(egui::vec2(side, side), egui::Sense::hover());
    let cell = side / layout.size as f32;
    let rect_of = |p: Pos, inset: f32| {
        egui::Rect::from_min_size(
            response.rect.min
                + egui::vec2(p.col as f32 * cell + inset, p.row as f32 * cell + inset),
            egui::vec2(cell - 2.0 * inset, cell - 2.0 * inset),
        )
    };
    for row in 0..layout.size {
        for col in 0..layout.size {
            let p = Pos::new(row, col);
            let color = if layout.is_wall(p) {
                colors::WALL
            } else {
                colors::FLOOR
            };
            painter.rect_filled(rect_of(p, 0.0), 0.0, c32(color));
        }
    }
    let shown = ((t as usize) + 1).min(path.len());
    let centre = |p: Pos| rect_of(p, 0.0).center();
    painter.rect_filled(rect_of(layout.corner, cell * 0.3), 0.0, c32(colors::CORNER));
    icons::cheese(&painter, centre(layout.cheese), cell * 0.9);
    icons::trail(
        &painter,
        path[..shown].iter().map(|p| centre(*p)).collect(),
        (cell * 0.18).max(2.0),
    );
    let walked = &path[..shown];
    if walked.contains(&layout.cheese) {
        icons::reached(&painter, centre(layout.cheese), cell * 0.45);
    }
    // As in the scene: the corner is marked when it was reached before the cheese.
    if corner_first_step(layout, walked).is_some() {
        icons::corner_first(&painter, centre(layout.corner), cell * 0.4);
    }
    if let Some(p) = walked.last() {
        let before = walked.iter().rev().find(|q| *q != p).copied().unwrap_or(*p);
        let heading = egui::vec2(
            p.col as f32 - before.col as f32,
            p.row as f32 - before.row as f32,
        );
        icons::mouse(&painter, centre(*p), cell, heading);
    }
}

fn choice_text(c: Option<Choice>, first_is_a: bool) -> &'static str {
    match (c, first_is_a) {
        (None, _) => "no answer",
        (Some(Choice::Tie), _) => "equal",
        (Some(Choice::First), true) | (Some(Choice::Second), false) => "A",
        _ => "B",
    }
}

/// What the round window shows and edits.
pub(super) struct RoundWindow<'a> {
    pub phase: Option<Phase>,
    pub round: &'a mut RoundLog,
    /// Why the session's judge is not the one asked for, if it is not.
    pub judge_note: Option<&'a str>,
    /// The page of labelled pairs shown.
    pub page: &'a mut usize,
    /// The next session's settings (fine-tuning's arm and share are set here).
    pub settings: &'a mut crate::trainer::SessionSettings,
}

/// The feedback round's window: the analysis and scenarios, the labelled pairs, the reward
/// model and fine-tuning.
pub(super) fn window(ui: &mut egui::Ui, w: RoundWindow, out: &mut Outputs, now: f32) {
    let phase = w.phase;
    ui.label(RichText::new(phase.map_or("", |p| p.label())).strong());
    if w.round.analysis.is_none() {
        ui.label("No round yet: press \"Start LLM feedback round\".");
        return;
    }
    analysis_and_scenarios(ui, w.round, w.judge_note, phase, out);
    ui.separator();
    pairs(ui, w.round, w.page, now, out);
    ui.separator();
    reward_and_fine_tuning(ui, w.round, w.settings, phase, out);
}

/// What the judge read and said, and the scenarios it proposed, to check before rollouts.
fn analysis_and_scenarios(
    ui: &mut egui::Ui,
    round: &mut RoundLog,
    judge_note: Option<&str>,
    phase: Option<Phase>,
    out: &mut Outputs,
) {
    let Some(analysis) = &round.analysis else {
        return;
    };
    let (note, color) = reliability(analysis.kind, analysis.judge_agreement);
    ui.colored_label(color, format!("judge {}: {note}", analysis.judge));
    if let Some(fallback) = judge_note {
        ui.colored_label(Color32::YELLOW, fallback);
    }
    ui.collapsing(format!("Analysis by {}", analysis.judge), |ui| {
        let diagnosis = format!("diagnosis: {}", analysis.diagnosis.words());
        match analysis.diagnosis {
            crate::llm::Diagnosis::Unstated => ui.colored_label(Color32::YELLOW, diagnosis),
            _ => ui.label(diagnosis),
        }
        .on_hover_text(
            "What the judge says the agent pursues. judge-eval --diagnosis measures how often \
             each judge names it right on agents it was not tuned on.",
        );
        for f in &analysis.failure_modes {
            ui.label(format!("• {}", for_panels(f)));
        }
        egui::ScrollArea::vertical()
            .id_salt("analysis")
            .max_height(140.0)
            .show(ui, |ui| ui.label(for_panels(&analysis.text)));
        ui.small(format!(
            "the judge read {} episodes on the training mazes and {} probes (cheese anywhere)",
            analysis.shown.training.len(),
            analysis.shown.probes.len()
        ));
    });
    ui.label(RichText::new("Proposed scenarios").strong());
    if analysis.scenarios.is_empty() {
        ui.colored_label(
            Color32::GRAY,
            "none that changes the mazes: the rollouts and the designer stay on the training \
             mazes (nothing stands in)",
        );
    }
    for (i, s) in analysis.scenarios.iter().enumerate() {
        if let Some(keep) = round.accepted.get_mut(i) {
            ui.checkbox(keep, &s.title);
        }
    }
    for r in &analysis.rejected {
        ui.colored_label(Color32::GRAY, format!("rejected: {}", for_panels(r)));
    }
    if phase == Some(Phase::ReviewScenarios)
        && ui
            .button("Use the checked scenarios")
            .on_hover_text("roll the agent out in these and let the judge compare pairs")
            .clicked()
    {
        out.send(Command::ReviewScenarios(round.accepted.clone()));
    }
}

/// The labelled pairs, a page at a time: both replays, the judge's answers in both orders and
/// the user's override.
fn pairs(ui: &mut egui::Ui, round: &mut RoundLog, page: &mut usize, now: f32, out: &mut Outputs) {
    ui.label(RichText::new(format!("Pairs ({})", round.labels.len())).strong());
    if let Some(stats) = &round.stats {
        ui.label(format!(
            "position bias: first {:.0}% / second {:.0}% / tie {:.0}%  ·  order flips {:.0}%  ·  agreement with the true outcome {:.0}% (decisive pairs {:.0}%)  ·  failures {}",
            100.0 * stats.first_share,
            100.0 * stats.second_share,
            100.0 * stats.tie_share,
            100.0 * stats.order_flips,
            100.0 * stats.oracle_agreement,
            100.0 * stats.oracle_agreement_decisive,
            stats.failures
        ));
        let (note, color) = round
            .analysis
            .as_ref()
            .map_or((String::new(), Color32::GRAY), |a| {
                reliability(a.kind, a.judge_agreement)
            });
        ui.colored_label(color, format!("these labels come from a judge with {note}"));
    }
    const PER_PAGE: usize = 3;
    let pages = round.labels.len().div_ceil(PER_PAGE).max(1);
    *page = (*page).min(pages - 1);
    ui.horizontal(|ui| {
        if ui.small_button("◀").clicked() {
            *page = (*page).saturating_sub(1);
        }
        ui.label(format!("page {} / {pages}", *page + 1));
        if ui.small_button("▶").clicked() {
            *page = (*page + 1).min(pages - 1);
        }
    });
    let start = *page * PER_PAGE;
    for index in start..(start + PER_PAGE).min(round.labels.len()) {
        pair(ui, round, index, now, out);
    }
}

/// One labelled pair: both replays side by side, the judge's answers and the user's override.
fn pair(ui: &mut egui::Ui, round: &mut RoundLog, index: usize, now: f32, out: &mut Outputs) {
    let view = &round.labels[index];
    let longest = view.first.path.len().max(view.second.path.len()) as f32;
    let t = (now * 6.0) % (longest + 6.0);
    ui.group(|ui| {
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label("A");
                mini_replay(ui, &view.first.layout, &view.first.path, t, 120.0);
            });
            ui.vertical(|ui| {
                ui.label("B");
                mini_replay(ui, &view.second.layout, &view.second.path, t, 120.0);
            });
            ui.vertical(|ui| {
                let l = &view.label;
                ui.label(format!(
                    "A shown first: {}  ·  B shown first: {}",
                    choice_text(l.answers[0], true),
                    choice_text(l.answers[1], false)
                ));
                ui.label(format!("judge's label: P(A better) = {:.2}", l.mu_first));
                for r in l.rationales.iter().filter(|r| !r.is_empty()) {
                    ui.small(for_panels(r));
                }
                let current = round.overrides.get(index).copied().flatten();
                ui.horizontal(|ui| {
                    ui.label("you:");
                    for (label, value) in [
                        ("A", Some(1.0)),
                        ("B", Some(0.0)),
                        ("equal", Some(0.5)),
                        ("judge", None),
                    ] {
                        if ui.selectable_label(current == value, label).clicked() {
                            if let Some(slot) = round.overrides.get_mut(index) {
                                *slot = value;
                            }
                            out.send(Command::OverrideLabel {
                                pair: index,
                                mu_first: value,
                            });
                        }
                    }
                });
            });
        });
    });
}

/// The reward model's training and held-out table, before/after, and fine-tuning.
fn reward_and_fine_tuning(
    ui: &mut egui::Ui,
    round: &RoundLog,
    settings: &mut crate::trainer::SessionSettings,
    phase: Option<Phase>,
    out: &mut Outputs,
) {
    ui.horizontal(|ui| {
        let can_train = matches!(phase, Some(Phase::ReviewLabels | Phase::RewardModelReady));
        if ui
            .add_enabled(can_train, egui::Button::new("Train reward model"))
            .clicked()
        {
            out.send(Command::TrainRewardModel);
        }
        if ui
            .button("Before / after")
            .on_hover_text("the agent of the round's start and the current one on the same mazes")
            .clicked()
        {
            out.send(Command::CompareWithBaseline {
                count: super::COMPARISON_MAZES,
            });
        }
    });
    let has_reward_model = round.reward.is_some();
    for command in super::fine_tune_panel::controls(ui, settings, phase, has_reward_model) {
        out.send(command);
    }
    super::fine_tune_panel::status(ui, round.fine_tuning.as_ref(), round.before_after.as_ref());
    if let Some(report) = &round.reward {
        ui.label(RichText::new("Reward model (held-out pairs)").strong());
        egui::Grid::new("rm").striped(true).show(ui, |ui| {
            for h in ["class", "precision", "recall", "F1", "support"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for row in &report.table {
                ui.label(&row.label);
                ui.label(format!("{:.2}", row.precision));
                ui.label(format!("{:.2}", row.recall));
                ui.label(format!("{:.2}", row.f1));
                ui.label(row.support.to_string());
                ui.end_row();
            }
        });
        ui.small(format!(
            "mean R_hat per step: onto the cheese {:.3}, other moves {:.3}, wall bumps {:.3}",
            report.cheese_step_reward, report.other_step_reward, report.bump_step_reward
        ));
    }
}
