//! The human judge: each comparison becomes a query that a person answers — at a terminal prompt
//! when headless, or through a channel that the app's panel serves.

use super::menu::parse_suggestions;
use super::menu::{self, Diagnosis};
use super::text::{TextOptions, render_rollout};
use super::{Analysis, Choice, Comparison, Judge, JudgeError};
use crate::level::DistributionSpec;
use crate::sim::Rollout;
use crossbeam_channel::{Receiver, Sender};
use std::io::{BufRead, Write};
use std::time::Duration;

/// A pending question for a person.
#[derive(Clone, Debug)]
pub struct HumanQuery {
    pub id: u64,
    pub first: Rollout,
    pub second: Rollout,
}

/// A person's answer to the query with the same id.
#[derive(Clone, Debug)]
pub struct HumanAnswer {
    pub id: u64,
    pub comparison: Comparison,
}

/// Where the human judge asks.
pub enum HumanChannel {
    /// Print to stdout, read `1`, `2` or `0` from stdin.
    Terminal,
    /// Send queries out and wait (up to `timeout`) for the matching answer.
    Queue {
        queries: Sender<HumanQuery>,
        answers: Receiver<HumanAnswer>,
        timeout: Duration,
    },
}

pub struct HumanJudge {
    channel: HumanChannel,
    next_id: u64,
    /// The training distribution the menu's scenarios edit.
    base: DistributionSpec,
}

impl HumanJudge {
    pub fn new(channel: HumanChannel, base: DistributionSpec) -> Self {
        Self {
            channel,
            next_id: 0,
            base,
        }
    }

    /// Asks `question` at the terminal until `parse` accepts the line.
    fn ask<T>(question: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, JudgeError> {
        let stdin = std::io::stdin();
        loop {
            print!("{question} ");
            std::io::stdout()
                .flush()
                .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
            let mut line = String::new();
            let read = stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| JudgeError::Unreachable(e.to_string()))?;
            if read == 0 {
                return Err(JudgeError::Unreachable("stdin closed".into()));
            }
            if let Some(answer) = parse(&line) {
                return Ok(answer);
            }
        }
    }
}

/// Reads a diagnosis answer: `top_left`, `top_right`, `bottom_right` or `none`.
pub fn parse_diagnosis_answer(line: &str) -> Option<Diagnosis> {
    match Diagnosis::parse(line) {
        Diagnosis::Unstated => None,
        d => Some(d),
    }
}

/// Reads menu letters separated by spaces or commas (`B, F k`).
pub fn parse_menu_answer(line: &str) -> Vec<serde_json::Value> {
    line.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| serde_json::Value::String(s.to_string()))
        .collect()
}

/// Reads `1`, `2` or `0` (an optional rationale may follow) from a line of text.
pub fn parse_terminal_answer(line: &str) -> Option<Comparison> {
    let line = line.trim();
    let (head, rest) = line.split_at(line.find(char::is_whitespace).unwrap_or(line.len()));
    let choice = match head {
        "1" => Choice::First,
        "2" => Choice::Second,
        "0" | "=" => Choice::Tie,
        _ => return None,
    };
    Some(Comparison {
        choice,
        rationale: rest.trim().to_string(),
    })
}

impl Judge for HumanJudge {
    fn rebase(&mut self, base: &crate::level::DistributionSpec) {
        self.base = base.clone();
    }

    fn name(&self) -> String {
        "human".into()
    }

    fn analyze(
        &mut self,
        _environment: &str,
        episodes: &super::Episodes,
    ) -> Result<Analysis, JudgeError> {
        let HumanChannel::Terminal = self.channel else {
            return Ok(Analysis {
                raw: "the person reviews the proposals in the app's panel".into(),
                ..Analysis::default()
            });
        };
        let o = TextOptions {
            state_outcome: false,
        };
        for (i, r) in episodes.training.iter().take(3).enumerate() {
            println!(
                "--- Training episode {} ---\n{}",
                i + 1,
                render_rollout(r, o)
            );
        }
        for (i, r) in episodes.probes.iter().take(3).enumerate() {
            println!("--- Probe episode {} ---\n{}", i + 1, render_rollout(r, o));
        }
        let diagnosis = Self::ask(
            "Where does the mouse go instead of the cheese? top_left, top_right, bottom_right or none:",
            parse_diagnosis_answer,
        )?;
        let items = menu::menu(&self.base);
        println!("{}", menu::listing(&items));
        let letters = Self::ask(
            "Which environments should it train on? Letters, e.g. `B F`:",
            |l| {
                let values = parse_menu_answer(l);
                (!values.is_empty()).then_some(values)
            },
        )?;
        let (scenarios, rejected) = parse_suggestions(&letters, &self.base);
        Ok(Analysis {
            diagnosis,
            failure_modes: Vec::new(),
            scenarios,
            rejected,
            raw: format!("(a person) {}", diagnosis.words()),
            answers: None,
        })
    }

    fn compare(&mut self, first: &Rollout, second: &Rollout) -> Result<Comparison, JudgeError> {
        self.next_id += 1;
        match &self.channel {
            HumanChannel::Terminal => {
                let o = TextOptions {
                    state_outcome: false,
                };
                println!("--- Episode 1 ---\n{}", render_rollout(first, o));
                println!("--- Episode 2 ---\n{}", render_rollout(second, o));
                Self::ask(
                    "Which is better towards the cheese? 1, 2 or 0 (equal), then an optional reason:",
                    parse_terminal_answer,
                )
            }
            HumanChannel::Queue {
                queries,
                answers,
                timeout,
            } => {
                let id = self.next_id;
                queries
                    .send(HumanQuery {
                        id,
                        first: first.clone(),
                        second: second.clone(),
                    })
                    .map_err(|_| {
                        JudgeError::Unreachable("nobody is listening for human queries".into())
                    })?;
                loop {
                    match answers.recv_timeout(*timeout) {
                        Ok(a) if a.id == id => return Ok(a.comparison),
                        Ok(_) => continue,
                        Err(_) => return Err(JudgeError::Timeout(timeout.as_secs_f64())),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_answers_parse() {
        assert_eq!(
            parse_terminal_answer("2 it found it").map(|c| c.choice),
            Some(Choice::Second)
        );
        assert_eq!(
            parse_terminal_answer(" 0 ").map(|c| c.choice),
            Some(Choice::Tie)
        );
        assert!(parse_terminal_answer("maybe").is_none());
        assert_eq!(
            parse_diagnosis_answer(" Top-right\n"),
            Some(Diagnosis::Corner(crate::level::Corner::TopRight))
        );
        assert!(parse_diagnosis_answer("the cheese?").is_none());
        assert_eq!(parse_menu_answer("B, f  k\n").len(), 3);
    }
}
