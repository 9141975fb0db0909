//! Observations: boolean channels {wall, mouse, cheese} over the world grid, channels-first,
//! written into caller-provided buffers (packed bits or `f32`), never allocating per step.

use super::MazeEnv;
use crate::level::{Layout, Pos};

/// Channels: 0 wall, 1 mouse, 2 cheese.
pub const CHANNELS: usize = 3;

/// Length of one observation for a `size x size` world (`3 * size * size`).
pub const fn obs_len(size: usize) -> usize {
    CHANNELS * size * size
}

/// Number of `u64` words one packed observation takes.
pub const fn obs_words(size: usize) -> usize {
    obs_len(size).div_ceil(64)
}

/// Writes the observation of the mouse at `mouse` in `layout` as 0.0/1.0 floats
/// (`obs_len(size)` long, channels-first).
pub fn write_observation_at(layout: &Layout, mouse: Pos, out: &mut [f32]) {
    let plane = layout.size * layout.size;
    let out = &mut out[..CHANNELS * plane];
    for (o, &wall) in out[..plane].iter_mut().zip(&layout.walls) {
        *o = f32::from(u8::from(wall));
    }
    out[plane..].fill(0.0);
    out[plane + layout.index(mouse)] = 1.0;
    out[2 * plane + layout.index(layout.cheese)] = 1.0;
}

impl MazeEnv {
    /// Writes the observation as 0.0/1.0 floats (`obs_len(size)` long, channels-first).
    pub fn write_observation(&self, out: &mut [f32]) {
        write_observation_at(&self.layout, self.mouse, out);
    }

    /// Writes the observation as packed bits (`obs_words(size)` words; bit `i` = element `i`).
    /// `static_bits` must come from [`MazeEnv::static_observation_bits`] for the current layout.
    #[inline]
    pub fn write_observation_bits(&self, static_bits: &[u64], out: &mut [u64]) {
        out.copy_from_slice(static_bits);
        let bit = self.layout.size * self.layout.size + self.layout.index(self.mouse);
        out[bit / 64] |= 1 << (bit % 64);
    }

    /// The parts of the packed observation that do not change within an episode (walls, cheese).
    pub fn static_observation_bits(&self, out: &mut [u64]) {
        out.fill(0);
        let plane = self.layout.size * self.layout.size;
        let mut set = |bit: usize| out[bit / 64] |= 1 << (bit % 64);
        for (i, &wall) in self.layout.walls.iter().enumerate() {
            if wall {
                set(i);
            }
        }
        set(2 * plane + self.layout.index(self.layout.cheese));
    }
}

/// Unpacks packed bits into 0.0/1.0 floats (`out.len()` elements).
pub fn unpack_bits(bits: &[u64], out: &mut [f32]) {
    for (chunk, &word) in out.chunks_mut(64).zip(bits) {
        for (j, o) in chunk.iter_mut().enumerate() {
            *o = ((word >> j) & 1) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{CheesePlacement, DistributionSpec};
    use crate::sim::Action;

    #[test]
    fn packed_and_float_observations_agree() {
        let spec = DistributionSpec {
            cheese: CheesePlacement::Anywhere,
            ..DistributionSpec::training(13, 0)
        };
        let mut env = MazeEnv::new(spec.level_for_seed(3), 500);
        let (len, words) = (obs_len(13), obs_words(13));
        let mut floats = vec![0.0; len];
        let mut statics = vec![0; words];
        let mut bits = vec![0; words];
        let mut unpacked = vec![0.0; len];
        env.static_observation_bits(&mut statics);
        for action in [Action::Up, Action::Right, Action::Up, Action::Right] {
            env.step(action);
            env.write_observation(&mut floats);
            env.write_observation_bits(&statics, &mut bits);
            unpack_bits(&bits, &mut unpacked);
            assert_eq!(floats, unpacked);
            assert_eq!(floats[169..338].iter().sum::<f32>(), 1.0, "one mouse");
            assert_eq!(floats[338..].iter().sum::<f32>(), 1.0, "one cheese");
            let wall_count = env.layout.walls.iter().filter(|w| **w).count() as f32;
            assert_eq!(floats[..169].iter().sum::<f32>(), wall_count);
            assert_eq!(floats[169 + env.layout.index(env.mouse)], 1.0);
        }
    }
}
