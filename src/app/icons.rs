//! The scene's actors and marks drawn with egui's painter at any size, so the panels (the legend,
//! the round window's mini-replays) show the same mouse, cheese, trail and marks as the scene.

use super::palette;
use super::palette::c32;
use bevy_egui::egui::{self, Pos2, Stroke, Vec2, vec2};

const FUR: egui::Color32 = c32(palette::FUR);
const PINK: egui::Color32 = c32(palette::PINK);
const CHEESE: egui::Color32 = c32(palette::CHEESE);
const RIND: egui::Color32 = c32(palette::CHEESE_RIND);
const TRAIL: egui::Color32 = c32(palette::TRAIL);
const GOLD: egui::Color32 = c32(palette::GOLD);
const RED: egui::Color32 = c32(palette::RED);

/// A mouse seen from above, `size` points long, facing `heading` (screen axes, y down).
pub fn mouse(painter: &egui::Painter, centre: Pos2, size: f32, heading: Vec2) {
    let forward = if heading.length_sq() > 0.0 {
        heading.normalized()
    } else {
        vec2(1.0, 0.0)
    };
    let side = forward.rot90();
    let at = |f: f32, s: f32| centre + (forward * f + side * s) * size;
    painter.line_segment(
        [at(-0.3, 0.0), at(-0.55, 0.08)],
        Stroke::new(size * 0.05, PINK),
    );
    painter.circle_filled(at(-0.06, 0.0), size * 0.21, FUR);
    painter.circle_filled(at(0.16, 0.0), size * 0.15, FUR);
    painter.circle_filled(at(0.09, 0.15), size * 0.08, PINK);
    painter.circle_filled(at(0.09, -0.15), size * 0.08, PINK);
    painter.circle_filled(at(0.32, 0.0), size * 0.04, PINK);
}

/// A wedge of cheese, `size` points wide.
pub fn cheese(painter: &egui::Painter, centre: Pos2, size: f32) {
    let at = |x: f32, y: f32| centre + vec2(x, y) * size;
    painter.add(egui::Shape::convex_polygon(
        vec![at(-0.36, 0.3), at(0.38, 0.3), at(-0.36, -0.32)],
        CHEESE,
        Stroke::new((size * 0.06).max(1.0), RIND),
    ));
    painter.circle_filled(at(-0.18, 0.12), size * 0.07, RIND);
}

/// The ring drawn where the cheese was reached.
pub fn reached(painter: &egui::Painter, centre: Pos2, radius: f32) {
    painter.circle_stroke(centre, radius, Stroke::new((radius * 0.25).max(1.5), GOLD));
}

/// The ring and cross drawn on a corner reached before the cheese.
pub fn corner_first(painter: &egui::Painter, centre: Pos2, radius: f32) {
    let red = Stroke::new((radius * 0.25).max(1.5), RED);
    painter.circle_stroke(centre, radius, red);
    let d = radius * 0.6;
    painter.line_segment([centre + vec2(-d, -d), centre + vec2(d, d)], red);
    painter.line_segment([centre + vec2(-d, d), centre + vec2(d, -d)], red);
}

/// A stretch of trail through `points`.
pub fn trail(painter: &egui::Painter, points: Vec<Pos2>, width: f32) {
    painter.add(egui::Shape::line(points, Stroke::new(width, TRAIL)));
}
