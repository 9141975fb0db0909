//! The project's one random number generator: xoshiro256++ seeded by SplitMix64, with
//! serializable state so checkpoints resume exactly. Every RNG in the crate derives from a seed.

use serde::{Deserialize, Serialize};

/// A small, fast, reproducible PRNG (xoshiro256++).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    s: [u64; 4],
}

/// SplitMix64 step: used to expand seeds and to derive independent streams.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives an independent seed for stream `index` of `seed` (per-env seeds, per-level seeds).
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut state = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut state);
    splitmix64(&mut state)
}

/// Every named seed stream, in one place: a purpose has one number, derived with [`derive_seed`]
/// from the seed named in its group, and no two purposes of a group share one. The numbers are
/// those earlier results were measured with; changing one changes every result that draws on it.
pub mod streams {
    /// Streams of a training run's seed (`TrainConfig::seed`).
    pub mod run {
        /// The policy's initial weights.
        pub const WEIGHTS: u64 = 1;
        /// The training envs' levels (env `i` then draws from stream `i` of this).
        pub const ENVS: u64 = 2;
        /// PPO's own draws (actions, minibatch order).
        pub const PPO: u64 = 3;
        /// The judge's own randomness (oracle noise, sampling).
        pub const JUDGE: u64 = 5;
        /// Evaluation mazes on the shifted distribution (every arm and the before/after table).
        pub const EVALUATION: u64 = 77;
        /// Round `n` of the feedback loop draws from `ROUND + n`.
        pub const ROUND: u64 = 1000;
        /// The app's periodic evaluations while training.
        pub const LIVE_EVALUATION: u64 = 0xE0A1;
        /// Which episodes the app is shown.
        pub const SHOWN_EPISODES: u64 = 0xA99;
        /// The held-out mazes of `bench --competence`.
        pub const HELD_OUT: u64 = 0x4E1D;
        /// The mazes `bench --competence` measures the best possible cheese-first rate on.
        pub const BEST_POSSIBLE: u64 = 0xBE57;
    }

    /// Streams of one feedback round's seed.
    pub mod round {
        /// The probe rollouts the judge reads (the shifted distribution).
        pub const INSPECT: u64 = 1;
        /// The training-distribution rollouts the judge reads.
        pub const INSPECT_TRAINING: u64 = 7;
        /// Which pairs are asked.
        pub const PAIRS: u64 = 2;
        /// The reward model's initialisation and batches.
        pub const REWARD: u64 = 3;
        /// The paused agent's training-distribution rollouts that profile R_hat.
        pub const PROFILE: u64 = 4;
        /// The menu items the random controls draw.
        pub const RANDOM_SCENARIOS: u64 = 5;
        /// The random control judge's labels.
        pub const RANDOM_LABELS: u64 = 6;
        /// Scenario `i`'s rollouts draw from `SCENARIO + i`.
        pub const SCENARIO: u64 = 100;
        /// A round at cheese region `r` draws from `CELL + r` (each region its own random
        /// controls).
        pub const CELL: u64 = 10_000;
    }

    /// Streams of the seed a batch of rollouts or an evaluation is given.
    pub mod episodes {
        /// The levels of recorded rollouts' envs.
        pub const ROLLOUT_ENVS: u64 = 0x5011;
        /// The actions sampled in recorded rollouts.
        pub const ROLLOUT_ACTIONS: u64 = 0x5012;
        /// The levels of an evaluation's envs.
        pub const EVALUATION_ENVS: u64 = 0xE7A1;
        /// The actions sampled in an evaluation.
        pub const EVALUATION_ACTIONS: u64 = 0xAC7;
        /// The random actions of the env benchmark.
        pub const BENCH_ACTIONS: u64 = 7;
    }
}

impl Rng {
    /// Seeds the generator; any `u64` (including 0) gives a valid, distinct stream.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        Self {
            s: [
                splitmix64(&mut state),
                splitmix64(&mut state),
                splitmix64(&mut state),
                splitmix64(&mut state),
            ],
        }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform integer in `0..n` (Lemire's multiply-shift; bias below 2^-32 for small `n`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform integer in the inclusive range `lo..=hi`.
    pub fn range_inclusive(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform float in `[0, 1)`.
    #[inline]
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform float in `[0, 1)` with 53 bits.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A uniformly chosen element, or `None` for an empty slice.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }

    /// Samples an index from unnormalised non-negative weights (falls back to uniform).
    pub fn weighted(&mut self, weights: &[f32]) -> usize {
        let total: f32 = weights.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return self.below(weights.len());
        }
        let mut target = self.unit_f32() * total;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                return i;
            }
            target -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_different_seeds_differ() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(1);
        let mut seen = [0usize; 5];
        for _ in 0..10_000 {
            seen[rng.below(5)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1_800 && n < 2_200), "{seen:?}");
    }

    #[test]
    fn weighted_follows_weights() {
        let mut rng = Rng::new(3);
        let mut hits = [0usize; 3];
        for _ in 0..30_000 {
            hits[rng.weighted(&[0.0, 1.0, 3.0])] += 1;
        }
        assert_eq!(hits[0], 0);
        let ratio = hits[2] as f64 / hits[1] as f64;
        assert!((2.7..3.3).contains(&ratio), "{hits:?}");
    }
}
