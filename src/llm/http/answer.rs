//! Reading a server's answers: the message text, P(yes) from log-probabilities, a JSON object
//! found in free text, and a comparison parsed from it.

use crate::llm::{Choice, Comparison, JudgeError};
use serde_json::Value;

pub(super) fn content_of(choice: &Value) -> String {
    choice["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The probabilities of "yes" and "no" (either case, spaces trimmed) among the first answer
/// token's top log-probabilities, when either is there.
fn yes_no_mass(choice: &Value) -> Option<[f64; 2]> {
    let label = |token: &str| {
        let t = token.trim().to_lowercase();
        (t == "yes").then_some(0).or((t == "no").then_some(1))
    };
    let mut p = [0.0f64; 2];
    for entry in choice["logprobs"]["content"][0]["top_logprobs"].as_array()? {
        if let (Some(token), Some(lp)) = (entry["token"].as_str(), entry["logprob"].as_f64())
            && let Some(i) = label(token)
            && lp.is_finite()
        {
            p[i] += lp.exp();
        }
    }
    (p[0] + p[1] > 0.0).then_some(p)
}

/// The answer's text read as yes (0.99) or no (0.01), for a server that gives no
/// log-probabilities.
fn yes_in_text(choice: &Value) -> Option<f64> {
    let text = content_of(choice).trim().to_lowercase();
    let word: String = text.chars().take_while(|c| c.is_alphabetic()).collect();
    match word.as_str() {
        "yes" => Some(0.99),
        "no" => Some(0.01),
        _ => None,
    }
}

/// P("yes") over {yes, no} from the first answer token's top log-probabilities, or from the text.
pub fn yes_probability(choice: &Value) -> Option<f64> {
    match yes_no_mass(choice) {
        Some([yes, no]) => Some(yes / (yes + no)),
        None => yes_in_text(choice),
    }
}

/// log P(yes) - log P(no) of the first answer token, as the embedded judge reads it (a word
/// missing from the top log-probabilities counts as 1e-12), or from the text (log 99 or its
/// negative).
pub fn yes_log_odds(choice: &Value) -> Option<f64> {
    match yes_no_mass(choice) {
        Some([yes, no]) => Some(crate::llm::fact_questions::log_odds(yes, no)),
        None => yes_in_text(choice).map(|p| (p / (1.0 - p)).ln()),
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The first JSON object in `text`: the whole text, a fenced block, or a balanced `{...}` inside
/// prose. One pass over the text and at most [`MAX_JSON_CANDIDATES`] parse attempts, so a
/// hostile answer (say 100 kB of `{`) costs time in proportion to its length.
pub fn extract_json(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text.trim())
        && v.is_object()
    {
        return Some(v);
    }
    // Balanced spans that may be useful objects (`{` then `"`), tried in order of their start
    // once the outermost brace around them closes (or the text ends).
    let mut open: Vec<usize> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut attempts = 0;
    let mut try_spans = |spans: &mut Vec<(usize, usize)>| {
        spans.sort_unstable();
        for &(start, end) in spans.iter() {
            if attempts >= MAX_JSON_CANDIDATES {
                break;
            }
            attempts += 1;
            if let Ok(v) = serde_json::from_str::<Value>(&text[start..=end])
                && v.is_object()
            {
                return Some(v);
            }
        }
        spans.clear();
        None
    };
    let (mut in_string, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if !open.is_empty() => in_string = true,
            b'{' => open.push(i),
            b'}' => {
                let Some(start) = open.pop() else { continue };
                let inner = text[start + 1..].trim_start();
                if inner.starts_with('"') {
                    spans.push((start, i));
                }
                if open.is_empty()
                    && let Some(v) = try_spans(&mut spans)
                {
                    return Some(v);
                }
            }
            _ => {}
        }
    }
    try_spans(&mut spans)
}

/// The most parse attempts [`extract_json`] makes on one answer.
const MAX_JSON_CANDIDATES: usize = 64;

/// Reads a comparison answer: `{"choice": 1|2|0, "rationale": ...}` (numbers or strings).
pub fn parse_comparison(text: &str) -> Result<Comparison, JudgeError> {
    let value = extract_json(text).ok_or_else(|| {
        JudgeError::Unparseable(format!("no JSON object in: {}", truncate(text, 120)))
    })?;
    let choice = match &value["choice"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().trim_start_matches("Episode ").parse::<i64>().ok(),
        _ => None,
    };
    let choice = match choice {
        Some(1) => Choice::First,
        Some(2) => Choice::Second,
        Some(0) => Choice::Tie,
        _ => {
            return Err(JudgeError::Unparseable(format!(
                "no valid \"choice\" in: {value}"
            )));
        }
    };
    Ok(Comparison {
        choice,
        rationale: value["rationale"].as_str().unwrap_or_default().to_string(),
    })
}
