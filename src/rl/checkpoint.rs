//! Checkpoints: config + weights + optimizer state + step counter + RNG and env state, written
//! atomically (a temp folder renamed into place) and checked on load.

use super::model::ActorCritic;
use super::ppo::{Trainer, TrainerState};
use crate::config::TrainConfig;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped whenever the on-disk layout changes.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const CONFIG: &str = "config.ron";
const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "state.json";
/// File in a run folder naming its newest checkpoint.
pub const LATEST: &str = "latest";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a checkpoint ({reason}); pass a run folder or one of its checkpoint-* folders"
    )]
    Missing { path: PathBuf, reason: String },
    #[error(
        "{path}: corrupt checkpoint file: {reason}; retrain or resume from an older checkpoint"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: incompatible checkpoint: {reason}")]
    Incompatible { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    global_step: u64,
    iteration: u64,
    /// (file name, size in bytes, FNV-1a 64 checksum).
    files: Vec<(String, u64, u64)>,
}

/// FNV-1a 64-bit hash: catches truncated and altered files.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io {
        path,
        action,
        source,
    }
}

/// Writes `bytes` to `path` whole or not at all ([`crate::files::write_atomic`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    crate::files::write_atomic(path, bytes).map_err(|e| CheckpointError::Io {
        path: e.path,
        action: e.action,
        source: e.source,
    })
}

/// Saves the trainer into `run_dir/checkpoint-<step>` and points `run_dir/latest` at it.
pub fn save(trainer: &Trainer, run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    let (config, model, optim, state) = trainer.parts();
    let name = format!("checkpoint-{:010}", state.global_step);
    let final_dir = run_dir.join(&name);
    std::fs::create_dir_all(run_dir).map_err(io(run_dir, "create"))?;
    // A fresh folder of our own (created exclusively), renamed into place when complete.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempdir_in(run_dir)
        .map_err(io(run_dir, "create a temporary folder"))?;
    let tmp_dir = tmp.path().to_path_buf();
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: tmp_dir.clone(),
        reason,
    };
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| corrupt(format!("serialising weights: {e:?}")))?;
    let optim_bytes = optim
        .into_bytes()
        .map_err(|e| corrupt(format!("serialising optimizer: {e:?}")))?;
    let state_json = serde_json::to_vec(state).map_err(|e| corrupt(e.to_string()))?;
    let files: Vec<(&str, Vec<u8>)> = vec![
        (CONFIG, config.to_ron().into_bytes()),
        (MODEL, model_bytes.to_vec()),
        (OPTIMIZER, optim_bytes.to_vec()),
        (STATE, state_json),
    ];
    for (file, bytes) in &files {
        std::fs::write(tmp_dir.join(file), bytes).map_err(io(&tmp_dir.join(file), "write"))?;
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        global_step: state.global_step,
        iteration: state.iteration,
        files: files
            .iter()
            .map(|(f, b)| (f.to_string(), b.len() as u64, checksum(b)))
            .collect(),
    };
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| corrupt(e.to_string()))?;
    std::fs::write(tmp_dir.join(MANIFEST), manifest).map_err(io(&tmp_dir, "write manifest"))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir, "replace"))?;
    }
    std::fs::rename(tmp.keep(), &final_dir).map_err(io(&final_dir, "rename"))?;
    write_atomic(&run_dir.join(LATEST), name.as_bytes())?;
    Ok(final_dir)
}

/// Resolves a run folder (via its `latest` file) or a checkpoint folder.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    // Shipped checkpoints (`assets/checkpoints/..`) are found from any working directory.
    let path = &crate::files::project_path(path);
    if path.join(MANIFEST).is_file() {
        return Ok(path.to_path_buf());
    }
    let latest = path.join(LATEST);
    if latest.is_file() {
        let name = std::fs::read_to_string(&latest).map_err(io(&latest, "read"))?;
        let name = name.trim();
        // `latest` names a folder beside it, never a path elsewhere.
        let mut parts = Path::new(name).components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            return Err(CheckpointError::Corrupt {
                path: latest,
                reason: format!("it names {name:?}, not a checkpoint folder of this run"),
            });
        }
        let dir = path.join(name);
        if dir.join(MANIFEST).is_file() {
            return Ok(dir);
        }
        return Err(CheckpointError::Missing {
            path: dir,
            reason: "the folder named by 'latest' has no manifest.json".into(),
        });
    }
    Err(CheckpointError::Missing {
        path: path.to_path_buf(),
        reason: "no manifest.json and no 'latest' file".into(),
    })
}

/// A run folder found by [`find_runs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub path: PathBuf,
    /// The newest checkpoint's folder name (what `latest` names).
    pub latest: String,
    /// Whether the run logged its iterations (`metrics.jsonl`), so opening it shows its history.
    pub has_metrics: bool,
}

/// The run folders (those with a `latest` file) in `folder` and one level below it (a study's
/// arms), sorted by path; or why the folder cannot be listed.
pub fn find_runs(folder: &Path) -> Result<Vec<RunSummary>, CheckpointError> {
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    std::fs::read_dir(folder).map_err(io(folder, "listing the folder"))?;
    let mut runs: Vec<RunSummary> = list(folder)
        .into_iter()
        .flat_map(|dir| {
            let below = list(&dir);
            std::iter::once(dir).chain(below)
        })
        .filter_map(|dir| {
            let latest = std::fs::read_to_string(dir.join(LATEST)).ok()?;
            Some(RunSummary {
                has_metrics: dir.join("metrics.jsonl").is_file(),
                latest: latest.trim().to_string(),
                path: dir,
            })
        })
        .collect();
    runs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(runs)
}

/// A loaded checkpoint's pieces.
pub struct Loaded {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub model: ActorCritic,
    pub optimizer_bytes: Vec<u8>,
    pub state: TrainerState,
}

/// Loads and checks every file of a checkpoint; weights land on `device`.
pub fn load(path: &Path, device: &Device) -> Result<Loaded, CheckpointError> {
    let dir = resolve(path)?;
    let read_file = |file: &str| -> Result<Vec<u8>, CheckpointError> {
        let p = dir.join(file);
        std::fs::read(&p).map_err(|e| CheckpointError::Missing {
            path: p,
            reason: e.to_string(),
        })
    };
    let corrupt = |file: &str, reason: String| CheckpointError::Corrupt {
        path: dir.join(file),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(&read_file(MANIFEST)?)
        .map_err(|e| corrupt(MANIFEST, e.to_string()))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(CheckpointError::Incompatible {
            path: dir.clone(),
            reason: format!(
                "format version {} but this build reads version {FORMAT_VERSION}",
                manifest.format_version
            ),
        });
    }
    // Every listed file is read once, checked, and then parsed from memory; only the files a
    // checkpoint holds are read, never a path elsewhere.
    let mut contents = std::collections::HashMap::new();
    for (file, size, sum) in &manifest.files {
        if ![CONFIG, MODEL, OPTIMIZER, STATE].contains(&file.as_str()) {
            return Err(corrupt(
                MANIFEST,
                format!("it lists {file:?}, which is not a checkpoint file"),
            ));
        }
        let bytes = read_file(file)?;
        if bytes.len() as u64 != *size {
            return Err(corrupt(
                file,
                format!("{} bytes, the manifest says {size}", bytes.len()),
            ));
        }
        if checksum(&bytes) != *sum {
            return Err(corrupt(
                file,
                "checksum mismatch: the file was altered".into(),
            ));
        }
        contents.insert(file.as_str(), bytes);
    }
    let mut read = |file: &str| -> Result<Vec<u8>, CheckpointError> {
        contents
            .remove(file)
            .ok_or_else(|| CheckpointError::Missing {
                path: dir.join(file),
                reason: "not listed in manifest.json".into(),
            })
    };
    let config_text =
        String::from_utf8(read(CONFIG)?).map_err(|e| corrupt(CONFIG, e.to_string()))?;
    let config = TrainConfig::parse(&dir.join(CONFIG), &config_text)
        .map_err(|e| corrupt(CONFIG, e.to_string()))?;
    config
        .validate()
        .map_err(|e| corrupt(CONFIG, e.to_string()))?;
    let state: TrainerState =
        serde_json::from_slice(&read(STATE)?).map_err(|e| corrupt(STATE, e.to_string()))?;
    // The checksum only says the files are as written; this says they can be run.
    state
        .venv
        .validate(config.ppo.num_envs)
        .map_err(|e| corrupt(STATE, e))?;
    let world = state.venv.world_size();
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(MODEL)?))
        .map_err(|e| corrupt(MODEL, format!("{e:?}")))?;
    let model = ActorCritic::new(&config.model, world, config.seed, device)
        .try_load_record(record)
        .map_err(|e| CheckpointError::Incompatible {
            path: dir.join(MODEL),
            reason: format!("weights do not fit the configured model: {e:?}"),
        })?;
    Ok(Loaded {
        dir: dir.clone(),
        config,
        model,
        optimizer_bytes: read(OPTIMIZER)?,
        state,
    })
}

/// Rebuilds a trainer that continues exactly where the checkpoint stopped. `overrides` may
/// change settings such as `ppo.total_timesteps`, but not the model.
pub fn resume(
    path: &Path,
    device: &Device,
    overrides: &[String],
) -> Result<Trainer, CheckpointError> {
    let train_device = device.clone().autodiff();
    let loaded = load(path, &train_device)?;
    let config = loaded
        .config
        .clone()
        .with_overrides(overrides)
        .map_err(|e| CheckpointError::Incompatible {
            path: loaded.dir.clone(),
            reason: e.to_string(),
        })?;
    // An overridden value is checked before anything is trained or written.
    config
        .validate()
        .map_err(|e| CheckpointError::Incompatible {
            path: loaded.dir.clone(),
            reason: e.to_string(),
        })?;
    if config.model != loaded.config.model || config.ppo.num_envs != loaded.config.ppo.num_envs {
        return Err(CheckpointError::Incompatible {
            path: loaded.dir.clone(),
            reason: "the model and ppo.num_envs cannot change when resuming".into(),
        });
    }
    let optim = super::ppo::optimizer()
        .from_bytes(Bytes::from_bytes_vec(loaded.optimizer_bytes))
        .map_err(|e| CheckpointError::Corrupt {
            path: loaded.dir.join(OPTIMIZER),
            reason: format!("{e:?}"),
        })?;
    Ok(Trainer::assemble(
        config,
        train_device,
        loaded.model,
        optim,
        loaded.state,
    ))
}
