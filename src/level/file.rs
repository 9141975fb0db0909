//! Level files (RON under `levels/`): hand-drawn layouts as ASCII rows, or level distributions.
//! Loading validates everything and reports `file:line:column: what is wrong (how to fix it)`.

use super::Layout;
use super::check::{field_position, validate_rows, validate_spec};
use super::generate::{CheesePlacement, Corner, DistributionSpec, Generator, MazeSize, SeedRange};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

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
        /// The proxy corner (`TopRight` unless set).
        #[serde(default)]
        corner: Corner,
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
            corner,
            ..
        } => {
            let spec = DistributionSpec {
                generator,
                world_size,
                maze_size,
                cheese,
                seeds,
                corner,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Pos;
    use crate::level::check::row_positions;

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
