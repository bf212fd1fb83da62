//! The checker's findings marked in the texts they point at: a text cut into plain and marked
//! segments from the verdict's character spans, for the review page to render (escaped).

use serde::Serialize;

use crate::check::{Finding, RefSource, Span, Verdict};

/// A piece of a text; `finding` is the number of the finding it is marked for (1-based, as
/// listed on the page) and `kind` its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub text: String,
    pub finding: Option<usize>,
    pub kind: Option<&'static str>,
}

/// Cuts `text` at `marks` (character spans with their finding number and kind). Spans are
/// clamped to the text; where marks overlap, the earlier-starting one wins.
pub fn segments(text: &str, marks: &[(Span, usize, &'static str)]) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut marks: Vec<(usize, usize, usize, &'static str)> = marks
        .iter()
        .map(|(s, i, k)| (s.start.min(n), s.end.min(n), *i, *k))
        .filter(|(a, b, _, _)| a < b)
        .collect();
    marks.sort_by_key(|m| (m.0, std::cmp::Reverse(m.1)));
    let mut out = Vec::new();
    let mut at = 0;
    let piece = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    for (a, b, i, k) in marks {
        if a < at {
            continue; // overlaps a mark already placed
        }
        if a > at {
            out.push(Segment {
                text: piece(at, a),
                finding: None,
                kind: None,
            });
        }
        out.push(Segment {
            text: piece(a, b),
            finding: Some(i),
            kind: Some(k),
        });
        at = b;
    }
    if at < n || out.is_empty() {
        out.push(Segment {
            text: piece(at, n),
            finding: None,
            kind: None,
        });
    }
    out
}

/// Where a finding points.
fn marks_where(
    findings: &[Finding],
    pick: impl Fn(&Finding) -> Option<Span>,
) -> Vec<(Span, usize, &'static str)> {
    findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| pick(f).map(|s| (s, i + 1, f.kind.as_str())))
        .collect()
}

/// The draft with every finding's draft span marked.
pub fn draft_segments(draft: &str, verdict: Option<&Verdict>) -> Vec<Segment> {
    let findings = verdict.map_or(&[][..], |v| &v.findings);
    segments(draft, &marks_where(findings, |f| f.draft_span))
}

/// A reference text (the approved answer, or context passage `n`) with the spans findings point
/// at in it.
pub fn reference_segments(
    text: &str,
    source: RefSource,
    verdict: Option<&Verdict>,
) -> Vec<Segment> {
    let findings = verdict.map_or(&[][..], |v| &v.findings);
    segments(
        text,
        &marks_where(findings, |f| {
            (f.reference == Some(source))
                .then_some(f.reference_span)
                .flatten()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn joined(s: &[Segment]) -> String {
        s.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn marks_cut_the_text_at_character_offsets() {
        let text = "Zwrot w ciągu 14 dni, kurier DPD.";
        let s = segments(
            text,
            &[
                (Span::new(14, 20), 1, "value_mismatch"),
                (Span::new(29, 32), 2, "entity_mismatch"),
            ],
        );
        let marked: Vec<(&str, Option<usize>)> =
            s.iter().map(|s| (s.text.as_str(), s.finding)).collect();
        assert_eq!(
            marked,
            [
                ("Zwrot w ciągu ", None),
                ("14 dni", Some(1)),
                (", kurier ", None),
                ("DPD", Some(2)),
                (".", None)
            ]
        );
    }

    #[test]
    fn overlapping_and_out_of_range_marks_are_safe() {
        let s = segments(
            "abcdef",
            &[
                (Span::new(1, 4), 1, "a"),
                (Span::new(2, 5), 2, "b"),
                (Span::new(4, 99), 3, "c"),
                (Span::new(50, 60), 4, "d"),
            ],
        );
        assert_eq!(joined(&s), "abcdef");
        let found: Vec<Option<usize>> = s.iter().map(|s| s.finding).collect();
        assert_eq!(found, [None, Some(1), Some(3)]);
    }

    proptest! {
        #[test]
        fn segments_always_rebuild_the_text(
            text in "\\PC{0,40}",
            spans in proptest::collection::vec((0usize..50, 0usize..50), 0..6),
        ) {
            let marks: Vec<(Span, usize, &'static str)> = spans
                .iter()
                .enumerate()
                .map(|(i, (a, b))| (Span::new(*a, *b), i + 1, "k"))
                .collect();
            let s = segments(&text, &marks);
            prop_assert_eq!(joined(&s), text);
        }
    }
}
