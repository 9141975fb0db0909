//! The region study: for each cheese region r and seed, PPO with the env reward to tau*T, one LLM
//! feedback round ([`super::round`]: analysis, scenarios, swap-averaged preferences, reward
//! model), then every configured fine-tuning arm from that same checkpoint to T (baseline,
//! paper, designer, the scenarios-with-env-reward control, the ceiling), all evaluated on the same
//! shifted mazes and compared with the baseline by McNemar's paired test; plus one reference
//! agent per seed trained on the shifted distribution itself. Resumable (finished cells and arms
//! are skipped, labels are cached as they arrive), `--jobs N` parallel, and reported as
//! `results.csv`, `report.md` and the figure (`plot.svg`, `plot.png`).

mod cell;
mod config;
mod report;
mod run;
mod tables;

pub use cell::{ArmRun, CellCost, CellResult, ReferenceRun, run_cell, run_reference};
pub use config::StudyConfig;
pub use report::write_reports;
pub use run::{StudyProgress, merge, run_study};
pub use tables::{ArmRow, arm_rows};
