//! Long training stays flat in memory: the bytes a process holds live (counted by this test's
//! allocator) do not grow from one PPO iteration to the next. Guards the cause found by
//! `maze-rllf bench --soak`: burn's autodiff kept an entry for every optimizer step and model fork
//! because the host kernels never run a backward pass, which is what sweeps them.

// One of the two places the project writes `unsafe` (the other is the gemm call in
// src/rl/matmul.rs): a global allocator must implement `GlobalAlloc`.
#![allow(unsafe_code)]

use burn::tensor::Device;
use maze_rllf::config::{LevelRef, ModelConfig, PpoConfig, TrainConfig};
use maze_rllf::level::DistributionSpec;
use maze_rllf::rl::Trainer;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn config(model: ModelConfig) -> TrainConfig {
    TrainConfig {
        seed: 3,
        levels: LevelRef::Inline(DistributionSpec::training(7, 1)),
        region: None,
        max_steps: 30,
        model,
        ppo: PpoConfig {
            total_timesteps: 1_000_000,
            num_envs: 8,
            num_steps: 16,
            learning_rate: 1e-3,
            anneal_lr: false,
            gamma: 0.95,
            gae_lambda: 0.95,
            num_minibatches: 8,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            anneal_ent: false,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
        },
        checkpoint_every: 1000,
        eval_episodes: 10,
    }
}

/// Live bytes gained over `iterations` iterations after a warm-up.
fn growth(model: ModelConfig, iterations: usize) -> i64 {
    let mut trainer = Trainer::new(config(model), &Device::flex()).expect("trainer");
    for _ in 0..20 {
        trainer.iterate();
    }
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..iterations {
        trainer.iterate();
    }
    LIVE.load(Ordering::Relaxed) - before
}

#[test]
fn ppo_iterations_do_not_accumulate_memory() {
    // 100 iterations x 32 optimizer steps: with the leak each step kept about 20 KB (64 MB in
    // all); a one-off table growth of about 1 MB is allowed.
    for (name, model) in [
        (
            "mlp",
            ModelConfig::Mlp {
                width: 32,
                blocks: 1,
            },
        ),
        (
            "conv",
            ModelConfig::Conv {
                channels: vec![8],
                hidden: 32,
            },
        ),
    ] {
        let grown = growth(model, 100);
        assert!(
            grown < 4 * 1024 * 1024,
            "{name}: {grown} bytes more held live after 100 iterations"
        );
    }
}
