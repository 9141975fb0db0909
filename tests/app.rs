//! Headless ECS tests of the app (MinimalPlugins + the app's plugin, `app.update()`, no window,
//! no GPU): levels spawn and despawn cleanly, streamed episodes move the agents, before/after
//! pairs play as a playlist with running tallies, the exit waits for pending screenshots, the
//! editor's operations (undo/redo, save validation) work, and a stuck or flooded channel never
//! blocks.
#![cfg(feature = "app")]

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use maze_rllf::app::bridge::{EpisodesArrived, Notices, SendCommand, TrainerLink, TrainingLog};
use maze_rllf::app::editor::{EditorAction, EditorState};
use maze_rllf::app::record::{CAPTURE_TIMEOUT_S, Captures, RequestExit, Script};
use maze_rllf::app::scene::{
    Agent, Floor, Goal, Playback, SceneEntity, Stage, TallyText, Track, Wall, cell_center,
    slot_origins,
};
use maze_rllf::app::{Mode, plugin};
use maze_rllf::level::edit::Tile;
use maze_rllf::level::{DistributionSpec, Layout, Pos};
use maze_rllf::sim::Rollout;
use maze_rllf::sim::{EpisodeStats, Outcome};
use maze_rllf::trainer::{Command, EpisodeBatch, EpisodeSource, Event, Phase, TrainerHandle};
use std::path::Path;
use std::time::{Duration, Instant};

fn headless() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, plugin));
    // Each update advances the clock by 0.1 s.
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
        100,
    )));
    app.update();
    app
}

fn count<C: Component>(app: &mut App) -> usize {
    let world = app.world_mut();
    world
        .query_filtered::<Entity, With<C>>()
        .iter(world)
        .count()
}

fn episode(layout: &Layout, path: Vec<Pos>) -> Rollout {
    Rollout {
        layout: layout.clone(),
        actions: Vec::new(),
        stats: EpisodeStats {
            outcome: Outcome::Neither,
            reached_cheese: false,
            episode_return: 0.0,
            length: path.len().saturating_sub(1) as u32,
            truncated: true,
        },
        path,
    }
}

fn stream(app: &mut App, source: EpisodeSource, episodes: Vec<Rollout>) {
    app.world_mut().write_message(EpisodesArrived(EpisodeBatch {
        source,
        global_step: 0,
        episodes,
    }));
    app.update();
}

fn walls(layout: &Layout) -> usize {
    layout.walls.iter().filter(|w| **w).count()
}

#[test]
fn levels_spawn_and_despawn_cleanly() {
    let mut app = headless();
    let a = DistributionSpec::training(7, 1).level_for_seed(1);
    let b = DistributionSpec::training(9, 1).level_for_seed(2);
    stream(
        &mut app,
        EpisodeSource::Current,
        vec![episode(&a, vec![a.start])],
    );
    assert_eq!(count::<Wall>(&mut app), walls(&a));
    assert_eq!(count::<Floor>(&mut app), 49 - walls(&a));
    assert_eq!(count::<Goal>(&mut app), 1);
    assert_eq!(count::<Agent>(&mut app), 1);
    let first_total = count::<SceneEntity>(&mut app);

    // A playtest replaces the stage at once: nothing of the old maze stays.
    stream(
        &mut app,
        EpisodeSource::Playtest,
        vec![episode(&b, vec![b.start]), episode(&b, vec![b.start])],
    );
    assert_eq!(count::<Wall>(&mut app), walls(&b));
    assert_eq!(count::<Floor>(&mut app), 81 - walls(&b));
    assert_eq!(count::<Agent>(&mut app), 2, "two ghost agents in one maze");
    assert_eq!(count::<Goal>(&mut app), 1);
    assert_ne!(count::<SceneEntity>(&mut app), first_total);

    // A grid of four mazes, one agent each.
    let mazes: Vec<Rollout> = (0..4)
        .map(|s| {
            let l = DistributionSpec::training(7, 1).level_for_seed(10 + s);
            episode(&l, vec![l.start])
        })
        .collect();
    let expected_walls: usize = mazes.iter().map(|e| walls(&e.layout)).sum();
    app.world_mut().resource_mut::<Stage>().show(Vec::new());
    app.update();
    assert_eq!(
        count::<SceneEntity>(&mut app),
        0,
        "an empty stage despawns everything"
    );
    stream(&mut app, EpisodeSource::Current, mazes);
    assert_eq!(count::<Wall>(&mut app), expected_walls);
    assert_eq!(count::<Goal>(&mut app), 4);
    assert_eq!(count::<Agent>(&mut app), 4);
}

#[test]
fn streamed_episodes_move_the_agents_smoothly() {
    let mut app = headless();
    app.world_mut().resource_mut::<Playback>().steps_per_second = 5.0;
    let layout = DistributionSpec::training(7, 1).level_for_seed(3);
    let mut path = vec![layout.start];
    let next = layout
        .neighbours(layout.start)
        .next()
        .expect("the start has a free neighbour");
    path.push(next);
    stream(
        &mut app,
        EpisodeSource::Current,
        vec![episode(&layout, path.clone())],
    );
    let position = |app: &mut App| {
        let world = app.world_mut();
        let mut q = world.query_filtered::<&Transform, With<Agent>>();
        q.single(world).expect("one agent").translation.truncate()
    };
    let stage_origin = {
        let stage = app.world().resource::<Stage>();
        slot_origins(stage).0[0]
    };
    let at = |p: Pos| cell_center(stage_origin, 7, Vec2::new(p.row as f32, p.col as f32));
    // 0.1 s at 5 steps/s: halfway between the two cells.
    let halfway = (at(path[0]) + at(path[1])) / 2.0;
    assert!(
        position(&mut app).distance(halfway) < 1e-3,
        "{} vs {halfway}",
        position(&mut app)
    );
    app.update();
    assert!(position(&mut app).distance(at(path[1])) < 1e-3);

    // A newer batch waits until this one has played out (and been held briefly).
    let other = DistributionSpec::training(7, 1).level_for_seed(4);
    stream(
        &mut app,
        EpisodeSource::Current,
        vec![episode(&other, vec![other.start])],
    );
    assert_eq!(app.world().resource::<Stage>().slots[0].layout, layout);
    for _ in 0..12 {
        app.update();
    }
    assert_eq!(app.world().resource::<Stage>().slots[0].layout, other);
}

#[test]
fn editor_edits_undo_redo_and_refuses_invalid_saves() {
    let mut app = headless();
    app.world_mut()
        .resource_mut::<NextState<Mode>>()
        .set(Mode::Edit);
    app.update();
    let dir = std::env::temp_dir().join(format!("maze-rllf-app-editor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("room.ron");
    let _ = std::fs::remove_file(&path);
    app.world_mut().resource_mut::<EditorState>().path = path.display().to_string();
    let act = |app: &mut App, action: EditorAction| {
        app.world_mut().write_message(action);
        app.update();
    };
    let tile = |app: &mut App, p: Pos| app.world().resource::<EditorState>().editor.level.tile(p);
    // The blank 7x7 room is on stage.
    assert_eq!(count::<Goal>(&mut app), 1);
    assert_eq!(count::<Wall>(&mut app), 24);

    // Wall off the cheese (top-right) with one stroke: one undo step, shown as invalid.
    act(&mut app, EditorAction::BeginStroke);
    for col in 1..6 {
        act(
            &mut app,
            EditorAction::StrokeTo {
                pos: Pos::new(3, col),
                tile: Tile::Wall,
            },
        );
    }
    act(&mut app, EditorAction::EndStroke);
    assert_eq!(count::<Wall>(&mut app), 29, "the stage follows the edit");
    let state = app.world().resource::<EditorState>();
    assert!(!state.validation.is_valid());
    assert!(state.validation.unreachable.contains(&Pos::new(1, 5)));

    act(&mut app, EditorAction::Save { overwrite: false });
    let state = app.world().resource::<EditorState>();
    let note = state.note.clone().expect("a note");
    assert!(
        !note.ok && note.text.contains("cannot be reached"),
        "{}",
        note.text
    );
    assert!(!path.exists(), "an invalid level is never saved");

    act(&mut app, EditorAction::Undo);
    assert_eq!(
        tile(&mut app, Pos::new(3, 3)),
        Tile::Floor,
        "the whole stroke is undone"
    );
    act(&mut app, EditorAction::Redo);
    assert_eq!(tile(&mut app, Pos::new(3, 3)), Tile::Wall);
    act(&mut app, EditorAction::Undo);
    act(
        &mut app,
        EditorAction::Paint {
            pos: Pos::new(1, 1),
            tile: Tile::Cheese,
        },
    );
    assert_eq!(
        tile(&mut app, Pos::new(1, 5)),
        Tile::Floor,
        "the cheese moved"
    );
    act(&mut app, EditorAction::Save { overwrite: false });
    assert!(path.exists());
    assert!(
        app.world()
            .resource::<EditorState>()
            .note
            .as_ref()
            .is_some_and(|n| n.ok)
    );

    // Saving again asks first.
    act(
        &mut app,
        EditorAction::Paint {
            pos: Pos::new(2, 2),
            tile: Tile::Wall,
        },
    );
    act(&mut app, EditorAction::Save { overwrite: false });
    let kept = maze_rllf::level::load_level_file(&path).expect("the saved file loads");
    assert!(
        matches!(&kept, maze_rllf::level::LevelSource::Fixed { layout, .. } if !layout.is_wall(Pos::new(2, 2))),
        "not overwritten without asking"
    );
    assert!(
        app.world()
            .resource::<EditorState>()
            .confirm_overwrite
            .is_some()
    );
    act(&mut app, EditorAction::Save { overwrite: true });
    let loaded = maze_rllf::level::load_level_file(&path).expect("the saved file loads");
    match loaded {
        maze_rllf::level::LevelSource::Fixed { layout, .. } => {
            assert_eq!(layout.cheese, Pos::new(1, 1));
            assert!(layout.is_wall(Pos::new(2, 2)));
        }
        other => panic!("expected a fixed layout, got {other:?}"),
    }

    // Playtest sends the layout to the trainer (none runs here: the panel says so).
    act(&mut app, EditorAction::Playtest);
    assert!(
        app.world()
            .resource::<Notices>()
            .errors
            .iter()
            .any(|e| e.contains("no trainer"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stuck_or_flooded_channel_never_blocks_update() {
    let mut app = headless();
    // Nobody drains the command queue (capacity 1), and 5000 events are waiting.
    let (command_tx, command_rx) = crossbeam_channel::bounded::<Command>(1);
    let (event_tx, event_rx) = crossbeam_channel::unbounded::<Event>();
    for i in 0..5000 {
        event_tx
            .send(Event::Status(format!("status {i}")))
            .expect("queued");
    }
    event_tx
        .send(Event::Phase(Phase::Training))
        .expect("queued");
    app.insert_resource(TrainerLink::new(TrainerHandle::from_channels(
        command_tx, event_rx,
    )));
    for _ in 0..100 {
        app.world_mut().write_message(SendCommand(Command::Run));
    }
    let started = Instant::now();
    app.update();
    let first = started.elapsed();
    assert_eq!(
        app.world().resource::<TrainingLog>().events,
        maze_rllf::app::bridge::EVENTS_PER_FRAME as u64,
        "a frame takes a bounded number of events"
    );
    let notices = app.world().resource::<Notices>();
    assert!(
        notices.errors.iter().any(|e| e.contains("busy")),
        "a full queue is reported, not waited on: {:?}",
        notices.errors
    );
    for _ in 0..20 {
        app.update();
    }
    assert_eq!(
        app.world().resource::<TrainingLog>().phase,
        Some(Phase::Training)
    );
    // The trainer goes away: frames go on.
    drop(event_tx);
    drop(command_rx);
    app.world_mut().write_message(SendCommand(Command::Pause));
    app.update();
    assert!(
        app.world()
            .resource::<Notices>()
            .errors
            .iter()
            .any(|e| e.contains("stopped"))
    );
    assert!(first < Duration::from_secs(5), "first frame took {first:?}");
}

fn exit_code(app: &mut App) -> Option<AppExit> {
    app.update();
    app.should_exit()
}

#[test]
fn an_exit_waits_for_every_pending_screenshot_within_a_bounded_time() {
    let mut app = headless();
    let shot = std::path::PathBuf::from("shots/last.png");
    app.world_mut()
        .resource_mut::<Captures>()
        .begin(shot.clone());
    app.world_mut().write_message(RequestExit);
    // Ten frames (1 s) later the screenshot is still being read back: no exit yet.
    for _ in 0..10 {
        assert_eq!(
            exit_code(&mut app),
            None,
            "exited with a screenshot pending"
        );
    }
    app.world_mut()
        .resource_mut::<Captures>()
        .finish(&shot, Ok(()));
    assert_eq!(exit_code(&mut app), Some(AppExit::Success));

    // `--exit-after`: the deadline passes with a screenshot still being written; the run
    // exits only once it is on disk.
    let mut app = headless();
    app.insert_resource(Script::new(Vec::new(), Some(1.0), Vec::new()));
    app.world_mut()
        .resource_mut::<Captures>()
        .begin(shot.clone());
    for _ in 0..30 {
        assert_eq!(
            exit_code(&mut app),
            None,
            "--exit-after dropped a pending screenshot"
        );
    }
    app.world_mut()
        .resource_mut::<Captures>()
        .finish(&shot, Ok(()));
    assert_eq!(exit_code(&mut app), Some(AppExit::Success));

    // A screenshot that never arrives: the exit comes after the timeout, as a failure.
    let mut app = headless();
    app.world_mut()
        .resource_mut::<Captures>()
        .begin("shots/never.png".into());
    app.world_mut().write_message(RequestExit);
    let frames = (CAPTURE_TIMEOUT_S / 0.1) as usize;
    for _ in 0..frames - 2 {
        assert_eq!(exit_code(&mut app), None);
    }
    let mut code = None;
    for _ in 0..4 {
        code = code.or(exit_code(&mut app));
    }
    assert_eq!(code, Some(AppExit::error()));

    // A failed write makes the exit a failure too, and nothing pending means no wait.
    let mut app = headless();
    let mut captures = app.world_mut().resource_mut::<Captures>();
    captures.begin("shots/bad.png".into());
    captures.finish(Path::new("shots/bad.png"), Err("disk full".into()));
    assert_eq!(captures.failed.len(), 1);
    app.world_mut().write_message(RequestExit);
    assert_eq!(exit_code(&mut app), Some(AppExit::error()));
}

fn with_outcome(layout: &Layout, path: Vec<Pos>, outcome: Outcome) -> Rollout {
    let mut e = episode(layout, path);
    e.stats.outcome = outcome;
    e.stats.reached_cheese = outcome == Outcome::Cheese;
    e
}

#[test]
fn before_and_after_play_one_maze_at_a_time_side_by_side_with_running_tallies() {
    let mut app = headless();
    app.world_mut().resource_mut::<Playback>().hold_s = 0.15;
    let mazes: Vec<Layout> = (0..3)
        .map(|s| DistributionSpec::training(7, 1).level_for_seed(20 + s))
        .collect();
    let walk = |l: &Layout| {
        let next = l.neighbours(l.start).next().expect("a free neighbour");
        vec![l.start, next]
    };
    let before = vec![
        with_outcome(&mazes[0], walk(&mazes[0]), Outcome::Corner),
        with_outcome(&mazes[1], walk(&mazes[1]), Outcome::Corner),
        with_outcome(&mazes[2], walk(&mazes[2]), Outcome::Neither),
    ];
    let after = vec![
        with_outcome(&mazes[0], walk(&mazes[0]), Outcome::Cheese),
        with_outcome(&mazes[1], walk(&mazes[1]), Outcome::Corner),
        with_outcome(&mazes[2], walk(&mazes[2]), Outcome::Cheese),
    ];
    stream(&mut app, EpisodeSource::Baseline, before);
    stream(&mut app, EpisodeSource::Tuned, after);
    let page = |app: &App| {
        let stage = app.world().resource::<Stage>();
        (
            stage
                .slots
                .iter()
                .map(|s| s.layout.clone())
                .collect::<Vec<_>>(),
            stage
                .slots
                .iter()
                .map(|s| s.tally_text())
                .collect::<Vec<_>>(),
        )
    };
    let (layouts, tallies) = page(&app);
    assert_eq!(
        layouts,
        vec![mazes[0].clone(), mazes[0].clone()],
        "one maze, twice"
    );
    assert_eq!(count::<Agent>(&mut app), 2);
    assert_eq!(count::<TallyText>(&mut app), 2, "a tally under each side");
    let tally = |cheese: u32, corner: u32, neither: u32, mazes: u32| {
        Some(format!(
            "cheese       {cheese:>3}\ncorner first {corner:>3}\nneither      {neither:>3}\nmazes played {mazes:>3}"
        ))
    };
    assert_eq!(
        tallies[0],
        tally(0, 0, 0, 0),
        "nothing counted before it plays out"
    );
    // The tallies count each maze once it has played out; then the next maze comes on.
    let mut seen = vec![layouts[0].clone()];
    let mut counted_all = false;
    for _ in 0..40 {
        app.update();
        let (layouts, tallies) = page(&app);
        if seen.last() != Some(&layouts[0]) {
            seen.push(layouts[0].clone());
        }
        if layouts[0] == mazes[2] {
            let stage = app.world().resource::<Stage>();
            if stage.all_finished() {
                assert_eq!(tallies[0], tally(0, 2, 1, 3), "before");
                assert_eq!(tallies[1], tally(2, 1, 0, 3), "after");
                counted_all = true;
            }
        }
    }
    assert!(counted_all, "the last maze played out on stage");
    let order: Vec<Option<usize>> = seen
        .iter()
        .map(|l| mazes.iter().position(|m| m == l))
        .collect();
    assert!(
        seen.starts_with(&[mazes[0].clone(), mazes[1].clone(), mazes[2].clone()]),
        "the mazes play in order: {order:?}"
    );
    assert!(
        seen.len() > 3 && seen[3] == mazes[0],
        "the playlist starts over"
    );
}

#[test]
fn the_mouse_faces_where_it_goes_and_marks_the_corner_only_when_reached_first() {
    let mut layout = DistributionSpec::training(7, 1).level_for_seed(5);
    let start = layout.start;
    layout.cheese = (0..7 * 7)
        .map(|i| Pos::new(i / 7, i % 7))
        .find(|p| !layout.is_wall(*p) && *p != layout.corner && *p != start)
        .expect("a free cell for the cheese");
    let right = Pos::new(start.row, start.col + 1);
    let up = Pos::new(start.row.saturating_sub(1), start.col);
    let mut track = Track::new(episode(&layout, vec![start, right, right, up]));
    assert_eq!(track.heading(), Vec2::X);
    track.t = 1.5;
    assert_eq!(track.heading(), Vec2::X, "a bump keeps the last heading");
    track.t = 3.0;
    let mut turn = Track::new(episode(&layout, vec![start, up]));
    turn.t = 0.5;
    assert_eq!(
        turn.heading(),
        Vec2::Y,
        "moving up the rows faces up the screen"
    );
    let corner = layout.corner;
    let reached = Track::new(episode(&layout, vec![start, corner, layout.cheese]));
    assert_eq!(reached.corner_first_step(), Some(1));
    let cheese_first = Track::new(episode(&layout, vec![start, layout.cheese, corner]));
    assert_eq!(cheese_first.corner_first_step(), None);
}
