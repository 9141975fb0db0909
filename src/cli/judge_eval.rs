//! `judge-eval`: how well judges (embedded models and prompts, or a server) agree with the true
//! outcome on the same pairs, controlled for length and wording.

use clap::Args;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};

/// The arguments of `maze-rllf judge-eval`.
#[derive(Args, Debug)]
pub struct JudgeEvalArgs {
    /// `embedded` (in-process GGUF models) or `http` (an OpenAI-compatible server).
    #[arg(long, value_enum, default_value_t = crate::llm::JudgeKind::Embedded)]
    pub judge: crate::llm::JudgeKind,
    /// With `--judge http`: the server root, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub base_url: Option<String>,
    /// With `--judge http`: `pairwise` (one JSON question per pair) or `per-episode` (a
    /// yes/no question per rollout).
    #[arg(long, default_value = "pairwise")]
    pub ask: String,
    /// Model names (see `scripts/install-models.sh`) or GGUF paths, comma-separated; with
    /// `--judge http`, the names the server knows.
    #[arg(long, default_value = crate::llm::embedded::DEFAULT_MODEL, value_delimiter = ',')]
    pub model: Vec<String>,
    /// Prompt variants (files in assets/prompts/embedded/), comma-separated; default: all. With
    /// `--diagnosis` and `--judges http`: the server's judge reads the facts one question at a
    /// time with each variant given (none given: its JSON reading of all the episodes).
    #[arg(long, value_delimiter = ',')]
    pub prompt: Vec<String>,
    /// Pairs (one success, one failure each) per set.
    #[arg(long, default_value_t = 30)]
    pub pairs: usize,
    /// The corner agent whose rollouts are judged.
    #[arg(long, default_value = "assets/checkpoints/corner-7x7")]
    pub checkpoint: PathBuf,
    /// Episode limit of the judged rollouts.
    #[arg(long, default_value_t = 40)]
    pub max_steps: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Analyses asked per model/prompt.
    #[arg(long, default_value_t = 2)]
    pub analyses: usize,
    /// Dequantize: auto (slow types only), all, none.
    #[arg(long, default_value = "auto")]
    pub dequantize: String,
    /// Merge the controlled agreements into assets/judges/measured.json (shown with labels).
    #[arg(long)]
    pub record: bool,
    #[arg(long)]
    pub json: bool,
    /// Run the diagnosis benchmark of this config instead (e.g.
    /// assets/configs/diagnosis-7x7.ron): do judges name what held-out agents pursue and propose
    /// only scenarios that disambiguate it?
    #[arg(long)]
    pub diagnosis: Option<PathBuf>,
    /// With `--diagnosis`: the judges scored (oracle, random, random-answers: the ideal
    /// judge's pipeline with coin-flip answers, embedded, http), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "oracle,random,embedded")]
    pub judges: Vec<String>,
    /// With `--diagnosis`: where `diagnosis.json` and `diagnosis.md` go.
    #[arg(long, default_value = "results/diagnosis")]
    pub out: PathBuf,
    /// With `--diagnosis`: where the benchmark's agents are trained once and kept (checkpoints:
    /// keep them out of results/).
    #[arg(long, default_value = "runs/diagnosis-agents")]
    pub agents: PathBuf,
    /// With `--diagnosis`: which agents' cases are judged: `development` (for choosing prompts
    /// and settings without looking at the held-out agents), `held-out` or `all`.
    #[arg(long, default_value = "all", value_parser = ["development", "held-out", "all"])]
    pub cases: String,
    /// With `--diagnosis`: instead of judging agents, show how each embedded model and prompt
    /// ranks the menu for each proxy corner of the benchmark (every item's score, whether it
    /// disambiguates, what would be proposed); no agent is read, so it is for development.
    #[arg(long)]
    pub rank_menu: bool,
    /// With `--diagnosis`: a low-rank adapter (`scripts/tune-judge.sh`) added to every embedded
    /// model judged.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
}

/// Checks the arguments and runs the evaluation.
pub(super) fn run(args: JudgeEvalArgs) -> anyhow::Result<()> {
    let JudgeEvalArgs {
        judge,
        base_url,
        ask,
        model,
        prompt,
        pairs,
        checkpoint,
        max_steps,
        seed,
        analyses,
        dequantize,
        record,
        json,
        diagnosis,
        judges,
        out,
        agents,
        cases,
        rank_menu,
        adapter,
    } = args;
    if adapter.is_some() && (diagnosis.is_none() || rank_menu) {
        anyhow::bail!(
            "--adapter is read by the diagnosis benchmark only: add --diagnosis CONFIG (without \
             --rank-menu)"
        );
    }
    if rank_menu {
        let Some(config) = diagnosis else {
            anyhow::bail!("--rank-menu needs --diagnosis CONFIG (the proxy corners it ranks for)");
        };
        let config = crate::experiment::diagnosis::DiagnosisConfig::load(&config)?;
        let md = crate::experiment::menu_ranking::menu_ranking(
            &config,
            &model,
            &prompt,
            &eprintln_status,
        )?;
        std::fs::create_dir_all(&out)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
        crate::files::write_atomic(&out.join("menu-ranking.md"), md.as_bytes())?;
        print!("{md}");
        return Ok(());
    }
    if let Some(config) = diagnosis {
        let dirs = (out.as_path(), agents.as_path());
        let judges = crate::experiment::diagnosis::benchmark_judges(
            &judges,
            &model,
            &prompt,
            adapter.as_deref(),
            base_url.as_deref(),
        )?;
        return diagnosis_benchmark(&config, &judges, dirs, &cases);
    }
    use crate::llm::JudgeKind;
    let http = match (judge, base_url) {
        (JudgeKind::Embedded, None) => None,
        (JudgeKind::Embedded, Some(_)) => {
            anyhow::bail!("--base-url is for --judge http");
        }
        (JudgeKind::Http, Some(url)) => {
            let ask = match ask.as_str() {
                "pairwise" => crate::llm::http::HttpAsk::Pairwise,
                "per-episode" => crate::llm::http::HttpAsk::PerEpisode,
                other => {
                    anyhow::bail!("--ask {other}: use pairwise or per-episode");
                }
            };
            let config = crate::llm::http::HttpConfig {
                ask,
                ..crate::llm::http::HttpConfig::new(&url, "")
            };
            config.validate()?;
            Some(config)
        }
        (JudgeKind::Http, None) => {
            anyhow::bail!("--judge http needs --base-url (e.g. http://127.0.0.1:8080)");
        }
        (other, _) => {
            anyhow::bail!(
                "--judge {other}: judge-eval measures models: use embedded or http (the oracle \
                 and a person are scored by `--diagnosis ... --judges oracle`)"
            );
        }
    };
    let dequantize = match dequantize.as_str() {
        "auto" => crate::llm::embedded::Dequantize::Auto,
        "all" => crate::llm::embedded::Dequantize::All,
        "none" => crate::llm::embedded::Dequantize::None,
        other => anyhow::bail!("--dequantize {other}: use auto, all or none"),
    };
    let prompts = if prompt.is_empty() {
        crate::llm::embedded::PromptVariant::names()
    } else {
        prompt
    };
    judge_eval(
        crate::experiment::judge_eval::EvalSettings {
            checkpoint,
            pairs,
            seed,
            max_steps,
            models: model,
            prompts,
            dequantize,
            analyses,
        },
        http,
        record,
        json,
    )
}

fn judge_eval(
    settings: crate::experiment::judge_eval::EvalSettings,
    http: Option<crate::llm::http::HttpConfig>,
    record: bool,
    json: bool,
) -> anyhow::Result<()> {
    use crate::experiment::judge_eval::{collect_pairs, record_measured, run, run_http, table};
    if settings.pairs == 0 {
        anyhow::bail!("--pairs must be at least 1");
    }
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_message("rolling out the agent");
    let bank = collect_pairs(&settings)?;
    // Each finished model/prompt is also logged, so long runs show partial results.
    let progress = |m: String| {
        if m.contains("controlled agreement") {
            bar.println(&m);
            if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("{m}");
            }
        }
        bar.set_message(m)
    };
    let results = match &http {
        Some(config) => run_http(&settings, &bank, config, &progress)?,
        None => run(&settings, &bank, &progress)?,
    };
    bar.finish_and_clear();
    if record {
        record_measured(&results, Path::new(crate::llm::embedded::MEASURED_FILE))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "{} pairs per set, rollouts of {} in shifted mazes (limit {} steps)",
            settings.pairs,
            settings.checkpoint.display(),
            settings.max_steps
        );
        print!("{}", table(&results));
        for r in &results {
            println!(
                "{}/{}: analysis example: {:?} -> scenarios {:?}",
                r.model, r.prompt, r.analysis_example, r.scenarios_example
            );
        }
    }
    Ok(())
}

fn diagnosis_benchmark(
    config: &Path,
    judges: &[crate::llm::JudgeSpec],
    (out, agents): (&Path, &Path),
    which: &str,
) -> anyhow::Result<()> {
    use crate::experiment::diagnosis::{
        DiagnosisConfig, Score, cases, competence, evaluate, table,
    };
    let config = DiagnosisConfig::load(config)?;
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
    let status = |m: String| eprintln!("{m}");
    // Only the agents of the cases asked for are trained (or loaded) and rolled out.
    let mut judged_seeds = config.clone();
    match which {
        "development" => judged_seeds.held_out_seeds.clear(),
        "held-out" => judged_seeds.development_seeds.clear(),
        _ => {}
    }
    let cases = cases(&judged_seeds, agents, &status)?;
    let max_steps = config.train.max_steps;
    let Some(base) = cases.first().map(|case| case.base.clone()) else {
        anyhow::bail!("the benchmark has no cases: list kinds and seeds");
    };
    let mut scores = Vec::new();
    for spec in judges {
        let mut judge = spec.build(&base, 1)?;
        status(format!(
            "judging {} cases with {}",
            cases.len(),
            judge.name()
        ));
        let score = evaluate(&cases, max_steps, judge.as_mut(), &status)?;
        // A set with no cases (one `--cases` left out) says so, not "0.0% [0.0, 100.0]".
        let correct = |s: &Score| {
            if s.cases == 0 {
                "- (no cases)".to_string()
            } else {
                s.correct.to_string()
            }
        };
        status(format!(
            "{}: held-out correct {}, development correct {}",
            score.judge,
            correct(&score.held_out),
            correct(&score.development)
        ));
        scores.push(score);
    }
    let json = serde_json::to_vec_pretty(&scores)?;
    let stem = match which {
        "development" => "diagnosis-development",
        "held-out" => "diagnosis-held-out",
        _ => "diagnosis",
    };
    crate::files::write_atomic(&out.join(format!("{stem}.json")), &json)?;
    let held = cases.iter().filter(|c| c.held_out).count();
    let scope = if which == "development" {
        format!(
            "Development cases only ({} agents' seeds {:?}; the held-out agents were not judged): for choosing prompts and settings.",
            config.kinds.len(),
            config.development_seeds
        )
    } else {
        format!(
            "{held} held-out cases ({} kinds x {} held-out seeds x {} rollout sets of {} rollouts; development seeds {:?} not counted).",
            config.kinds.len(),
            config.held_out_seeds.len(),
            config.cases_per_agent,
            config.inspect_rollouts,
            config.development_seeds,
        )
    };
    let md = format!(
        "# Diagnosis benchmark\n\n{scope} Every judge reads each agent's episodes on its own training mazes and probe episodes with the cheese anywhere. Correct: named what the agent pursues and proposed only menu items that disambiguate it (\"no change\" for the healthy agent). 95% Wilson intervals over cases; \"by agent\": a 95% interval from resampling agents (their cases together). \"answers true\": for judges that answer the per-episode questions one by one, the share of answers the simulator confirms.\n\n{}\n\n{}",
        competence(&cases),
        table(&scores)
    );
    crate::files::write_atomic(&out.join(format!("{stem}.md")), md.as_bytes())?;
    print!("{md}");
    Ok(())
}

/// Progress on stderr, one line per step.
fn eprintln_status(message: String) {
    eprintln!("{message}");
}
