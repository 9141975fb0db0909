//! Errors as people read them: an error with its causes on one line.

/// An error and its causes as one line, `what: why: why`; a cause whose text the message already
/// includes (typed errors that print their source) is not repeated.
pub fn chain_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_added_once() {
        let io = std::io::Error::other("disk full");
        let typed = anyhow::Error::new(io).context("metrics.jsonl");
        assert_eq!(chain_text(&typed), "metrics.jsonl: disk full");
        let repeated = anyhow::anyhow!("config.ron: cannot read: disk full")
            .context("config.ron: cannot read: disk full");
        assert_eq!(chain_text(&repeated), "config.ron: cannot read: disk full");
    }
}
