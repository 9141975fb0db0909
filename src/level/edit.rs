//! The level editor's model, engine-free: a grid of tiles, edits with undo/redo, live validation
//! (what is wrong and which cells cannot be reached), and saving that never writes an invalid level
//! and never overwrites a file unless asked.

use super::MAX_WORLD_SIZE;
use super::file::{LevelFile, LevelSource, parse_level};
use super::{DistributionSpec, Layout, Pos};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// One cell of an edited level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    Wall,
    Floor,
    Start,
    Cheese,
}

impl Tile {
    pub fn symbol(self) -> char {
        match self {
            Tile::Wall => '#',
            Tile::Floor => '.',
            Tile::Start => 'M',
            Tile::Cheese => 'C',
        }
    }
}

/// A level being edited: a square grid that may be invalid while it is being drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditedLevel {
    pub name: String,
    pub description: String,
    pub size: usize,
    /// Row-major.
    pub tiles: Vec<Tile>,
}

/// What is wrong with an edited level, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: String,
    /// The cells concerned (e.g. an unreachable cheese).
    pub cells: Vec<Pos>,
}

/// The result of live validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub problems: Vec<Problem>,
    /// Free cells the mouse cannot reach from the start (empty when there is no start).
    pub unreachable: Vec<Pos>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

impl EditedLevel {
    /// An empty room: floor inside a wall border, start bottom-left, cheese top-right.
    pub fn blank(size: usize) -> Self {
        let size = size.clamp(3, MAX_WORLD_SIZE);
        let mut tiles = vec![Tile::Floor; size * size];
        for i in 0..size {
            for j in 0..size {
                if i == 0 || j == 0 || i == size - 1 || j == size - 1 {
                    tiles[i * size + j] = Tile::Wall;
                }
            }
        }
        tiles[(size - 2) * size + 1] = Tile::Start;
        tiles[size + size - 2] = Tile::Cheese;
        Self {
            name: "untitled".into(),
            description: String::new(),
            size,
            tiles,
        }
    }

    pub fn from_layout(layout: &Layout, name: &str) -> Self {
        let tiles = (0..layout.size * layout.size)
            .map(|i| {
                let p = Pos::new(i / layout.size, i % layout.size);
                if p == layout.start {
                    Tile::Start
                } else if p == layout.cheese {
                    Tile::Cheese
                } else if layout.walls[i] {
                    Tile::Wall
                } else {
                    Tile::Floor
                }
            })
            .collect();
        Self {
            name: name.into(),
            description: String::new(),
            size: layout.size,
            tiles,
        }
    }

    pub fn tile(&self, pos: Pos) -> Tile {
        self.tiles[pos.row * self.size + pos.col]
    }

    /// The tile at `pos`, or None outside the level.
    pub fn tile_at(&self, pos: Pos) -> Option<Tile> {
        (pos.row < self.size && pos.col < self.size).then(|| self.tile(pos))
    }

    /// Paints one cell; a start or cheese moves there (a level has one of each). Returns false
    /// when nothing changed.
    pub fn paint(&mut self, pos: Pos, tile: Tile) -> bool {
        if pos.row >= self.size || pos.col >= self.size || self.tile(pos) == tile {
            return false;
        }
        if matches!(tile, Tile::Start | Tile::Cheese) {
            for t in &mut self.tiles {
                if *t == tile {
                    *t = Tile::Floor;
                }
            }
        }
        self.tiles[pos.row * self.size + pos.col] = tile;
        true
    }

    /// Changes the side length, keeping the bottom-left corner (where the mouse usually starts);
    /// new cells are walls.
    pub fn resize(&mut self, size: usize) {
        let size = size.clamp(3, MAX_WORLD_SIZE);
        let mut tiles = vec![Tile::Wall; size * size];
        for row in 0..size.min(self.size) {
            for col in 0..size.min(self.size) {
                let from = (self.size - 1 - row) * self.size + col;
                tiles[(size - 1 - row) * size + col] = self.tiles[from];
            }
        }
        self.size = size;
        self.tiles = tiles;
    }

    /// Replaces the grid with a level drawn from `spec` (its world size) with `seed`.
    pub fn fill_from(&mut self, spec: &DistributionSpec, seed: u64) {
        let layout = spec.level_for_seed(spec.seed_from_draw(seed));
        let name = std::mem::take(&mut self.name);
        let description = std::mem::take(&mut self.description);
        *self = Self::from_layout(&layout, &name);
        self.description = description;
    }

    fn find(&self, tile: Tile) -> Vec<Pos> {
        (0..self.tiles.len())
            .filter(|&i| self.tiles[i] == tile)
            .map(|i| Pos::new(i / self.size, i % self.size))
            .collect()
    }

    /// Checks the level as it is now.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        let starts = self.find(Tile::Start);
        let cheeses = self.find(Tile::Cheese);
        match starts.len() {
            0 => v.problems.push(Problem {
                message: "there is no start".into(),
                hint: "place the mouse start (M)".into(),
                cells: vec![],
            }),
            1 => {}
            _ => v.problems.push(Problem {
                message: format!("there are {} starts", starts.len()),
                hint: "keep exactly one M".into(),
                cells: starts.clone(),
            }),
        }
        match cheeses.len() {
            0 => v.problems.push(Problem {
                message: "there is no cheese".into(),
                hint: "place the cheese (C)".into(),
                cells: vec![],
            }),
            1 => {}
            _ => v.problems.push(Problem {
                message: format!("there are {} cheeses", cheeses.len()),
                hint: "keep exactly one C".into(),
                cells: cheeses.clone(),
            }),
        }
        if let Some(&start) = starts.first() {
            let mut seen = vec![false; self.tiles.len()];
            let mut queue = VecDeque::from([start]);
            seen[start.row * self.size + start.col] = true;
            while let Some(p) = queue.pop_front() {
                let steps = [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)];
                for (dr, dc) in steps {
                    let (r, c) = (p.row as i64 + dr, p.col as i64 + dc);
                    if r < 0 || c < 0 || r >= self.size as i64 || c >= self.size as i64 {
                        continue;
                    }
                    let q = Pos::new(r as usize, c as usize);
                    let i = q.row * self.size + q.col;
                    if !seen[i] && self.tiles[i] != Tile::Wall {
                        seen[i] = true;
                        queue.push_back(q);
                    }
                }
            }
            v.unreachable = (0..self.tiles.len())
                .filter(|&i| self.tiles[i] != Tile::Wall && !seen[i])
                .map(|i| Pos::new(i / self.size, i % self.size))
                .collect();
            let stranded: Vec<Pos> = cheeses
                .iter()
                .copied()
                .filter(|c| !seen[c.row * self.size + c.col])
                .collect();
            if !stranded.is_empty() {
                v.problems.push(Problem {
                    message: "the cheese cannot be reached from the start".into(),
                    hint: "open a path of floor from M to C".into(),
                    cells: stranded,
                });
            }
        }
        v
    }

    /// A layout to draw even while the level is invalid (a missing start or cheese is drawn at
    /// the first free cell); never used for play.
    pub fn sketch(&self) -> Layout {
        let first_free = (0..self.tiles.len())
            .find(|&i| self.tiles[i] != Tile::Wall)
            .map_or(Pos::new(0, 0), |i| Pos::new(i / self.size, i % self.size));
        let start = self
            .find(Tile::Start)
            .first()
            .copied()
            .unwrap_or(first_free);
        let cheese = self
            .find(Tile::Cheese)
            .first()
            .copied()
            .unwrap_or(first_free);
        let corner = (0..self.tiles.len())
            .filter(|&i| self.tiles[i] != Tile::Wall)
            .map(|i| Pos::new(i / self.size, i % self.size))
            .min_by_key(|p| (p.manhattan(Pos::new(0, self.size - 1)), p.row))
            .unwrap_or(cheese);
        Layout {
            size: self.size,
            walls: self.tiles.iter().map(|t| *t == Tile::Wall).collect(),
            start,
            cheese,
            corner,
        }
    }

    /// A generator's distribution at this level's size (the largest odd maze that fits, cheese
    /// anywhere), for "fill from a generator".
    pub fn fill_spec(&self, generator: super::Generator) -> DistributionSpec {
        let maze = if self.size % 2 == 1 {
            self.size
        } else {
            self.size - 1
        };
        DistributionSpec {
            generator,
            world_size: self.size,
            maze_size: super::MazeSize::Fixed(maze.max(3)),
            cheese: super::CheesePlacement::Anywhere,
            seeds: super::SeedRange::default(),
            corner: super::Corner::default(),
        }
    }

    /// The level as an ASCII row per line.
    pub fn rows(&self) -> Vec<String> {
        self.tiles
            .chunks(self.size)
            .map(|row| row.iter().map(|t| t.symbol()).collect())
            .collect()
    }

    /// The level file text (a `Fixed` RON level).
    pub fn to_ron(&self) -> Result<String, String> {
        let file = LevelFile::Fixed {
            name: self.name.clone(),
            description: self.description.clone(),
            rows: self.rows(),
        };
        let pretty = ron::ser::PrettyConfig::new().struct_names(true);
        ron::ser::to_string_pretty(&file, pretty).map_err(|e| e.to_string())
    }

    /// The playable layout, or every problem.
    pub fn to_layout(&self) -> Result<Layout, Vec<Problem>> {
        let validation = self.validate();
        if !validation.is_valid() {
            return Err(validation.problems);
        }
        let text = self.to_ron().map_err(|e| {
            vec![Problem {
                message: e,
                hint: "report this as a bug".into(),
                cells: vec![],
            }]
        })?;
        match parse_level(Path::new("<editor>"), &text) {
            Ok(LevelSource::Fixed { layout, .. }) => Ok(layout),
            Ok(LevelSource::Distribution { .. } | LevelSource::Mixture { .. }) => {
                unreachable_distribution()
            }
            Err(e) => Err(vec![Problem {
                message: e.message,
                hint: e.hint,
                cells: vec![],
            }]),
        }
    }
}

fn unreachable_distribution() -> Result<Layout, Vec<Problem>> {
    Err(vec![Problem {
        message: "the editor produced a distribution instead of a layout".into(),
        hint: "report this as a bug".into(),
        cells: vec![],
    }])
}

/// Why a save did not happen; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveError {
    #[error("{path}: not saved, the level is invalid: {}", .problems.iter().map(|p| format!("{} ({})", p.message, p.hint)).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("{0}: the file exists; confirm to overwrite it")]
    Exists(PathBuf),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// An edited level with its history.
#[derive(Clone, Debug)]
pub struct Editor {
    pub level: EditedLevel,
    undo: Vec<EditedLevel>,
    redo: Vec<EditedLevel>,
    /// Where the level was loaded from or last saved to.
    pub path: Option<PathBuf>,
    /// Whether there are edits since the last save or load.
    pub dirty: bool,
}

/// Undo steps kept.
const HISTORY: usize = 256;

impl Editor {
    pub fn new(level: EditedLevel) -> Self {
        Self {
            level,
            undo: Vec::new(),
            redo: Vec::new(),
            path: None,
            dirty: false,
        }
    }

    /// Applies one edit as one undo step (nothing is recorded when nothing changed).
    pub fn edit(&mut self, change: impl FnOnce(&mut EditedLevel)) {
        let before = self.level.clone();
        change(&mut self.level);
        if self.level != before {
            self.undo.push(before);
            if self.undo.len() > HISTORY {
                self.undo.remove(0);
            }
            self.redo.clear();
            self.dirty = true;
        }
    }

    /// Starts a stroke: later edits merge into the step begun here until the next `begin_stroke`.
    pub fn begin_stroke(&mut self) {
        self.undo.push(self.level.clone());
        self.redo.clear();
    }

    /// Paints during a stroke (no undo step of its own).
    pub fn stroke(&mut self, pos: Pos, tile: Tile) {
        if self.level.paint(pos, tile) {
            self.dirty = true;
        }
    }

    /// Ends a stroke; a stroke that changed nothing leaves no undo step.
    pub fn end_stroke(&mut self) {
        if self.undo.last() == Some(&self.level) {
            self.undo.pop();
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(previous) => {
                self.redo.push(std::mem::replace(&mut self.level, previous));
                self.dirty = true;
                true
            }
            None => false,
        }
    }

    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(next) => {
                self.undo.push(std::mem::replace(&mut self.level, next));
                self.dirty = true;
                true
            }
            None => false,
        }
    }

    /// Saves to `path`: refuses an invalid level, and an existing file unless `overwrite`.
    /// The file is written to a temporary name first and renamed, so a failed save loses nothing.
    pub fn save(&mut self, path: &Path, overwrite: bool) -> Result<(), SaveError> {
        if let Err(problems) = self.level.to_layout() {
            return Err(SaveError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        if path.exists() && !overwrite {
            return Err(SaveError::Exists(path.to_path_buf()));
        }
        let io = |e: String| SaveError::Io {
            path: path.to_path_buf(),
            reason: e,
        };
        let text = self.level.to_ron().map_err(io)?;
        let text = format!(
            "// Drawn in the maze-rllf level editor: # wall, . floor, M mouse start, C cheese.\n{text}\n"
        );
        crate::files::write_atomic(path, text.as_bytes()).map_err(|e| io(e.to_string()))?;
        self.path = Some(path.to_path_buf());
        self.dirty = false;
        Ok(())
    }

    /// Loads a level file: a fixed layout as drawn, or one level drawn from a distribution.
    pub fn load(path: &Path) -> Result<Self, String> {
        let source = super::load_level_file(path).map_err(|e| e.to_string())?;
        let name = source.name().to_string();
        let layout = match source {
            LevelSource::Fixed { layout, .. } => layout,
            LevelSource::Distribution { spec, .. } => spec.level_for_seed(spec.seed_from_draw(0)),
            mixture @ LevelSource::Mixture { .. } => mixture.sample(&mut crate::rng::Rng::new(0)),
        };
        let mut editor = Self::new(EditedLevel::from_layout(&layout, &name));
        editor.path = Some(path.to_path_buf());
        Ok(editor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painting_moves_the_start_and_cheese_and_undo_redo_restore() {
        let mut editor = Editor::new(EditedLevel::blank(7));
        let original = editor.level.clone();
        editor.edit(|l| {
            l.paint(Pos::new(1, 1), Tile::Start);
        });
        assert_eq!(editor.level.find(Tile::Start), vec![Pos::new(1, 1)]);
        editor.edit(|l| {
            l.paint(Pos::new(3, 3), Tile::Wall);
        });
        assert!(editor.undo());
        assert_eq!(editor.level.tile(Pos::new(3, 3)), Tile::Floor);
        assert!(editor.undo());
        assert_eq!(editor.level, original);
        assert!(!editor.undo());
        assert!(editor.redo() && editor.redo());
        assert_eq!(editor.level.tile(Pos::new(3, 3)), Tile::Wall);
        assert!(!editor.redo());
    }

    #[test]
    fn a_cell_outside_the_level_has_no_tile() {
        let level = EditedLevel::blank(5);
        assert_eq!(level.tile_at(Pos::new(4, 4)), Some(Tile::Wall));
        assert_eq!(level.tile_at(Pos::new(2, 2)), Some(Tile::Floor));
        assert_eq!(level.tile_at(Pos::new(5, 0)), None);
        assert_eq!(level.tile_at(Pos::new(0, 7)), None);
    }

    #[test]
    fn a_stroke_is_one_undo_step() {
        let mut editor = Editor::new(EditedLevel::blank(9));
        let before = editor.level.clone();
        editor.begin_stroke();
        for col in 1..8 {
            editor.stroke(Pos::new(4, col), Tile::Wall);
        }
        editor.end_stroke();
        assert!(editor.undo());
        assert_eq!(editor.level, before);
        // An empty stroke leaves no step.
        editor.begin_stroke();
        editor.end_stroke();
        assert!(!editor.can_undo());
    }

    #[test]
    fn walling_off_the_cheese_is_reported_with_its_cell() {
        let mut level = EditedLevel::blank(7);
        for col in 1..6 {
            level.paint(Pos::new(3, col), Tile::Wall);
        }
        let v = level.validate();
        assert!(!v.is_valid());
        assert!(v.problems[0].message.contains("cannot be reached"));
        assert_eq!(v.problems[0].cells, vec![Pos::new(1, 5)]);
        assert!(v.unreachable.contains(&Pos::new(1, 5)));
        assert!(level.to_layout().is_err());
    }

    #[test]
    fn save_refuses_invalid_levels_and_existing_files_then_round_trips() {
        let dir = std::env::temp_dir().join(format!("maze-rllf-edit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("drawn.ron");
        let _ = std::fs::remove_file(&path);
        let mut editor = Editor::new(EditedLevel::blank(7));
        editor.edit(|l| {
            l.tiles.iter_mut().for_each(|t| {
                if *t == Tile::Cheese {
                    *t = Tile::Floor;
                }
            });
        });
        let err = editor.save(&path, false).expect_err("no cheese");
        assert!(matches!(err, SaveError::Invalid { .. }), "{err}");
        assert!(!path.exists(), "an invalid level is never written");
        assert!(editor.undo());
        editor.save(&path, false).expect("valid level saves");
        assert!(!editor.dirty);
        editor.edit(|l| {
            l.paint(Pos::new(3, 3), Tile::Wall);
        });
        let err = editor.save(&path, false).expect_err("exists");
        assert_eq!(err, SaveError::Exists(path.clone()));
        editor.save(&path, true).expect("overwrite when asked");
        let loaded = Editor::load(&path).expect("loads back");
        assert_eq!(loaded.level.tiles, editor.level.tiles);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resize_keeps_the_bottom_left_and_fill_makes_a_valid_maze() {
        let mut level = EditedLevel::blank(7);
        level.resize(9);
        assert_eq!(level.size, 9);
        assert_eq!(level.tile(Pos::new(7, 1)), Tile::Start);
        let spec = DistributionSpec::training(9, 0);
        level.fill_from(&spec, 3);
        assert!(level.validate().is_valid());
        assert!(level.to_layout().is_ok());
    }
}
