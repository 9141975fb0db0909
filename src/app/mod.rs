//! The Bevy shell: display and edit only. The trainer thread (`crate::trainer`) makes every
//! decision; this module draws the maze, streams its events into the ECS, and sends commands back.

pub mod bridge;
mod canvas;
mod captions_3d;
mod compare;
pub mod demo;
pub mod editor;
mod fine_tune_panel;
pub mod glyphs;
mod icons;
mod judge_picker;
mod kit;
mod library;
pub mod palette;
mod panels;
mod plots;
pub mod record;
mod round_panel;
mod runs_panel;
pub mod scene;
mod view;

use crate::trainer::{SessionSettings, TrainerHandle};
use bevy::prelude::*;
use bevy::window::WindowResolution;
use std::path::PathBuf;

/// Mazes the before/after comparison plays, one pair at a time (the demo and the round window).
pub const COMPARISON_MAZES: usize = 12;

/// The app's system sets, chained once here; features only join them.
#[derive(SystemSet, Debug, Clone, Copy, Eq, PartialEq, Hash)]
pub enum AppSystems {
    /// Drain the trainer's events into resources and messages.
    ReceiveEvents,
    /// Keyboard, mouse and panel input.
    RecordInput,
    /// Everything else: playback, editing, demo steps.
    Update,
    /// Commands out to the trainer; scene and overlays follow the state.
    Present,
}

/// What the window is for right now.
#[derive(States, Debug, Clone, Copy, Default, Eq, PartialEq, Hash)]
pub enum Mode {
    /// Watch the agent train; run feedback rounds.
    #[default]
    Watch,
    /// Draw levels and playtest them.
    Edit,
    /// The captioned story.
    Demo,
}

/// How the app starts.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub settings: SessionSettings,
    pub mode: Mode,
    /// Why the judge is the scripted oracle when the embedded one was wanted (shown with the
    /// round and in the demo's captions); None when the chosen judge labels the pairs.
    pub judge_note: Option<String>,
    /// Advance the demo by itself when each step's work is done (for unattended runs).
    pub demo_auto: bool,
    /// Write a JSON report of the demo's stage timings here when it ends.
    pub demo_report: Option<PathBuf>,
    /// Screenshot every demo step into this folder (with `demo_auto`).
    pub demo_shots: Option<PathBuf>,
    /// Screenshots to take and then exit (used by the rendering test).
    pub screenshots: Vec<record::ScriptedShot>,
    /// Exit after this many seconds (unattended runs).
    pub exit_after_s: Option<f64>,
    /// Commands sent at given times (seconds since start).
    pub timed_commands: Vec<(f64, crate::trainer::Command)>,
    /// Write each frame's duration here (CSV).
    pub frame_log: Option<PathBuf>,
    pub window: (u32, u32),
    pub fullscreen: bool,
    /// Frame-rate cap: frames the trainer thread does not have to share the CPU with.
    pub fps: f64,
    /// Overlays on at start.
    pub overlays: scene::Overlays,
    /// Ghost agents in one maze instead of a grid of mazes.
    pub ghosts: bool,
    /// The level file the editor opens on (loaded if it exists).
    pub edit_file: Option<PathBuf>,
    /// Windows open at start.
    pub open_windows: Vec<AppWindow>,
}

/// The app's windows that `--open-window` can open at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppWindow {
    Library,
    Compare,
}

impl std::str::FromStr for AppWindow {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim() {
            "library" => Ok(Self::Library),
            "compare" => Ok(Self::Compare),
            other => Err(format!("`{other}`: the windows are library and compare")),
        }
    }
}

/// Everything the app adds besides Bevy's and egui's own plugins; also what headless tests add
/// (after `MinimalPlugins` and `StatesPlugin`).
pub fn plugin(app: &mut App) {
    app.init_state::<Mode>();
    app.add_message::<record::Record>();
    app.configure_sets(
        Update,
        (
            AppSystems::ReceiveEvents,
            AppSystems::RecordInput,
            AppSystems::Update,
            AppSystems::Present,
        )
            .chain(),
    );
    app.add_plugins((
        bridge::plugin,
        scene::plugin,
        editor::plugin,
        demo::plugin,
        record::captures_plugin,
    ));
}

/// Opens the app window and runs until it is closed.
pub fn run(options: AppOptions) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() {
        return Err(
            "no display to open a window on (DISPLAY is not set): run it in a desktop \
                    session, or headless as `xvfb-run -a maze-rllf ...`; the headless commands \
                    (train, eval, study, record, bench) need no display"
                .into(),
        );
    }
    let mut app = App::new();
    let (width, height) = options.window;
    let mut window = Window {
        title: "maze-rllf — goal misgeneralization and LLM feedback".into(),
        resolution: WindowResolution::new(width, height),
        ..default()
    };
    if options.fullscreen {
        window.mode =
            bevy::window::WindowMode::BorderlessFullscreen(bevy::window::MonitorSelection::Current);
    }
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(window),
        ..default()
    }));
    let frame = std::time::Duration::from_secs_f64(1.0 / options.fps.clamp(1.0, 240.0));
    app.insert_resource(bevy::winit::WinitSettings {
        focused_mode: bevy::winit::UpdateMode::reactive(frame),
        unfocused_mode: bevy::winit::UpdateMode::reactive(frame),
    });
    app.add_plugins(bevy_egui::EguiPlugin::default());
    app.add_plugins(plugin);
    app.add_plugins((
        view::plugin,
        canvas::plugin,
        captions_3d::plugin,
        compare::plugin,
        library::plugin,
        panels::plugin,
        record::plugin,
        scene::effects::plugin,
    ));
    app.insert_state(options.mode);
    app.insert_resource(options.overlays);
    if let Some(path) = &options.edit_file {
        app.insert_resource(editor::EditorState::on_file(path));
    }
    for window in &options.open_windows {
        match window {
            AppWindow::Library => app.world_mut().resource_mut::<library::Library>().open = true,
            AppWindow::Compare => {
                app.world_mut().resource_mut::<compare::CompareState>().open = true;
            }
        }
    }
    if options.ghosts {
        app.insert_resource(scene::Playback {
            arrangement: scene::Arrangement::Ghosts,
            agents: 8,
            ..default()
        });
    }
    match TrainerHandle::spawn(options.settings.clone()) {
        Ok(handle) => {
            app.insert_resource(bridge::TrainerLink::new(handle));
        }
        Err(e) => {
            let mut notices = bridge::Notices::default();
            notices.error(format!(
                "the training thread could not start ({e}): training and feedback rounds are \
                 unavailable; close other programs and start the app again"
            ));
            app.insert_resource(notices);
        }
    }
    app.insert_resource(bridge::SessionDraft::new(options.settings.clone()));
    app.insert_resource(bridge::JudgeNote(options.judge_note.clone()));
    app.insert_resource(demo::DemoOptions {
        auto: options.demo_auto,
        report: options.demo_report.clone(),
        shots: options.demo_shots.clone(),
        trained: options.settings.checkpoint.is_some(),
        judge: demo::DemoJudge::of(&options.settings.judge),
    });
    app.insert_resource(record::Script::new(
        options.screenshots.clone(),
        options.exit_after_s,
        options.timed_commands.clone(),
    ));
    if let Some(path) = &options.frame_log {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        app.insert_resource(record::FrameLog::new(file));
    }
    app.run();
    Ok(())
}
