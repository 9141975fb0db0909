//! The real app, rendered under Xvfb with Mesa's software Vulkan: it starts, draws the 2D and 3D
//! scenes with the panel, saves a screenshot of each, and exits. The screenshots must not be blank
//! (pixel variance) and must show the maze's walls. `scripts/test.sh` installs Xvfb and Mesa.
#![cfg(feature = "app")]

mod screenshot;
use screenshot::read_png;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn luminance_variance(pixels: &[[u8; 3]]) -> f64 {
    let lum: Vec<f64> = pixels
        .iter()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}

fn share(pixels: &[[u8; 3]], pick: impl Fn(&[u8; 3]) -> bool) -> f64 {
    pixels.iter().filter(|p| pick(p)).count() as f64 / pixels.len() as f64
}

fn near(p: &[u8; 3], c: [u8; 3], tolerance: i32) -> bool {
    p.iter()
        .zip(c)
        .all(|(a, b)| (*a as i32 - b as i32).abs() <= tolerance)
}

#[test]
fn the_app_renders_the_2d_and_3d_scenes_with_the_panel() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render");
    let _ = std::fs::remove_dir_all(&dir);
    let flat = dir.join("scene-2d.png");
    let blocks = dir.join("scene-3d.png");
    let args: Vec<String> = vec![
        "app".into(),
        "--window".into(),
        "1024x640".into(),
        "--exit-after".into(),
        "400".into(),
        "--screenshot".into(),
        format!("2d={}", flat.display()),
        "--screenshot".into(),
        format!("3d={}", blocks.display()),
    ];
    run_under_xvfb(&dir, &args, 420);

    let wall = maze_rllf::sim::render::colors::WALL;
    let (w, h, px) = read_png(&flat);
    assert_eq!((w, h), (1024, 640));
    let variance = luminance_variance(&px);
    assert!(
        variance > 200.0,
        "2D screenshot looks blank: variance {variance}"
    );
    let walls = share(&px, |p| near(p, wall, 6));
    assert!(walls > 0.01, "the 2D scene shows no wall colour ({walls})");
    let floor = share(&px, |p| near(p, maze_rllf::sim::render::colors::FLOOR, 6));
    assert!(floor > 0.01, "the 2D scene shows no floor ({floor})");
    // The drawn cheese wedges (the actors' cheese colour), one per maze.
    let cheese = share(&px, |p| near(p, [250, 200, 40], 10));
    assert!(cheese > 0.0003, "the 2D scene shows no cheese ({cheese})");

    let (_, _, px3) = read_png(&blocks);
    let variance = luminance_variance(&px3);
    assert!(
        variance > 200.0,
        "3D screenshot looks blank: variance {variance}"
    );
    // Lit walls keep their hue: dark, blue-dominant pixels.
    let walls = share(&px3, |p| {
        p[2] as i32 > p[0] as i32 + 20 && p[2] >= p[1] && (p[0] as i32 + p[1] as i32) < 260
    });
    assert!(walls > 0.01, "the 3D scene shows no walls ({walls})");
    let differ = px.iter().zip(&px3).filter(|(a, b)| a != b).count() as f64 / px.len() as f64;
    assert!(differ > 0.1, "the 3D view looks like the 2D view");
}

/// Runs `maze-rllf ARGS` under Xvfb (private runtime dir), failing after `secs` seconds.
fn run_under_xvfb(dir: &Path, args: &[String], secs: u64) -> String {
    assert!(
        Command::new("xvfb-run").arg("--help").output().is_ok(),
        "xvfb-run is missing: run scripts/test.sh (it installs xvfb and mesa-vulkan-drivers)"
    );
    let runtime = dir.join("xdg");
    std::fs::create_dir_all(&runtime).expect("dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1024x640x24"])
        .arg(env!("CARGO_BIN_EXE_maze-rllf"))
        .args(args)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run starts");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("maze-rllf {args:?} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.success(),
        "maze-rllf {args:?} failed: {status}\n{stderr}"
    );
    stderr
}

/// The demo end to end on a tiny budget (an agent paused after 8 iterations of a 16-iteration
/// run, the oracle judge): its report holds every stage, the judge, the round, and the
/// before/after table of the same shifted mazes with McNemar's test and the control arms.
#[test]
fn the_auto_demo_writes_a_report_with_the_judge_and_the_before_after_table() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo-report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let tiny = [
        "--set",
        "ppo.total_timesteps=16384",
        "--set",
        "ppo.num_envs=16",
        "--set",
        "ppo.num_steps=64",
    ];
    let agent = dir.join("agent");
    let trained = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args(["train", "--config", "assets/configs/quick-7x7.ron"])
        .args(tiny)
        .args(["--stop-at", "8192", "--out"])
        .arg(&agent)
        .output()
        .expect("train runs");
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let report = dir.join("demo.json");
    let mut args: Vec<String> = [
        "demo", "--auto", "--judge", "oracle", "--window", "1024x640",
    ]
    .map(String::from)
    .to_vec();
    args.extend(tiny.map(String::from));
    args.extend([
        "--checkpoint".into(),
        agent.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ]);
    run_under_xvfb(&dir, &args, 400);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("json");
    let stages = json["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 9, "every step: {json}");
    assert!(json["total_seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(json["judge"]["backend"], "oracle");
    assert!(
        json["judge"]["model"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let table = &json["before_after"];
    assert_eq!(table["arm"], "designer");
    for side in ["before", "after"] {
        let summary = &table[side]["summary"];
        assert_eq!(summary["episodes"], 400, "{side}: {summary}");
        for rate in ["cheese", "corner", "neither"] {
            let r = &summary[rate];
            let (low, p, high) = (r["low"].as_f64(), r["rate"].as_f64(), r["high"].as_f64());
            assert!(
                matches!((low, p, high), (Some(l), Some(p), Some(h)) if l <= p && p <= h),
                "{side} {rate}: {r}"
            );
        }
        assert_eq!(table[side]["outcomes"].as_str().map(str::len), Some(400));
    }
    let p = table["cheese_test"]["p_value"].as_f64().expect("p-value");
    assert!((0.0..=1.0).contains(&p));
    // The LLM-free controls (the demo's default), on the same mazes, tested against the designer.
    let controls = table["controls"].as_array().expect("controls");
    let arms: Vec<&str> = controls.iter().filter_map(|c| c["arm"].as_str()).collect();
    assert_eq!(
        arms,
        ["random-scenarios", "scenarios-env-reward"],
        "{table}"
    );
    for control in controls {
        assert_eq!(
            control["outcome"]["outcomes"].as_str().map(str::len),
            Some(400)
        );
        let test = &control["versus_tuned"];
        let p = test["p_value"].as_f64().expect("p-value");
        assert!((0.0..=1.0).contains(&p), "{test}");
        // Its discordant mazes are recounted from the two agents' outcomes.
        let letters = |v: &serde_json::Value| -> Vec<bool> {
            v.as_str()
                .expect("outcomes")
                .chars()
                .map(|c| c == 'c')
                .collect()
        };
        let (control_wins, tuned_wins) = letters(&control["outcome"]["outcomes"])
            .iter()
            .zip(letters(&table["after"]["outcomes"]))
            .fold((0, 0), |(c, t), (&a, b)| {
                (c + usize::from(a && !b), t + usize::from(b && !a))
            });
        assert_eq!(test["only_first"], control_wins);
        assert_eq!(test["only_second"], tuned_wins);
    }
    let round = &json["round"];
    assert!(
        round["analysis"].as_str().is_some_and(|a| !a.is_empty()),
        "{round}"
    );
    assert!(
        round["rounds_without_scenarios"].as_u64().is_some(),
        "{round}"
    );
}
