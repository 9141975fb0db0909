//! Painting on the scene in edit mode: the cell under the cursor (2D through the flat camera, 3D
//! by a ray onto the wall tops and the floor), its hover highlight, a left-drag as one undoable
//! stroke of the current tool, and the tool keys 1-4. Right-drag stays the camera's.

use super::editor::{EditorAction, EditorState, TOOL_KEYS};
use super::scene::{
    BlocksCamera, FlatCamera, Stage, TILE, View, cell_at, cell_center, slot_origins, to_3d,
};
use super::{AppSystems, Mode};
use crate::level::Pos;
use crate::level::edit::Tile;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, egui};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<CanvasPointer>()
        .add_systems(
            Update,
            (
                (track_pointer, paint_on_scene, tool_keys)
                    .chain()
                    .in_set(AppSystems::RecordInput),
                draw_hover.in_set(AppSystems::Present),
            )
                .run_if(in_state(Mode::Edit)),
        )
        .add_systems(OnExit(Mode::Edit), end_stroke);
}

/// Heights in the 3D scene (cell units): the top of a wall block and of a floor tile.
const WALL_TOP: f32 = 0.8;
const FLOOR_TOP: f32 = 0.025;

/// Where the pointer is on the edited maze, and the stroke under way.
#[derive(Resource, Default, Debug, Clone, PartialEq, Eq)]
pub struct CanvasPointer {
    /// The cell under the cursor (None: off the maze, over a panel, or no cursor).
    pub hover: Option<Pos>,
    /// A left-drag that began on the maze is painting.
    pub stroking: bool,
    /// The last cell the stroke painted (a drag paints each cell once as it enters it).
    last: Option<Pos>,
}

/// The scene's two cameras: the flat one (2D) and the blocks one (3D).
#[derive(SystemParam)]
struct SceneCameras<'w, 's> {
    flat: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<FlatCamera>>,
    blocks: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<BlocksCamera>>,
}

/// The cell of the edited maze under the cursor, in whichever view is shown.
fn track_pointer(
    window: Single<&Window, With<PrimaryWindow>>,
    view: Res<View>,
    stage: Res<Stage>,
    state: Res<EditorState>,
    cameras: SceneCameras,
    mut egui: EguiContexts,
    mut pointer: ResMut<CanvasPointer>,
) {
    // The side and bottom panels are outside the camera's viewport; a window (library, round,
    // compare) over the scene, or a widget being dragged, keeps the pointer. (The panels' root
    // Ui covers the whole screen on the background layer, so egui's own "over egui" is always
    // true here.)
    let over_panel = egui.ctx_mut().is_ok_and(|ctx| {
        let over_window = ctx
            .pointer_latest_pos()
            .and_then(|p| ctx.layer_id_at(p))
            .is_some_and(|layer| layer.order != egui::Order::Background);
        over_window || ctx.egui_is_using_pointer()
    });
    let hover = window
        .cursor_position()
        .filter(|_| !over_panel)
        .and_then(|cursor| {
            let (origins, _) = slot_origins(&stage);
            let origin = *origins.first()?;
            let size = stage.slots.first()?.layout.size;
            match *view {
                View::Flat => {
                    let (camera, at) = cameras.flat.iter().find(|(c, _)| c.is_active)?;
                    let world = camera
                        .viewport_to_world_2d(at, in_viewport(camera, cursor)?)
                        .ok()?;
                    cell_at(origin, size, world)
                }
                View::Blocks => {
                    let (camera, at) = cameras.blocks.iter().find(|(c, _)| c.is_active)?;
                    let ray = camera
                        .viewport_to_world(at, in_viewport(camera, cursor)?)
                        .ok()?;
                    // A wall top hides the floor behind it; else the floor.
                    let on_plane = |height: f32| {
                        let t = ray.intersect_plane(
                            Vec3::new(0.0, height, 0.0),
                            InfinitePlane3d::new(Vec3::Y),
                        )?;
                        let p = ray.get_point(t);
                        cell_at(origin, size, Vec2::new(p.x * TILE, -p.z * TILE))
                    };
                    on_plane(WALL_TOP)
                        .filter(|&p| state.editor.level.tile_at(p) == Some(Tile::Wall))
                        .or_else(|| on_plane(FLOOR_TOP))
                }
            }
        })
        // The stage can lag the level by a frame (a resize): only the level's own cells.
        .filter(|&p| state.editor.level.tile_at(p).is_some());
    if pointer.hover != hover {
        pointer.hover = hover;
    }
}

/// The cursor (window, logical pixels; what Bevy's viewport conversions take) when it is inside
/// the camera's viewport, the area the panels leave.
fn in_viewport(camera: &Camera, cursor: Vec2) -> Option<Vec2> {
    camera
        .logical_viewport_rect()
        .is_none_or(|rect| rect.contains(cursor))
        .then_some(cursor)
}

/// Left press on the maze begins a stroke, entering a cell paints it, release ends the stroke
/// (one undo step).
fn paint_on_scene(
    buttons: Res<ButtonInput<MouseButton>>,
    state: Res<EditorState>,
    mut pointer: ResMut<CanvasPointer>,
    mut actions: MessageWriter<EditorAction>,
) {
    let tile = state.tool;
    if buttons.just_pressed(MouseButton::Left)
        && let Some(pos) = pointer.hover
    {
        actions.write(EditorAction::BeginStroke);
        actions.write(EditorAction::StrokeTo { pos, tile });
        pointer.stroking = true;
        pointer.last = Some(pos);
        return;
    }
    if !pointer.stroking {
        return;
    }
    if !buttons.pressed(MouseButton::Left) {
        actions.write(EditorAction::EndStroke);
        pointer.stroking = false;
        pointer.last = None;
        return;
    }
    if let Some(pos) = pointer.hover.filter(|&p| pointer.last != Some(p)) {
        actions.write(EditorAction::StrokeTo { pos, tile });
        pointer.last = Some(pos);
    }
}

/// 1-4 choose wall, floor, start, cheese (not while a text field has the keyboard).
fn tool_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    mut egui: EguiContexts,
    mut state: ResMut<EditorState>,
) {
    let Some(keys) = keys else {
        return;
    };
    if egui
        .ctx_mut()
        .is_ok_and(|ctx| ctx.egui_wants_keyboard_input())
    {
        return;
    }
    for (key, tile) in TOOL_KEYS {
        if keys.just_pressed(key) && state.tool != tile {
            state.tool = tile;
        }
    }
}

/// A stroke cut short by leaving edit mode still becomes one undo step.
fn end_stroke(mut pointer: ResMut<CanvasPointer>, mut actions: MessageWriter<EditorAction>) {
    if pointer.stroking {
        actions.write(EditorAction::EndStroke);
    }
    *pointer = CanvasPointer::default();
}

/// An outline of the hovered cell in the tool's colour.
fn draw_hover(
    pointer: Res<CanvasPointer>,
    state: Res<EditorState>,
    stage: Res<Stage>,
    view: Res<View>,
    mut gizmos: Gizmos,
) {
    let Some(pos) = pointer.hover else {
        return;
    };
    let (origins, _) = slot_origins(&stage);
    let (Some(&origin), Some(slot)) = (origins.first(), stage.slots.first()) else {
        return;
    };
    // The tool's colour inside a white outline: visible on walls and floor alike.
    let color = super::scene::rgb(super::editor::tool_color(state.tool));
    let outline = Color::WHITE;
    let at = cell_center(
        origin,
        slot.layout.size,
        Vec2::new(pos.row as f32, pos.col as f32),
    );
    match *view {
        View::Flat => {
            gizmos.rect_2d(
                Isometry2d::from_translation(at),
                Vec2::splat(TILE * 0.94),
                outline,
            );
            gizmos.rect_2d(
                Isometry2d::from_translation(at),
                Vec2::splat(TILE * 0.82),
                color,
            );
            gizmos.rect_2d(
                Isometry2d::from_translation(at),
                Vec2::splat(TILE * 0.76),
                color,
            );
        }
        View::Blocks => {
            let height = if state.editor.level.tile_at(pos) == Some(Tile::Wall) {
                WALL_TOP + 0.01
            } else {
                FLOOR_TOP + 0.01
            };
            let rotation = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
            let iso = Isometry3d::new(to_3d(at, height), rotation);
            gizmos.rect(iso, Vec2::splat(0.96), outline);
            gizmos.rect(iso, Vec2::splat(0.84), color);
        }
    }
}
