//! What makes the scene readable from the back of a room (window only, not in headless tests):
//! the scene's font, captions rasterised at their on-screen size, a fading trail behind every
//! mouse, a burst when the cheese is reached, a red mark when the corner is reached first, and
//! the cheese's pulse — in both views.

use super::FlatCamera;
use super::spawn::{Caption, SceneFont};
use super::{Goal, Stage, TILE, Track, View, cell_center, rgb, slot_origins, to_3d};
use crate::app::AppSystems;
use crate::app::glyphs::SCENE_FONT;
use crate::app::palette;
use bevy::prelude::*;
use bevy::text::{FontSize, TextFont};
use std::f32::consts::{FRAC_PI_2, TAU};

pub fn plugin(app: &mut App) {
    let line = |width: f32| GizmoConfig {
        line: GizmoLineConfig {
            width,
            joints: GizmoLineJoint::Round(4),
            ..default()
        },
        ..default()
    };
    app.insert_gizmo_config(TrailGizmos, line(7.0))
        .insert_gizmo_config(MarkGizmos, line(4.0))
        .add_systems(Startup, load_scene_font)
        .add_systems(
            Update,
            (
                draw_trails,
                draw_outcome_marks,
                pulse_cheese,
                sharpen_captions,
            )
                .in_set(AppSystems::Present)
                .after(super::move_agents),
        );
}

/// The mice's trails (wide lines).
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct TrailGizmos;

/// Bursts and marks.
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct MarkGizmos;

fn load_scene_font(mut commands: Commands, mut fonts: ResMut<Assets<Font>>) {
    let handle = fonts.add(Font::from_bytes(SCENE_FONT.to_vec()));
    commands.insert_resource(SceneFont(handle));
}

/// Steps of path the trail keeps behind the mouse, fading out.
const TRAIL_STEPS: f32 = 14.0;
const BURST_S: f32 = 0.9;

/// Where the scene puts a point of a maze: the 2D plane, or just above the 3D floor.
#[derive(Clone, Copy)]
struct Place {
    view: View,
    origin: Vec2,
    size: usize,
}

impl Place {
    fn at(&self, row_col: Vec2, height: f32) -> Vec3 {
        let p = cell_center(self.origin, self.size, row_col);
        match self.view {
            View::Flat => p.extend(0.0),
            View::Blocks => to_3d(p, height),
        }
    }

    /// World units per cell.
    fn cell(&self) -> f32 {
        match self.view {
            View::Flat => TILE,
            View::Blocks => 1.0,
        }
    }

    /// A circle around `centre`, lying on the floor in 3D.
    fn circle<G: GizmoConfigGroup>(&self, gizmos: &mut Gizmos<G>, centre: Vec3, r: f32, c: Color) {
        match self.view {
            View::Flat => {
                gizmos.circle_2d(Isometry2d::from_translation(centre.truncate()), r, c);
            }
            View::Blocks => {
                let flat = Isometry3d::new(centre, Quat::from_rotation_x(FRAC_PI_2));
                gizmos.circle(flat, r, c);
            }
        }
    }

    /// A line on the floor from `a` to `b` (offsets from `centre` in 2D world axes).
    fn line<G: GizmoConfigGroup>(
        &self,
        gizmos: &mut Gizmos<G>,
        centre: Vec3,
        a: Vec2,
        b: Vec2,
        c: Color,
    ) {
        let offset = |v: Vec2| match self.view {
            View::Flat => v.extend(0.0),
            View::Blocks => Vec3::new(v.x, 0.0, -v.y),
        };
        gizmos.line(centre + offset(a), centre + offset(b), c);
    }
}

fn places(stage: &Stage, view: View) -> Vec<Place> {
    let (origins, _) = slot_origins(stage);
    stage
        .slots
        .iter()
        .zip(origins)
        .map(|(slot, origin)| Place {
            view,
            origin,
            size: slot.layout.size,
        })
        .collect()
}

fn cell_of(p: crate::level::Pos) -> Vec2 {
    Vec2::new(p.row as f32, p.col as f32)
}

/// The path walked in the last few steps, fading towards its start.
fn draw_trails(stage: Res<Stage>, view: Res<View>, mut gizmos: Gizmos<TrailGizmos>) {
    for (slot, place) in stage.slots.iter().zip(places(&stage, *view)) {
        let base_alpha = if slot.tracks.len() > 1 { 0.35 } else { 0.8 };
        for track in &slot.tracks {
            let now = track.t;
            let first = (now - TRAIL_STEPS).ceil().max(0.0) as usize;
            let walked = (now.floor() as usize).min(track.episode.path.len().saturating_sub(1));
            let fade = |step: f32| {
                let alpha = base_alpha * (1.0 - (now - step) / TRAIL_STEPS).clamp(0.0, 1.0);
                rgb(palette::TRAIL).with_alpha(alpha)
            };
            let points = (first..=walked)
                .filter_map(|i| track.episode.path.get(i).map(|p| (cell_of(*p), i as f32)))
                .chain(std::iter::once((track.position(), now)))
                .map(|(rc, step)| (place.at(rc, 0.05), fade(step)));
            gizmos.linestrip_gradient(points);
        }
    }
}

/// Seconds since the agent of `track` first stood on the corner, if it reached it before the
/// cheese and has got there by now.
fn corner_reached_s(track: &Track, steps_per_second: f32) -> Option<f32> {
    let step = track.corner_first_step()? as f32;
    (track.t >= step).then(|| (track.t - step) / steps_per_second.max(0.1) + track.done_s)
}

/// A golden burst, then a steady ring, where the cheese was reached; a red ring and cross on the
/// corner when it was reached first.
fn draw_outcome_marks(
    stage: Res<Stage>,
    view: Res<View>,
    playback: Res<super::Playback>,
    mut gizmos: Gizmos<MarkGizmos>,
) {
    let (gold, red) = (rgb(palette::GOLD), rgb(palette::RED));
    for (slot, place) in stage.slots.iter().zip(places(&stage, *view)) {
        let cell = place.cell();
        for track in &slot.tracks {
            if track.finished() && track.episode.stats.reached_cheese {
                let centre = place.at(cell_of(slot.layout.cheese), 0.06);
                burst(&mut gizmos, place, centre, track.done_s, gold);
                place.circle(&mut gizmos, centre, 0.48 * cell, gold);
            }
            if let Some(seconds) = corner_reached_s(track, playback.steps_per_second) {
                let centre = place.at(cell_of(slot.layout.corner), 0.06);
                burst(&mut gizmos, place, centre, seconds, red);
                place.circle(&mut gizmos, centre, 0.42 * cell, red);
                let d = 0.26 * cell;
                place.line(&mut gizmos, centre, Vec2::new(-d, -d), Vec2::new(d, d), red);
                place.line(&mut gizmos, centre, Vec2::new(-d, d), Vec2::new(d, -d), red);
            }
        }
    }
}

/// An expanding ring with rays, fading over `BURST_S` seconds.
fn burst(gizmos: &mut Gizmos<MarkGizmos>, place: Place, centre: Vec3, seconds: f32, color: Color) {
    let u = seconds / BURST_S;
    if !(0.0..1.0).contains(&u) {
        return;
    }
    let cell = place.cell();
    let c = color.with_alpha(1.0 - u);
    place.circle(gizmos, centre, (0.4 + 0.9 * u) * cell, c);
    for k in 0..8 {
        let dir = Vec2::from_angle(k as f32 * TAU / 8.0);
        let (inner, outer) = (0.55 + 0.8 * u, 0.8 + 1.0 * u);
        place.line(gizmos, centre, dir * inner * cell, dir * outer * cell, c);
    }
}

/// The cheese swells briefly when a mouse reaches it.
fn pulse_cheese(stage: Res<Stage>, view: Res<View>, mut goals: Query<(&Goal, &mut Transform)>) {
    let base = match *view {
        View::Flat => TILE,
        View::Blocks => 1.0,
    };
    for (goal, mut transform) in &mut goals {
        let Some(slot) = stage.slots.get(goal.slot) else {
            continue;
        };
        let swell = slot
            .tracks
            .iter()
            .filter(|t| t.finished() && t.episode.stats.reached_cheese && t.done_s < BURST_S)
            .map(|t| (std::f32::consts::PI * t.done_s / BURST_S).sin())
            .fold(0.0, f32::max);
        let scale = Vec3::splat(base * (1.0 + 0.35 * swell));
        if transform.scale != scale {
            transform.scale = scale;
        }
    }
}

/// Rasterises each caption at the size it appears on screen (its font size follows the 2D
/// camera's zoom, its transform undoes it), so text stays crisp at any window size.
fn sharpen_captions(
    camera: Query<(&Camera, &Projection), With<FlatCamera>>,
    mut captions: Query<(&Caption, &mut TextFont, &mut Transform)>,
) {
    let Some((camera, Projection::Orthographic(ortho))) = camera.iter().next() else {
        return;
    };
    let (Some(viewport), width) = (camera.logical_viewport_size(), ortho.area.width()) else {
        return;
    };
    if width <= 0.0 || viewport.x <= 0.0 {
        return;
    }
    let pixels_per_unit = viewport.x / width;
    for (caption, mut font, mut transform) in &mut captions {
        let size = (caption.world_size * pixels_per_unit).clamp(6.0, 200.0);
        let current = match font.font_size {
            FontSize::Px(px) => px,
            _ => 0.0,
        };
        if (current - size).abs() > 0.01 * size {
            font.font_size = FontSize::Px(size);
            transform.scale = Vec3::splat(caption.world_size / size);
        }
    }
}
