//! The colours of the scene's actors and marks, shared by the scene (2D and 3D), the effects and
//! the panels' icons (the tiles' colours are `sim::render::colors`), and [`c32`] for egui.

/// An RGB triple as egui's colour.
pub const fn c32(c: [u8; 3]) -> bevy_egui::egui::Color32 {
    bevy_egui::egui::Color32::from_rgb(c[0], c[1], c[2])
}

pub const FUR: [u8; 3] = [150, 152, 166];
pub const FUR_DARK: [u8; 3] = [112, 114, 128];
pub const PINK: [u8; 3] = [240, 165, 182];
pub const EYE: [u8; 3] = [24, 24, 30];
pub const CHEESE: [u8; 3] = [250, 200, 40];
pub const CHEESE_RIND: [u8; 3] = [214, 150, 18];
pub const CHEESE_HOLE: [u8; 3] = [226, 168, 26];
/// A mouse's recent path.
pub const TRAIL: [u8; 3] = [128, 84, 210];
/// The burst and ring where the cheese was reached.
pub const GOLD: [u8; 3] = [255, 209, 51];
/// The ring and cross on a corner reached before the cheese.
pub const RED: [u8; 3] = [230, 46, 51];
