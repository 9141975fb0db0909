//! The level library window: the level files of a folder (`levels/` or any other) with small
//! previews and their validation; a fixed level opens in the editor, any level's mazes can be
//! played by the agent, and the edited level is saved into the folder under a new name.

use super::Mode;
use super::bridge::SendCommand;
use super::editor::{EditorAction, EditorState, tool_color};
use super::palette::c32;
use crate::level::edit::Tile;
use crate::level::library::{EntryKind, LibraryEntry, scan};
use crate::level::{Layout, Pos, load_level_file};
use crate::trainer::{Command, ShowLevels};
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};
use std::path::{Path, PathBuf};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Library>()
        .add_systems(EguiPrimaryContextPass, library_window);
}

/// Pixels of a preview maze.
const THUMB: f32 = 56.0;

/// The library window's state.
#[derive(Resource, Debug)]
pub struct Library {
    pub open: bool,
    /// The folder listed.
    pub folder: String,
    /// The folder's entries, or why it cannot be listed (None: not scanned yet).
    pub entries: Option<Result<Vec<LibraryEntry>, String>>,
    /// File name (without `.ron`) the edited level is saved under.
    save_as: String,
    /// A level to open once the user agrees to drop the editor's unsaved changes.
    confirm_open: Option<PathBuf>,
    /// Scan again next frame (after a save has landed).
    rescan: bool,
}

impl Default for Library {
    fn default() -> Self {
        Self {
            open: false,
            folder: "levels".into(),
            entries: None,
            save_as: "my-level".into(),
            confirm_open: None,
            rescan: false,
        }
    }
}

impl Library {
    fn scan(&mut self) {
        self.entries = Some(scan(Path::new(self.folder.trim())));
    }
}

fn library_window(
    mut contexts: EguiContexts,
    mut library: ResMut<Library>,
    mut editor: ResMut<EditorState>,
    mut next_mode: ResMut<NextState<Mode>>,
    mut send: MessageWriter<SendCommand>,
    mut actions: MessageWriter<EditorAction>,
) -> Result {
    if !library.open {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?.clone();
    if library.entries.is_none() || std::mem::take(&mut library.rescan) {
        library.scan();
    }
    let mut open = true;
    egui::Window::new("Level library")
        .default_pos([360.0, 16.0])
        .default_size([520.0, 560.0])
        .vscroll(true)
        .open(&mut open)
        .show(&ctx, |ui| {
            let lib = &mut *library;
            ui.horizontal(|ui| {
                ui.label("folder");
                let field = ui.text_edit_singleline(&mut lib.folder);
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui
                    .button("Scan")
                    .on_hover_text("list the folder's .ron level files again")
                    .clicked()
                    || entered
                {
                    lib.scan();
                }
            });
            save_here(ui, lib, &mut editor, &mut actions);
            if let Some(path) = lib.confirm_open.clone() {
                ui.horizontal(|ui| {
                    ui.colored_label(
                        Color32::YELLOW,
                        format!(
                            "the edited level has unsaved changes: open {}?",
                            path.display()
                        ),
                    );
                    if ui.button("Open anyway").clicked() {
                        open_in_editor(&path, &mut editor, &mut actions, &mut next_mode);
                        lib.confirm_open = None;
                    }
                    if ui.button("Cancel").clicked() {
                        lib.confirm_open = None;
                    }
                });
            }
            ui.separator();
            // Held apart while the rows are drawn (the rows change `lib`), not copied per frame.
            let mut entries = lib.entries.take();
            match &mut entries {
                Some(Err(e)) => {
                    ui.colored_label(Color32::LIGHT_RED, e.as_str());
                }
                Some(Ok(list)) if list.is_empty() => {
                    ui.label("no .ron level files here");
                }
                Some(Ok(list)) => {
                    for entry in list.iter_mut() {
                        let changed = entry_row(
                            ui,
                            entry,
                            lib,
                            &mut editor,
                            &mut next_mode,
                            &mut send,
                            &mut actions,
                        );
                        if let Some(error) = changed {
                            entry.status = Err(error);
                        }
                        ui.separator();
                    }
                }
                None => {}
            }
            lib.entries = entries;
        });
    library.open = open;
    Ok(())
}

/// Save-as into the listed folder.
fn save_here(
    ui: &mut egui::Ui,
    lib: &mut Library,
    editor: &mut EditorState,
    actions: &mut MessageWriter<EditorAction>,
) {
    ui.horizontal(|ui| {
        ui.label("save the edited level here as");
        ui.add(egui::TextEdit::singleline(&mut lib.save_as).desired_width(140.0));
        ui.label(".ron");
        let name = lib.save_as.trim().trim_end_matches(".ron").to_string();
        let valid = !name.is_empty() && !name.contains(['/', '\\']);
        if ui
            .add_enabled(valid, egui::Button::new("Save"))
            .on_hover_text("asks before replacing a file that is there")
            .clicked()
        {
            editor.path = Path::new(lib.folder.trim())
                .join(format!("{name}.ron"))
                .display()
                .to_string();
            actions.write(EditorAction::Save { overwrite: false });
            lib.rescan = true;
        }
    });
    // The editor's answer (saved, invalid, or a file already there) shows here too.
    if let Some(path) = editor.confirm_overwrite.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(
                Color32::YELLOW,
                format!("{} exists: replace it?", path.display()),
            );
            if ui.button("Replace").clicked() {
                actions.write(EditorAction::Save { overwrite: true });
                lib.rescan = true;
            }
            if ui.button("Keep it").clicked() {
                editor.confirm_overwrite = None;
            }
        });
    } else if let Some(note) = &editor.note {
        let color = if note.ok {
            Color32::LIGHT_GREEN
        } else {
            Color32::LIGHT_RED
        };
        ui.colored_label(color, &note.text);
    }
}

fn entry_row(
    ui: &mut egui::Ui,
    entry: &LibraryEntry,
    lib: &mut Library,
    editor: &mut EditorState,
    next_mode: &mut NextState<Mode>,
    send: &mut MessageWriter<SendCommand>,
    actions: &mut MessageWriter<EditorAction>,
) -> Option<String> {
    let mut changed = None;
    let file = entry
        .path
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().to_string());
    ui.horizontal(|ui| {
        match &entry.status {
            Ok(loaded) => {
                for layout in &loaded.previews {
                    thumbnail(ui, layout);
                }
            }
            Err(_) => {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(THUMB, THUMB), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 2.0, Color32::from_rgb(90, 30, 30));
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "!",
                    egui::FontId::proportional(28.0),
                    Color32::LIGHT_RED,
                );
            }
        }
        ui.vertical(|ui| {
            ui.label(RichText::new(&entry.name).strong());
            match &entry.status {
                Ok(loaded) => {
                    let kind = match loaded.kind {
                        EntryKind::Fixed => "fixed level",
                        EntryKind::Distribution => "distribution (samples shown; read-only)",
                        EntryKind::Mixture => "mixture (samples shown; read-only)",
                    };
                    ui.small(format!("{file} · {0}x{0} · {kind}", loaded.size));
                    if loaded.problems.is_empty() {
                        ui.colored_label(Color32::LIGHT_GREEN, "valid");
                    }
                    for p in &loaded.problems {
                        ui.colored_label(Color32::LIGHT_RED, p);
                    }
                }
                Err(e) => {
                    ui.small(&file);
                    ui.colored_label(Color32::LIGHT_RED, e);
                }
            }
            ui.horizontal(|ui| {
                if entry.editable()
                    && ui
                        .button("Edit")
                        .on_hover_text("open it in the level editor")
                        .clicked()
                {
                    if editor.editor.dirty {
                        lib.confirm_open = Some(entry.path.clone());
                    } else {
                        open_in_editor(&entry.path, editor, actions, next_mode);
                    }
                }
                if entry.status.is_ok()
                    && ui
                        .button("Watch the agent here")
                        .on_hover_text(
                            "the current agent plays this level (or mazes drawn from it); it must \
                             have the agent's world size",
                        )
                        .clicked()
                {
                    // Read again: the file may have changed since the scan.
                    match load_level_file(&entry.path) {
                        Ok(source) => {
                            send.write(SendCommand(Command::Show(ShowLevels::Source(Box::new(
                                source,
                            )))));
                            next_mode.set(Mode::Watch);
                        }
                        // Changed on disk since the scan: its row now says why.
                        Err(e) => changed = Some(e.to_string()),
                    }
                }
            });
        });
    });
    changed
}

fn open_in_editor(
    path: &Path,
    editor: &mut EditorState,
    actions: &mut MessageWriter<EditorAction>,
    next_mode: &mut NextState<Mode>,
) {
    editor.path = path.display().to_string();
    actions.write(EditorAction::Load);
    next_mode.set(Mode::Edit);
}

/// A small picture of a maze in the scene's colours.
fn thumbnail(ui: &mut egui::Ui, layout: &Layout) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(THUMB, THUMB), egui::Sense::hover());
    let cell = THUMB / layout.size as f32;
    let painter = ui.painter();
    for row in 0..layout.size {
        for col in 0..layout.size {
            let p = Pos::new(row, col);
            let tile = if p == layout.start {
                Tile::Start
            } else if p == layout.cheese {
                Tile::Cheese
            } else if layout.walls[layout.index(p)] {
                Tile::Wall
            } else {
                Tile::Floor
            };
            let min = rect.min + egui::vec2(col as f32 * cell, row as f32 * cell);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(cell, cell)),
                0.0,
                c32(tool_color(tile)),
            );
        }
    }
    response.on_hover_text(format!(
        "start ({}, {}), cheese ({}, {})",
        layout.start.row, layout.start.col, layout.cheese.row, layout.cheese.col
    ));
}
