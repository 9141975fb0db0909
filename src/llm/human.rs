//! The human judge: each comparison becomes a query that a person answers — at a terminal prompt
//! when headless, or through a channel that the app's panel serves.

use super::text::{TextOptions, render_rollout};
use super::{Analysis, Choice, Comparison, Judge, JudgeError};
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
}

impl HumanJudge {
    pub fn new(channel: HumanChannel) -> Self {
        Self {
            channel,
            next_id: 0,
        }
    }
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
    fn name(&self) -> String {
        "human".into()
    }

    fn analyze(
        &mut self,
        _environment: &str,
        _rollouts: &[Rollout],
    ) -> Result<Analysis, JudgeError> {
        Ok(Analysis {
            raw: "a human judge proposes no scenarios; use the defaults or the app's panel".into(),
            ..Analysis::default()
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
                let stdin = std::io::stdin();
                loop {
                    print!(
                        "Which is better towards the cheese? 1, 2 or 0 (equal), then an optional reason: "
                    );
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
                    if let Some(c) = parse_terminal_answer(&line) {
                        return Ok(c);
                    }
                }
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
    }
}
