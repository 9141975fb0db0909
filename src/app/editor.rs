//! The level editor in the app: editor actions (paint, strokes, undo/redo, resize, fill, save,
//! load, playtest) applied to the engine-free [`Editor`], live validation, and the edited level
//! on stage while in edit mode.

use super::bridge::SendCommand;
use super::scene::{Slot, Stage};
use super::{AppSystems, Mode};
use crate::level::edit::{EditedLevel, Editor, SaveError, Tile, Validation};
use crate::level::{Generator, Pos};
use crate::trainer::Command;
use bevy::prelude::*;
use std::path::PathBuf;

pub(super) fn plugin(app: &mut App) {
    app.add_message::<EditorAction>()
        .init_resource::<EditorState>()
        .add_systems(OnEnter(Mode::Edit), show_edited_level)
        .add_systems(OnExit(Mode::Edit), clear_stage)
        .add_systems(
            Update,
            (
                editor_keys.in_set(AppSystems::RecordInput),
                apply_editor_actions.in_set(AppSystems::Update),
            )
                .run_if(in_state(Mode::Edit)),
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
        }
    }
}

impl EditorState {
    fn note(&mut self, ok: bool, text: impl Into<String>) {
        self.note = Some(EditorNote {
            ok,
            text: text.into(),
        });
    }
}

/// Ctrl+Z undoes, Ctrl+Y (or Ctrl+Shift+Z) redoes.
fn editor_keys(keys: Option<Res<ButtonInput<KeyCode>>>, mut actions: MessageWriter<EditorAction>) {
    let Some(keys) = keys else {
        return;
    };
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
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
}

/// Applies the frame's editor actions, revalidates, and puts the result on stage.
pub fn apply_editor_actions(
    mut actions: MessageReader<EditorAction>,
    mut state: ResMut<EditorState>,
    mut stage: ResMut<Stage>,
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
        put_on_stage(&state, &mut stage);
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
