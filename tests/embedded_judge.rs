//! The embedded judge with real models (installed by `scripts/install-models.sh`, which the test
//! script runs first): loading, exact tokenizer round trips, a calibrated choice for a pair, an
//! analysis that always yields a diagnosis and menu scenarios, and clear errors for missing,
//! truncated, corrupt and wrong-checksum files.
#![cfg(feature = "embedded")]

use maze_rllf::level::DistributionSpec;
use maze_rllf::llm::embedded::{
    ChatModel, DEFAULT_MODEL, Dequantize, EmbeddedConfig, EmbeddedJudge, KNOWN_MODELS, ModelError,
    resolve_model,
};
use maze_rllf::llm::facts::Question;
use maze_rllf::llm::text::Wording;
use maze_rllf::llm::{Choice, Episodes, Judge};
use maze_rllf::sim::Rollout;
use maze_rllf::sim::{Action, MazeEnv};
use std::path::PathBuf;

fn installed(name: &str) -> PathBuf {
    let (_, path, _) = resolve_model(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-models.sh {name}",
        path.display()
    );
    path
}

fn rollout(layout: maze_rllf::level::Layout, actions: &[Action]) -> Rollout {
    let mut env = MazeEnv::new(layout.clone(), 100);
    let mut path = vec![layout.start];
    for a in actions {
        let step = env.step(*a);
        path.push(env.mouse);
        if step.terminated {
            break;
        }
    }
    let moves = actions[..path.len() - 1].to_vec();
    Rollout::from_path(layout, path, moves)
}

/// The shortest moves from the start to the cheese.
fn route_to_cheese(layout: &maze_rllf::level::Layout) -> Vec<Action> {
    let dist = layout.distances_from(layout.cheese);
    let mut pos = layout.start;
    let mut out = Vec::new();
    while pos != layout.cheese && out.len() < 100 {
        let step = Action::ALL
            .iter()
            .filter_map(|a| {
                a.apply(pos, layout.size)
                    .filter(|p| !layout.is_wall(*p))
                    .map(|p| (*a, p))
            })
            .min_by_key(|(_, p)| dist[layout.index(*p)]);
        let Some((action, next)) = step else { break };
        out.push(action);
        pos = next;
    }
    out
}

/// A success and a failure in the same maze: the shortest path to the cheese, and the same number
/// of moves bumping around the start.
fn success_and_failure() -> (Rollout, Rollout) {
    let layout = DistributionSpec::training(7, 1).shifted().level_for_seed(3);
    let route = route_to_cheese(&layout);
    let success = rollout(layout.clone(), &route);
    let dither: Vec<Action> = (0..route.len())
        .map(|i| {
            if i % 2 == 0 {
                Action::Down
            } else {
                Action::Left
            }
        })
        .collect();
    let failure = rollout(layout, &dither);
    assert!(success.stats.reached_cheese && !failure.stats.reached_cheese);
    (success, failure)
}

#[test]
fn tokenizers_round_trip_prompts_exactly_and_split_as_the_model_was_trained() {
    let prompt = ChatModel::chat_prompt(
        "You judge episodes.",
        "Maze:\n#.#C#\n#M..#\nMoves (12): up up right 2024\nCheese at row 1, column 5.",
        "",
    );
    // The two models CI installs must be there (a missing one fails with the install command);
    // any other known model is checked when it happens to be installed.
    let required = [DEFAULT_MODEL, "smollm2-135m"];
    for known in KNOWN_MODELS
        .iter()
        .filter(|m| required.contains(&m.name) || resolve_model(m.name).1.exists())
    {
        let model = ChatModel::load(&installed(known.name), None, Dequantize::Auto, "install")
            .expect("load");
        let ids = model.encode(&prompt).expect("encode");
        assert_eq!(
            model.decode(&ids).expect("decode"),
            prompt,
            "{}",
            known.name
        );
        let im_start = model.single_token("<|im_start|>").expect("ChatML token");
        assert_eq!(ids[0], im_start, "{}: special token recognised", known.name);
        // No prefix space: "user" right after <|im_start|> is not " user".
        assert_eq!(
            model.decode(&ids[1..2]).expect("decode"),
            "system",
            "{}",
            known.name
        );
    }
    {
        let smol =
            ChatModel::load(&installed("smollm2-135m"), None, Dequantize::Auto, "x").expect("load");
        // SmolLM2's own ids (byte-level, no prefix space, digits one by one).
        assert_eq!(smol.encode("A").expect("encode"), vec![49]);
        assert_eq!(smol.encode(" A").expect("encode"), vec![330]);
        assert_eq!(smol.encode("B").expect("encode"), vec![50]);
        assert_eq!(smol.encode("2024").expect("encode").len(), 4);
        assert!(
            smol.info.dequantized_tensors > 0,
            "Q4_1 weights dequantized"
        );
    }
}

#[test]
fn default_judge_loads_and_chooses_for_a_pair_in_both_orders() {
    installed(DEFAULT_MODEL);
    let base = DistributionSpec::training(7, 1);
    let mut judge = EmbeddedJudge::new(&EmbeddedConfig::default(), base).expect("judge");
    assert!(judge.name().starts_with("embedded:"));
    let (success, failure) = success_and_failure();
    let forward = judge
        .score(&success, &failure, Wording::Standard)
        .expect("score");
    let swapped = judge
        .score(&failure, &success, Wording::Standard)
        .expect("score");
    for s in [forward, swapped] {
        assert!((0.0..=1.0).contains(&s.raw) && (0.0..=1.0).contains(&s.calibrated));
        assert!(s.label_mass > 0.0 && s.label_mass <= 1.0 + 1e-6);
    }
    let comparison = judge.compare(&success, &failure).expect("compare");
    // The choice follows the calibrated score (ties within 0.02 of even).
    let expected = if forward.calibrated > 0.52 {
        Choice::First
    } else if forward.calibrated < 0.48 {
        Choice::Second
    } else {
        Choice::Tie
    };
    assert_eq!(comparison.choice, expected);
    assert!(comparison.rationale.contains("calibrated"));
    // The label-cache key holds both rollouts: different pairs never share a cached answer.
    assert_ne!(
        judge.compare_prompt(&success, &failure),
        judge.compare_prompt(&failure, &success)
    );
    // Averaged over both orders the default judge prefers the success here.
    let averaged = (forward.calibrated + 1.0 - swapped.calibrated) / 2.0;
    assert!(averaged > 0.5, "averaged P(success) {averaged:.2}");
    // A pairwise variant (both rollouts in one prompt, calibrated against a content-free query).
    judge.set_variant("positions").expect("pairwise variant");
    let pairwise = judge
        .score(&success, &failure, Wording::Paraphrased)
        .expect("score");
    assert!((0.0..=1.0).contains(&pairwise.calibrated) && pairwise.label_mass > 0.0);
    assert!(judge.set_variant("no-such-variant").is_err());
}

#[test]
fn analysis_always_yields_a_diagnosis_menu_scenarios_and_free_text() {
    installed(DEFAULT_MODEL);
    let base = DistributionSpec::training(7, 1);
    let config = EmbeddedConfig {
        analysis_tokens: 16,
        analyst: None,
        ..EmbeddedConfig::default()
    };
    let mut judge = EmbeddedJudge::new(&config, base).expect("judge");
    let (success, failure) = success_and_failure();
    let analysis = judge
        .analyze(
            "A mouse in a 7x7 maze.",
            &Episodes {
                training: vec![success.clone()],
                probes: vec![failure, success],
            },
        )
        .expect("analysis");
    let items = maze_rllf::llm::menu::menu(&DistributionSpec::training(7, 1));
    assert!(
        analysis
            .scenarios
            .iter()
            .all(|s| items.iter().any(|i| i.scenario == *s)),
        "only menu items: {:?}",
        analysis.scenarios
    );
    match analysis.diagnosis {
        maze_rllf::llm::Diagnosis::Unstated => panic!("the judge always picks a diagnosis"),
        // Healthy: "no change" alone; a corner: that many scenarios that change the mazes.
        maze_rllf::llm::Diagnosis::Healthy => assert_eq!(analysis.usable_scenarios(), vec![]),
        maze_rllf::llm::Diagnosis::Corner(_) => {
            assert_eq!(analysis.usable_scenarios().len(), config.scenarios)
        }
    }
    assert!(!analysis.raw.trim().is_empty());
    // The variants that read one episode at a time say what they read in each.
    for variant in ["positions-read", "corners-yesno"] {
        judge.set_variant(variant).expect("a shipped variant");
        let (success, failure) = success_and_failure();
        let analysis = judge
            .analyze(
                "A mouse in a 7x7 maze.",
                &Episodes::probes_only(vec![failure, success]),
            )
            .expect("analysis");
        assert_ne!(analysis.diagnosis, maze_rllf::llm::Diagnosis::Unstated);
        for episode in ["episode 1:", "episode 2:"] {
            assert!(
                analysis.raw.contains(episode),
                "{variant}: {}",
                analysis.raw
            );
        }
        assert!(
            analysis
                .scenarios
                .iter()
                .all(|s| items.iter().any(|i| i.scenario == *s)),
            "{variant}: only menu items"
        );
    }
}

#[test]
fn the_install_script_installs_the_default_model_by_default() {
    let script = std::fs::read_to_string("scripts/install-models.sh").expect("install script");
    assert!(
        script.contains(&format!("DEFAULT_MODEL=\"{DEFAULT_MODEL}\"")),
        "scripts/install-models.sh must name {DEFAULT_MODEL} as its default"
    );
    let analyst = EmbeddedConfig::default()
        .analyst
        .expect("the default analyst");
    assert!(
        script.contains(&format!("DEFAULT_ANALYST_MODEL=\"{}\"", analyst.model)),
        "scripts/install-models.sh must install the default analyst {} too",
        analyst.model
    );
    for known in KNOWN_MODELS {
        assert!(
            script.contains(&format!("{}|{}|{}|", known.name, known.file, known.sha256)),
            "{} in the install script",
            known.name
        );
    }
}

#[test]
fn bad_model_files_give_errors_that_say_what_to_do() {
    let dir = std::env::temp_dir().join(format!("maze-rllf-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Missing.
    let missing = ChatModel::load(&dir.join("nope.gguf"), None, Dequantize::Auto, "install-it")
        .err()
        .expect("missing file is an error");
    assert!(matches!(missing, ModelError::Missing { .. }));
    assert!(missing.to_string().contains("install-it"), "{missing}");
    // Not a GGUF at all.
    let garbage = dir.join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a model").expect("write");
    let err = ChatModel::load(&garbage, None, Dequantize::Auto, "install-it")
        .err()
        .expect("garbage is an error");
    assert!(
        err.to_string().contains("not a readable GGUF") && err.to_string().contains("install-it"),
        "{err}"
    );
    // Truncated: the header is fine, the tensors are cut off.
    let source = installed("smollm2-135m");
    let bytes = std::fs::read(&source).expect("read model");
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    let err = ChatModel::load(&truncated, None, Dequantize::Auto, "install-it")
        .err()
        .expect("truncated is an error");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Wrong checksum: a complete, valid file that is not the expected one.
    let err = ChatModel::load(
        &source,
        Some(&"0".repeat(64)),
        Dequantize::Auto,
        "install-it",
    )
    .err()
    .expect("checksum mismatch is an error");
    assert!(matches!(err, ModelError::Checksum { .. }));
    assert!(err.to_string().contains("sha256") && err.to_string().contains("install-it"));
    // A judge on a known model that is missing names the install command.
    let config = EmbeddedConfig {
        model: dir.join("absent.gguf").display().to_string(),
        ..EmbeddedConfig::default()
    };
    let err = EmbeddedJudge::new(&config, DistributionSpec::training(7, 1))
        .err()
        .expect("absent model");
    assert!(
        matches!(
            err,
            maze_rllf::llm::SetupError::Model(ModelError::Missing { .. })
        ),
        "a missing model is the model's error, not a bad setting: {err:?}"
    );
    assert!(err.to_string().contains("not found"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_tuned_adapter_changes_the_model_and_a_foreign_or_missing_one_is_refused() {
    use candle_core::{DType, Device, Tensor};
    let base_path = installed("smollm2-135m");
    let dir = std::env::temp_dir().join(format!("maze-rllf-adapter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let zeros = |shape: (usize, usize)| Tensor::zeros(shape, DType::F32, &Device::Cpu).expect("t");
    let small = |shape: (usize, usize)| {
        Tensor::randn(0f32, 0.05, shape, &Device::Cpu).expect("random tensor")
    };
    // An adapter on two weights of this model (rank 4), as scripts/tune_judge.py writes one.
    // Per tuned weight: its name, `lora_a` (rank x in) and `lora_b` (out x rank).
    let write_adapter = |path: &std::path::Path, pairs: Vec<(&str, Tensor, Tensor)>| {
        let tensors: std::collections::HashMap<String, Tensor> = pairs
            .into_iter()
            .flat_map(|(w, a, b)| [(format!("{w}.lora_a"), a), (format!("{w}.lora_b"), b)])
            .collect();
        candle_core::safetensors::save(&tensors, path).expect("write adapter");
    };
    let adapter = dir.join("adapter.safetensors");
    write_adapter(
        &adapter,
        vec![
            ("blk.0.attn_q.weight", small((4, 576)), small((576, 4))),
            ("blk.29.ffn_down.weight", small((4, 1536)), small((576, 4))),
        ],
    );
    let prompt = ChatModel::chat_prompt(
        "You judge episodes of a mouse in a grid maze.",
        "The cheese is at row 1, column 5. Is the cheese in rows 0 to 3 and in columns 3 to 6? \
         Answer yes or no.",
        "",
    );
    let mut base = ChatModel::load(&base_path, None, Dequantize::Auto, "x").expect("base");
    let mut tuned = ChatModel::load_tuned(&base_path, None, Dequantize::Auto, "x", Some(&adapter))
        .expect("tuned");
    assert_eq!(tuned.info.adapter.as_deref(), Some(adapter.as_path()));
    let before = base.next_token_logprobs(&prompt).expect("base answers");
    let after = tuned.next_token_logprobs(&prompt).expect("tuned answers");
    let moved = largest_gap(&before, &after);
    assert!(
        moved > 1e-3,
        "the adapter changed nothing (max change {moved})"
    );
    // The same adapter stored in half precision (as tune_judge.py writes it) acts the same.
    let half = dir.join("half.safetensors");
    let halved: std::collections::HashMap<String, Tensor> =
        candle_core::safetensors::load(&adapter, &Device::Cpu)
            .expect("read the adapter back")
            .into_iter()
            .map(|(name, t)| (name, t.to_dtype(DType::F16).expect("to f16")))
            .collect();
    candle_core::safetensors::save(&halved, &half).expect("write the f16 adapter");
    let mut tuned_half =
        ChatModel::load_tuned(&base_path, None, Dequantize::Auto, "x", Some(&half))
            .expect("an f16 adapter loads");
    let after_half = tuned_half.next_token_logprobs(&prompt).expect("answers");
    let apart = largest_gap(&after, &after_half);
    assert!(apart < 0.05, "f16 and f32 adapters differ by {apart}");
    // A judge on a tuned model is named apart from the model as installed.
    let judge = EmbeddedJudge::new(
        &EmbeddedConfig {
            model: "smollm2-135m".into(),
            prompt: "facts".into(),
            adapter: Some(adapter.clone()),
            analyst: None,
            ..EmbeddedConfig::default()
        },
        DistributionSpec::training(7, 1),
    )
    .expect("tuned judge");
    assert_eq!(judge.name(), "embedded:smollm2-135m+adapter/facts");

    let load = |path: &std::path::Path| {
        ChatModel::load_tuned(&base_path, None, Dequantize::Auto, "x", Some(path))
            .err()
            .expect("a bad adapter is an error")
            .to_string()
    };
    // Shapes that fit no weight of this model (another model's adapter).
    let foreign = dir.join("foreign.safetensors");
    write_adapter(
        &foreign,
        vec![("blk.0.attn_q.weight", zeros((2, 10)), zeros((576, 2)))],
    );
    let err = load(&foreign);
    assert!(
        err.contains("foreign.safetensors")
            && err.contains("blk.0.attn_q.weight")
            && err.contains("another model"),
        "{err}"
    );
    // A weight this model does not have.
    write_adapter(
        &foreign,
        vec![("blk.99.attn_q.weight", zeros((2, 576)), zeros((576, 2)))],
    );
    let err = load(&foreign);
    assert!(
        err.contains("blk.99.attn_q.weight") && err.contains("another model"),
        "{err}"
    );
    // Not a safetensors file; no file at all.
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not an adapter").expect("write");
    let err = load(&garbage);
    assert!(
        err.contains("garbage.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    let err = load(&dir.join("absent.safetensors"));
    assert!(
        err.contains("not found") && err.contains("tune-judge"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn per_item_proposals_subtract_the_contrast_and_respect_the_floor() {
    installed(DEFAULT_MODEL);
    let base = DistributionSpec::training(7, 1);
    let items = maze_rllf::llm::menu::menu(&base);
    let config = EmbeddedConfig::default();
    let mut judge = EmbeddedJudge::new(&config, base).expect("judge");
    let corner = maze_rllf::level::Corner::TopRight;
    // The shipped variant: every item scored, the best `scenarios` that change the mazes proposed.
    judge.set_variant("corners-yesno").expect("shipped variant");
    let (scored, proposed) = judge.propose_for(corner).expect("scores");
    assert_eq!(scored.len(), items.len());
    assert_eq!(proposed.len(), config.scenarios);
    assert!(
        proposed
            .iter()
            .all(|&i| scored[i].0.scenario.changes_anything())
    );
    let best_changing = scored
        .iter()
        .filter(|(item, _)| item.scenario.changes_anything())
        .map(|(_, odds)| *odds)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(scored[proposed[0]].1, best_changing);
    // A contrast equal to the question cancels it exactly; a floor above every score proposes
    // nothing (and the analysis then leaves the designer on the training mazes).
    let shipped = std::fs::read_to_string("assets/prompts/embedded/corners-yesno.ron")
        .expect("shipped variant file");
    let question = shipped
        .lines()
        .find_map(|l| l.trim().strip_prefix("item_question: "))
        .expect("an item question")
        .trim_end_matches(',');
    let dir = std::env::temp_dir().join(format!("maze-rllf-variant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cancel = dir.join("cancel.ron");
    let edited = shipped
        .lines()
        .map(|l| {
            if l.trim().starts_with("item_contrast:") {
                format!("    item_contrast: Some({question}),\n    item_min_odds: Some(0.5),")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&cancel, edited).expect("write variant");
    judge
        .set_variant(cancel.to_str().expect("utf-8 path"))
        .expect("edited variant");
    let (scored, proposed) = judge.propose_for(corner).expect("scores");
    assert!(
        scored.iter().all(|(_, odds)| *odds == 0.0),
        "{:?}",
        scored.iter().map(|(_, o)| o).collect::<Vec<_>>()
    );
    assert!(proposed.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_facts_variant_answers_every_question_itself_and_is_counted_like_the_oracle() {
    installed(DEFAULT_MODEL);
    let base = DistributionSpec::training(7, 1);
    let config = EmbeddedConfig {
        prompt: "facts".into(),
        analyst: None,
        ..EmbeddedConfig::default()
    };
    let mut judge = EmbeddedJudge::new(&config, base).expect("judge");
    let (success, failure) = success_and_failure();
    let episodes = Episodes {
        training: vec![success.clone()],
        probes: vec![failure, success],
    };
    let analysis = judge.analyze("", &episodes).expect("analysis");
    let answers = analysis.answers.clone().expect("answered one by one");
    assert_eq!((answers.training.len(), answers.probes.len()), (1, 2));
    // The diagnosis is the one aggregation over the model's own answers, whatever they are.
    assert_eq!(analysis.diagnosis, answers.diagnosis());
    assert!(
        analysis.raw.starts_with("The model's answers"),
        "{}",
        analysis.raw
    );
    // A log-odds for every question, finite.
    for corner in maze_rllf::level::Corner::ALL {
        let odds = judge
            .fact_odds(Question::CheeseIn(corner), &episodes.training[0])
            .expect("answered");
        assert!(odds.is_finite(), "{corner}: {odds}");
    }
}

#[test]
fn the_default_judge_reads_where_training_put_the_cheese_itself() {
    let analyst = EmbeddedConfig::default()
        .analyst
        .expect("the default has an analyst");
    installed(DEFAULT_MODEL);
    installed(&analyst.model);
    let mut judge = None;
    for corner in maze_rllf::level::Corner::ALL {
        let kind = maze_rllf::llm::Diagnosis::Corner(corner);
        let base = DistributionSpec {
            maze_size: maze_rllf::level::MazeSize::Fixed(7),
            ..DistributionSpec::training(7, 2).with_corner(corner)
        };
        let walked = |spec: &DistributionSpec, seed| {
            let layout = spec.level_for_seed(seed);
            rollout(layout.clone(), &route_to_cheese(&layout))
        };
        let episodes = Episodes {
            training: (0..10).map(|seed| walked(&base, seed)).collect(),
            probes: (100..102)
                .map(|seed| walked(&base.shifted(), seed))
                .collect(),
        };
        let judge = judge.get_or_insert_with(|| {
            EmbeddedJudge::new(&EmbeddedConfig::default(), base.clone()).expect("default judge")
        });
        judge.rebase(&base);
        let analysis = judge.analyze("", &episodes).expect("analysis");
        let answers = analysis.answers.clone().expect("answered one by one");
        // The cheese questions answered by the model: it reads the cheese's row and column off
        // each episode and compares its own numbers; the code only counts. Its readings are not
        // perfect (it reads the row of the cheese at (0, 5) as 5 in two of these episodes, the
        // synthetic 97.2% of README, "Offline judge"), so most, not all, episodes must match the
        // simulator, and the count must still name the corner.
        let truth = maze_rllf::llm::facts::Answers::truth(&episodes);
        let matching = (answers.training.iter())
            .zip(&truth.training)
            .filter(|(model, truth)| model == truth)
            .count();
        assert!(
            matching >= 8,
            "{corner}: {matching} of 10 episodes read as the simulator reads them: {:?}",
            answers.training
        );
        assert_eq!(analysis.diagnosis, kind, "{corner}");
        // The confound decides, so no probe was asked.
        assert!(answers.probes.is_empty(), "{corner}");
        let items = maze_rllf::llm::menu::menu(&base);
        let right = maze_rllf::llm::menu::right_items(&items, kind);
        let verdict = maze_rllf::llm::menu::verdict(
            &items,
            &right,
            kind,
            analysis.diagnosis,
            &analysis.scenarios,
        );
        assert!(
            verdict.proposals_right,
            "{corner}: {:?}",
            analysis.scenarios
        );
    }
}

#[test]
fn an_analyst_model_reads_the_episodes_and_the_labeller_keeps_the_labels() {
    installed(DEFAULT_MODEL);
    installed("smollm2-135m");
    let training = DistributionSpec {
        maze_size: maze_rllf::level::MazeSize::Fixed(7),
        ..DistributionSpec::training(7, 2)
    };
    let (success, failure) = success_and_failure();
    let layout = training.level_for_seed(100);
    let episodes = Episodes {
        training: vec![rollout(layout.clone(), &route_to_cheese(&layout))],
        probes: vec![failure.clone()],
    };
    let labeller = EmbeddedConfig {
        analyst: None,
        ..EmbeddedConfig::default()
    };
    let with_analyst = EmbeddedConfig {
        analyst: maze_rllf::llm::embedded::Analyst::parse("smollm2-135m/facts").expect("parse"),
        ..labeller.clone()
    };
    let mut alone = EmbeddedJudge::new(&labeller, training.clone()).expect("labeller");
    let mut judge = EmbeddedJudge::new(&with_analyst, training).expect("judge with analyst");
    assert!(
        judge.name().ends_with("analyses by smollm2-135m/facts"),
        "{}",
        judge.name()
    );
    // The analysis is the analyst's: the facts variant's answers, one per question, and the
    // one aggregation over them.
    let analysis = judge.analyze("", &episodes).expect("analysis");
    let answers = analysis
        .answers
        .clone()
        .expect("the analyst answers one by one");
    assert_eq!((answers.training.len(), answers.probes.len()), (1, 1));
    assert_eq!(analysis.diagnosis, answers.diagnosis());
    // The labels are the labeller's.
    let a = judge.compare(&success, &failure).expect("label").choice;
    let b = alone.compare(&success, &failure).expect("label").choice;
    assert_eq!(a, b);
}

#[test]
fn questions_about_one_episode_answer_as_if_each_were_asked_alone() {
    let path = installed("smollm2-135m");
    let mut sharing = ChatModel::load(&path, None, Dequantize::Auto, "x").expect("model");
    let mut alone = ChatModel::load(&path, None, Dequantize::Auto, "x").expect("model");
    let episode = "An episode of the mouse:\nThe maze spans rows 0 to 6 and columns 0 to 6.\n\
                   The mouse starts at row 6, column 0. The cheese is at row 2, column 4.\n\
                   The cells the mouse stands on, in order (row, column): (6, 0) (6, 1) (5, 1) \
                   (4, 1) (4, 2) (3, 2) (2, 2) (2, 3) (2, 4)";
    for (i, corner) in ["top-left", "top-right", "bottom-right"].iter().enumerate() {
        let prompt = ChatModel::chat_prompt(
            "You judge episodes of a mouse in a grid maze.",
            &format!("{episode}\n\nIs the cheese in the {corner} quarter? Answer yes or no."),
            "",
        );
        let shared = sharing.next_token_logprobs(&prompt).expect("answers");
        // The other model reads something else first, so it runs each prompt whole.
        alone
            .next_token_logprobs("<|im_start|>user\nHello<|im_end|>")
            .expect("answers");
        let whole = alone.next_token_logprobs(&prompt).expect("answers");
        assert_eq!(alone.reused_tokens(), 0);
        if i == 0 {
            assert_eq!(sharing.reused_tokens(), 0, "the first prompt runs whole");
        } else {
            assert!(
                sharing.reused_tokens() > 60,
                "question {i} should reuse the episode's tokens, reused {}",
                sharing.reused_tokens()
            );
        }
        let apart = largest_gap(&shared, &whole);
        assert!(
            apart < 1e-3,
            "question {i}: the reused state changes the answer by {apart}"
        );
    }
}

/// The largest difference between two log-probability vectors.
fn largest_gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}
