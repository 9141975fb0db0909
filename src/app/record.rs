//! Recording: PNG screenshots (F12 or the panel), a GIF of the episode on stage (G or the panel),
//! and scripted screenshots for unattended runs (the rendering test), which then exit.

use super::AppSystems;
use super::bridge::{Notices, SendCommand, TrainingLog};
use super::scene::{Stage, View};
use crate::trainer::Command;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use std::io::Write;
use std::path::PathBuf;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Script>().add_systems(
        Update,
        (
            record_keys.in_set(AppSystems::RecordInput),
            (run_script, save_recordings, log_frames).in_set(AppSystems::Present),
        ),
    );
}

/// Where recordings go unless a path is given.
pub const RECORDINGS: &str = "recordings";

/// Something to record now.
#[derive(Message, Clone, Debug)]
pub enum Record {
    Screenshot(Option<PathBuf>),
    /// The first episode on stage as a GIF.
    EpisodeGif(Option<PathBuf>),
}

/// A screenshot to take in a given view (not before `not_before_s`) before exiting.
#[derive(Clone, Debug)]
pub struct ScriptedShot {
    pub view: View,
    pub not_before_s: f64,
    pub path: PathBuf,
}

impl ScriptedShot {
    /// Parses `2d=PATH`, `3d=PATH`, or with a time, `2d@60=PATH` (not before 60 s).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (head, path) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected 2d=PATH, 3d=PATH or 2d@SECONDS=PATH"))?;
        let (view, at) = head.split_once('@').unwrap_or((head, "0"));
        let view = match view {
            "2d" => View::Flat,
            "3d" => View::Blocks,
            other => return Err(format!("`{other}`: the view is 2d or 3d")),
        };
        let not_before_s = at
            .parse::<f64>()
            .map_err(|_| format!("`{at}`: expected a number of seconds after @"))?;
        Ok(Self {
            view,
            not_before_s,
            path: PathBuf::from(path),
        })
    }
}

/// Unattended actions: scripted screenshots, then exit; or exit after a while.
#[derive(Resource, Debug, Default)]
pub struct Script {
    shots: Vec<ScriptedShot>,
    exit_after_s: Option<f64>,
    /// Frames rendered in the current shot's view with something on stage.
    settled_frames: u32,
    /// Frames since the last screenshot was requested.
    since_shot: u32,
    /// Commands still to send, by time.
    timed: Vec<(f64, Command)>,
}

/// Every frame's duration, for measuring smoothness (e.g. while a judge call hangs).
#[derive(Resource)]
pub struct FrameLog {
    out: std::io::BufWriter<std::fs::File>,
}

impl FrameLog {
    pub fn new(file: std::fs::File) -> Self {
        let mut out = std::io::BufWriter::new(file);
        let _ = writeln!(out, "seconds,frame_ms,phase");
        Self { out }
    }
}

fn log_frames(log: Option<ResMut<FrameLog>>, time: Res<Time>, training: Res<TrainingLog>) {
    let Some(mut log) = log else {
        return;
    };
    let phase = training.phase.map_or("starting", |p| p.label());
    let line = format!(
        "{:.3},{:.2},{phase}",
        time.elapsed_secs_f64(),
        time.delta_secs_f64() * 1000.0
    );
    let _ = writeln!(log.out, "{line}").and_then(|()| log.out.flush());
}

/// Frames to let the renderer settle (pipelines compile on the first frames) before a shot.
const SETTLE_FRAMES: u32 = 20;

impl Script {
    pub fn new(
        shots: Vec<ScriptedShot>,
        exit_after_s: Option<f64>,
        mut timed: Vec<(f64, Command)>,
    ) -> Self {
        timed.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            shots,
            exit_after_s,
            timed,
            ..default()
        }
    }
}

fn record_keys(keys: Res<ButtonInput<KeyCode>>, mut record: MessageWriter<Record>) {
    if keys.just_pressed(KeyCode::F12) {
        record.write(Record::Screenshot(None));
    }
    if keys.just_pressed(KeyCode::KeyG) {
        record.write(Record::EpisodeGif(None));
    }
}

#[allow(clippy::too_many_arguments)]
fn run_script(
    mut script: ResMut<Script>,
    mut view: ResMut<View>,
    stage: Res<Stage>,
    time: Res<Time>,
    mut commands: Commands,
    mut exit: MessageWriter<AppExit>,
    mut send: MessageWriter<SendCommand>,
) {
    while script
        .timed
        .first()
        .is_some_and(|(at, _)| *at <= time.elapsed_secs_f64())
    {
        let (_, command) = script.timed.remove(0);
        send.write(SendCommand(command));
    }
    if let Some(limit) = script.exit_after_s
        && time.elapsed_secs_f64() > limit
    {
        exit.write(AppExit::Success);
        return;
    }
    if script.shots.is_empty() {
        if script.since_shot > 0 {
            // Give the last screenshot a few frames to be read back and written.
            script.since_shot += 1;
            if script.since_shot > 10 {
                exit.write(AppExit::Success);
            }
        }
        return;
    }
    let wanted = script.shots[0].view;
    if *view != wanted {
        *view = wanted;
        script.settled_frames = 0;
        return;
    }
    if stage.slots.is_empty() || time.elapsed_secs_f64() < script.shots[0].not_before_s {
        return;
    }
    script.settled_frames += 1;
    if script.settled_frames < SETTLE_FRAMES {
        return;
    }
    let shot = script.shots.remove(0);
    if let Some(dir) = shot.path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    info!(
        "screenshot of the {:?} view -> {}",
        shot.view,
        shot.path.display()
    );
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(shot.path));
    script.settled_frames = 0;
    script.since_shot = 1;
}

fn numbered(ext: &str) -> PathBuf {
    let dir = PathBuf::from(RECORDINGS);
    (1..)
        .map(|i| dir.join(format!("maze-rllf-{i:03}.{ext}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("maze-rllf.{ext}")))
}

fn save_recordings(
    mut requests: MessageReader<Record>,
    stage: Res<Stage>,
    mut notices: ResMut<Notices>,
    mut commands: Commands,
) {
    for request in requests.read() {
        match request {
            Record::Screenshot(path) => {
                let path = path.clone().unwrap_or_else(|| numbered("png"));
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path));
            }
            Record::EpisodeGif(path) => {
                let Some((slot, track)) = stage
                    .slots
                    .iter()
                    .find_map(|s| s.tracks.first().map(|t| (s, t)))
                else {
                    notices.error("no episode on stage to record");
                    continue;
                };
                let path = path.clone().unwrap_or_else(|| numbered("gif"));
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let gif =
                    crate::sim::render::episode_gif(&slot.layout, &track.episode.path, 24, 12)
                        .and_then(|bytes| std::fs::write(&path, bytes).map_err(|e| e.to_string()));
                match gif {
                    Ok(()) => info!("episode GIF -> {}", path.display()),
                    Err(e) => notices.error(format!("{}: {e}", path.display())),
                }
            }
        }
    }
}
