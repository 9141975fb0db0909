//! A study's work as independent units on a shared output folder: the (region, seed) cells and
//! reference agents in a stable order, slices of them for separate workers (`--cells I/N`, one
//! per Slurm array task), a lock per unit so that two workers never run the same one (a dead
//! worker's lock is taken over), and the finished units read back for the reports (`--merge`).

use super::study::{CellResult, ReferenceRun, StudyConfig};
use crate::errors::{FileError, Invalid};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A unit of a study's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Cell(usize, u64),
    Reference(u64),
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Work::Cell(region, seed) => write!(f, "r={region} seed={seed}"),
            Work::Reference(seed) => write!(f, "reference agent seed={seed}"),
        }
    }
}

impl Work {
    /// Where the unit's finished result is stored.
    pub fn result_path(self, out: &Path) -> PathBuf {
        match self {
            Work::Cell(region, seed) => cell_dir(out, region, seed).join("result.json"),
            Work::Reference(seed) => reference_path(out, seed),
        }
    }

    /// The unit's lock file (beside its result).
    fn lock_path(self, out: &Path) -> PathBuf {
        match self {
            Work::Cell(region, seed) => cell_dir(out, region, seed).join("lock"),
            Work::Reference(seed) => out.join("reference").join(format!("s{seed}.lock")),
        }
    }

    /// Whether a finished result is stored.
    pub fn is_finished(self, out: &Path) -> bool {
        self.result_path(out).is_file()
    }
}

/// The folder of one cell.
pub fn cell_dir(out: &Path, region: usize, seed: u64) -> PathBuf {
    out.join("cells").join(format!("r{region:02}-s{seed}"))
}

/// Where the reference agent of `seed` (trained on the shifted distribution) is stored.
pub fn reference_path(out: &Path, seed: u64) -> PathBuf {
    out.join("reference").join(format!("s{seed}.json"))
}

/// Every unit of a study in a stable order: cells by region, then seed, then the reference
/// agents by seed.
pub fn all_work(config: &StudyConfig) -> Vec<Work> {
    let mut regions = config.regions.clone();
    regions.sort_unstable();
    regions.dedup();
    let mut seeds = config.seeds.clone();
    seeds.sort_unstable();
    seeds.dedup();
    let mut work: Vec<Work> = regions
        .iter()
        .flat_map(|&r| seeds.iter().map(move |&s| Work::Cell(r, s)))
        .collect();
    if config.reference {
        work.extend(seeds.iter().map(|&s| Work::Reference(s)));
    }
    work
}

/// The `index`-th of `count` slices of a study's units, one per worker (0-based, as Slurm array
/// task ids): unit `i` of [`all_work`] belongs to slice `i % count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Slice {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid(format!(
                "--cells {s}: write I/N with 0 <= I < N, e.g. 0/4 (the first of 4)"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Slice {
    /// The units of this slice, in [`all_work`] order.
    pub fn of(self, work: &[Work]) -> Vec<Work> {
        work.iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, w)| *w)
            .collect()
    }
}

/// A lock on one unit, held while it runs: a file created exclusively, naming the host and
/// process, its modification time refreshed while held; removed when dropped.
pub struct UnitLock {
    path: PathBuf,
    stop: Option<crossbeam_channel::Sender<()>>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

/// A lock untouched for this long belongs to a worker that is gone (another host's worker
/// refreshes its lock every [`HEARTBEAT`]).
pub const STALE_AFTER: Duration = Duration::from_secs(600);
const HEARTBEAT: Duration = Duration::from_secs(60);

/// Who holds a lock: the text written into it.
fn holder() -> String {
    format!("{} {}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether the lock at `path` (holding `text`) belongs to a worker that no longer runs: a dead
/// process on this host, or a lock nobody refreshed for [`STALE_AFTER`].
fn is_stale(path: &Path, text: &str) -> bool {
    let mut parts = text.split_whitespace();
    if let (Some(host), Some(pid)) = (parts.next(), parts.next())
        && host == host_name()
        && Path::new("/proc").is_dir()
    {
        return !Path::new("/proc").join(pid).exists();
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE_AFTER)
}

/// Who holds a unit's lock: its host and process, as the lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(pub String);

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl UnitLock {
    /// Takes the lock of `work`, or says who holds it (`Ok(Err(holder))`).
    pub fn take(work: Work, out: &Path) -> Result<Result<Self, Holder>, FileError> {
        let path = work.lock_path(out);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(FileError::at(dir, "creating the folder"))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(holder().as_bytes())
                        .map_err(FileError::at(&path, "writing the lock"))?;
                    return Ok(Ok(Self::held(path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if !is_stale(&path, &text) {
                        return Ok(Err(Holder(text.trim().to_string())));
                    }
                    // A dead worker's lock: remove it and try once more (another worker doing
                    // the same at this moment wins or loses the exclusive create, never both).
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(FileError::at(&path, "creating the lock")(e)),
            }
        }
        Ok(Err(Holder(
            "another worker (it took the lock first)".into(),
        )))
    }

    fn held(path: PathBuf) -> Self {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let touched = path.clone();
        let heartbeat = std::thread::Builder::new()
            .name("study-lock".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(HEARTBEAT)
                {
                    if let Ok(file) = std::fs::File::options().append(true).open(&touched) {
                        let _ = file.set_modified(SystemTime::now());
                    }
                }
            })
            .ok();
        Self {
            path,
            stop: Some(stop),
            heartbeat,
        }
    }
}

impl Drop for UnitLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.heartbeat.take() {
            let _ = handle.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The finished units of a study in `out`: cell results sorted by (region, seed), reference
/// runs by seed, and the units not finished yet.
pub struct Finished {
    pub cells: Vec<CellResult>,
    pub references: Vec<(u64, ReferenceRun)>,
    pub missing: Vec<Work>,
}

/// Reads every finished unit of `config`'s study from `out`.
pub fn read_finished(config: &StudyConfig, out: &Path) -> Finished {
    let mut finished = Finished {
        cells: Vec::new(),
        references: Vec::new(),
        missing: Vec::new(),
    };
    let read = |path: PathBuf| std::fs::read_to_string(path).ok();
    for work in all_work(config) {
        let text = read(work.result_path(out));
        match work {
            Work::Cell(..) => match text.and_then(|t| serde_json::from_str(&t).ok()) {
                Some(result) => finished.cells.push(result),
                None => finished.missing.push(work),
            },
            Work::Reference(seed) => match text.and_then(|t| serde_json::from_str(&t).ok()) {
                Some(run) => finished.references.push((seed, run)),
                None => finished.missing.push(work),
            },
        }
    }
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_the_units_without_overlap_or_gaps() {
        let work: Vec<Work> = (0..7).map(|r| Work::Cell(r, 0)).collect();
        let shares: Vec<Vec<Work>> = (0..3)
            .map(|i| Slice { index: i, count: 3 }.of(&work))
            .collect();
        assert_eq!(shares[0], vec![work[0], work[3], work[6]]);
        let mut all: Vec<Work> = shares.concat();
        all.sort_by_key(|w| format!("{w}"));
        assert_eq!(all.len(), work.len());
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Slice>().is_err(), "{bad}");
        }
        assert_eq!("1/4".parse::<Slice>(), Ok(Slice { index: 1, count: 4 }));
    }

    #[test]
    fn a_lock_is_exclusive_and_a_dead_workers_lock_is_taken_over() {
        let out = tempfile::tempdir().expect("temp dir");
        let work = Work::Cell(3, 1);
        let first = UnitLock::take(work, out.path()).expect("io").expect("free");
        let second = UnitLock::take(work, out.path()).expect("io");
        assert!(second.is_err(), "held by the first");
        drop(first);
        assert!(!work.lock_path(out.path()).exists(), "released on drop");
        // A lock left by a process that no longer exists on this host.
        std::fs::write(
            work.lock_path(out.path()),
            format!("{} {}", host_name(), u32::MAX),
        )
        .expect("stale lock");
        let taken = UnitLock::take(work, out.path()).expect("io");
        assert!(taken.is_ok(), "a dead worker's lock is taken over");
    }
}
