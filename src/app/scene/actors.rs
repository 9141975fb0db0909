//! The mouse and the cheese, drawn by the project from mesh primitives (no image files, so
//! nothing to license separately): a top-down mouse that faces where it goes and a wedge of cheese
//! with holes, in 2D (flat shapes) and in 3D (solids). Each actor is one mesh with its colours per
//! vertex (one draw call), made once, in cell units, facing +x.

use bevy::prelude::*;
use std::f32::consts::FRAC_PI_2;

use crate::app::palette;

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

/// Pieces merged into one mesh, each placed and coloured.
#[derive(Default)]
struct Figure(Option<Mesh>);

impl Figure {
    fn piece(mut self, mesh: impl Into<Mesh>, at: Transform, color: [u8; 3]) -> Self {
        let mesh: Mesh = mesh.into().transformed_by(at);
        let rgba = Color::srgb_u8(color[0], color[1], color[2])
            .to_linear()
            .to_f32_array();
        let vertices = mesh.count_vertices();
        let mesh = mesh.with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, vec![rgba; vertices]);
        match &mut self.0 {
            None => self.0 = Some(mesh),
            // Every piece is a bevy primitive with the same attributes (position, normal, UV,
            // colour) and topology, so merging cannot fail.
            Some(all) => {
                if let Err(e) = all.merge(&mesh) {
                    warn!("an actor's piece was left out: {e}");
                }
            }
        }
        self
    }

    fn build(self) -> Mesh {
        self.0.unwrap_or_else(|| Mesh::from(Circle::new(0.3)))
    }
}

fn at(x: f32, y: f32, z: f32) -> Transform {
    Transform::from_xyz(x, y, z)
}

fn mouse_2d() -> Mesh {
    use palette::*;
    let ear = Circle::new(0.095);
    let inner_ear = Circle::new(0.058);
    let eye = Circle::new(0.026);
    Figure::default()
        .piece(
            Capsule2d::new(0.028, 0.30),
            at(-0.40, 0.0, 0.0).with_rotation(Quat::from_rotation_z(FRAC_PI_2)),
            PINK,
        )
        .piece(Ellipse::new(0.26, 0.185), at(-0.06, 0.0, 0.001), FUR_DARK)
        .piece(Ellipse::new(0.24, 0.165), at(-0.06, 0.0, 0.002), FUR)
        .piece(ear, at(0.09, 0.145, 0.003), FUR)
        .piece(ear, at(0.09, -0.145, 0.003), FUR)
        .piece(inner_ear, at(0.095, 0.145, 0.004), PINK)
        .piece(inner_ear, at(0.095, -0.145, 0.004), PINK)
        .piece(Ellipse::new(0.155, 0.125), at(0.16, 0.0, 0.005), FUR)
        .piece(eye, at(0.22, 0.06, 0.006), EYE)
        .piece(eye, at(0.22, -0.06, 0.006), EYE)
        .piece(Circle::new(0.038), at(0.31, 0.0, 0.006), PINK)
        .build()
}

fn cheese_2d() -> Mesh {
    let centroid = (WEDGE[0] + WEDGE[1] + WEDGE[2]) / 3.0;
    let rind = WEDGE.map(|v| centroid + (v - centroid) * 1.16);
    HOLES
        .iter()
        .fold(
            Figure::default()
                .piece(
                    Triangle2d::new(rind[0], rind[1], rind[2]),
                    at(0.0, 0.0, 0.0),
                    palette::CHEESE_RIND,
                )
                .piece(
                    Triangle2d::new(WEDGE[0], WEDGE[1], WEDGE[2]),
                    at(0.0, 0.0, 0.001),
                    palette::CHEESE,
                ),
            |figure, (c, r)| {
                figure.piece(Circle::new(*r), at(c.x, c.y, 0.002), palette::CHEESE_HOLE)
            },
        )
        .build()
}

/// A sphere of radius 1 with few faces (bevy's default has 10k vertices, which a software
/// renderer feels at every frame).
fn ball() -> Mesh {
    Sphere::new(1.0).mesh().uv(14, 9)
}

fn mouse_3d() -> Mesh {
    use palette::*;
    let scaled = |scale: Vec3, x: f32, y: f32, z: f32| at(x, y, z).with_scale(scale);
    let stand_up = Quat::from_rotation_z(FRAC_PI_2);
    let ear = Cylinder::new(0.085, 0.02);
    Figure::default()
        .piece(
            ball(),
            scaled(Vec3::new(0.26, 0.17, 0.19), -0.06, 0.19, 0.0),
            FUR,
        )
        .piece(
            ball(),
            scaled(Vec3::new(0.15, 0.12, 0.125), 0.16, 0.21, 0.0),
            FUR,
        )
        .piece(ear, at(0.09, 0.33, 0.11).with_rotation(stand_up), PINK)
        .piece(ear, at(0.09, 0.33, -0.11).with_rotation(stand_up), PINK)
        .piece(ball(), scaled(Vec3::splat(0.04), 0.31, 0.21, 0.0), PINK)
        .piece(ball(), scaled(Vec3::splat(0.025), 0.25, 0.26, 0.06), EYE)
        .piece(ball(), scaled(Vec3::splat(0.025), 0.25, 0.26, -0.06), EYE)
        .piece(
            Capsule3d::new(0.022, 0.32),
            at(-0.44, 0.08, 0.0).with_rotation(stand_up),
            PINK,
        )
        .build()
}

fn cheese_3d() -> Mesh {
    // The wedge extruded upwards: its 2D outline lies on the floor (2D y = -3D z).
    let depth = 0.26;
    let lie_flat = Quat::from_rotation_x(-FRAC_PI_2);
    let wedge = Extrusion::new(Triangle2d::new(WEDGE[0], WEDGE[1], WEDGE[2]), depth);
    HOLES
        .iter()
        .fold(
            Figure::default().piece(
                wedge,
                at(0.0, 0.025 + depth / 2.0, 0.0).with_rotation(lie_flat),
                palette::CHEESE,
            ),
            |figure, (c, r)| {
                let hole = at(c.x, 0.025 + depth, -c.y).with_scale(Vec3::new(*r, 0.02, *r));
                figure.piece(ball(), hole, palette::CHEESE_RIND)
            },
        )
        .build()
}

/// The 2D actors: one mesh each, drawn with white materials (opaque, or translucent for ghosts).
pub(super) struct Actors2d {
    mouse: Handle<Mesh>,
    cheese: Handle<Mesh>,
    solid: Handle<ColorMaterial>,
    ghost: Handle<ColorMaterial>,
}

impl Actors2d {
    pub(super) fn new(meshes: &mut Assets<Mesh>, materials: &mut Assets<ColorMaterial>) -> Self {
        Self {
            mouse: meshes.add(mouse_2d()),
            cheese: meshes.add(cheese_2d()),
            // Blended like the sprites, so the 2D view stays in the sprites' (transparent) render
            // phase: with an opaque material, idle 2D frames measured 56 ms against 46 ms without
            // the actors under lavapipe (results/app-load/README.md).
            solid: materials.add(ColorMaterial {
                color: Color::WHITE,
                alpha_mode: bevy::sprite_render::AlphaMode2d::Blend,
                ..default()
            }),
            ghost: materials.add(Color::WHITE.with_alpha(0.55)),
        }
    }

    /// The mouse (translucent for a ghost), for its entity.
    pub(super) fn mouse(&self, ghost: bool) -> impl Bundle {
        let material = if ghost { &self.ghost } else { &self.solid };
        (Mesh2d(self.mouse.clone()), MeshMaterial2d(material.clone()))
    }

    pub(super) fn cheese(&self) -> impl Bundle {
        (
            Mesh2d(self.cheese.clone()),
            MeshMaterial2d(self.solid.clone()),
        )
    }
}

/// The 3D actors: one mesh each (y up; the floor's top at y = 0.025), lit.
pub(super) struct Actors3d {
    mouse: Handle<Mesh>,
    cheese: Handle<Mesh>,
    material: Handle<StandardMaterial>,
}

impl Actors3d {
    pub(super) fn new(meshes: &mut Assets<Mesh>, materials: &mut Assets<StandardMaterial>) -> Self {
        Self {
            mouse: meshes.add(mouse_3d()),
            cheese: meshes.add(cheese_3d()),
            material: materials.add(StandardMaterial {
                base_color: Color::WHITE,
                perceptual_roughness: 0.8,
                ..default()
            }),
        }
    }

    pub(super) fn mouse(&self) -> impl Bundle {
        (
            Mesh3d(self.mouse.clone()),
            MeshMaterial3d(self.material.clone()),
        )
    }

    pub(super) fn cheese(&self) -> impl Bundle {
        (
            Mesh3d(self.cheese.clone()),
            MeshMaterial3d(self.material.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_of_every_actor_is_merged_with_its_colour() {
        for (name, mesh, pieces) in [
            ("2D mouse", mouse_2d(), 11),
            ("2D cheese", cheese_2d(), 5),
            ("3D mouse", mouse_3d(), 8),
            ("3D cheese", cheese_3d(), 4),
        ] {
            let vertices = mesh.count_vertices();
            let colours = mesh.attribute(Mesh::ATTRIBUTE_COLOR).map_or(0, |c| c.len());
            assert_eq!(colours, vertices, "{name}: a colour per vertex");
            // Each primitive brings at least three vertices.
            assert!(vertices >= 3 * pieces, "{name}: {vertices} vertices");
        }
    }
}
