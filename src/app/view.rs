//! Cameras and lights: the 2D camera, the 3D orbit camera (V switches), a camera of its own for
//! the panels, fitting the stage into the area the panels leave, and the policy-arrow overlay.

use super::AppSystems;
use super::bridge::Fields;
use super::scene::{
    BlocksCamera, FlatCamera, Overlays, Stage, TILE, View, cell_center, slot_origins, to_3d,
};
use crate::sim::Action;
use bevy::camera::visibility::RenderLayers;
use bevy::camera::{ScalingMode, Viewport};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Orbit>()
        .init_resource::<PanelInsets>()
        .insert_resource(ClearColor(Color::srgb(0.08, 0.09, 0.12)))
        .insert_resource(GlobalAmbientLight {
            brightness: 600.0,
            ..default()
        })
        .add_systems(Startup, spawn_cameras)
        .add_systems(
            Update,
            (
                (toggle_view, orbit_controls).in_set(AppSystems::RecordInput),
                (frame_stage, draw_policy_arrows).in_set(AppSystems::Present),
            ),
        );
}

/// Screen space (logical pixels) the panels take on each side.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct PanelInsets {
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
}

/// The 3D camera's place around the stage.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Orbit {
    pub yaw: f32,
    pub pitch: f32,
    /// Multiplies the distance that fits the stage.
    pub zoom: f32,
}

impl Default for Orbit {
    fn default() -> Self {
        Self {
            yaw: 0.0,
            pitch: 0.95,
            zoom: 1.0,
        }
    }
}

/// The layer only the panel camera renders (nothing lives there; it draws egui).
const PANEL_LAYER: usize = 31;

fn spawn_cameras(mut commands: Commands, mut egui: ResMut<EguiGlobalSettings>) {
    egui.auto_create_primary_context = false;
    commands.spawn((
        Name::new("2D camera"),
        FlatCamera,
        Camera2d,
        Projection::Orthographic(OrthographicProjection::default_2d()),
    ));
    commands.spawn((
        Name::new("3D camera"),
        BlocksCamera,
        Camera3d::default(),
        Camera {
            is_active: false,
            ..default()
        },
        Transform::from_xyz(0.0, 12.0, 12.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        Name::new("Panel camera"),
        Camera2d,
        Camera {
            order: 10,
            clear_color: ClearColorConfig::None,
            ..default()
        },
        RenderLayers::layer(PANEL_LAYER),
        PrimaryEguiContext,
    ));
    commands.spawn((
        Name::new("Sun"),
        DirectionalLight {
            illuminance: 9000.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(4.0, 10.0, 6.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn toggle_view(
    keys: Res<ButtonInput<KeyCode>>,
    mut view: ResMut<View>,
    mut flat: Query<&mut Camera, (With<FlatCamera>, Without<BlocksCamera>)>,
    mut blocks: Query<&mut Camera, (With<BlocksCamera>, Without<FlatCamera>)>,
) {
    if keys.just_pressed(KeyCode::KeyV) {
        *view = match *view {
            View::Flat => View::Blocks,
            View::Blocks => View::Flat,
        };
    }
    if view.is_changed() {
        for mut c in &mut flat {
            c.is_active = *view == View::Flat;
        }
        for mut c in &mut blocks {
            c.is_active = *view == View::Blocks;
        }
    }
}

/// Right-drag (or Q/E, R/F) orbits the 3D camera; the wheel (or +/-) zooms.
fn orbit_controls(
    view: Res<View>,
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    time: Res<Time>,
    mut orbit: ResMut<Orbit>,
) {
    if *view != View::Blocks {
        return;
    }
    let dt = time.delta_secs();
    let mut turn = Vec2::ZERO;
    if buttons.pressed(MouseButton::Right) {
        turn += motion.delta * 0.005;
    }
    let key = |k: KeyCode| if keys.pressed(k) { 1.5 * dt } else { 0.0 };
    turn.x += key(KeyCode::KeyE) - key(KeyCode::KeyQ);
    turn.y += key(KeyCode::KeyR) - key(KeyCode::KeyF);
    orbit.yaw += turn.x;
    orbit.pitch = (orbit.pitch + turn.y).clamp(0.15, 1.5);
    let mut zoom = -scroll.delta.y * 0.1;
    zoom += key(KeyCode::Minus) - key(KeyCode::Equal);
    if zoom != 0.0 {
        orbit.zoom = (orbit.zoom * (1.0 + zoom)).clamp(0.2, 4.0);
    }
}

/// Fits the stage into the area the panels leave, for both cameras.
#[allow(clippy::type_complexity)]
fn frame_stage(
    stage: Res<Stage>,
    insets: Res<PanelInsets>,
    orbit: Res<Orbit>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut flat: Query<(&mut Camera, &mut Projection), (With<FlatCamera>, Without<BlocksCamera>)>,
    mut blocks: Query<(&mut Camera, &mut Transform), (With<BlocksCamera>, Without<FlatCamera>)>,
) {
    let scale = window.scale_factor();
    let (w, h) = (window.physical_width(), window.physical_height());
    let left = (insets.left * scale) as u32;
    let top = (insets.top * scale) as u32;
    let right = (insets.right * scale) as u32;
    let bottom = (insets.bottom * scale) as u32;
    let viewport = (w > left + right + 16 && h > top + bottom + 16).then(|| Viewport {
        physical_position: UVec2::new(left, top),
        physical_size: UVec2::new(w - left - right, h - top - bottom),
        ..default()
    });
    let key = |v: &Option<Viewport>| v.as_ref().map(|v| (v.physical_position, v.physical_size));
    let (_, size) = slot_origins(&stage);
    let size = size.max(Vec2::splat(4.0 * TILE));
    for (mut camera, mut projection) in &mut flat {
        if key(&camera.viewport) != key(&viewport) {
            camera.viewport = viewport.clone();
        }
        if let Projection::Orthographic(ortho) = &mut *projection {
            let (min_width, min_height) = (size.x * 1.04, size.y * 1.04);
            let current = match ortho.scaling_mode {
                ScalingMode::AutoMin {
                    min_width,
                    min_height,
                } => Some((min_width, min_height)),
                _ => None,
            };
            if current != Some((min_width, min_height)) {
                ortho.scaling_mode = ScalingMode::AutoMin {
                    min_width,
                    min_height,
                };
            }
        }
    }
    for (mut camera, mut transform) in &mut blocks {
        if key(&camera.viewport) != key(&viewport) {
            camera.viewport = viewport.clone();
        }
        let distance = size.x.max(size.y) / TILE * 1.1 * orbit.zoom;
        let offset = Vec3::new(
            orbit.yaw.sin() * orbit.pitch.cos(),
            orbit.pitch.sin(),
            orbit.yaw.cos() * orbit.pitch.cos(),
        ) * distance;
        *transform = Transform::from_translation(offset).looking_at(Vec3::ZERO, Vec3::Y);
    }
}

/// The policy's preferred move in every cell of the first maze, as arrows (on the floor in 3D).
fn draw_policy_arrows(
    overlays: Res<Overlays>,
    view: Res<View>,
    fields: Res<Fields>,
    stage: Res<Stage>,
    mut gizmos: Gizmos,
) {
    if !overlays.arrows {
        return;
    }
    let Some(slot) = stage.slots.first() else {
        return;
    };
    let Some(field) = fields.policy.as_ref().filter(|f| f.layout == slot.layout) else {
        return;
    };
    let (origins, _) = slot_origins(&stage);
    let Some(&origin) = origins.first() else {
        return;
    };
    let size = slot.layout.size;
    for (i, preferred) in field.preferred.iter().enumerate() {
        let Some((action, p)) = preferred else {
            continue;
        };
        let at = cell_center(
            origin,
            size,
            Vec2::new((i / size) as f32, (i % size) as f32),
        );
        let dir = match action {
            Action::Up => Vec2::Y,
            Action::Down => Vec2::NEG_Y,
            Action::Left => Vec2::NEG_X,
            Action::Right => Vec2::X,
        };
        let length = TILE * (0.2 + 0.25 * p);
        let color = Color::srgba(0.1, 0.1, 0.1, 0.35 + 0.6 * p);
        let (from, to) = (at - dir * length * 0.5, at + dir * length * 0.5);
        match *view {
            View::Flat => {
                gizmos
                    .arrow_2d(from, to, color)
                    .with_tip_length(TILE * 0.18);
            }
            View::Blocks => {
                gizmos
                    .arrow(to_3d(from, 0.06), to_3d(to, 0.06), color)
                    .with_tip_length(0.18);
            }
        }
    }
}
