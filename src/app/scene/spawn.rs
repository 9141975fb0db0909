//! The stage's entities: each slot's tiles, start, cheese, corner, agents, captions and overlay
//! cells, as 2D sprites and shapes or 3D blocks, respawned when the levels on stage change.

use super::actors::{Actors2d, Actors3d};
use super::*;
use bevy::ecs::system::SystemParam;
use bevy::text::FontSize;

/// Handles for the 3D view's tiles and markers, made once.
pub(super) struct Blocks3d {
    wall: Handle<Mesh>,
    floor: Handle<Mesh>,
    marker: Handle<Mesh>,
    overlay: Handle<Mesh>,
    wall_mat: Handle<StandardMaterial>,
    floor_mat: Handle<StandardMaterial>,
    start_mat: Handle<StandardMaterial>,
    corner_mat: Handle<StandardMaterial>,
    actors: Actors3d,
}

impl Blocks3d {
    fn new(meshes: &mut Assets<Mesh>, materials: &mut Assets<StandardMaterial>) -> Self {
        let mut mat = |c: [u8; 3]| {
            materials.add(StandardMaterial {
                base_color: rgb(c),
                perceptual_roughness: 0.8,
                ..default()
            })
        };
        Self {
            wall_mat: mat(colors::WALL),
            floor_mat: mat(colors::FLOOR),
            start_mat: mat(START),
            corner_mat: mat(colors::CORNER),
            wall: meshes.add(Cuboid::new(1.0, 0.8, 1.0)),
            floor: meshes.add(Cuboid::new(1.0, 0.05, 1.0)),
            marker: meshes.add(Cylinder::new(0.35, 0.02)),
            overlay: meshes.add(Plane3d::new(Vec3::Y, Vec2::splat(0.5))),
            actors: Actors3d::new(meshes, materials),
        }
    }
}

/// An overlay cell's colour as last painted (materials are only touched when it changes).
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct OverlayColor(pub Color);

/// A caption in the 2D scene, `world_size` units tall: its font size follows the camera's zoom
/// so that glyphs are rasterised at the size they appear on screen (crisp at any window size).
#[derive(Component, Debug, Clone, Copy)]
pub struct Caption {
    pub world_size: f32,
}

/// The font of the scene's captions: the panels' font (egui's Ubuntu Light), so every caption
/// has the glyphs the glyph test checks.
#[derive(Resource, Clone, Debug)]
pub struct SceneFont(pub Handle<Font>);

/// The assets the 2D view draws with, when rendering is on (absent in headless tests).
#[derive(SystemParam)]
pub(super) struct Paint<'w> {
    meshes: Option<ResMut<'w, Assets<Mesh>>>,
    color_materials: Option<ResMut<'w, Assets<ColorMaterial>>>,
    materials: Option<ResMut<'w, Assets<StandardMaterial>>>,
    font: Option<Res<'w, SceneFont>>,
}

/// The start cell's marker colour.
pub const START: [u8; 3] = [120, 190, 120];

/// The meshes and materials every actor of a view shares, made the first time the view shows.
#[derive(Default)]
pub(super) struct SharedActors {
    flat: Option<Actors2d>,
    blocks: Option<Blocks3d>,
}

/// Respawns the stage's entities when the mazes or the view change.
pub(super) fn spawn_stage(
    mut commands: Commands,
    stage: Res<Stage>,
    view: Res<View>,
    mut spawned: ResMut<Spawned>,
    existing: Query<Entity, With<SceneEntity>>,
    mut paint: Paint,
    mut shared: Local<SharedActors>,
) {
    if spawned.generation == stage.generation && spawned.view == *view {
        return;
    }
    spawned.generation = stage.generation;
    spawned.view = *view;
    for e in &existing {
        commands.entity(e).despawn();
    }
    let (origins, _) = slot_origins(&stage);
    match *view {
        View::Flat => {
            if let (None, Some(meshes), Some(materials)) = (
                shared.flat.as_ref(),
                paint.meshes.as_deref_mut(),
                paint.color_materials.as_deref_mut(),
            ) {
                shared.flat = Some(Actors2d::new(meshes, materials));
            }
            let font = paint.font.as_deref();
            // One caption size for the whole stage: the largest every caption fits at.
            let sizes = TextSizes {
                caption: stage
                    .slots
                    .iter()
                    .map(|s| fitting_size(&s.caption, s.layout.size, CAPTION_SIZE))
                    .fold(CAPTION_SIZE, f32::min),
                tally: stage
                    .slots
                    .iter()
                    .filter_map(|s| Some(fitting_size(&s.tally_text()?, s.layout.size, TALLY_SIZE)))
                    .fold(TALLY_SIZE, f32::min),
            };
            for (i, (slot, origin)) in stage.slots.iter().zip(&origins).enumerate() {
                spawn_flat(
                    &mut commands,
                    shared.flat.as_ref(),
                    font,
                    sizes,
                    i,
                    slot,
                    *origin,
                );
            }
        }
        View::Blocks => {
            let (Some(meshes), Some(materials)) = (paint.meshes, paint.materials) else {
                return;
            };
            let (mut meshes, mut materials) = (meshes, materials);
            let b = shared
                .blocks
                .get_or_insert_with(|| Blocks3d::new(&mut meshes, &mut materials));
            for (i, (slot, origin)) in stage.slots.iter().zip(&origins).enumerate() {
                spawn_blocks(&mut commands, b, &mut materials, i, slot, *origin);
            }
        }
    }
}

/// Caption and tally heights in world units (at most; long text gets smaller).
const CAPTION_SIZE: f32 = 0.62 * TILE;
const TALLY_SIZE: f32 = 0.5 * TILE;

#[derive(Clone, Copy)]
pub(super) struct TextSizes {
    caption: f32,
    tally: f32,
}

/// The largest size up to `size` at which `text` is no wider than a maze of `cells` and a bit
/// of the gap (Hack's advance is 0.6 em).
fn fitting_size(text: &str, cells: usize, size: f32) -> f32 {
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(1);
    size.min((cells as f32 + 1.2) * TILE / (0.6 * widest.max(1) as f32))
}

pub(super) fn spawn_flat(
    commands: &mut Commands,
    actors: Option<&Actors2d>,
    font: Option<&SceneFont>,
    sizes: TextSizes,
    i: usize,
    slot: &Slot,
    origin: Vec2,
) {
    let layout = &slot.layout;
    let cell = Vec2::splat(TILE);
    for row in 0..layout.size {
        for col in 0..layout.size {
            let p = Pos::new(row, col);
            let at = cell_center(origin, layout.size, pos_vec(p));
            if layout.is_wall(p) {
                commands.spawn((
                    Name::new("Wall"),
                    SceneEntity,
                    Wall,
                    Sprite::from_color(rgb(colors::WALL), cell),
                    Transform::from_translation(at.extend(0.0)),
                ));
            } else {
                commands.spawn((
                    Name::new("Floor"),
                    SceneEntity,
                    Floor,
                    Sprite::from_color(rgb(colors::FLOOR), cell),
                    Transform::from_translation(at.extend(0.0)),
                ));
                if i == 0 {
                    commands.spawn((
                        Name::new("Overlay"),
                        SceneEntity,
                        OverlayCell { pos: p },
                        Sprite::from_color(Color::NONE, cell),
                        Transform::from_translation(at.extend(0.5)),
                    ));
                }
            }
        }
    }
    let marker = |p: Pos, z: f32| cell_center(origin, layout.size, pos_vec(p)).extend(z);
    commands.spawn((
        Name::new("Corner"),
        SceneEntity,
        Sprite::from_color(rgb(colors::CORNER).with_alpha(0.55), cell * 0.5),
        Transform::from_translation(marker(layout.corner, 1.0)),
    ));
    commands.spawn((
        Name::new("Start"),
        SceneEntity,
        StartCell { slot: i },
        Sprite::from_color(rgb(START), cell * 0.6),
        Transform::from_translation(marker(layout.start, 1.0)),
    ));
    let mut cheese = commands.spawn((
        Name::new("Cheese"),
        SceneEntity,
        Goal { slot: i },
        Transform::from_translation(marker(layout.cheese, 2.0)).with_scale(Vec3::splat(TILE)),
        Visibility::default(),
    ));
    if let Some(actors) = actors {
        cheese.insert(actors.cheese());
    }
    let ghost = slot.tracks.len() > 1;
    for (k, track) in slot.tracks.iter().enumerate() {
        let mut agent = commands.spawn((
            Name::new("Agent"),
            SceneEntity,
            Agent { slot: i, track: k },
            Transform::from_translation(
                cell_center(origin, layout.size, track.position()).extend(3.0 + 0.1 * k as f32),
            )
            .with_scale(Vec3::splat(TILE)),
            Visibility::default(),
        ));
        if let Some(actors) = actors {
            agent.insert(actors.mouse(ghost));
        }
    }
    let text = |content: String, row: f32, size: f32| {
        let at = cell_center(
            origin,
            layout.size,
            Vec2::new(row, (layout.size / 2) as f32),
        );
        let centre = Vec2::new(origin.x, at.y);
        (
            Text2d::new(crate::app::glyphs::for_scene(&content)),
            TextFont {
                font: font.map(|f| f.0.clone()).unwrap_or_default().into(),
                font_size: FontSize::Px(size),
                ..default()
            },
            Caption { world_size: size },
            TextColor(Color::srgb(0.93, 0.93, 0.93)),
            Transform::from_translation(centre.extend(4.0)),
        )
    };
    commands.spawn((
        Name::new("Caption"),
        SceneEntity,
        text(slot.caption.clone(), -0.9, sizes.caption),
    ));
    if let Some(line) = slot.tally_text() {
        commands.spawn((
            Name::new("Tally"),
            SceneEntity,
            TallyText { slot: i },
            text(line, layout.size as f32 + 0.85, sizes.tally),
        ));
    }
}

pub(super) fn spawn_blocks(
    commands: &mut Commands,
    b: &Blocks3d,
    materials: &mut Assets<StandardMaterial>,
    i: usize,
    slot: &Slot,
    origin: Vec2,
) {
    let layout = &slot.layout;
    for row in 0..layout.size {
        for col in 0..layout.size {
            let p = Pos::new(row, col);
            let at = cell_center(origin, layout.size, pos_vec(p));
            if layout.is_wall(p) {
                commands.spawn((
                    Name::new("Wall"),
                    SceneEntity,
                    Wall,
                    Mesh3d(b.wall.clone()),
                    MeshMaterial3d(b.wall_mat.clone()),
                    Transform::from_translation(to_3d(at, 0.4)),
                ));
            } else {
                commands.spawn((
                    Name::new("Floor"),
                    SceneEntity,
                    Floor,
                    Mesh3d(b.floor.clone()),
                    MeshMaterial3d(b.floor_mat.clone()),
                    Transform::from_translation(to_3d(at, 0.0)),
                ));
                if i == 0 {
                    // The overlays lie on the floor, each cell with a material of its own.
                    let material = materials.add(StandardMaterial {
                        base_color: Color::NONE,
                        alpha_mode: AlphaMode::Blend,
                        unlit: true,
                        ..default()
                    });
                    commands.spawn((
                        Name::new("Overlay"),
                        SceneEntity,
                        OverlayCell { pos: p },
                        OverlayColor(Color::NONE),
                        Mesh3d(b.overlay.clone()),
                        MeshMaterial3d(material),
                        Transform::from_translation(to_3d(at, 0.03)),
                        Visibility::Hidden,
                    ));
                }
            }
        }
    }
    let at = |p: Pos, h: f32| to_3d(cell_center(origin, layout.size, pos_vec(p)), h);
    commands.spawn((
        Name::new("Corner"),
        SceneEntity,
        Mesh3d(b.marker.clone()),
        MeshMaterial3d(b.corner_mat.clone()),
        Transform::from_translation(at(layout.corner, 0.04)),
    ));
    commands.spawn((
        Name::new("Start"),
        SceneEntity,
        StartCell { slot: i },
        Mesh3d(b.marker.clone()),
        MeshMaterial3d(b.start_mat.clone()),
        Transform::from_translation(at(layout.start, 0.04)),
    ));
    commands
        .spawn((
            Name::new("Cheese"),
            SceneEntity,
            Goal { slot: i },
            Transform::from_translation(at(layout.cheese, 0.0)),
            Visibility::default(),
        ))
        .insert(b.actors.cheese());
    for (k, track) in slot.tracks.iter().enumerate() {
        commands
            .spawn((
                Name::new("Agent"),
                SceneEntity,
                Agent { slot: i, track: k },
                Transform::from_translation(to_3d(
                    cell_center(origin, layout.size, track.position()),
                    0.0,
                )),
                Visibility::default(),
            ))
            .insert(b.actors.mouse());
    }
}
