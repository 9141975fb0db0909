//! Files written whole or not at all (each write goes to a temporary file created exclusively
//! beside its target, never following a planted file or symlink, and is renamed into place), and
//! the project's shipped files (levels, prompts, models) found from any working directory; and
//! the process's resident memory as `/proc` reports it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it was for.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {action} failed: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` through an exclusive temporary file in the same folder and a rename:
/// readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let error = |action: &'static str| {
        move |source| WriteError {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(error("create a temporary file"))?;
    tmp.write_all(bytes).map_err(error("write"))?;
    tmp.flush().map_err(error("write"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(error("rename"))?;
    Ok(())
}

/// Opens a line-per-record file (JSONL, CSV) for appending, creating it if needed; a torn last
/// line (a kill mid-write) is ended first, so the next record starts a line of its own instead of
/// being glued onto the fragment (readers skip the fragment).
pub fn open_append(path: &Path) -> Result<std::fs::File, WriteError> {
    use std::io::{Read, Seek, SeekFrom};
    let error = |action: &'static str| {
        move |source| WriteError {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(error("open for appending"))?;
    let len = file.metadata().map_err(error("read the size of"))?.len();
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(error("read the last line of"))?;
        if last[0] != b'\n' {
            file.write_all(b"\n")
                .map_err(error("repair the last line of"))?;
        }
    }
    Ok(file)
}

/// Where a shipped file named relative to the project root (`assets/prompts`, `levels/x.ron`,
/// `models`) is: `rel` itself when it is absolute or exists from the working directory, else under
/// `$MAZE_RLLF_HOME`, the source tree this binary was built from, or a folder above the binary;
/// `rel` unchanged when none holds it (errors then name the path as written).
pub fn project_path(rel: impl AsRef<Path>) -> PathBuf {
    let rel = rel.as_ref();
    if rel.is_absolute() || rel.exists() {
        return rel.to_path_buf();
    }
    let mut roots: Vec<PathBuf> = std::env::var_os("MAZE_RLLF_HOME")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots
        .into_iter()
        .map(|root| root.join(rel))
        .find(|p| p.exists())
        .unwrap_or_else(|| rel.to_path_buf())
}

/// A path written in a config file: as written when absolute or found from the working
/// directory, else beside the config file, else a shipped file ([`project_path`]).
pub fn config_relative(written: &str, config_file: &Path) -> PathBuf {
    let path = Path::new(written);
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    match config_file.parent().map(|dir| dir.join(path)) {
        Some(beside) if beside.exists() => beside,
        _ => project_path(path),
    }
}

/// Resident memory of this process in MiB (Linux), 0 elsewhere.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:").unwrap_or(0.0)
}

/// The most resident memory this process has held so far, in MiB (Linux; None elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// A `/proc/self/status` field given in kB, in MiB.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib = line.split_whitespace().nth(1)?.parse::<f64>().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_not_followed_and_the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").expect("victim");
        let target = dir.path().join("out.json");
        // The old fixed temp name, planted as a link to another file.
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.path().join("out.tmp")).expect("link");
        write_atomic(&target, b"new").expect("written");
        write_atomic(&target, b"newer").expect("rewritten");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "newer");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .filter(|e| !e.path().is_symlink())
            .count();
        assert_eq!(leftovers, 0, "no temporary file is left behind");
    }

    #[test]
    fn shipped_files_are_found_from_another_folder() {
        // Tests run from the package root; the fallback roots must find the same files.
        let found = project_path("assets/prompts/compare.txt");
        assert!(found.exists(), "{}", found.display());
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("levels.ron"), "x").expect("write");
        let config = dir.path().join("study.ron");
        assert_eq!(
            config_relative("levels.ron", &config),
            dir.path().join("levels.ron")
        );
        assert!(config_relative("levels/train.ron", &config).exists());
        assert_eq!(
            config_relative("nowhere/x.ron", &config),
            PathBuf::from("nowhere/x.ron")
        );
    }

    #[test]
    fn appending_after_a_torn_line_starts_a_new_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"a\": 2, \"b").expect("torn");
        let mut file = open_append(&path).expect("open");
        writeln!(file, "{{\"a\": 3}}").expect("append");
        drop(file);
        let mut file = open_append(&path).expect("reopen a whole file");
        writeln!(file, "{{\"a\": 4}}").expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\": 1}\n{\"a\": 2, \"b\n{\"a\": 3}\n{\"a\": 4}\n");
        let fresh = dir.path().join("new.jsonl");
        drop(open_append(&fresh).expect("created"));
        assert_eq!(std::fs::read(&fresh).expect("read").len(), 0);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_file() {
        let e = write_atomic(Path::new("/nonexistent-folder/x.json"), b"x").expect_err("fails");
        assert!(e.to_string().contains("/nonexistent-folder/x.json"), "{e}");
    }
}
