//! Playlists of side-by-side comparisons (the agent before and after feedback on the same mazes,
//! one maze after the other) and the running tally under each maze.

use super::{Slot, Stage, Track};
use crate::sim::{Outcome, Rollout};
use bevy::prelude::*;

impl Slot {
    /// The running tally under the maze: earlier episodes plus this one once it has finished.
    pub fn tally_text(&self) -> Option<String> {
        let mut tally = self.tally?;
        let mut mazes = tally.total();
        if let Some(track) = self.tracks.first().filter(|t| t.finished()) {
            tally.add(track.episode.stats.outcome);
            mazes += 1;
        }
        Some(format!(
            "cheese       {:>3}\ncorner first {:>3}\nneither      {:>3}\nmazes played {mazes:>3}",
            tally.cheese, tally.corner, tally.neither
        ))
    }
}

/// Outcome counts of the episodes played so far in one column of a playlist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub cheese: u32,
    pub corner: u32,
    pub neither: u32,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Cheese => self.cheese += 1,
            Outcome::Corner => self.corner += 1,
            Outcome::Neither => self.neither += 1,
        }
    }

    pub fn total(&self) -> u32 {
        self.cheese + self.corner + self.neither
    }
}

/// Pairs of episodes on the same mazes (e.g. before and after feedback) as a playlist: one pair
/// at a time side by side, the `captions` above the two columns and each column's running tally.
pub fn paired_playlist(pairs: &[(Rollout, Rollout)], captions: [&str; 2]) -> Vec<Vec<Slot>> {
    let mut tallies = [Tally::default(); 2];
    pairs
        .iter()
        .map(|(left, right)| {
            [left, right]
                .into_iter()
                .zip(&mut tallies)
                .zip(captions)
                .map(|((e, tally), caption)| {
                    let slot = Slot {
                        layout: e.layout.clone(),
                        caption: caption.to_string(),
                        tracks: vec![Track::new(e.clone())],
                        tally: Some(*tally),
                    };
                    tally.add(e.stats.outcome);
                    slot
                })
                .collect()
        })
        .collect()
}

/// The running tally under a maze of a playlist.
#[derive(Component, Debug, Clone, Copy)]
pub struct TallyText {
    pub slot: usize,
}

/// Keeps every maze's tally line up to date as its episode plays out.
pub(super) fn update_tallies(stage: Res<Stage>, mut texts: Query<(&TallyText, &mut Text2d)>) {
    for (tally, mut text) in &mut texts {
        let Some(line) = stage.slots.get(tally.slot).and_then(Slot::tally_text) else {
            continue;
        };
        if text.0 != line {
            text.0 = line;
        }
    }
}
