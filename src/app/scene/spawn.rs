//! The stage's entities: each slot's tiles, start, cheese, corner, agents and overlay cells, as 2D
//! sprites or 3D blocks, respawned when the levels on stage change.

use super::*;

/// Handles for the 3D view's meshes and materials, made once.
pub(super) struct Blocks3d {
    wall: Handle<Mesh>,
    floor: Handle<Mesh>,
    mouse: Handle<Mesh>,
    cheese: Handle<Mesh>,
    marker: Handle<Mesh>,
    wall_mat: Handle<StandardMaterial>,
    floor_mat: Handle<StandardMaterial>,
    mouse_mat: Handle<StandardMaterial>,
    cheese_mat: Handle<StandardMaterial>,
    start_mat: Handle<StandardMaterial>,
    corner_mat: Handle<StandardMaterial>,
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
            mouse_mat: mat(colors::MOUSE),
            cheese_mat: mat(colors::CHEESE),
            start_mat: mat(START),
            corner_mat: mat(colors::CORNER),
            wall: meshes.add(Cuboid::new(1.0, 0.8, 1.0)),
            floor: meshes.add(Cuboid::new(1.0, 0.05, 1.0)),
            mouse: meshes.add(Sphere::new(0.3)),
            cheese: meshes.add(Cylinder::new(0.3, 0.3)),
            marker: meshes.add(Cylinder::new(0.35, 0.02)),
        }
    }
}

/// The start cell's marker colour.
pub const START: [u8; 3] = [120, 190, 120];

/// Respawns the stage's entities when the mazes or the view change.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_stage(
    mut commands: Commands,
    stage: Res<Stage>,
    view: Res<View>,
    mut spawned: ResMut<Spawned>,
    existing: Query<Entity, With<SceneEntity>>,
    meshes: Option<ResMut<Assets<Mesh>>>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
    mut blocks: Local<Option<Blocks3d>>,
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
            for (i, (slot, origin)) in stage.slots.iter().zip(&origins).enumerate() {
                spawn_flat(&mut commands, i, slot, *origin);
            }
        }
        View::Blocks => {
            let (Some(mut meshes), Some(mut materials)) = (meshes, materials) else {
                return;
            };
            let b = blocks.get_or_insert_with(|| Blocks3d::new(&mut meshes, &mut materials));
            for (i, (slot, origin)) in stage.slots.iter().zip(&origins).enumerate() {
                spawn_blocks(&mut commands, b, i, slot, *origin);
            }
        }
    }
}

pub(super) fn spawn_flat(commands: &mut Commands, i: usize, slot: &Slot, origin: Vec2) {
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
    commands.spawn((
        Name::new("Cheese"),
        SceneEntity,
        Goal { slot: i },
        Sprite::from_color(rgb(colors::CHEESE), cell * 0.7),
        Transform::from_translation(marker(layout.cheese, 2.0)),
    ));
    let ghost = slot.tracks.len() > 1;
    for (k, track) in slot.tracks.iter().enumerate() {
        let alpha = if ghost { 0.55 } else { 1.0 };
        commands.spawn((
            Name::new("Agent"),
            SceneEntity,
            Agent { slot: i, track: k },
            Sprite::from_color(rgb(colors::MOUSE).with_alpha(alpha), cell * 0.55),
            Transform::from_translation(
                cell_center(origin, layout.size, track.position()).extend(3.0),
            ),
        ));
    }
    let top = cell_center(
        origin,
        layout.size,
        Vec2::new(-1.0, (layout.size / 2) as f32),
    );
    commands.spawn((
        Name::new("Caption"),
        SceneEntity,
        Text2d::new(slot.caption.clone()),
        TextFont::from_font_size(14.0),
        TextColor(Color::srgb(0.9, 0.9, 0.9)),
        Transform::from_translation(top.extend(4.0)),
    ));
}

pub(super) fn spawn_blocks(
    commands: &mut Commands,
    b: &Blocks3d,
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
    commands.spawn((
        Name::new("Cheese"),
        SceneEntity,
        Goal { slot: i },
        Mesh3d(b.cheese.clone()),
        MeshMaterial3d(b.cheese_mat.clone()),
        Transform::from_translation(at(layout.cheese, 0.2)),
    ));
    for (k, track) in slot.tracks.iter().enumerate() {
        commands.spawn((
            Name::new("Agent"),
            SceneEntity,
            Agent { slot: i, track: k },
            Mesh3d(b.mouse.clone()),
            MeshMaterial3d(b.mouse_mat.clone()),
            Transform::from_translation(to_3d(
                cell_center(origin, layout.size, track.position()),
                0.3,
            )),
        ));
    }
}
