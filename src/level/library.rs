//! A folder of level files as a library: each `.ron` file with its kind, size, a few preview
//! mazes (a fixed level's own, or mazes sampled from a distribution or mixture) and whether it
//! loads and validates — or the file, line and fix when it does not.

use super::edit::EditedLevel;
use super::{Layout, LevelSource, load_level_file};
use crate::rng::Rng;
use std::path::{Path, PathBuf};

/// Mazes shown for a distribution or mixture.
pub const PREVIEW_SAMPLES: usize = 3;

/// What a library entry holds.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    /// One drawn layout: the editor opens it.
    Fixed,
    /// Mazes drawn from a generator or a mixture: shown as samples, read-only in the editor.
    Distribution,
    Mixture,
}

/// One file of the library.
#[derive(Clone, Debug, PartialEq)]
pub struct LibraryEntry {
    pub path: PathBuf,
    /// The level's name, or the file's stem when it does not load.
    pub name: String,
    /// The file's level, or why it does not load (file:line:column: what, fix: how).
    pub status: Result<Loaded, String>,
}

/// A level file that loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub kind: EntryKind,
    pub size: usize,
    /// The layout (fixed) or sampled mazes (distribution, mixture).
    pub previews: Vec<Layout>,
    /// What the editor's validation says of a fixed level (empty: valid); distributions are
    /// validated when they load.
    pub problems: Vec<String>,
}

impl LibraryEntry {
    /// Reads one level file.
    pub fn read(path: &Path) -> Self {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("level")
            .to_string();
        match load_level_file(path) {
            Ok(source) => {
                let name = source.name().to_string();
                let size = source.world_size();
                let (kind, previews, problems) = match &source {
                    LevelSource::Fixed { layout, .. } => {
                        let problems = EditedLevel::from_layout(layout, &name)
                            .validate()
                            .problems
                            .iter()
                            .map(|p| format!("{} ({})", p.message, p.hint))
                            .collect();
                        (EntryKind::Fixed, vec![layout.clone()], problems)
                    }
                    LevelSource::Distribution { .. } | LevelSource::Mixture { .. } => {
                        let mut rng = Rng::new(0);
                        let samples = (0..PREVIEW_SAMPLES)
                            .map(|_| source.sample(&mut rng))
                            .collect();
                        let kind = if matches!(source, LevelSource::Mixture { .. }) {
                            EntryKind::Mixture
                        } else {
                            EntryKind::Distribution
                        };
                        (kind, samples, Vec::new())
                    }
                };
                Self {
                    path: path.to_path_buf(),
                    name,
                    status: Ok(Loaded {
                        kind,
                        size,
                        previews,
                        problems,
                    }),
                }
            }
            Err(e) => Self {
                path: path.to_path_buf(),
                name: stem,
                status: Err(e.to_string()),
            },
        }
    }

    /// Whether the editor can open it as drawn.
    pub fn editable(&self) -> bool {
        matches!(&self.status, Ok(l) if l.kind == EntryKind::Fixed)
    }
}

/// The `.ron` level files of `folder`, sorted by file name, each read; or why the folder cannot
/// be listed.
pub fn scan(folder: &Path) -> Result<Vec<LibraryEntry>, String> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        format!(
            "{}: cannot list the folder ({e}); choose a folder of level files, e.g. levels/",
            folder.display()
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "ron"))
        .collect();
    paths.sort();
    Ok(paths.iter().map(|p| LibraryEntry::read(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_levels_all_load_with_previews() {
        let entries = scan(Path::new("levels")).expect("levels/ lists");
        assert!(entries.len() >= 10, "{} level files", entries.len());
        for e in &entries {
            let loaded = e.status.as_ref().unwrap_or_else(|err| panic!("{err}"));
            match loaded.kind {
                EntryKind::Fixed => assert_eq!(loaded.previews.len(), 1),
                _ => assert_eq!(loaded.previews.len(), PREVIEW_SAMPLES),
            }
            assert!(loaded.previews.iter().all(|l| l.size == loaded.size));
        }
        let fork = entries.iter().find(|e| e.name == "fork in the road");
        assert!(fork.is_some_and(LibraryEntry::editable));
        let train = entries.iter().find(|e| e.path.ends_with("train-7x7.ron"));
        assert!(train.is_some_and(|e| !e.editable()));
    }

    #[test]
    fn a_corrupt_file_is_an_entry_with_its_line_and_the_rest_still_load() {
        let dir = std::env::temp_dir().join(format!("maze-rllf-library-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::copy("levels/fork-in-the-road.ron", dir.join("a-fork.ron")).expect("copy");
        std::fs::write(
            dir.join("b-broken.ron"),
            "Fixed(\n  name: \"x\",\n  rows: [oops\n",
        )
        .expect("write");
        std::fs::write(dir.join("notes.txt"), "not a level").expect("write");
        let entries = scan(&dir).expect("lists");
        assert_eq!(entries.len(), 2, "only .ron files");
        assert!(entries[0].status.is_ok());
        let broken = entries[1].status.as_ref().expect_err("broken");
        assert!(broken.contains("b-broken.ron:"), "{broken}");
        assert!(broken.contains("fix:"), "{broken}");
        assert_eq!(entries[1].name, "b-broken");
        let missing = scan(&dir.join("nowhere")).expect_err("no folder");
        assert!(missing.contains("cannot list"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
