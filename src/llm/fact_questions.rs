//! The questions of [`crate::llm::facts`] as a prompt variant words them, asked of any model that
//! answers yes or no with log-odds — the embedded model in-process or a model behind an HTTP
//! server — so both read episodes through the same prompts and the same aggregation.

use super::facts::{Answers, Question, corner_quarter};
use super::text::render_positions;
use super::variant::PromptVariant;
use super::{Episodes, JudgeError};
use crate::level::Corner;
use crate::sim::Rollout;
use std::collections::HashMap;

/// A model asked one question at a time.
pub trait YesNoModel {
    /// log P(yes) - log P(no) of the first token of the answer to `user` after `system`.
    fn yes_log_odds(&mut self, system: &str, user: &str) -> Result<f64, JudgeError>;
    /// The model's own words answering `user` after `system`, at most `tokens` tokens.
    fn answer_text(
        &mut self,
        system: &str,
        user: &str,
        tokens: usize,
    ) -> Result<String, JudgeError>;
}

/// log P(yes) - log P(no) from the two words' probabilities, each floored at 1e-12 (a word the
/// model gives no probability to): how every model judge reads a yes/no answer.
pub fn log_odds(yes: f64, no: f64) -> f64 {
    yes.max(1e-12).ln() - no.max(1e-12).ln()
}

/// Asks the facts' questions the way one prompt variant words them; one-axis answers and
/// contrasts are kept by their prompt, so an analysis asks each distinct one once.
#[derive(Clone, Debug)]
pub struct FactAsker {
    variant: PromptVariant,
    /// Answers by prompt text to the questions asked once: one-axis questions (corners share
    /// their quarters' row and column ranges) and contrasts.
    kept: HashMap<String, f64>,
    /// The numbers the model read off episodes (`axis_read`), by prompt text: corners share an
    /// axis, so each episode's row and column are read once.
    read: HashMap<String, Option<usize>>,
}

/// Tokens the model may write when it reads a number off an episode (`axis_read`): enough for
/// "10." in any tokenizer the shipped models use.
pub const READ_TOKENS: usize = 4;

/// The log-odds an axis gets when the model wrote no number for it: a firm no.
pub const UNREAD_ODDS: f64 = -20.0;

impl FactAsker {
    pub fn new(variant: PromptVariant) -> Self {
        Self {
            variant,
            kept: HashMap::new(),
            read: HashMap::new(),
        }
    }

    /// The model's answers to the training questions, then, only when they show no confound,
    /// to the probe questions (yes: log-odds above the variant's `fact_threshold`).
    pub fn answers(
        &mut self,
        model: &mut impl YesNoModel,
        episodes: &Episodes,
    ) -> Result<Answers, JudgeError> {
        let threshold = self.variant.fact_threshold;
        Answers::ask_training_first(episodes, |q, r| Ok(self.odds(model, q, r)? > threshold))
    }

    /// The log-odds of yes the model gives to `question` about `episode` (shown as positions).
    pub fn odds(
        &mut self,
        model: &mut impl YesNoModel,
        question: Question,
        episode: &Rollout,
    ) -> Result<f64, JudgeError> {
        if let (Question::CheeseIn(corner), Some(template)) =
            (question, self.variant.axis_question.clone())
        {
            let (rows, columns) =
                corner_quarter(&episode.layout, corner).unwrap_or(([0, 0], [0, 0]));
            let cheese = episode.layout.cheese;
            // A quarter touches the maze's first row (or column) or its last: its numbers on
            // that axis are "at most {high}" or "at least {low}", the others the opposite.
            let top = corner != Corner::BottomRight;
            let left = corner == Corner::TopLeft;
            let mut odds = f64::INFINITY;
            for (axis, [low, high], value, first) in [
                ("row", rows, cheese.row, top),
                ("column", columns, cheese.col, left),
            ] {
                // The model's own reading of the number, when the variant asks for it.
                let value = match self.variant.axis_read.clone() {
                    Some(read) => {
                        let asked = fill_episode(&read.replace("{axis}", axis), episode);
                        match self.read_number(model, &asked)? {
                            Some(value) => value,
                            None => {
                                odds = odds.min(UNREAD_ODDS);
                                continue;
                            }
                        }
                    }
                    None => value,
                };
                let (bound, outside) = if first {
                    (format!("at most {high}"), format!("at least {}", high + 1))
                } else {
                    (
                        format!("at least {low}"),
                        format!("at most {}", low.saturating_sub(1)),
                    )
                };
                let fill = |asked: &str, bound: &str| {
                    asked
                        .replace("{axis}", axis)
                        .replace("{values}", &one_of(low, high))
                        .replace("{value}", &value.to_string())
                        .replace("{bound}", bound)
                };
                let mut axis_odds = self.axis_odds(model, &fill(&template, &bound), episode)?;
                if let Some(contrast) = self.variant.axis_contrast.clone() {
                    axis_odds -= self.axis_odds(model, &fill(&contrast, &outside), episode)?;
                }
                odds = odds.min(axis_odds);
            }
            return Ok(odds);
        }
        let asked = self.question(question, episode);
        let odds = self.ask(model, &asked)?;
        match (question, self.variant.heads_contrast.clone()) {
            (Question::HeadsFor(corner), Some(contrast)) => {
                let contrast = fill_episode(&heads_text(&contrast, corner, episode), episode);
                Ok(odds - self.kept_odds(model, &contrast)?)
            }
            _ => Ok(odds),
        }
    }

    /// The user turn that asks `question` about `episode` in one prompt (the variant's
    /// `cheese_question` or `heads_question`, every placeholder filled): what a variant without
    /// one-axis questions asks, and what a model is tuned on.
    pub fn question(&self, question: Question, episode: &Rollout) -> String {
        let layout = &episode.layout;
        let asked = match question {
            Question::CheeseIn(corner) => {
                let (rows, columns) = corner_quarter(layout, corner).unwrap_or(([0, 0], [0, 0]));
                let asked = &self.variant.cheese_question;
                // The quarter's cells are written out only for a variant that shows them.
                let cells = if asked.contains("{cells}") {
                    (rows[0]..=rows[1])
                        .flat_map(|row| {
                            (columns[0]..=columns[1]).map(move |col| cell_words(row, col))
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    String::new()
                };
                asked
                    .replace("{cells}", &cells)
                    .replace("{rows}", &format!("{} to {}", rows[0], rows[1]))
                    .replace("{columns}", &format!("{} to {}", columns[0], columns[1]))
                    .replace("{corner}", corner.words())
            }
            Question::HeadsFor(corner) => heads_text(&self.variant.heads_question, corner, episode),
        };
        fill_episode(&asked, episode)
    }

    /// [`Self::kept_odds`] of a one-axis question about `episode`.
    fn axis_odds(
        &mut self,
        model: &mut impl YesNoModel,
        asked: &str,
        episode: &Rollout,
    ) -> Result<f64, JudgeError> {
        self.kept_odds(model, &fill_episode(asked, episode))
    }

    /// The first whole number in the model's words answering `asked` (each prompt asked once),
    /// None when it wrote none.
    fn read_number(
        &mut self,
        model: &mut impl YesNoModel,
        asked: &str,
    ) -> Result<Option<usize>, JudgeError> {
        if let Some(&value) = self.read.get(asked) {
            return Ok(value);
        }
        let words = model.answer_text(&self.variant.system, asked, READ_TOKENS)?;
        let value = words
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok());
        if self.read.len() > 4096 {
            self.read.clear();
        }
        self.read.insert(asked.to_string(), value);
        Ok(value)
    }

    /// [`Self::ask`], each filled prompt asked once (a question that shows no episode is asked
    /// once for every episode it fits: an axis question for every cheese with that row or
    /// column, a content-free contrast for every probe).
    fn kept_odds(&mut self, model: &mut impl YesNoModel, asked: &str) -> Result<f64, JudgeError> {
        if let Some(&odds) = self.kept.get(asked) {
            return Ok(odds);
        }
        let odds = self.ask(model, asked)?;
        if self.kept.len() > 4096 {
            self.kept.clear();
        }
        self.kept.insert(asked.to_string(), odds);
        Ok(odds)
    }

    /// The model's log-odds of yes to the filled question `asked`: the first token's, or, with
    /// the variant's `fact_reasoning`, +1 or -1 for the last "yes" or "no" of its own words.
    fn ask(&mut self, model: &mut impl YesNoModel, asked: &str) -> Result<f64, JudgeError> {
        if self.variant.fact_reasoning == 0 {
            return model.yes_log_odds(&self.variant.system, asked);
        }
        let words = model
            .answer_text(&self.variant.system, asked, self.variant.fact_reasoning)?
            .to_lowercase();
        let answer = words
            .split(|c: char| !c.is_alphanumeric())
            .rfind(|w| *w == "yes" || *w == "no");
        Ok(if answer == Some("yes") { 1.0 } else { -1.0 })
    }
}

/// A heads question `template` about `corner`: `{corner}`, `{cell}` (the corner's row and
/// column in `episode`'s maze, in words) and `{pair}` (the same cell as the episode's list of
/// positions writes it, "(0, 6)") filled.
fn heads_text(template: &str, corner: Corner, episode: &Rollout) -> String {
    let at = episode
        .layout
        .maze_corners()
        .into_iter()
        .find(|(c, _)| *c == corner)
        .map(|(_, p)| p);
    template
        .replace(
            "{cell}",
            &at.map_or(String::new(), |p| cell_words(p.row, p.col)),
        )
        .replace(
            "{pair}",
            &at.map_or(String::new(), |p| format!("({}, {})", p.row, p.col)),
        )
        .replace("{corner}", corner.words())
}

/// `asked` with `{episode}` as the episode's positions and `{cheese}` as its cheese cell.
fn fill_episode(asked: &str, episode: &Rollout) -> String {
    let cheese = episode.layout.cheese;
    let asked = if asked.contains("{episode}") {
        asked.replace("{episode}", &render_positions(episode))
    } else {
        asked.to_string()
    };
    asked.replace("{cheese}", &cell_words(cheese.row, cheese.col))
}

/// A cell as the prompts write it: "row 1, column 5".
pub fn cell_words(row: usize, col: usize) -> String {
    format!("row {row}, column {col}")
}

/// `low..=high` as words: "3", "3 or 4", "3, 4, 5 or 6".
fn one_of(low: usize, high: usize) -> String {
    let values: Vec<String> = (low..=high).map(|v| v.to_string()).collect();
    match values.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::facts::corner_index;
    use crate::llm::{Diagnosis, handmade};

    #[test]
    fn an_axis_range_reads_as_its_values() {
        assert_eq!(one_of(3, 3), "3");
        assert_eq!(one_of(3, 4), "3 or 4");
        assert_eq!(one_of(3, 6), "3, 4, 5 or 6");
    }

    /// Answers "Is V at most B?" / "Is V at least B?" truly and counts the questions asked.
    struct Arithmetic {
        asked: Vec<String>,
    }

    impl YesNoModel for Arithmetic {
        fn yes_log_odds(&mut self, _: &str, user: &str) -> Result<f64, JudgeError> {
            self.asked.push(user.to_string());
            let numbers: Vec<usize> = user
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            let [value, bound] = numbers[..] else {
                return Err(JudgeError::Unparseable(user.to_string()));
            };
            let yes = if user.contains("at most") {
                value <= bound
            } else {
                value >= bound
            };
            Ok(if yes { 3.0 } else { -3.0 })
        }
        fn answer_text(&mut self, _: &str, _: &str, _: usize) -> Result<String, JudgeError> {
            Ok(String::new())
        }
    }

    /// Leans to "yes" by 2 about no episode, answers 0.5 about any episode; counts questions.
    struct Leaning {
        asked: Vec<String>,
    }

    impl YesNoModel for Leaning {
        fn yes_log_odds(&mut self, _: &str, user: &str) -> Result<f64, JudgeError> {
            self.asked.push(user.to_string());
            Ok(if user.contains("N/A") { 2.0 } else { 0.5 })
        }
        fn answer_text(&mut self, _: &str, _: &str, _: usize) -> Result<String, JudgeError> {
            Ok(String::new())
        }
    }

    /// Answers the lookup "is (r, c) in that list?" by finding the first cell the question
    /// names among the cells its episode lists, and comparisons of two numbers as
    /// [`Arithmetic`] does.
    struct Lookup;

    impl YesNoModel for Lookup {
        fn yes_log_odds(&mut self, system: &str, user: &str) -> Result<f64, JudgeError> {
            if !user.contains("Look for the cell ") {
                return Arithmetic { asked: Vec::new() }.yes_log_odds(system, user);
            }
            let named = user
                .split_once("Look for the cell ")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(cell, _)| format!("{cell})"));
            let listed = user
                .split_once("in order (row, column): ")
                .and_then(|(_, rest)| rest.lines().next());
            match (named, listed) {
                (Some(cell), Some(list)) => Ok(if list.contains(&cell) { 3.0 } else { -3.0 }),
                _ => Err(JudgeError::Unparseable(user.to_string())),
            }
        }
        fn answer_text(&mut self, _: &str, _: &str, _: usize) -> Result<String, JudgeError> {
            Ok(String::new())
        }
    }

    #[test]
    fn the_lookup_variant_names_the_corner_cell_as_the_list_writes_it() {
        let (_, variant) = PromptVariant::load("facts-bounds-lookup").expect("shipped");
        let asker = FactAsker::new(variant);
        let base = handmade::training_spec(Diagnosis::Healthy, 2);
        let episodes = handmade::episodes(&base, handmade::Probes::ToCheese);
        let probe = &episodes.probes[0];
        let (_, corner) = probe.layout.maze_corners()[1];
        let asked = asker.question(Question::HeadsFor(Corner::TopRight), probe);
        let pair = format!("({}, {})", corner.row, corner.col);
        // Named before the episode and after it, in the list's own words.
        assert_eq!(asked.matches(&pair).count(), 2, "{asked}");
        assert!(
            asked.find(&pair) < asked.find("in order (row, column)"),
            "{asked}"
        );
    }

    #[test]
    fn a_perfect_lookup_reads_which_corners_the_mouse_stands_on_not_which_it_heads_for() {
        let (_, variant) = PromptVariant::load("facts-bounds-lookup").expect("shipped");
        let base = handmade::training_spec(Diagnosis::Healthy, 2);
        for (via, passed) in [
            (Corner::TopLeft, None),
            (Corner::BottomRight, None),
            // The hand-made top-right seeker passes the bottom-right corner on its way.
            (Corner::TopRight, Some(Corner::BottomRight)),
        ] {
            let episodes = handmade::episodes(&base, handmade::Probes::ViaCorner(via));
            let answers = FactAsker::new(variant.clone())
                .answers(&mut Lookup, &episodes)
                .expect("answers");
            let truth = Answers::truth(&episodes);
            assert_eq!(answers.training, truth.training, "{via}");
            assert_eq!(truth.proxy(), Some(via), "{via}");
            // Yes for every corner cell the episode lists, the cheese's cell included (the
            // list ends on it), where the ideal judge counts only the corner stood on longest.
            let stands_on: Vec<[bool; 3]> = episodes
                .probes
                .iter()
                .map(|probe| {
                    let mut row = [false; 3];
                    for (corner, cell) in probe.layout.maze_corners() {
                        row[corner_index(corner)] = probe.path.contains(&cell);
                    }
                    row
                })
                .collect();
            assert_eq!(answers.probes, stands_on, "{via}");
            let headed = answers.heads_for()[corner_index(via)];
            assert_eq!(headed, 10, "{via}");
            if let Some(passed) = passed {
                assert_eq!(answers.heads_for()[corner_index(passed)], 10, "{via}");
            }
            // Yes to a corner passed on the way hides the one headed for: no proxy is read.
            let read = if passed.is_some() { None } else { Some(via) };
            assert_eq!(answers.proxy(), read, "{via}");
        }
    }

    #[test]
    fn a_heads_contrast_is_subtracted_and_a_content_free_one_asked_once_per_corner() {
        let (_, variant) = PromptVariant::load("facts-bounds-calibrated").expect("shipped");
        let base = handmade::training_spec(Diagnosis::Healthy, 2);
        let episodes = handmade::episodes(&base, handmade::Probes::ViaCorner(Corner::TopLeft));
        let mut asker = FactAsker::new(variant);
        let mut model = Leaning { asked: Vec::new() };
        for probe in &episodes.probes[..2] {
            for corner in Corner::ALL {
                let odds = asker
                    .odds(&mut model, Question::HeadsFor(corner), probe)
                    .expect("odds");
                assert!((odds - (0.5 - 2.0)).abs() < 1e-12, "{odds}");
            }
        }
        let contrasts = model.asked.iter().filter(|q| q.contains("N/A")).count();
        assert_eq!((model.asked.len(), contrasts), (6 + 3, 3));
    }

    /// Reads the cheese's row or column off the episode it is shown ("The cheese is at row R,
    /// column C."), plus `misread`, or writes no number at all; compares numbers as
    /// [`Arithmetic`] does. Keeps what it was asked.
    struct Reader {
        misread: Option<usize>,
        read: Vec<String>,
        compared: Vec<String>,
    }

    impl YesNoModel for Reader {
        fn yes_log_odds(&mut self, system: &str, user: &str) -> Result<f64, JudgeError> {
            if !user.starts_with("Is ") {
                // A probe question: no.
                return Ok(-1.0);
            }
            self.compared.push(user.to_string());
            Arithmetic { asked: Vec::new() }.yes_log_odds(system, user)
        }
        fn answer_text(&mut self, _: &str, user: &str, _: usize) -> Result<String, JudgeError> {
            self.read.push(user.to_string());
            let Some(misread) = self.misread else {
                return Ok("I cannot tell.".into());
            };
            let cell = user
                .split_once("The cheese is at row ")
                .map(|(_, rest)| rest)
                .ok_or_else(|| JudgeError::Unparseable(user.to_string()))?;
            let numbers: Vec<usize> = cell
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .take(2)
                .collect();
            let axis = usize::from(user.ends_with("cheese's column? Answer with the number only."));
            Ok(format!("{}.", numbers[axis] + misread))
        }
    }

    #[test]
    fn the_read_variant_compares_the_numbers_the_model_read_off_the_episode() {
        let (_, variant) = PromptVariant::load("facts-read").expect("shipped");
        for corner in Corner::ALL {
            let base = handmade::training_spec(Diagnosis::Corner(corner), 2);
            let episodes = handmade::episodes(&base, handmade::Probes::ToCheese);
            let truth = Answers::truth(&episodes);
            let mut reader = Reader {
                misread: Some(0),
                read: Vec::new(),
                compared: Vec::new(),
            };
            let answers = FactAsker::new(variant.clone())
                .answers(&mut reader, &episodes)
                .expect("answers");
            assert_eq!(answers.training, truth.training, "{corner}");
            assert_eq!(answers.confound(), Some(corner));
            // Each distinct training episode shown whole and asked its row and its column once.
            let mut shown: Vec<String> = episodes.training.iter().map(render_positions).collect();
            shown.sort();
            shown.dedup();
            assert_eq!(reader.read.len(), 2 * shown.len(), "{corner}");
            for episode in &shown {
                let asked = reader.read.iter().filter(|a| a.contains(episode.as_str()));
                assert_eq!(asked.count(), 2, "{corner}: {episode}");
            }
            // The comparisons show no episode: only the model's number and a bound.
            assert!(
                reader
                    .compared
                    .iter()
                    .all(|c| !c.contains("The cheese is at"))
            );
        }
    }

    #[test]
    fn a_misread_number_or_none_is_what_the_read_variant_compares() {
        let (_, variant) = PromptVariant::load("facts-read").expect("shipped");
        let base = handmade::training_spec(Diagnosis::Corner(Corner::TopRight), 2);
        let episodes = handmade::episodes(&base, handmade::Probes::ToCheese);
        // Every number read 20 too high: the comparisons ask about the model's numbers, which
        // put every cheese in the bottom-right quarter, so that corner is read as the confound
        // although the episodes show the cheese at the top right.
        let mut reader = Reader {
            misread: Some(20),
            read: Vec::new(),
            compared: Vec::new(),
        };
        let answers = FactAsker::new(variant.clone())
            .answers(&mut reader, &episodes)
            .expect("answers");
        let first_number = |c: &String| -> usize {
            c.split(|ch: char| !ch.is_ascii_digit())
                .find_map(|w| w.parse().ok())
                .unwrap_or(0)
        };
        assert!(!reader.compared.is_empty());
        assert!(
            reader.compared.iter().all(|c| first_number(c) >= 20),
            "{:?}",
            reader.compared
        );
        assert!(answers.training.iter().all(|&a| a == [false, false, true]));
        assert_eq!(answers.confound(), Some(Corner::BottomRight));
        // No number written: every cheese answer is no, and nothing is compared.
        let mut silent = Reader {
            misread: None,
            read: Vec::new(),
            compared: Vec::new(),
        };
        let answers = FactAsker::new(variant)
            .answers(&mut silent, &episodes)
            .expect("answers");
        assert!(answers.training.iter().flatten().all(|yes| !yes));
        assert!(silent.compared.iter().all(|c| !c.starts_with("Is ")));
    }

    #[test]
    fn a_model_that_compares_numbers_reads_the_confound_through_the_shipped_bounds_variant() {
        let (_, variant) = PromptVariant::load("facts-bounds").expect("shipped");
        for corner in Corner::ALL {
            let base = handmade::training_spec(Diagnosis::Corner(corner), 2);
            let episodes = handmade::episodes(&base, handmade::Probes::ToCheese);
            let mut asker = FactAsker::new(variant.clone());
            let mut model = Arithmetic { asked: Vec::new() };
            let answers = asker.answers(&mut model, &episodes).expect("answers");
            assert_eq!(
                answers.training,
                Answers::truth(&episodes).training,
                "{corner}"
            );
            assert!(answers.probes.is_empty(), "{corner}: no probe asked");
            assert_eq!(answers.confound(), Some(corner));
            // Each distinct comparison once: at most two per number and bound.
            let mut distinct = model.asked.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), model.asked.len(), "{corner}: asked twice");
        }
    }
}
