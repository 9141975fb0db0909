//! A real HTTP server on 127.0.0.1 for the HTTP judge's tests (scripted replies, slow replies,
//! closed connections), and the judge and rollouts they ask about.

use maze_rllf::level::DistributionSpec;
use maze_rllf::llm::http::{HttpConfig, HttpJudge};
use maze_rllf::llm::{Judge, JudgeError};
use maze_rllf::sim::Rollout;
use maze_rllf::sim::{Action, EpisodeStats, MazeEnv, Outcome};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this assistant message content.
    Content(String),
    Status(u16, Option<u32>),
    Slow(Duration),
    CloseMidBody,
}

pub struct Server {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// Starts a server answering requests with `replies` in order (the last one repeats).
pub fn serve(replies: Vec<Reply>) -> Server {
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

pub fn read_request(stream: &mut TcpStream) -> String {
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

pub fn respond(mut stream: TcpStream, reply: Reply) {
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

pub fn config(url: &str) -> HttpConfig {
    HttpConfig {
        max_retries: 2,
        backoff_s: 0.01,
        read_timeout_s: 0.5,
        connect_timeout_s: 0.5,
        ..HttpConfig::new(url, "test-model")
    }
}

pub fn judge(url: &str) -> HttpJudge {
    HttpJudge::new(config(url), DistributionSpec::training(7, 1), 1).expect("judge")
}

pub fn rollout(reached: bool) -> Rollout {
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

pub fn compare(url: &str) -> (Result<maze_rllf::llm::Comparison, JudgeError>, HttpJudge) {
    let mut j = judge(url);
    let r = j.compare(&rollout(true), &rollout(false));
    (r, j)
}

/// A server that answers each request with `answer(request)` as a full HTTP response body (200).
pub fn serve_with(answer: fn(&str) -> (u16, String)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            let (status, body) = answer(&request);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}
