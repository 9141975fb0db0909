//! The egui panels' frame: the left column (run controls, scene and overlay toggles, legend,
//! errors) and the bottom strip, with each feature's own panel drawn by its module (plots,
//! the feedback round's window, the editor's tools, the demo's captions).

use super::Mode;
use super::bridge::{JudgeNote, Notices, RoundLog, SessionDraft, TrainingLog};
use super::demo::DemoState;
use super::editor::EditorState;
use super::kit::Outputs;
use super::palette::c32;
use super::plots::PlotTab;
use super::record::Record;
use super::scene::{Arrangement, Overlays, Playback, Stage, View};
use super::view::PanelInsets;
use crate::sim::render::colors;
use crate::trainer::{Command, Phase, ShowLevels};
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PanelState>()
        .add_systems(EguiPrimaryContextPass, draw_panels);
}

/// What the panels remember between frames.
#[derive(Resource)]
pub(super) struct PanelState {
    pub(super) round_open: bool,
    pub(super) plot: PlotTab,
    pub(super) page: usize,
    /// The judge picker's memory of each kind's settings.
    pub(super) judges: super::judge_picker::JudgeChoices,
    pub(super) show: ShowChoice,
    pub(super) rounds_seen: u64,
    pub(super) runs: super::runs_panel::RunsState,
}

impl Default for PanelState {
    fn default() -> Self {
        Self {
            round_open: false,
            plot: PlotTab::Rates,
            page: 0,
            judges: Default::default(),
            show: ShowChoice::Training,
            rounds_seen: 0,
            runs: Default::default(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ShowChoice {
    Training,
    Shifted,
    OneMaze,
}

#[derive(SystemParam)]
pub(super) struct Models<'w> {
    pub(super) log: ResMut<'w, TrainingLog>,
    pub(super) round: ResMut<'w, RoundLog>,
    pub(super) notices: ResMut<'w, Notices>,
    pub(super) draft: ResMut<'w, SessionDraft>,
    pub(super) judge_note: Res<'w, JudgeNote>,
    pub(super) playback: ResMut<'w, Playback>,
    pub(super) view: ResMut<'w, View>,
    pub(super) overlays: ResMut<'w, Overlays>,
    pub(super) editor: ResMut<'w, EditorState>,
    pub(super) demo: Res<'w, DemoState>,
    pub(super) insets: ResMut<'w, PanelInsets>,
    pub(super) panel: ResMut<'w, PanelState>,
    pub(super) stage: ResMut<'w, Stage>,
    pub(super) library: ResMut<'w, super::library::Library>,
    pub(super) compare: ResMut<'w, super::compare::CompareState>,
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
                    if ui
                        .selectable_label(m.library.open, "Library")
                        .on_hover_text(
                            "the level files of a folder with previews: edit them, watch the agent \
                             in them, save the edited level there",
                        )
                        .clicked()
                    {
                        m.library.open = !m.library.open;
                    }
                    if ui
                        .selectable_label(m.compare.open, "Compare")
                        .on_hover_text(
                            "two agents (the live one or checkpoints) on the same mazes, side by \
                             side, with their rates and McNemar's test",
                        )
                        .clicked()
                    {
                        m.compare.open = !m.compare.open;
                    }
                });
                ui.separator();
                match mode {
                    Mode::Watch => watch_controls(ui, &mut m, &mut out),
                    Mode::Edit => super::editor::controls(ui, &mut m.editor, &mut out.editor),
                    Mode::Demo => super::demo::controls(ui, &m.demo),
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
            .show(&mut root, |ui| {
                super::plots::plots(ui, &mut m.panel.plot, &m.log)
            })
            .response
            .rect
            .height(),
        Mode::Demo => egui::Panel::bottom("caption")
            .resizable(false)
            .exact_size(super::demo::caption_height(demo_view(&m)))
            .show(&mut root, |ui| super::demo::caption(ui, demo_view(&m)))
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
                let w = super::round_panel::RoundWindow {
                    phase: m.log.phase,
                    round: &mut m.round,
                    judge_note: m.judge_note.0.as_deref(),
                    page: &mut m.panel.page,
                    settings: &mut m.draft.settings,
                };
                super::round_panel::window(ui, w, &mut out, time.elapsed_secs())
            });
        m.panel.round_open = open;
    }
    if m.panel.round_open {
        ctx.request_repaint();
    }
    Ok(())
}

/// The Watch column: where training stands, its buttons, the feedback round's buttons, runs and
/// the run settings.
fn watch_controls(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs) {
    training_controls(ui, m, out);
    let asked =
        super::runs_panel::runs_section(ui, &mut m.panel.runs, &m.draft.settings, &mut m.notices);
    if let Some(settings) = asked {
        restart(m, out, settings);
    }
    ui.collapsing("Run settings (apply restarts)", |ui| {
        run_settings(ui, m, out)
    });
}

/// Where training stands; run, pause, step, evaluate; start a feedback round or open its window.
fn training_controls(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs) {
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
        if ui
            .button("▶ Run")
            .on_hover_text("train continuously (PPO on the training mazes)")
            .clicked()
        {
            out.send(Command::Run);
        }
        if ui
            .button("⏸ Pause")
            .on_hover_text("stop after the current iteration")
            .clicked()
        {
            out.send(Command::Pause);
        }
        if ui
            .button("Step")
            .on_hover_text("one PPO iteration, then pause")
            .clicked()
        {
            out.send(Command::Step);
        }
        if ui
            .button("Evaluate")
            .on_hover_text("rates on training and shifted mazes now (a point on the rates plot)")
            .clicked()
        {
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
        if ui
            .button("Round…")
            .on_hover_text(
                "the feedback round's window: analysis, pairs, reward model, fine-tuning",
            )
            .clicked()
        {
            m.panel.round_open = true;
        }
    });
}

/// The next session's settings: region, seed, the round's lambda and pairs, the judge; applying
/// them restarts the session.
fn run_settings(ui: &mut egui::Ui, m: &mut Models, out: &mut Outputs) {
    let s = &mut m.draft.settings;
    let mut region = s.train.region.unwrap_or(1);
    ui.add(egui::Slider::new(&mut region, 0..=15).text("cheese region r"))
        .on_hover_text("training cheese within r cells of the proxy corner (0 and 1: on it)");
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
    ui.add(egui::Slider::new(&mut s.round.pairs, 10..=1000).text("pairs"))
        .on_hover_text("rollout pairs the judge compares (each in both orders)");
    ui.checkbox(&mut s.auto_review, "go through reviews without waiting")
        .on_hover_text("keep every proposed scenario and label as judged, without asking");
    super::judge_picker::judge_picker(ui, &mut m.panel.judges, &mut s.judge);
    if ui
        .button("Apply and restart")
        .on_hover_text("a fresh session with these settings (the current agent is dropped)")
        .clicked()
    {
        out.send(Command::Reset(Box::new(s.clone())));
        *m.log = TrainingLog::default();
        *m.round = RoundLog::default();
        m.stage.pending = None;
        m.stage.show(Vec::new());
    }
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
    ui.add(egui::Slider::new(&mut p.steps_per_second, 1.0..=60.0).text("steps / s"))
        .on_hover_text("how fast the episodes on stage play");
    ui.add(egui::Slider::new(&mut p.agents, 1..=16).text("agents"))
        .on_hover_text("mazes (or ghost mice) shown at once");
    ui.checkbox(&mut p.paused, "pause playback")
        .on_hover_text("freeze the scene (training goes on)");
    ui.horizontal(|ui| {
        ui.checkbox(&mut m.overlays.heatmap, "visits")
            .on_hover_text("how often the shown episodes visited each cell (first maze)");
        ui.checkbox(&mut m.overlays.arrows, "policy arrows")
            .on_hover_text("the policy's preferred move in every cell (first maze)");
        ui.checkbox(&mut m.overlays.reward, "learned reward")
            .on_hover_text("what the reward model pays in every cell, once a round trained it");
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
            (colors::CORNER, "corner (proxy goal)"),
            (super::scene::START, "start"),
        ] {
            ui.label(RichText::new("■").color(c32(color)).size(18.0));
            ui.label(label);
        }
    });
    for row in [
        &[
            (Icon::Mouse, "mouse"),
            (Icon::Cheese, "cheese"),
            (Icon::Trail, "its recent path"),
        ][..],
        &[
            (Icon::Reached, "cheese reached"),
            (Icon::CornerFirst, "corner reached first"),
        ],
    ] {
        ui.horizontal(|ui| {
            for (icon, label) in row {
                legend_icon(ui, *icon);
                ui.label(*label);
            }
        });
    }
}

#[derive(Clone, Copy)]
enum Icon {
    Mouse,
    Cheese,
    Trail,
    Reached,
    CornerFirst,
}

/// The scene's marks, drawn small for the legend.
fn legend_icon(ui: &mut egui::Ui, icon: Icon) {
    use super::icons;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(20.0, 18.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    let c = rect.center();
    match icon {
        Icon::Mouse => icons::mouse(&p, c, 22.0, egui::vec2(1.0, 0.0)),
        Icon::Cheese => icons::cheese(&p, c, 20.0),
        Icon::Trail => icons::trail(
            &p,
            vec![c + egui::vec2(-8.0, 4.0), c + egui::vec2(8.0, -4.0)],
            4.0,
        ),
        Icon::Reached => icons::reached(&p, c, 7.0),
        Icon::CornerFirst => icons::corner_first(&p, c, 7.0),
    }
}

fn errors(ui: &mut egui::Ui, notices: &mut Notices) {
    if notices.errors.is_empty() {
        return;
    }
    ui.separator();
    ui.label(RichText::new("Problems").strong().color(Color32::LIGHT_RED));
    for e in &notices.errors {
        ui.colored_label(Color32::LIGHT_RED, super::glyphs::for_panels(e));
    }
    if ui.small_button("dismiss").clicked() {
        notices.errors.clear();
    }
}

/// What the demo's captions read, from the panels' resources.
fn demo_view<'a>(m: &'a Models) -> super::demo::DemoView<'a> {
    super::demo::DemoView {
        demo: &m.demo,
        log: &m.log,
        round: &m.round,
        judge_note: m.judge_note.0.as_deref(),
    }
}

/// Sends the new session's settings; the plots and the round start over (the trainer sends a
/// loaded run's history, or keeps the current session if the settings do not start).
fn restart(m: &mut Models, out: &mut Outputs, settings: crate::trainer::SessionSettings) {
    m.draft.settings = settings.clone();
    out.send(Command::Reset(Box::new(settings)));
    *m.log = TrainingLog::default();
    *m.round = RoundLog::default();
    m.stage.pending = None;
}
