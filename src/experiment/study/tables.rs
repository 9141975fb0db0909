//! The study's tables: the scenario share chosen on validation mazes, per region and arm the
//! test rates pooled over seeds with McNemar's paired test against the baseline, and the designer
//! against each LLM-free control.

use super::*;
use crate::experiment::arm::Arm;
use crate::sim::{McNemar, Rate, cheese_first};

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
pub(super) fn rates_of(letters: &str) -> [Rate; 3] {
    let n = letters.len();
    let count = |c: char| letters.chars().filter(|&x| x == c).count();
    [
        Rate::new(count('c'), n),
        Rate::new(count('k'), n),
        Rate::new(count('n'), n),
    ]
}

/// The distinct regions of `results` in order; region 0 is left out where region 1 is there
/// (both put the cheese on the corner cell: one distribution, counted once).
pub fn distinct_regions(results: &[CellResult]) -> Vec<usize> {
    let mut regions: Vec<usize> = results.iter().map(|r| r.region).collect();
    regions.sort_unstable();
    regions.dedup();
    if regions.contains(&1) {
        regions.retain(|&r| r != 0);
    }
    regions
}

/// The outcome letters of `arm` at `share` in every cell of `region`, seed after seed (None if
/// a cell lacks the arm). `validation`: the validation mazes instead of the test mazes.
pub(super) fn pooled(
    results: &[CellResult],
    region: usize,
    arm: Arm,
    share: f64,
    validation: bool,
) -> Option<String> {
    results
        .iter()
        .filter(|c| c.region == region)
        .map(|c| {
            c.run(arm, share).map(|r| {
                if validation {
                    r.validation.outcomes.clone()
                } else {
                    r.outcome.outcomes.clone()
                }
            })
        })
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat())
}

/// The share the study reports at: among `shares` no larger than `max`, the one whose designer
/// arm (or the first scenario arm, without a designer) reaches the cheese most often on the
/// validation mazes, pooled over every cell; ties go to the smaller share. Test mazes are not
/// looked at.
pub fn chosen_share(results: &[CellResult], config: &StudyConfig, max: f64) -> Option<f64> {
    let arm = if config.arms.contains(&Arm::Designer) {
        Arm::Designer
    } else {
        *config.arms.iter().find(|a| a.uses_scenarios())?
    };
    let mut best: Option<(f64, f64)> = None;
    for &share in config.shares.iter().filter(|s| **s <= max + 1e-9) {
        let letters: Option<String> = distinct_regions(results)
            .into_iter()
            .map(|region| pooled(results, region, arm, share, true))
            .collect();
        let Some(letters) = letters else { continue };
        let rate = rates_of(&letters)[0].rate;
        if best.is_none_or(|(_, r)| rate > r) {
            best = Some((share, rate));
        }
    }
    best.map(|(share, _)| share)
}

/// Per region and arm at `share`: test rates pooled over seeds and the paired test against
/// the baseline.
pub fn arm_rows(results: &[CellResult], arms: &[Arm], share: f64) -> Vec<ArmRow> {
    let mut rows = Vec::new();
    for region in distinct_regions(results) {
        let Some(baseline) = pooled(results, region, Arm::Baseline, share, false) else {
            continue;
        };
        for &arm in arms {
            let Some(l) = pooled(results, region, arm, share, false) else {
                continue;
            };
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

/// The designer against one control at one share: per region the test gain and McNemar's p.
pub struct Contrast {
    /// (region, designer minus control in points, p).
    pub regions: Vec<(usize, f64, f64)>,
}

impl Contrast {
    /// Regions where the designer beats the control by at least 5 points with p < 0.01.
    pub fn wins(&self) -> usize {
        self.regions
            .iter()
            .filter(|(_, gain, p)| *gain >= 5.0 - 1e-9 && *p < ALPHA)
            .count()
    }

    pub fn mean_gain(&self) -> f64 {
        self.regions.iter().map(|r| r.1).sum::<f64>() / self.regions.len().max(1) as f64
    }
}

/// The designer against `control` at `share` on the test mazes, region by region.
pub fn contrast(results: &[CellResult], control: Arm, share: f64) -> Contrast {
    let regions = distinct_regions(results)
        .into_iter()
        .filter_map(|region| {
            let d = pooled(results, region, Arm::Designer, share, false)?;
            let c = pooled(results, region, control, share, false)?;
            let gain = 100.0 * (rates_of(&d)[0].rate - rates_of(&c)[0].rate);
            let p = McNemar::new(&cheese_first(&c), &cheese_first(&d)).map_or(1.0, |t| t.p_value);
            Some((region, gain, p))
        })
        .collect();
    Contrast { regions }
}

/// Significance level of the `improved` column.
pub(super) const ALPHA: f64 = 0.01;
