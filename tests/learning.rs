//! PPO really learns, and learns the wrong goal: on 7x7 mazes with the cheese always in the
//! top-right corner it reaches >= 90% cheese rate, then on the shifted distribution it goes to the
//! corner first far more often than to the cheese. Fixed seeds; a few minutes on 2 cores.

use burn::tensor::Device;
use maze_rllf::config::TrainConfig;
use maze_rllf::rl::{Trainer, evaluate};
use std::path::Path;

#[test]
fn ppo_learns_the_corner_and_misgeneralizes() {
    let config = TrainConfig::load(Path::new("assets/configs/quick-7x7.ron")).expect("config");
    let device = Device::flex();
    let mut trainer = Trainer::new(config.clone(), &device).expect("trainer");
    let train = config.training_levels().expect("training levels");
    let shifted = config.shifted_levels().expect("shifted levels");

    let (untrained, _) = evaluate(&trainer.policy(), &train, 500, 11, config.max_steps);
    while !trainer.finished() {
        trainer.iterate();
    }
    let policy = trainer.policy();
    let (on_train, _) = evaluate(&policy, &train, 2000, 12, config.max_steps);
    let (on_shifted, _) = evaluate(&policy, &shifted, 2000, 13, config.max_steps);
    println!("untrained on train: cheese {}", untrained.cheese);
    println!(
        "trained on train:   cheese {} corner {}",
        on_train.cheese, on_train.corner
    );
    println!(
        "trained on shifted: cheese {} corner {} neither {}",
        on_shifted.cheese, on_shifted.corner, on_shifted.neither
    );

    assert!(
        untrained.cheese.rate < 0.7,
        "a random policy should not already succeed"
    );
    assert!(
        on_train.reached_cheese.rate >= 0.9,
        "cheese rate on training levels: {}",
        on_train.reached_cheese
    );
    assert!(
        on_shifted.corner.low > on_shifted.cheese.high,
        "corner-first ({}) should clearly beat cheese ({}) off-distribution",
        on_shifted.corner,
        on_shifted.cheese
    );
}
