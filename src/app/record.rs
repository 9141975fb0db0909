//! Recording: PNG screenshots (F12 or the panel), a GIF of the episode on stage (G or the panel),
//! scripted screenshots for unattended runs (the rendering test), and the exit gate: the app
//! exits only once every screenshot it was asked for is on disk (or a bounded wait has passed).

use super::AppSystems;
use super::bridge::{Notices, SendCommand, TrainingLog};
use super::scene::{Stage, View};
use crate::trainer::Command;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The unattended script, the exit gate and the screenshot bookkeeping (also in headless tests).
pub(super) fn captures_plugin(app: &mut App) {
    app.init_resource::<Captures>()
        .init_resource::<ExitGate>()
        .init_resource::<Script>()
        .add_message::<RequestExit>()
        .add_systems(
            Update,
            (
                run_script.in_set(AppSystems::Present),
                exit_when_captured.after(AppSystems::Present),
            ),
        );
}

/// Asks the app to exit once every requested screenshot is written (unattended runs).
#[derive(Message, Clone, Copy, Debug, Default)]
pub struct RequestExit;

/// How long the exit waits for screenshots still being read back and written.
pub const CAPTURE_TIMEOUT_S: f64 = 20.0;

/// Screenshots requested and not yet on disk, and those that failed.
#[derive(Resource, Default, Debug)]
pub struct Captures {
    pub pending: Vec<PathBuf>,
    pub failed: Vec<String>,
    pub written: Vec<PathBuf>,
}

impl Captures {
    /// Records that a screenshot to `path` was requested.
    pub fn begin(&mut self, path: PathBuf) {
        self.pending.push(path);
    }

    /// Records how writing `path` went.
    pub fn finish(&mut self, path: &Path, result: Result<(), String>) {
        self.pending.retain(|p| p != path);
        match result {
            Ok(()) => {
                info!("screenshot -> {}", path.display());
                self.written.push(path.to_path_buf());
            }
            Err(e) => {
                let message = format!("screenshot {} was not written: {e}", path.display());
                error!("{message}");
                self.failed.push(message);
            }
        }
    }
}

/// When an exit was asked for (app time), while screenshots are still pending.
#[derive(Resource, Default, Debug)]
struct ExitGate {
    requested_at: Option<f64>,
}

/// Requests a screenshot of the window into `path` (a PNG), tracked until it is written.
pub fn capture(commands: &mut Commands, captures: &mut Captures, path: PathBuf) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        captures.failed.push(format!(
            "screenshot {}: cannot create its folder: {e}",
            path.display()
        ));
        error!("{}", captures.failed.last().map_or("", String::as_str));
        return;
    }
    captures.begin(path.clone());
    commands.spawn(Screenshot::primary_window()).observe(
        move |captured: On<ScreenshotCaptured>, mut captures: ResMut<Captures>| {
            let result = captured
                .image
                .clone()
                .try_into_dynamic()
                .map_err(|e| format!("the frame could not be converted: {e}"))
                .and_then(|image| image.to_rgb8().save(&path).map_err(|e| e.to_string()));
            captures.finish(&path, result);
        },
    );
}

/// Exits once asked to and no screenshot is pending; after [`CAPTURE_TIMEOUT_S`] it exits anyway,
/// naming what was not written. Failed screenshots make the exit code non-zero.
fn exit_when_captured(
    mut requests: MessageReader<RequestExit>,
    mut gate: ResMut<ExitGate>,
    captures: Res<Captures>,
    time: Res<Time<Real>>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = time.elapsed_secs_f64();
    if requests.read().count() > 0 && gate.requested_at.is_none() {
        gate.requested_at = Some(now);
    }
    let Some(at) = gate.requested_at else {
        return;
    };
    let waited = now - at;
    if !captures.pending.is_empty() && waited < CAPTURE_TIMEOUT_S {
        return;
    }
    for path in &captures.pending {
        error!(
            "screenshot {} was not written within {CAPTURE_TIMEOUT_S} s of the exit: the renderer \
             did not deliver the frame (is the window minimised or the GPU stalled?)",
            path.display()
        );
    }
    gate.requested_at = None;
    if captures.pending.is_empty() && captures.failed.is_empty() {
        exit.write(AppExit::Success);
    } else {
        exit.write(AppExit::error());
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (
            record_keys.in_set(AppSystems::RecordInput),
            (save_recordings, log_frames).in_set(AppSystems::Present),
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

/// Unattended actions: scripted screenshots, then exit; or exit after a while. Times are wall
/// clock (the app's own clock slows down when frames take over 250 ms).
#[derive(Resource, Debug, Default)]
pub struct Script {
    shots: Vec<ScriptedShot>,
    exit_after_s: Option<f64>,
    /// Frames rendered in the current shot's view with something on stage.
    settled_frames: u32,
    /// Whether a scripted screenshot was requested (the run exits when the last is written).
    shot_taken: bool,
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
        let _ = writeln!(
            out,
            "seconds,frame_ms,phase,plotted_iterations,first_plotted_step"
        );
        Self { out }
    }
}

/// Logs real time (the app's own clock clamps a slow frame's delta to 250 ms), and what the
/// training plots hold: their iterations and the env step of the first.
fn log_frames(log: Option<ResMut<FrameLog>>, time: Res<Time<Real>>, training: Res<TrainingLog>) {
    let Some(mut log) = log else {
        return;
    };
    let phase = training.phase.map_or("starting", |p| p.label());
    let first = training
        .iterations
        .front()
        .map_or(String::new(), |it| it.global_step.to_string());
    let line = format!(
        "{:.3},{:.2},{phase},{},{first}",
        time.elapsed_secs_f64(),
        time.delta_secs_f64() * 1000.0,
        training.iterations.len()
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

/// What a script writes besides screenshots: commands to the trainer and the request to exit.
#[derive(SystemParam)]
struct ScriptOutputs<'w> {
    exit: MessageWriter<'w, RequestExit>,
    send: MessageWriter<'w, SendCommand>,
}

fn run_script(
    mut script: ResMut<Script>,
    mut view: ResMut<View>,
    stage: Res<Stage>,
    time: Res<Time<Real>>,
    mut commands: Commands,
    mut captures: ResMut<Captures>,
    mut outputs: ScriptOutputs,
) {
    let now = time.elapsed_secs_f64();
    while script.timed.first().is_some_and(|(at, _)| *at <= now) {
        let (_, command) = script.timed.remove(0);
        outputs.send.write(SendCommand(command));
    }
    if let Some(limit) = script.exit_after_s
        && now > limit
    {
        for shot in std::mem::take(&mut script.shots) {
            let message = format!(
                "screenshot {} was not taken: --exit-after {limit} s came before its view had \
                 settled; give the run more time",
                shot.path.display()
            );
            error!("{message}");
            captures.failed.push(message);
        }
        outputs.exit.write(RequestExit);
        return;
    }
    if script.shots.is_empty() {
        if std::mem::take(&mut script.shot_taken) {
            outputs.exit.write(RequestExit);
        }
        return;
    }
    let wanted = script.shots[0].view;
    if *view != wanted {
        *view = wanted;
        script.settled_frames = 0;
        return;
    }
    if stage.slots.is_empty() || now < script.shots[0].not_before_s {
        return;
    }
    script.settled_frames += 1;
    if script.settled_frames < SETTLE_FRAMES {
        return;
    }
    let shot = script.shots.remove(0);
    info!(
        "screenshot of the {:?} view -> {}",
        shot.view,
        shot.path.display()
    );
    capture(&mut commands, &mut captures, shot.path);
    script.settled_frames = 0;
    script.shot_taken = true;
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
    mut captures: ResMut<Captures>,
    mut commands: Commands,
    mut reported: Local<usize>,
) {
    for request in requests.read() {
        match request {
            Record::Screenshot(path) => {
                let path = path.clone().unwrap_or_else(|| numbered("png"));
                capture(&mut commands, &mut captures, path);
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
    // Failures show in the panel too (a screenshot fails after it was requested).
    for message in captures.failed.iter().skip(*reported) {
        notices.error(message.clone());
    }
    *reported = captures.failed.len();
}
