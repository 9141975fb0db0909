//! The `maze-rllf` binary as users run it: show, train (+ resume), eval --json, bench --json, and
//! clear errors with a non-zero exit code on bad input.

use std::process::{Command, Output};

fn maze_rllf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn show_draws_valid_levels_and_explains_invalid_ones() {
    let out = maze_rllf(&["show", "levels/cheese-beside-start.ron"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("valid fixed level") && text.contains("#MC.#####"),
        "{text}"
    );

    let out = maze_rllf(&["show", "levels/train.ron", "--count", "2"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).matches("seed ").count(), 2);

    let bad = std::env::temp_dir().join(format!("maze-rllf-bad-{}.ron", std::process::id()));
    std::fs::write(
        &bad,
        "Fixed(\n  name: \"b\",\n  rows: [\"#M#\", \"#?C\", \"###\"],\n)\n",
    )
    .expect("write");
    let out = maze_rllf(&["show", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(":3:") && err.contains("unknown tile '?'"),
        "{err}"
    );
    let _ = std::fs::remove_file(bad);
}

#[test]
fn train_resume_and_eval_json() {
    let run = std::env::temp_dir().join(format!("maze-rllf-cli-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    let run_str = run.to_str().expect("utf-8 path");
    let common = [
        "--config",
        "assets/configs/quick-7x7.ron",
        "--set",
        "ppo.num_envs=8",
        "--set",
        "ppo.num_steps=16",
        "--set",
        "eval_episodes=20",
        "--set",
        "checkpoint_every=1",
        "--set",
        r#"levels={"File":"levels/train.ron"}"#,
    ];
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--set", "ppo.total_timesteps=256", "--out", run_str]);
    let out = maze_rllf(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("corner-first"));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    assert_eq!(metrics.lines().count(), 2);
    assert!(metrics.contains("\"charts/SPS\"") && metrics.contains("\"losses/approx_kl\""));
    let csv = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv");
    assert_eq!(csv.lines().count(), 3, "header + 2 rows");

    // A fresh run into a folder that holds one is refused, and says what to do instead.
    let out = maze_rllf(&args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--resume") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    // A run killed after iteration 3 but before its checkpoint left a line (torn, too) that
    // resuming from iteration 2 must not keep: the iterations are trained and logged again.
    let last_line = metrics.lines().last().expect("a line").to_string();
    let logged_after_checkpoint = last_line.replace("\"iteration\":2", "\"iteration\":3");
    assert_ne!(logged_after_checkpoint, last_line);
    std::fs::write(
        run.join("metrics.jsonl"),
        format!("{metrics}{logged_after_checkpoint}\n{{\"charts/SPS\": 1"),
    )
    .expect("write");

    let out = maze_rllf(&[
        "train",
        "--resume",
        run_str,
        "--set",
        "ppo.total_timesteps=512",
        "--out",
        run_str,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    assert_eq!(
        metrics.lines().count(),
        4,
        "resume appends the next iterations"
    );
    assert!(
        metrics
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"global_step\":512"))
    );

    // An override that breaks the config is refused before anything trains or is written.
    let latest = std::fs::read_to_string(run.join("latest")).expect("latest");
    for bad in [
        "ppo.num_minibatches=3",
        "ppo.num_steps=0",
        "ppo.num_minibatches=4096",
    ] {
        let out = maze_rllf(&[
            "train",
            "--resume",
            run_str,
            "--set",
            bad,
            "--set",
            "ppo.total_timesteps=1024",
            "--out",
            run_str,
        ]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = stderr(&out);
        assert!(err.contains("ppo.num"), "{bad}: {err}");
        assert_eq!(
            std::fs::read_to_string(run.join("latest")).expect("latest"),
            latest,
            "{bad}: no checkpoint was written"
        );
    }

    let out = maze_rllf(&[
        "eval",
        "--checkpoint",
        run_str,
        "--episodes",
        "30",
        "--json",
        "--levels",
        "levels/cheese-beside-start.ron",
        "levels/shifted-7x7.ron",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "train, shifted, and the two level files");
    for r in results {
        let s = &r["summary"];
        let total = ["cheese", "corner", "neither"]
            .iter()
            .map(|k| s[k]["rate"].as_f64().expect("rate"))
            .sum::<f64>();
        assert!((total - 1.0).abs() < 1e-9);
        assert_eq!(s["episodes"], 30);
    }
    // A level that does not fit the policy's world is refused clearly.
    let out = maze_rllf(&[
        "eval",
        "--checkpoint",
        run_str,
        "--levels",
        "levels/train-hard.ron",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("world_size 25"), "{}", stderr(&out));

    // --force starts over: the old checkpoints and metrics are gone, not mixed in.
    args.push("--force");
    let out = maze_rllf(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    assert_eq!(metrics.lines().count(), 2, "only the new run's iterations");
    assert!(!run.join("checkpoint-0000000512").exists());
    let _ = std::fs::remove_dir_all(&run);
}

#[test]
fn bad_config_and_missing_checkpoint_are_clear_errors() {
    let out = maze_rllf(&[
        "train",
        "--config",
        "assets/configs/quick-7x7.ron",
        "--set",
        "ppo.nope=1",
        "--out",
        "/tmp/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown key 'nope'"),
        "{}",
        stderr(&out)
    );
    let out = maze_rllf(&["eval", "--checkpoint", "/nonexistent/run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a checkpoint"),
        "{}",
        stderr(&out)
    );
    // The menu ranking needs the benchmark's corners.
    let out = maze_rllf(&["judge-eval", "--rank-menu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--rank-menu needs --diagnosis"),
        "{}",
        stderr(&out)
    );
    // ... and at least one corner-seeking agent kind to rank for.
    let config = std::fs::read_to_string("assets/configs/diagnosis-7x7.ron").expect("config");
    let healthy_only = config.replace(
        "kinds: [Corner(TopRight), Corner(TopLeft), Corner(BottomRight), Healthy]",
        "kinds: [Healthy]",
    );
    assert_ne!(
        healthy_only, config,
        "the shipped config lists its kinds on one line"
    );
    let path = std::env::temp_dir().join(format!("maze-rllf-healthy-{}.ron", std::process::id()));
    std::fs::write(&path, healthy_only).expect("write config");
    let out = maze_rllf(&[
        "judge-eval",
        "--rank-menu",
        "--diagnosis",
        path.to_str().expect("utf-8 path"),
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no corner-seeking kind"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_json_reports_every_measurement() {
    let out = maze_rllf(&["bench", "--quick", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let build = report["build"].as_str().expect("the build profile");
    assert!(build == "dev" || build == "release", "{build}");
    let env = report["env"].as_array().expect("env results");
    assert_eq!(env.len(), 8);
    assert!(
        env.iter()
            .all(|e| e["steps_per_second"].as_f64().unwrap_or(0.0) > 1e5)
    );
    assert!(
        report["generation"][0]["mazes_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            > 1e3
    );
    let ppo = report["ppo"].as_array().expect("PPO results");
    assert_eq!(ppo.len(), 2, "the MLP and the conv policy");
    for run in ppo {
        let sps = run["env_steps_per_second"].as_f64().unwrap_or(0.0);
        assert!(sps > 100.0, "{run}");
    }
}

/// `bench --profile`: the iteration's wall-clock phases fit inside it, the conv kernels' products
/// report a rate, and the cores' peak is measured.
#[test]
fn bench_profile_times_a_conv_iteration_phase_by_phase() {
    let config = "assets/configs/impala-conv.ron";
    let out = maze_rllf(&["bench", "--profile", "1", "--config", config, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(report["peak"]["one_core_gflops"].as_f64().unwrap_or(0.0) > 0.1);
    let phases = report["phases"].as_array().expect("phases");
    let product = phases
        .iter()
        .find(|p| p["phase"] == "conv 1 product (forward)")
        .expect("the first convolution's product");
    assert!(product["gflops"].as_f64().unwrap_or(0.0) > 0.0, "{product}");
    let iteration = report["seconds_per_iteration"].as_f64().expect("seconds");
    let wall: f64 = phases
        .iter()
        .filter(|p| p["clock"] == "wall clock")
        .map(|p| p["seconds_per_iteration"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(
        wall > 0.0 && wall <= iteration * 1.01,
        "{wall} of {iteration}"
    );
}

#[test]
fn record_writes_episode_gifs_and_pngs_of_the_shipped_agent() {
    let dir = std::env::temp_dir().join(format!("maze-rllf-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let gif = dir.join("ep.gif");
    let out = maze_rllf(&[
        "record",
        "--checkpoint",
        "assets/checkpoints/corner-7x7",
        "--level",
        "levels/shifted-7x7.ron",
        "--out",
        gif.to_str().expect("utf-8 path"),
        "--count",
        "2",
        "--png",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["ep-1.gif", "ep-2.gif"] {
        let bytes = std::fs::read(dir.join(name)).expect("gif written");
        assert!(bytes.starts_with(b"GIF89a"), "{name}");
    }
    let png = std::fs::read(dir.join("ep-1.png")).expect("png written");
    assert!(png.starts_with(b"\x89PNG"));
    assert!(stdout(&out).contains("outcome"), "{}", stdout(&out));

    // A level of another world size is a clear error, not a panic.
    let out = maze_rllf(&[
        "record",
        "--checkpoint",
        "assets/checkpoints/corner-7x7",
        "--level",
        "levels/fork-in-the-road.ron",
        "--out",
        gif.to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("world"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "app")]
#[test]
fn bad_app_arguments_are_clear_errors_before_any_window_opens() {
    for (args, expected) in [
        (&["app", "--window", "wide"][..], "--window wide"),
        (&["app", "--at", "5=jump"][..], "unknown action `jump`"),
        (&["app", "--at", "soon=run"][..], "not a number of seconds"),
        (&["app", "--overlay", "fog"][..], "--overlay fog"),
        (
            &["app", "--screenshot", "4d=x.png"][..],
            "the view is 2d or 3d",
        ),
        (
            &["app", "--level", "levels/nope.ron"][..],
            "levels/nope.ron",
        ),
        (
            &["demo", "--config", "assets/configs/missing.ron"][..],
            "missing.ron",
        ),
        (
            &["demo", "--controls", "random-scenarios,lucky"][..],
            "--controls: unknown arm `lucky`",
        ),
        (&["app", "--judge", "gpt"][..], "unknown judge `gpt`"),
        (
            &["app", "--open-window", "plots"][..],
            "the windows are library and compare",
        ),
        (
            &["app", "--at", "3=compare:live"][..],
            "expected compare:A,B",
        ),
        (&["app", "--judge", "human"][..], "label pairs yourself"),
        (
            &["app", "--at", "3=new:assets/configs/missing.ron"][..],
            "missing.ron",
        ),
        (
            &["study", "--judge", "gpt", "--config", "x", "--out", "y"][..],
            "oracle",
        ),
    ] {
        let out = maze_rllf(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: an error, not a panic"
        );
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[cfg(feature = "app")]
#[test]
fn the_app_without_a_display_says_how_to_run_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .arg("app")
        .env_remove("DISPLAY")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("xvfb-run"), "{}", stderr(&out));
}

#[test]
fn commands_work_from_any_working_directory() {
    // Shipped checkpoints, their level files and the configs' `levels: File(..)` are found from
    // elsewhere (here: an empty temporary folder).
    let elsewhere =
        std::env::temp_dir().join(format!("maze-rllf-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).expect("folder");
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
            .args(args)
            .current_dir(&elsewhere)
            .output()
            .expect("the binary runs")
    };
    let out = run(&[
        "eval",
        "--checkpoint",
        "assets/checkpoints/corner-7x7",
        "--episodes",
        "8",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = format!("{root}/assets/configs/quick-7x7.ron");
    let out = run(&[
        "train",
        "--config",
        &config,
        "--set",
        "ppo.total_timesteps=512",
        "--set",
        "ppo.num_envs=8",
        "--set",
        "ppo.num_steps=64",
        "--set",
        "eval_episodes=4",
        "--out",
        "run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elsewhere.join("run/latest").exists());
    let _ = std::fs::remove_dir_all(&elsewhere);
}
