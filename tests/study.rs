//! The study as users run it: killed with SIGKILL and restarted, it skips finished cells and
//! replays cached labels instead of asking again; reports are written (every arm and the
//! reference agent); impossible settings are refused before anything runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn study_command(out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maze-rllf"));
    cmd.args([
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
        "regions=[1,4]",
        "--set",
        "train.ppo.total_timesteps=16384",
        "--set",
        "train.ppo.num_envs=16",
    ])
    .args([
        "--set",
        "train.ppo.num_steps=64",
        "--set",
        "round.pairs=40",
        "--set",
        "round.feedback_rollouts=60",
    ])
    .args([
        "--set",
        "round.inspect_rollouts=4",
        "--set",
        "train.eval_episodes=50",
        "--set",
        "validation_episodes=50",
        "--set",
        "round.reward.epochs=3",
    ])
    .args(["--set", "train.checkpoint_every=2"])
    .args([
        "--set",
        r#"arms=["baseline", "paper", "designer", "scenarios-env-reward", "ceiling"]"#,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

fn cell(out: &Path, region: usize) -> PathBuf {
    out.join("cells").join(format!("r{region:02}-s0"))
}

#[test]
fn a_killed_study_resumes_without_redoing_cells_or_losing_labels() {
    let out = std::env::temp_dir().join(format!("maze-rllf-study-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Cells run last-first: r=4, then r=1. Kill once r=4 is done and r=1 has labels.
    let mut child = study_command(&out).spawn().expect("study starts");
    let started = Instant::now();
    let labels = cell(&out, 1).join("labels.jsonl");
    loop {
        let first_done = cell(&out, 4).join("result.json").exists();
        let labelled = std::fs::read_to_string(&labels)
            .map(|t| t.lines().count() >= 10)
            .unwrap_or(false);
        if first_done && labelled {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the study made no progress"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the study ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let finished = cell(&out, 4).join("result.json");
    let before = std::fs::read(&finished).expect("finished cell");
    let modified = std::fs::metadata(&finished)
        .and_then(|m| m.modified())
        .expect("mtime");
    let labels_before = std::fs::read_to_string(&labels)
        .expect("labels")
        .lines()
        .count();
    assert!(
        !cell(&out, 1).join("result.json").exists(),
        "r=1 was interrupted"
    );

    let output = study_command(&out).output().expect("study restarts");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read(&finished).expect("finished cell"),
        before,
        "the finished cell was not redone"
    );
    assert_eq!(
        std::fs::metadata(&finished)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(cell(&out, 1).join("result.json")).expect("r=1 finished"),
    )
    .expect("json");
    let replayed = result["cached_answers"].as_u64().expect("cached_answers");
    assert!(
        replayed as usize >= labels_before.saturating_sub(1),
        "cached labels were replayed: {replayed} of {labels_before}"
    );
    for file in ["results.csv", "report.md", "plot.png", "plot.svg"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).expect("csv");
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 5 * 2 + 1,
        "header + 2 cells x 5 arms x (test, validation) + the reference agent"
    );
    for arm in [
        "baseline",
        "paper",
        "designer",
        "scenarios-env-reward",
        "ceiling",
    ] {
        assert_eq!(
            csv.lines()
                .filter(|l| l.contains(&format!(",{arm},")))
                .count(),
            4,
            "{arm} in both cells, on test and validation mazes"
        );
        let uses_scenarios = ["designer", "scenarios-env-reward"].contains(&arm);
        let file = if uses_scenarios {
            // The config names no shares: the round's default share.
            format!(
                "{arm}-share{}.json",
                maze_rllf::experiment::round::DEFAULT_SCENARIO_SHARE
            )
        } else {
            format!("{arm}.json")
        };
        assert!(cell(&out, 1).join(file).exists(), "{arm}");
    }
    assert!(csv.lines().any(|l| l.starts_with("all,0,reference,")));
    assert!(out.join("reference/s0.json").exists());
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(
        report.contains("| 4 | designer |")
            && report.contains("McNemar")
            && report.contains("reference (trained on the shifted mazes"),
        "{report}"
    );
    // What each cell cost: r=4 ran whole in the first run, r=1 was resumed by the second.
    let cost = |r: usize| -> serde_json::Value {
        let text = std::fs::read(cell(&out, r).join("result.json")).expect("result");
        let result: serde_json::Value = serde_json::from_slice(&text).expect("json");
        result["cost"].clone()
    };
    let (whole, resumed) = (cost(4), cost(1));
    assert_eq!(whole["resumed"], false, "{whole}");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    for part in ["pretrain_seconds", "round_seconds", "judge_seconds"] {
        let seconds = whole[part].as_f64().expect(part);
        assert!(seconds >= 0.0 && seconds.is_finite(), "{part}: {whole}");
    }
    assert!(
        whole["round_seconds"].as_f64() > Some(0.0)
            && whole["round_seconds"].as_f64() >= whole["judge_seconds"].as_f64(),
        "the round took time and the judge's share is part of it: {whole}"
    );
    if cfg!(target_os = "linux") {
        assert!(whole["peak_memory_mib"].as_f64() > Some(1.0), "{whole}");
    }
    assert!(
        report.contains("## What each cell cost")
            && report.contains("- r=4 s=0: ")
            && report.contains("resumed; this run's part: "),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn study_settings_out_of_range_are_refused_with_the_fix_before_anything_runs() {
    let out = std::env::temp_dir().join(format!("maze-rllf-study-bad-{}", std::process::id()));
    let output = study_command(&out)
        .args(["--set", "shares=[0.1, 1.5]"])
        .output()
        .expect("study runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("shares holds 1.5") && stderr.contains("from 0 to 1"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing was written");
    let output = study_command(&out)
        .args(["--set", r#"arms=["paper"]"#])
        .output()
        .expect("study runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no `baseline`"), "{stderr}");
    let output = study_command(&out)
        .args(["--set", r#"arms=["baseline", "designers"]"#])
        .output()
        .expect("study runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown arm `designers`"), "{stderr}");
    for (bad, needle) in [
        ("tau=1.5", "tau is 1.5"),
        ("train.eval_episodes=0", "train.eval_episodes is 0"),
        ("round.reward.hidden=0", "round: reward.hidden is 0"),
        ("round.lambda=2", "lambda is 2"),
    ] {
        let output = study_command(&out)
            .args(["--set", bad])
            .output()
            .expect("study runs");
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{bad}: {stderr}");
    }
    assert!(!out.exists(), "nothing was written");
}

/// A small study (two regions, two arms, the reference agent) into `out`, with `extra` flags.
fn small_study(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = study_command(out);
    cmd.args(["--set", r#"arms=["baseline", "paper"]"#])
        .args(["--set", "train.ppo.total_timesteps=8192"])
        .args(extra);
    cmd
}

/// The Markdown table rows of a report (no wall times in them).
fn table_rows(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with('|')).collect()
}

#[test]
fn slices_run_by_separate_workers_and_merged_give_the_tables_of_one_process() {
    let id = std::process::id();
    let one = std::env::temp_dir().join(format!("maze-rllf-study-one-{id}"));
    let shared = std::env::temp_dir().join(format!("maze-rllf-study-shared-{id}"));
    for dir in [&one, &shared] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let output = small_study(&one, &[]).output().expect("one process");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A worker killed mid-cell left its lock behind: the next run takes the cell over.
    let stale = shared.join("cells/r04-s0");
    std::fs::create_dir_all(&stale).expect("cell folder");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    std::fs::write(stale.join("lock"), format!("{} {}", host.trim(), u32::MAX)).expect("lock");

    // Two workers on one shared folder at the same time, as two Slurm array tasks.
    let workers: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|slice| {
            small_study(&shared, &["--cells", slice])
                .spawn()
                .expect("worker starts")
        })
        .collect();
    for worker in workers {
        let output = worker.wait_with_output().expect("worker ends");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("slice ") && stdout.contains("--merge"),
            "{stdout}"
        );
    }
    assert!(
        !shared.join("report.md").exists(),
        "workers write no reports"
    );
    let merge = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
            .args(["study", "--merge"])
            .arg(dir)
            .output()
            .expect("merge runs")
    };
    let output = merge(&shared);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("every cell finished"));
    let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).expect(file);
    assert_eq!(read(&one, "results.csv"), read(&shared, "results.csv"));
    let (a, b) = (read(&one, "report.md"), read(&shared, "report.md"));
    assert_eq!(table_rows(&a), table_rows(&b));
    assert!(
        !stale.join("lock").exists(),
        "the stale lock was taken over and released"
    );

    // A finished cell is never redone; a missing one is listed by the merge.
    let finished = cell(&shared, 4).join("result.json");
    let modified = std::fs::metadata(&finished)
        .and_then(|m| m.modified())
        .expect("mtime");
    let output = small_study(&shared, &["--cells", "0/2"])
        .output()
        .expect("rerun");
    assert!(output.status.success());
    assert_eq!(
        std::fs::metadata(&finished)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
    std::fs::remove_file(cell(&shared, 1).join("result.json")).expect("remove");
    let output = merge(&shared);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 units not finished") && stdout.contains("r=1 seed=0"),
        "{stdout}"
    );
    for dir in [&one, &shared] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
