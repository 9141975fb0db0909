//! The crate's layering: every module imports only from layers below its own (level -> sim ->
//! config -> rl -> reward -> llm -> experiment -> trainer -> bench -> app -> cli, with `errors`,
//! `files` and `rng` under all of them), and the engine-free core names no UI or terminal crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom layer up; a module may use those before it.
const LAYERS: [&[&str]; 12] = [
    &["errors", "files", "rng"],
    &["level"],
    &["sim"],
    &["config"],
    &["rl"],
    &["reward"],
    &["llm"],
    &["experiment"],
    &["trainer"],
    &["bench"],
    &["app"],
    &["cli"],
];

/// The engine-free core: no Bevy, no egui, no command-line or progress-bar crate.
const CORE: [&str; 11] = [
    "errors",
    "files",
    "rng",
    "level",
    "sim",
    "config",
    "rl",
    "reward",
    "llm",
    "experiment",
    "trainer",
];
const FRONT_END_CRATES: [&str; 6] = [
    "bevy",
    "bevy_egui",
    "egui",
    "egui_plot",
    "clap",
    "indicatif",
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/rl/ppo/mod.rs` -> `rl`, `src/bench.rs` -> `bench`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("non-empty path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// Every `crate::name` a source text refers to, with the line it is on; in a grouped import such
/// as `use crate::{a::X, b::{Y, Z}}` (on one line or several) each top-level name counts.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_at = |offset: usize| code[..offset].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut refs = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            refs.push((line_at(at), ident(rest)));
            continue;
        };
        // The names at the start of the group and after each comma at its top level.
        let (mut depth, mut expect_name) = (0usize, true);
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => expect_name = true,
                c if expect_name && (c.is_alphanumeric() || c == '_') => {
                    let offset = at + "crate::{".len() + k;
                    refs.push((line_at(offset), ident(&group[k..])));
                    expect_name = false;
                }
                _ => {}
            }
        }
    }
    refs
}

/// Whether `text` names `krate` as a path root (`krate::` not preceded by an identifier
/// character or `::`).
fn names_crate(line: &str, krate: &str) -> bool {
    let needle = format!("{krate}::");
    line.match_indices(&needle).any(|(at, _)| {
        let before = &line[..at];
        !before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

#[test]
fn every_import_runs_down_the_layers_and_the_core_names_no_front_end_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            // lib.rs and main.rs sit above every layer.
            assert!(
                module == "lib" || module == "main",
                "{}: the top-level module `{module}` has no layer in tests/layers.rs",
                file.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        for (line, target) in crate_refs(&text) {
            let Some(theirs) = layer_of(&target) else {
                continue;
            };
            if target != module {
                *edges.entry((module.clone(), target.clone())).or_default() += 1;
            }
            if theirs > own {
                problems.push(format!(
                    "{}:{line}: `{module}` imports `{target}`, a layer above it",
                    file.display()
                ));
            }
        }
        if CORE.contains(&module.as_str()) {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for krate in FRONT_END_CRATES {
                    if names_crate(code, krate) {
                        problems.push(format!(
                            "{}:{}: the core module `{module}` names `{krate}`",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check saw the imports it is about (a parser that finds nothing passes vacuously).
    for (from, to) in [
        ("sim", "level"),
        ("rl", "sim"),
        ("reward", "rl"),
        ("cli", "experiment"),
    ] {
        assert!(
            edges.contains_key(&(from.to_string(), to.to_string())),
            "expected `{from}` to import `{to}`: {edges:?}"
        );
    }
}

#[test]
fn the_checker_sees_grouped_imports_and_ignores_comments() {
    let text = "use crate::{level::Pos, sim::Action};\n// crate::app::X\nlet _ = crate::rl::host;\n\
                use crate::{\n    config::{A, B},\n    trainer::C,\n};";
    let refs = crate_refs(text);
    assert_eq!(
        refs,
        [
            (1, "level"),
            (1, "sim"),
            (3, "rl"),
            (5, "config"),
            (6, "trainer")
        ]
        .map(|(line, name)| (line, name.to_string()))
    );
    assert!(names_crate("use clap::Parser;", "clap"));
    assert!(!names_crate("use crate::my_clap::X;", "clap"));
    assert!(!names_crate("bevy_egui::X", "egui"));
}
