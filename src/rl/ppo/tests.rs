//! PPO's update paths checked against each other, and the advantage normalisation.

use super::*;
use crate::config::ModelConfig;
use crate::rl::gradient_values;
use burn::optim::GradientsParams;

#[test]
fn normalise_gives_zero_mean_unit_std() {
    let mut v = vec![1.0, 2.0, 3.0, 4.0];
    normalise(&mut v);
    assert!(v.iter().sum::<f32>().abs() < 1e-6);
    let var = v.iter().map(|x| x * x).sum::<f32>() / 3.0;
    assert!((var - 1.0).abs() < 1e-4);
}

#[test]
fn sharded_minibatch_gradients_equal_the_whole_minibatch_on_every_path() {
    // burn on dense observations, burn on the grid form, the host kernels on the grid form.
    check_update_paths(None, &[(false, false), (true, false), (true, true)]);
    // A conv torso: burn, and the host conv kernels on the observations.
    let conv = ModelConfig::Conv {
        channels: vec![8, 16],
        hidden: 32,
    };
    check_update_paths(Some(conv), &[(false, false), (false, true)]);
}

/// Runs one minibatch's forward and backward pass through each of `paths` (grid form, host
/// kernels) whole and in three shards, on a rollout of the quick 7x7 config (with `model`
/// when given): every path and every sharding give the same losses and gradients.
fn check_update_paths(model: Option<ModelConfig>, paths: &[(bool, bool)]) {
    let path = std::path::Path::new("assets/configs/quick-7x7.ron");
    let mut config = TrainConfig::load(path).expect("shipped config");
    config.ppo.num_envs = 8;
    config.ppo.num_steps = 48; // more than the 40-step limit: every env starts a new maze
    if let Some(model) = model {
        config.model = model;
    }
    let mut trainer = Trainer::new(config, &Device::flex()).expect("trainer");
    trainer.collect_rollout();
    if let Some(grids) = trainer.grids.as_ref() {
        let all: Vec<usize> = (0..grids.len()).collect();
        let rebuilt = host(grids.batch(&all, &trainer.device).dense());
        assert_eq!(
            rebuilt, trainer.buf.obs,
            "the grid form is the rollout's observations"
        );
    }
    assert!(
        trainer.state.episodes > 0,
        "episodes ended and their envs moved to new mazes"
    );
    let n = trainer.buf.rewards.len();
    let advantages: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let returns: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
    let chunk: Vec<usize> = (0..n).rev().step_by(3).collect();
    let coefs = LossCoefs {
        clip_coef: 0.2,
        clip_vloss: true,
        ent_coef: 0.01,
        vf_coef: 0.5,
    };
    let host_weights = trainer.model.host_net().expect("host weights");
    let mut reference: Option<(Vec<Vec<f32>>, [f64; 3])> = None;
    for &(grid_form, host_kernels) in paths {
        let data = ShardData {
            grids: trainer.grids.as_ref().filter(|_| grid_form),
            weights: Some(&host_weights).filter(|_| host_kernels),
            obs: &trainer.buf.obs,
            obs_len: trainer.obs_len,
            device: &trainer.device,
            coefs,
        };
        let values = |grads: &GradientsParams| gradient_values(&trainer.model, grads);
        let mb = || trainer.minibatch(&chunk, &advantages, &returns, true);
        let inner = trainer.device.clone().inner();
        let (whole, whole_stats) = data.run(&trainer.model, mb(), &mut HostBuffers::default());
        let whole = whole.into_params(&trainer.model, &inner);
        let shards = mb().shards(3);
        assert_eq!(shards.len(), 3);
        assert!((shards.iter().map(|s| s.weight).sum::<f32>() - 1.0).abs() < 1e-6);
        let mut shards = shards.into_iter();
        let first = shards.next().expect("a first shard");
        let (mut grads, mut stats) = data.run(&trainer.model, first, &mut HostBuffers::default());
        for shard in shards {
            let forked = trainer.model.clone().fork(&trainer.device);
            let (more, more_stats) = data.run(&forked, shard, &mut HostBuffers::default());
            grads = grads.add(more, &trainer.model, &inner);
            stats.absorb(more_stats);
        }
        let grads = grads.into_params(&trainer.model, &inner);
        for (a, b) in values(&whole).iter().zip(values(&grads)) {
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
        assert!((whole_stats.policy - stats.policy).abs() < 1e-5);
        assert!((whole_stats.value - stats.value).abs() < 1e-5);
        assert!((whole_stats.entropy - stats.entropy).abs() < 1e-5);
        assert_eq!(whole_stats.logratio.len(), stats.logratio.len());
        let whole = values(&whole);
        let losses = [whole_stats.policy, whole_stats.value, whole_stats.entropy];
        let (reference, reference_losses) =
            reference.get_or_insert_with(|| (whole.clone(), losses));
        for (x, y) in reference_losses.iter().zip(losses) {
            assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "losses {x} vs {y}");
        }
        assert_eq!(
            reference.len(),
            whole.len(),
            "the same parameters have gradients"
        );
        for (a, b) in reference.iter().zip(&whole) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() < 1e-4 * (1.0 + x.abs()),
                    "path {grid_form}/{host_kernels}: {x} vs {y}"
                );
            }
        }
    }
}

/// An iteration of a conv trainer records the PPO loop's phases and the conv kernels', and the
/// kernels count the first convolution's products exactly: every observation the network read
/// (the rollout's, the bootstrap states', one epoch's update) times 49 cells x 27 taps x 4
/// channels x 2.
#[test]
fn an_iteration_records_its_phases_and_product_flops() {
    let path = std::path::Path::new("assets/configs/quick-7x7.ron");
    let mut config = TrainConfig::load(path).expect("shipped config");
    config.model = ModelConfig::Conv {
        channels: vec![4, 8],
        hidden: 16,
    };
    (config.ppo.num_envs, config.ppo.num_steps) = (4, 8); // shorter than the time limit
    (config.ppo.num_minibatches, config.ppo.update_epochs) = (2, 1);
    let mut trainer = Trainer::new(config, &Device::flex()).expect("trainer");
    trainer.iterate();
    let times = trainer.phase_times();
    let phase = |name: &str| {
        times
            .phases()
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("phase {name} recorded"))
    };
    assert_eq!(phase("rollout: policy inference (wall clock)").calls, 8);
    assert_eq!(phase("update: Adam step (burn)").calls, 2);
    let read = (4 * 8 + 4 + 4 * 8) as f64;
    let first = phase("conv 1 product (forward)");
    assert_eq!(first.flops, read * 49.0 * 27.0 * 4.0 * 2.0);
    assert!(first.time > std::time::Duration::ZERO);
    trainer.clear_phase_times();
    assert!(trainer.phase_times().phases().is_empty());
}
