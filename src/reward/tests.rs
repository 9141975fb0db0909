//! Tests of the reward model: what its inputs let it see, its goal state, and that a trained
//! potential telescopes.

use super::dataset::{features, return_rows, states};
use super::*;
use crate::rng::Rng;
use crate::sim::Rollout;
use burn::tensor::{Device, Tensor, TensorData};

fn device() -> Device {
    Device::default()
}

fn open_layout(size: usize) -> Layout {
    Layout {
        size,
        walls: vec![false; size * size],
        start: Pos::new(size - 1, 0),
        cheese: Pos::new(0, size - 1),
        corner: Pos::new(0, size - 1),
    }
}

/// Features of the mouse standing still at `mouse` in `layout`: `[s, s]`.
fn standing(layout: &Layout, mouse: Pos) -> Vec<f32> {
    let len = obs_len(layout.size);
    let mut row = vec![0.0; 2 * len];
    write_observation_at(layout, mouse, &mut row[..len]);
    let (a, b) = row.split_at_mut(len);
    b.copy_from_slice(a);
    row
}

fn model(world: usize, coordinates: bool) -> RewardModel {
    let device = device();
    let net = crate::rl::model::seeded_init(&device, 3, || {
        let config = RewardConfig {
            hidden: 8,
            layers: 2,
            coordinates,
            // A linear read-out of the pooled features (what the coordinates add, alone), read
            // as R_hat(s, s): standing still is worth the state's reward.
            readout_hidden: 0,
            form: RewardForm::Potential,
            ..RewardConfig::default()
        };
        RewardNet::new(world, &config, &device)
    });
    RewardModel {
        net: net.host(),
        world,
        offset: 0.0,
        std: 1.0,
        scale: 1.0,
        absorbing_value: false,
        form: RewardForm::Potential,
        goal_margin: None,
    }
}

#[test]
fn only_coordinates_let_the_reward_tell_where_the_mouse_is() {
    // An open 11x11 room: two cells far enough from the border and the cheese that every
    // feature of two stacked 3x3 convolutions sees the same neighbourhood: summed over the
    // grid, they look the same without coordinates.
    let layout = open_layout(11);
    let (a, b) = (Pos::new(4, 5), Pos::new(5, 5));
    let mut both = standing(&layout, a);
    both.extend(standing(&layout, b));
    let blind = model(11, false).raw_rewards(&both);
    assert!((blind[0] - blind[1]).abs() < 1e-4, "{blind:?}");
    let seeing = model(11, true).raw_rewards(&both);
    assert!((seeing[0] - seeing[1]).abs() > 1e-4, "{seeing:?}");
}

#[test]
fn the_goal_state_is_the_mouse_standing_on_the_cheese() {
    let layout = open_layout(7);
    let model = model(7, true);
    let mut step = vec![0.0; 2 * obs_len(7)];
    write_observation_at(&layout, layout.start, &mut step[..obs_len(7)]);
    write_observation_at(&layout, Pos::new(5, 0), &mut step[obs_len(7)..]);
    let goal = model.goal_rewards(&step);
    let staying = model.rewards(&standing(&layout, layout.cheese));
    assert_eq!(goal, staying);
    let mut on_cheese = vec![0.0; obs_len(7)];
    write_observation_at(&layout, layout.cheese, &mut on_cheese);
    assert_eq!(model.potentials(&on_cheese), staying);
}

/// A rollout in an open room with the cheese at `cheese`: from the start, `ups` moves up
/// then `rights` moves right, stopping on the cheese.
fn walk(size: usize, cheese: Pos, ups: usize, rights: usize) -> Rollout {
    let mut layout = open_layout(size);
    layout.cheese = cheese;
    let mut path = vec![layout.start];
    let mut actions = Vec::new();
    let moves = std::iter::repeat_n(crate::sim::Action::Up, ups)
        .chain(std::iter::repeat_n(crate::sim::Action::Right, rights));
    for action in moves {
        let here = *path.last().expect("start");
        if here == cheese {
            break;
        }
        let next = match action {
            crate::sim::Action::Up => Pos::new(here.row - 1, here.col),
            _ => Pos::new(here.row, here.col + 1),
        };
        path.push(next);
        actions.push(action);
    }
    Rollout::from_path(layout, path, actions)
}

#[test]
fn a_trained_potential_telescopes_and_learns_where_rollouts_end() {
    let size = 7;
    let config = RewardConfig {
        hidden: 16,
        coordinates: true,
        readout_hidden: 16,
        epochs: 60,
        learning_rate: 3e-3,
        form: RewardForm::TrainedPotential,
        ..RewardConfig::default()
    };
    // Rollouts toward cheeses all over the room; the better of two ends closer to its
    // cheese (maze distance in an open room: Manhattan).
    let mut rng = Rng::new(5);
    let rollouts: Vec<Rollout> = (0..240)
        .map(|_| {
            let cheese = loop {
                let p = Pos::new(rng.below(size), rng.below(size));
                if p != Pos::new(size - 1, 0) {
                    break p;
                }
            };
            walk(size, cheese, rng.below(size), rng.below(size))
        })
        .collect();
    let left = |r: &Rollout| r.path.last().expect("path").manhattan(r.layout.cheese);
    let pairs: Vec<Preference> = (0..rollouts.len() / 2)
        .map(|k| {
            let (a, b) = (&rollouts[2 * k], &rollouts[2 * k + 1]);
            let mu_first = match left(a).cmp(&left(b)) {
                std::cmp::Ordering::Less => 1.0,
                std::cmp::Ordering::Greater => 0.0,
                std::cmp::Ordering::Equal => 0.5,
            };
            Preference {
                first: 2 * k,
                second: 2 * k + 1,
                mu_first,
            }
        })
        .collect();
    let (model, report) =
        RewardModel::train(&rollouts, &pairs, &config, 3, &device()).expect("trains");
    // The return of a rollout is f(s_T) - f(s_0), whatever it did on the way.
    let len = obs_len(size);
    for r in &rollouts[..10] {
        let all = states(r);
        let f = model.raw_potentials(&[&all[..len], &all[all.len() - len..]].concat());
        let rollout_return: f32 = model.raw_rewards(&features(r, 0)).iter().sum();
        assert!((rollout_return - (f[1] - f[0])).abs() < 1e-3);
    }
    // It learned where rollouts end: the mouse standing next to the cheese is worth more than
    // the mouse far from it.
    let mut layout = open_layout(size);
    layout.cheese = Pos::new(3, 3);
    let f = model.stay_heatmap(&layout);
    let at = |p: Pos| f[layout.index(p)].expect("free cell");
    let near = (at(Pos::new(2, 3)) + at(Pos::new(3, 4)) + at(Pos::new(4, 3))) / 3.0;
    let far = (at(Pos::new(0, 0)) + at(Pos::new(6, 6)) + at(Pos::new(0, 6))) / 3.0;
    assert!(near > far + 0.5, "near {near}, far {far}: {report:?}");
}

#[test]
fn the_offset_and_scale_follow_the_form() {
    let mut config = RewardConfig {
        form: RewardForm::Potential,
        ..RewardConfig::default()
    };
    assert_eq!((config.offset_quantile(), config.scale()), (0.0, 1.0));
    config.form = RewardForm::Direct;
    assert_eq!((config.offset_quantile(), config.scale()), (1.0, 0.1));
    config.offset_quantile = Some(0.5);
    config.scale = Some(2.0);
    assert_eq!((config.offset_quantile(), config.scale()), (0.5, 2.0));
}

/// `count` random `[s, s']` rows of `size`-wide worlds: random walls, the mouse and the cheese on
/// random cells, the mouse moved to a random cell for s'.
fn random_transitions(size: usize, count: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let len = obs_len(size);
    let mut rows = vec![0.0; count * 2 * len];
    for row in rows.chunks_mut(2 * len) {
        let mut cell = || Pos::new(rng.below(size), rng.below(size));
        let (start, cheese, next) = (cell(), cell(), cell());
        let mut layout = Layout {
            walls: (0..size * size).map(|_| rng.chance(0.3)).collect(),
            start,
            cheese,
            ..open_layout(size)
        };
        let at = layout.index(start);
        layout.walls[at] = false;
        write_observation_at(&layout, start, &mut row[..len]);
        write_observation_at(&layout, next, &mut row[len..]);
    }
    rows
}

#[test]
fn the_host_copy_scores_what_the_burn_network_scores() {
    let device = device();
    let cases = [
        (true, 32, 2, RewardForm::TrainedPotential),
        (false, 0, 3, RewardForm::Direct),
        (true, 0, 1, RewardForm::Potential),
    ];
    for (coordinates, readout_hidden, layers, form) in cases {
        let config = RewardConfig {
            hidden: 8,
            layers,
            coordinates,
            readout_hidden,
            form,
            ..RewardConfig::default()
        };
        for size in [5, 11] {
            let net = crate::rl::model::seeded_init(&device, 5, || {
                RewardNet::new(size, &config, &device)
            });
            let host = net.host();
            // 150 rows: more than two of the host's chunks, the last one partial.
            let rows = random_transitions(size, 150, size as u64);
            let width = 2 * obs_len(size);
            let x = Tensor::<2>::from_data(TensorData::new(rows.clone(), [150, width]), &device);
            let burn = crate::rl::host(net.forward(x));
            let scores = if form == RewardForm::TrainedPotential {
                let model = RewardModel {
                    net: host.clone(),
                    world: size,
                    offset: 0.0,
                    std: 1.0,
                    scale: 1.0,
                    absorbing_value: false,
                    form,
                    goal_margin: None,
                };
                model.raw_rewards(&rows)
            } else {
                host.scores(&rows)
            };
            let states: Vec<f32> = rows
                .chunks(width)
                .flat_map(|r| r[..width / 2].to_vec())
                .collect();
            let x =
                Tensor::<2>::from_data(TensorData::new(states.clone(), [150, width / 2]), &device);
            let burn_stays = crate::rl::host(net.stay_score(x));
            let stays = host.stay_scores(&states);
            for (what, ours, theirs) in [
                ("scores", &scores, &burn),
                ("stay scores", &stays, &burn_stays),
            ] {
                assert_eq!(ours.len(), 150);
                let scale = theirs.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * scale.max(1.0),
                        "{what} of row {i} ({form:?}, {size}x{size}, coordinates {coordinates}): host {a}, burn {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_trained_potential_reads_a_return_from_the_episode_ends() {
    let size = 7;
    let rollout = walk(size, Pos::new(0, size - 1), size - 1, size - 1);
    let mut model = model(size, true);
    model.form = RewardForm::TrainedPotential;
    let whole: f32 = model.raw_rewards(&features(&rollout, 40)).iter().sum();
    let ends = return_rows(&rollout, true, 40);
    assert_eq!(ends.len(), 2 * obs_len(size), "one row [s_0, s_T]");
    let telescoped: f32 = model.raw_rewards(&ends).iter().sum();
    assert!(
        (whole - telescoped).abs() <= 1e-4 * whole.abs().max(1.0),
        "the summed rewards {whole} equal g(s_T) - g(s_0) {telescoped}"
    );
    assert_ne!(
        whole, 0.0,
        "the walk's ends differ, so its return is not zero"
    );
    assert_eq!(return_rows(&rollout, false, 40), features(&rollout, 40));
}
