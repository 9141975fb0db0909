//! Overlay colours: the visitation heatmap and the learned reward on the first maze's cells, as
//! sprites in 2D and as tiles lying on the floor in 3D.

use super::spawn::OverlayColor;
use super::*;
use crate::app::bridge::Fields;

/// A cold-to-warm colour for `x` in [0, 1].
pub fn heat(x: f32, alpha: f32) -> Color {
    let x = x.clamp(0.0, 1.0);
    Color::srgba(
        0.15 + 0.85 * x,
        0.35 * (1.0 - x) + 0.2,
        1.0 - 0.9 * x,
        alpha,
    )
}

/// Colours the heatmap cells of the first maze from visits or the learned reward.
pub(super) fn color_overlay_cells(
    overlays: Res<Overlays>,
    visits: Res<Visits>,
    fields: Res<Fields>,
    stage: Res<Stage>,
    mut sprites: Query<(&OverlayCell, &mut Sprite)>,
    mut tiles: Query<(
        &OverlayCell,
        &mut OverlayColor,
        &mut Visibility,
        &MeshMaterial3d<StandardMaterial>,
    )>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
) {
    let Some(layout) = stage.slots.first().map(|s| &s.layout) else {
        return;
    };
    let visit_max = visits.counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    let reward = fields.reward.as_ref().filter(|f| &f.layout == layout);
    let (lo, hi) = reward
        .map(|f| {
            f.values
                .iter()
                .flatten()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        })
        .unwrap_or((0.0, 1.0));
    let color_of = |cell: &OverlayCell| {
        let i = layout.index(cell.pos);
        if overlays.reward
            && let Some(v) = reward.and_then(|f| f.values[i])
        {
            heat((v - lo) / (hi - lo).max(1e-6), 0.6)
        } else if overlays.heatmap && visits.layout.as_ref() == Some(layout) {
            let n = visits.counts[i] as f32;
            if n > 0.0 {
                heat((n.ln_1p() / visit_max.ln_1p()).max(0.05), 0.55)
            } else {
                Color::NONE
            }
        } else {
            Color::NONE
        }
    };
    for (cell, mut sprite) in &mut sprites {
        sprite.color = color_of(cell);
    }
    let Some(mut materials) = materials else {
        return;
    };
    for (cell, mut painted, mut visibility, material) in &mut tiles {
        let color = color_of(cell);
        if painted.0 == color {
            continue;
        }
        painted.0 = color;
        *visibility = if color.alpha() > 0.0 {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if let Some(mut m) = materials.get_mut(&material.0) {
            m.base_color = color;
        }
    }
}
