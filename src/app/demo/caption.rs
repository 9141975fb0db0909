//! The demo on screen: the story's steps in the left column and the caption over the stage that
//! says what the current step shows and what was measured.

use super::*;

/// What the demo's captions read: where the story is and the session's logs.
#[derive(Clone, Copy)]
pub(in crate::app) struct DemoView<'a> {
    pub demo: &'a DemoState,
    pub log: &'a TrainingLog,
    pub round: &'a RoundLog,
    /// Why the session's judge is not the one asked for, if it is not.
    pub judge_note: Option<&'a str>,
}

/// The story's steps in the left column, the current one highlighted.
pub(in crate::app) fn controls(ui: &mut egui::Ui, demo: &DemoState) {
    ui.label("Right or Space: next · Left: back · F: full screen");
    for (i, step) in STEPS.iter().enumerate() {
        let text = step.title();
        if i == demo.index {
            ui.label(RichText::new(text).strong().color(Color32::WHITE));
        } else {
            ui.label(RichText::new(text).color(Color32::GRAY));
        }
    }
}

/// Height of the demo's bottom strip: taller for the before/after chart.
pub(in crate::app) fn caption_height(m: DemoView) -> f32 {
    match &m.round.before_after {
        Some(t) if m.demo.step() == DemoStep::BeforeAfter && !t.controls.is_empty() => 330.0,
        Some(_) if m.demo.step() == DemoStep::BeforeAfter => 260.0,
        _ => 170.0,
    }
}

/// The current step's title, text and live numbers in the bottom strip; at the before/after
/// step, the measured rates as a bar chart beside them.
pub(in crate::app) fn caption(ui: &mut egui::Ui, m: DemoView) {
    let step = m.demo.step();
    let chart = m
        .round
        .before_after
        .as_ref()
        .filter(|_| step == DemoStep::BeforeAfter);
    let chart_width = if chart.is_some() {
        (ui.available_width() * 0.5).min(560.0)
    } else {
        0.0
    };
    let text_width = ui.available_width() - chart_width;
    ui.horizontal_top(|ui| {
        ui.allocate_ui_with_layout(
            egui::vec2(text_width, ui.available_height()),
            egui::Layout::top_down(egui::Align::Min),
            |ui| {
                ui.set_max_width(text_width - 12.0);
                ui.label(RichText::new(step.title()).size(24.0).strong());
                ui.label(RichText::new(step.body()).size(16.0));
                let facts = demo_facts(m);
                if !facts.is_empty() {
                    let facts = crate::app::glyphs::for_panels(&facts);
                    ui.label(RichText::new(facts).size(16.0).color(Color32::LIGHT_BLUE));
                }
            },
        );
        if let Some(t) = chart {
            let height = ui.available_height().max(160.0);
            crate::app::fine_tune_panel::rate_chart(ui, t, egui::vec2(chart_width, height));
        }
    });
}

/// The live numbers behind the current demo step.
fn demo_facts(m: DemoView) -> String {
    let eval = m.log.evaluations.last();
    match m.demo.step() {
        DemoStep::Training => m.log.latest().map_or(String::new(), |it| {
            format!(
                "{} env steps · cheese reached in {:.0}% of training episodes",
                it.global_step,
                100.0 * it.cheese_rate
            )
        }),
        DemoStep::BeforeAfter => match &m.round.before_after {
            Some(t) => {
                let mut facts = format!(
                    "On the same {} shifted mazes: cheese {} before, {} after ({} arm): {:+.1} \
                     points, McNemar p = {:.1e} ({} mazes solved only after, {} only before).",
                    t.before.summary.episodes,
                    rate_text(t.before.summary.cheese),
                    rate_text(t.after.summary.cheese),
                    t.arm,
                    100.0 * (t.after.summary.cheese.rate - t.before.summary.cheese.rate),
                    t.cheese_test.p_value,
                    t.cheese_test.only_second,
                    t.cheese_test.only_first
                );
                for c in &t.controls {
                    facts.push_str(&format!(
                        "\n{} vs {}: {:+.1} points, p = {:.1e}",
                        t.arm,
                        c.arm,
                        100.0 * (t.after.summary.cheese.rate - c.outcome.summary.cheese.rate),
                        c.versus_tuned.p_value
                    ));
                }
                facts
            }
            None => "measuring…".into(),
        },
        DemoStep::FineTuning if m.log.phase == Some(Phase::Controls) => m.log.status.clone(),
        DemoStep::FineTuning => m.round.fine_tuning.as_ref().map_or(String::new(), |f| {
            let (step, sps) = m.log.latest().map_or((0, 0.0), |it| (it.global_step, it.sps));
            format!(
                "{} arm on {} · step {step} of {} · {sps:.0} steps/s",
                f.arm, f.levels, f.until_step
            )
        }),
        DemoStep::Shifted => eval.map_or(String::new(), |e| {
            format!(
                "on shifted mazes: cheese {:.0}% · corner first {:.0}% · neither {:.0}% ({} episodes)",
                100.0 * e.shifted.cheese.rate,
                100.0 * e.shifted.corner.rate,
                100.0 * e.shifted.neither.rate,
                e.shifted.episodes
            )
        }),
        DemoStep::Analysis => m.round.analysis.as_ref().map_or(
            "the judge is reading…".into(),
            |a| {
                let first: String = a.text.chars().take(220).collect();
                let note = m
                    .judge_note
                    .map_or(String::new(), |n| format!("Note: {n}.\n"));
                format!(
                    "{note}{} ({}): \"{first}…\" Proposed: {}",
                    a.judge,
                    reliability(a.kind, a.judge_agreement).0,
                    a.scenarios
                        .iter()
                        .map(|s| s.title.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        DemoStep::Labels => match &m.round.stats {
            Some(s) => format!(
                "{} pairs · first-position share {:.0}% · agreement with the true outcome {:.0}%",
                m.round.labels.len(),
                100.0 * s.first_share,
                100.0 * s.oracle_agreement
            ),
            None => format!("{} pairs labelled so far", m.round.labels.len()),
        },
        DemoStep::RewardModel => m.round.reward.as_ref().map_or(String::new(), |r| {
            r.table
                .iter()
                .map(|c| format!("{}: F1 {:.2}", c.label, c.f1))
                .collect::<Vec<_>>()
                .join(" · ")
        }),
        DemoStep::Title | DemoStep::End => String::new(),
    }
}
