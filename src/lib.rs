//! maze-rllf: an RL agent learns the wrong goal in Procgen-style mazes, and LLM feedback repairs
//! it (arXiv 2401.07181). This crate is the engine-free core plus the command-line front end.

#[cfg(feature = "app")]
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod errors;
pub mod experiment;
pub mod files;
pub mod level;
pub mod llm;
pub mod reward;
pub mod rl;
pub mod rng;
pub mod sim;
pub mod trainer;
