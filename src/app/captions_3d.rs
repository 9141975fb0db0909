//! Captions in the 3D view: each maze's caption above it and its running tally below it, as
//! labels anchored to the stage (projected through the 3D camera every frame, so they follow the
//! orbit and zoom). The 2D view draws the same text in the scene itself.

use super::glyphs::for_panels;
use super::scene::BlocksCamera;
use super::scene::{Stage, View, cell_center, slot_origins, to_3d};
use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, draw_captions);
}

/// Height of the anchors above the floor (cell units): over the wall tops.
const ANCHOR_HEIGHT: f32 = 0.9;

fn draw_captions(
    mut contexts: EguiContexts,
    view: Res<View>,
    stage: Res<Stage>,
    camera: Query<(&Camera, &GlobalTransform), With<BlocksCamera>>,
) -> Result {
    if *view != View::Blocks || stage.slots.is_empty() {
        return Ok(());
    }
    let Some((camera, at)) = camera.iter().find(|(c, _)| c.is_active) else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?.clone();
    let (origins, _) = slot_origins(&stage);
    let size = (15.0 - stage.slots.len() as f32).clamp(11.0, 15.0);
    for (i, (slot, &origin)) in stage.slots.iter().zip(&origins).enumerate() {
        let n = slot.layout.size;
        let mid = (n / 2) as f32;
        let lines = [
            (Some(slot.caption.clone()), -0.9, "caption"),
            (slot.tally_text(), n as f32 + 0.4, "tally"),
        ];
        for (text, row, kind) in lines {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                continue;
            };
            let anchor = to_3d(cell_center(origin, n, Vec2::new(row, mid)), ANCHOR_HEIGHT);
            // Window coordinates (Bevy adds the viewport's offset), as egui places areas.
            let Ok(point) = camera.world_to_viewport(at, anchor) else {
                continue;
            };
            egui::Area::new(egui::Id::new(("caption-3d", i, kind)))
                .fixed_pos(egui::pos2(point.x, point.y))
                .pivot(egui::Align2::CENTER_CENTER)
                .order(egui::Order::Background)
                .interactable(false)
                .show(&ctx, |ui| {
                    egui::Frame::new()
                        .fill(Color32::from_black_alpha(150))
                        .corner_radius(3.0)
                        .inner_margin(egui::Margin::symmetric(6, 2))
                        .show(ui, |ui| {
                            ui.label(
                                RichText::new(for_panels(&text))
                                    .size(size)
                                    .color(Color32::from_gray(236)),
                            );
                        });
                });
        }
    }
    Ok(())
}
