//! No missing glyphs in the UI: every string literal in the program (captions, labels, messages
//! that reach the panels) is drawn with characters egui's fonts have, and every literal that can
//! reach the scene's captions with characters of the scene's font. Text from outside (a judge's
//! answer, a file name) is made drawable at run time (`app::glyphs`), tested in that module.
#![cfg(feature = "app")]

use maze_rllf::app::glyphs::{missing_in_panels, missing_in_scene};
use std::path::{Path, PathBuf};

/// The string literals of a Rust source file, with their line numbers (escapes left as written:
/// they are ASCII).
fn string_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => line += 1,
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
                i += 2;
                continue;
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): skip the literal.
                if next == Some('\\') {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 2;
                }
            }
            'r' if next == Some('#') || next == Some('"') => {
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                if chars.get(i + 1 + hashes) == Some(&'"') {
                    let start = i + 2 + hashes;
                    let mut j = start;
                    let closes = |j: usize| {
                        chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#'))
                    };
                    while j < chars.len() && !closes(j) {
                        j += 1;
                    }
                    let text: String = chars[start..j.min(chars.len())].iter().collect();
                    out.push((line, text.clone()));
                    line += text.matches('\n').count();
                    i = j + 1 + hashes;
                    continue;
                }
            }
            '"' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '"' {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
                let text: String = chars[start..j.min(chars.len())].iter().collect();
                out.push((line, text.clone()));
                line += text.matches('\n').count();
                i = j + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("source folder is readable") {
            let path = entry.expect("source entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `file:line: "literal" lacks [chars]` for every literal `missing` finds characters in.
fn undrawable(files: &[PathBuf], missing: fn(&str) -> Vec<char>) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(file).expect("source file is UTF-8");
        for (line, text) in string_literals(&source) {
            let lacking = missing(&text);
            if !lacking.is_empty() {
                problems.push(format!(
                    "{}:{line}: {text:?} lacks {lacking:?}",
                    file.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn the_lexer_finds_plain_raw_and_multiline_literals() {
    let source = "let a = 'x'; // \"not this\"\nfn f<'a>() { g(\"one · two\", r#\"raw \"q\"\"#, \"a\\\"b\"); }\n\"x\ny\"";
    let found: Vec<(usize, String)> = string_literals(source);
    assert_eq!(
        found,
        vec![
            (2, "one · two".to_string()),
            (2, "raw \"q\"".to_string()),
            (2, "a\\\"b".to_string()),
            (3, "x\ny".to_string()),
        ]
    );
}

#[test]
fn every_string_in_the_program_has_its_glyphs_in_the_panels_fonts() {
    let files = rust_files(Path::new("src"));
    assert!(files.len() > 50, "the sources were found");
    let problems = undrawable(&files, missing_in_panels);
    assert!(
        problems.is_empty(),
        "characters egui's fonts cannot draw (a missing-glyph box on screen):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_string_that_reaches_the_scene_has_its_glyphs_in_the_scene_font() {
    // Scene captions are made in the scene's module and by the demo (the labelled pairs).
    let mut files = rust_files(Path::new("src/app/scene"));
    files.extend(rust_files(Path::new("src/app/demo")));
    let problems = undrawable(&files, missing_in_scene);
    assert!(
        problems.is_empty(),
        "characters the scene's font cannot draw:\n{}",
        problems.join("\n")
    );
}
