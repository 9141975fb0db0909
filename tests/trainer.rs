//! The trainer thread driven over its channels, as the app drives it: training streams metrics,
//! episodes and evaluations; a feedback round goes analysis -> scenario review -> labels ->
//! overrides -> reward model -> fine-tuning; the baseline comparison pairs episodes on the same
//! mazes; a round with a control arm reproduces maze for maze; and a front end that never
//! reads its events never stalls the trainer.

use maze_rllf::config::TrainConfig;
use maze_rllf::experiment::arm::Arm;
use maze_rllf::trainer::{
    AgentRef, COMPARE_EPISODES, Command, EpisodeSource, Event, Phase, SessionSettings, ShowLevels,
    TrainerHandle,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn settings() -> SessionSettings {
    let train = TrainConfig::load(Path::new("assets/configs/quick-7x7.ron"))
        .expect("config")
        .with_overrides(&[
            "ppo.total_timesteps=16384".into(),
            "ppo.num_envs=16".into(),
            "ppo.num_steps=32".into(),
        ])
        .expect("overrides");
    let mut s = SessionSettings::new(train);
    s.round.pairs = 24;
    s.round.feedback_rollouts = 60;
    s.round.inspect_rollouts = 4;
    s.eval_episodes = 40;
    s.eval_every = 4;
    s.show_episodes = 4;
    s.show_interval_s = 0.0;
    s
}

/// Waits for the first event that `pick` accepts, failing after `secs` seconds.
fn wait_for<T>(
    trainer: &TrainerHandle,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(event) = trainer.next_event(Duration::from_millis(100)) {
            if let Some(t) = pick(&event) {
                return t;
            }
            if let Event::Error(e) = &event {
                panic!("trainer error while waiting for {what}: {e}");
            }
        }
    }
    panic!("no {what} within {secs} s");
}

fn wait_phase(trainer: &TrainerHandle, phase: Phase, secs: u64) {
    wait_for(trainer, secs, &format!("phase {phase:?}"), |e| match e {
        Event::Phase(p) if *p == phase => Some(()),
        _ => None,
    });
}

#[test]
fn training_streams_and_a_reviewed_feedback_round_runs_to_fine_tuning() {
    let mut trainer = TrainerHandle::spawn(settings()).expect("the trainer thread starts");
    wait_phase(&trainer, Phase::Paused, 30);
    trainer.send(Command::Run).expect("send");
    let metrics = wait_for(&trainer, 60, "iteration metrics", |e| match e {
        Event::Iteration(m) => Some(m.clone()),
        _ => None,
    });
    assert!(metrics.global_step > 0 && metrics.sps > 0.0);
    let batch = wait_for(&trainer, 60, "episodes", |e| match e {
        Event::Episodes(b) => Some(b.clone()),
        _ => None,
    });
    assert_eq!(batch.source, EpisodeSource::Current);
    assert_eq!(batch.episodes.len(), 4);
    let eval = wait_for(&trainer, 60, "an evaluation", |e| match e {
        Event::Evaluation(p) => Some(p.clone()),
        _ => None,
    });
    assert_eq!(eval.train.episodes, 40);
    assert_eq!(eval.shifted.episodes, 40);
    wait_phase(&trainer, Phase::Finished, 120);

    // One fixed maze: every streamed episode is played in it.
    let layout = batch.episodes[0].layout.clone();
    trainer
        .send(Command::Show(ShowLevels::Fixed(layout.clone())))
        .expect("send");
    let ghosts = wait_for(&trainer, 30, "ghost episodes", |e| match e {
        Event::Episodes(b) => Some(b.clone()),
        _ => None,
    });
    assert!(ghosts.episodes.iter().all(|e| e.layout == layout));

    trainer.send(Command::BeginFeedbackRound).expect("send");
    let analysis = wait_for(&trainer, 60, "the analysis", |e| match e {
        Event::Analysis(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(analysis.shown.training.len(), 4);
    assert_eq!(analysis.shown.probes.len(), 4);
    // The training episodes put the cheese on the top-right corner cell (region 1): the oracle
    // reads that confound from them whatever the probes show, and proposes disambiguating items.
    assert_eq!(
        analysis.diagnosis,
        maze_rllf::llm::Diagnosis::Corner(maze_rllf::level::Corner::TopRight),
        "{}",
        analysis.text
    );
    assert!(
        analysis
            .shown
            .training
            .iter()
            .all(|r| r.layout.cheese == r.layout.corner)
    );
    assert!(!analysis.scenarios.is_empty());
    wait_phase(&trainer, Phase::ReviewScenarios, 10);
    // Keep only the first scenario (if there is one; without, the rollouts stay on the training
    // mazes).
    let mut keep = vec![false; analysis.scenarios.len()];
    if let Some(first) = keep.first_mut() {
        *first = true;
    }
    trainer.send(Command::ReviewScenarios(keep)).expect("send");
    // A command sent while the judge is busy is applied after the round, not lost.
    trainer.send(Command::Evaluate).expect("send");
    let mut labels = Vec::new();
    let mut evaluated = false;
    let stats = wait_for(&trainer, 120, "the round statistics", |e| match e {
        Event::Label(l) => {
            labels.push(l.clone());
            None
        }
        Event::Evaluation(_) => {
            evaluated = true;
            None
        }
        Event::RoundStats(s) => Some(s.clone()),
        _ => None,
    });
    let mut reviewing = false;
    while !(evaluated && reviewing) {
        wait_for(
            &trainer,
            60,
            "label review and the deferred evaluation",
            |e| match e {
                Event::Evaluation(_) => {
                    evaluated = true;
                    Some(())
                }
                Event::Phase(Phase::ReviewLabels) => {
                    reviewing = true;
                    Some(())
                }
                _ => None,
            },
        );
    }
    assert_eq!(labels.len(), 24);
    assert_eq!(stats.queries, 48, "every pair is asked in both orders");
    assert!(labels.iter().all(|l| l.first.layout.size == layout.size));
    trainer
        .send(Command::OverrideLabel {
            pair: 0,
            mu_first: Some(0.5),
        })
        .expect("send");
    trainer
        .send(Command::OverrideLabel {
            pair: 999,
            mu_first: Some(1.0),
        })
        .expect("send");
    let error = wait_for(
        &trainer,
        10,
        "the out-of-range override error",
        |e| match e {
            Event::Error(e) => Some(e.clone()),
            _ => None,
        },
    );
    assert!(error.contains("no pair 999"), "{error}");
    trainer.send(Command::TrainRewardModel).expect("send");
    let report = wait_for(&trainer, 120, "the reward model", |e| match e {
        Event::RewardModel(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(report.train_pairs + report.heldout_pairs, 24);
    wait_phase(&trainer, Phase::RewardModelReady, 10);
    trainer.send(Command::StartFineTuning).expect("send");
    wait_phase(&trainer, Phase::FineTuning, 10);
    wait_for(&trainer, 60, "fine-tuning iterations", |e| match e {
        Event::Iteration(_) => Some(()),
        _ => None,
    });
    trainer.send(Command::Pause).expect("send");
    trainer
        .send(Command::CompareWithBaseline { count: 3 })
        .expect("send");
    let before = wait_for(&trainer, 60, "the baseline batch", |e| match e {
        Event::Episodes(b) if b.source == EpisodeSource::Baseline => Some(b.clone()),
        _ => None,
    });
    let after = wait_for(&trainer, 60, "the fine-tuned batch", |e| match e {
        Event::Episodes(b) if b.source == EpisodeSource::Tuned => Some(b.clone()),
        _ => None,
    });
    assert_eq!(before.episodes.len(), 3);
    let same_mazes = before
        .episodes
        .iter()
        .zip(&after.episodes)
        .all(|(b, a)| b.layout == a.layout);
    assert!(same_mazes, "before and after are played on the same mazes");
    assert!(trainer.shutdown(Duration::from_secs(30)));
}

/// Trains `settings` to its budget, runs one feedback round through to its before/after table
/// (reviews automatic) and returns the table.
fn round_table(settings: SessionSettings) -> maze_rllf::trainer::BeforeAfter {
    let mut trainer = TrainerHandle::spawn(settings).expect("the trainer thread starts");
    wait_phase(&trainer, Phase::Paused, 30);
    trainer.send(Command::Run).expect("send");
    wait_phase(&trainer, Phase::Finished, 120);
    trainer.send(Command::BeginFeedbackRound).expect("send");
    let table = wait_for(&trainer, 300, "the before/after table", |e| match e {
        Event::BeforeAfter(t) => Some((**t).clone()),
        _ => None,
    });
    assert!(trainer.shutdown(Duration::from_secs(30)));
    table
}

#[test]
fn a_round_with_a_control_arm_reproduces_maze_for_maze_however_often_the_scene_is_fed() {
    let with_stream = |show_interval_s: f64| SessionSettings {
        auto_review: true,
        controls: vec![Arm::ScenariosEnvReward],
        show_interval_s,
        ..settings()
    };
    let often = round_table(with_stream(0.0));
    let never = round_table(with_stream(1e9));
    assert_eq!(often.controls.len(), 1);
    assert_eq!(often.before.outcomes, never.before.outcomes);
    assert_eq!(often.after.outcomes, never.after.outcomes, "the designer");
    assert_eq!(
        often.controls[0].outcome.outcomes, never.controls[0].outcome.outcomes,
        "the control arm"
    );
}

#[test]
fn a_front_end_that_never_reads_does_not_stall_training() {
    let mut s = settings();
    s.train.ppo.total_timesteps = 1 << 30;
    let mut trainer = TrainerHandle::spawn(s).expect("the trainer thread starts");
    trainer.send(Command::Run).expect("send");
    // Nobody reads events for a while: the channel fills, streaming events are dropped.
    std::thread::sleep(Duration::from_secs(4));
    // The trainer is still responsive: it pauses, and streams again once read.
    trainer.send(Command::Pause).expect("send");
    let mut last_step = 0;
    let (mut trained, mut paused) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !paused && Instant::now() < deadline {
        match trainer.next_event(Duration::from_millis(100)) {
            Some(Event::Iteration(m)) => last_step = m.global_step,
            Some(Event::Phase(Phase::Training)) => trained = true,
            Some(Event::Phase(Phase::Paused)) => paused = trained,
            _ => {}
        }
    }
    assert!(paused, "the pause was applied");
    assert!(last_step > 0, "it trained while nobody read");
    assert!(trainer.shutdown(Duration::from_secs(30)));
}

#[test]
fn a_round_with_a_scenario_share_outside_zero_to_one_is_refused_with_the_fix() {
    let mut s = settings();
    s.round.scenario_share = 1.5;
    let mut trainer = TrainerHandle::spawn(s).expect("the trainer thread starts");
    wait_phase(&trainer, Phase::Paused, 30);
    trainer.send(Command::BeginFeedbackRound).expect("send");
    let error = wait_for(&trainer, 30, "the refusal", |e| match e {
        Event::Error(e) => Some(e.clone()),
        _ => None,
    });
    assert!(
        error.contains("scenario_share is 1.5") && error.contains("from 0 to 1"),
        "{error}"
    );
    assert!(trainer.shutdown(Duration::from_secs(30)));
}

#[test]
fn a_bad_setting_is_reported_and_a_reset_recovers() {
    let mut s = settings();
    s.checkpoint = Some("does/not/exist".into());
    let mut trainer = TrainerHandle::spawn(s).expect("the trainer thread starts");
    let error = wait_for(&trainer, 30, "an error", |e| match e {
        Event::Error(e) => Some(e.clone()),
        _ => None,
    });
    assert!(error.contains("does/not/exist"), "{error}");
    trainer.send(Command::Run).expect("send");
    let error = wait_for(&trainer, 30, "a second error", |e| match e {
        Event::Error(e) => Some(e.clone()),
        _ => None,
    });
    assert!(error.contains("no session"), "{error}");
    trainer
        .send(Command::Reset(Box::new(settings())))
        .expect("send");
    wait_phase(&trainer, Phase::Paused, 30);
    assert!(trainer.shutdown(Duration::from_secs(30)));
}

#[test]
fn dropping_the_handle_joins_the_trainer_and_leaves_only_whole_metrics_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("metrics.jsonl");
    let mut s = settings();
    s.train.ppo.total_timesteps = 10_000_000;
    s.metrics_log = Some(log.clone());
    let trainer = TrainerHandle::spawn(s).expect("the trainer thread starts");
    wait_phase(&trainer, Phase::Paused, 30);
    trainer.send(Command::Run).expect("send");
    for _ in 0..3 {
        wait_for(&trainer, 60, "iteration metrics", |e| match e {
            Event::Iteration(_) => Some(()),
            _ => None,
        });
    }
    // What the app does on exit: drop its handle, mid-training.
    drop(trainer);
    let written = std::fs::read_to_string(&log).expect("metrics log");
    std::thread::sleep(Duration::from_millis(300));
    let later = std::fs::read_to_string(&log).expect("metrics log");
    assert_eq!(
        written, later,
        "the thread went on writing after the handle was dropped"
    );
    assert!(written.ends_with('\n'), "a cut last line: {written:?}");
    let rows = written.lines().count();
    assert!(rows >= 3, "{rows} rows");
    for line in written.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
        assert!(row["time/wall_s"].as_f64().is_some(), "{row}");
    }
    let csv = std::fs::read_to_string(log.with_extension("csv")).expect("csv beside it");
    assert_eq!(csv.lines().count(), rows + 1, "{csv}");
}

/// A short run on disk: `train --out` with the test's sizes, its metrics log beside it.
fn trained_run(dir: &Path, size_override: Option<&str>) -> std::path::PathBuf {
    let run = dir.join(size_override.map_or("run", |_| "other-size"));
    let mut args = vec![
        "train".to_string(),
        "--config".into(),
        "assets/configs/quick-7x7.ron".into(),
        "--set".into(),
        "ppo.total_timesteps=4096".into(),
        "--set".into(),
        "ppo.num_envs=16".into(),
        "--set".into(),
        "ppo.num_steps=32".into(),
        "--out".into(),
        run.display().to_string(),
    ];
    if let Some(set) = size_override {
        args.extend(["--set".into(), set.into()]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args(&args)
        .output()
        .expect("train runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run
}

#[test]
fn an_opened_run_brings_its_history_and_compares_with_the_live_agent_on_the_same_mazes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = trained_run(dir.path(), None);
    let mut trainer = TrainerHandle::spawn(settings().opening(run.clone())).expect("starts");
    let history = wait_for(&trainer, 60, "the run's history", |e| match e {
        Event::History(h) => Some(h.clone()),
        _ => None,
    });
    let steps: Vec<u64> = history.iterations.iter().map(|m| m.global_step).collect();
    assert_eq!(steps, [512, 1024, 1536, 2048, 2560, 3072, 3584, 4096]);
    assert!(history.note.is_none(), "{:?}", history.note);

    trainer
        .send(Command::Compare {
            agents: [AgentRef::Checkpoint(run.clone()), AgentRef::Live],
            count: 5,
        })
        .expect("send");
    let c = wait_for(&trainer, 120, "the comparison", |e| match e {
        Event::Comparison(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(c.pairs.len(), 5);
    for (a, b) in &c.pairs {
        assert_eq!(a.layout, b.layout, "each pair is one maze");
    }
    assert_eq!(c.outcomes[0].outcomes.len(), COMPARE_EPISODES);
    // The same weights on the same mazes: the same outcome on every maze.
    assert_eq!(c.outcomes[0].outcomes, c.outcomes[1].outcomes);
    assert_eq!(c.cheese_test.only_first + c.cheese_test.only_second, 0);
    assert!(
        c.names[0].contains("run") && c.names[1].contains("live"),
        "{:?}",
        c.names
    );

    // An agent of another world size is refused with what to do; the session goes on.
    let other = trained_run(
        dir.path(),
        Some(r#"levels={"File": "levels/train-11x11.ron"}"#),
    );
    trainer
        .send(Command::Compare {
            agents: [AgentRef::Checkpoint(other.clone()), AgentRef::Live],
            count: 2,
        })
        .expect("send");
    let error = loop {
        match trainer.next_event(Duration::from_secs(60)) {
            Some(Event::Error(e)) => break e,
            Some(_) => continue,
            None => panic!("no error for a checkpoint of another size"),
        }
    };
    assert!(error.contains("11x11") && error.contains("7x7"), "{error}");
    // The Runs section lists both run folders, each with its log.
    let found = maze_rllf::rl::checkpoint::find_runs(dir.path()).expect("lists");
    let paths: Vec<_> = found.iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, [other.clone(), run.clone()]);
    assert!(
        found
            .iter()
            .all(|r| r.has_metrics && r.latest.starts_with("checkpoint-"))
    );
    let missing = maze_rllf::rl::checkpoint::find_runs(&dir.path().join("nowhere"));
    assert!(
        missing
            .expect_err("no folder")
            .to_string()
            .contains("listing the folder")
    );

    // Settings that do not start leave the running session as it was.
    trainer
        .send(Command::Reset(Box::new(
            settings().opening(dir.path().join("nothing")),
        )))
        .expect("send");
    let (mut said_why, mut goes_on) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(said_why && goes_on) && Instant::now() < deadline {
        match trainer.next_event(Duration::from_millis(100)) {
            Some(Event::Error(e)) => said_why |= e.contains("nothing"),
            Some(Event::Status(s)) => goes_on |= s.contains("the current session goes on"),
            _ => {}
        }
    }
    assert!(said_why && goes_on, "why: {said_why}, goes on: {goes_on}");
    // (The run's budget is spent, so the kept session answers with an evaluation.)
    trainer.send(Command::Evaluate).expect("send");
    wait_for(
        &trainer,
        60,
        "an evaluation by the kept session",
        |e| match e {
            Event::Evaluation(p) => Some(p.global_step),
            _ => None,
        },
    );
    assert!(trainer.shutdown(Duration::from_secs(30)));
}
