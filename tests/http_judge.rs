//! The HTTP judge against a real HTTP server on 127.0.0.1 started by each test (no mocks):
//! normal, JSON-schema, prose-wrapped and garbage answers; 429 then success; 500 three times; a
//! reply slower than the timeout; connection refused; a server that closes mid-body; an oversized
//! answer; a server that fails every call (circuit breaker) or never answers (round deadline);
//! per-episode yes/no questions. Rounds always end, failures are counted with their reason, and
//! neither the API key nor credentials in the URL appear in any log or file.

mod common;

use common::*;
use maze_rllf::experiment::preferences::{choose_pairs, gather_preferences};
use maze_rllf::level::DistributionSpec;
use maze_rllf::llm::http::{HttpAnalysis, HttpAsk, HttpConfig, HttpJudge};
use maze_rllf::llm::{Choice, Judge, JudgeError};
use maze_rllf::rng::Rng;
use maze_rllf::sim::Action;
use maze_rllf::sim::Rollout;
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn a_normal_answer_is_read() {
    let server = serve(vec![Reply::Content(
        r#"{"choice": 1, "rationale": "it reached the cheese"}"#.into(),
    )]);
    let (result, j) = compare(&server.url);
    let c = result.expect("answer");
    assert_eq!(c.choice, Choice::First);
    assert_eq!(c.rationale, "it reached the cheese");
    assert_eq!(j.stats.calls, 1);
    let request = server.requests.lock().expect("lock")[0].clone();
    assert!(request.starts_with("POST /v1/chat/completions"));
    for field in [
        "\"model\":\"test-model\"",
        "\"messages\"",
        "\"temperature\"",
        "\"max_tokens\"",
        "\"seed\"",
    ] {
        assert!(request.contains(field), "{field} in {request}");
    }
}

#[test]
fn json_schema_is_requested_and_dropped_when_the_server_refuses_it() {
    let server = serve(vec![Reply::Content(
        r#"{"choice": 2, "rationale": "r"}"#.into(),
    )]);
    let (result, _) = compare(&server.url);
    assert_eq!(result.expect("answer").choice, Choice::Second);
    assert!(server.requests.lock().expect("lock")[0].contains("\"response_format\""));

    // A server that rejects response_format: the judge retries without it and remembers.
    let url = serve_with(|request| {
        if request.contains("response_format") {
            let body = "{\"error\": \"unsupported field response_format\"}";
            (400, body.to_string())
        } else {
            let body =
                serde_json::json!({"choices": [{"message": {"content": "{\"choice\": 0}"}}]});
            (200, body.to_string())
        }
    });
    let mut j = judge(&url);
    assert_eq!(
        j.compare(&rollout(true), &rollout(false))
            .expect("answer")
            .choice,
        Choice::Tie
    );
    assert_eq!(
        j.compare(&rollout(true), &rollout(false))
            .expect("answer")
            .choice,
        Choice::Tie
    );
    assert_eq!(
        j.stats.schema_fallbacks, 2,
        "json_schema, then json_object refused; remembered"
    );
    assert_eq!(j.stats.calls, 4);
}

#[test]
fn prose_with_json_inside_is_understood() {
    let server = serve(vec![Reply::Content("Looking at both... Episode 2 wanders.\n```json\n{\"choice\": 1, \"rationale\": \"direct\"}\n```".into())]);
    assert_eq!(
        compare(&server.url).0.expect("answer").choice,
        Choice::First
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let server = serve(vec![Reply::Content("lorem ipsum dolor".into())]);
    let (result, j) = compare(&server.url);
    assert!(
        matches!(result, Err(JudgeError::Unparseable(_))),
        "{result:?}"
    );
    assert_eq!(j.stats.unparseable, 1);
}

#[test]
fn rate_limit_then_success_honours_retry_after() {
    let server = serve(vec![
        Reply::Status(429, Some(0)),
        Reply::Content(r#"{"choice": 1}"#.into()),
    ]);
    let (result, j) = compare(&server.url);
    assert_eq!(result.expect("answer after a retry").choice, Choice::First);
    assert_eq!(
        (j.stats.calls, j.stats.retries, j.stats.failures),
        (2, 1, 0)
    );
}

#[test]
fn server_errors_three_times_fail_after_retries() {
    let server = serve(vec![Reply::Status(500, None)]);
    let (result, j) = compare(&server.url);
    assert!(
        matches!(result, Err(JudgeError::Http { status: 500, .. })),
        "{result:?}"
    );
    // The first 500s may be refusals of the JSON schema's two forms (llama-cpp-python answers
    // so): one call with each, then without it and its retries.
    assert_eq!(
        (
            j.stats.calls,
            j.stats.schema_fallbacks,
            j.stats.retries,
            j.stats.failures
        ),
        (5, 2, 2, 1)
    );
    assert_eq!(server.requests.lock().expect("lock").len(), 5);
}

#[test]
fn a_reply_slower_than_the_timeout_times_out() {
    let server = serve(vec![Reply::Slow(Duration::from_secs(3))]);
    let started = std::time::Instant::now();
    let (result, j) = compare(&server.url);
    assert!(matches!(result, Err(JudgeError::Timeout(_))), "{result:?}");
    assert_eq!(j.stats.calls, 3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeouts bound the wait"
    );
}

#[test]
fn connection_refused_is_reported() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (result, j) = compare(&format!("http://127.0.0.1:{port}"));
    assert!(
        matches!(result, Err(JudgeError::Unreachable(_))),
        "{result:?}"
    );
    assert_eq!(j.stats.failures, 1);
}

#[test]
fn a_server_closing_mid_body_is_survived() {
    let server = serve(vec![
        Reply::CloseMidBody,
        Reply::Content(r#"{"choice": 2}"#.into()),
    ]);
    let (result, j) = compare(&server.url);
    assert_eq!(result.expect("the retry succeeds").choice, Choice::Second);
    assert_eq!(j.stats.retries, 1);
}

#[test]
fn a_round_completes_whatever_the_server_does_and_counts_failures() {
    let server = serve(vec![
        Reply::Content(r#"{"choice": 1}"#.into()),
        Reply::Content("garbage".into()),
        Reply::Status(500, None),
        Reply::Status(500, None),
        Reply::Status(500, None),
        Reply::CloseMidBody,
        Reply::Content(r#"{"choice": 2}"#.into()),
    ]);
    let rollouts: Vec<Rollout> = (0..6).map(|i| rollout(i % 2 == 0)).collect();
    let pairs = choose_pairs(&rollouts, 4, &mut Rng::new(3));
    let mut j = judge(&server.url);
    let round = gather_preferences(&mut j, &rollouts, &pairs, |_| true);
    assert_eq!(round.stats.queries, 2 * pairs.len());
    assert_eq!(
        round.stats.failures, 2,
        "the garbage answer and the three 500s: {:?}",
        round.stats.errors
    );
    assert_eq!(
        round.pairs.len(),
        pairs.len(),
        "every pair keeps at least one answer"
    );
}

#[test]
fn neither_the_api_key_nor_url_credentials_reach_logs_or_files() {
    let server = serve(vec![Reply::Content(
        r#"{"choice": 1, "rationale": "ok"}"#.into(),
    )]);
    let out = std::env::temp_dir().join(format!("maze-rllf-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let secret = "sk-test-SECRET-0123456789";
    let study = std::env::temp_dir().join(format!("maze-rllf-key-{}.ron", std::process::id()));
    let text = std::fs::read_to_string("assets/configs/study-7x7.ron").expect("study config");
    // Credentials in the URL are used but never written or shown either.
    let url_secret = "urlsecret-0987";
    let http = format!(
        "http: (base_url: \"{}\", model: \"m\", api_key_env: \"MAZE_RLLF_TEST_KEY\", backoff_s: 0.01),",
        server
            .url
            .replace("http://", &format!("http://user:{url_secret}@"))
    );
    let text = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("http:") {
                http.clone()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&study, text).expect("write study config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
        .args([
            "study",
            "--config",
            study.to_str().expect("path"),
            "--judge",
            "http",
            "--out",
            out.to_str().expect("path"),
        ])
        .args([
            "--set",
            "regions=[2]",
            "--set",
            "train.ppo.total_timesteps=4096",
            "--set",
            "train.ppo.num_envs=8",
        ])
        .args([
            "--set",
            "train.ppo.num_steps=64",
            "--set",
            "round.pairs=3",
            "--set",
            "round.feedback_rollouts=6",
        ])
        .args([
            "--set",
            "round.inspect_rollouts=2",
            "--set",
            "train.eval_episodes=10",
            "--set",
            "round.reward.epochs=2",
        ])
        .env("MAZE_RLLF_TEST_KEY", secret)
        .output()
        .expect("study runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("| 2 |"), "{stdout}");
    // The key went where it belongs: the Authorization header.
    assert!(
        server
            .requests
            .lock()
            .expect("lock")
            .iter()
            .all(|r| r.contains(&format!("Bearer {secret}")))
    );
    for s in [secret, url_secret] {
        assert!(!stdout.contains(s) && !stderr.contains(s), "{s} shown");
    }
    let mut files = vec![out.clone()];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .filter_map(|e| e.ok().map(|e| e.path())),
            );
        } else {
            let bytes = std::fs::read(&path).expect("file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(secret) && !text.contains(url_secret),
                "a credential found in {}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "results, report, plot and labels were written"
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&study);
}

#[test]
fn missing_key_variable_is_a_clear_error() {
    let cfg = HttpConfig {
        api_key_env: Some("MAZE_RLLF_SURELY_UNSET_VARIABLE".into()),
        ..config("http://127.0.0.1:9")
    };
    let err = HttpJudge::new(cfg, DistributionSpec::training(7, 1), 1)
        .err()
        .expect("an error");
    assert!(err.to_string().contains("MAZE_RLLF_SURELY_UNSET_VARIABLE"));
}

#[test]
fn a_server_answering_500_to_the_schema_gets_the_question_without_it() {
    // llama-cpp-python's server answers an unsupported `response_format` with HTTP 500.
    let url = serve_with(|request| {
        if request.contains("response_format") {
            (500, "{\"error\": \"internal\"}".into())
        } else {
            let body =
                serde_json::json!({"choices": [{"message": {"content": "{\"choice\": 2}"}}]});
            (200, body.to_string())
        }
    });
    let mut j = judge(&url);
    for _ in 0..2 {
        let c = j.compare(&rollout(true), &rollout(false)).expect("answer");
        assert_eq!(c.choice, Choice::Second);
    }
    assert_eq!((j.stats.schema_fallbacks, j.stats.calls), (2, 4));
}

#[test]
fn an_oversized_answer_is_refused_unread() {
    let server = serve(vec![Reply::Content("x".repeat(200_000))]);
    let (result, j) = compare(&server.url);
    match result {
        Err(JudgeError::Unparseable(m)) => assert!(m.contains("max_answer_bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(j.stats.calls, 1, "a long answer is not retried");
}

#[test]
fn a_server_failing_every_call_trips_the_breaker_with_the_reason() {
    let server = serve(vec![Reply::Status(500, None)]);
    let cfg = HttpConfig {
        json_schema: false,
        max_consecutive_failures: 3,
        ..config(&server.url)
    };
    let mut j = HttpJudge::new(cfg, DistributionSpec::training(7, 1), 1).expect("judge");
    let rollouts: Vec<Rollout> = (0..12).map(|i| rollout(i % 2 == 0)).collect();
    let pairs = choose_pairs(&rollouts, 10, &mut Rng::new(3));
    let round = gather_preferences(&mut j, &rollouts, &pairs, |_| true);
    let reason = round
        .stats
        .abandoned
        .clone()
        .expect("the round stopped asking");
    assert!(
        reason.contains("3 calls in a row failed") && reason.contains("HTTP 500"),
        "{reason}"
    );
    assert!(round.pairs.is_empty());
    assert_eq!(round.stats.failures, 3);
    assert_eq!(
        server.requests.lock().expect("lock").len(),
        3 * 3,
        "three calls of three attempts each, then no more"
    );
    assert!(round.stats.failure_reason().contains("in a row"));
    // A new round asks again.
    j.begin_round();
    assert!(matches!(
        j.compare(&rollout(true), &rollout(false)),
        Err(JudgeError::Http { .. })
    ));
}

#[test]
fn a_server_that_never_answers_is_cut_off_at_the_round_deadline() {
    let server = serve(vec![Reply::Slow(Duration::from_secs(30))]);
    let cfg = HttpConfig {
        read_timeout_s: 60.0,
        round_deadline_s: 1.0,
        ..config(&server.url)
    };
    let mut j = HttpJudge::new(cfg, DistributionSpec::training(7, 1), 1).expect("judge");
    let started = std::time::Instant::now();
    let rollouts: Vec<Rollout> = (0..12).map(|i| rollout(i % 2 == 0)).collect();
    let pairs = choose_pairs(&rollouts, 10, &mut Rng::new(3));
    let round = gather_preferences(&mut j, &rollouts, &pairs, |_| true);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline bounds the round, not 10 pairs x 60 s"
    );
    let reason = round.stats.abandoned.expect("stopped");
    assert!(reason.contains("round_deadline_s"), "{reason}");
}

/// A rollout that ends on the cheese (`true`) or one cell away from the start (`false`).
fn ended(on_cheese: bool) -> Rollout {
    let layout = DistributionSpec::training(7, 1).level_for_seed(2);
    let end = if on_cheese {
        layout.cheese
    } else {
        layout.start
    };
    Rollout::from_path(layout.clone(), vec![layout.start, end], vec![Action::Up])
}

/// "yes" when the episode's mouse ends on the cheese, as the per-episode prompt shows it.
fn yes_no(request: &str) -> bool {
    let numbers = |after: &str| -> Option<(u32, u32)> {
        let rest = &request[request.find(after)? + after.len()..];
        let row: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let rest = &rest[rest.find("column ")? + 7..];
        let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((row.parse().ok()?, col.parse().ok()?))
    };
    numbers("Cheese at row ").is_some()
        && numbers("Cheese at row ") == numbers("Mouse ends at row ")
}

#[test]
fn per_episode_questions_read_log_probabilities_or_the_text() {
    let with_logprobs = serve_with(|request| {
        let (yes, no) = if yes_no(request) {
            (-0.1, -2.5)
        } else {
            (-3.0, -0.05)
        };
        let body = serde_json::json!({"choices": [{
            "message": {"content": if yes > no { "yes" } else { "no" }},
            "logprobs": {"content": [{"token": "x", "logprob": -1.0, "top_logprobs": [
                {"token": " yes", "logprob": yes}, {"token": "No", "logprob": no},
                {"token": "maybe", "logprob": -4.0}]}]}
        }]});
        (200, body.to_string())
    });
    let text_only = serve_with(|request| {
        let word = if yes_no(request) { "Yes." } else { "no" };
        let body = serde_json::json!({"choices": [{"message": {"content": word}}]});
        (200, body.to_string())
    });
    for url in [with_logprobs, text_only] {
        let cfg = HttpConfig {
            ask: HttpAsk::PerEpisode,
            ..config(&url)
        };
        let mut j = HttpJudge::new(cfg, DistributionSpec::training(7, 1), 1).expect("judge");
        assert!(j.name().ends_with("/per-episode"));
        let c = j.compare(&ended(true), &ended(false)).expect("answer");
        assert_eq!(c.choice, Choice::First, "{}", c.rationale);
        let c = j.compare(&ended(false), &ended(true)).expect("answer");
        assert_eq!(c.choice, Choice::Second, "{}", c.rationale);
        let c = j.compare(&ended(true), &ended(true)).expect("answer");
        assert_eq!(c.choice, Choice::Tie, "{}", c.rationale);
        assert_eq!(j.stats.calls, 2, "each episode is asked once");
        assert_eq!(j.stats.schema_fallbacks, 0, "no schema is sent per episode");
    }
}

#[test]
fn a_study_against_a_server_refusing_every_call_stops_with_the_reason() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = std::env::temp_dir().join(format!("maze-rllf-refused-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_maze-rllf"))
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
            "train.ppo.total_timesteps=2048",
        ])
        .args([
            "--set",
            "train.ppo.num_envs=8",
            "--set",
            "train.ppo.num_steps=64",
        ])
        .args([
            "--set",
            "round.pairs=200",
            "--set",
            "round.feedback_rollouts=40",
        ])
        .args([
            "--set",
            "round.inspect_rollouts=2",
            "--set",
            "train.eval_episodes=10",
        ])
        .arg("--set")
        .arg(format!("http.base_url=http://127.0.0.1:{port}"))
        .args([
            "--set",
            "http.backoff_s=0.01",
            "--set",
            "http.max_retries=1",
        ])
        .output()
        .expect("study runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the cell fails");
    assert_eq!(
        output.status.code(),
        Some(2),
        "an error, not a panic: {stderr}"
    );
    for needle in [
        "labelled none of 200 pairs",
        "calls in a row failed",
        "127.0.0.1",
    ] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).expect("a report");
    assert!(
        report.contains("## Cells that failed (1)") && report.contains("calls in a row failed"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The user turn of a chat request.
fn user_turn(request: &str) -> String {
    let body = &request[request.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["messages"][1]["content"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A server that compares numbers: "Is 2 at most 3?" answered truly, with log-probabilities.
fn comparing_server(request: &str) -> (u16, String) {
    let user = user_turn(request);
    let numbers: Vec<usize> = user
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let yes = match numbers[..] {
        [value, bound] if user.contains("at most") => value <= bound,
        [value, bound] if user.contains("at least") => value >= bound,
        _ => {
            return (
                400,
                format!("{{\"error\": \"not a comparison: {user:?}\"}}"),
            );
        }
    };
    let (yes, no) = if yes { (-0.05, -3.2) } else { (-2.9, -0.06) };
    let body = serde_json::json!({"choices": [{
        "message": {"content": if yes > no { "Yes" } else { "No" }},
        "logprobs": {"content": [{"token": "Yes", "logprob": yes, "top_logprobs": [
            {"token": "Yes", "logprob": yes}, {"token": "No", "logprob": no}]}]}
    }]});
    (200, body.to_string())
}

/// Ten training episodes and `probes` probes of 7x7 mazes with the cheese in the 2x2 square at
/// `corner`, each walked straight from the start to the cheese, and their distribution.
fn straight_episodes(
    corner: maze_rllf::level::Corner,
    probes: u64,
) -> (DistributionSpec, maze_rllf::llm::Episodes) {
    let base = DistributionSpec {
        maze_size: maze_rllf::level::MazeSize::Fixed(7),
        ..DistributionSpec::training(7, 2).with_corner(corner)
    };
    let straight = |seed| {
        let layout = base.level_for_seed(seed);
        Rollout::from_path(
            layout.clone(),
            vec![layout.start, layout.cheese],
            Vec::new(),
        )
    };
    let episodes = maze_rllf::llm::Episodes {
        training: (0..10).map(straight).collect(),
        probes: (100..100 + probes).map(straight).collect(),
    };
    (base, episodes)
}

#[test]
fn the_facts_reading_asks_a_server_one_comparison_at_a_time_and_names_the_confound() {
    let url = serve_with(comparing_server);
    for corner in maze_rllf::level::Corner::ALL {
        let (base, episodes) = straight_episodes(corner, 2);
        // The code's numbers compared (`facts-bounds`), not the default's own reading.
        let config = HttpConfig {
            analysis: HttpAnalysis::Facts,
            facts_prompt: "facts-bounds".into(),
            ..config(&url)
        };
        let mut j = HttpJudge::new(config, base.clone(), 1).expect("judge");
        assert!(j.name().ends_with("/analysis=facts-bounds"), "{}", j.name());
        let analysis = j.analyze("", &episodes).expect("analysis");
        let answers = analysis.answers.clone().expect("answered one by one");
        let truth = maze_rllf::llm::facts::Answers::truth(&episodes);
        assert_eq!(answers.training, truth.training, "{corner}");
        assert!(answers.probes.is_empty(), "{corner}: the confound decides");
        let kind = maze_rllf::llm::Diagnosis::Corner(corner);
        assert_eq!(analysis.diagnosis, kind, "{corner}");
        let items = maze_rllf::llm::menu::menu(&base);
        let right = maze_rllf::llm::menu::right_items(&items, kind);
        let verdict =
            maze_rllf::llm::menu::verdict(&items, &right, kind, kind, &analysis.scenarios);
        assert!(
            verdict.proposals_right,
            "{corner}: {:?}",
            analysis.scenarios
        );
        // Two comparisons per axis, each distinct one asked once (7x7: numbers 1..7).
        assert!(
            (4..=28).contains(&j.stats.calls),
            "{corner}: {} calls",
            j.stats.calls
        );
        assert_eq!((j.stats.failures, j.stats.unparseable), (0, 0));
    }
}

/// Questions [`reading_server`] answered with a number read off an episode.
static NUMBERS_READ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A server that reads the cheese's row or column off the episode it is shown ("What is the
/// cheese's row?" answered with the number in words) and compares numbers as
/// [`comparing_server`] does.
fn reading_server(request: &str) -> (u16, String) {
    let user = user_turn(request);
    let Some((_, cell)) = user.split_once("The cheese is at row ") else {
        return comparing_server(request);
    };
    NUMBERS_READ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let numbers: Vec<usize> = cell
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .take(2)
        .collect();
    let axis = usize::from(user.contains("What is the cheese's column?"));
    let body = serde_json::json!({"choices": [{
        "message": {"content": format!("{}", numbers[axis])}
    }]});
    (200, body.to_string())
}

#[test]
fn a_server_reads_the_numbers_off_the_episodes_with_the_read_variant() {
    let url = serve_with(reading_server);
    for corner in maze_rllf::level::Corner::ALL {
        let (base, episodes) = straight_episodes(corner, 0);
        // The default facts prompt is the read variant.
        let config = HttpConfig {
            analysis: HttpAnalysis::Facts,
            ..config(&url)
        };
        let mut j = HttpJudge::new(config, base, 1).expect("judge");
        assert!(j.name().ends_with("/analysis=facts-read"), "{}", j.name());
        let read_before = NUMBERS_READ.load(std::sync::atomic::Ordering::SeqCst);
        let analysis = j.analyze("", &episodes).expect("analysis");
        // Each training episode shown to the server, the row and column of each one it shows
        // differently (here: each cheese cell) read once.
        let read = NUMBERS_READ.load(std::sync::atomic::Ordering::SeqCst) - read_before;
        let mut cheeses: Vec<_> = episodes.training.iter().map(|r| r.layout.cheese).collect();
        cheeses.sort_by_key(|p| (p.row, p.col));
        cheeses.dedup();
        assert_eq!(read, 2 * cheeses.len(), "{corner}");
        let answers = analysis.answers.clone().expect("answered one by one");
        let truth = maze_rllf::llm::facts::Answers::truth(&episodes);
        assert_eq!(answers.training, truth.training, "{corner}");
        assert_eq!(
            analysis.diagnosis,
            maze_rllf::llm::Diagnosis::Corner(corner),
            "{corner}"
        );
        assert_eq!((j.stats.failures, j.stats.unparseable), (0, 0));
    }
}

#[test]
fn a_server_answering_neither_yes_nor_no_to_a_fact_fails_the_analysis_with_the_reason() {
    let url = serve_with(|_| {
        let body = serde_json::json!({"choices": [{"message": {"content": "perhaps"},
            "logprobs": {"content": [{"token": "per", "logprob": -0.1,
                "top_logprobs": [{"token": "per", "logprob": -0.1}]}]}}]});
        (200, body.to_string())
    });
    let config = HttpConfig {
        analysis: HttpAnalysis::Facts,
        ..config(&url)
    };
    let base = DistributionSpec::training(7, 2);
    let mut j = HttpJudge::new(config, base.clone(), 1).expect("judge");
    let layout = base.level_for_seed(0);
    let episode = Rollout::from_path(
        layout.clone(),
        vec![layout.start, layout.cheese],
        Vec::new(),
    );
    let episodes = maze_rllf::llm::Episodes {
        training: vec![episode.clone()],
        probes: vec![episode],
    };
    let result = j.analyze("", &episodes);
    assert!(
        matches!(&result, Err(JudgeError::Unparseable(reason)) if reason.contains("perhaps")),
        "{result:?}"
    );
    assert_eq!(j.stats.unparseable, 1);
}

#[test]
fn a_facts_reading_with_a_variant_that_asks_no_facts_is_refused_with_what_to_use() {
    for (prompt, needle) in [
        ("positions-yesno", "does not ask the facts' questions"),
        ("no-such-variant", "http.facts_prompt"),
    ] {
        let config = HttpConfig {
            analysis: HttpAnalysis::Facts,
            facts_prompt: prompt.into(),
            ..config("http://127.0.0.1:9")
        };
        let error = HttpJudge::new(config, DistributionSpec::training(7, 1), 1)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains(needle), "{prompt}: {error}");
    }
}
