//! Hand-made episodes of each kind of agent for tests: its training mazes (the cheese where its
//! training put it) and probes (the cheese anywhere), walked straight to the cheese or by way of
//! a corner.

use super::{Diagnosis, Episodes};
use crate::level::{Corner, DistributionSpec, Layout, MazeSize};
use crate::sim::Rollout;

/// How a hand-made agent behaves in its probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probes {
    /// Straight to the cheese (the proxy not in sight).
    ToCheese,
    /// To `corner` first, then the cheese.
    ViaCorner(Corner),
}

/// A walk from the start to the cheese, by way of `corner` when given (only the cells matter,
/// not whether the path could be walked). The top-right seeker passes the bottom-right corner
/// on its way there.
fn walk(layout: Layout, corner: Option<Corner>) -> Rollout {
    let dim = layout.start.row + 1 - layout.start.col;
    let mut path = vec![layout.start];
    if let Some(c) = corner {
        if c == Corner::TopRight {
            path.push(Corner::BottomRight.cell(layout.start, dim));
        }
        path.push(c.cell(layout.start, dim));
    }
    path.push(layout.cheese);
    Rollout::from_path(layout, path, Vec::new())
}

/// The training distribution of a 7x7 agent of `kind` (mazes of side 7, as the studies'): the
/// cheese in the `region` square at its corner, or anywhere for a healthy agent.
pub fn training_spec(kind: Diagnosis, region: usize) -> DistributionSpec {
    let spec = DistributionSpec {
        maze_size: MazeSize::Fixed(7),
        ..DistributionSpec::training(7, region)
    };
    match kind {
        Diagnosis::Corner(c) => spec.with_corner(c),
        _ => spec.shifted(),
    }
}

/// Ten training episodes on `base` (straight to the cheese, as a competent agent) and ten
/// probes behaving as `probes` says.
pub fn episodes(base: &DistributionSpec, probes: Probes) -> Episodes {
    let corner = match probes {
        Probes::ToCheese => None,
        Probes::ViaCorner(c) => Some(c),
    };
    Episodes {
        training: (0..10)
            .map(|seed| walk(base.level_for_seed(seed), None))
            .collect(),
        probes: (100..110)
            .map(|seed| walk(base.shifted().level_for_seed(seed), corner))
            .collect(),
    }
}
