//! The release rule: what of a draft reaches the customer while it is written. A sentence is
//! released only when the draft up to it agrees with the approved answer itself, the sentence
//! states one more of the approved answer's facts, and it is in the customer's language; pure.
//!
//! The promise (tested at every split point): what was released is a prefix of the reply the
//! customer keeps. [`keep_released`] makes the final reply begin with the released text whatever
//! the decision, and `policy::may_release` allows releasing only where every decision sends.

use crate::check::{check, CheckInput, CheckSettings, FindingKind, Verdict};
use crate::knowledge::{detect_lang, Lang};

/// Releases checked sentences of a draft as it is generated.
#[derive(Debug, Clone)]
pub struct Release {
    /// The matched approved answer (slots unfilled), and the shop's name: the only references.
    canonical: String,
    references: Vec<String>,
    /// The instructions' marker: a prefix containing it is never released.
    canary: String,
    /// The customer's language: a sentence in another is not released.
    lang: Lang,
    settings: CheckSettings,
    /// Share of the approved answer's key facts the released text states.
    covered: f32,
    /// The draft so far, as the model wrote it.
    raw: String,
    /// Bytes of leading white space in `raw` (the final draft text is trimmed).
    lead: Option<usize>,
    /// Bytes of `raw[lead..]` released so far.
    released: usize,
    blocked: bool,
}

/// Findings that stop the release: a prefix with one of these is never shown.
fn stops_release(kind: FindingKind) -> bool {
    match kind {
        FindingKind::ValueMismatch
        | FindingKind::EntityMismatch
        | FindingKind::NegationFlip
        | FindingKind::UnsupportedFact
        | FindingKind::InventedSlot
        | FindingKind::Repetition => true,
        // Judged on the whole draft only: a prefix naturally misses facts and reads unlike
        // the whole approved answer.
        FindingKind::MissingFact | FindingKind::LowSimilarity | FindingKind::Echo => false,
    }
}

/// End of the first complete sentence in `text` after byte `from`, white space excluded: a
/// sentence ends at `.`, `!`, `?` or `…` followed by white space, or before a line break. Numbers
/// such as `12.99` do not end a sentence.
fn next_sentence_end(text: &str, from: usize) -> Option<usize> {
    let mut chars = text[from..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = from + i + c.len_utf8();
        match c {
            '\n' => {
                let body = text[..from + i].trim_end();
                if body.len() > from && !text[from..body.len()].trim().is_empty() {
                    return Some(body.len());
                }
            }
            '.' | '!' | '?' | '…' if chars.peek().is_some_and(|(_, n)| n.is_whitespace()) => {
                return Some(at);
            }
            _ => {}
        }
    }
    None
}

impl Release {
    /// `canonical` is the matched approved answer (slots unfilled); `business_name` is grounded
    /// whatever the approved answer says.
    pub fn new(
        canonical: &str,
        business_name: &str,
        canary: &str,
        lang: Lang,
        settings: CheckSettings,
    ) -> Release {
        let mut r = Release {
            canonical: canonical.to_string(),
            references: vec![business_name.to_string()],
            canary: canary.to_string(),
            lang,
            settings,
            raw: String::new(),
            lead: None,
            released: 0,
            blocked: false,
            covered: 0.0,
        };
        // An approved answer without key facts (coverage is 1 for any text) gives no sentence
        // anything to state: nothing is released, the checked reply arrives whole.
        r.blocked = r.verdict(".").coverage >= 1.0;
        r
    }

    fn verdict(&self, draft: &str) -> Verdict {
        let references: Vec<&str> = self.references.iter().map(String::as_str).collect();
        check(
            &CheckInput {
                draft,
                canonical: Some(&self.canonical),
                context: &references,
                similarity: None,
                focus: None,
                question: None,
            },
            &self.settings,
        )
    }

    /// Whether the sentence ending at `end` (after what was released) may be released.
    fn passes(&mut self, text_end: usize) -> bool {
        let lead = self.lead.unwrap_or(0);
        let text = &self.raw[lead..];
        let prefix = &text[..text_end];
        let sentence = &text[self.released..text_end];
        // Slots are filled by code after the decision; a placeholder is never released.
        if prefix.contains("{{") || prefix.contains("}}") || prefix.contains(self.canary.as_str()) {
            return false;
        }
        if detect_lang(sentence, self.lang) != self.lang {
            return false;
        }
        let verdict = self.verdict(prefix);
        if verdict.findings.iter().any(|f| stops_release(f.kind)) {
            return false;
        }
        // Each released sentence states one more of the approved answer's facts: an echo of the
        // question or a sentence with nothing in it waits for the final reply.
        if verdict.coverage <= self.covered + 1e-6 {
            return false;
        }
        self.covered = verdict.coverage;
        true
    }

    /// Adds a piece of the draft; returns the text newly released, if any. Sentences are judged
    /// one at a time, in order; the first that fails ends the release for this draft.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.raw.push_str(piece);
        if self.blocked {
            return None;
        }
        let lead = match self.lead {
            Some(l) => l,
            None => {
                let trimmed = self.raw.trim_start();
                if trimmed.is_empty() {
                    return None;
                }
                let l = self.raw.len() - trimmed.len();
                self.lead = Some(l);
                l
            }
        };
        let before = self.released;
        while let Some(end) = next_sentence_end(&self.raw[lead..], self.released) {
            if !self.passes(end) {
                self.blocked = true;
                break;
            }
            self.released = end;
        }
        let out = self.raw[lead + before..lead + self.released].to_string();
        (!out.trim().is_empty()).then_some(out)
    }

    /// The text released so far.
    pub fn released(&self) -> &str {
        match self.lead {
            Some(l) => &self.raw[l..l + self.released],
            None => "",
        }
    }

    /// Whether a sentence failed the check (nothing more is released).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }
}

/// The reply the customer keeps: `reply` when it begins with the `released` text, else the
/// released text followed by `reply` (a paragraph apart). Either way it begins with `released`.
pub fn keep_released(released: &str, reply: &str) -> String {
    if reply.starts_with(released) {
        reply.to_string()
    } else {
        format!("{released}\n\n{reply}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CheckSettings {
        crate::Config::defaults().unwrap().check
    }

    fn release(canonical: &str) -> Release {
        Release::new(
            canonical,
            "Polna Półka",
            "PP-KANAREK-TEST",
            Lang::Pl,
            settings(),
        )
    }

    /// Feeds `text` in pieces of `size` characters; returns the released pieces.
    fn feed(r: &mut Release, text: &str, size: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        chars
            .chunks(size)
            .filter_map(|c| r.push(&c.iter().collect::<String>()))
            .collect()
    }

    const CANON: &str =
        "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 14 dni.";

    #[test]
    fn consistent_sentences_are_released_one_by_one() {
        let mut r = release(CANON);
        let out = feed(
            &mut r,
            " Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 14 dni. Dzięki",
            3,
        );
        assert_eq!(
            out,
            vec![
                "Zwrot jest możliwy w ciągu 30 dni od dostawy.".to_string(),
                " Pieniądze oddajemy w ciągu 14 dni.".to_string()
            ]
        );
        // The unfinished last sentence waits for the final reply.
        assert!(!r.released().contains("Dzięki"));
        assert!(!r.is_blocked());
    }

    #[test]
    fn a_fact_found_only_in_a_passage_is_not_released() {
        // The case: 199 zł is in a passage, but the approved answer says 39 zł.
        let mut r = release("Wysyłka do Niemiec kosztuje 39 zł, doręczenie w 3–5 dni roboczych.");
        assert!(feed(
            &mut r,
            "199 zł, doręczenie w 3–5 dni roboczych od nadania. ",
            4
        )
        .is_empty());
        assert!(r.is_blocked());
    }

    #[test]
    fn a_contradicting_sentence_and_everything_after_it_is_held_back() {
        let mut r = release(CANON);
        let out = feed(
            &mut r,
            "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 60 dni. Zwrot jest możliwy w ciągu 30 dni od dostawy. ",
            3,
        );
        assert_eq!(
            out,
            vec!["Zwrot jest możliwy w ciągu 30 dni od dostawy.".to_string()]
        );
        assert!(r.is_blocked());
        assert!(!r.released().contains("60"));
        let mut r = release(CANON);
        assert!(feed(
            &mut r,
            "Zwrot nie jest możliwy w ciągu 30 dni od dostawy. ",
            5
        )
        .is_empty());
    }

    #[test]
    fn decimal_points_line_breaks_and_placeholders() {
        assert_eq!(next_sentence_end("Koszt 12.99 zł", 0), None);
        assert_eq!(next_sentence_end("Tak. Nie. Może", 0), Some(4));
        assert_eq!(next_sentence_end("Tak. Nie. Może", 4), Some(9));
        assert_eq!(next_sentence_end("Lista:  \n- a", 0), Some(6));
        let mut r = release("Dzień dobry {{customer_name}}.");
        assert!(feed(&mut r, "Dzień dobry {{customer_name}}. ", 3).is_empty());
        assert!(r.is_blocked());
        let mut r = release(CANON);
        assert!(feed(&mut r, "Zwrot: 30 dni. PP-KANAREK-TEST. ", 3).len() == 1);
        assert!(r.is_blocked() && !r.released().contains("KANAREK"));
    }

    #[test]
    fn sentences_that_state_nothing_of_the_approved_answer_or_switch_language_wait() {
        // An echo of the question states no fact of the approved answer.
        let mut r = release(CANON);
        assert!(feed(&mut r, "Nie zdążyłem odebrać przesyłki. Zwrot: 30 dni. ", 4).is_empty());
        assert!(r.is_blocked());
        // A sentence in English in a Polish conversation.
        let mut r = release(CANON);
        let out = feed(
            &mut r,
            "Zwrot jest możliwy w ciągu 30 dni od dostawy. Refunds are paid within 14 days. ",
            4,
        );
        assert_eq!(
            out,
            vec!["Zwrot jest możliwy w ciągu 30 dni od dostawy.".to_string()]
        );
        // A sentence repeating a fact already released adds nothing.
        let mut r = release(CANON);
        let out = feed(&mut r, "Masz 30 dni. Tak, 30 dni od dostawy. ", 4);
        assert_eq!(out, vec!["Masz 30 dni.".to_string()]);
        // An approved answer with no facts to state releases nothing.
        let mut r = release("Tak, możesz to zrobić w panelu klienta.");
        assert!(feed(&mut r, "Tak, możesz to zrobić w panelu klienta. ", 4).is_empty());
    }

    /// The promise at every split point: whatever the pieces, the released text is a prefix of
    /// the trimmed draft (what the decision sends) and of the reply kept after any decision.
    #[test]
    fn released_text_is_a_prefix_of_what_the_customer_keeps_at_every_split() {
        let drafts = [
            " Zwrot jest możliwy w ciągu 30 dni od dostawy.\n\nPieniądze oddajemy w ciągu 14 dni.\n",
            "Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 60 dni.",
            "\n\n  Zwrot jest możliwy w ciągu 30 dni od dostawy!  Tak.",
        ];
        for draft in drafts {
            let trimmed = draft.trim();
            for size in 1..=9 {
                let mut r = release(CANON);
                let mut streamed = String::new();
                for piece in feed(&mut r, draft, size) {
                    streamed.push_str(&piece);
                    assert!(
                        trimmed.starts_with(&streamed),
                        "{streamed:?} vs {trimmed:?}"
                    );
                }
                assert_eq!(streamed, r.released());
                for reply in [trimmed, CANON, "Konsultant odpowie."] {
                    assert!(keep_released(&streamed, reply).starts_with(&streamed));
                }
            }
        }
    }

    #[test]
    fn proptest_split_points() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        runner
            .run(
                &(
                    proptest::collection::vec(1usize..12, 1..40),
                    "[ \\n]{0,3}",
                ),
                |(cuts, lead)| {
                    let draft = format!(
                        "{lead}Zwrot jest możliwy w ciągu 30 dni od dostawy. Pieniądze oddajemy w ciągu 14 dni.\nDziękujemy."
                    );
                    let chars: Vec<char> = draft.chars().collect();
                    let mut r = release(CANON);
                    let mut streamed = String::new();
                    let mut at = 0;
                    for c in cuts.iter().cycle() {
                        if at >= chars.len() {
                            break;
                        }
                        let end = (at + c).min(chars.len());
                        let piece: String = chars[at..end].iter().collect();
                        at = end;
                        if let Some(out) = r.push(&piece) {
                            streamed.push_str(&out);
                        }
                    }
                    prop_assert!(draft.trim().starts_with(&streamed));
                    prop_assert_eq!(streamed.as_str(), r.released());
                    Ok(())
                },
            )
            .unwrap();
    }
}
