//! Level files as users write them: every shipped level loads, and every kind of bad input gets
//! an error naming the file, the line and column, and the problem — never a panic.

use maze_rllf::level::{LevelSource, load_level_file, parse_level};
use maze_rllf::rng::Rng;
use std::path::{Path, PathBuf};

fn shipped_levels() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("levels")
        .expect("levels/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_level_is_valid() {
    let files = shipped_levels();
    let fixed = files
        .iter()
        .map(|f| load_level_file(f).unwrap_or_else(|e| panic!("{e}")))
        .filter(|s| matches!(s, LevelSource::Fixed { .. }))
        .count();
    assert!(
        fixed >= 6,
        "at least 6 hand-designed layouts, found {fixed}"
    );
}

#[test]
fn story_levels_put_cheese_and_corner_where_their_names_say() {
    let load = |name: &str| match load_level_file(&Path::new("levels").join(name)) {
        Ok(LevelSource::Fixed { layout, .. }) => layout,
        other => panic!("{name}: {other:?}"),
    };
    let beside = load("cheese-beside-start.ron");
    assert_eq!(beside.cheese_distance(), Some(1));
    assert!(beside.distances_from(beside.start)[beside.index(beside.corner)] > 10);
    let control = load("cheese-in-corner.ron");
    assert_eq!(control.cheese, control.corner);
    let bottom_right = load("cheese-bottom-right.ron");
    assert!(
        bottom_right.cheese.row > bottom_right.size / 2
            && bottom_right.cheese.col > bottom_right.size / 2
    );
}

/// Parses `text` as `levels/bad.ron` and returns the error message.
fn error_of(text: &str) -> String {
    match parse_level(Path::new("levels/bad.ron"), text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn fixed(rows: &[&str]) -> String {
    let rows: String = rows.iter().map(|r| format!("        \"{r}\",\n")).collect();
    format!("Fixed(\n    name: \"bad\",\n    rows: [\n{rows}    ],\n)\n")
}

fn distribution(body: &str) -> String {
    format!("Distribution(\n    name: \"bad\",\n{body})\n")
}

fn assert_error(text: &str, position: &str, words: &[&str]) {
    let message = error_of(text);
    assert!(
        message.starts_with(&format!("levels/bad.ron:{position}: ")),
        "expected position {position} in: {message}"
    );
    for w in words {
        assert!(message.contains(w), "expected '{w}' in: {message}");
    }
    assert!(
        message.contains("(fix: "),
        "a hint on how to fix it: {message}"
    );
}

#[test]
fn bad_ron_names_the_position() {
    assert_error(
        "Fixed(\n    name: \"x\",\n    rows: [\"#M#\" \"#C#\"],\n)",
        "3:18",
        &["not a valid level file", "Expected comma"],
    );
    assert_error(
        "Fixed(\n    name: \"x\",\n    rowz: [],\n)",
        "3:5",
        &["rowz"],
    );
}

#[test]
fn unknown_tile_is_pointed_at() {
    // Row 3 starts at line 6, column 10 (inside the quotes); the 'x' is the 3rd cell.
    assert_error(
        &fixed(&["#####", "#..C#", "#.x.#", "#M..#", "#####"]),
        "6:12",
        &["unknown tile 'x'", "row 3, column 3"],
    );
}

#[test]
fn ragged_rows_are_pointed_at() {
    assert_error(
        &fixed(&["#####", "#..C#", "#.#.", "#M..#", "#####"]),
        "6:10",
        &["row 3 has 4 cells", "ragged"],
    );
}

#[test]
fn missing_or_doubled_start_and_cheese() {
    assert_error(
        &fixed(&["#####", "#..C#", "#.#.#", "#...#", "#####"]),
        "3:5",
        &["no start (M)"],
    );
    assert_error(
        &fixed(&["#####", "#M.C#", "#.#.#", "#M..#", "#####"]),
        "7:11",
        &["a second start M", "row 4, column 2"],
    );
    assert_error(
        &fixed(&["#####", "#...#", "#.#.#", "#M..#", "#####"]),
        "3:5",
        &["no cheese (C)"],
    );
    assert_error(
        &fixed(&["#####", "#C.C#", "#.#.#", "#M..#", "#####"]),
        "5:13",
        &["a second cheese C"],
    );
}

#[test]
fn unreachable_cheese_is_pointed_at() {
    assert_error(
        &fixed(&["#####", "#.#C#", "#.###", "#M..#", "#####"]),
        "5:13",
        &["cannot be reached"],
    );
}

#[test]
fn sizes_out_of_range() {
    assert_error(&fixed(&["MC"]), "3:5", &["size out of range"]);
    let wide = format!("M{}C", ".".repeat(70));
    assert_error(
        &fixed(&[&wide, &wide, &wide]),
        "3:5",
        &["size out of range"],
    );
    let text = distribution(
        "    generator: Kruskal,\n    world_size: 9,\n    maze_size: Range(3, 11),\n    cheese: Anywhere,\n",
    );
    assert_error(
        &text,
        "5:5",
        &["maze_size 3..=11 is out of range for world_size 9"],
    );
    let even = distribution(
        "    generator: Kruskal,\n    world_size: 9,\n    maze_size: Fixed(8),\n    cheese: Anywhere,\n",
    );
    assert_error(&even, "5:5", &["maze_size 8..=8"]);
    let world = distribution(
        "    generator: Kruskal,\n    world_size: 100,\n    maze_size: Fixed(9),\n    cheese: Anywhere,\n",
    );
    assert_error(&world, "4:5", &["world_size 100 is out of range"]);
}

#[test]
fn region_larger_than_the_maze() {
    let text = distribution(
        "    generator: Kruskal,\n    world_size: 15,\n    maze_size: Range(3, 7),\n    cheese: Region(9),\n",
    );
    assert_error(
        &text,
        "6:5",
        &["region 9 is larger than the largest maze (7)"],
    );
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let err = load_level_file(Path::new("levels/does-not-exist.ron")).expect_err("missing file");
    assert!(
        err.to_string().contains("does-not-exist.ron") && err.to_string().contains("cannot read")
    );
}

#[test]
fn mangled_level_files_never_panic() {
    let mut rng = Rng::new(99);
    for file in shipped_levels() {
        let text = std::fs::read_to_string(&file).expect("readable");
        let bytes = text.as_bytes();
        for _ in 0..300 {
            let mut mangled = bytes.to_vec();
            // One to three edits: cuts, replaced bytes, inserted bytes, multi-byte and control
            // characters, and numbers at the edges of what the fields allow.
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(mangled.len().max(1));
                match rng.below(5) {
                    0 => mangled.truncate(i),
                    1 if i < mangled.len() => {
                        mangled[i] = b"#.MC()[]\",:x0123456789 \n"[rng.below(24)];
                    }
                    2 => {
                        let i = i.min(mangled.len());
                        mangled.insert(i, b"#MC9\"-"[rng.below(6)]);
                    }
                    3 => {
                        let piece = ["é", "\u{1b}[2J", "\0", "\u{feff}", "🧀", "\r"][rng.below(6)];
                        let i = i.min(mangled.len());
                        mangled.splice(i..i, piece.bytes());
                    }
                    _ => {
                        let piece = ["0", "1e300", "-1", "99999999999999999999", "1.0", "NaN"]
                            [rng.below(6)];
                        let i = i.min(mangled.len());
                        mangled.splice(i..i, piece.bytes());
                    }
                }
            }
            let text = String::from_utf8_lossy(&mangled);
            // Either a valid level that can be sampled, or an error with a position; never a
            // panic.
            match parse_level(&file, &text) {
                Err(e) => assert!(e.line >= 1 && e.column >= 1, "{e}"),
                Ok(source) => {
                    let layout = source.sample(&mut rng);
                    assert!(layout.check_shape().is_ok());
                    assert!(!source.name().chars().any(char::is_control));
                }
            }
        }
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    // "é" and "🧀" take 2 and 4 bytes; the 'x' is still the 5th character of its row.
    let text = "Fixed(\n    name: \"café 🧀\", rows: [\"#####\", \"#..C#\", \"#.x.#\", \"#M..#\", \"#####\"],\n)";
    let message = error_of(text);
    let row3 = text.lines().nth(1).expect("line 2");
    let col = row3.chars().position(|c| c == 'x').expect("x") + 1;
    assert!(
        message.starts_with(&format!("levels/bad.ron:2:{col}: ")),
        "column {col} in: {message}"
    );
    // A syntax error after multi-byte text on its line.
    let text = "Fixed(\n    name: \"ééé\" rows: [],\n)";
    let message = error_of(text);
    let col = text
        .lines()
        .nth(1)
        .expect("line 2")
        .chars()
        .position(|c| c == 'r')
        .expect("r")
        + 1;
    assert!(
        message.starts_with(&format!("levels/bad.ron:2:{col}: ")),
        "column {col} in: {message}"
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let text = format!(
        "\u{feff}{}",
        fixed(&["#####", "#..C#", "#...#", "#M..#", "#####"])
    );
    assert!(parse_level(Path::new("levels/bad.ron"), &text).is_ok());
}

#[test]
fn impossible_specs_are_refused_instead_of_drawing_other_mazes() {
    let spec = |generator: &str, cheese: &str| {
        distribution(&format!(
            "    generator: {generator},\n    world_size: 7,\n    maze_size: Fixed(7),\n    cheese: {cheese},\n"
        ))
    };
    for (generator, cheese, words) in [
        (
            "Blocks(wall_prob: 1.0)",
            "Anywhere",
            &["every cell a wall"][..],
        ),
        ("Edges(open_prob: 0.0)", "Anywhere", &["never opens"][..]),
        ("Kruskal", "NearStart(0)", &["only the start cell"][..]),
        ("Kruskal", "FarFromCorner(1000)", &["1000 moves"][..]),
        ("Open", "FarFromCorner(40)", &["no maze of side 7 to 7"][..]),
    ] {
        let message = error_of(&spec(generator, cheese));
        for w in words {
            assert!(message.contains(w), "{generator} {cheese}: {message}");
        }
        assert!(message.contains("(fix: "), "{message}");
    }
    // Near the limits but possible: accepted.
    for (generator, cheese) in [("Kruskal", "NearStart(1)"), ("Open", "FarFromCorner(11)")] {
        let text = spec(generator, cheese);
        assert!(
            parse_level(Path::new("levels/bad.ron"), &text).is_ok(),
            "{generator} {cheese}"
        );
    }
}

#[test]
fn control_characters_in_names_are_escaped() {
    let text = "Fixed(\n    name: \"evil\u{1b}[2J\u{7}\", rows: [\"#####\", \"#..C#\", \"#...#\", \"#M..#\", \"#####\"],\n)";
    let source = parse_level(Path::new("levels/bad.ron"), text).expect("valid");
    assert_eq!(source.name(), "evil\\u{1b}[2J\\u{7}");
}
