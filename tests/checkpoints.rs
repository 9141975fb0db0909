//! Checkpoints: resuming continues exactly; corrupt or incompatible checkpoints give clear errors.

use burn::tensor::Device;
use maze_rllf::config::{LevelRef, ModelConfig, PpoConfig, TrainConfig};
use maze_rllf::level::DistributionSpec;
use maze_rllf::rl::{Trainer, checkpoint};
use std::path::Path;

fn tiny_config() -> TrainConfig {
    TrainConfig {
        seed: 5,
        levels: LevelRef::Inline(DistributionSpec::training(7, 1)),
        region: None,
        max_steps: 30,
        model: ModelConfig::Mlp {
            width: 32,
            blocks: 1,
        },
        ppo: PpoConfig {
            total_timesteps: 6 * 8 * 16,
            num_envs: 8,
            num_steps: 16,
            learning_rate: 1e-3,
            anneal_lr: true,
            gamma: 0.95,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 2,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
        },
        checkpoint_every: 3,
        eval_episodes: 10,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("maze-rllf-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn trace(trainer: &mut Trainer, iterations: usize) -> Vec<String> {
    (0..iterations)
        .map(|_| {
            let m = trainer.iterate();
            format!(
                "{} {} {:.9} {:.9} {:.9} {:.9}",
                m.global_step,
                m.episodes,
                m.policy_loss,
                m.value_loss,
                m.entropy,
                m.episodic_return
            )
        })
        .collect()
}

#[test]
fn resume_continues_exactly() {
    let device = Device::flex();
    let dir = temp_dir("resume");
    let mut straight = Trainer::new(tiny_config(), &device).expect("trainer");
    let full = trace(&mut straight, 6);

    let mut first = Trainer::new(tiny_config(), &device).expect("trainer");
    let mut resumed_trace = trace(&mut first, 3);
    let saved = checkpoint::save(&first, &dir).expect("save");
    drop(first);
    assert!(saved.ends_with("checkpoint-0000000384"));
    let mut resumed = checkpoint::resume(&dir, &device, &[]).expect("resume");
    assert_eq!(resumed.state.global_step, 384);
    resumed_trace.extend(trace(&mut resumed, 3));
    assert_eq!(
        full, resumed_trace,
        "resumed training must match uninterrupted training"
    );
    assert!(resumed.finished());
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

fn saved_run(name: &str) -> std::path::PathBuf {
    let device = Device::flex();
    let dir = temp_dir(name);
    let mut trainer = Trainer::new(tiny_config(), &device).expect("trainer");
    trainer.iterate();
    checkpoint::save(&trainer, &dir).expect("save")
}

fn load_error(dir: &Path) -> String {
    match checkpoint::load(dir, &Device::flex()) {
        Ok(_) => panic!("expected an error loading {}", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_or_altered_files_are_reported_as_corrupt() {
    let ckpt = saved_run("corrupt");
    let model = ckpt.join("model.bpk");
    let bytes = std::fs::read(&model).expect("weights");
    std::fs::write(&model, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = load_error(&ckpt);
    assert!(
        err.contains("model.bpk") && err.contains("corrupt"),
        "{err}"
    );

    let mut altered = bytes.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0xFF;
    std::fs::write(&model, &altered).expect("alter");
    let err = load_error(&ckpt);
    assert!(err.contains("checksum mismatch"), "{err}");

    std::fs::write(ckpt.join("manifest.json"), b"{ not json").expect("mangle");
    let err = load_error(&ckpt);
    assert!(
        err.contains("manifest.json") && err.contains("corrupt"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(ckpt.parent().expect("run dir"));
}

#[test]
fn incompatible_checkpoints_are_refused_with_a_reason() {
    let ckpt = saved_run("incompatible");
    let manifest = std::fs::read_to_string(ckpt.join("manifest.json")).expect("manifest");
    std::fs::write(
        ckpt.join("manifest.json"),
        manifest.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .expect("write");
    let err = load_error(&ckpt);
    assert!(
        err.contains("incompatible") && err.contains("format version 99"),
        "{err}"
    );
    std::fs::write(ckpt.join("manifest.json"), &manifest).expect("restore");

    let run = ckpt.parent().expect("run dir");
    let err = match checkpoint::resume(run, &Device::flex(), &["model=\"x\"".into()]) {
        Ok(_) => panic!("a model change must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("incompatible"), "{err}");
    let err = load_error(&run.join("no-such-checkpoint"));
    assert!(err.contains("not a checkpoint"), "{err}");
    let _ = std::fs::remove_dir_all(run);
}
