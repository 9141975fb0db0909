//! The HTTP judge against a real HTTP server on 127.0.0.1 started by each test (no mocks):
//! normal, JSON-schema, prose-wrapped and garbage answers; 429 then success; 500 three times; a
//! reply slower than the timeout; connection refused; a server that closes mid-body. Rounds always
//! complete, failures are counted, and the API key appears in no log or file.

use maze_rllf::experiment::preferences::{choose_pairs, gather_preferences};
use maze_rllf::level::DistributionSpec;
use maze_rllf::llm::http::{HttpConfig, HttpJudge};
use maze_rllf::llm::{Choice, Judge, JudgeError, Rollout};
use maze_rllf::rng::Rng;
use maze_rllf::sim::{Action, EpisodeStats, MazeEnv, Outcome};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone)]
enum Reply {
    /// 200 with this assistant message content.
    Content(String),
    Status(u16, Option<u32>),
    Slow(Duration),
    CloseMidBody,
}

struct Server {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Starts a server answering requests with `replies` in order (the last one repeats).
fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            seen.lock().expect("lock").push(request);
            let reply = replies[n.min(replies.len() - 1)].clone();
            n += 1;
            std::thread::spawn(move || respond(stream, reply));
        }
    });
    Server { url, requests }
}

fn read_request(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text;
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

fn respond(mut stream: TcpStream, reply: Reply) {
    let send = |stream: &mut TcpStream, status: u16, extra: &str, body: &str| {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
    };
    match reply {
        Reply::Content(content) => {
            let body = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string();
            send(&mut stream, 200, "", &body);
        }
        Reply::Status(status, retry_after) => {
            let extra = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            send(&mut stream, status, &extra, "{\"error\": \"busy\"}");
        }
        Reply::Slow(wait) => {
            std::thread::sleep(wait);
            send(&mut stream, 200, "", "{}");
        }
        Reply::CloseMidBody => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\": [{\"mess");
            let _ = stream.flush();
        }
    }
}

fn config(url: &str) -> HttpConfig {
    HttpConfig {
        max_retries: 2,
        backoff_s: 0.01,
        read_timeout_s: 0.5,
        connect_timeout_s: 0.5,
        ..HttpConfig::new(url, "test-model")
    }
}

fn judge(url: &str) -> HttpJudge {
    HttpJudge::new(config(url), DistributionSpec::training(7, 1), 1).expect("judge")
}

fn rollout(reached: bool) -> Rollout {
    let layout = DistributionSpec::training(7, 1).level_for_seed(2);
    let mut env = MazeEnv::new(layout.clone(), 40);
    let mut path = vec![env.mouse];
    for a in [Action::Up, Action::Right] {
        env.step(a);
        path.push(env.mouse);
    }
    Rollout {
        layout,
        path,
        actions: vec![Action::Up, Action::Right],
        stats: EpisodeStats {
            outcome: if reached {
                Outcome::Cheese
            } else {
                Outcome::Neither
            },
            reached_cheese: reached,
            episode_return: 0.0,
            length: 2,
            truncated: !reached,
        },
    }
}

fn compare(url: &str) -> (Result<maze_rllf::llm::Comparison, JudgeError>, HttpJudge) {
    let mut j = judge(url);
    let r = j.compare(&rollout(true), &rollout(false));
    (r, j)
}

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
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            let reply = if request.contains("response_format") {
                let body = "{\"error\": \"unsupported field response_format\"}";
                format!(
                    "HTTP/1.1 400 Bad\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body =
                    serde_json::json!({"choices": [{"message": {"content": "{\"choice\": 0}"}}]})
                        .to_string();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(reply.as_bytes());
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
    assert_eq!(j.stats.schema_fallbacks, 1, "the refusal is remembered");
    assert_eq!(j.stats.calls, 3);
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
    assert_eq!(
        (j.stats.calls, j.stats.retries, j.stats.failures),
        (3, 2, 1)
    );
    assert_eq!(server.requests.lock().expect("lock").len(), 3);
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
fn the_api_key_never_reaches_logs_or_files() {
    let server = serve(vec![Reply::Content(
        r#"{"choice": 1, "rationale": "ok"}"#.into(),
    )]);
    let out = std::env::temp_dir().join(format!("maze-rllf-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let secret = "sk-test-SECRET-0123456789";
    let study = std::env::temp_dir().join(format!("maze-rllf-key-{}.ron", std::process::id()));
    let text = std::fs::read_to_string("assets/configs/study-7x7.ron").expect("study config");
    let http = format!(
        "http: (base_url: \"{}\", model: \"m\", api_key_env: \"MAZE_RLLF_TEST_KEY\", backoff_s: 0.01),",
        server.url
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
            "pairs=3",
            "--set",
            "feedback_rollouts=6",
        ])
        .args([
            "--set",
            "inspect_rollouts=2",
            "--set",
            "eval_episodes=10",
            "--set",
            "reward.epochs=2",
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
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
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
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "key found in {}",
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
