//! The mouse and the cheese, drawn by the project from mesh primitives (no image files, so
//! nothing to license separately): a top-down mouse that faces where it goes and a wedge of cheese
//! with holes, in 2D (flat shapes) and in 3D (solids). Both are made once, in cell units, facing
//! +x.

use bevy::prelude::*;
use std::f32::consts::FRAC_PI_2;

/// The actors' palette.
mod palette {
    pub const FUR: [u8; 3] = [150, 152, 166];
    pub const FUR_DARK: [u8; 3] = [112, 114, 128];
    pub const PINK: [u8; 3] = [240, 165, 182];
    pub const EYE: [u8; 3] = [24, 24, 30];
    pub const CHEESE: [u8; 3] = [250, 200, 40];
    pub const CHEESE_RIND: [u8; 3] = [214, 150, 18];
    pub const CHEESE_HOLE: [u8; 3] = [226, 168, 26];
}

fn color(c: [u8; 3]) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

/// One piece of an actor, placed relative to the actor's centre (cell units).
#[derive(Clone)]
struct Piece<M: Asset> {
    mesh: Handle<Mesh>,
    material: Handle<M>,
    transform: Transform,
}

impl<M: Asset> Piece<M> {
    fn at(mesh: Handle<Mesh>, material: Handle<M>, x: f32, y: f32, z: f32) -> Self {
        Self {
            mesh,
            material,
            transform: Transform::from_xyz(x, y, z),
        }
    }

    fn turned(mut self, rotation: Quat) -> Self {
        self.transform.rotation = rotation;
        self
    }

    fn scaled(mut self, scale: Vec3) -> Self {
        self.transform.scale = scale;
        self
    }
}

/// The cheese wedge's outline, seen from above (cell units, centred on the cell).
const WEDGE: [Vec2; 3] = [
    Vec2::new(-0.34, -0.28),
    Vec2::new(0.36, -0.28),
    Vec2::new(-0.34, 0.30),
];

/// Holes on the wedge's top: centre and radius.
const HOLES: [(Vec2, f32); 3] = [
    (Vec2::new(-0.19, -0.13), 0.07),
    (Vec2::new(0.06, -0.18), 0.045),
    (Vec2::new(-0.25, 0.09), 0.045),
];

/// The 2D actors: meshes and colour materials.
pub(super) struct Actors2d {
    mouse: Vec<Piece<ColorMaterial>>,
    ghost: Vec<Piece<ColorMaterial>>,
    cheese: Vec<Piece<ColorMaterial>>,
}

impl Actors2d {
    pub(super) fn new(meshes: &mut Assets<Mesh>, materials: &mut Assets<ColorMaterial>) -> Self {
        let mouse = |alpha: f32, meshes: &mut Assets<Mesh>, materials: &mut Assets<ColorMaterial>| {
            let mut paint = |c: [u8; 3]| materials.add(color(c).with_alpha(alpha));
            let (fur, fur_dark, pink, eye) = (
                paint(palette::FUR),
                paint(palette::FUR_DARK),
                paint(palette::PINK),
                paint(palette::EYE),
            );
            let ear = meshes.add(Circle::new(0.095));
            let inner_ear = meshes.add(Circle::new(0.058));
            let eye_mesh = meshes.add(Circle::new(0.026));
            vec![
                Piece::at(meshes.add(Capsule2d::new(0.028, 0.30)), pink.clone(), -0.40, 0.0, 0.0)
                    .turned(Quat::from_rotation_z(FRAC_PI_2)),
                Piece::at(meshes.add(Ellipse::new(0.26, 0.185)), fur_dark, -0.06, 0.0, 0.01),
                Piece::at(meshes.add(Ellipse::new(0.24, 0.165)), fur.clone(), -0.06, 0.0, 0.02),
                Piece::at(ear.clone(), fur.clone(), 0.09, 0.145, 0.03),
                Piece::at(ear, fur.clone(), 0.09, -0.145, 0.03),
                Piece::at(inner_ear.clone(), pink.clone(), 0.095, 0.145, 0.04),
                Piece::at(inner_ear, pink.clone(), 0.095, -0.145, 0.04),
                Piece::at(meshes.add(Ellipse::new(0.155, 0.125)), fur, 0.16, 0.0, 0.05),
                Piece::at(eye_mesh.clone(), eye.clone(), 0.22, 0.06, 0.06),
                Piece::at(eye_mesh, eye, 0.22, -0.06, 0.06),
                Piece::at(meshes.add(Circle::new(0.038)), pink, 0.31, 0.0, 0.06),
            ]
        };
        let centroid = (WEDGE[0] + WEDGE[1] + WEDGE[2]) / 3.0;
        let rind = WEDGE.map(|v| centroid + (v - centroid) * 1.16);
        let cheese = vec![
            Piece::at(
                meshes.add(Triangle2d::new(rind[0], rind[1], rind[2])),
                materials.add(color(palette::CHEESE_RIND)),
                0.0,
                0.0,
                0.0,
            ),
            Piece::at(
                meshes.add(Triangle2d::new(WEDGE[0], WEDGE[1], WEDGE[2])),
                materials.add(color(palette::CHEESE)),
                0.0,
                0.0,
                0.01,
            ),
        ]
        .into_iter()
        .chain(HOLES.map(|(at, r)| {
            Piece::at(
                meshes.add(Circle::new(r)),
                materials.add(color(palette::CHEESE_HOLE)),
                at.x,
                at.y,
                0.02,
            )
        }))
        .collect();
        Self {
            mouse: mouse(1.0, meshes, materials),
            ghost: mouse(0.55, meshes, materials),
            cheese,
        }
    }

    /// Adds the mouse's pieces (translucent for a ghost) under `parent`.
    pub(super) fn mouse(&self, parent: &mut ChildSpawnerCommands, ghost: bool) {
        let pieces = if ghost { &self.ghost } else { &self.mouse };
        spawn_pieces_2d(parent, pieces);
    }

    pub(super) fn cheese(&self, parent: &mut ChildSpawnerCommands) {
        spawn_pieces_2d(parent, &self.cheese);
    }
}

fn spawn_pieces_2d(parent: &mut ChildSpawnerCommands, pieces: &[Piece<ColorMaterial>]) {
    for p in pieces {
        parent.spawn((
            Mesh2d(p.mesh.clone()),
            MeshMaterial2d(p.material.clone()),
            p.transform,
        ));
    }
}

/// The 3D actors: meshes and lit materials (y up; the floor's top at y = 0.025).
pub(super) struct Actors3d {
    mouse: Vec<Piece<StandardMaterial>>,
    cheese: Vec<Piece<StandardMaterial>>,
}

impl Actors3d {
    pub(super) fn new(
        meshes: &mut Assets<Mesh>,
        materials: &mut Assets<StandardMaterial>,
    ) -> Self {
        let mut paint = |c: [u8; 3], roughness: f32| {
            materials.add(StandardMaterial {
                base_color: color(c),
                perceptual_roughness: roughness,
                ..default()
            })
        };
        let (fur, pink, eye) = (
            paint(palette::FUR, 0.9),
            paint(palette::PINK, 0.7),
            paint(palette::EYE, 0.2),
        );
        let (cheese, hole) = (
            paint(palette::CHEESE, 0.6),
            paint(palette::CHEESE_RIND, 0.8),
        );
        let ball = meshes.add(Sphere::new(1.0));
        let ear = meshes.add(Cylinder::new(0.085, 0.02));
        let stand_up = Quat::from_rotation_z(FRAC_PI_2);
        let mouse = vec![
            Piece::at(ball.clone(), fur.clone(), -0.06, 0.19, 0.0)
                .scaled(Vec3::new(0.26, 0.17, 0.19)),
            Piece::at(ball.clone(), fur.clone(), 0.16, 0.21, 0.0)
                .scaled(Vec3::new(0.15, 0.12, 0.125)),
            Piece::at(ear.clone(), fur, 0.09, 0.33, 0.11).turned(stand_up),
            Piece::at(ear, pink.clone(), 0.09, 0.33, -0.11).turned(stand_up),
            Piece::at(ball.clone(), pink.clone(), 0.31, 0.21, 0.0).scaled(Vec3::splat(0.04)),
            Piece::at(ball.clone(), eye.clone(), 0.25, 0.26, 0.06).scaled(Vec3::splat(0.025)),
            Piece::at(ball.clone(), eye, 0.25, 0.26, -0.06).scaled(Vec3::splat(0.025)),
            Piece::at(meshes.add(Capsule3d::new(0.022, 0.32)), pink, -0.44, 0.08, 0.0)
                .turned(stand_up),
        ];
        // The wedge extruded upwards: its 2D outline lies on the floor (2D y = -3D z).
        let depth = 0.26;
        let lie_flat = Quat::from_rotation_x(-FRAC_PI_2);
        let wedge = Extrusion::new(Triangle2d::new(WEDGE[0], WEDGE[1], WEDGE[2]), depth);
        let cheese = std::iter::once(
            Piece::at(meshes.add(wedge), cheese, 0.0, 0.025 + depth / 2.0, 0.0).turned(lie_flat),
        )
        .chain(HOLES.map(|(at, r)| {
            Piece::at(ball.clone(), hole.clone(), at.x, 0.025 + depth, -at.y)
                .scaled(Vec3::new(r, 0.02, r))
        }))
        .collect();
        Self { mouse, cheese }
    }

    pub(super) fn mouse(&self, parent: &mut ChildSpawnerCommands) {
        spawn_pieces_3d(parent, &self.mouse);
    }

    pub(super) fn cheese(&self, parent: &mut ChildSpawnerCommands) {
        spawn_pieces_3d(parent, &self.cheese);
    }
}

fn spawn_pieces_3d(parent: &mut ChildSpawnerCommands, pieces: &[Piece<StandardMaterial>]) {
    for p in pieces {
        parent.spawn((
            Mesh3d(p.mesh.clone()),
            MeshMaterial3d(p.material.clone()),
            p.transform,
        ));
    }
}
