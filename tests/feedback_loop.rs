//! The feedback loop end to end with the oracle judge (tiny config, fixed seeds): the reward model
//! learns what the cheese is, and with lambda = 0 the fine-tuned arm reproduces the baseline
//! exactly (both arms start from the same tau*T checkpoint; only the reward differs).

use std::process::Command;

fn run_study(out: &std::path::Path, lambda: &str) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args([
            "study",
            "--config",
            "assets/configs/study-7x7.ron",
            "--judge",
            "oracle",
            "--out",
        ])
        .arg(out)
        .args([
            "--set",
            "regions=[3]",
            "--set",
            "train.ppo.total_timesteps=131072",
            "--set",
        ])
        .arg(format!("lambda={lambda}"))
        .args([
            "--set",
            "pairs=200",
            "--set",
            "feedback_rollouts=200",
            "--set",
            "eval_episodes=300",
        ])
        .output()
        .expect("study runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read(out.join("cells/r03-s0/result.json")).expect("cell result");
    serde_json::from_slice(&text).expect("json")
}

#[test]
fn the_loop_learns_a_cheese_reward_and_lambda_zero_reproduces_the_baseline() {
    let out = std::env::temp_dir().join(format!("maze-rllf-loop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let result = run_study(&out, "0.0");
    assert_eq!(
        result["baseline"], result["feedback"],
        "lambda = 0 must change nothing"
    );
    let rm = &result["reward_model"];
    let cheese = rm["cheese_step_reward"]
        .as_f64()
        .expect("cheese step reward");
    let other = rm["other_step_reward"].as_f64().expect("other step reward");
    let bump = rm["bump_step_reward"].as_f64().expect("bump step reward");
    assert!(
        cheese > other + 0.1 && cheese > bump + 0.1,
        "R_hat ranks steps onto the cheese highest: {rm}"
    );
    // The paper's held-out F1 for (1,0) / (0,1) was .67 / .69.
    for class in 0..2 {
        let f1 = rm["table"][class]["f1"].as_f64().unwrap_or(0.0);
        assert!(f1 > 0.7, "held-out decisive pairs are recognised: {rm}");
    }
    assert_eq!(result["judge_stats"]["oracle_agreement"], 1.0);
    assert_eq!(result["judge_stats"]["failures"], 0);
    assert_eq!(result["names_confound"], true);
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(
        report.contains("| 3 |")
            && report.contains("Reward model")
            && report.contains("Judge diagnostics")
    );
    let _ = std::fs::remove_dir_all(&out);
}
