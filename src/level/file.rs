//! Level files (RON under `levels/`): hand-drawn layouts as ASCII rows, or level distributions.
//! Loading validates everything and reports `file:line:column: what is wrong (how to fix it)`.

use super::generate::{CheesePlacement, DistributionSpec, Generator, MazeSize, SeedRange};
use super::{Layout, Pos};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest world side a level may use.
pub const MAX_WORLD_SIZE: usize = 64;

/// A level file as written on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LevelFile {
    /// One hand-designed layout: `#` wall, `.` floor, `M` mouse start, `C` cheese.
    Fixed {
        name: String,
        #[serde(default)]
        description: String,
        rows: Vec<String>,
    },
    /// A distribution of generated mazes.
    Distribution {
        name: String,
        #[serde(default)]
        description: String,
        generator: Generator,
        world_size: usize,
        maze_size: MazeSize,
        cheese: CheesePlacement,
        #[serde(default)]
        seeds: SeedRange,
    },
}

/// What a level file yields once validated: where an environment draws its mazes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LevelSource {
    Fixed {
        name: String,
        layout: Layout,
    },
    Distribution {
        name: String,
        spec: DistributionSpec,
    },
    /// Several distributions of one world size, each level drawn from one of them with
    /// probability proportional to its weight (e.g. the training mazes plus a share of the
    /// judge's scenarios). Build it with [`LevelSource::mixture`].
    Mixture {
        name: String,
        parts: Vec<MixturePart>,
    },
}

/// One distribution of a [`LevelSource::Mixture`] and its weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixturePart {
    pub weight: f64,
    pub spec: DistributionSpec,
}

impl LevelSource {
    /// A mixture of `parts` (weight, distribution); every weight finite and non-negative, their
    /// sum positive, every world the same size.
    pub fn mixture(name: String, parts: Vec<MixturePart>) -> Result<LevelSource, String> {
        let Some(first) = parts.first() else {
            return Err(format!("mixture '{name}' has no parts"));
        };
        if let Some(bad) = parts
            .iter()
            .find(|p| !p.weight.is_finite() || p.weight < 0.0)
        {
            return Err(format!(
                "mixture '{name}': weight {} is not a finite non-negative number",
                bad.weight
            ));
        }
        if parts.iter().map(|p| p.weight).sum::<f64>() <= 0.0 {
            return Err(format!("mixture '{name}': the weights sum to zero"));
        }
        if let Some(other) = parts
            .iter()
            .find(|p| p.spec.world_size != first.spec.world_size)
        {
            return Err(format!(
                "mixture '{name}' mixes {0}x{0} and {1}x{1} worlds; a policy sees one size",
                first.spec.world_size, other.spec.world_size
            ));
        }
        Ok(LevelSource::Mixture { name, parts })
    }

    /// Whether the source can be sampled: a fixed layout of sound shape, valid distributions,
    /// a mixture as [`LevelSource::mixture`] requires (for sources read back from files).
    pub fn validate(&self) -> Result<(), String> {
        let spec_ok = |spec: &DistributionSpec| {
            validate_spec(spec).map_err(|(field, message, hint)| {
                format!("levels '{}': {field}: {message} ({hint})", self.name())
            })
        };
        match self {
            LevelSource::Fixed { name, layout } => layout
                .check_shape()
                .map_err(|e| format!("levels '{name}': {e}")),
            LevelSource::Distribution { spec, .. } => spec_ok(spec),
            LevelSource::Mixture { name, parts } => {
                LevelSource::mixture(name.clone(), parts.clone())?;
                parts.iter().try_for_each(|p| spec_ok(&p.spec))
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LevelSource::Fixed { name, .. }
            | LevelSource::Distribution { name, .. }
            | LevelSource::Mixture { name, .. } => name,
        }
    }

    /// Side of the world grid the levels live in.
    pub fn world_size(&self) -> usize {
        match self {
            LevelSource::Fixed { layout, .. } => layout.size,
            LevelSource::Distribution { spec, .. } => spec.world_size,
            LevelSource::Mixture { parts, .. } => parts.first().map_or(0, |p| p.spec.world_size),
        }
    }

    /// Draws the next layout (a fixed level always returns itself; a mixture draws its part,
    /// then the level, from `rng`).
    pub fn sample(&self, rng: &mut Rng) -> Layout {
        match self {
            LevelSource::Fixed { layout, .. } => layout.clone(),
            LevelSource::Distribution { spec, .. } => {
                spec.level_for_seed(spec.seed_from_draw(rng.next_u64()))
            }
            LevelSource::Mixture { parts, .. } => {
                let total: f64 = parts.iter().map(|p| p.weight).sum();
                let mut pick = rng.unit_f64() * total;
                let part = parts
                    .iter()
                    .find(|p| {
                        pick -= p.weight;
                        pick < 0.0 && p.weight > 0.0
                    })
                    .or_else(|| parts.iter().rev().find(|p| p.weight > 0.0))
                    .unwrap_or(&parts[0]);
                part.spec
                    .level_for_seed(part.spec.seed_from_draw(rng.next_u64()))
            }
        }
    }

    /// The same source with every layout centred in a world of `size` (for a policy's input).
    pub fn fitted_to(&self, size: usize) -> Result<LevelSource, String> {
        match self {
            LevelSource::Fixed { name, layout } => layout
                .padded_to(size)
                .map(|layout| LevelSource::Fixed {
                    name: name.clone(),
                    layout,
                })
                .ok_or_else(|| {
                    format!(
                        "level '{name}' is {0}x{0} but the policy sees a {size}x{size} world",
                        layout.size
                    )
                }),
            // Mazes are centred in the world, so a smaller world simply grows its wall margin.
            LevelSource::Distribution { name, spec } if spec.world_size <= size => {
                Ok(LevelSource::Distribution {
                    name: name.clone(),
                    spec: DistributionSpec {
                        world_size: size,
                        ..spec.clone()
                    },
                })
            }
            LevelSource::Distribution { name, spec } => Err(format!(
                "distribution '{name}' has world_size {} but the policy sees a {size}x{size} world",
                spec.world_size
            )),
            LevelSource::Mixture { name, parts } if self.world_size() <= size => {
                Ok(LevelSource::Mixture {
                    name: name.clone(),
                    parts: parts
                        .iter()
                        .map(|p| MixturePart {
                            weight: p.weight,
                            spec: DistributionSpec {
                                world_size: size,
                                ..p.spec.clone()
                            },
                        })
                        .collect(),
                })
            }
            LevelSource::Mixture { name, .. } => Err(format!(
                "mixture '{name}' has world_size {} but the policy sees a {size}x{size} world",
                self.world_size()
            )),
        }
    }
}

/// A level-file problem with its location and a hint on how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} (fix: {})",
            self.file.display(),
            self.line,
            self.column,
            self.message,
            self.hint
        )
    }
}

impl std::error::Error for LevelError {}

/// Reads and validates a level file.
pub fn load_level_file(path: &Path) -> Result<LevelSource, LevelError> {
    let text = std::fs::read_to_string(path).map_err(|e| LevelError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the file: {e}"),
        hint: "check the path and that the file is readable UTF-8 text".into(),
    })?;
    parse_level(path, &text)
}

/// Parses and validates level text; `path` is only used in error messages.
pub fn parse_level(path: &Path, text: &str) -> Result<LevelSource, LevelError> {
    // Editors on some systems start UTF-8 files with a byte-order mark; it is not part of the RON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let err = |line: usize, column: usize, message: String, hint: &str| LevelError {
        file: path.to_path_buf(),
        line,
        column,
        message,
        hint: hint.to_string(),
    };
    let options =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let file: LevelFile = options.from_str(text).map_err(|e| {
        err(
            e.span.start.line,
            e.span.start.col,
            format!("not a valid level file: {}", e.code),
            "a level is `Fixed(name: .., rows: [..])` or `Distribution(name: .., generator: .., \
             world_size: .., maze_size: .., cheese: ..)`; see levels/README.md",
        )
    })?;
    match file {
        LevelFile::Fixed { name, rows, .. } => {
            let layout = validate_rows(text, &rows)
                .map_err(|(line, column, message, hint)| err(line, column, message, hint))?;
            Ok(LevelSource::Fixed {
                name: printable(&name),
                layout,
            })
        }
        LevelFile::Distribution {
            name,
            generator,
            world_size,
            maze_size,
            cheese,
            seeds,
            ..
        } => {
            let spec = DistributionSpec {
                generator,
                world_size,
                maze_size,
                cheese,
                seeds,
            };
            validate_spec(&spec).map_err(|(field, message, hint)| {
                let (line, column) = field_position(text, field);
                err(line, column, message, hint)
            })?;
            Ok(LevelSource::Distribution {
                name: printable(&name),
                spec,
            })
        }
    }
}

/// `text` with control characters (ESC, NUL, newlines, ...) written as escapes (`\u{1b}`), so a
/// name from a file cannot drive the terminal it is printed on.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

type SpecProblem = (&'static str, String, &'static str);

/// Checks a distribution's numbers; returns the offending field on failure.
pub fn validate_spec(spec: &DistributionSpec) -> Result<(), SpecProblem> {
    let world = spec.world_size;
    if !(3..=MAX_WORLD_SIZE).contains(&world) {
        return Err((
            "world_size",
            format!("world_size {world} is out of range"),
            "use a world_size between 3 and 64 (the paper uses 15 or 25)",
        ));
    }
    let (lo, hi) = spec.maze_size.bounds();
    if lo % 2 == 0 || hi % 2 == 0 || lo < 3 || lo > hi || hi > world {
        return Err((
            "maze_size",
            format!("maze_size {lo}..={hi} is out of range for world_size {world}"),
            "maze sides are odd, at least 3, low <= high, and at most world_size",
        ));
    }
    match spec.cheese {
        CheesePlacement::Region(r) if r > hi => {
            return Err((
                "cheese",
                format!("cheese region {r} is larger than the largest maze ({hi})"),
                "use a region no larger than the maze side (0 and 1 mean the top-right cell)",
            ));
        }
        _ => {}
    }
    let prob = match spec.generator {
        Generator::Blocks { wall_prob } => Some(wall_prob),
        Generator::Edges { open_prob } => Some(open_prob),
        _ => None,
    };
    if let Some(p) = prob
        && !(0.0..=1.0).contains(&p)
    {
        return Err((
            "generator",
            format!("generator probability {p} is not a probability"),
            "use a value between 0.0 and 1.0",
        ));
    }
    if spec.seeds.count == Some(0) {
        return Err((
            "seeds",
            "seed count is 0: the distribution has no levels".into(),
            "set count to at least 1, or leave it out for unbounded seeds",
        ));
    }
    match spec.generator {
        Generator::Blocks { wall_prob } if wall_prob >= 1.0 => {
            return Err((
                "generator",
                format!("Blocks(wall_prob: {wall_prob}) makes every cell a wall"),
                "use a wall_prob below 1.0 (0.2 to 0.4 gives connected mazes)",
            ));
        }
        Generator::Edges { open_prob } if open_prob <= 0.0 => {
            return Err((
                "generator",
                format!("Edges(open_prob: {open_prob}) never opens a passage"),
                "use an open_prob above 0.0 (0.5 to 0.8 gives connected mazes)",
            ));
        }
        _ => {}
    }
    match spec.cheese {
        CheesePlacement::NearStart(0) => {
            return Err((
                "cheese",
                "NearStart(0) allows only the start cell, where the cheese cannot be".into(),
                "use NearStart(1) or more (moves from the start)",
            ));
        }
        CheesePlacement::FarFromCorner(min) if min >= hi * hi => {
            return Err((
                "cheese",
                format!(
                    "FarFromCorner({min}): no cell of a {hi}x{hi} maze is {min} moves from its corner"
                ),
                "use fewer moves than the maze has cells",
            ));
        }
        _ => {}
    }
    if !spec.satisfiable() {
        return Err((
            "cheese",
            format!(
                "no maze of side {lo} to {hi} drawn from this generator has a reachable cell \
                 where this placement puts the cheese"
            ),
            "loosen the placement (a larger distance bound or region) or the generator's walls",
        ));
    }
    Ok(())
}

type RowProblem = (usize, usize, String, &'static str);

fn validate_rows(text: &str, rows: &[String]) -> Result<Layout, RowProblem> {
    let positions = row_positions(text);
    let row_pos = |i: usize, j: usize| -> (usize, usize) {
        positions
            .get(i)
            .map(|&(line, col)| (line, col + j))
            .unwrap_or_else(|| field_position(text, "rows"))
    };
    let (rows_line, rows_col) = field_position(text, "rows");
    if rows.is_empty() {
        return Err((
            rows_line,
            rows_col,
            "the layout has no rows".into(),
            "draw the maze as strings of # . M C, one per row",
        ));
    }
    let width = rows[0].chars().count();
    let height = rows.len();
    if !(3..=MAX_WORLD_SIZE).contains(&width) || !(3..=MAX_WORLD_SIZE).contains(&height) {
        return Err((
            rows_line,
            rows_col,
            format!("the layout is {width} wide and {height} tall: size out of range"),
            "layouts are between 3 and 64 cells on each side",
        ));
    }
    let size = width.max(height);
    let (row_off, col_off) = ((size - height) / 2, (size - width) / 2);
    let mut walls = vec![true; size * size];
    let (mut start, mut cheese) = (None, None);
    for (i, row) in rows.iter().enumerate() {
        let len = row.chars().count();
        if len != width {
            let (line, col) = row_pos(i, 0);
            return Err((
                line,
                col,
                format!(
                    "row {} has {len} cells but row 1 has {width} (ragged rows)",
                    i + 1
                ),
                "make every row the same length; pad with # walls",
            ));
        }
        for (j, tile) in row.chars().enumerate() {
            let p = Pos::new(i + row_off, j + col_off);
            let place = |slot: &mut Option<Pos>, what: &str| -> Result<(), RowProblem> {
                if slot.is_some() {
                    let (line, col) = row_pos(i, j);
                    return Err((
                        line,
                        col,
                        format!("a second {what} at row {}, column {}", i + 1, j + 1),
                        "a level has exactly one M (mouse start) and one C (cheese)",
                    ));
                }
                *slot = Some(p);
                Ok(())
            };
            match tile {
                '#' => continue,
                '.' => {}
                'M' => place(&mut start, "start M")?,
                'C' => place(&mut cheese, "cheese C")?,
                other => {
                    let (line, col) = row_pos(i, j);
                    return Err((
                        line,
                        col,
                        format!("unknown tile '{other}' at row {}, column {}", i + 1, j + 1),
                        "use # (wall), . (floor), M (mouse start) or C (cheese)",
                    ));
                }
            }
            walls[p.row * size + p.col] = false;
        }
    }
    let Some(start) = start else {
        return Err((
            rows_line,
            rows_col,
            "the layout has no start (M)".into(),
            "put exactly one M where the mouse starts",
        ));
    };
    let Some(cheese) = cheese else {
        return Err((
            rows_line,
            rows_col,
            "the layout has no cheese (C)".into(),
            "put exactly one C where the cheese is",
        ));
    };
    // The proxy goal: the free cell nearest the top-right of the drawing.
    let top_right = Pos::new(row_off, col_off + width - 1);
    let corner = (0..size * size)
        .map(|i| Pos::new(i / size, i % size))
        .filter(|p| !walls[p.row * size + p.col])
        .min_by_key(|p| (p.manhattan(top_right), p.row))
        .unwrap_or(cheese);
    let layout = Layout {
        size,
        walls,
        start,
        cheese,
        corner,
    };
    if layout.cheese_distance().is_none() {
        let (line, col) = row_pos(cheese.row - row_off, cheese.col - col_off);
        return Err((
            line,
            col,
            "the cheese cannot be reached from the start".into(),
            "open a path of . cells from M to C",
        ));
    }
    Ok(layout)
}

/// 1-based line and column of `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where `field:` is written in the file (1:1 if it is not there).
fn field_position(text: &str, field: &str) -> (usize, usize) {
    field_offset(text, field).map_or((1, 1), |at| line_col(text, at))
}

/// Byte offset of `field:` in the file.
fn field_offset(text: &str, field: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(field) {
        let at = from + found;
        let boundary_before = at == 0
            || !text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let rest = text[at + field.len()..].trim_start();
        if boundary_before && rest.starts_with(':') {
            return Some(at);
        }
        from = at + field.len();
    }
    None
}

/// Line and column of the first character inside each string of the `rows: [..]` list.
fn row_positions(text: &str) -> Vec<(usize, usize)> {
    let Some(start) = field_offset(text, "rows") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = start;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if !in_string => {
                in_string = true;
                out.push(line_col(text, i + 1));
            }
            b'"' => in_string = false,
            b'\\' if in_string => i += 1,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b']' if !in_string => break,
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RON text of a fixed level with these rows.
    pub fn fixed_level(rows: &[&str]) -> String {
        let rows: String = rows.iter().map(|r| format!("        \"{r}\",\n")).collect();
        format!("Fixed(\n    name: \"test\",\n    rows: [\n{rows}    ],\n)\n")
    }

    fn parse(text: &str) -> Result<LevelSource, LevelError> {
        parse_level(Path::new("levels/test.ron"), text)
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_level() {
        let text = format!(
            "\u{feff}{}",
            fixed_level(&["#####", "#..C#", "#.#.#", "#M..#", "#####"])
        );
        assert!(matches!(parse(&text), Ok(LevelSource::Fixed { .. })));
    }

    #[test]
    fn fixed_layout_parses_with_corner_and_start() {
        let src = parse(&fixed_level(&["#####", "#..C#", "#.#.#", "#M..#", "#####"]))
            .expect("valid level");
        let LevelSource::Fixed { layout, .. } = src else {
            panic!("expected a fixed level")
        };
        assert_eq!(layout.start, Pos::new(3, 1));
        assert_eq!(layout.cheese, Pos::new(1, 3));
        assert_eq!(layout.corner, Pos::new(1, 3));
        assert_eq!(layout.cheese_distance(), Some(4));
    }

    #[test]
    fn row_positions_skip_comments() {
        let text = "Fixed(\n  rows: [\n    // \"not a row\"\n    \"#M#\",\n      \"#C#\",\n  ],\n)";
        assert_eq!(row_positions(text), vec![(4, 6), (5, 8)]);
    }
}
