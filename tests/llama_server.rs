//! The HTTP judge against a real local LLM server: llama-cpp-python's OpenAI-compatible server
//! (installed by `scripts/install-llama-server.sh`) serving the smallest shipped GGUF model on
//! 127.0.0.1: the JSON-schema fallback, per-episode yes/no questions and a tiny study through it
//! whose analysis asks the facts one question at a time.
// The model is found where the embedded judge's installer puts it.
#![cfg(feature = "embedded")]

use maze_rllf::level::DistributionSpec;
use maze_rllf::llm::Judge;
use maze_rllf::llm::http::{HttpAsk, HttpConfig, HttpJudge};
use maze_rllf::sim::Action;
use maze_rllf::sim::Rollout;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The smallest model `scripts/install-models.sh` installs.
const MODEL: &str = "smollm2-135m";

/// A server process, killed when dropped (also when a test fails).
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn server_python() -> PathBuf {
    let venv = std::env::var_os("MAZE_RLLF_LLAMA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            cache.join("maze-rllf-llama-server")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: install the server with `scripts/install-llama-server.sh` \
         (scripts/test.sh does)",
        python.display()
    );
    python
}

fn start() -> Server {
    let (_, model, _) = maze_rllf::llm::embedded::resolve_model(MODEL);
    assert!(
        model.exists(),
        "{} is missing: run `scripts/install-models.sh {MODEL}`",
        model.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::env::temp_dir().join(format!("maze-rllf-llama-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(server_python())
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--logits_all",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("the server starts");
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        let ready = client
            .get(format!("{}/v1/models", server.url))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the server did not answer within 180 s: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A rollout that ends on the cheese (`true`) or where it started (`false`).
fn ended(on_cheese: bool) -> Rollout {
    let layout = DistributionSpec::training(7, 1).level_for_seed(2);
    let end = if on_cheese {
        layout.cheese
    } else {
        layout.start
    };
    Rollout::from_path(layout.clone(), vec![layout.start, end], vec![Action::Up])
}

fn judge(server: &Server, ask: HttpAsk) -> HttpJudge {
    let config = HttpConfig {
        ask,
        max_tokens: 96,
        read_timeout_s: 120.0,
        ..HttpConfig::new(&server.url, MODEL)
    };
    HttpJudge::new(config, DistributionSpec::training(7, 1), 1).expect("judge")
}

#[test]
fn a_real_llama_cpp_server_answers_pairwise_per_episode_and_a_tiny_study() {
    let server = start();

    // Pairwise with the JSON schema asked first: llama-cpp-python 0.3 refuses OpenAI's
    // `json_schema` form with HTTP 500, so the judge steps down to its grammar-constrained
    // `json_object` form, and every answer then parses.
    let mut pairwise = judge(&server, HttpAsk::Pairwise);
    for _ in 0..2 {
        let answer = pairwise.compare(&ended(true), &ended(false));
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(
        (
            pairwise.stats.failures,
            pairwise.stats.schema_fallbacks,
            pairwise.stats.calls
        ),
        (0, 1, 3),
        "{:?}",
        pairwise.stats
    );

    // Per episode: two yes/no questions, each answered.
    let mut per_episode = judge(&server, HttpAsk::PerEpisode);
    let answer = per_episode
        .compare(&ended(true), &ended(false))
        .expect("yes/no answers");
    assert!(answer.rationale.contains("P(yes)"), "{}", answer.rationale);
    assert_eq!(per_episode.stats.calls, 2);

    // A tiny study through the server, asking per episode.
    let out = std::env::temp_dir().join(format!("maze-rllf-llama-study-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args([
            "study",
            "--config",
            "assets/configs/study-7x7.ron",
            "--judge",
            "http",
        ])
        .args(["--out", out.to_str().expect("path")])
        .args([
            "--set",
            "regions=[2]",
            "--set",
            "seeds=[0]",
            "--set",
            "arms=[\"baseline\", \"paper\"]",
        ])
        .args([
            "--set",
            "reference=false",
            "--set",
            "train.ppo.total_timesteps=4096",
        ])
        .args([
            "--set",
            "train.ppo.num_envs=8",
            "--set",
            "train.ppo.num_steps=64",
        ])
        .args([
            "--set",
            "round.pairs=4",
            "--set",
            "round.feedback_rollouts=8",
        ])
        .args([
            "--set",
            "round.inspect_rollouts=2",
            "--set",
            "train.eval_episodes=10",
        ])
        .args(["--set", "round.reward.epochs=2"])
        .arg("--set")
        .arg(format!("http.base_url={}", server.url))
        .args([
            "--set",
            &format!("http.model={MODEL}"),
            "--set",
            "http.ask=\"per_episode\"",
            "--set",
            "http.analysis=\"facts\"",
        ])
        .args(["--set", "http.max_tokens=64"])
        .output()
        .expect("study runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let result =
        std::fs::read_to_string(out.join("cells/r02-s0/result.json")).expect("a finished cell");
    let result: serde_json::Value = serde_json::from_str(&result).expect("json");
    assert_eq!(
        result["judge_stats"]["failures"], 0,
        "{}",
        result["judge_stats"]
    );
    // Labels per episode, the analysis one fact at a time: every answer read off the server's
    // log-probabilities (a failed call would be counted above).
    assert!(
        result["judge"]
            .as_str()
            .is_some_and(|j| j.ends_with("/per-episode/analysis=facts-read")),
        "{}",
        result["judge"]
    );
    assert!(
        result["analysis"]
            .as_str()
            .is_some_and(|a| a.starts_with("The model's answers: ")),
        "{}",
        result["analysis"]
    );
    let labels = std::fs::read_to_string(out.join("cells/r02-s0/labels.jsonl")).expect("labels");
    assert!(labels.lines().count() >= 4, "answers were cached");
    let _ = std::fs::remove_dir_all(&out);
    drop(server);
}
