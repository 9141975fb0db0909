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
            anneal_ent: false,
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

/// FNV-1a 64, the manifest's checksum: lets a test write a checksum-valid but wrong file.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Replaces `file` of a checkpoint with `bytes` and makes the manifest agree with it.
fn forge(ckpt: &Path, file: &str, bytes: &[u8]) {
    std::fs::write(ckpt.join(file), bytes).expect("write");
    let path = ckpt.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    for entry in manifest["files"].as_array_mut().expect("files") {
        if entry[0] == file {
            entry[1] = serde_json::json!(bytes.len());
            entry[2] = serde_json::json!(fnv(bytes));
        }
    }
    std::fs::write(&path, manifest.to_string()).expect("manifest");
}

#[test]
fn checksum_valid_but_structurally_wrong_state_is_refused_not_a_panic() {
    let ckpt = saved_run("structure");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("state.json")).expect("state"))
            .expect("json");
    type Mutation = fn(&mut serde_json::Value);
    let cases: [(&str, Mutation, &str); 6] = [
        (
            "mouse out of bounds",
            |s| s["venv"]["envs"][0]["mouse"]["row"] = serde_json::json!(500),
            "mouse lies outside",
        ),
        (
            "short walls list",
            |s| {
                let walls = s["venv"]["envs"][1]["layout"]["walls"]
                    .as_array_mut()
                    .expect("walls");
                walls.truncate(5);
            },
            "wall flags",
        ),
        (
            "huge layout",
            |s| s["venv"]["envs"][2]["layout"]["size"] = serde_json::json!(1_000_000_000u64),
            "layout size",
        ),
        (
            "fewer envs than the config",
            |s| {
                s["venv"]["envs"].as_array_mut().expect("envs").pop();
            },
            "envs, but the config runs 8",
        ),
        (
            "a mixture with no parts",
            |s| {
                s["venv"]["source"] =
                    serde_json::json!({"Mixture": {"name": "empty", "parts": []}});
            },
            "has no parts",
        ),
        (
            "an impossible distribution",
            |s| s["venv"]["source"]["Distribution"]["spec"]["world_size"] = serde_json::json!(2),
            "world_size",
        ),
    ];
    for (what, mutate, needle) in cases {
        let mut state = original.clone();
        mutate(&mut state);
        forge(&ckpt, "state.json", state.to_string().as_bytes());
        let err = load_error(&ckpt);
        assert!(
            err.contains("corrupt") && err.contains(needle),
            "{what}: {err}"
        );
        let resumed = checkpoint::resume(&ckpt, &Device::flex(), &[]);
        assert!(resumed.is_err(), "{what}: resume refuses it too");
    }
    let _ = std::fs::remove_dir_all(ckpt.parent().expect("run dir"));
}

#[test]
fn manifests_and_latest_never_name_paths_outside_the_run() {
    let ckpt = saved_run("escape");
    let run = ckpt.parent().expect("run dir").to_path_buf();
    let outside = run.with_extension("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret"), "not a checkpoint file").expect("secret");

    let manifest = std::fs::read_to_string(ckpt.join("manifest.json")).expect("manifest");
    let escaped = manifest.replacen("\"state.json\"", "\"../../x.outside/secret\"", 1);
    std::fs::write(ckpt.join("manifest.json"), &escaped).expect("write");
    let err = load_error(&ckpt);
    assert!(err.contains("not a checkpoint file"), "{err}");
    std::fs::write(ckpt.join("manifest.json"), &manifest).expect("restore");

    for name in ["../x.outside", "/etc", "checkpoint-1/../../x"] {
        std::fs::write(run.join("latest"), name).expect("latest");
        let err = load_error(&run);
        assert!(
            err.contains("not a checkpoint folder of this run"),
            "{name}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::remove_dir_all(&outside);
}
