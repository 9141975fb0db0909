//! The maze scene: wall/floor tiles, start, cheese and agents spawned from the levels on stage
//! (despawned cleanly when they change), smooth moves along streamed episodes, a 2D top-down view
//! and a 3D view of the same world, playlists of side-by-side comparisons with running tallies,
//! and the overlays (visitation heatmap, policy arrows, learned reward).

mod actors;
pub mod effects;
mod overlay;
mod playlist;
mod spawn;

pub use overlay::heat;
pub use playlist::{Tally, TallyText, paired_playlist};
pub use spawn::START;

/// The camera that draws the 2D scene.
#[derive(Component)]
pub struct FlatCamera;

/// The camera that draws the 3D scene.
#[derive(Component)]
pub struct BlocksCamera;

use super::bridge::EpisodesArrived;
use crate::app::{AppSystems, Mode};
use crate::level::{Layout, Pos};
use crate::sim::Rollout;
use crate::sim::render::colors;
use crate::trainer::EpisodeSource;
use bevy::prelude::*;

/// Side of one cell in 2D world units.
pub const TILE: f32 = 32.0;

/// Cells of height a tally takes under its maze.
pub const TALLY_CELLS: f32 = 2.6;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Playback>()
        .init_resource::<View>()
        .init_resource::<Overlays>()
        .init_resource::<Stage>()
        .init_resource::<Visits>()
        .init_resource::<Spawned>()
        .add_systems(
            Update,
            (
                accept_episodes.in_set(AppSystems::Update),
                advance_playback
                    .in_set(AppSystems::Update)
                    .after(accept_episodes),
                (
                    spawn::spawn_stage,
                    move_agents,
                    playlist::update_tallies,
                    overlay::color_overlay_cells,
                )
                    .chain()
                    .in_set(AppSystems::Present),
            ),
        );
}

/// How fast and how episodes are played.
#[derive(Resource, Debug, Clone)]
pub struct Playback {
    pub steps_per_second: f32,
    pub arrangement: Arrangement,
    /// Mazes (grid) or agents (ghosts) shown at once.
    pub agents: usize,
    /// Seconds a finished stage stays before the next batch replaces it.
    pub hold_s: f32,
    pub paused: bool,
}

impl Default for Playback {
    fn default() -> Self {
        Self {
            steps_per_second: 8.0,
            arrangement: Arrangement::Grid,
            agents: 4,
            hold_s: 0.8,
            paused: false,
        }
    }
}

/// A grid of N mazes with one agent each, or N ghost agents in one maze.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arrangement {
    #[default]
    Grid,
    Ghosts,
}

/// 2D top-down or 3D blocks.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Flat,
    Blocks,
}

/// Which overlays are drawn (2D view, first maze on stage).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overlays {
    pub heatmap: bool,
    pub arrows: bool,
    pub reward: bool,
}

/// One agent's episode being played.
#[derive(Clone, Debug)]
pub struct Track {
    pub episode: Rollout,
    /// Steps played so far (fractional while moving between cells).
    pub t: f32,
    /// Seconds since the episode played out (0 while it plays).
    pub done_s: f32,
}

impl Track {
    pub fn new(episode: Rollout) -> Self {
        Self {
            episode,
            t: 0.0,
            done_s: 0.0,
        }
    }

    /// The step at which the agent first stands on the corner cell, if it gets there before the
    /// cheese (the proxy goal reached first).
    pub fn corner_first_step(&self) -> Option<usize> {
        corner_first_step(&self.episode.layout, &self.episode.path)
    }

    /// The direction the agent faces now, in 2D world axes (x right, y up): its current move, or
    /// its last real move while it stands still or bumps into a wall; right before any move.
    pub fn heading(&self) -> Vec2 {
        let path = &self.episode.path;
        let now = (self.t.floor() as usize).min(path.len().saturating_sub(1));
        (0..=now)
            .rev()
            .find_map(|i| {
                let (a, b) = (path.get(i)?, path.get(i + 1)?);
                let d = Vec2::new(b.col as f32 - a.col as f32, a.row as f32 - b.row as f32);
                (d != Vec2::ZERO).then_some(d)
            })
            .unwrap_or(Vec2::X)
    }

    pub fn finished(&self) -> bool {
        self.t >= self.last_step()
    }

    fn last_step(&self) -> f32 {
        self.episode.path.len().saturating_sub(1) as f32
    }

    /// Where the agent is, in cells (row, col), between two cells while moving.
    pub fn position(&self) -> Vec2 {
        let path = &self.episode.path;
        let Some(&first) = path.first() else {
            return Vec2::ZERO;
        };
        let i = (self.t.floor() as usize).min(path.len() - 1);
        let j = (i + 1).min(path.len() - 1);
        let frac = (self.t - i as f32).clamp(0.0, 1.0);
        let (a, b) = (path.get(i).copied().unwrap_or(first), path[j]);
        let a = Vec2::new(a.row as f32, a.col as f32);
        let b = Vec2::new(b.row as f32, b.col as f32);
        a.lerp(b, frac)
    }
}

/// The step at which `path` first stands on `layout`'s corner, if that comes before the cheese.
pub fn corner_first_step(layout: &Layout, path: &[Pos]) -> Option<usize> {
    path.iter()
        .take_while(|p| **p != layout.cheese)
        .position(|p| *p == layout.corner)
}

/// A maze with one agent's episode, captioned.
pub fn single(e: &Rollout, caption: &str) -> Slot {
    Slot {
        layout: e.layout.clone(),
        caption: format!("{caption}: {}", outcome_caption(e)),
        tracks: vec![Track::new(e.clone())],
        tally: None,
    }
}

/// One maze on stage.
#[derive(Clone, Debug)]
pub struct Slot {
    pub layout: Layout,
    pub caption: String,
    pub tracks: Vec<Track>,
    /// In a playlist: the outcomes of this column's earlier episodes, shown under the maze with
    /// this one's added once it has played out.
    pub tally: Option<Tally>,
}

/// What is on stage; `generation` changes whenever the mazes change.
#[derive(Resource, Default, Debug)]
pub struct Stage {
    pub slots: Vec<Slot>,
    pub generation: u64,
    /// Seconds since every track finished.
    pub finished_for: f32,
    /// The next stage, shown when this one has played out.
    pub pending: Option<Vec<Slot>>,
    /// A baseline batch waiting for its fine-tuned partner.
    before: Option<Vec<Rollout>>,
    /// Mazes per row when they come in pairs (side-by-side comparisons); None: a square grid.
    pub columns: Option<usize>,
    /// Pages played one after the other, round and round (each page a row of mazes).
    pub playlist: Vec<Vec<Slot>>,
    /// The page of `playlist` on stage.
    pub playlist_at: usize,
}

impl Stage {
    /// Puts `slots` on stage now.
    pub fn show(&mut self, slots: Vec<Slot>) {
        self.playlist.clear();
        self.put_on(slots, None);
    }

    /// Puts `slots` on stage now, `columns` to a row (e.g. 2 for pairs side by side).
    pub fn show_in_columns(&mut self, slots: Vec<Slot>, columns: usize) {
        self.playlist.clear();
        self.put_on(slots, Some(columns.max(1)));
    }

    /// Plays `pages` one after the other (then again from the first), each as one row.
    pub fn show_playlist(&mut self, pages: Vec<Vec<Slot>>) {
        let first = pages.first().cloned().unwrap_or_default();
        let columns = first.len().max(1);
        self.put_on(first, Some(columns));
        self.playlist = pages;
        self.playlist_at = 0;
    }

    fn put_on(&mut self, slots: Vec<Slot>, columns: Option<usize>) {
        self.slots = slots;
        self.generation += 1;
        self.finished_for = 0.0;
        self.columns = columns;
    }

    /// Whether any maze on stage shows a tally under it.
    pub fn has_tallies(&self) -> bool {
        self.slots.iter().any(|s| s.tally.is_some())
    }

    pub fn all_finished(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.tracks.iter().all(Track::finished))
    }
}

/// Visits per cell of the first maze on stage, over every episode played in it.
#[derive(Resource, Default, Debug)]
pub struct Visits {
    pub layout: Option<Layout>,
    pub counts: Vec<u32>,
}

impl Visits {
    fn add(&mut self, layout: &Layout, path: &[Pos]) {
        if self.layout.as_ref() != Some(layout) {
            self.layout = Some(layout.clone());
            self.counts = vec![0; layout.size * layout.size];
        }
        for p in path {
            self.counts[layout.index(*p)] += 1;
        }
    }
}

/// Which stage generation and view the entities were spawned for.
#[derive(Resource, Default, Debug)]
struct Spawned {
    generation: u64,
    view: View,
}

/// Everything `spawn_stage` spawns (despawned together).
#[derive(Component)]
pub struct SceneEntity;

#[derive(Component, Debug, Clone, Copy)]
pub struct Wall;

#[derive(Component, Debug, Clone, Copy)]
pub struct Floor;

/// The cheese of maze `slot`.
#[derive(Component, Debug, Clone, Copy)]
pub struct Goal {
    pub slot: usize,
}

/// The start cell of maze `slot`.
#[derive(Component, Debug, Clone, Copy)]
pub struct StartCell {
    pub slot: usize,
}

/// A mouse playing track `track` of maze `slot`.
#[derive(Component, Debug, Clone, Copy)]
pub struct Agent {
    pub slot: usize,
    pub track: usize,
}

/// A heatmap cell over the first maze.
#[derive(Component, Debug, Clone, Copy)]
pub struct OverlayCell {
    pub pos: Pos,
}

pub fn rgb(c: [u8; 3]) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

/// Mazes per row on stage: a square grid.
fn columns(slots: usize) -> usize {
    (slots as f32).sqrt().ceil().max(1.0) as usize
}

/// The centre of every maze on stage, in 2D world units, and the stage's total size.
pub fn slot_origins(stage: &Stage) -> (Vec<Vec2>, Vec2) {
    let n = stage.slots.len();
    if n == 0 {
        return (Vec::new(), Vec2::ZERO);
    }
    let side = stage.slots.iter().map(|s| s.layout.size).max().unwrap_or(1) as f32 * TILE;
    let gap = side + 1.5 * TILE;
    let cols = stage.columns.unwrap_or_else(|| columns(n));
    let rows = n.div_ceil(cols);
    let origins: Vec<Vec2> = (0..n)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            Vec2::new(
                (c as f32 - (cols as f32 - 1.0) / 2.0) * gap,
                ((rows as f32 - 1.0) / 2.0 - r as f32) * gap,
            )
        })
        .collect();
    // Captions take a cell above each maze; a tally four lines under it, so the mazes move up.
    let (below, lift) = if stage.has_tallies() {
        (TALLY_CELLS, 0.5 * (TALLY_CELLS - 1.0) * TILE)
    } else {
        (0.0, 0.0)
    };
    (
        origins.into_iter().map(|o| o + Vec2::Y * lift).collect(),
        Vec2::new(cols as f32 * gap, rows as f32 * gap + (1.0 + below) * TILE),
    )
}

/// The 2D centre of cell (row, col) — fractional while moving — of a maze of side `size`.
pub fn cell_center(origin: Vec2, size: usize, row_col: Vec2) -> Vec2 {
    let half = size as f32 / 2.0;
    origin
        + Vec2::new(
            (row_col.y + 0.5 - half) * TILE,
            (half - row_col.x - 0.5) * TILE,
        )
}

/// The cell of a maze of side `size` centred at `origin` that the 2D point `p` falls in, if any
/// (the inverse of [`cell_center`]).
pub fn cell_at(origin: Vec2, size: usize, p: Vec2) -> Option<Pos> {
    let half = size as f32 / 2.0;
    let col = (p.x - origin.x) / TILE + half;
    let row = half - (p.y - origin.y) / TILE;
    let inside = |v: f32| v >= 0.0 && v < size as f32;
    (inside(col) && inside(row)).then(|| Pos::new(row as usize, col as usize))
}

/// 2D world units to the 3D world (one cell = one unit, y up).
pub fn to_3d(p: Vec2, height: f32) -> Vec3 {
    Vec3::new(p.x / TILE, height, -p.y / TILE)
}

fn pos_vec(p: Pos) -> Vec2 {
    Vec2::new(p.row as f32, p.col as f32)
}

/// Turns streamed episodes into the next stage.
pub fn accept_episodes(
    mut arrived: MessageReader<EpisodesArrived>,
    mut stage: ResMut<Stage>,
    mut visits: ResMut<Visits>,
    playback: Res<Playback>,
    mode: Res<State<Mode>>,
) {
    for EpisodesArrived(batch) in arrived.read() {
        let slots = match batch.source {
            EpisodeSource::Current if *mode.get() == Mode::Edit => continue,
            EpisodeSource::Current => arrange(&batch.episodes, &playback),
            EpisodeSource::Playtest => ghosts(&batch.episodes, "playtest", usize::MAX),
            EpisodeSource::Baseline => {
                stage.before = Some(batch.episodes.clone());
                continue;
            }
            EpisodeSource::Tuned => {
                let before = stage.before.take().unwrap_or_default();
                let pairs: Vec<(Rollout, Rollout)> = before
                    .into_iter()
                    .zip(batch.episodes.iter().cloned())
                    .collect();
                let pages = paired_playlist(&pairs, ["before feedback", "after feedback"]);
                if let Some(first) = pages.first().and_then(|p| p.first()) {
                    for t in &first.tracks {
                        visits.add(&first.layout, &t.episode.path);
                    }
                }
                if !pages.is_empty() {
                    stage.pending = None;
                    stage.show_playlist(pages);
                }
                continue;
            }
        };
        if slots.is_empty() {
            continue;
        }
        if let Some(first) = slots.first() {
            for t in &first.tracks {
                visits.add(&first.layout, &t.episode.path);
            }
        }
        // Comparisons and playtests go on stage at once; training streams wait their turn.
        let now = batch.source != EpisodeSource::Current || stage.slots.is_empty();
        if now {
            stage.pending = None;
            stage.show(slots);
        } else {
            stage.pending = Some(slots);
        }
    }
}

fn outcome_caption(e: &Rollout) -> &'static str {
    match e.stats.outcome {
        crate::sim::Outcome::Cheese => "cheese",
        crate::sim::Outcome::Corner => "corner first",
        crate::sim::Outcome::Neither => "neither",
    }
}

fn ghosts(episodes: &[Rollout], caption: &str, max: usize) -> Vec<Slot> {
    let Some(first) = episodes.first() else {
        return Vec::new();
    };
    let tracks: Vec<Track> = episodes
        .iter()
        .filter(|e| e.layout == first.layout)
        .take(max)
        .cloned()
        .map(Track::new)
        .collect();
    let cheese = tracks
        .iter()
        .filter(|t| t.episode.stats.reached_cheese)
        .count();
    vec![Slot {
        layout: first.layout.clone(),
        caption: format!("{caption}: {cheese}/{} reach the cheese", tracks.len()),
        tracks,
        tally: None,
    }]
}

fn arrange(episodes: &[Rollout], playback: &Playback) -> Vec<Slot> {
    match playback.arrangement {
        Arrangement::Grid => episodes
            .iter()
            .take(playback.agents.max(1))
            .map(|e| single(e, "agent"))
            .collect(),
        Arrangement::Ghosts => ghosts(episodes, "ghosts", playback.agents.max(1)),
    }
}

/// Moves every track forward in time; swaps in the pending stage once this one has played out,
/// or replays it.
pub fn advance_playback(time: Res<Time>, playback: Res<Playback>, mut stage: ResMut<Stage>) {
    if playback.paused {
        return;
    }
    let dt = time.delta_secs();
    let step = dt * playback.steps_per_second;
    for slot in &mut stage.slots {
        for track in &mut slot.tracks {
            if track.finished() {
                track.done_s += dt;
            }
            track.t = (track.t + step).min(track.last_step());
        }
    }
    if !stage.all_finished() {
        return;
    }
    stage.finished_for += dt;
    if stage.finished_for < playback.hold_s {
        return;
    }
    if let Some(next) = stage.pending.take() {
        stage.show(next);
    } else if stage.playlist.len() > 1 {
        let at = (stage.playlist_at + 1) % stage.playlist.len();
        let page = stage.playlist[at].clone();
        let columns = stage.columns;
        stage.put_on(page, columns);
        stage.playlist_at = at;
    } else {
        stage.finished_for = 0.0;
        for slot in &mut stage.slots {
            for track in &mut slot.tracks {
                track.t = 0.0;
                track.done_s = 0.0;
            }
        }
    }
}

/// Places every agent where its track is now (between cells while moving), facing its heading.
pub fn move_agents(
    stage: Res<Stage>,
    view: Res<View>,
    mut agents: Query<(&Agent, &mut Transform)>,
) {
    let (origins, _) = slot_origins(&stage);
    for (agent, mut transform) in &mut agents {
        let (Some(slot), Some(origin)) = (stage.slots.get(agent.slot), origins.get(agent.slot))
        else {
            continue;
        };
        let Some(track) = slot.tracks.get(agent.track) else {
            continue;
        };
        let at = cell_center(*origin, slot.layout.size, track.position());
        let heading = track.heading();
        let angle = heading.y.atan2(heading.x);
        (transform.translation, transform.rotation) = match *view {
            View::Flat => (at.extend(3.0), Quat::from_rotation_z(angle)),
            View::Blocks => (to_3d(at, 0.0), Quat::from_rotation_y(angle)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_under_a_point_inverts_the_cell_centre() {
        for (origin, size) in [(Vec2::ZERO, 7), (Vec2::new(-300.0, 120.0), 10)] {
            for row in 0..size {
                for col in 0..size {
                    let centre = cell_center(origin, size, Vec2::new(row as f32, col as f32));
                    for nudge in [
                        Vec2::ZERO,
                        Vec2::splat(0.45 * TILE),
                        Vec2::splat(-0.45 * TILE),
                    ] {
                        assert_eq!(
                            cell_at(origin, size, centre + nudge),
                            Some(Pos::new(row, col))
                        );
                    }
                }
            }
            let corner = cell_center(origin, size, Vec2::ZERO);
            assert_eq!(
                cell_at(origin, size, corner - Vec2::new(0.6 * TILE, 0.0)),
                None
            );
            assert_eq!(
                cell_at(origin, size, corner + Vec2::new(0.0, 0.6 * TILE)),
                None
            );
        }
    }
}
