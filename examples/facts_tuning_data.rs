//! The questions a judge model is tuned on (`scripts/tune-judge.sh`): the ideal judge's
//! per-episode questions (`src/llm/facts.rs`) about the diagnosis benchmark's **development**
//! agents only, on mazes drawn from seeds no benchmark case uses, each with the simulator's
//! answer. One JSON line per question: the agent, the question, the prompt's token ids as the
//! embedded judge asks it (`EmbeddedJudge::fact_prompt`) and the true answer; the first line
//! holds the yes and no token ids. With `--reference N` the first N questions also carry the
//! embedded model's own log-odds, so the tuning script can check its forward pass against it.
//!
//! `cargo run --release --no-default-features --features embedded --example facts_tuning_data --
//! CONFIG AGENTS OUT MODEL VARIANT TRAINING PROBES [--reference N]` (episodes per agent)
use maze_rllf::experiment::collect_rollouts;
use maze_rllf::experiment::diagnosis::{DiagnosisConfig, agent};
use maze_rllf::level::{Corner, LevelSource};
use maze_rllf::llm::embedded::{EmbeddedConfig, EmbeddedJudge};
use maze_rllf::llm::facts::Question;
use maze_rllf::rng::derive_seed;
use std::io::Write;
use std::path::Path;

/// Seed offsets of the tuning mazes, far from the benchmark's (0x7A1.., 0xD1A6.., 0xC0DE).
const TRAINING_MAZES: u64 = 0x7E5_0000;
const PROBE_MAZES: u64 = 0x7E6_0000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 8 {
        return Err(
            "usage: CONFIG AGENTS OUT MODEL VARIANT TRAINING PROBES [--reference N]".into(),
        );
    }
    let config = DiagnosisConfig::load(Path::new(&args[1]))?;
    let agents = Path::new(&args[2]);
    let counts: [usize; 2] = [args[6].parse()?, args[7].parse()?];
    let reference: usize = match args.iter().position(|a| a == "--reference") {
        Some(i) => args
            .get(i + 1)
            .ok_or("--reference needs a count")?
            .parse()?,
        None => 0,
    };
    let first_kind = config.kinds.first().ok_or("the config has no kinds")?;
    let mut judge = EmbeddedJudge::new(
        &EmbeddedConfig {
            model: args[4].clone(),
            prompt: args[5].clone(),
            analyst: None,
            ..Default::default()
        },
        config.training_spec(*first_kind, 0)?,
    )?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3])?);
    let (yes, no) = judge.answer_tokens();
    writeln!(out, "{}", serde_json::json!({"yes": yes, "no": no}))?;
    let mut written = 0usize;
    for &seed in &config.development_seeds {
        for &kind in &config.kinds {
            let policy = agent(&config, kind, seed, agents, &|s| eprintln!("{s}"))?;
            let base = config.training_spec(kind, seed)?;
            let sources = [
                (
                    LevelSource::Distribution {
                        name: "training".into(),
                        spec: base.clone(),
                    },
                    TRAINING_MAZES,
                    Question::CheeseIn as fn(Corner) -> Question,
                ),
                (
                    LevelSource::Distribution {
                        name: "cheese anywhere".into(),
                        spec: base.shifted(),
                    },
                    PROBE_MAZES,
                    Question::HeadsFor as fn(Corner) -> Question,
                ),
            ];
            for ((source, offset, question), count) in sources.into_iter().zip(counts) {
                let rollouts = collect_rollouts(
                    &policy,
                    &source,
                    count,
                    derive_seed(seed, offset),
                    config.train.max_steps,
                );
                for rollout in &rollouts {
                    for corner in Corner::ALL {
                        let q = question(corner);
                        let (_, tokens) = judge.fact_prompt(q, rollout)?;
                        let mut line = serde_json::json!({
                            "agent": format!("{}-s{seed}", kind.key()),
                            "question": format!("{q:?}"),
                            "tokens": tokens,
                            "truth": q.truth(rollout),
                        });
                        if written < reference {
                            line["odds"] = serde_json::json!(judge.fact_odds(q, rollout)?);
                        }
                        writeln!(out, "{line}")?;
                        written += 1;
                    }
                }
            }
            eprintln!("{}-s{seed}: {written} questions", kind.key());
        }
    }
    Ok(())
}
