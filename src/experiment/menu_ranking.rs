//! How the embedded judge ranks the scenario menu for each proxy corner of a diagnosis
//! benchmark: every item's score, whether it disambiguates the corner, and what it proposes.
//! No agent is read: the proposals depend only on the diagnosed corner.

use crate::experiment::ExperimentError;
use crate::experiment::diagnosis::{DiagnosisConfig, or_default};
use crate::llm::Judge;
use crate::llm::embedded::{DEFAULT_MODEL, DEFAULT_PROMPT, EmbeddedConfig, EmbeddedJudge};
use crate::llm::menu::{self, Diagnosis};

/// Every embedded model x prompt's per-item scores for each proxy corner of the benchmark
/// `config`, as Markdown (`judge-eval --diagnosis CONFIG --rank-menu` writes it as
/// `menu-ranking.md`); `status` hears each step.
pub fn menu_ranking(
    config: &DiagnosisConfig,
    models: &[String],
    prompts: &[String],
    status: &dyn Fn(String),
) -> Result<String, ExperimentError> {
    let models = or_default(models, DEFAULT_MODEL);
    let prompts = or_default(prompts, DEFAULT_PROMPT);
    let corners: Vec<_> = config
        .kinds
        .iter()
        .filter_map(|kind| match kind {
            Diagnosis::Corner(c) => Some((*kind, *c)),
            _ => None,
        })
        .collect();
    let mut md = String::from(
        "# How the embedded judge ranks the menu\n\n`judge-eval --diagnosis CONFIG --rank-menu`: for an agent trained with the cheese at each proxy corner, every menu item's score (log-odds of yes to the variant's item question, less its contrast question's if any), whether it disambiguates that corner (>= 80% of its mazes put the cheese outside the corner's quadrant), and the items proposed (*). No agent is read: the proposals depend only on the diagnosed corner.\n",
    );
    let mut summary = String::from(
        "\n## Summary\n\n| model | prompt | corners whose proposals are all right |\n|---|---|---|\n",
    );
    for model in &models {
        let first_base = match corners.first() {
            Some((kind, _)) => config.training_spec(*kind, 0)?,
            None => {
                return Err(ExperimentError::invalid(
                    "the benchmark config lists no corner-seeking kind",
                ));
            }
        };
        let mut judge = EmbeddedJudge::new(
            &EmbeddedConfig {
                model: model.clone(),
                prompt: prompts[0].clone(),
                analyst: None,
                ..Default::default()
            },
            first_base,
        )?;
        for prompt in &prompts {
            judge.set_variant(prompt)?;
            let mut right_corners = Vec::new();
            for &(kind, corner) in &corners {
                let base = config.training_spec(kind, 0)?;
                judge.rebase(&base);
                status(format!(
                    "ranking the menu for a {corner} seeker with {}",
                    judge.name()
                ));
                let (scored, proposed) = judge.propose_for(corner)?;
                let items: Vec<_> = scored.iter().map(|(item, _)| item.clone()).collect();
                let right = menu::right_items(&items, kind);
                let mut order: Vec<usize> = (0..scored.len()).collect();
                order.sort_by(|&a, &b| scored[b].1.total_cmp(&scored[a].1));
                md.push_str(&format!(
                    "\n## {} / {}: a {corner} seeker\n\n| item | score | disambiguates | proposed |\n|---|---|---|---|\n",
                    judge.model_name(),
                    judge.variant_name()
                ));
                for i in order {
                    md.push_str(&format!(
                        "| {}. {} | {:+.2} | {} | {} |\n",
                        scored[i].0.key,
                        scored[i].0.text,
                        scored[i].1,
                        if right[i] { "yes" } else { "no" },
                        if proposed.contains(&i) { "*" } else { "" }
                    ));
                }
                if !proposed.is_empty() && proposed.iter().all(|&i| right[i]) {
                    right_corners.push(corner.to_string());
                }
            }
            summary.push_str(&format!(
                "| {} | {} | {} of {} ({}) |\n",
                judge.model_name(),
                judge.variant_name(),
                right_corners.len(),
                corners.len(),
                right_corners.join(", ")
            ));
        }
    }
    md.push_str(&summary);
    Ok(md)
}
