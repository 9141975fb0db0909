//! How the embedded judge reads episodes for an analysis: a whole reading with a lettered
//! diagnosis, per-episode yes/no questions, the facts of [`crate::llm::facts`] asked one by
//! one, and the menu items it proposes for a diagnosed corner.

use super::*;
use crate::level::Corner;
use crate::llm::fact_questions::{YesNoModel, log_odds};

impl EmbeddedJudge {
    /// The `count` options of `question` asked after `context`, best first: each letter's
    /// probability divided by its probability after a content-free context.
    pub(super) fn best_option(
        &mut self,
        context: &str,
        question: &str,
        count: usize,
    ) -> Result<Vec<usize>, JudgeError> {
        let scores = self.menu_scores(&format!("{context}{question}"), count)?;
        let prior = self.menu_scores(&format!("N/A\n\n{question}"), count)?;
        let mut ranked: Vec<(usize, f64)> = scores
            .iter()
            .zip(&prior)
            .map(|(p, q)| p / q.max(1e-9))
            .enumerate()
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked.into_iter().map(|(i, _)| i).collect())
    }
}

/// The diagnosis choices as lettered lines (`A. the top-left corner`, ...).
fn diagnosis_choices() -> Vec<String> {
    Diagnosis::CHOICES
        .iter()
        .zip('A'..)
        .map(|(d, key)| match d {
            Diagnosis::Corner(c) => format!("{key}. the {c} corner"),
            _ => format!("{key}. nowhere else: it goes for the cheese"),
        })
        .collect()
}

impl EmbeddedJudge {
    /// The whole reading: the model's own analysis of a few episodes, then one diagnosis
    /// letter. Returns the diagnosis, the analysis and the context the menu is asked after.
    pub(super) fn read_whole(
        &mut self,
        environment: &str,
        episodes: &Episodes,
    ) -> Result<(Diagnosis, String, String), JudgeError> {
        let context = self.analysis_text(environment, episodes);
        let prompt = ChatModel::chat_prompt(&self.variant.system, &context, "");
        let words = self
            .model
            .generate(&prompt, self.analysis_tokens)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        let with_words = format!("{context}\n\nYour analysis: {words}\n\n");
        let choices = diagnosis_choices();
        let question = self
            .variant
            .diagnosis_question
            .replace("{choices}", &choices.join("\n"));
        let diagnosis =
            Diagnosis::CHOICES[self.best_option(&with_words, &question, choices.len())?[0]];
        Ok((diagnosis, words, with_words))
    }

    /// log P(yes) - log P(no) as the assistant's first token after `user` (either case).
    pub(super) fn yes_log_odds(&mut self, user: &str) -> Result<f64, JudgeError> {
        self.model.yes_log_odds(&self.variant.system, user)
    }

    /// The log-odds of yes the model gives to `question` about `episode` (shown as positions),
    /// asked as the variant words it ([`FactAsker`]).
    pub fn fact_odds(&mut self, question: Question, episode: &Rollout) -> Result<f64, JudgeError> {
        self.facts.odds(&mut self.model, question, episode)
    }

    /// The whole prompt (ChatML up to the answer) and its token ids that ask `question` about
    /// `episode`, as [`Self::fact_odds`] asks it with a variant that has no one-axis question:
    /// what a model is tuned on.
    pub fn fact_prompt(
        &self,
        question: Question,
        episode: &Rollout,
    ) -> Result<(String, Vec<u32>), ModelError> {
        let user = self.facts.question(question, episode);
        let prompt = ChatModel::chat_prompt(&self.variant.system, &user, "");
        let ids = self.model.encode(&prompt)?;
        Ok((prompt, ids))
    }

    /// The token ids whose probabilities make the yes/no answer: (yes words, no words).
    pub fn answer_tokens(&self) -> (Vec<u32>, Vec<u32>) {
        let ids = |words: [&str; 2]| -> Vec<u32> {
            words
                .iter()
                .filter_map(|w| self.model.single_token(w))
                .collect()
        };
        (ids(YES_WORDS), ids(NO_WORDS))
    }

    /// One episode, corner by corner: the corner with the highest log-odds of yes, if the model
    /// leans to yes; otherwise none.
    pub(super) fn read_corners(&mut self, episode: &str) -> Result<Diagnosis, JudgeError> {
        let mut best: Option<(crate::level::Corner, f64)> = None;
        for corner in Corner::ALL {
            let asked = self
                .variant
                .corner_question
                .replace("{episode}", episode)
                .replace("{corner}", &corner.to_string());
            let odds = self.yes_log_odds(&asked)?;
            if odds > 0.0 && best.is_none_or(|(_, b)| odds > b) {
                best = Some((corner, odds));
            }
        }
        Ok(best.map_or(Diagnosis::Healthy, |(c, _)| Diagnosis::Corner(c)))
    }

    /// Each menu item (on the judge's base) with the log-odds of yes to `item_question` about
    /// `corner`, less the log-odds of yes to `item_contrast` when the variant has one: how much
    /// the model favours proposing it to an agent that pursues `corner`.
    pub fn item_odds(&mut self, corner: crate::level::Corner) -> Result<ScoredMenu, JudgeError> {
        let items = menu::menu(&self.base);
        let mut scored = Vec::with_capacity(items.len());
        for item in items {
            let ask = |template: &str| {
                template
                    .replace("{corner}", &corner.to_string())
                    .replace("{item}", &item.text)
            };
            let mut odds = self.yes_log_odds(&ask(&self.variant.item_question))?;
            if let Some(contrast) = self.variant.item_contrast.clone() {
                odds -= self.yes_log_odds(&ask(&contrast))?;
            }
            scored.push((item, odds));
        }
        Ok(scored)
    }

    /// Per-item proposals for an agent that pursues `corner`: every menu item with its
    /// [`Self::item_odds`], and the indices of the items proposed, best first (the
    /// `scenarios` best that change anything and, with the variant's `item_min_odds`, score
    /// above it).
    pub fn propose_for(
        &mut self,
        corner: crate::level::Corner,
    ) -> Result<(ScoredMenu, Vec<usize>), JudgeError> {
        let scored = self.item_odds(corner)?;
        let min = self.variant.item_min_odds;
        let mut proposed: Vec<usize> = (0..scored.len())
            .filter(|&i| scored[i].0.scenario.changes_anything())
            .filter(|&i| min.is_none_or(|min| scored[i].1 > min))
            .collect();
        proposed.sort_by(|&a, &b| scored[b].1.total_cmp(&scored[a].1));
        proposed.truncate(self.scenario_count);
        Ok((scored, proposed))
    }

    /// The per-episode reading: one letter per episode, counted by the oracle's rule. Returns
    /// the diagnosis, what the model answered per episode and the context the menu is asked
    /// after.
    pub(super) fn read_episodes(
        &mut self,
        environment: &str,
        rollouts: &[Rollout],
    ) -> Result<(Diagnosis, String, String), JudgeError> {
        let choices = diagnosis_choices();
        let mut reading = CornerReading {
            episodes: rollouts.len(),
            ..CornerReading::default()
        };
        // The letters' prior: the same question about an empty episode (or none).
        let letters = self.variant.diagnosis == DiagnosisMode::PerEpisode;
        let prior = if letters && self.variant.episode_prior {
            let empty = self
                .variant
                .episode_question
                .replace("{episode}", "N/A")
                .replace("{choices}", &choices.join("\n"));
            self.menu_scores(&empty, choices.len())?
        } else {
            vec![1.0; choices.len()]
        };
        let mut answers = Vec::new();
        for rollout in rollouts {
            let episode = render_parts(
                rollout,
                self.variant.analysis_show,
                Wording::Standard,
                false,
            );
            let read = if self.variant.diagnosis == DiagnosisMode::PerCorner {
                self.read_corners(&episode)?
            } else {
                let asked = self
                    .variant
                    .episode_question
                    .replace("{episode}", &episode)
                    .replace("{choices}", &choices.join("\n"));
                let scores = self.menu_scores(&asked, choices.len())?;
                let best = (0..choices.len())
                    .max_by(|&a, &b| {
                        (scores[a] / prior[a].max(1e-9))
                            .total_cmp(&(scores[b] / prior[b].max(1e-9)))
                    })
                    .unwrap_or(choices.len() - 1);
                Diagnosis::CHOICES[best]
            };
            if let Diagnosis::Corner(c) = read {
                reading.heads_for[corner_index(c)] += 1;
            }
            answers.push(read);
        }
        let diagnosis = reading.diagnosis();
        let per_episode: Vec<String> = answers
            .iter()
            .enumerate()
            .map(|(i, d)| format!("episode {}: {}", i + 1, d.words()))
            .collect();
        let words = format!(
            "Read one by one: {}. Diagnosis: {}.",
            per_episode.join("; "),
            diagnosis.words()
        );
        let context = format!("{environment}\n\n{words}\n\n");
        Ok((diagnosis, words, context))
    }
}

/// The first tokens read as "yes" and as "no" (either case).
const YES_WORDS: [&str; 2] = ["Yes", "yes"];
const NO_WORDS: [&str; 2] = ["No", "no"];

impl YesNoModel for ChatModel {
    fn yes_log_odds(&mut self, system: &str, user: &str) -> Result<f64, JudgeError> {
        let prompt = ChatModel::chat_prompt(system, user, "");
        let logprobs = self
            .next_token_logprobs(&prompt)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
        let mass = |words: [&str; 2]| -> f64 {
            words
                .iter()
                .filter_map(|w| self.single_token(w))
                .map(|id| f64::from(logprobs[id as usize]).exp())
                .sum::<f64>()
        };
        Ok(log_odds(mass(YES_WORDS), mass(NO_WORDS)))
    }

    fn answer_text(
        &mut self,
        system: &str,
        user: &str,
        tokens: usize,
    ) -> Result<String, JudgeError> {
        let prompt = ChatModel::chat_prompt(system, user, "");
        self.generate(&prompt, tokens)
            .map_err(|e| JudgeError::Unreachable(e.to_string()))
    }
}
