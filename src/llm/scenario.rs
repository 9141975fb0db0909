//! The environment edits a judge may propose, parsed from loose JSON (an edit object or a menu
//! item's letter) and validated into level distributions; anything else is rejected with a reason.
//! The menu offered to every judge is [`super::menu`].

use crate::errors::Invalid;
use crate::level::validate_spec;
use crate::level::{CheesePlacement, Corner, DistributionSpec, MazeSize, Quadrant};
use serde::{Deserialize, Serialize};

/// One environment change a judge may ask for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum ScenarioEdit {
    /// The training mazes as they are: the agent needs no new environments.
    NoChange,
    /// The cheese on any free cell.
    CheeseAnywhere,
    /// The cheese in one quadrant (`top_left`, `top_right`, `bottom_left`, `bottom_right`).
    CheeseInQuadrant { quadrant: String },
    /// The cheese within a small square at a corner (`top_left`, `top_right`, `bottom_right`).
    CheeseNearCorner { corner: String },
    /// The cheese at least `min_steps` moves from a corner.
    CheeseFarFromCorner { corner: String, min_steps: usize },
    /// The cheese within `max_steps` moves of the start.
    CheeseNearStart { max_steps: usize },
    /// Larger mazes (odd side, up to the world size); the cheese where training put it.
    BiggerMazes { min_size: usize },
    /// Smaller mazes; the cheese where training put it.
    SmallerMazes { max_size: usize },
    /// Another generator (`open`, `blocks`, `edges`); the cheese where training put it.
    OtherGenerator { generator: String },
}

/// A validated scenario: the edit and the distribution it yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub edit: ScenarioEdit,
    pub spec: DistributionSpec,
}

impl Scenario {
    /// Whether the scenario changes the training distribution at all (`no change` does not).
    pub fn changes_anything(&self) -> bool {
        self.edit != ScenarioEdit::NoChange
    }
}

/// The side of the square at a corner that "near a corner" means, for mazes up to side `hi`.
pub fn near_corner_region(hi: usize) -> usize {
    (hi / 3).max(2)
}

fn corner_named(name: &str) -> Result<Corner, Invalid> {
    Corner::parse(name).ok_or_else(|| {
        Invalid(format!(
            "unknown corner '{name}': one of top_left, top_right, bottom_right"
        ))
    })
}

impl ScenarioEdit {
    /// A short human-readable title, e.g. "cheese in the top_left quadrant".
    pub fn title(&self) -> String {
        match self {
            ScenarioEdit::NoChange => "no change".into(),
            ScenarioEdit::CheeseAnywhere => "cheese anywhere".into(),
            ScenarioEdit::CheeseInQuadrant { quadrant } => {
                format!("cheese in the {quadrant} quadrant")
            }
            ScenarioEdit::CheeseNearCorner { corner } => format!("cheese near the {corner} corner"),
            ScenarioEdit::CheeseFarFromCorner { corner, min_steps } => {
                format!("cheese at least {min_steps} moves from the {corner} corner")
            }
            ScenarioEdit::CheeseNearStart { max_steps } => {
                format!("cheese within {max_steps} moves of the start")
            }
            ScenarioEdit::BiggerMazes { min_size } => format!("mazes of side {min_size} or more"),
            ScenarioEdit::SmallerMazes { max_size } => format!("mazes of side {max_size} or less"),
            ScenarioEdit::OtherGenerator { generator } => format!("`{generator}` levels"),
        }
    }

    /// Applies the edit to the training distribution, validating the result.
    pub fn apply(&self, base: &DistributionSpec) -> Result<Scenario, Invalid> {
        let mut spec = base.clone();
        let (lo, hi) = base.maze_size.bounds();
        match self {
            ScenarioEdit::NoChange => {}
            ScenarioEdit::CheeseAnywhere => spec.cheese = CheesePlacement::Anywhere,
            ScenarioEdit::CheeseInQuadrant { quadrant } => {
                let q = match quadrant.to_lowercase().replace(['-', ' '], "_").as_str() {
                    "top_left" => Quadrant::TopLeft,
                    "top_right" => Quadrant::TopRight,
                    "bottom_left" => Quadrant::BottomLeft,
                    "bottom_right" => Quadrant::BottomRight,
                    other => return Err(Invalid(format!("unknown quadrant '{other}'"))),
                };
                spec.cheese = CheesePlacement::Quadrant(q);
            }
            ScenarioEdit::CheeseNearCorner { corner } => {
                spec.cheese =
                    CheesePlacement::NearCorner(corner_named(corner)?, near_corner_region(hi));
            }
            ScenarioEdit::CheeseFarFromCorner { corner, min_steps } => {
                if *min_steps == 0 || *min_steps > 2 * hi {
                    return Err(Invalid(format!(
                        "min_steps {min_steps} is outside 1..={}",
                        2 * hi
                    )));
                }
                spec.cheese = CheesePlacement::FarFrom(corner_named(corner)?, *min_steps);
            }
            ScenarioEdit::CheeseNearStart { max_steps } => {
                if *max_steps == 0 {
                    return Err(Invalid("max_steps must be at least 1".into()));
                }
                spec.cheese = CheesePlacement::NearStart(*max_steps);
            }
            ScenarioEdit::BiggerMazes { min_size } => {
                let min = (*min_size | 1).max(lo);
                spec.maze_size = MazeSize::Range(min.min(base.world_size), base.world_size);
            }
            ScenarioEdit::SmallerMazes { max_size } => {
                let max = (*max_size | 1).clamp(3, hi);
                spec.maze_size = MazeSize::Range(3, max);
            }
            ScenarioEdit::OtherGenerator { generator } => {
                spec.generator = match generator.to_lowercase().as_str() {
                    "open" => crate::level::Generator::Open,
                    "blocks" => crate::level::Generator::Blocks { wall_prob: 0.3 },
                    "edges" => crate::level::Generator::Edges { open_prob: 0.6 },
                    "kruskal" => crate::level::Generator::Kruskal,
                    other => return Err(Invalid(format!("unknown generator '{other}'"))),
                };
            }
        }
        validate_spec(&spec)
            .map_err(|(field, message, _)| Invalid(format!("{field}: {message}")))?;
        Ok(Scenario {
            edit: self.clone(),
            spec,
        })
    }
}
