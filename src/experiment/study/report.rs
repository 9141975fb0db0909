//! The study's reports: per region and arm the rates pooled over seeds and McNemar's paired test
//! against the baseline, as `results.csv`, `report.md` and `plot.png`.

use super::*;
use crate::experiment::cells::Finished;
use crate::experiment::plot::{PlotSeries, cheese_rate_plot};
use crate::experiment::round::{Arm, ArmOutcome};
use crate::files::write_atomic;
use crate::llm::scenario::ScenarioEdit;
use crate::sim::{McNemar, OutcomeSummary, Rate, cheese_first};
use std::path::Path;

/// One arm in one region, pooled over seeds.
pub struct ArmRow {
    pub region: usize,
    pub arm: Arm,
    /// Cheese, corner-first, neither.
    pub rates: [Rate; 3],
    /// McNemar's test of reaching the cheese, baseline vs this arm, over every (seed, maze)
    /// pair (None for the baseline itself).
    pub versus_baseline: Option<McNemar>,
}

/// The outcome letters of several evaluations, end to end (mazes stay paired across arms as
/// long as every arm lists its seeds in the same order).
fn rates_of(letters: &str) -> [Rate; 3] {
    let n = letters.len();
    let count = |c: char| letters.chars().filter(|&x| x == c).count();
    [
        Rate::new(count('c'), n),
        Rate::new(count('k'), n),
        Rate::new(count('n'), n),
    ]
}

/// Per region and arm: rates pooled over seeds and the paired test against the baseline.
pub fn arm_rows(results: &[CellResult], arms: &[Arm]) -> Vec<ArmRow> {
    let mut regions: Vec<usize> = results.iter().map(|r| r.region).collect();
    regions.dedup();
    let mut rows = Vec::new();
    for region in regions {
        let cells: Vec<&CellResult> = results.iter().filter(|r| r.region == region).collect();
        let letters = |arm: Arm| -> Option<String> {
            cells
                .iter()
                .map(|c| c.arm(arm).map(|o| o.outcomes.clone()))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat())
        };
        let Some(baseline) = letters(Arm::Baseline) else {
            continue;
        };
        for &arm in arms {
            let Some(l) = letters(arm) else { continue };
            rows.push(ArmRow {
                region,
                arm,
                rates: rates_of(&l),
                versus_baseline: (arm != Arm::Baseline)
                    .then(|| McNemar::new(&cheese_first(&baseline), &cheese_first(&l)))
                    .flatten(),
            });
        }
    }
    rows
}

/// Significance level of the `improved` column.
const ALPHA: f64 = 0.01;

/// Writes `results.csv`, `report.md` (with the cells that failed and why) and `plot.png`.
pub fn write_reports(
    config: &StudyConfig,
    finished: &Finished,
    failures: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let (results, references) = (&finished.cells, &finished.references);
    let rows = arm_rows(results, &config.arms);
    let mut csv = String::from(
        "region,seed,arm,episodes,cheese,cheese_low,cheese_high,corner,corner_low,corner_high,neither,mcnemar_p_vs_baseline\n",
    );
    let mut csv_row = |region: &str, seed: u64, arm: &str, s: &OutcomeSummary, p: Option<f64>| {
        csv.push_str(&format!(
            "{region},{seed},{arm},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{}\n",
            s.episodes,
            s.cheese.rate,
            s.cheese.low,
            s.cheese.high,
            s.corner.rate,
            s.corner.low,
            s.corner.high,
            s.neither.rate,
            p.map_or(String::new(), |p| format!("{p:.3e}"))
        ));
    };
    for r in results {
        let baseline = r.arm(Arm::Baseline).map(ArmOutcome::cheese);
        for run in &r.arms {
            let p = (run.arm != Arm::Baseline)
                .then(|| {
                    baseline
                        .as_ref()
                        .and_then(|b| McNemar::new(b, &run.outcome.cheese()))
                })
                .flatten()
                .map(|t| t.p_value);
            csv_row(
                &r.region.to_string(),
                r.seed,
                run.arm.name(),
                &run.outcome.summary,
                p,
            );
        }
    }
    for (seed, reference) in references {
        csv_row("all", *seed, "reference", &reference.outcome.summary, None);
    }
    write_atomic(&out.join("results.csv"), csv.as_bytes())?;

    let reference = (!references.is_empty()).then(|| {
        rates_of(
            &references
                .iter()
                .map(|(_, r)| r.outcome.outcomes.as_str())
                .collect::<String>(),
        )
    });
    let mut md = String::from("# Region study: fine-tuning arms from one checkpoint\n\n");
    md.push_str(&format!(
        "Shifted-distribution outcomes (cheese anywhere), pooled over seeds {:?}; T = {} steps, tau = {}, lambda = {}, scenario share = {}, N^I = {}, N^R = {}, {} pairs (both orders), judge `{}`. Every arm starts from the same tau*T checkpoint and is evaluated on the same mazes; `p` is McNemar's exact test of reaching the cheese against the baseline on those paired mazes.\n\n",
        config.seeds,
        config.train.ppo.total_timesteps,
        config.tau,
        config.lambda,
        config.scenario_share,
        config.inspect_rollouts,
        config.feedback_rollouts,
        config.pairs,
        results.first().map(|r| r.judge.as_str()).unwrap_or("-")
    ));
    md.push_str("| r | arm | cheese | corner first | neither | cheese vs baseline | p | improved |\n|---|---|---|---|---|---|---|---|\n");
    let baseline_of = |region: usize| {
        rows.iter()
            .find(|r| r.region == region && r.arm == Arm::Baseline)
            .map(|r| r.rates)
    };
    for row in &rows {
        let base = baseline_of(row.region);
        let delta = base.map_or("-".into(), |b| {
            format!("{:+.1}", 100.0 * (row.rates[0].rate - b[0].rate))
        });
        let (p, verdict) = match &row.versus_baseline {
            None => ("-".to_string(), "-"),
            Some(t) => (
                format!("{:.1e}", t.p_value),
                if t.second_better(ALPHA) {
                    "**yes** (p < 0.01)"
                } else if t.second_better(0.05) {
                    "yes (p < 0.05)"
                } else if row.rates[0].rate > base.map_or(1.0, |b| b[0].rate) {
                    "higher, not significant"
                } else {
                    "no"
                },
            ),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {delta} | {p} | {verdict} |\n",
            row.region, row.arm, row.rates[0], row.rates[1], row.rates[2]
        ));
    }
    if let Some(reference) = &reference {
        md.push_str(&format!(
            "| all | reference (trained on the shifted mazes, T steps) | {} | {} | {} | | | |\n",
            reference[0], reference[1], reference[2]
        ));
    }
    md.push_str("\n## Per arm\n\n");
    let regions = rows.iter().filter(|r| r.arm == Arm::Baseline).count();
    for &arm in config.arms.iter().filter(|a| **a != Arm::Baseline) {
        let mine: Vec<&ArmRow> = rows.iter().filter(|r| r.arm == arm).collect();
        let gains: Vec<f64> = mine
            .iter()
            .filter_map(|r| baseline_of(r.region).map(|b| r.rates[0].rate - b[0].rate))
            .collect();
        let mean_gain = 100.0 * gains.iter().sum::<f64>() / gains.len().max(1) as f64;
        let significant = mine
            .iter()
            .filter(|r| r.versus_baseline.is_some_and(|t| t.second_better(ALPHA)))
            .count();
        // The repair target: +20 points (or to within 5 points of the reference agent where that
        // is less), p < 0.01, and the corner-first rate at least halved.
        let repaired = mine
            .iter()
            .filter(|r| {
                let Some(b) = baseline_of(r.region) else {
                    return false;
                };
                let wanted = reference.map_or(0.20, |f| (f[0].rate - 0.05 - b[0].rate).min(0.20));
                // Rates are counts over the same number of mazes: 588 - 388 of 1000 is 20 points
                // even where the floating-point difference falls a hair short.
                r.rates[0].rate - b[0].rate >= wanted - 1e-9
                    && r.versus_baseline.is_some_and(|t| t.second_better(ALPHA))
                    && r.rates[1].rate <= 0.5 * b[1].rate
            })
            .count();
        md.push_str(&format!(
            "- **{arm}** ({}): mean cheese gain {mean_gain:+.1} points; significantly higher (p < 0.01) in **{significant} of {regions}** regions; repaired (cheese +20 points or within 5 of the reference, p < 0.01, corner-first at least halved) in **{repaired} of {regions}**\n",
            arm.describe()
        ));
    }
    if config.regions.contains(&0) && config.regions.contains(&1) {
        md.push_str(
            "\nRegions 0 and 1 are the same training distribution (the cheese on the corner cell).\n",
        );
    }
    md.push_str(&format!(
        "\nWall time per cell: {}.\n",
        results
            .iter()
            .map(|r| format!("r={} s={}: {:.0} s", r.region, r.seed, r.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    md.push_str("\n## Reward model (held-out pairs, mean over cells)\n\n| label | precision | recall | F1 |\n|---|---|---|---|\n");
    for class in 0..3 {
        let rows: Vec<_> = results
            .iter()
            .filter_map(|r| r.reward_model.table.get(class))
            .collect();
        if let Some(first) = rows.first() {
            let mean = |f: &dyn Fn(&crate::reward::ClassRow) -> f64| {
                rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64
            };
            md.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.2} |\n",
                first.label,
                mean(&|r| r.precision),
                mean(&|r| r.recall),
                mean(&|r| r.f1)
            ));
        }
    }
    md.push_str(&format!(
        "\n## What the learned reward pays on the training mazes\n\nMean normalised R_hat per kind of step over 200 episodes of the paused agent on the training distribution (form `{:?}`; {}).\n\n| r | seed | stay on cheese | onto cheese | closer | farther | wall bump | onto corner | 99th pct | max |\n|---|---|---|---|---|---|---|---|---|---|\n",
        config.reward.form,
        match config.reward.form {
            crate::reward::RewardForm::Direct => "PPO sees each step's R_hat",
            crate::reward::RewardForm::Potential => "PPO sees gamma * f(s') - f(s) with f(s) = R_hat(s, s), so a state's worth is the \"stay\" column of where the mouse ends",
            crate::reward::RewardForm::TrainedPotential => "each step's R_hat is f(s') - f(s) for the learned potential f and PPO sees gamma * f(s') - f(s); \"stay on cheese\" is f of the cheese state",
        }
    ));
    for r in results {
        if let Some(p) = &r.reward_model.on_training {
            md.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} |\n",
                r.region,
                r.seed,
                p.absorbing,
                p.cheese,
                p.closer,
                p.farther,
                p.bump,
                p.corner.map_or("-".into(), |c| format!("{c:.2}")),
                p.p99,
                p.max
            ));
        }
    }
    let n = results.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CellResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    md.push_str(&format!(
        "\n## Judge diagnostics\n\n- agreement with the oracle: {:.1}% (pairs with different outcomes: {:.1}%)\n- position: first {:.1}%, second {:.1}%, tie {:.1}%; same position in both orders: {:.1}% of pairs\n- failed queries: {}\n- analyses naming the cheese/corner confound: {:.0}%\n- scenarios proposed: {}\n- rejected scenario suggestions: {}\n",
        100.0 * mean(&|r| r.judge_stats.oracle_agreement),
        100.0 * mean(&|r| r.judge_stats.oracle_agreement_decisive),
        100.0 * mean(&|r| r.judge_stats.first_share),
        100.0 * mean(&|r| r.judge_stats.second_share),
        100.0 * mean(&|r| r.judge_stats.tie_share),
        100.0 * mean(&|r| r.judge_stats.order_flips),
        results.iter().map(|r| r.judge_stats.failures).sum::<usize>(),
        100.0 * mean(&|r| f64::from(u8::from(r.names_confound))),
        {
            let mut titles: Vec<String> = results
                .iter()
                .flat_map(|r| r.scenarios.iter().map(ScenarioEdit::title))
                .collect();
            titles.sort();
            titles.dedup();
            titles.join("; ")
        },
        results.iter().map(|r| r.rejected_scenarios.len()).sum::<usize>(),
    ));
    if let Some(measured) = results.iter().find_map(|r| r.judge_measured_agreement) {
        md.push_str(&format!(
            "- the judge's controlled agreement measured by `judge-eval`: {:.0}%{}\n",
            100.0 * measured,
            if measured < 0.70 {
                " — **unreliable** (below 70%): treat its labels and this table with caution"
            } else {
                ""
            }
        ));
    }
    for r in results.iter().filter(|r| r.judge_stats.abandoned.is_some()) {
        md.push_str(&format!(
            "- r={} seed={}: the judge stopped early: {}\n",
            r.region,
            r.seed,
            r.judge_stats.failure_reason()
        ));
    }
    if !failures.is_empty() {
        md.push_str(&format!(
            "\n## Cells that failed ({})\n\nRun the same command again to retry them (finished cells are kept).\n\n",
            failures.len()
        ));
        for failure in failures {
            md.push_str(&format!("- {failure}\n"));
        }
    }
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    let series: Vec<PlotSeries> = config
        .arms
        .iter()
        .map(|&arm| PlotSeries {
            label: arm.name().to_string(),
            points: rows
                .iter()
                .filter(|r| r.arm == arm)
                .map(|r| (r.region, r.rates[0]))
                .collect(),
        })
        .collect();
    let png = cheese_rate_plot(&series, reference.map(|r| r[0])).map_err(anyhow::Error::msg)?;
    Ok(write_atomic(&out.join("plot.png"), &png)?)
}
