//! Two agents on the same mazes, on the trainer thread: the live agent or any checkpoint (of this
//! session's world size), a few mazes played side by side for the stage, and both agents' rates on
//! the same test mazes with McNemar's test.

use super::session::Session;
use super::*;
use crate::experiment::rollouts::collect_rollouts;
use crate::experiment::round::compare_agents;
use crate::level::LevelSource;
use crate::rl::{Policy, checkpoint};
use crate::sim::Rollout;

impl Session {
    /// The agent `agent` names, with a name for the stage's captions.
    fn agent(&self, agent: &AgentRef) -> Result<(Policy, String), TrainerError> {
        match agent {
            AgentRef::Live => Ok((
                self.trainer.policy(),
                format!("live agent (step {})", self.trainer.state.global_step),
            )),
            AgentRef::Checkpoint(path) => {
                let device = burn::tensor::Device::flex();
                let loaded = checkpoint::load(path, &device)?;
                let theirs = loaded.config.training_levels()?.world_size();
                let ours = self.shifted_levels.world_size();
                if theirs != ours {
                    return Err(crate::errors::Invalid(format!(
                        "{}: this agent sees {theirs}x{theirs} worlds and the session's mazes are \
                         {ours}x{ours}; open a run of its size first (Runs), then compare",
                        path.display()
                    ))
                    .into());
                }
                let name = format!(
                    "{} (step {})",
                    loaded
                        .dir
                        .parent()
                        .and_then(|run| run.file_name())
                        .map_or_else(
                            || path.display().to_string(),
                            |n| n.to_string_lossy().into()
                        ),
                    loaded.state.global_step
                );
                Ok((Policy::new(loaded.model, device), name))
            }
        }
    }

    /// Plays both agents on `count` shifted mazes side by side and evaluates both on the same
    /// [`COMPARE_EPISODES`] test mazes; an agent that does not load is an error notice.
    pub(super) fn compare(&mut self, agents: &[AgentRef; 2], count: usize, out: &mut Outbox) {
        let ((first, first_name), (second, second_name)) =
            match (self.agent(&agents[0]), self.agent(&agents[1])) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    out.send(Event::Error(format!("compare: {e}")));
                    return;
                }
            };
        let max_steps = self.trainer.config.max_steps;
        let pairs = self.paired_rollouts(&first, &second, count, max_steps);
        let (a, b, cheese_test) = compare_agents(
            &first,
            &second,
            &self.shifted_levels,
            COMPARE_EPISODES,
            self.rng.next_u64(),
            max_steps,
        );
        out.send(Event::Comparison(Box::new(ComparisonView {
            agents: agents.clone(),
            names: [first_name, second_name],
            pairs,
            outcomes: [a, b],
            cheese_test,
        })));
    }

    /// Both agents on the same `count` shifted mazes (one seed per maze for both).
    pub(super) fn paired_rollouts(
        &mut self,
        first: &Policy,
        second: &Policy,
        count: usize,
        max_steps: u32,
    ) -> Vec<(Rollout, Rollout)> {
        (0..count.max(1))
            .filter_map(|_| {
                let source = LevelSource::Fixed {
                    name: "comparison".into(),
                    layout: self.shifted_levels.sample(&mut self.rng),
                };
                let seed = self.rng.next_u64();
                let a = collect_rollouts(first, &source, 1, seed, max_steps).pop()?;
                let b = collect_rollouts(second, &source, 1, seed, max_steps).pop()?;
                Some((a, b))
            })
            .collect()
    }
}
