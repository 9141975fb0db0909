//! One feedback round, two callers: a study cell and the app's trainer thread, started from the
//! same tau*T checkpoint with the same judge (the oracle) and seed, produce the same labels, the
//! same reward-model report and the same evaluation of the fine-tuned `designer` agent.

use maze_rllf::experiment::arm::Arm;
use maze_rllf::experiment::preferences::LabeledPair;
use maze_rllf::experiment::study::{StudyConfig, run_cell};
use maze_rllf::llm::JudgeSpec;
use maze_rllf::trainer::{Command, Event, Phase, SessionSettings, TrainerHandle};
use std::path::Path;
use std::time::{Duration, Instant};

fn tiny_study() -> StudyConfig {
    let set: Vec<String> = [
        "regions=[4]",
        "train.ppo.total_timesteps=16384",
        "train.ppo.num_envs=16",
        "train.ppo.num_steps=64",
        "tau=0.5",
        "round.pairs=24",
        "round.feedback_rollouts=60",
        "round.inspect_rollouts=4",
        "train.eval_episodes=120",
        "validation_episodes=40",
        "round.reward.epochs=3",
        "keep_pretrain=true",
        "reference=false",
        r#"arms=["baseline", "designer"]"#,
        "shares=[0.5]",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    StudyConfig::load(Path::new("assets/configs/study-7x7.ron"))
        .expect("config")
        .with_overrides(&set)
        .expect("overrides")
}

#[test]
fn the_study_and_the_trainer_thread_run_the_same_round() {
    let out = std::env::temp_dir().join(format!("maze-rllf-one-round-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let config = tiny_study();
    let device = burn::tensor::Device::flex();

    // The study's path.
    let cell = run_cell(
        &config,
        &JudgeSpec::Oracle(config.oracle.clone()),
        4,
        0,
        &out,
        &device,
        &|_| {},
    )
    .expect("cell");
    let cell_dir = out.join("cells/r04-s0");
    let study_labels: Vec<LabeledPair> = serde_json::from_slice(
        &std::fs::read(cell_dir.join("preferences.json")).expect("preferences"),
    )
    .expect("json");
    let study_designer = cell.arm(Arm::Designer, 0.5).expect("designer arm").clone();
    assert_eq!(study_labels.len(), 24);

    // The trainer thread's path, from the checkpoint the cell paused at.
    let mut train = config.train.clone();
    train.region = Some(4);
    train.seed = 0;
    let mut s = SessionSettings::new(train);
    s.checkpoint = Some(cell_dir.join("pretrain"));
    s.judge = JudgeSpec::Oracle(config.oracle.clone());
    s.round = config.round_settings();
    s.eval_episodes = config.train.eval_episodes;
    s.eval_every = 1000;
    s.show_episodes = 1;
    s.auto_review = true;
    s.arm = Arm::Designer;
    let mut trainer = TrainerHandle::spawn(s).expect("the trainer thread starts");
    trainer.send(Command::BeginFeedbackRound).expect("send");
    let mut labels = Vec::new();
    let mut report = None;
    let mut tuned_arm = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    let table = loop {
        assert!(Instant::now() < deadline, "no before/after table in 600 s");
        match trainer.next_event(Duration::from_millis(100)) {
            Some(Event::Label(l)) => labels.push(l.label.clone()),
            Some(Event::RewardModel(r)) => report = Some(*r),
            Some(Event::FineTuning(f)) => tuned_arm = Some(f.arm),
            Some(Event::BeforeAfter(t)) => break *t,
            Some(Event::Error(e)) => panic!("trainer error: {e}"),
            Some(Event::Phase(Phase::Finished)) | Some(_) | None => {}
        }
    };
    assert!(trainer.shutdown(Duration::from_secs(30)));

    assert_eq!(labels, study_labels, "the same pairs, answers and labels");
    assert_eq!(
        report.as_ref(),
        Some(&cell.reward_model),
        "the same reward model"
    );
    assert_eq!(tuned_arm, Some(Arm::Designer));
    assert_eq!(table.arm, Arm::Designer);
    assert_eq!(
        table.after, study_designer,
        "the same fine-tuned agent, evaluated on the same mazes"
    );
    assert_eq!(table.after.outcomes.len(), 120);
    let _ = std::fs::remove_dir_all(&out);
}
