//! Validation and test mazes, disjoint by construction: every setting (share, lambda, reward
//! form) is chosen on validation mazes and results are reported on test mazes, and the two draw
//! their level seeds from two halves of the seed space that cannot meet.

use crate::level::{DistributionSpec, LevelSource, MixturePart, SeedRange};
use serde::{Deserialize, Serialize};

/// Which mazes an evaluation draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Where settings are chosen: level seeds `2^62 .. 2^63`.
    Validation,
    /// Where results are reported: level seeds `0 .. 2^62`.
    Test,
}

/// Level seeds per split.
const HALF: u64 = 1 << 62;

impl Split {
    /// The level seeds of the split.
    pub fn seeds(self) -> SeedRange {
        SeedRange {
            start: match self {
                Split::Test => 0,
                Split::Validation => HALF,
            },
            count: Some(HALF),
        }
    }

    /// `source` drawing its levels from this split's seeds only (a fixed level is returned as it
    /// is: it has no seeds).
    pub fn levels(self, source: &LevelSource) -> LevelSource {
        let restrict = |spec: &DistributionSpec| DistributionSpec {
            seeds: self.seeds(),
            ..spec.clone()
        };
        match source {
            LevelSource::Fixed { .. } => source.clone(),
            LevelSource::Distribution { name, spec } => LevelSource::Distribution {
                name: format!("{name} ({})", self.name()),
                spec: restrict(spec),
            },
            LevelSource::Mixture { name, parts } => LevelSource::Mixture {
                name: format!("{name} ({})", self.name()),
                parts: parts
                    .iter()
                    .map(|p| MixturePart {
                        weight: p.weight,
                        spec: restrict(&p.spec),
                    })
                    .collect(),
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn validation_and_test_mazes_never_share_a_level_seed() {
        let shifted = LevelSource::Distribution {
            name: "shifted".into(),
            spec: DistributionSpec::training(7, 1).shifted(),
        };
        let (v, t) = (
            Split::Validation.levels(&shifted),
            Split::Test.levels(&shifted),
        );
        let seeds = |source: &LevelSource| {
            let LevelSource::Distribution { spec, .. } = source else {
                unreachable!("a distribution stays one")
            };
            let mut rng = Rng::new(9);
            (0..2000)
                .map(|_| spec.seed_from_draw(rng.next_u64()))
                .collect::<Vec<u64>>()
        };
        assert!(seeds(&v).iter().all(|s| (HALF..2 * HALF).contains(s)));
        assert!(seeds(&t).iter().all(|s| *s < HALF));
        // Any draw lands in its own half, whatever it is.
        for draw in [0, 1, HALF - 1, HALF, u64::MAX] {
            let LevelSource::Distribution { spec, .. } = &v else {
                unreachable!()
            };
            assert!(spec.seed_from_draw(draw) >= HALF);
        }
    }
}
