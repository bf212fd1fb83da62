//! Follow-up questions: a short message that leans on the previous one ("a do Czech?", "and how
//! much is it?") is matched on both the message and the conversation.

use crate::knowledge::{Canonical, Lang};
use crate::retrieve::CanonicalEvidence;

use super::triage::PastMessage;

/// Words a follow-up may have at most; longer messages stand on their own.
const MAX_WORDS: usize = 8;

/// How follow-ups open, per language (lowercase, without diacritics folded: both spellings).
fn openers(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Pl => &[
            "a ", "i ", "oraz ", "to ", "no a ", "a co", "a jak", "a ile", "a gdzie", "a kiedy",
            "a czy", "a jesli", "a jeśli", "a gdy", "a do ", "a na ", "a za ", "a w ", "a z ",
        ],
        Lang::En => &[
            "and ",
            "what about",
            "how about",
            "also ",
            "and what",
            "what if",
            "and if",
            "and how",
            "or ",
            "but ",
            "same for",
            "and for",
        ],
    }
}

/// When `message` is a follow-up of the customer's previous message: the two together, which
/// retrieval reads besides the message alone.
pub fn search_text(message: &str, history: &[PastMessage], lang: Lang) -> Option<String> {
    let previous = history.iter().rev().find(|m| m.from_customer)?;
    let words = message.split_whitespace().count();
    if words == 0 || words > MAX_WORDS {
        return None;
    }
    let lower = message.trim().to_lowercase();
    let opens = openers(lang).iter().any(|o| lower.starts_with(o));
    (opens || words <= 2).then(|| format!("{} {}", previous.text.trim(), message.trim()))
}

/// Approved answers of the conversation's topic a follow-up may match: the best this many for
/// the joined text.
const TOPIC: usize = 5;

/// The approved answers that fit both the message and the conversation: the candidates are the
/// conversation's best [`TOPIC`] answers (the topic), each scored by the mean of its cosines to
/// `alone` (the message) and `joined` (the conversation), and likewise its relative lexical
/// score. Taken alone, the message misses the topic and the conversation repeats the first
/// question's answer; the right answer ranks well in both.
pub fn blend(alone: &CanonicalEvidence, joined: &CanonicalEvidence) -> CanonicalEvidence {
    let topic: Vec<u32> = joined.dense.iter().take(TOPIC).map(|x| x.0).collect();
    let mean = |a: &[(u32, f32)], b: &[(u32, f32)], relative: bool| -> Vec<(u32, f32)> {
        let norm = |list: &[(u32, f32)]| -> Vec<(u32, f32)> {
            let best = list.first().map_or(1.0, |&(_, s)| s);
            list.iter()
                .map(|&(o, s)| (o, if relative && best > 0.0 { s / best } else { s }))
                .collect()
        };
        let (a, b) = (norm(a), norm(b));
        // A side that did not report a candidate gives it its lowest reported score (0 for
        // lexical scores).
        let floor = |l: &[(u32, f32)]| {
            if relative {
                0.0
            } else {
                l.last().map_or(0.0, |x| x.1)
            }
        };
        let (fa, fb) = (floor(&a), floor(&b));
        let score =
            |l: &[(u32, f32)], o: u32, f: f32| l.iter().find(|x| x.0 == o).map_or(f, |x| x.1);
        let mut out: Vec<(u32, f32)> = topic
            .iter()
            .map(|&o| (o, (score(&a, o, fa) + score(&b, o, fb)) / 2.0))
            .collect();
        out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        out
    };
    // Coverage: the conversation's words count, whichever message they came from.
    let mut coverage = joined.coverage.clone();
    for c in coverage.iter_mut() {
        if let Some(&(_, a)) = alone.coverage.iter().find(|x| x.0 == c.0) {
            c.1 = c.1.max(a);
        }
    }
    CanonicalEvidence {
        dense: mean(&alone.dense, &joined.dense, false),
        answer: mean(&alone.answer, &joined.answer, false),
        lexical: mean(&alone.lexical, &joined.lexical, true),
        coverage,
        known: alone.known.max(joined.known),
    }
}

/// A follow-up asks beyond what was just answered: the approved answers the shop's last reply
/// was (word for word, slots aside) are no candidates for it. Without this, "and what if I don't
/// pick it up?" after the locker-time answer matched the locker-time answer again.
pub fn drop_answered(
    evidence: &mut CanonicalEvidence,
    history: &[PastMessage],
    canonicals: &[Canonical],
) {
    let Some(reply) = history.iter().rev().find(|m| !m.from_customer) else {
        return;
    };
    let said = |ord: &u32| {
        canonicals
            .get(*ord as usize)
            .is_some_and(|c| same_text(&c.answer, &reply.text))
    };
    let answered: Vec<u32> = evidence.dense.iter().map(|x| x.0).filter(said).collect();
    if answered.is_empty() {
        return;
    }
    for list in [
        &mut evidence.dense,
        &mut evidence.answer,
        &mut evidence.lexical,
        &mut evidence.coverage,
    ] {
        list.retain(|x| !answered.contains(&x.0));
    }
}

/// The same text up to whitespace, with any `{{slot}}` of the approved answer standing for
/// whatever the reply has there.
fn same_text(approved: &str, reply: &str) -> bool {
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let (approved, reply) = (words(approved), words(reply));
    let mut rest = reply.as_str();
    let mut parts = approved.split("{{").peekable();
    // The text before the first slot, then each slot's literal tail in order.
    let Some(head) = parts.next() else {
        return false;
    };
    let Some(r) = rest.strip_prefix(head) else {
        return false;
    };
    rest = r;
    let mut slotted = false;
    for part in parts {
        slotted = true;
        let tail = part.split_once("}}").map_or("", |(_, t)| t);
        match rest.find(tail) {
            Some(at) if !tail.is_empty() => rest = &rest[at + tail.len()..],
            _ if tail.is_empty() => rest = "",
            _ => return false,
        }
    }
    rest.is_empty() || (slotted && rest.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Vec<PastMessage> {
        vec![
            PastMessage {
                text: text.into(),
                from_customer: true,
            },
            PastMessage {
                text: "Dostawa kurierem kosztuje 14,99 zł.".into(),
                from_customer: false,
            },
        ]
    }

    #[test]
    fn short_messages_that_lean_on_the_last_one_are_joined() {
        let h = said("Ile kosztuje dostawa kurierem?");
        assert_eq!(
            search_text("a do Czech?", &h, Lang::Pl).as_deref(),
            Some("Ile kosztuje dostawa kurierem? a do Czech?")
        );
        assert!(search_text("A paczkomatem?", &h, Lang::Pl).is_some());
        assert!(search_text("paczkomatem?", &h, Lang::Pl).is_some());
        let h = said("How much is delivery?");
        assert!(search_text("and to Germany?", &h, Lang::En).is_some());
        assert!(search_text("What about express?", &h, Lang::En).is_some());
    }

    #[test]
    fn the_answer_that_fits_both_wins() {
        // Alone: 1 (cost of delivery) leads; joined: 2 (return deadline) leads; 3 (return cost)
        // is second in both and fits the conversation.
        let alone = CanonicalEvidence {
            dense: vec![(1, 0.90), (3, 0.89), (2, 0.80)],
            lexical: vec![(1, 4.0), (3, 3.0)],
            ..CanonicalEvidence::default()
        };
        let joined = CanonicalEvidence {
            dense: vec![(2, 0.93), (3, 0.92), (1, 0.85)],
            lexical: vec![(2, 6.0), (3, 5.0)],
            ..CanonicalEvidence::default()
        };
        let b = blend(&alone, &joined);
        assert_eq!(b.dense[0].0, 3, "{b:?}");
        assert!((b.dense[0].1 - 0.905).abs() < 1e-6);
        assert_eq!(b.lexical[0].0, 3, "{b:?}");
    }

    #[test]
    fn what_was_just_answered_is_no_candidate() {
        let canonical = |id: &str, answer: &str| Canonical {
            id: crate::knowledge::CanonicalId(id.into()),
            lang: Lang::Pl,
            questions: vec![],
            answer: answer.into(),
            sources: vec![],
            handoff: false,
            tags: vec![],
            origin: String::new(),
        };
        let canonicals = vec![
            canonical("time", "Paczka czeka 48 godzin.\n"),
            canonical("missed", "Nieodebrana paczka wraca do nas."),
            canonical("hello", "Dzień dobry, {{customer_name}}! Paczka czeka."),
        ];
        let ev = || CanonicalEvidence {
            dense: vec![(0, 0.95), (1, 0.93), (2, 0.9)],
            answer: vec![(0, 0.9), (1, 0.9), (2, 0.9)],
            lexical: vec![(0, 3.0), (1, 2.0)],
            ..CanonicalEvidence::default()
        };
        let replied = |text: &str| {
            vec![
                PastMessage {
                    text: "Jak długo paczka czeka?".into(),
                    from_customer: true,
                },
                PastMessage {
                    text: text.into(),
                    from_customer: false,
                },
            ]
        };
        let mut e = ev();
        drop_answered(&mut e, &replied("Paczka  czeka 48 godzin."), &canonicals);
        assert_eq!(e.dense.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(e.lexical, vec![(1, 2.0)]);
        // A slot filled in the reply still reads as the same approved answer.
        let mut e = ev();
        drop_answered(
            &mut e,
            &replied("Dzień dobry, Ania! Paczka czeka."),
            &canonicals,
        );
        assert_eq!(e.dense.len(), 2);
        assert!(e.dense.iter().all(|x| x.0 != 2));
        // Any other reply (a hold, a draft) removes nothing.
        let mut e = ev();
        drop_answered(&mut e, &replied("Konsultant odpowie tutaj."), &canonicals);
        assert_eq!(e, ev());
    }

    #[test]
    fn whole_questions_and_first_messages_stand_alone() {
        let h = said("Ile kosztuje dostawa kurierem?");
        assert!(search_text("Jak mogę zwrócić zamówiony towar?", &h, Lang::Pl).is_none());
        assert!(search_text(
            "A jak mogę zwrócić towar kupiony w zeszłym miesiącu?",
            &h,
            Lang::Pl
        )
        .is_none());
        assert!(search_text("a do Czech?", &[], Lang::Pl).is_none());
        let shop_only = vec![PastMessage {
            text: "Witamy!".into(),
            from_customer: false,
        }];
        assert!(search_text("a do Czech?", &shop_only, Lang::Pl).is_none());
    }
}
