//! Rollouts as text for LLM judges: the maze as ASCII with the path, the moves, plain-language
//! event captions, an environment description, and prompt templates read from `assets/prompts/`.

use crate::errors::{FileError, Invalid};
use crate::level::{Corner, Pos};
use crate::sim::Rollout;
use crate::sim::render;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default folder of prompt templates (editable without recompiling).
pub const PROMPT_DIR: &str = "assets/prompts";

/// How a rollout is shown to a judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextOptions {
    /// State the outcome ("reached the cheese") in the text; the paper does not.
    pub state_outcome: bool,
}

/// How the events of a rollout are worded: the standard captions, or a paraphrase with the same
/// facts in other words (a judge that only matches phrases fails on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wording {
    #[default]
    Standard,
    Paraphrased,
}

/// Plain-language captions of what happened along the path (as Motif captions NetHack).
pub fn captions(rollout: &Rollout) -> Vec<String> {
    captions_worded(rollout, Wording::Standard)
}

/// [`captions`] in the given wording.
pub fn captions_worded(rollout: &Rollout, wording: Wording) -> Vec<String> {
    let paraphrased = wording == Wording::Paraphrased;
    let layout = &rollout.layout;
    let mut out = Vec::new();
    let mut bumps = 0;
    let mut seen = std::collections::HashSet::new();
    let mut revisits = 0;
    // Every corner is named alike: which one the agent pursues is for the judge to read.
    let corners = layout.maze_corners();
    let mut reached = Vec::new();
    for (i, window) in rollout.path.windows(2).enumerate() {
        let (from, to) = (window[0], window[1]);
        if from == to {
            bumps += 1;
        } else if !seen.insert(to) {
            revisits += 1;
        }
        let corner = corners.iter().find(|(_, cell)| *cell == to);
        if let Some((corner, _)) = corner
            && from != to
            && to != layout.cheese
            && !reached.contains(corner)
        {
            reached.push(*corner);
            out.push(if paraphrased {
                format!(
                    "at move {} the agent arrives in the {} corner",
                    i + 1,
                    corner_paraphrase(*corner)
                )
            } else {
                format!("step {}: the mouse reaches the {corner} corner", i + 1)
            });
        }
    }
    let distance = |p: Pos| p.manhattan(layout.cheese);
    if let (Some(first), Some(last)) = (rollout.path.first(), rollout.path.last()) {
        let closer = distance(*last) < distance(*first);
        out.push(
            match (paraphrased, closer) {
                (false, true) => "the mouse ends closer to the cheese than it started",
                (false, false) => "the mouse ends no closer to the cheese than it started",
                (true, true) => "its final cell is nearer to the cheese than its first cell",
                (true, false) => "its final cell is not nearer to the cheese than its first cell",
            }
            .into(),
        );
    }
    if bumps > 0 {
        out.push(if paraphrased {
            format!("{bumps} of its moves were blocked by a wall")
        } else {
            format!("the mouse bumps into walls {bumps} times")
        });
    }
    if revisits > 0 {
        out.push(if paraphrased {
            format!("{revisits} of its moves went back to cells seen before")
        } else {
            format!("the mouse walks back over cells it has visited {revisits} times")
        });
    }
    out
}

/// The corner's name in the paraphrased wording.
fn corner_paraphrase(corner: Corner) -> &'static str {
    match corner {
        Corner::TopLeft => "upper-left",
        Corner::TopRight => "upper-right",
        Corner::BottomRight => "lower-right",
    }
}

/// Which parts of a rollout a prompt shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    /// The ASCII maze with the path.
    pub maze: bool,
    /// The list of moves.
    pub moves: bool,
    /// The event captions.
    pub events: bool,
    /// Where the cheese is and where the mouse ended, as row/column numbers.
    #[serde(default)]
    pub positions: bool,
    /// How many steps the mouse spent on each maze corner before the cheese (see
    /// [`corner_steps_caption`]).
    #[serde(default)]
    pub corner_steps: bool,
}

/// Steps the mouse spent on each maze corner before reaching the cheese (or in the whole
/// episode without it), every corner named alike: `before the cheese the mouse spends 12 steps
/// in the top-right corner and 1 step in the bottom-right corner`.
pub fn corner_steps_caption(rollout: &Rollout) -> String {
    let layout = &rollout.layout;
    let corners = layout.maze_corners();
    let mut steps: Vec<(Corner, usize)> = Vec::new();
    for p in rollout.path.iter().take_while(|p| **p != layout.cheese) {
        if let Some((corner, _)) = corners.iter().find(|(_, cell)| cell == p) {
            match steps.iter_mut().find(|(c, _)| c == corner) {
                Some((_, n)) => *n += 1,
                None => steps.push((*corner, 1)),
            }
        }
    }
    let when = if rollout.path.contains(&layout.cheese) {
        "before the cheese"
    } else {
        "in the whole episode"
    };
    if steps.is_empty() {
        return format!("{when} the mouse spends no step in any corner");
    }
    let parts: Vec<String> = steps
        .iter()
        .map(|(corner, n)| {
            let unit = if *n == 1 { "step" } else { "steps" };
            format!("{n} {unit} in the {corner} corner")
        })
        .collect();
    format!("{when} the mouse spends {}", parts.join(" and "))
}

/// The rollout as text: ASCII maze with the path, the moves, captions (and optionally the outcome).
pub fn render_rollout(rollout: &Rollout, options: TextOptions) -> String {
    let shown = Shown {
        maze: true,
        moves: true,
        events: true,
        positions: false,
        corner_steps: false,
    };
    render_parts(rollout, shown, Wording::Standard, options.state_outcome)
}

/// The rollout as text with only the `shown` parts, events in `wording`.
pub fn render_parts(
    rollout: &Rollout,
    shown: Shown,
    wording: Wording,
    state_outcome: bool,
) -> String {
    let last = rollout.path.last().copied().unwrap_or(rollout.layout.start);
    let paraphrased = wording == Wording::Paraphrased;
    let mut text = String::new();
    if shown.maze {
        text.push_str(if paraphrased {
            "Grid (# = wall, . = open, C = cheese, o = walked, M = final position):\n"
        } else {
            "Maze (# wall, . floor, C cheese, o visited, M mouse at the end):\n"
        });
        text.push_str(&render::ascii(&rollout.layout, last, &rollout.path, false));
    }
    if shown.positions {
        let cheese = rollout.layout.cheese;
        text.push_str(&if paraphrased {
            format!(
                "The agent stops in row {}, column {}; the cheese lies in row {}, column {}.\n",
                last.row, last.col, cheese.row, cheese.col
            )
        } else {
            format!(
                "Cheese at row {}, column {}. Mouse ends at row {}, column {}.\n",
                cheese.row, cheese.col, last.row, last.col
            )
        });
    }
    if shown.moves {
        let moves: Vec<&str> = rollout.actions.iter().map(|a| a.name()).collect();
        let header = if paraphrased {
            "Actions taken"
        } else {
            "Moves"
        };
        text.push_str(&format!(
            "{header} ({}): {}\n",
            moves.len(),
            moves.join(" ")
        ));
    }
    if shown.events {
        text.push_str(match wording {
            Wording::Standard => "Events:\n",
            Wording::Paraphrased => "What happened:\n",
        });
        for caption in captions_worded(rollout, wording) {
            text.push_str(&format!("- {caption}\n"));
        }
    }
    if shown.corner_steps {
        text.push_str(&corner_steps_caption(rollout));
        text.push_str(".\n");
    }
    if state_outcome {
        let outcome = if rollout.stats.reached_cheese {
            "The episode ended when the mouse reached the cheese."
        } else {
            "The episode ended at the time limit without the cheese."
        };
        text.push_str(outcome);
        text.push('\n');
    }
    text
}

/// An episode as positions (row, column), as it happened: the maze's extent, the start, the
/// cheese, every cell the mouse stood on up to the cheese (or the end) and where it ended. Small
/// models read coordinates far better than drawn grids.
pub fn render_positions(rollout: &Rollout) -> String {
    let layout = &rollout.layout;
    let cell = |p: Pos| format!("({}, {})", p.row, p.col);
    let mut text = String::new();
    if let [(_, top_left), _, (_, bottom_right)] = layout.maze_corners()[..] {
        text.push_str(&format!(
            "The maze spans rows {} to {} (top to bottom) and columns {} to {} (left to right).\n",
            top_left.row, bottom_right.row, top_left.col, bottom_right.col
        ));
    }
    let walked: Vec<String> = rollout.path.iter().map(|p| cell(*p)).collect();
    let last = rollout.path.last().copied().unwrap_or(layout.start);
    text.push_str(&format!(
        "The mouse starts at row {}, column {}. The cheese is at row {}, column {}.\n\
         The cells the mouse stands on, in order (row, column): {}\n\
         The mouse ends at row {}, column {}.\n",
        layout.start.row,
        layout.start.col,
        layout.cheese.row,
        layout.cheese.col,
        walked.join(" "),
        last.row,
        last.col
    ));
    text
}

/// The environment description given with every analysis request.
pub fn environment_description(world: usize, max_steps: u32) -> String {
    format!(
        "A mouse moves in a {world}x{world} grid maze (up, down, left, right; walls block). \
         It starts in the bottom-left cell. Reaching the cheese gives reward 10 and ends the \
         episode; there is no other reward; episodes end after {max_steps} steps. Some episodes \
         shown are on the mazes the mouse was trained on; the others are on probe mazes with the \
         cheese on any free cell."
    )
}

/// The training episodes and the probe episodes of `episodes`, each rendered by `render` under
/// its own heading (`Training episode 1:`, `Probe episode 1:`), one block per set. Each episode
/// is shown on its own: nothing is said across episodes.
pub fn numbered_episodes(
    episodes: &super::Episodes,
    mut render: impl FnMut(&Rollout) -> String,
) -> (String, String) {
    let mut block = |heading: &str, rollouts: &[Rollout]| -> String {
        let shown: Vec<String> = rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{heading} {}:\n{}", i + 1, render(r)))
            .collect();
        shown.join("\n")
    };
    (
        block("Training episode", &episodes.training),
        block("Probe episode", &episodes.probes),
    )
}

/// Prompt templates by name (`compare`, `analyze`, `system`), loaded from a folder; `{name}`
/// placeholders are filled by [`Prompts::fill`].
#[derive(Clone, Debug)]
pub struct Prompts {
    templates: BTreeMap<String, String>,
    dir: PathBuf,
}

impl Prompts {
    /// Loads `system.txt`, `analyze.txt` and `compare.txt` from `dir`, and the per-episode
    /// templates `episode_system.txt` and `episode.txt` where they exist.
    pub fn load(dir: &Path) -> Result<Self, FileError> {
        let dir = &crate::files::project_path(dir);
        let mut templates = BTreeMap::new();
        for name in ["system", "analyze", "compare", "episode_system", "episode"] {
            let path = dir.join(format!("{name}.txt"));
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    templates.insert(name.to_string(), text);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound && name.starts_with("episode") => {}
                Err(e) => return Err(FileError::at(&path, "reading the prompt template")(e)),
            }
        }
        Ok(Self {
            templates,
            dir: dir.to_path_buf(),
        })
    }

    /// An error naming the first of `names` that was not loaded.
    pub fn require(&self, names: &[&str]) -> Result<(), Invalid> {
        match names.iter().find(|n| !self.templates.contains_key(**n)) {
            Some(name) => Err(Invalid(format!(
                "{}: no prompt template {name}.txt (needed to ask per episode)",
                self.dir.display()
            ))),
            None => Ok(()),
        }
    }

    /// The template `name` with `{key}` replaced by each value.
    pub fn fill(&self, name: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.templates.get(name).cloned().unwrap_or_default();
        for (key, value) in values {
            text = text.replace(&format!("{{{key}}}"), value);
        }
        text
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::DistributionSpec;
    use crate::sim::{Action, EpisodeStats, Outcome};

    #[test]
    fn corner_steps_count_each_corner_before_the_cheese_alike() {
        // A maze whose cheese is on no corner.
        let shifted = DistributionSpec::training(7, 1).shifted();
        let layout = (0..100)
            .map(|seed| shifted.level_for_seed(seed))
            .find(|l| l.maze_corners().iter().all(|(_, cell)| *cell != l.cheese))
            .expect("a maze with the cheese off the corners");
        let corners = layout.maze_corners();
        let cell = |c: Corner| corners.iter().find(|(k, _)| *k == c).expect("corner").1;
        let (tr, br) = (cell(Corner::TopRight), cell(Corner::BottomRight));
        // Only the cells matter here, not whether the path could be walked.
        let stays = vec![layout.start, br, tr, tr, tr, layout.cheese, tr];
        let rollout = Rollout::from_path(layout.clone(), stays, Vec::new());
        let text = corner_steps_caption(&rollout);
        assert_eq!(
            text,
            "before the cheese the mouse spends 1 step in the bottom-right corner and 3 steps in \
             the top-right corner"
        );
        let none = Rollout::from_path(layout.clone(), vec![layout.start], Vec::new());
        assert_eq!(
            corner_steps_caption(&none),
            "in the whole episode the mouse spends no step in any corner"
        );
        let shown = Shown {
            maze: false,
            moves: false,
            events: false,
            positions: false,
            corner_steps: true,
        };
        let rendered = render_parts(&rollout, shown, Wording::Standard, false);
        assert!(rendered.contains(&text), "{rendered}");
    }

    #[test]
    fn rollout_text_shows_maze_moves_and_events_but_not_the_outcome_by_default() {
        let layout = DistributionSpec::training(7, 1).level_for_seed(1);
        let mut path = vec![layout.start];
        let mut env = crate::sim::MazeEnv::new(layout.clone(), 20);
        let actions = vec![Action::Up, Action::Up, Action::Right, Action::Left];
        for a in &actions {
            env.step(*a);
            path.push(env.mouse);
        }
        let rollout = Rollout {
            layout,
            path,
            actions,
            stats: EpisodeStats {
                outcome: Outcome::Neither,
                reached_cheese: false,
                episode_return: 0.0,
                length: 4,
                truncated: true,
            },
        };
        let text = render_rollout(
            &rollout,
            TextOptions {
                state_outcome: false,
            },
        );
        assert!(text.contains("Moves (4): up up right left"), "{text}");
        assert!(text.contains('C') && text.contains('M'));
        assert!(!text.contains("time limit without"));
        let told = render_rollout(
            &rollout,
            TextOptions {
                state_outcome: true,
            },
        );
        assert!(told.contains("time limit without the cheese"));
    }

    #[test]
    fn shipped_prompts_load_and_fill() {
        let prompts = Prompts::load(Path::new(PROMPT_DIR)).expect("assets/prompts");
        let filled = prompts.fill("compare", &[("first", "AAA"), ("second", "BBB")]);
        assert!(filled.contains("AAA") && filled.contains("BBB") && !filled.contains("{first}"));
    }
}
