//! The feedback round on the trainer thread: the judge's analysis and scenario review, labels and
//! their review, the reward model, fine-tuning with R', and the before/after comparison.

use super::session::{Flow, Session};
use super::*;
use crate::errors::{FileError, Invalid};
use crate::experiment::arm::{Arm, Feedback, Source};
use crate::experiment::preferences::LabeledPair;
use crate::experiment::round;
use crate::level::{DistributionSpec, LevelSource};
use crate::llm::{CachedJudge, Judge, LabelCache, Scenario};
use crate::rl::{Policy, checkpoint};
use crate::sim::Rollout;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// The work of one feedback round.
#[derive(Default)]
pub(super) struct Round {
    pub(super) number: u64,
    /// Proposed by the judge, then (after review) the accepted ones.
    pub(super) scenarios: Vec<Scenario>,
    pub(super) rollouts: Vec<Rollout>,
    pub(super) labels: Vec<LabeledPair>,
    pub(super) overrides: Vec<Option<f32>>,
}

impl Round {
    /// The labels the reward model learns from: the judge's, or a person's where overridden.
    pub(super) fn effective_labels(&self) -> Vec<LabeledPair> {
        self.labels
            .iter()
            .zip(&self.overrides)
            .map(|(label, o)| LabeledPair {
                mu_first: o.unwrap_or(label.mu_first),
                ..label.clone()
            })
            .collect()
    }
}

impl Session {
    /// The round's starting agent and the fine-tuned one on the same shifted mazes (the study's
    /// evaluation mazes for this seed), with each configured control arm beside them.
    pub(super) fn send_before_after(
        &mut self,
        arm: Arm,
        commands: &Receiver<Command>,
        out: &mut Outbox,
    ) -> Flow {
        let Some(before) = &self.baseline else {
            return Flow::Continue;
        };
        out.send(Event::Status(format!(
            "evaluating before and after on {} shifted mazes",
            self.settings.eval_episodes
        )));
        let seed = round::evaluation_seed(self.trainer.config.seed);
        let mut table = round::before_after(
            arm,
            before,
            &self.trainer.policy(),
            &self.shifted_levels,
            self.settings.eval_episodes,
            seed,
            self.trainer.config.max_steps,
        );
        let controls: Vec<Arm> = self
            .settings
            .controls
            .iter()
            .copied()
            .filter(|&c| c != arm)
            .collect();
        if !controls.is_empty() {
            self.set_phase(Phase::Controls, out);
            for (i, control) in controls.iter().enumerate() {
                match self.train_control(*control, i, controls.len(), commands, out) {
                    Ok(Some(policy)) => table.add_control(
                        *control,
                        &policy,
                        &self.shifted_levels,
                        seed,
                        self.trainer.config.max_steps,
                    ),
                    Ok(None) => return Flow::Stop,
                    Err(e) => out.send(Event::Error(format!("control arm {control}: {e}"))),
                }
            }
        }
        out.send(Event::BeforeAfter(Box::new(table)));
        Flow::Continue
    }

    /// Fine-tunes `arm` from the agent saved when the round began, for as many steps as the
    /// fine-tuned arm got. Other commands wait; None: a shutdown came.
    fn train_control(
        &mut self,
        arm: Arm,
        index: usize,
        count: usize,
        commands: &Receiver<Command>,
        out: &mut Outbox,
    ) -> Result<Option<Policy>, TrainerError> {
        let paused = self
            .paused_checkpoint
            .as_ref()
            .ok_or_else(|| Invalid("the agent was not saved when the round began".into()))?
            .path()
            .to_path_buf();
        let feedback = self.feedback_for(arm, out)?;
        let mut control = checkpoint::resume(&paused, &self.device, &[])?;
        arm.prepare(
            &mut control,
            &feedback,
            &self.training_levels,
            self.settings.round.fine_tune(),
        )?;
        let until = self.trainer.config.ppo.total_timesteps;
        control.config.ppo.total_timesteps = until;
        let mut said = Instant::now();
        while !control.finished() {
            control.iterate();
            if said.elapsed().as_secs_f64() >= 1.0 {
                said = Instant::now();
                out.send(Event::Status(format!(
                    "control {} of {count}: the {arm} arm ({}), step {} of {until}",
                    index + 1,
                    arm.describe(),
                    control.state.global_step
                )));
                out.flush();
            }
            match commands.try_recv() {
                Ok(Command::Shutdown) => return Ok(None),
                Ok(other) => self.deferred.push_back(other),
                Err(_) => {}
            }
        }
        Ok(Some(control.policy()))
    }

    /// The seed of the current round ([`round::round_seed`] of the run's seed, its number and
    /// the training region): a study cell of the same region and seed runs the same round 1.
    pub(super) fn round_seed(&self) -> u64 {
        let config = &self.trainer.config;
        round::round_seed(config.seed, self.round.number, config.region.unwrap_or(0))
    }

    pub(super) fn base_spec(&self) -> Result<DistributionSpec, Invalid> {
        match &self.training_levels {
            LevelSource::Distribution { spec, .. } => Ok(spec.clone()),
            other => Err(Invalid(format!(
                "feedback rounds need one level distribution to edit; `{}` is not one",
                other.name()
            ))),
        }
    }

    pub(super) fn make_judge(&self, base: &DistributionSpec) -> Result<CachedJudge, TrainerError> {
        let seed = round::judge_seed(self.trainer.config.seed);
        let inner = self.settings.judge.build(base, seed)?;
        let cache = match &self.settings.label_cache {
            Some(path) => LabelCache::open(path)?,
            None => LabelCache::in_memory(),
        };
        Ok(CachedJudge::new(inner, cache))
    }

    /// Saves the agent as it is into a temporary folder (removed with the session or the next
    /// round), where the control arms start from.
    fn save_paused(&self) -> Result<tempfile::TempDir, TrainerError> {
        let dir = tempfile::Builder::new()
            .prefix("maze-rllf-paused-")
            .tempdir()
            .map_err(FileError::at(
                &std::env::temp_dir(),
                "creating a temporary folder",
            ))?;
        checkpoint::save(&self.trainer, dir.path())?;
        Ok(dir)
    }

    pub(super) fn begin_round(&mut self, commands: &Receiver<Command>, out: &mut Outbox) -> Flow {
        if let Err(e) = self.settings.round.validate() {
            out.send(Event::Error(format!("feedback round: {e}")));
            return Flow::Continue;
        }
        let base = match self.base_spec() {
            Ok(b) => b,
            Err(e) => {
                out.send(Event::Error(e.to_string()));
                return Flow::Continue;
            }
        };
        if self.judge.is_none() {
            out.send(Event::Status(format!(
                "loading the judge: {}",
                self.settings.judge.label()
            )));
            match self.make_judge(&base) {
                Ok(j) => self.judge = Some(j),
                Err(e) => {
                    out.send(Event::Error(format!("judge: {e}")));
                    return Flow::Continue;
                }
            }
        }
        self.set_phase(Phase::Analysing, out);
        let number = self.round.number + 1;
        self.round = Round {
            number,
            ..Round::default()
        };
        let policy = self.trainer.policy();
        self.baseline = Some(policy.clone());
        self.paused_checkpoint = None;
        if !self.settings.controls.is_empty() {
            match self.save_paused() {
                Ok(dir) => self.paused_checkpoint = Some(dir),
                Err(e) => out.send(Event::Error(format!(
                    "the control arms need the paused agent saved: {e}"
                ))),
            }
        }
        let settings = self.settings.round.clone();
        let max_steps = self.trainer.config.max_steps;
        let seed = self.round_seed();
        let Some(judge) = self.judge.as_mut() else {
            return Flow::Continue;
        };
        let inspection = round::inspect(
            judge,
            &policy,
            &self.shifted_levels,
            &base,
            &settings,
            max_steps,
            seed,
        );
        if let Some(failure) = inspection
            .analysis
            .rejected
            .iter()
            .find(|r| r.starts_with("analysis failed"))
        {
            out.send(Event::Error(failure.clone()));
        }
        let (analysis, scenarios, shown) =
            (inspection.analysis, inspection.scenarios, inspection.shown);
        out.send(Event::Analysis(Box::new(AnalysisView {
            kind: self.settings.judge.kind(),
            judge: judge.name(),
            text: analysis.raw.clone(),
            failure_modes: analysis.failure_modes.clone(),
            scenarios: scenarios
                .iter()
                .map(|s| ScenarioView {
                    title: s.edit.title(),
                    spec: s.spec.clone(),
                })
                .collect(),
            rejected: analysis.rejected.clone(),
            diagnosis: analysis.diagnosis,
            judge_agreement: judge.measured_agreement(),
            shown,
        })));
        self.round.scenarios = scenarios;
        self.set_phase(Phase::ReviewScenarios, out);
        if self.settings.auto_review {
            let all = vec![true; self.round.scenarios.len()];
            return self.label(&all, commands, out);
        }
        Flow::Continue
    }

    /// Rolls the paused agent out in the accepted scenarios and asks the judge about pairs.
    pub(super) fn label(
        &mut self,
        accepted: &[bool],
        commands: &Receiver<Command>,
        out: &mut Outbox,
    ) -> Flow {
        let scenarios = round::accepted_scenarios(&self.round.scenarios, accepted);
        if scenarios.is_empty() {
            out.send(Event::Status(
                "no scenario accepted: the rollouts and the designer stay on the training mazes"
                    .into(),
            ));
        }
        let Some(policy) = self.baseline.clone() else {
            return Flow::Continue;
        };
        self.set_phase(Phase::Labelling, out);
        let settings = self.settings.round.clone();
        let seed = self.round_seed();
        let rollouts = round::scenario_rollouts(
            &policy,
            &scenarios,
            &self.training_levels,
            &settings,
            self.trainer.config.max_steps,
            seed,
        );
        let Some(judge) = self.judge.as_mut() else {
            return Flow::Continue;
        };
        let mut stop = false;
        let mut index = 0;
        let mut deferred = Vec::new();
        let round = round::label(judge, &rollouts, &settings, seed, |label| {
            out.send(Event::Label(Box::new(LabelView {
                index,
                first: rollouts[label.first].clone(),
                second: rollouts[label.second].clone(),
                label: label.clone(),
            })));
            index += 1;
            out.flush();
            // Only a shutdown interrupts a round; anything else waits its turn.
            match commands.try_recv() {
                Ok(Command::Shutdown) => stop = true,
                Ok(other) => deferred.push(other),
                Err(_) => {}
            }
            !stop
        });
        self.deferred.extend(deferred);
        if stop {
            return Flow::Stop;
        }
        out.send(Event::RoundStats(Box::new(round.stats.clone())));
        if round.pairs.is_empty() {
            out.send(Event::Error(format!(
                "the judge labelled no pair: {}",
                round.stats.failure_reason()
            )));
        } else if let Some(reason) = &round.stats.abandoned {
            out.send(Event::Error(format!("the judge stopped early: {reason}")));
        }
        self.round.overrides = vec![None; round.pairs.len()];
        self.round.labels = round.pairs;
        self.round.rollouts = rollouts;
        self.round.scenarios = scenarios;
        self.set_phase(Phase::ReviewLabels, out);
        if self.settings.auto_review {
            self.train_reward_model(out);
        }
        Flow::Continue
    }

    pub(super) fn train_reward_model(&mut self, out: &mut Outbox) {
        let Some(paused) = self.baseline.clone() else {
            out.send(Event::Error(
                "no round yet: start a feedback round first".into(),
            ));
            return;
        };
        self.set_phase(Phase::TrainingRewardModel, out);
        let labels = self.round.effective_labels();
        let agent = round::PausedAgent {
            policy: &paused,
            training: &self.training_levels,
            max_steps: self.trainer.config.max_steps,
            device: &self.device,
        };
        match round::fit_reward(
            &self.round.rollouts,
            &labels,
            &self.settings.round,
            agent,
            self.round_seed(),
        ) {
            Ok((model, report)) => {
                self.reward_model = Some(Arc::new(model));
                out.send(Event::RewardModel(Box::new(report)));
                self.set_phase(Phase::RewardModelReady, out);
                self.stream(out);
                if self.settings.auto_review {
                    self.start_fine_tuning(out);
                }
            }
            Err(e) => {
                out.send(Event::Error(format!("reward model: {e}")));
                self.set_phase(Phase::ReviewLabels, out);
            }
        }
    }

    /// Resumes PPO as the chosen arm (reward and level mix, see [`Arm::prepare`]) from the
    /// agent as it is now: to the configured budget if it is not reached yet (the study's
    /// remaining (1 - tau) * T), otherwise for another half of it.
    pub(super) fn start_fine_tuning(&mut self, out: &mut Outbox) {
        let arm = self.settings.arm;
        if arm.uses_reward_model() && self.reward_model.is_none() {
            out.send(Event::Error(format!(
                "the {arm} arm needs a reward model: label pairs and train it first"
            )));
            return;
        }
        if arm.source().is_some() && self.baseline.is_none() {
            out.send(Event::Error(format!(
                "the {arm} arm needs a feedback round: run one first"
            )));
            return;
        }
        let feedback = match self.feedback_for(arm, out) {
            Ok(f) => f,
            Err(e) => {
                out.send(Event::Error(format!("{arm}: {e}")));
                return;
            }
        };
        if let Err(e) = arm.prepare(
            &mut self.trainer,
            &feedback,
            &self.training_levels,
            self.settings.round.fine_tune(),
        ) {
            out.send(Event::Error(format!("fine-tuning: {e}")));
            return;
        }
        if self.trainer.finished() {
            let batch = self.trainer.config.ppo.batch_size() as u64;
            let done = self.trainer.state.iteration * batch;
            self.trainer.config.ppo.total_timesteps =
                done + (self.settings.train.ppo.total_timesteps / 2).max(batch);
        }
        self.tuning = Some(arm);
        out.send(Event::FineTuning(Box::new(FineTuningView {
            arm,
            levels: self.trainer.state.venv.source().name().to_string(),
            until_step: self.trainer.config.ppo.total_timesteps,
        })));
        self.set_phase(Phase::FineTuning, out);
    }

    /// What `arm` fine-tunes with: the round's scenarios and reward model, or an LLM-free
    /// control's own.
    fn feedback_for(&mut self, arm: Arm, out: &mut Outbox) -> Result<Feedback, TrainerError> {
        match arm.source() {
            Some(source @ (Source::RandomScenarios | Source::RandomJudge)) => {
                self.control_feedback(source, out)
            }
            _ => Ok(Feedback {
                scenarios: self.round.scenarios.clone(),
                reward_model: self.reward_model.clone(),
            }),
        }
    }

    /// The feedback of an LLM-free control (random menu scenarios, the judge's or random labels,
    /// its own reward model), computed here on the trainer thread by the round's one
    /// implementation ([`round::source_round`]).
    fn control_feedback(
        &mut self,
        source: Source,
        out: &mut Outbox,
    ) -> Result<Feedback, TrainerError> {
        let base = self.base_spec()?;
        let paused = self
            .baseline
            .clone()
            .ok_or_else(|| Invalid("no round yet: start a feedback round first".into()))?;
        if self.judge.is_none() {
            self.judge = Some(self.make_judge(&base)?);
        }
        let seed = self.round_seed();
        let max_steps = self.trainer.config.max_steps;
        let judge = self
            .judge
            .as_mut()
            .ok_or_else(|| Invalid("no judge".into()))?;
        out.send(Event::Status(format!(
            "{source:?}: random menu scenarios, {} labels and a reward model",
            self.settings.round.pairs
        )));
        out.flush();
        let agent = round::PausedAgent {
            policy: &paused,
            training: &self.training_levels,
            max_steps,
            device: &self.device,
        };
        let round =
            round::source_round(source, judge, &[], agent, &base, &self.settings.round, seed)?;
        Ok(round.feedback)
    }

    pub(super) fn compare_with_baseline(&mut self, count: usize, out: &mut Outbox) {
        let Some(baseline) = self.baseline.clone() else {
            out.send(Event::Error(
                "no baseline yet: it is frozen when a feedback round begins".into(),
            ));
            return;
        };
        let current = self.trainer.policy();
        let max_steps = self.trainer.config.max_steps;
        let (before, after): (Vec<Rollout>, Vec<Rollout>) = self
            .paired_rollouts(&baseline, &current, count, max_steps)
            .into_iter()
            .unzip();
        let step = self.trainer.state.global_step;
        for (source, episodes) in [
            (EpisodeSource::Baseline, before),
            (EpisodeSource::Tuned, after),
        ] {
            out.send(Event::Episodes(EpisodeBatch {
                source,
                global_step: step,
                episodes,
            }));
        }
    }
}
