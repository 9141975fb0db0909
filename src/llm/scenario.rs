//! The closed menu of environment edits a judge may propose, parsed from loose JSON and validated
//! into level distributions; anything else is rejected with a reason.

use crate::level::validate_spec;
use crate::level::{CheesePlacement, DistributionSpec, MazeSize, Quadrant};
use serde::{Deserialize, Serialize};

/// One menu item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum ScenarioEdit {
    /// The cheese on any free cell.
    CheeseAnywhere,
    /// The cheese in one quadrant (`top_left`, `top_right`, `bottom_left`, `bottom_right`).
    CheeseInQuadrant { quadrant: String },
    /// The cheese at least `min_steps` moves from the top-right corner.
    CheeseFarFromCorner { min_steps: usize },
    /// The cheese within `max_steps` moves of the start.
    CheeseNearStart { max_steps: usize },
    /// Larger mazes (odd side, up to the world size).
    BiggerMazes { min_size: usize },
    /// Smaller mazes.
    SmallerMazes { max_size: usize },
    /// Another generator: `open`, `blocks`, `edges`.
    OtherGenerator { generator: String },
}

/// A validated scenario: the edit and the distribution it yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub edit: ScenarioEdit,
    pub spec: DistributionSpec,
}

/// The menu, as shown to LLMs in prompts.
pub const MENU: &str = r#"{"edit": "cheese_anywhere"}
{"edit": "cheese_in_quadrant", "quadrant": "top_left" | "top_right" | "bottom_left" | "bottom_right"}
{"edit": "cheese_far_from_corner", "min_steps": <integer>}
{"edit": "cheese_near_start", "max_steps": <integer>}
{"edit": "bigger_mazes", "min_size": <odd integer>}
{"edit": "smaller_mazes", "max_size": <odd integer>}
{"edit": "other_generator", "generator": "open" | "blocks" | "edges"}"#;

impl ScenarioEdit {
    /// A short human-readable title, e.g. "cheese in the top_left quadrant".
    pub fn title(&self) -> String {
        match self {
            ScenarioEdit::CheeseAnywhere => "cheese anywhere".into(),
            ScenarioEdit::CheeseInQuadrant { quadrant } => {
                format!("cheese in the {quadrant} quadrant")
            }
            ScenarioEdit::CheeseFarFromCorner { min_steps } => {
                format!("cheese at least {min_steps} moves from the corner")
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
    pub fn apply(&self, base: &DistributionSpec) -> Result<Scenario, String> {
        let mut spec = base.clone();
        let (lo, hi) = base.maze_size.bounds();
        match self {
            ScenarioEdit::CheeseAnywhere => spec.cheese = CheesePlacement::Anywhere,
            ScenarioEdit::CheeseInQuadrant { quadrant } => {
                let q = match quadrant.to_lowercase().replace(['-', ' '], "_").as_str() {
                    "top_left" => Quadrant::TopLeft,
                    "top_right" => Quadrant::TopRight,
                    "bottom_left" => Quadrant::BottomLeft,
                    "bottom_right" => Quadrant::BottomRight,
                    other => return Err(format!("unknown quadrant '{other}'")),
                };
                spec.cheese = CheesePlacement::Quadrant(q);
            }
            ScenarioEdit::CheeseFarFromCorner { min_steps } => {
                if *min_steps == 0 || *min_steps > 2 * hi {
                    return Err(format!("min_steps {min_steps} is outside 1..={}", 2 * hi));
                }
                spec.cheese = CheesePlacement::FarFromCorner(*min_steps);
            }
            ScenarioEdit::CheeseNearStart { max_steps } => {
                if *max_steps == 0 {
                    return Err("max_steps must be at least 1".into());
                }
                spec.cheese = CheesePlacement::NearStart(*max_steps);
            }
            ScenarioEdit::BiggerMazes { min_size } => {
                let min = (*min_size | 1).max(lo);
                spec.maze_size = MazeSize::Range(min.min(base.world_size), base.world_size);
                spec.cheese = CheesePlacement::Anywhere;
            }
            ScenarioEdit::SmallerMazes { max_size } => {
                let max = (*max_size | 1).clamp(3, hi);
                spec.maze_size = MazeSize::Range(3, max);
                spec.cheese = CheesePlacement::Anywhere;
            }
            ScenarioEdit::OtherGenerator { generator } => {
                spec.generator = match generator.to_lowercase().as_str() {
                    "open" => crate::level::Generator::Open,
                    "blocks" => crate::level::Generator::Blocks { wall_prob: 0.3 },
                    "edges" => crate::level::Generator::Edges { open_prob: 0.6 },
                    "kruskal" => crate::level::Generator::Kruskal,
                    other => return Err(format!("unknown generator '{other}'")),
                };
                spec.cheese = CheesePlacement::Anywhere;
            }
        }
        validate_spec(&spec).map_err(|(field, message, _)| format!("{field}: {message}"))?;
        Ok(Scenario {
            edit: self.clone(),
            spec,
        })
    }
}

/// Parses each suggestion (a JSON value) into a scenario, or records why it was rejected.
pub fn parse_suggestions(
    values: &[serde_json::Value],
    base: &DistributionSpec,
) -> (Vec<Scenario>, Vec<String>) {
    let mut scenarios = Vec::new();
    let mut rejected = Vec::new();
    for value in values {
        match serde_json::from_value::<ScenarioEdit>(value.clone()) {
            Ok(edit) => match edit.apply(base) {
                Ok(s) if !scenarios.contains(&s) => scenarios.push(s),
                Ok(_) => rejected.push(format!("{value}: duplicate")),
                Err(reason) => rejected.push(format!("{value}: {reason}")),
            },
            Err(e) => rejected.push(format!("{value}: not on the menu ({e})")),
        }
    }
    (scenarios, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn menu_items_become_valid_distributions_and_the_rest_is_rejected() {
        let base = DistributionSpec::training(15, 1);
        let (ok, bad) = parse_suggestions(
            &[
                json!({"edit": "cheese_anywhere"}),
                json!({"edit": "cheese_in_quadrant", "quadrant": "bottom-left"}),
                json!({"edit": "cheese_far_from_corner", "min_steps": 8}),
                json!({"edit": "teleport_the_mouse"}),
                json!({"edit": "cheese_in_quadrant", "quadrant": "middle"}),
                json!({"edit": "cheese_anywhere"}),
                json!("make it harder"),
            ],
            &base,
        );
        assert_eq!(ok.len(), 3);
        assert_eq!(
            ok[1].spec.cheese,
            CheesePlacement::Quadrant(Quadrant::BottomLeft)
        );
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[1].contains("unknown quadrant 'middle'"));
        assert!(bad[2].contains("duplicate"));
    }
}
