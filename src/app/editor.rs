//! The level editor in the app: editor actions (paint, strokes, undo/redo, resize, fill, save,
//! load, playtest) applied to the engine-free [`Editor`], live validation, and the edited level
//! on stage while in edit mode.

use super::bridge::SendCommand;
use super::palette::c32;
use super::scene::{Slot, Stage};
use super::{AppSystems, Mode};
use crate::level::edit::{EditedLevel, Editor, SaveError, Tile, Validation};
use crate::level::{Generator, Pos};
use crate::sim::render::colors;
use crate::trainer::Command;
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32};
use std::path::PathBuf;

pub(super) fn plugin(app: &mut App) {
    app.add_message::<EditorAction>()
        .init_resource::<EditorState>()
        .add_systems(OnEnter(Mode::Edit), show_edited_level)
        .add_systems(OnExit(Mode::Edit), clear_stage)
        .add_systems(
            Update,
            (
                editor_keys
                    .in_set(AppSystems::RecordInput)
                    .run_if(in_state(Mode::Edit)),
                // In every mode: the library saves and loads through the editor from anywhere.
                apply_editor_actions.in_set(AppSystems::Update),
            ),
        );
}

/// One editor operation (from the panel's canvas and buttons, keys, or tests).
#[derive(Message, Clone, Debug, PartialEq)]
pub enum EditorAction {
    /// Paint one cell as its own undo step.
    Paint {
        pos: Pos,
        tile: Tile,
    },
    /// A drag: `BeginStroke`, `StrokeTo`..., `EndStroke` make one undo step.
    BeginStroke,
    StrokeTo {
        pos: Pos,
        tile: Tile,
    },
    EndStroke,
    Undo,
    Redo,
    New {
        size: usize,
    },
    Resize {
        size: usize,
    },
    Fill {
        generator: Generator,
        seed: u64,
    },
    /// Save to `EditorState::path`; an existing file is only replaced with `overwrite`.
    Save {
        overwrite: bool,
    },
    /// Load `EditorState::path`.
    Load,
    /// Drop the current policy into the edited level.
    Playtest,
}

/// The outcome of the last action, for the panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorNote {
    pub ok: bool,
    pub text: String,
}

/// The tools by key, in the order the panel lists them.
pub const TOOL_KEYS: [(KeyCode, Tile); 4] = [
    (KeyCode::Digit1, Tile::Wall),
    (KeyCode::Digit2, Tile::Floor),
    (KeyCode::Digit3, Tile::Start),
    (KeyCode::Digit4, Tile::Cheese),
];

#[derive(Resource, Debug)]
pub struct EditorState {
    pub editor: Editor,
    pub tool: Tile,
    /// The file Save and Load use.
    pub path: String,
    /// Set when a save found an existing file: the panel asks before overwriting.
    pub confirm_overwrite: Option<PathBuf>,
    pub note: Option<EditorNote>,
    pub validation: Validation,
    /// The seed the panel's fill buttons use.
    pub fill_seed: u64,
    /// The side length the panel's Resize and New buttons use.
    pub resize_to: usize,
}

impl Default for EditorState {
    fn default() -> Self {
        let editor = Editor::new(EditedLevel::blank(7));
        let validation = editor.level.validate();
        Self {
            editor,
            tool: Tile::Wall,
            path: "levels/my-level.ron".into(),
            confirm_overwrite: None,
            note: None,
            validation,
            fill_seed: 1,
            resize_to: 7,
        }
    }
}

impl EditorState {
    /// The editor on `path`: the level loaded from it if it exists (or a notice of why it could
    /// not be, and a blank level), else a blank level that saving writes there.
    pub fn on_file(path: &std::path::Path) -> Self {
        let mut state = Self {
            path: path.display().to_string(),
            ..Self::default()
        };
        if path.exists() {
            match Editor::load(path) {
                Ok(editor) => {
                    state.editor = editor;
                    state.note(true, format!("loaded {}", path.display()));
                }
                Err(e) => state.note(false, e),
            }
        } else {
            state.editor.level.name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("untitled")
                .to_string();
            state.note(true, format!("new level: saving writes {}", path.display()));
        }
        state.validation = state.editor.level.validate();
        state
    }

    /// Whether saving to `path` replaces the file this level came from (no question asked).
    fn saves_in_place(&self) -> bool {
        self.editor.path.as_deref() == Some(std::path::Path::new(&self.path))
    }

    fn note(&mut self, ok: bool, text: impl Into<String>) {
        self.note = Some(EditorNote {
            ok,
            text: text.into(),
        });
    }
}

/// Ctrl+Z undoes, Ctrl+Y (or Ctrl+Shift+Z) redoes, Ctrl+S saves (in place without asking when
/// the file is the level's own).
fn editor_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    state: Res<EditorState>,
    mut actions: MessageWriter<EditorAction>,
) {
    let Some(keys) = keys else {
        return;
    };
    // Held, or let go this very frame (a chord pressed and released between two frames).
    let held = |pair: [KeyCode; 2]| keys.any_pressed(pair) || keys.any_just_released(pair);
    let ctrl = held([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let shift = held([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if ctrl && keys.just_pressed(KeyCode::KeyZ) {
        actions.write(if shift {
            EditorAction::Redo
        } else {
            EditorAction::Undo
        });
    }
    if ctrl && keys.just_pressed(KeyCode::KeyY) {
        actions.write(EditorAction::Redo);
    }
    if ctrl && keys.just_pressed(KeyCode::KeyS) {
        actions.write(EditorAction::Save {
            overwrite: state.saves_in_place(),
        });
    }
}

/// Applies the frame's editor actions, revalidates, and puts the result on stage.
pub fn apply_editor_actions(
    mut actions: MessageReader<EditorAction>,
    mut state: ResMut<EditorState>,
    mut stage: ResMut<Stage>,
    mode: Res<State<Mode>>,
    mut commands: MessageWriter<SendCommand>,
) {
    let mut changed = false;
    for action in actions.read() {
        let before = state.editor.level.clone();
        match action.clone() {
            EditorAction::Paint { pos, tile } => state.editor.edit(|l| {
                l.paint(pos, tile);
            }),
            EditorAction::BeginStroke => state.editor.begin_stroke(),
            EditorAction::StrokeTo { pos, tile } => state.editor.stroke(pos, tile),
            EditorAction::EndStroke => state.editor.end_stroke(),
            EditorAction::Undo => {
                if !state.editor.undo() {
                    state.note(false, "nothing to undo");
                }
            }
            EditorAction::Redo => {
                if !state.editor.redo() {
                    state.note(false, "nothing to redo");
                }
            }
            EditorAction::New { size } => state.editor.edit(|l| {
                let name = std::mem::take(&mut l.name);
                *l = EditedLevel::blank(size);
                l.name = name;
            }),
            EditorAction::Resize { size } => state.editor.edit(|l| l.resize(size)),
            EditorAction::Fill { generator, seed } => state.editor.edit(|l| {
                let spec = l.fill_spec(generator.clone());
                l.fill_from(&spec, seed);
            }),
            EditorAction::Save { overwrite } => save(&mut state, overwrite),
            EditorAction::Load => {
                let path = PathBuf::from(&state.path);
                match Editor::load(&path) {
                    Ok(editor) => {
                        state.editor = editor;
                        state.note(true, format!("loaded {}", path.display()));
                        changed = true;
                    }
                    Err(e) => state.note(false, e),
                }
            }
            EditorAction::Playtest => match state.editor.level.to_layout() {
                Ok(layout) => {
                    commands.write(SendCommand(Command::Playtest(layout)));
                    state.note(true, "playtest sent to the agent");
                }
                Err(problems) => {
                    let text = problems
                        .iter()
                        .map(|p| format!("{} ({})", p.message, p.hint))
                        .collect::<Vec<_>>()
                        .join("; ");
                    state.note(false, format!("cannot playtest: {text}"));
                }
            },
        }
        changed |= state.editor.level != before;
    }
    if changed {
        state.validation = state.editor.level.validate();
        // The stage is the editor's only in edit mode (entering it puts the level there).
        if *mode.get() == Mode::Edit {
            put_on_stage(&state, &mut stage);
        }
    }
}

fn save(state: &mut EditorState, overwrite: bool) {
    let path = PathBuf::from(&state.path);
    if path.as_os_str().is_empty() {
        state.note(
            false,
            "give the file a name first, e.g. levels/my-level.ron",
        );
        return;
    }
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        && state.editor.level.name == "untitled"
    {
        state.editor.level.name = stem.to_string();
    }
    match state.editor.save(&path, overwrite) {
        Ok(()) => {
            state.confirm_overwrite = None;
            state.note(true, format!("saved {}", path.display()));
        }
        Err(SaveError::Exists(p)) => {
            state.note(false, format!("{} exists: overwrite it?", p.display()));
            state.confirm_overwrite = Some(p);
        }
        Err(e) => state.note(false, e.to_string()),
    }
}

fn put_on_stage(state: &EditorState, stage: &mut Stage) {
    let level = &state.editor.level;
    stage.pending = None;
    stage.show(vec![Slot {
        layout: level.sketch(),
        caption: format!("editing {}", level.name),
        tracks: Vec::new(),
        tally: None,
    }]);
}

fn show_edited_level(mut state: ResMut<EditorState>, mut stage: ResMut<Stage>) {
    state.validation = state.editor.level.validate();
    put_on_stage(&state, &mut stage);
}

fn clear_stage(mut stage: ResMut<Stage>) {
    stage.pending = None;
    stage.show(Vec::new());
}

/// The colour a tile is drawn in (the scene's, so the minimap matches the maze).
pub fn tool_color(tile: Tile) -> [u8; 3] {
    match tile {
        Tile::Wall => colors::WALL,
        Tile::Floor => colors::FLOOR,
        Tile::Start => super::scene::START,
        Tile::Cheese => colors::CHEESE,
    }
}

/// The editor's tools in the left column: tools, a map to paint on, undo/redo and playtest,
/// size and fill, and the file.
pub(super) fn controls(
    ui: &mut egui::Ui,
    state: &mut EditorState,
    actions: &mut MessageWriter<EditorAction>,
) {
    tools(ui, state);
    paint_map(ui, state, actions);
    checks_and_history(ui, state, actions);
    size_and_fill(ui, state, actions);
    name_and_file(ui, state, actions);
}

/// The four tiles to paint with.
fn tools(ui: &mut egui::Ui, state: &mut EditorState) {
    ui.horizontal(|ui| {
        for ((_, tile), label) in TOOL_KEYS.into_iter().zip([
            "1 # wall",
            "2 . floor",
            "3 M start",
            "4 C cheese",
        ]) {
            ui.selectable_value(&mut state.tool, tile, label)
                .on_hover_text(format!(
                    "key {}: left-drag on the maze (or this map) paints {}; a drag is one undo step \
                     (Ctrl+Z); right-drag turns the 3D view",
                    &label[..1],
                    &label[4..]
                ));
        }
    });
}

/// A map of the level to paint on with the current tool (a drag is one undo step).
fn paint_map(ui: &mut egui::Ui, state: &EditorState, actions: &mut MessageWriter<EditorAction>) {
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
            painter.rect_filled(rect, 0.0, c32(tool_color(level.tile(p))));
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
        actions.write(EditorAction::BeginStroke);
    }
    if (response.dragged() || response.drag_started() || response.clicked())
        && let Some(pos) = response.interact_pointer_pos().and_then(cell_at)
    {
        if response.clicked() && !response.dragged() {
            actions.write(EditorAction::Paint { pos, tile: tool });
        } else {
            actions.write(EditorAction::StrokeTo { pos, tile: tool });
        }
    }
    if response.drag_stopped() {
        actions.write(EditorAction::EndStroke);
    }
}

/// Whether the level is valid (and what to fix), undo, redo and playtest.
fn checks_and_history(
    ui: &mut egui::Ui,
    state: &EditorState,
    actions: &mut MessageWriter<EditorAction>,
) {
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
            actions.write(EditorAction::Undo);
        }
        if ui
            .add_enabled(state.editor.can_redo(), egui::Button::new("Redo"))
            .clicked()
        {
            actions.write(EditorAction::Redo);
        }
        if ui
            .button("Playtest")
            .on_hover_text("the current agent plays this level (ghost mice)")
            .clicked()
        {
            actions.write(EditorAction::Playtest);
        }
    });
}

/// Resize, a new empty room, and filling from a generator with a seed.
fn size_and_fill(
    ui: &mut egui::Ui,
    state: &mut EditorState,
    actions: &mut MessageWriter<EditorAction>,
) {
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut state.resize_to).range(3..=64));
        if ui
            .button("Resize")
            .on_hover_text("change the side length, keeping the bottom-left corner")
            .clicked()
        {
            actions.write(EditorAction::Resize {
                size: state.resize_to,
            });
        }
        if ui
            .button("New")
            .on_hover_text("an empty room of this size (undo brings the old level back)")
            .clicked()
        {
            actions.write(EditorAction::New {
                size: state.resize_to,
            });
        }
    });
    ui.horizontal(|ui| {
        ui.label("fill, seed");
        ui.add(egui::DragValue::new(&mut state.fill_seed));
        for (label, generator) in [
            ("maze", Generator::Kruskal),
            ("open", Generator::Open),
            ("blocks", Generator::Blocks { wall_prob: 0.25 }),
        ] {
            if ui
                .button(label)
                .on_hover_text("fill the level from this generator with the seed")
                .clicked()
            {
                actions.write(EditorAction::Fill {
                    generator,
                    seed: state.fill_seed,
                });
            }
        }
    });
}

/// The level's name, its file, save and load, and the overwrite question.
fn name_and_file(
    ui: &mut egui::Ui,
    state: &mut EditorState,
    actions: &mut MessageWriter<EditorAction>,
) {
    ui.horizontal(|ui| {
        ui.label("name");
        ui.text_edit_singleline(&mut state.editor.level.name);
    });
    ui.horizontal(|ui| {
        ui.label("file");
        ui.text_edit_singleline(&mut state.path);
    });
    ui.horizontal(|ui| {
        if ui
            .button("Save")
            .on_hover_text("Ctrl+S; asks before replacing a file other than the level's own")
            .clicked()
        {
            actions.write(EditorAction::Save {
                overwrite: state.saves_in_place(),
            });
        }
        if ui
            .button("Load")
            .on_hover_text("open the file named above (levels: see the Library)")
            .clicked()
        {
            actions.write(EditorAction::Load);
        }
        if state.editor.dirty {
            ui.small("unsaved changes");
        }
    });
    if let Some(path) = state.confirm_overwrite.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(Color32::YELLOW, format!("overwrite {}?", path.display()));
            if ui.button("Yes").clicked() {
                actions.write(EditorAction::Save { overwrite: true });
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
