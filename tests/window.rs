//! The app through a real window, as a person uses it: the app under Xvfb (Mesa's software
//! Vulkan). The editor: the mouse and keys from `xdotool`, the maze found in the app's own
//! screenshot (F12), a stroke painted on the scene, undone, another painted, Ctrl+S, and the
//! saved file read back. Runs: a run folder opened in a running app brings its logged history
//! into the plots (read back from the frame log). `scripts/test.sh` installs Xvfb and xdotool.
#![cfg(feature = "app")]

mod screenshot;
use maze_rllf::level::Pos;
use maze_rllf::level::edit::{Editor, Tile};
use screenshot::read_png;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const WIDTH: usize = 1024;
const HEIGHT: usize = 640;
const SIDE: usize = 7;

/// An X server of its own on a display it picks itself (`-displayfd`: no two servers race for
/// one number), stopped with SIGTERM on drop so it removes its lock file and socket.
struct Display {
    number: u32,
    server: Child,
}

impl Display {
    fn start() -> Self {
        let mut server = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0"])
            .arg(format!("{WIDTH}x{HEIGHT}x24"))
            .args(["-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is missing: run scripts/test.sh (it installs xvfb and xdotool)");
        // Xvfb writes its display's number once it accepts clients.
        let mut line = String::new();
        let stdout = server.stdout.take().expect("Xvfb's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("Xvfb's display number");
        let number = line.trim().parse().unwrap_or_else(|_| {
            let _ = server.kill();
            panic!("Xvfb did not start (it printed {line:?} instead of a display number)")
        });
        Self { number, server }
    }

    fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// Runs `xdotool ARGS` on this display.
    fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", self.name())
            .output()
            .expect("xdotool is missing: run scripts/test.sh (it installs it)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        stop(&mut self.server);
    }
}

/// SIGTERM (the process cleans up after itself), SIGKILL if that fails or it is still running
/// after 10 s.
fn stop(child: &mut Child) {
    let termed = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while termed && Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The app under test: its stderr kept in a file so a failure can show it; stopped on drop.
struct Launched {
    child: Child,
    stderr: PathBuf,
}

impl Launched {
    fn spawn(command: &mut Command, dir: &Path) -> Self {
        let stderr = dir.join("app.stderr");
        let file = std::fs::File::create(&stderr).expect("the app's stderr file");
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the app starts");
        Self { child, stderr }
    }

    /// `wait_for` while the app runs: an app that exits early or a wait that times out fails
    /// with the app's own last words.
    fn wait_for(&mut self, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            if let Some(status) = self.child.try_wait().expect("the app's status") {
                panic!(
                    "{what}: the app exited first ({status}):\n{}",
                    self.stderr_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not there after {limit:?}; the app's stderr:\n{}",
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// One windowed app at a time: two software-rendered apps beside a training run on a small
/// machine starve each other.
fn one_window_at_a_time() -> MutexGuard<'static, ()> {
    static WINDOWS: Mutex<()> = Mutex::new(());
    WINDOWS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pause() {
    // A few frames of the software renderer.
    std::thread::sleep(Duration::from_millis(700));
}

/// The scene's maze in a screenshot: the widest run of columns holding wall-coloured pixels
/// (the panel's minimap is a narrower one), and its rows. Returns (left, top, cell size).
fn maze_on_screen(width: usize, pixels: &[[u8; 3]]) -> Option<(f32, f32, f32)> {
    let wall = maze_rllf::sim::render::colors::WALL;
    let is_wall = |p: &[u8; 3]| {
        p.iter()
            .zip(wall)
            .all(|(a, b)| (*a as i32 - b as i32).abs() <= 6)
    };
    let height = pixels.len() / width;
    let column_has = |x: usize| {
        (0..height)
            .filter(|&y| is_wall(&pixels[y * width + x]))
            .count()
            > 3
    };
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for x in 0..width {
        if column_has(x) {
            match runs.last_mut() {
                Some((_, end)) if x - *end <= 24 => *end = x,
                _ => runs.push((x, x)),
            }
        }
    }
    let (left, right) = runs.into_iter().max_by_key(|(a, b)| b - a)?;
    let rows: Vec<usize> = (0..height)
        .filter(|&y| (left..=right).any(|x| is_wall(&pixels[y * width + x])))
        .collect();
    let (top, bottom) = (*rows.first()?, *rows.last()?);
    let cell = (right + 1 - left) as f32 / SIDE as f32;
    let square = ((bottom + 1 - top) as f32 - (right + 1 - left) as f32).abs() < 2.0 * cell;
    (cell > 20.0 && square).then_some((left as f32, top as f32, cell))
}

/// A private runtime folder for the app (Mesa and winit warn without one).
fn runtime_dir(dir: &Path) -> PathBuf {
    let runtime = dir.join("xdg");
    std::fs::create_dir_all(&runtime).expect("dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    runtime
}

#[test]
fn a_run_opened_in_the_app_brings_its_logged_history_into_the_plots() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("open-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = root.join("assets/configs/quick-7x7.ron");
    let run = dir.join("run");
    let trained = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .arg("train")
        .arg("--config")
        .arg(&config)
        .args([
            "--set",
            "ppo.total_timesteps=8192",
            "--set",
            "ppo.num_envs=16",
        ])
        .args(["--set", "ppo.num_steps=64", "--out"])
        .arg(&run)
        .output()
        .expect("train runs");
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let logged: Vec<serde_json::Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("the run's log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    assert_eq!(logged.len(), 8, "8192 steps of 16 x 64");
    let first_step = logged[0]["global_step"].as_u64().expect("step");

    let frames = dir.join("frames.csv");
    let _turn = one_window_at_a_time();
    let display = Display::start();
    let ran = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args([
            "app", "--judge", "oracle", "--window", "800x600", "--config",
        ])
        .arg(&config)
        .arg("--at")
        .arg(format!("4=open:{}", run.display()))
        .args(["--exit-after", "40", "--frame-log"])
        .arg(&frames)
        .env("DISPLAY", display.name())
        .env("XDG_RUNTIME_DIR", runtime_dir(&dir))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the app runs");
    assert!(
        ran.status.success(),
        "the app exited with {}:\n{}",
        ran.status,
        String::from_utf8_lossy(&ran.stderr)
    );
    let log = std::fs::read_to_string(&frames).expect("frame log");
    let mut rows = log.lines();
    let header: Vec<&str> = rows.next().expect("header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (count, first) = (column("plotted_iterations"), column("first_plotted_step"));
    let last: Vec<&str> = rows.last().expect("frames logged").split(',').collect();
    assert_eq!(
        last[count], "8",
        "the plots hold the run's 8 logged iterations"
    );
    assert_eq!(
        last[first],
        first_step.to_string(),
        "the plots start at the run's first logged iteration"
    );
}

#[test]
fn a_stroke_painted_on_the_scene_is_undone_as_one_step_and_the_next_one_saved() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("editor-window");
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = runtime_dir(&dir);
    let level = dir.join("painted.ron");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _turn = one_window_at_a_time();
    let display = Display::start();
    let mut app = Launched::spawn(
        Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
            .args([
                "app",
                "--judge",
                "oracle",
                "--window",
                &format!("{WIDTH}x{HEIGHT}"),
            ])
            .args(["--exit-after", "400", "--config"])
            .arg(root.join("assets/configs/quick-7x7.ron"))
            .arg("--edit")
            .arg(&level)
            // F12's screenshots go to ./recordings: the test's own folder.
            .current_dir(&dir)
            .env("DISPLAY", display.name())
            .env("XDG_RUNTIME_DIR", &runtime),
        &dir,
    );

    let mut window = String::new();
    app.wait_for(Duration::from_secs(180), "the app's window", || {
        window = display.xdotool(&["search", "--name", "maze-rllf"]);
        !window.is_empty()
    });
    let window = window.lines().next().expect("a window id").to_string();
    display.xdotool(&["windowfocus", &window]);
    display.xdotool(&["mousemove", "--window", &window, "5", "5"]);

    // Screenshots until the maze is on screen (the first frames can be empty).
    let mut shots = 0;
    let mut maze = None;
    app.wait_for(Duration::from_secs(180), "the maze in a screenshot", || {
        let shot = dir.join(format!("recordings/maze-rllf-{:03}.png", shots + 1));
        display.xdotool(&["key", "F12"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !shot.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        if !shot.exists() {
            return false;
        }
        shots += 1;
        std::thread::sleep(Duration::from_millis(300));
        let (w, h, px) = read_png(&shot);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        maze = maze_on_screen(w, &px);
        maze.is_some()
    });
    let (left, top, cell) = maze.expect("maze found");
    let at = |p: Pos| {
        (
            format!("{}", (left + (p.col as f32 + 0.5) * cell) as i32),
            format!("{}", (top + (p.row as f32 + 0.5) * cell) as i32),
        )
    };
    // A chord as a person types it: the modifier held over a few frames.
    let chord = |modifier: &str, key: &str| {
        display.xdotool(&["keydown", modifier]);
        pause();
        display.xdotool(&["key", key]);
        pause();
        display.xdotool(&["keyup", modifier]);
        pause();
    };
    let stroke = |cells: &[Pos]| {
        let (x, y) = at(cells[0]);
        display.xdotool(&["mousemove", "--window", &window, &x, &y]);
        pause();
        display.xdotool(&["mousedown", "1"]);
        pause();
        for &p in &cells[1..] {
            let (x, y) = at(p);
            display.xdotool(&["mousemove", "--window", &window, &x, &y]);
            pause();
        }
        display.xdotool(&["mouseup", "1"]);
        pause();
    };

    // Walls (the starting tool) across row 2, then Ctrl+Z: the whole stroke goes.
    let first = [Pos::new(2, 2), Pos::new(2, 3), Pos::new(2, 4)];
    stroke(&first);
    chord("ctrl", "z");
    // Walls across row 4, the cheese (key 4) moved from (1, 5) to (3, 5), then Ctrl+S writes
    // the new file.
    let second = [Pos::new(4, 2), Pos::new(4, 3)];
    stroke(&second);
    display.xdotool(&["key", "4"]);
    pause();
    stroke(&[Pos::new(3, 5)]);
    chord("ctrl", "s");
    app.wait_for(Duration::from_secs(60), "the saved level", || {
        level.exists()
    });
    drop(app);

    let saved = Editor::load(&level).expect("the saved level loads");
    let tile = |p: Pos| saved.level.tile(p);
    for p in first {
        assert_eq!(tile(p), Tile::Floor, "{p:?}: the undone stroke is gone");
    }
    for p in second {
        assert_eq!(tile(p), Tile::Wall, "{p:?}: the second stroke is saved");
    }
    assert_eq!(tile(Pos::new(3, 5)), Tile::Cheese, "key 4 chose the cheese");
    assert_eq!(tile(Pos::new(1, 5)), Tile::Floor, "a level has one cheese");
    let walls_inside = (1..SIDE - 1)
        .flat_map(|r| (1..SIDE - 1).map(move |c| Pos::new(r, c)))
        .filter(|&p| tile(p) == Tile::Wall)
        .count();
    assert_eq!(walls_inside, second.len(), "nothing else was painted");
}
