//! The egui panels: run controls, scene and overlay toggles, live plots, the LLM feedback round
//! (analysis, scenario review, pairs as side-by-side replays with human overrides, judge and reward
//! model tables), the level editor's canvas and tools, demo captions, recording and errors.

use super::Mode;
use super::bridge::{JudgeNote, Notices, RoundLog, SendCommand, SessionDraft, TrainingLog};
use super::demo::{DemoState, STEPS};
use super::editor::{EditorAction, EditorState};
use super::fine_tune_panel::rate_text;
use super::record::Record;
use super::scene::{Arrangement, Overlays, Playback, Stage, View};
use super::view::PanelInsets;
use crate::level::edit::Tile;
use crate::level::{Generator, Layout, Pos};
use crate::llm::Choice;
use crate::llm::http::HttpConfig;
use crate::llm::oracle::OracleConfig;
use crate::sim::render::colors;
use crate::trainer::{Command, JudgeChoice, Phase, ShowLevels};
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};
use egui_plot::{Legend, Line, Plot, Points};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PanelState>()
        .add_systems(EguiPrimaryContextPass, draw_panels);
}

/// Which judge the run panel configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PanelJudge {
    Oracle,
    Http,
    #[cfg(feature = "embedded")]
    Embedded,
}

/// How far a judge's labels can be trusted, from its measured controlled agreement.
pub fn reliability(judge: &str, agreement: Option<f64>) -> (String, Color32) {
    if judge.starts_with("oracle") {
        return (
            "answers from the true outcome (scripted)".into(),
            Color32::GRAY,
        );
    }
    if judge == "human" {
        return ("your own labels".into(), Color32::GRAY);
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

/// What the panels remember between frames.
#[derive(Resource)]
struct PanelState {
    round_open: bool,
    plot: PlotTab,
    page: usize,
    http: HttpConfig,
    judge: PanelJudge,
    judge_from_settings: bool,
    #[cfg(feature = "embedded")]
    embedded: crate::llm::embedded::EmbeddedConfig,
    /// Measured agreement per "model/prompt", read once from the measurements file.
    #[cfg(feature = "embedded")]
    measured: std::collections::HashMap<String, Option<f64>>,
    fill_seed: u64,
    resize_to: usize,
    show: ShowChoice,
    rounds_seen: u64,
}

impl Default for PanelState {
    fn default() -> Self {
        Self {
            round_open: false,
            plot: PlotTab::Rates,
            page: 0,
            http: HttpConfig::new("http://127.0.0.1:11434", "llama3.1:8b"),
            judge: PanelJudge::Oracle,
            judge_from_settings: false,
            #[cfg(feature = "embedded")]
            embedded: crate::llm::embedded::EmbeddedConfig::default(),
            #[cfg(feature = "embedded")]
            measured: std::collections::HashMap::new(),
            fill_seed: 1,
            resize_to: 7,
            show: ShowChoice::Training,
            rounds_seen: 0,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PlotTab {
    Rates,
    Return,
    Losses,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ShowChoice {
    Training,
    Shifted,
    OneMaze,
}

#[derive(SystemParam)]
struct Models<'w> {
    log: ResMut<'w, TrainingLog>,
    round: ResMut<'w, RoundLog>,
    notices: ResMut<'w, Notices>,
    draft: ResMut<'w, SessionDraft>,
    judge_note: Res<'w, JudgeNote>,
    playback: ResMut<'w, Playback>,
    view: ResMut<'w, View>,
    overlays: ResMut<'w, Overlays>,
    editor: ResMut<'w, EditorState>,
    demo: Res<'w, DemoState>,
    insets: ResMut<'w, PanelInsets>,
    panel: ResMut<'w, PanelState>,
    stage: ResMut<'w, Stage>,
}

#[derive(SystemParam)]
struct Outputs<'w> {
    commands: MessageWriter<'w, SendCommand>,
    editor: MessageWriter<'w, EditorAction>,
    record: MessageWriter<'w, Record>,
}

impl Outputs<'_> {
    fn send(&mut self, command: Command) {
        self.commands.write(SendCommand(command));
    }
}

fn c32(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

fn draw_panels(
    mut contexts: EguiContexts,
    mode: Res<State<Mode>>,
    mut next_mode: ResMut<NextState<Mode>>,
    time: Res<Time>,
    mut m: Models,
    mut out: Outputs,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let mode = *mode.get();
    // A new analysis opens the round window.
    if m.round.rounds > m.panel.rounds_seen {
        m.panel.rounds_seen = m.round.rounds;
        m.panel.round_open = true;
    }
    if m.playback.arrangement == Arrangement::Ghosts {
        m.panel.show = ShowChoice::OneMaze;
    }
    let left = egui::Panel::left("controls")
        .resizable(false)
        .exact_size(340.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("maze-rllf");
                ui.horizontal(|ui| {
                    for (label, target) in [
                        ("Watch", Mode::Watch),
                        ("Edit levels", Mode::Edit),
                        ("Demo", Mode::Demo),
                    ] {
                        if ui.selectable_label(mode == target, label).clicked() && mode != target {
                            next_mode.set(target);
                        }
                    }
                });
                ui.separator();
                match mode {
                    Mode::Watch => watch_controls(ui, &mut m, &mut out),
                    Mode::Edit => editor_controls(ui, &mut m, &mut out),
                    Mode::Demo => demo_controls(ui, &m),
                }
                ui.separator();
                scene_controls(ui, &mut m, &mut out, mode);
                ui.separator();
                legend(ui);
                errors(ui, &mut m.notices);
            });
        })
        .response
        .rect
        .width();
    let bottom = match mode {
        Mode::Watch => egui::Panel::bottom("plots")
            .resizable(false)
            .exact_size(220.0)
            .show(&mut root, |ui| plots(ui, &mut m))
            .response
            .rect
            .height(),
        Mode::Demo => egui::Panel::bottom("caption")
            .resizable(false)
            .exact_size(170.0)
            .show(&mut root, |ui| demo_caption(ui, &m))
            .response
            .rect
            .height(),
        Mode::Edit => 0.0,
    };
    *m.insets = PanelInsets {
        left,
        bottom,
        ..default()
    };
    if mode == Mode::Watch && m.panel.round_open {
        let mut open = true;
        egui::Window::new("LLM feedback round")
            .default_pos([left + 16.0, 16.0])
            .default_size([600.0, 600.0])
            .vscroll(true)
            .open(&mut open)
            .show(&ctx, |ui| {
                round_window(ui, &mut m, &mut out, time.elapsed_secs())
            });
        m.panel.round_open = open;
    }
    if m.panel.round_open {
        ctx.request_repaint();
    }
    Ok(())
}

fn watch_controls(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs) {
    let phase = m.log.phase;
    ui.label(RichText::new(phase.map_or("starting…", |p| p.label())).strong());
    if let Some(it) = m.log.latest() {
        ui.label(format!(
            "step {}  ·  {:.0} steps/s  ·  train cheese rate {:.0}%",
            it.global_step,
            it.sps,
            100.0 * it.cheese_rate
        ));
    }
    if !m.log.status.is_empty() {
        ui.small(&m.log.status);
    }
    ui.horizontal(|ui| {
        if ui.button("▶ Run").clicked() {
            out.send(Command::Run);
        }
        if ui.button("⏸ Pause").clicked() {
            out.send(Command::Pause);
        }
        if ui.button("Step").clicked() {
            out.send(Command::Step);
        }
        if ui.button("Evaluate").clicked() {
            out.send(Command::Evaluate);
        }
    });
    ui.horizontal(|ui| {
        let busy = matches!(
            phase,
            Some(Phase::Analysing | Phase::Labelling | Phase::TrainingRewardModel)
        );
        if ui
            .add_enabled(!busy, egui::Button::new("Start LLM feedback round"))
            .clicked()
        {
            out.send(Command::BeginFeedbackRound);
            m.panel.round_open = true;
        }
        if ui.button("Round…").clicked() {
            m.panel.round_open = true;
        }
    });
    ui.collapsing("Run settings (apply restarts)", |ui| {
        let s = &mut m.draft.settings;
        if !m.panel.judge_from_settings {
            // The panel starts on the judge the app was opened with.
            m.panel.judge_from_settings = true;
            m.panel.judge = match &s.judge {
                JudgeChoice::Oracle(_) => PanelJudge::Oracle,
                JudgeChoice::Http(h) => {
                    m.panel.http = h.clone();
                    PanelJudge::Http
                }
                #[cfg(feature = "embedded")]
                JudgeChoice::Embedded(e) => {
                    m.panel.embedded = e.clone();
                    PanelJudge::Embedded
                }
            };
        }
        let mut region = s.train.region.unwrap_or(1);
        ui.add(egui::Slider::new(&mut region, 0..=15).text("cheese region r"));
        s.train.region = Some(region);
        ui.horizontal(|ui| {
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut s.train.seed));
        });
        let mut lambda = s.round.lambda;
        if ui
            .add(egui::Slider::new(&mut lambda, 0.0..=1.0).text("lambda (R_hat share)"))
            .changed()
        {
            s.round.lambda = lambda;
            out.send(Command::SetLambda(lambda));
        }
        ui.add(egui::Slider::new(&mut s.round.pairs, 10..=1000).text("pairs"));
        ui.checkbox(&mut s.auto_review, "go through reviews without waiting");
        ui.horizontal(|ui| {
            ui.label("judge");
            ui.radio_value(&mut m.panel.judge, PanelJudge::Oracle, "oracle");
            ui.radio_value(
                &mut m.panel.judge,
                PanelJudge::Http,
                "HTTP (OpenAI-compatible)",
            );
            #[cfg(feature = "embedded")]
            ui.radio_value(
                &mut m.panel.judge,
                PanelJudge::Embedded,
                "embedded (offline)",
            );
        });
        #[cfg(feature = "embedded")]
        if m.panel.judge == PanelJudge::Embedded {
            ui.horizontal(|ui| {
                ui.label("model");
                egui::ComboBox::from_id_salt("embedded-model")
                    .selected_text(m.panel.embedded.model.clone())
                    .show_ui(ui, |ui| {
                        for known in crate::llm::embedded::KNOWN_MODELS {
                            ui.selectable_value(
                                &mut m.panel.embedded.model,
                                known.name.to_string(),
                                known.name,
                            );
                        }
                    });
                ui.label("prompt");
                egui::ComboBox::from_id_salt("embedded-prompt")
                    .selected_text(m.panel.embedded.prompt.clone())
                    .show_ui(ui, |ui| {
                        for name in crate::llm::embedded::PromptVariant::names() {
                            ui.selectable_value(&mut m.panel.embedded.prompt, name.clone(), name);
                        }
                    });
            });
            let key = format!("{}/{}", m.panel.embedded.model, m.panel.embedded.prompt);
            let panel = &mut *m.panel;
            let (model, prompt) = (&panel.embedded.model, &panel.embedded.prompt);
            let measured = *panel
                .measured
                .entry(key)
                .or_insert_with(|| crate::llm::embedded::measured_agreement(model, prompt));
            let (note, color) = reliability("embedded", measured);
            ui.colored_label(color, note);
            s.judge = JudgeChoice::Embedded(m.panel.embedded.clone());
        }
        if m.panel.judge == PanelJudge::Http {
            ui.horizontal(|ui| {
                ui.label("base URL");
                ui.text_edit_singleline(&mut m.panel.http.base_url);
            });
            ui.horizontal(|ui| {
                ui.label("model");
                ui.text_edit_singleline(&mut m.panel.http.model);
            });
            s.judge = JudgeChoice::Http(m.panel.http.clone());
        } else if m.panel.judge == PanelJudge::Oracle && !matches!(s.judge, JudgeChoice::Oracle(_))
        {
            s.judge = JudgeChoice::Oracle(OracleConfig {
                noise: 0.0,
                position_bias: 0.0,
            });
        }
        ui.small(format!("judge: {}", s.judge.label()));
        if ui.button("Apply and restart").clicked() {
            out.send(Command::Reset(Box::new(s.clone())));
            *m.log = TrainingLog::default();
            *m.round = RoundLog::default();
            m.stage.pending = None;
            m.stage.show(Vec::new());
        }
    });
}

fn scene_controls(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs, mode: Mode) {
    ui.label(RichText::new("Scene").strong());
    ui.horizontal(|ui| {
        ui.selectable_value(&mut *m.view, View::Flat, "2D");
        ui.selectable_value(&mut *m.view, View::Blocks, "3D (V)");
    });
    if mode == Mode::Watch {
        ui.horizontal(|ui| {
            let before = m.panel.show;
            ui.selectable_value(&mut m.panel.show, ShowChoice::Training, "training mazes");
            ui.selectable_value(&mut m.panel.show, ShowChoice::Shifted, "shifted");
            ui.selectable_value(&mut m.panel.show, ShowChoice::OneMaze, "one maze");
            if m.panel.show != before {
                let levels = match m.panel.show {
                    ShowChoice::Training => ShowLevels::Training,
                    ShowChoice::Shifted => ShowLevels::Shifted,
                    ShowChoice::OneMaze => match m.stage.slots.first() {
                        Some(s) => ShowLevels::Fixed(s.layout.clone()),
                        None => ShowLevels::Shifted,
                    },
                };
                m.playback.arrangement = if m.panel.show == ShowChoice::OneMaze {
                    Arrangement::Ghosts
                } else {
                    Arrangement::Grid
                };
                out.send(Command::Show(levels));
            }
        });
    }
    let p = &mut m.playback;
    ui.add(egui::Slider::new(&mut p.steps_per_second, 1.0..=60.0).text("steps / s"));
    ui.add(egui::Slider::new(&mut p.agents, 1..=16).text("agents"));
    ui.checkbox(&mut p.paused, "pause playback");
    ui.horizontal(|ui| {
        ui.checkbox(&mut m.overlays.heatmap, "visits");
        ui.checkbox(&mut m.overlays.arrows, "policy arrows");
        ui.checkbox(&mut m.overlays.reward, "learned reward");
    });
    ui.horizontal(|ui| {
        if ui.button("Screenshot (F12)").clicked() {
            out.record.write(Record::Screenshot(None));
        }
        if ui.button("Episode GIF (G)").clicked() {
            out.record.write(Record::EpisodeGif(None));
        }
    });
}

fn legend(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        for (color, label) in [
            (colors::WALL, "wall"),
            (colors::FLOOR, "floor"),
            (colors::MOUSE, "mouse"),
            (colors::CHEESE, "cheese"),
            (colors::CORNER, "corner (proxy goal)"),
            (super::scene::START, "start"),
        ] {
            ui.label(RichText::new("■").color(c32(color)).size(18.0));
            ui.label(label);
        }
    });
}

fn errors(ui: &mut egui::Ui, notices: &mut Notices) {
    if notices.errors.is_empty() {
        return;
    }
    ui.separator();
    ui.label(RichText::new("Problems").strong().color(Color32::LIGHT_RED));
    for e in &notices.errors {
        ui.colored_label(Color32::LIGHT_RED, e);
    }
    if ui.small_button("dismiss").clicked() {
        notices.errors.clear();
    }
}

fn plots(ui: &mut egui::Ui, m: &mut Models) {
    ui.horizontal(|ui| {
        ui.selectable_value(&mut m.panel.plot, PlotTab::Rates, "cheese / corner rates");
        ui.selectable_value(&mut m.panel.plot, PlotTab::Return, "return");
        ui.selectable_value(&mut m.panel.plot, PlotTab::Losses, "losses");
    });
    let plot = Plot::new(("plot", m.panel.plot as u8))
        .legend(Legend::default())
        .height(180.0)
        .x_axis_label("env steps")
        .allow_drag(false);
    let log = &m.log;
    let series = |f: &dyn Fn(&crate::rl::IterationMetrics) -> f64| -> Vec<[f64; 2]> {
        log.iterations
            .iter()
            .map(|it| [it.global_step as f64, f(it)])
            .collect()
    };
    match m.panel.plot {
        PlotTab::Rates => {
            let eval = |f: &dyn Fn(&crate::trainer::EvalPoint) -> f64| -> Vec<[f64; 2]> {
                log.evaluations
                    .iter()
                    .map(|e| [e.global_step as f64, f(e)])
                    .collect()
            };
            let lines = [
                ("train: cheese", eval(&|e| e.train.cheese.rate)),
                ("shifted: cheese", eval(&|e| e.shifted.cheese.rate)),
                ("shifted: corner first", eval(&|e| e.shifted.corner.rate)),
                ("shifted: neither", eval(&|e| e.shifted.neither.rate)),
            ];
            plot.include_y(0.0).include_y(1.0).show(ui, |p| {
                for (name, points) in lines {
                    p.points(Points::new(name, points.clone()).radius(2.5));
                    p.line(Line::new(name, points));
                }
            });
        }
        PlotTab::Return => {
            let points = series(&|it| it.episodic_return);
            plot.show(ui, |p| p.line(Line::new("episodic return", points)));
        }
        PlotTab::Losses => {
            let lines = [
                ("value loss", series(&|it| it.value_loss)),
                ("policy loss", series(&|it| it.policy_loss)),
                ("entropy", series(&|it| it.entropy)),
                ("approx KL", series(&|it| it.approx_kl)),
            ];
            plot.show(ui, |p| {
                for (name, points) in lines {
                    p.line(Line::new(name, points));
                }
            });
        }
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
    for p in &path[..shown] {
        painter.rect_filled(rect_of(*p, cell * 0.3), 0.0, c32(colors::PATH));
    }
    painter.rect_filled(rect_of(layout.corner, cell * 0.3), 0.0, c32(colors::CORNER));
    painter.rect_filled(
        rect_of(layout.cheese, cell * 0.15),
        0.0,
        c32(colors::CHEESE),
    );
    if let Some(p) = path.get(shown.saturating_sub(1)) {
        painter.circle_filled(rect_of(*p, 0.0).center(), cell * 0.3, c32(colors::MOUSE));
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

fn round_window(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs, now: f32) {
    let phase = m.log.phase;
    ui.label(RichText::new(phase.map_or("", |p| p.label())).strong());
    let round = &mut *m.round;
    let Some(analysis) = &round.analysis else {
        ui.label("No round yet: press \"Start LLM feedback round\".");
        return;
    };
    let (note, color) = reliability(&analysis.judge, analysis.judge_agreement);
    ui.colored_label(color, format!("judge {}: {note}", analysis.judge));
    if let Some(fallback) = &m.judge_note.0 {
        ui.colored_label(Color32::YELLOW, fallback);
    }
    ui.collapsing(format!("Analysis by {}", analysis.judge), |ui| {
        if analysis.names_confound {
            ui.colored_label(Color32::LIGHT_GREEN, "names the corner / cheese confound");
        } else {
            ui.colored_label(
                Color32::YELLOW,
                "does not name the corner / cheese confound",
            );
        }
        for f in &analysis.failure_modes {
            ui.label(format!("• {f}"));
        }
        egui::ScrollArea::vertical()
            .id_salt("analysis")
            .max_height(140.0)
            .show(ui, |ui| ui.label(&analysis.text));
        ui.small(format!("the judge read {} rollouts", analysis.shown.len()));
    });
    ui.label(RichText::new("Proposed scenarios").strong());
    for (i, s) in analysis.scenarios.iter().enumerate() {
        if let Some(keep) = round.accepted.get_mut(i) {
            ui.checkbox(keep, &s.title);
        }
    }
    for r in &analysis.rejected {
        ui.colored_label(Color32::GRAY, format!("rejected: {r}"));
    }
    if phase == Some(Phase::ReviewScenarios) && ui.button("Use the checked scenarios").clicked() {
        out.send(Command::ReviewScenarios(round.accepted.clone()));
    }
    ui.separator();
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
                reliability(&a.judge, a.judge_agreement)
            });
        ui.colored_label(color, format!("these labels come from a judge with {note}"));
    }
    const PER_PAGE: usize = 3;
    let pages = round.labels.len().div_ceil(PER_PAGE).max(1);
    m.panel.page = m.panel.page.min(pages - 1);
    ui.horizontal(|ui| {
        if ui.small_button("◀").clicked() {
            m.panel.page = m.panel.page.saturating_sub(1);
        }
        ui.label(format!("page {} / {pages}", m.panel.page + 1));
        if ui.small_button("▶").clicked() {
            m.panel.page = (m.panel.page + 1).min(pages - 1);
        }
    });
    let start = m.panel.page * PER_PAGE;
    for index in start..(start + PER_PAGE).min(round.labels.len()) {
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
                        ui.small(r);
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
    ui.separator();
    ui.horizontal(|ui| {
        let can_train = matches!(phase, Some(Phase::ReviewLabels | Phase::RewardModelReady));
        if ui
            .add_enabled(can_train, egui::Button::new("Train reward model"))
            .clicked()
        {
            out.send(Command::TrainRewardModel);
        }
        if ui.button("Before / after").clicked() {
            out.send(Command::CompareWithBaseline { count: 4 });
        }
    });
    let has_reward_model = round.reward.is_some();
    for command in
        super::fine_tune_panel::controls(ui, &mut m.draft.settings.arm, phase, has_reward_model)
    {
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

fn editor_controls(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs) {
    let state = &mut *m.editor;
    ui.horizontal(|ui| {
        for (tile, label) in [
            (Tile::Wall, "# wall"),
            (Tile::Floor, ". floor"),
            (Tile::Start, "M start"),
            (Tile::Cheese, "C cheese"),
        ] {
            ui.selectable_value(&mut state.tool, tile, label);
        }
    });
    let level = &state.editor.level;
    let side = 300.0;
    let cell = side / level.size as f32;
    let (response, painter) =
        ui.allocate_painter(egui::vec2(side, side), egui::Sense::click_and_drag());
    let origin = response.rect.min;
    for row in 0..level.size {
        for col in 0..level.size {
            let p = Pos::new(row, col);
            let rect = egui::Rect::from_min_size(
                origin + egui::vec2(col as f32 * cell, row as f32 * cell),
                egui::vec2(cell - 1.0, cell - 1.0),
            );
            let color = match level.tile(p) {
                Tile::Wall => colors::WALL,
                Tile::Floor => colors::FLOOR,
                Tile::Start => super::scene::START,
                Tile::Cheese => colors::CHEESE,
            };
            painter.rect_filled(rect, 0.0, c32(color));
            if state.validation.unreachable.contains(&p) {
                painter.rect_stroke(
                    rect.shrink(cell * 0.2),
                    0.0,
                    egui::Stroke::new(2.0, Color32::RED),
                    egui::StrokeKind::Inside,
                );
            }
        }
    }
    let cell_at = |pos: egui::Pos2| -> Option<Pos> {
        let v = pos - origin;
        (v.x >= 0.0 && v.y >= 0.0 && v.x < side && v.y < side)
            .then(|| Pos::new((v.y / cell) as usize, (v.x / cell) as usize))
    };
    let tool = state.tool;
    if response.drag_started() {
        out.editor.write(EditorAction::BeginStroke);
    }
    if (response.dragged() || response.drag_started() || response.clicked())
        && let Some(pos) = response.interact_pointer_pos().and_then(cell_at)
    {
        if response.clicked() && !response.dragged() {
            out.editor.write(EditorAction::Paint { pos, tile: tool });
        } else {
            out.editor.write(EditorAction::StrokeTo { pos, tile: tool });
        }
    }
    if response.drag_stopped() {
        out.editor.write(EditorAction::EndStroke);
    }
    if state.validation.is_valid() {
        ui.colored_label(Color32::LIGHT_GREEN, "valid level");
    }
    for p in &state.validation.problems {
        ui.colored_label(Color32::LIGHT_RED, format!("{} — {}", p.message, p.hint));
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(state.editor.can_undo(), egui::Button::new("Undo"))
            .clicked()
        {
            out.editor.write(EditorAction::Undo);
        }
        if ui
            .add_enabled(state.editor.can_redo(), egui::Button::new("Redo"))
            .clicked()
        {
            out.editor.write(EditorAction::Redo);
        }
        if ui.button("Playtest").clicked() {
            out.editor.write(EditorAction::Playtest);
        }
    });
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut m.panel.resize_to).range(3..=64));
        if ui.button("Resize").clicked() {
            out.editor.write(EditorAction::Resize {
                size: m.panel.resize_to,
            });
        }
        if ui.button("New").clicked() {
            out.editor.write(EditorAction::New {
                size: m.panel.resize_to,
            });
        }
    });
    ui.horizontal(|ui| {
        ui.label("fill, seed");
        ui.add(egui::DragValue::new(&mut m.panel.fill_seed));
        for (label, generator) in [
            ("maze", Generator::Kruskal),
            ("open", Generator::Open),
            ("blocks", Generator::Blocks { wall_prob: 0.25 }),
        ] {
            if ui.button(label).clicked() {
                out.editor.write(EditorAction::Fill {
                    generator,
                    seed: m.panel.fill_seed,
                });
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("name");
        ui.text_edit_singleline(&mut state.editor.level.name);
    });
    ui.horizontal(|ui| {
        ui.label("file");
        ui.text_edit_singleline(&mut state.path);
    });
    ui.horizontal(|ui| {
        if ui.button("Save").clicked() {
            out.editor.write(EditorAction::Save { overwrite: false });
        }
        if ui.button("Load").clicked() {
            out.editor.write(EditorAction::Load);
        }
        if state.editor.dirty {
            ui.small("unsaved changes");
        }
    });
    if let Some(path) = state.confirm_overwrite.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(Color32::YELLOW, format!("overwrite {}?", path.display()));
            if ui.button("Yes").clicked() {
                out.editor.write(EditorAction::Save { overwrite: true });
            }
            if ui.button("No").clicked() {
                state.confirm_overwrite = None;
            }
        });
    }
    if let Some(note) = &state.note {
        let color = if note.ok {
            Color32::LIGHT_GREEN
        } else {
            Color32::LIGHT_RED
        };
        ui.colored_label(color, &note.text);
    }
}

fn demo_controls(ui: &mut egui::Ui, m: &Models) {
    ui.label("Right or Space: next · Left: back · F: full screen");
    for (i, step) in STEPS.iter().enumerate() {
        let text = step.title();
        if i == m.demo.index {
            ui.label(RichText::new(text).strong().color(Color32::WHITE));
        } else {
            ui.label(RichText::new(text).color(Color32::GRAY));
        }
    }
}

fn demo_caption(ui: &mut egui::Ui, m: &Models) {
    let step = m.demo.step();
    ui.label(RichText::new(step.title()).size(24.0).strong());
    ui.label(RichText::new(step.body()).size(16.0));
    let facts = demo_facts(m);
    if !facts.is_empty() {
        ui.label(RichText::new(facts).size(15.0).color(Color32::LIGHT_BLUE));
    }
}

/// The live numbers behind the current demo step.
fn demo_facts(m: &Models) -> String {
    use super::demo::DemoStep;
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
                let rates = |s: &crate::sim::OutcomeSummary| {
                    format!(
                        "cheese {} · corner first {} · neither {}",
                        rate_text(s.cheese),
                        rate_text(s.corner),
                        rate_text(s.neither)
                    )
                };
                format!(
                    "the same {} shifted mazes — before: {}\nafter ({} arm): {}\ncheese {:+.1} points, McNemar p = {:.1e}",
                    t.before.summary.episodes,
                    rates(&t.before.summary),
                    t.arm,
                    rates(&t.after.summary),
                    100.0 * (t.after.summary.cheese.rate - t.before.summary.cheese.rate),
                    t.cheese_test.p_value
                )
            }
            None => "measuring…".into(),
        },
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
                    .0
                    .as_ref()
                    .map_or(String::new(), |n| format!("Note: {n}.\n"));
                format!(
                    "{note}{} ({}): \"{first}…\" Proposed: {}",
                    a.judge,
                    reliability(&a.judge, a.judge_agreement).0,
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
