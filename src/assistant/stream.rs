//! Streaming only what the checker passed: the draft grows token by token, and each complete
//! sentence is released to the customer once the draft up to it has no contradiction and no
//! unsupported fact. Pure: the same references and pieces release the same text.
//!
//! The final decision still comes from the whole draft ([`super::Assistant::finish`]); the
//! widget replaces the streamed text with the final reply, which may be the approved answer.

use crate::check::{check, CheckInput, CheckSettings, FindingKind};

/// Releases checked sentences of a draft as it is generated.
#[derive(Debug, Clone)]
pub struct CheckedStream {
    canonical: Option<String>,
    context: Vec<String>,
    settings: CheckSettings,
    text: String,
    released: usize,
    blocked: bool,
}

/// Findings that stop the stream: a prefix with one of these is never shown.
fn stops_stream(kind: FindingKind) -> bool {
    match kind {
        FindingKind::ValueMismatch
        | FindingKind::EntityMismatch
        | FindingKind::NegationFlip
        | FindingKind::UnsupportedFact
        | FindingKind::InventedSlot => true,
        // Judged on the whole draft only: a prefix naturally misses facts and reads unlike
        // the whole approved answer.
        FindingKind::MissingFact | FindingKind::LowSimilarity => false,
    }
}

/// End of the last complete sentence in `text` at or after byte `from`: after `.`, `!`, `?`,
/// `…` or a line break followed by whitespace. Numbers such as `12.99` do not end a sentence.
fn last_sentence_end(text: &str, from: usize) -> Option<usize> {
    let mut end = None;
    let mut chars = text[from..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = from + i + c.len_utf8();
        match c {
            '\n' => end = Some(at),
            '.' | '!' | '?' | '…' if chars.peek().is_some_and(|(_, n)| n.is_whitespace()) => {
                end = Some(at);
            }
            _ => {}
        }
    }
    end
}

impl CheckedStream {
    /// `canonical` is the matched approved answer (slots unfilled), `context` the passages the
    /// draft is written from (the same references the final check uses).
    pub fn new(
        canonical: Option<String>,
        context: Vec<String>,
        settings: CheckSettings,
    ) -> CheckedStream {
        CheckedStream {
            canonical,
            context,
            settings,
            text: String::new(),
            released: 0,
            blocked: false,
        }
    }

    /// Adds a piece of the draft; returns the text newly released, if any.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.text.push_str(piece);
        if self.blocked {
            return None;
        }
        let end = last_sentence_end(&self.text, self.released)?;
        let prefix = &self.text[..end];
        // Slots are filled by code after the decision; a placeholder is never streamed.
        if prefix.contains("{{") {
            self.blocked = true;
            return None;
        }
        let context: Vec<&str> = self.context.iter().map(String::as_str).collect();
        let verdict = check(
            &CheckInput {
                draft: prefix,
                canonical: self.canonical.as_deref(),
                context: &context,
                similarity: None,
            },
            &self.settings,
        );
        if verdict.findings.iter().any(|f| stops_stream(f.kind)) {
            self.blocked = true;
            return None;
        }
        let out = self.text[self.released..end].to_string();
        self.released = end;
        (!out.trim().is_empty()).then_some(out)
    }

    /// The text released so far.
    pub fn released(&self) -> &str {
        &self.text[..self.released]
    }

    /// Whether a sentence failed the check (nothing more is released).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CheckSettings {
        crate::Config::defaults().unwrap().check
    }

    fn feed(stream: &mut CheckedStream, text: &str) -> Vec<String> {
        // Token-like pieces of 3 characters, split anywhere.
        let chars: Vec<char> = text.chars().collect();
        chars
            .chunks(3)
            .filter_map(|c| stream.push(&c.iter().collect::<String>()))
            .collect()
    }

    const CANON: &str =
        "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 14 dni.";

    #[test]
    fn consistent_sentences_are_released_one_by_one() {
        let mut s = CheckedStream::new(Some(CANON.into()), vec![], settings());
        let out = feed(
            &mut s,
            "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 14 dni. Dzięki",
        );
        assert_eq!(
            out,
            vec![
                "Zwrot jest możliwy w ciągu 30 dni od dostawy.".to_string(),
                " Pieniądze oddajemy w ciągu 14 dni.".to_string()
            ]
        );
        // The unfinished last sentence waits for the final reply.
        assert!(!s.released().contains("Dzięki"));
        assert!(!s.is_blocked());
    }

    #[test]
    fn a_contradicting_sentence_and_everything_after_it_is_held_back() {
        let mut s = CheckedStream::new(Some(CANON.into()), vec![], settings());
        let out = feed(
            &mut s,
            "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 60 dni. Zwrot jest możliwy w ciągu 30 dni od dostawy. ",
        );
        assert_eq!(
            out,
            vec!["Zwrot jest możliwy w ciągu 30 dni od dostawy.".to_string()]
        );
        assert!(s.is_blocked());
        assert!(!s.released().contains("60"));
    }

    #[test]
    fn facts_from_nowhere_and_negations_are_not_streamed() {
        let ctx = vec!["Returns are accepted within 30 days of delivery.".to_string()];
        let mut s = CheckedStream::new(None, ctx.clone(), settings());
        assert!(feed(&mut s, "Call us at +48 500 600 700 any time. ").is_empty());
        let mut s = CheckedStream::new(None, ctx, settings());
        assert!(feed(
            &mut s,
            "Returns are not accepted within 30 days of delivery. "
        )
        .is_empty());
    }

    #[test]
    fn decimal_points_and_placeholders_do_not_release() {
        assert_eq!(last_sentence_end("Koszt 12.99 zł", 0), None);
        assert_eq!(last_sentence_end("Tak. Nie", 0), Some(4));
        let mut s = CheckedStream::new(
            Some("Dzień dobry {{customer_name}}.".into()),
            vec![],
            settings(),
        );
        assert!(feed(&mut s, "Dzień dobry {{customer_name}}. ").is_empty());
        assert!(s.is_blocked());
    }
}
