//! The true shaping potential: how close the mouse is to the cheese along the maze, read off an
//! observation (what a perfect reward model would learn; the ceiling control fine-tunes with it).

use super::{CHANNELS, CHEESE_REWARD};

/// The true potential of each observation in `states` (`[n, obs_len(world)]`, channels {wall,
/// mouse, cheese}): `CHEESE_REWARD * (1 - d / d_max)` with d the maze distance from the mouse to
/// the cheese and d_max = world * world / 2, clamped at 0 (cells farther than d_max, rare, and
/// mazes where the cheese cannot be reached). It is what a perfect reward model would learn from
/// "closer to the cheese is better"; the study's ceiling arm fine-tunes with it.
pub fn maze_distance_potentials(states: &[f32], world: usize) -> Vec<f32> {
    let plane = world * world;
    let d_max = (plane as f32 / 2.0).max(1.0);
    let mut dist = vec![usize::MAX; plane];
    let mut queue = std::collections::VecDeque::with_capacity(plane);
    states
        .chunks_exact(CHANNELS * plane)
        .map(|obs| {
            let find = |c: usize| {
                obs[c * plane..(c + 1) * plane]
                    .iter()
                    .position(|&v| v > 0.5)
            };
            let (Some(mouse), Some(cheese)) = (find(1), find(2)) else {
                return 0.0;
            };
            dist.fill(usize::MAX);
            queue.clear();
            dist[mouse] = 0;
            queue.push_back(mouse);
            while let Some(cell) = queue.pop_front() {
                if cell == cheese {
                    break;
                }
                let (row, col) = (cell / world, cell % world);
                let next = [
                    (row > 0).then(|| cell - world),
                    (row + 1 < world).then(|| cell + world),
                    (col > 0).then(|| cell - 1),
                    (col + 1 < world).then(|| cell + 1),
                ];
                for n in next.into_iter().flatten() {
                    if obs[n] < 0.5 && dist[n] == usize::MAX {
                        dist[n] = dist[cell] + 1;
                        queue.push_back(n);
                    }
                }
            }
            match dist[cheese] {
                usize::MAX => 0.0,
                d => CHEESE_REWARD * (1.0 - d as f32 / d_max).max(0.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{Layout, Pos};
    use crate::sim::obs::write_observation_at;
    use crate::sim::obs_len;

    #[test]
    fn the_maze_distance_potential_follows_the_path_not_the_straight_line() {
        // A wall between mouse and cheese: two cells apart in a straight line, six along the maze.
        let rows = ["#####", "#.#.#", "#.#.#", "#...#", "#####"];
        let layout = Layout {
            size: 5,
            walls: rows.concat().chars().map(|c| c == '#').collect(),
            start: Pos::new(3, 1),
            cheese: Pos::new(1, 3),
            corner: Pos::new(1, 3),
        };
        let potential = |mouse: Pos| {
            let mut state = vec![0.0; obs_len(5)];
            write_observation_at(&layout, mouse, &mut state);
            maze_distance_potentials(&state, 5)[0]
        };
        let d_max = 12.5;
        let expect = |d: f32| CHEESE_REWARD * (1.0 - d / d_max);
        assert!((potential(Pos::new(1, 1)) - expect(6.0)).abs() < 1e-5);
        assert!((potential(Pos::new(3, 2)) - expect(3.0)).abs() < 1e-5);
        assert!((potential(Pos::new(1, 3)) - CHEESE_REWARD).abs() < 1e-5);
        // No cheese plane (or no mouse): no potential, never a panic.
        assert_eq!(maze_distance_potentials(&[0.0; 75], 5), vec![0.0]);
    }
}
