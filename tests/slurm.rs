//! The study on a real one-node Slurm cluster started by the test (`scripts/slurm/local-cluster.sh`):
//! `scripts/slurm/submit-study.sh` submits a 2-task job array and the merge job; the merged tables
//! equal those of the same study run in one process. Only the daemons the test started are stopped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The cluster's folder; the daemons are stopped when it is dropped (also when a check fails).
struct Cluster {
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("scripts/slurm/local-cluster.sh")
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The small study's settings (two regions, two arms, the reference agent).
const STUDY: &[&str] = &[
    "--set",
    "regions=[1,4]",
    "--set",
    "seeds=[0]",
    "--set",
    "train.ppo.total_timesteps=8192",
    "--set",
    "train.ppo.num_envs=16",
    "--set",
    "train.ppo.num_steps=64",
    "--set",
    "round.pairs=20",
    "--set",
    "round.feedback_rollouts=40",
    "--set",
    "round.inspect_rollouts=4",
    "--set",
    "train.eval_episodes=40",
    "--set",
    "round.reward.epochs=2",
    "--set",
    r#"arms=["baseline", "paper"]"#,
];

fn table_rows(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

fn slurm(cluster: &Cluster, tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool)
        .args(args)
        .env("SLURM_CONF", cluster.dir.join("slurm.conf"))
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_study_submitted_as_a_slurm_array_and_merged_equals_one_process() {
    let id = std::process::id();
    let temp = |name: &str| std::env::temp_dir().join(format!("maze-rllf-slurm-{name}-{id}"));
    let started = Command::new("scripts/slurm/local-cluster.sh")
        .arg("start")
        .arg(temp("cluster"))
        .output()
        .expect("the cluster script runs");
    let cluster = Cluster {
        dir: temp("cluster"),
    };
    assert!(
        started.status.success(),
        "the one-node Slurm cluster did not start (install it with `scripts/apt-install.sh \
         slurmctld slurmd slurm-client munge`; scripts/test.sh does): {}",
        String::from_utf8_lossy(&started.stderr)
    );

    let (one, shared) = (temp("one"), temp("shared"));
    for dir in [&one, &shared] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let bin = env!("CARGO_BIN_EXE_maze-rllf");
    let output = Command::new(bin)
        .args(["study", "--config", "assets/configs/study-7x7.ron", "--out"])
        .arg(&one)
        .args(STUDY)
        .output()
        .expect("one process");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let submitted = Command::new("scripts/slurm/submit-study.sh")
        .args([
            "--slices",
            "2",
            "--cpus",
            "1",
            "assets/configs/study-7x7.ron",
        ])
        .arg(&shared)
        .args(STUDY)
        .env("SLURM_CONF", cluster.dir.join("slurm.conf"))
        .env("MAZE_RLLF_BIN", bin)
        .output()
        .expect("submit runs");
    let said = String::from_utf8_lossy(&submitted.stdout);
    assert!(
        submitted.status.success() && said.contains("merge job"),
        "{said}{}",
        String::from_utf8_lossy(&submitted.stderr)
    );

    let waited = Instant::now();
    while !slurm(&cluster, "squeue", &["-h"]).trim().is_empty() {
        assert!(
            waited.elapsed() < Duration::from_secs(240),
            "jobs still queued after 240 s: {}",
            slurm(&cluster, "squeue", &[])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs = |dir: &Path| -> String {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(".out"))
                    .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let log = logs(&shared);
    assert!(
        log.contains("slice 0/2") && log.contains("slice 1/2"),
        "each array task ran its slice: {log}"
    );
    assert!(
        log.contains("every cell finished"),
        "the merge job ran: {log}"
    );
    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}\n{log}"))
    };
    assert_eq!(read(&one, "results.csv"), read(&shared, "results.csv"));
    assert_eq!(
        table_rows(&read(&one, "report.md")),
        table_rows(&read(&shared, "report.md"))
    );
    for dir in [&one, &shared] {
        let _ = std::fs::remove_dir_all(dir);
    }
    drop(cluster);
}
