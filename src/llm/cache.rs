//! The label cache: every judge query and answer, appended to a JSONL file as it arrives and keyed
//! by (prompt hash, backend, model), so rounds replay offline and a killed run loses no label.

use crate::files::WriteError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// FNV-1a 64-bit hash as 16 hex digits.
pub fn hash_hex(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    key: String,
    judge: String,
    prompt_hash: String,
    answer: serde_json::Value,
}

/// An append-only JSONL cache of judge answers.
pub struct LabelCache {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    entries: HashMap<String, serde_json::Value>,
    /// Lines that could not be read back (a torn last line after a kill, for instance).
    pub skipped_lines: usize,
}

impl LabelCache {
    /// A cache that lives only in memory.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            file: None,
            entries: HashMap::new(),
            skipped_lines: 0,
        }
    }

    /// Opens (or creates) the cache file and reads every complete entry.
    pub fn open(path: &Path) -> Result<Self, WriteError> {
        let mut entries = HashMap::new();
        let mut skipped_lines = 0;
        let existing = std::fs::read_to_string(path).ok();
        if let Some(text) = &existing {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Entry>(line) {
                    Ok(e) => {
                        entries.insert(e.key, e.answer);
                    }
                    Err(_) => skipped_lines += 1,
                }
            }
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| WriteError {
                path: parent.to_path_buf(),
                action: "creating the folder",
                source,
            })?;
        }
        // A torn last line (a kill mid-write) is ended on opening, so the next answer starts a
        // line of its own instead of being glued onto the fragment and lost with it.
        let file = crate::files::open_append(path)?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            file: Some(file),
            entries,
            skipped_lines,
        })
    }

    fn key(judge: &str, prompt: &str) -> String {
        format!("{}:{judge}", hash_hex(prompt))
    }

    /// A cached answer for this judge and prompt.
    pub fn get(&self, judge: &str, prompt: &str) -> Option<&serde_json::Value> {
        self.entries.get(&Self::key(judge, prompt))
    }

    /// Stores an answer (appended and flushed at once).
    pub fn put(
        &mut self,
        judge: &str,
        prompt: &str,
        answer: serde_json::Value,
    ) -> Result<(), WriteError> {
        let key = Self::key(judge, prompt);
        if let Some(file) = &mut self.file {
            let entry = Entry {
                key: key.clone(),
                judge: judge.to_string(),
                prompt_hash: hash_hex(prompt),
                answer: answer.clone(),
            };
            serde_json::to_string(&entry)
                .map_err(std::io::Error::from)
                .and_then(|line| writeln!(file, "{line}"))
                .and_then(|()| file.flush())
                .map_err(|source| WriteError {
                    path: self.path.clone().unwrap_or_default(),
                    action: "appending to the label cache",
                    source,
                })?;
        }
        self.entries.insert(key, answer);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_reopening_and_a_torn_line_loses_only_itself() {
        let path =
            std::env::temp_dir().join(format!("maze-rllf-cache-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let mut cache = LabelCache::open(&path).expect("open");
            cache
                .put("oracle", "prompt one", serde_json::json!({"choice": 1}))
                .expect("put");
            cache
                .put("oracle", "prompt two", serde_json::json!({"choice": 2}))
                .expect("put");
        }
        // A kill mid-write leaves a torn last line.
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"key\": \"abc");
        std::fs::write(&path, text).expect("write");
        let mut cache = LabelCache::open(&path).expect("reopen");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.skipped_lines, 1);
        assert_eq!(
            cache.get("oracle", "prompt two"),
            Some(&serde_json::json!({"choice": 2}))
        );
        assert_eq!(cache.get("other-judge", "prompt two"), None);
        // The next answer after the fragment is kept: it starts a line of its own.
        cache
            .put("oracle", "prompt three", serde_json::json!({"choice": 1}))
            .expect("put");
        drop(cache);
        let cache = LabelCache::open(&path).expect("reopen");
        assert_eq!((cache.len(), cache.skipped_lines), (3, 1));
        let _ = std::fs::remove_file(&path);
    }

    /// A question asked twice in one run is a repeat; only an answer an earlier run stored
    /// counts as replayed (what marks a study cell as resumed).
    #[test]
    fn a_repeated_question_is_not_a_replay_of_an_earlier_run() {
        use crate::level::Corner;
        use crate::llm::handmade::{self, Probes};
        use crate::llm::oracle::{Oracle, OracleConfig};
        use crate::llm::{CachedJudge, Judge};

        let path = std::env::temp_dir().join(format!(
            "maze-rllf-cache-replay-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let base = handmade::training_spec(crate::llm::Diagnosis::Corner(Corner::TopRight), 2);
        let episodes = handmade::episodes(&base, Probes::ToCheese);
        let (first, second) = (&episodes.training[0], &episodes.training[1]);
        let judge = |cache| {
            CachedJudge::new(
                Box::new(Oracle::new(OracleConfig::default(), base.clone(), 7)),
                cache,
            )
        };

        let mut this_run = judge(LabelCache::open(&path).expect("open"));
        let answer = this_run.compare(first, second).expect("asked");
        assert_eq!(this_run.compare(first, second).expect("repeated"), answer);
        assert_eq!(
            (this_run.misses, this_run.hits, this_run.replayed),
            (1, 1, 0)
        );
        drop(this_run);

        let mut next_run = judge(LabelCache::open(&path).expect("reopen"));
        assert_eq!(next_run.compare(first, second).expect("replayed"), answer);
        assert_eq!(
            (next_run.misses, next_run.hits, next_run.replayed),
            (0, 1, 1)
        );
        let _ = std::fs::remove_file(&path);
    }
}
