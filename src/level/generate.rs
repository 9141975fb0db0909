//! Maze generators (randomized Kruskal as in Procgen, open, blocks, edges) and cheese placement.

use super::{Layout, Pos};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// How the maze's interior is carved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Generator {
    /// Perfect maze (a spanning tree) by randomized Kruskal over cells at even coordinates.
    Kruskal,
    /// No interior walls at all.
    Open,
    /// Each cell is a wall with probability `wall_prob` (start and corner stay free).
    Blocks { wall_prob: f64 },
    /// Cells at even coordinates; each edge between neighbouring cells is open with `open_prob`.
    Edges { open_prob: f64 },
}

/// The maze's side length (odd, at least 3), fixed or uniform over the odd values of a range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MazeSize {
    Fixed(usize),
    Range(usize, usize),
}

impl MazeSize {
    /// Smallest and largest side length.
    pub fn bounds(&self) -> (usize, usize) {
        match *self {
            MazeSize::Fixed(n) => (n, n),
            MazeSize::Range(lo, hi) => (lo, hi),
        }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let (lo, hi) = self.bounds();
        let odd_count = (hi - lo) / 2 + 1;
        lo + 2 * rng.below(odd_count)
    }
}

/// A quarter of the maze, for "cheese in a named quadrant" scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quadrant {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

/// A maze corner a proxy goal can sit in (the start holds the bottom-left one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Corner {
    TopLeft,
    #[default]
    TopRight,
    BottomRight,
}

impl Corner {
    pub const ALL: [Corner; 3] = [Corner::TopLeft, Corner::TopRight, Corner::BottomRight];

    /// The corner's name in menus, prompts and reports: `top_left`, `top_right`, `bottom_right`.
    pub fn name(self) -> &'static str {
        match self {
            Corner::TopLeft => "top_left",
            Corner::TopRight => "top_right",
            Corner::BottomRight => "bottom_right",
        }
    }

    /// The name in words: "top-left".
    pub fn words(self) -> &'static str {
        match self {
            Corner::TopLeft => "top-left",
            Corner::TopRight => "top-right",
            Corner::BottomRight => "bottom-right",
        }
    }

    /// Parses a name as a judge may write it (`top_right`, `top-right`, `Top right`).
    pub fn parse(text: &str) -> Option<Corner> {
        let key = text.trim().to_lowercase().replace(['-', ' '], "_");
        Corner::ALL.into_iter().find(|c| c.name() == key)
    }

    /// The quadrant the corner lies in.
    pub fn quadrant(self) -> Quadrant {
        match self {
            Corner::TopLeft => Quadrant::TopLeft,
            Corner::TopRight => Quadrant::TopRight,
            Corner::BottomRight => Quadrant::BottomRight,
        }
    }

    /// Maze-local (row, column) of the corner in a maze of side `dim`.
    fn local(self, dim: usize) -> (usize, usize) {
        match self {
            Corner::TopLeft => (0, 0),
            Corner::TopRight => (0, dim - 1),
            Corner::BottomRight => (dim - 1, dim - 1),
        }
    }

    /// The corner's cell in a maze whose start (its bottom-left cell) is `start`, of side `dim`.
    pub fn cell(self, start: Pos, dim: usize) -> Pos {
        let (row, col) = self.local(dim);
        Pos::new(start.row + 1 - dim + row, start.col + col)
    }
}

impl std::fmt::Display for Corner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

/// Where the cheese may go (always a free cell reachable from the start, never the start).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheesePlacement {
    /// The paper's randomization region: a free cell of the `r x r` square at the proxy corner
    /// (the spec's `corner`, top-right unless set; `r` clamped to the maze; `0` and `1` both mean
    /// the corner cell).
    Region(usize),
    /// The shifted test distribution: any free cell but the start.
    Anywhere,
    /// Any free cell in one quadrant of the maze.
    Quadrant(Quadrant),
    /// Within `max_steps` moves of the start.
    NearStart(usize),
    /// At least `min_steps` moves away from the proxy corner.
    FarFromCorner(usize),
    /// A free cell of the `r x r` square at a named corner (whatever the proxy corner is).
    NearCorner(Corner, usize),
    /// At least `min_steps` moves away from a named corner.
    FarFrom(Corner, usize),
}

/// Which seeds a distribution draws levels from: `start, start+1, ...` (`count: None` = unbounded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SeedRange {
    pub start: u64,
    #[serde(default)]
    pub count: Option<u64>,
}

/// A level distribution: generator, sizes, cheese placement and seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionSpec {
    pub generator: Generator,
    /// Side length of the world every maze is centred in (15 "easy", 25 "hard").
    pub world_size: usize,
    pub maze_size: MazeSize,
    pub cheese: CheesePlacement,
    #[serde(default)]
    pub seeds: SeedRange,
    /// The proxy corner: where `Region(r)` puts the cheese in training and what the corner-first
    /// measure watches (top-right, the paper's, unless set).
    #[serde(default)]
    pub corner: Corner,
}

impl DistributionSpec {
    /// The paper's training distribution: Kruskal mazes 3..=world_size, cheese in region `r`.
    pub fn training(world_size: usize, region: usize) -> Self {
        Self {
            generator: Generator::Kruskal,
            world_size,
            maze_size: MazeSize::Range(3, world_size),
            cheese: CheesePlacement::Region(region),
            seeds: SeedRange::default(),
            corner: Corner::TopRight,
        }
    }

    /// This distribution with the proxy corner (and so the training region) at `corner`.
    pub fn with_corner(self, corner: Corner) -> Self {
        Self { corner, ..self }
    }

    /// The shifted test distribution: same mazes, cheese anywhere but the start.
    pub fn shifted(&self) -> Self {
        Self {
            cheese: CheesePlacement::Anywhere,
            ..self.clone()
        }
    }

    /// The level for a given level seed (deterministic).
    pub fn level_for_seed(&self, level_seed: u64) -> Layout {
        let mut rng = Rng::new(level_seed);
        self.sample(&mut rng)
    }

    /// Maps an arbitrary draw onto this distribution's seed range.
    pub fn seed_from_draw(&self, draw: u64) -> u64 {
        match self.seeds.count {
            Some(count) if count > 0 => self.seeds.start.wrapping_add(draw % count),
            _ => self.seeds.start.wrapping_add(draw),
        }
    }

    /// Draws one layout. Generators that may disconnect the maze retry until the placement has a
    /// reachable cell, then fall back to a perfect maze.
    pub fn sample(&self, rng: &mut Rng) -> Layout {
        let world = self.world_size;
        let mut dim = self.maze_size.sample(rng).min(world);
        // A side too small for the placement (say 3 for "far from the corner") is drawn again.
        for _ in 0..8 {
            if let Some(layout) = self.sample_of_side(dim, rng) {
                return layout;
            }
            dim = self.maze_size.sample(rng).min(world);
        }
        let mut layout = carve(&Generator::Kruskal, world, dim, self.corner, rng);
        if !place_cheese(&mut layout, &self.cheese, dim, true, rng) {
            place_cheese(&mut layout, &CheesePlacement::Anywhere, dim, true, rng);
        }
        layout
    }
}

impl DistributionSpec {
    /// A maze of side `dim` from this generator with the cheese placed as asked, if one of 64
    /// tries allows it.
    fn sample_of_side(&self, dim: usize, rng: &mut Rng) -> Option<Layout> {
        let connected = matches!(self.generator, Generator::Kruskal | Generator::Open);
        (0..64).find_map(|_| {
            let mut layout = carve(&self.generator, self.world_size, dim, self.corner, rng);
            place_cheese(&mut layout, &self.cheese, dim, connected, rng).then_some(layout)
        })
    }

    /// Whether mazes of this spec can hold the cheese where it asks: tried on the smallest and
    /// the largest maze side with a few seeds each; false when no try on either side could.
    pub fn satisfiable(&self) -> bool {
        let (lo, hi) = self.maze_size.bounds();
        [lo, hi].into_iter().any(|side| {
            (0..4u64).any(|seed| {
                self.sample_of_side(side.min(self.world_size), &mut Rng::new(seed ^ 0x5eed))
                    .is_some()
            })
        })
    }
}

/// Carves the maze of side `dim` centred in a `world x world` grid; cheese starts on the proxy
/// corner `proxy`.
fn carve(generator: &Generator, world: usize, dim: usize, proxy: Corner, rng: &mut Rng) -> Layout {
    let off = (world - dim) / 2;
    let mut walls = vec![true; world * world];
    let mut open = |row: usize, col: usize| walls[(off + row) * world + off + col] = false;
    let cells = dim.div_ceil(2);
    match generator {
        Generator::Kruskal => kruskal(cells, rng, &mut open),
        Generator::Open => (0..dim).for_each(|r| (0..dim).for_each(|c| open(r, c))),
        Generator::Blocks { wall_prob } => {
            for r in 0..dim {
                for c in 0..dim {
                    let keep_free = (r == dim - 1 && c == 0) || (r, c) == proxy.local(dim);
                    if keep_free || !rng.chance(*wall_prob) {
                        open(r, c);
                    }
                }
            }
        }
        Generator::Edges { open_prob } => {
            for i in 0..cells {
                for j in 0..cells {
                    open(2 * i, 2 * j);
                    if j + 1 < cells && rng.chance(*open_prob) {
                        open(2 * i, 2 * j + 1);
                    }
                    if i + 1 < cells && rng.chance(*open_prob) {
                        open(2 * i + 1, 2 * j);
                    }
                }
            }
        }
    }
    let (row, col) = proxy.local(dim);
    let corner = Pos::new(off + row, off + col);
    Layout {
        size: world,
        walls,
        start: Pos::new(off + dim - 1, off),
        cheese: corner,
        corner,
    }
}

/// Randomized Kruskal over a `cells x cells` lattice; `open(row, col)` frees a maze-local cell.
fn kruskal(cells: usize, rng: &mut Rng, open: &mut impl FnMut(usize, usize)) {
    let mut parent: Vec<usize> = (0..cells * cells).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut edges = Vec::with_capacity(2 * cells * cells);
    for i in 0..cells {
        for j in 0..cells {
            open(2 * i, 2 * j);
            if j + 1 < cells {
                edges.push((i * cells + j, i * cells + j + 1));
            }
            if i + 1 < cells {
                edges.push((i * cells + j, (i + 1) * cells + j));
            }
        }
    }
    rng.shuffle(&mut edges);
    for (a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
            let (ai, aj, bi, bj) = (a / cells, a % cells, b / cells, b % cells);
            open(ai + bi, aj + bj);
        }
    }
}

/// Puts the cheese on a reachable free cell allowed by `placement`; false if there is none.
fn place_cheese(
    layout: &mut Layout,
    placement: &CheesePlacement,
    dim: usize,
    all_free_reachable: bool,
    rng: &mut Rng,
) -> bool {
    let off = layout.start.col;
    // Breadth-first searches only where the placement or the generator needs them.
    let needs_start_dist =
        !all_free_reachable || matches!(placement, CheesePlacement::NearStart(_));
    let dist = if needs_start_dist {
        layout.distances_from(layout.start)
    } else {
        Vec::new()
    };
    let corner_dist = match *placement {
        CheesePlacement::FarFromCorner(_) => layout.distances_from(layout.corner),
        CheesePlacement::FarFrom(corner, _) => {
            layout.distances_from(corner.cell(layout.start, dim))
        }
        _ => Vec::new(),
    };
    // The `r x r` square at a corner, maze-local.
    let square = |corner: Corner, region: usize| {
        let region = region.clamp(1, dim);
        let (row, col) = corner.local(dim);
        let span = |at: usize| {
            if at == 0 {
                0..region
            } else {
                dim - region..dim
            }
        };
        (span(row), span(col))
    };
    let is_unreachable = |d: &[usize], i: usize| !d.is_empty() && d[i] == usize::MAX;
    let half = dim / 2;
    let (rows, cols) = match *placement {
        CheesePlacement::Region(region) => square(proxy_of(layout, dim), region),
        CheesePlacement::NearCorner(corner, region) => square(corner, region),
        CheesePlacement::Quadrant(q) => match q {
            Quadrant::TopLeft => (0..half + 1, 0..half + 1),
            Quadrant::TopRight => (0..half + 1, half..dim),
            Quadrant::BottomLeft => (half..dim, 0..half + 1),
            Quadrant::BottomRight => (half..dim, half..dim),
        },
        _ => (0..dim, 0..dim),
    };
    let mut candidates = Vec::with_capacity(rows.len() * cols.len());
    for r in rows {
        for c in cols.clone() {
            let p = Pos::new(off + r, off + c);
            let i = layout.index(p);
            let allowed = match *placement {
                CheesePlacement::NearStart(max) => dist[i] <= max,
                CheesePlacement::FarFromCorner(min) | CheesePlacement::FarFrom(_, min) => {
                    corner_dist[i] != usize::MAX && corner_dist[i] >= min
                }
                _ => true,
            };
            if allowed && !layout.walls[i] && p != layout.start && !is_unreachable(&dist, i) {
                candidates.push(p);
            }
        }
    }
    match rng.choose(&candidates) {
        Some(&p) => {
            layout.cheese = p;
            true
        }
        None => false,
    }
}

/// Which corner of the maze of side `dim` the layout's proxy corner is.
fn proxy_of(layout: &Layout, dim: usize) -> Corner {
    Corner::ALL
        .into_iter()
        .find(|c| c.cell(layout.start, dim) == layout.corner)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(world: usize, size: MazeSize, cheese: CheesePlacement) -> DistributionSpec {
        DistributionSpec {
            generator: Generator::Kruskal,
            world_size: world,
            maze_size: size,
            cheese,
            seeds: SeedRange::default(),
            corner: Corner::TopRight,
        }
    }

    /// Counts open passages between lattice cells and checks every free cell is reachable.
    fn assert_perfect(layout: &Layout) {
        let free: Vec<Pos> = (0..layout.size * layout.size)
            .map(|i| Pos::new(i / layout.size, i % layout.size))
            .filter(|p| !layout.is_wall(*p))
            .collect();
        let dist = layout.distances_from(layout.start);
        assert!(
            free.iter().all(|p| dist[layout.index(*p)] != usize::MAX),
            "disconnected"
        );
        // Free cells = lattice cells + opened passages; a spanning tree has cells - 1 edges.
        let off = layout.corner.row;
        let dim = layout.corner.col - off + 1;
        let cells = dim.div_ceil(2).pow(2);
        let passages = free.len() - cells;
        assert_eq!(
            passages,
            cells - 1,
            "a perfect maze has |edges| = cells - 1"
        );
        // No free cell at odd/odd coordinates (those are always pillars).
        assert!(
            free.iter()
                .all(|p| (p.row - off).is_multiple_of(2) || (p.col - off).is_multiple_of(2))
        );
    }

    #[test]
    fn kruskal_mazes_are_perfect_for_many_seeds() {
        for world in [7, 13, 15, 25] {
            let s = spec(world, MazeSize::Range(3, world), CheesePlacement::Anywhere);
            for seed in 0..300 {
                let layout = s.level_for_seed(seed);
                assert_perfect(&layout);
                assert_ne!(layout.cheese, layout.start);
            }
        }
    }

    #[test]
    fn maze_is_centred_with_start_bottom_left_and_corner_top_right() {
        let s = spec(15, MazeSize::Fixed(9), CheesePlacement::Region(0));
        let layout = s.level_for_seed(4);
        assert_eq!(layout.start, Pos::new(11, 3));
        assert_eq!(layout.corner, Pos::new(3, 11));
        assert_eq!(layout.cheese, layout.corner);
        // Everything outside the 9x9 maze is wall.
        for row in 0..15 {
            for col in 0..15 {
                if !(3..12).contains(&row) || !(3..12).contains(&col) {
                    assert!(layout.is_wall(Pos::new(row, col)));
                }
            }
        }
    }

    #[test]
    fn maze_sizes_are_odd_and_within_range() {
        let s = spec(25, MazeSize::Range(3, 25), CheesePlacement::Anywhere);
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..500 {
            let l = s.level_for_seed(seed);
            let dim = l.corner.col - l.corner.row + 1;
            assert!(dim % 2 == 1 && (3..=25).contains(&dim));
            seen.insert(dim);
        }
        assert_eq!(seen.len(), 12, "every odd size 3..=25 appears: {seen:?}");
    }

    #[test]
    fn region_placement_stays_in_square_and_off_the_start() {
        for region in 0..=10 {
            let s = spec(15, MazeSize::Range(3, 15), CheesePlacement::Region(region));
            for seed in 0..300 {
                let l = s.level_for_seed(seed);
                let off = l.corner.row;
                let dim = l.corner.col - off + 1;
                let r = region.clamp(1, dim);
                let (row, col) = (l.cheese.row - off, l.cheese.col - off);
                assert!(
                    row < r && col >= dim - r,
                    "r={region} seed={seed}: {:?}",
                    l.cheese
                );
                assert_ne!(l.cheese, l.start);
                assert!(!l.is_wall(l.cheese));
            }
        }
    }

    #[test]
    fn region_zero_and_one_agree() {
        let a = spec(15, MazeSize::Range(3, 15), CheesePlacement::Region(0));
        let b = spec(15, MazeSize::Range(3, 15), CheesePlacement::Region(1));
        for seed in 0..200 {
            assert_eq!(a.level_for_seed(seed), b.level_for_seed(seed));
        }
    }

    #[test]
    fn larger_regions_spread_the_cheese() {
        let s = spec(15, MazeSize::Fixed(15), CheesePlacement::Region(5));
        let spots: std::collections::HashSet<Pos> =
            (0..400).map(|seed| s.level_for_seed(seed).cheese).collect();
        assert!(spots.len() > 10, "{} distinct cheese cells", spots.len());
    }

    #[test]
    fn other_generators_keep_the_cheese_reachable() {
        for generator in [
            Generator::Open,
            Generator::Blocks { wall_prob: 0.4 },
            Generator::Edges { open_prob: 0.5 },
        ] {
            for placement in [
                CheesePlacement::Anywhere,
                CheesePlacement::Region(3),
                CheesePlacement::Quadrant(Quadrant::BottomRight),
                CheesePlacement::NearStart(3),
                CheesePlacement::FarFromCorner(6),
            ] {
                let s = DistributionSpec {
                    generator: generator.clone(),
                    ..spec(13, MazeSize::Range(5, 13), placement)
                };
                for seed in 0..100 {
                    let l = s.level_for_seed(seed);
                    assert!(l.cheese_distance().is_some(), "{generator:?} seed {seed}");
                    assert_ne!(l.cheese, l.start);
                }
            }
        }
    }

    #[test]
    fn open_generator_frees_the_whole_maze() {
        let s = DistributionSpec {
            generator: Generator::Open,
            ..spec(9, MazeSize::Fixed(7), CheesePlacement::Anywhere)
        };
        assert_eq!(s.level_for_seed(1).free_cells(), 49);
    }

    #[test]
    fn the_proxy_corner_moves_the_training_region_and_the_corner_cell() {
        for corner in Corner::ALL {
            let s =
                spec(11, MazeSize::Range(3, 11), CheesePlacement::Region(2)).with_corner(corner);
            for seed in 0..200 {
                let l = s.level_for_seed(seed);
                let dim = l.start.row - l.start.col + 1;
                assert_eq!(l.corner, corner.cell(l.start, dim), "{corner} seed {seed}");
                assert!(l.cheese.manhattan(l.corner) <= 2, "{corner} seed {seed}");
                // The shifted distribution keeps the proxy corner for the corner-first measure.
                assert_eq!(s.shifted().level_for_seed(seed).corner, l.corner);
            }
        }
    }

    #[test]
    fn named_corners_place_the_cheese_near_or_far_whatever_the_proxy() {
        let near = spec(
            11,
            MazeSize::Fixed(11),
            CheesePlacement::NearCorner(Corner::TopLeft, 3),
        );
        let far = spec(
            11,
            MazeSize::Fixed(11),
            CheesePlacement::FarFrom(Corner::BottomRight, 12),
        );
        for seed in 0..200 {
            let l = near.level_for_seed(seed);
            assert!(l.cheese.row < 3 && l.cheese.col < 3, "{:?}", l.cheese);
            let l = far.level_for_seed(seed);
            let corner = Corner::BottomRight.cell(l.start, 11);
            assert!(l.distances_from(corner)[l.index(l.cheese)] >= 12);
            assert_eq!(l.corner, Corner::TopRight.cell(l.start, 11));
        }
    }

    #[test]
    fn corner_names_parse_as_judges_write_them() {
        assert_eq!(Corner::parse("Top right"), Some(Corner::TopRight));
        assert_eq!(Corner::parse("bottom-right"), Some(Corner::BottomRight));
        assert_eq!(Corner::parse("top_left"), Some(Corner::TopLeft));
        assert_eq!(Corner::parse("bottom_left"), None);
        for c in Corner::ALL {
            assert_eq!(Corner::parse(c.name()), Some(c));
        }
    }
}
