//! Unit tests of the HTTP judge's parsing, retry waits and settings checks.

use super::*;

#[test]
fn a_retry_after_that_is_not_a_sane_number_never_panics_and_is_clamped() {
    assert_eq!(retry_after_seconds("2"), Some(Duration::from_secs(2)));
    assert_eq!(
        retry_after_seconds("1e300"),
        Some(Duration::from_secs_f64(MAX_WAIT_S))
    );
    for bad in ["-1", "NaN", "inf", "Wed, 21 Oct 2026 07:28:00 GMT", ""] {
        assert_eq!(retry_after_seconds(bad), None, "{bad}");
    }
}

#[test]
fn timeouts_out_of_range_are_refused_with_what_to_write() {
    let ok = HttpConfig::new("http://127.0.0.1:9", "m");
    assert!(ok.validate().is_ok());
    for (mutate, needle) in [
        (
            (|c: &mut HttpConfig| c.read_timeout_s = -1.0) as fn(&mut HttpConfig),
            "http.read_timeout_s is -1",
        ),
        (|c| c.connect_timeout_s = 1e300, "http.connect_timeout_s"),
        (
            |c| c.read_timeout_s = f64::NAN,
            "http.read_timeout_s is NaN",
        ),
        (|c| c.backoff_s = -2.0, "http.backoff_s"),
    ] {
        let mut c = ok.clone();
        mutate(&mut c);
        let e = c.validate().expect_err("refused");
        assert!(e.0.contains(needle), "{e}");
        let judge = HttpJudge::new(c, crate::level::DistributionSpec::training(7, 1), 0);
        assert!(judge.is_err(), "the judge is not built");
    }
}

#[test]
fn credentials_in_a_url_are_redacted() {
    for (url, shown) in [
        ("http://user:pass@host:8080/v1", "http://***@host:8080/v1"),
        ("https://key@example.org", "https://***@example.org"),
        ("http://a:b@c@host/x@y", "http://***@host/x@y"),
        (
            "http://127.0.0.1:8080/p?q=a@b",
            "http://127.0.0.1:8080/p?q=a@b",
        ),
        ("user:pw@host", "***@host"),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
}

#[test]
fn hostile_answers_are_read_in_one_pass() {
    // Quadratic extraction would take hours on these; one pass takes milliseconds.
    let braces = "{".repeat(1_000_000);
    assert_eq!(extract_json(&braces), None);
    let nested = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert_eq!(extract_json(&nested), None);
    let empties = format!("{{ {} {{\"choice\": 1}}", "{}".repeat(200_000));
    assert_eq!(extract_json(&empties).expect("found")["choice"], 1);
    let broken = format!("{}{{\"choice\": 1}}", "{\"x\":}".repeat(200_000));
    assert_eq!(
        extract_json(&broken),
        None,
        "at most 64 candidates are tried"
    );
    // An object inside an unclosed brace is still found.
    let v = extract_json("Thinking { about it... {\"choice\": 2} done").expect("found");
    assert_eq!(v["choice"], 2);
    // Braces inside strings do not count.
    let v = extract_json("x {\"rationale\": \"a } b {\", \"choice\": 0} y").expect("found");
    assert_eq!(v["choice"], 0);
}

#[test]
fn yes_or_no_is_read_from_log_probabilities_first() {
    let choice = json!({"message": {"content": "no"}, "logprobs": {"content": [
        {"top_logprobs": [{"token": "Yes", "logprob": -0.5}, {"token": " no", "logprob": -1.5}]}
    ]}});
    let p = yes_probability(&choice).expect("p");
    assert!((p - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-9, "{p}");
    assert_eq!(
        yes_probability(&json!({"message": {"content": " Yes."}})),
        Some(0.99)
    );
    assert_eq!(
        yes_probability(&json!({"message": {"content": "No"}})),
        Some(0.01)
    );
    assert_eq!(
        yes_probability(&json!({"message": {"content": "perhaps"}})),
        None
    );
    // The log-odds, as the embedded judge reads them: both words summed over their forms, a
    // word missing from the top log-probabilities at 1e-12.
    let odds = yes_log_odds(&choice).expect("odds");
    assert!((odds - 1.0).abs() < 1e-9, "{odds}");
    let forms = json!({"message": {"content": "Yes"}, "logprobs": {"content": [
        {"top_logprobs": [{"token": "Yes", "logprob": -1.0}, {"token": "yes", "logprob": -1.0},
                          {"token": "No", "logprob": -2.0}, {"token": "The", "logprob": -0.1}]}
    ]}});
    let odds = yes_log_odds(&forms).expect("odds");
    assert!((odds - (2.0f64.ln() + 1.0)).abs() < 1e-9, "{odds}");
    let yes_only = json!({"message": {"content": "Yes"}, "logprobs": {"content": [
        {"top_logprobs": [{"token": "Yes", "logprob": 0.0}]}
    ]}});
    assert!((yes_log_odds(&yes_only).expect("odds") - 1e12f64.ln()).abs() < 1e-9);
    let from_text = yes_log_odds(&json!({"message": {"content": "No"}})).expect("odds");
    assert!((from_text + 99f64.ln()).abs() < 1e-9, "{from_text}");
    assert_eq!(
        yes_log_odds(&json!({"message": {"content": "perhaps"}})),
        None
    );
}

#[test]
fn json_is_found_in_prose_and_fences() {
    let v =
        extract_json("Sure! ```json\n{\"choice\": 2, \"rationale\": \"it {found} it\"}\n``` done")
            .expect("json");
    assert_eq!(v["choice"], 2);
    assert_eq!(
        parse_comparison("{\"choice\": \"1\"}")
            .expect("choice")
            .choice,
        Choice::First
    );
    assert!(parse_comparison("I think the second one.").is_err());
    assert!(parse_comparison("{\"choice\": 7}").is_err());
}

#[test]
fn the_analysis_prompt_shows_episodes_and_states_no_conclusion() {
    use crate::level::Corner;
    use crate::llm::handmade::{self, Probes};
    // Two agents, one confounded with the top-right corner, one with the top-left: everything
    // the prompt says outside the rendered episodes must be the same for both (no summary across
    // episodes, no sentence on where training put the cheese, no proxy named).
    let prompt_of = |corner: Corner| {
        let kind = Diagnosis::Corner(corner);
        let base = handmade::training_spec(kind, 3);
        let episodes = handmade::episodes(&base, Probes::ViaCorner(corner));
        let judge = HttpJudge::new(HttpConfig::new("http://127.0.0.1:9", "m"), base, 0)
            .expect("the judge is built without a call");
        let mut prompt = judge.analyze_prompt("ENV", &episodes);
        for (i, r) in episodes.training.iter().chain(&episodes.probes).enumerate() {
            let text = render_rollout(r, judge.text_options());
            assert!(prompt.contains(&text), "episode {i} is shown whole");
            prompt = prompt.replacen(&text, "<episode>", 1);
        }
        prompt
    };
    let (top_right, top_left) = (prompt_of(Corner::TopRight), prompt_of(Corner::TopLeft));
    assert_eq!(top_right, top_left);
    assert!(top_right.contains("Training episode 10:") && top_right.contains("Probe episode 10:"));
    for said in ["in 10 of", "always", "cheese lies", "region"] {
        assert!(!top_right.contains(said), "{said:?} in {top_right}");
    }
}
