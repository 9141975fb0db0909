//! The crate's layering: every module imports only from layers below its own (level -> sim ->
//! config -> rl -> reward -> llm -> experiment -> trainer -> bench -> app -> cli, with `errors`,
//! `files` and `rng` under all of them), and the engine-free core names no UI or terminal crate;
//! inside `app/` and `llm/` no two submodules import each other, even through others, and the
//! app's kit (what every panel draws or writes with) names no panel.

use std::collections::{BTreeMap, BTreeSet};
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

/// The app's kit: what panels draw and write with. A kit module imports no panel.
const KIT: [&str; 4] = ["kit", "palette", "icons", "glyphs"];
/// The app's panels: what the frame (`panels`) calls to draw each part of the UI.
const PANELS: [&str; 6] = [
    "panels",
    "round_panel",
    "runs_panel",
    "fine_tune_panel",
    "plots",
    "judge_picker",
];

/// The submodules of `src/<folder>/` each submodule imports (`super::x` from its own level,
/// `crate::<folder>::x`), outside test modules.
fn folder_imports(folder: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let submodule = |file: &Path| -> Option<String> {
        let rel = file.strip_prefix(&root).expect("under the folder");
        let first = rel.components().next()?.as_os_str().to_string_lossy();
        (first != "mod.rs").then(|| first.trim_end_matches(".rs").to_string())
    };
    let names: BTreeSet<String> = files.iter().filter_map(|f| submodule(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = submodule(file) else {
            continue;
        };
        // `super::` once per folder between the file's module and the folder.
        let rel = file.strip_prefix(&root).expect("under the folder");
        let mut depth = rel.components().count();
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            depth -= 1;
        }
        let up = "super::".repeat(depth);
        let text = std::fs::read_to_string(file).expect("readable source");
        let code: String = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or("")
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = Vec::new();
        for prefix in [up.clone(), format!("crate::{folder}::")] {
            for (at, _) in code.match_indices(&prefix) {
                let before = &code[..at];
                if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let rest = &code[at + prefix.len()..];
                match rest.strip_prefix('{') {
                    // `super::{a, b::C}`: each top-level name.
                    Some(group) => {
                        let group = group.split('}').next().unwrap_or("");
                        targets.extend(group.split(',').map(|n| n.trim().to_string()));
                    }
                    None => targets.push(rest.to_string()),
                }
            }
        }
        for target in targets {
            let name: String = target
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if names.contains(&name) && name != from {
                edges.entry(from.clone()).or_default().insert(name);
            }
        }
    }
    edges
}

/// The import circles among `edges` (strongly connected components of more than one module).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(next) = todo.pop() {
            for to in edges.get(&next).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let mut found: Vec<Vec<String>> = Vec::new();
    for from in edges.keys() {
        let mine: Vec<String> = reaches(from)
            .into_iter()
            .filter(|to| to == from || reaches(to).contains(from))
            .collect();
        if mine.len() > 1 && !found.iter().any(|c| c.contains(from)) {
            found.push(mine);
        }
    }
    found
}

#[test]
fn no_two_submodules_of_app_or_llm_import_each_other_and_the_kit_names_no_panel() {
    for folder in ["app", "llm"] {
        let edges = folder_imports(folder);
        assert!(
            edges.values().map(BTreeSet::len).sum::<usize>() > 10,
            "the check saw {folder}'s imports: {edges:?}"
        );
        let found = circles(&edges);
        assert!(
            found.is_empty(),
            "import circles in src/{folder}: {found:?}"
        );
    }
    let app = folder_imports("app");
    assert!(
        app["panels"].contains("round_panel"),
        "the frame calls the panels: {app:?}"
    );
    for kit in KIT {
        for panel in app.get(kit).into_iter().flatten() {
            assert!(
                !PANELS.contains(&panel.as_str()),
                "the kit module `{kit}` imports the panel `{panel}`"
            );
        }
    }
}

#[test]
fn the_circle_finder_finds_a_circle_through_a_third_module() {
    let edge = |a: &str, b: &str| (a.to_string(), BTreeSet::from([b.to_string()]));
    let circle = BTreeMap::from([
        edge("a", "b"),
        edge("b", "c"),
        edge("c", "a"),
        edge("d", "a"),
    ]);
    assert_eq!(
        circles(&circle),
        [["a", "b", "c"].map(String::from).to_vec()]
    );
    let line = BTreeMap::from([edge("a", "b"), edge("b", "c")]);
    assert!(circles(&line).is_empty());
}
