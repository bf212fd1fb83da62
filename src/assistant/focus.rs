//! What the customer asked of an approved answer: the sentences closest to the question, whose key
//! facts a draft must state (a draft may answer the Germany line, not recite the whole paragraph).

use crate::check::{sentence_spans, Span};
use crate::embed::{cosine, EmbedError, Embedder, Role};

/// The sentences of `answer` the question asks about: the one closest to it, and every other
/// within `margin` of it (the embedder cannot tell those apart, so all of them are asked).
/// `None` when the answer is one sentence (all of it is asked) or `margin` is negative (focus
/// off). The sentence scores are e5 cosines, question as a query and sentences as passages.
pub fn asked(
    embedder: &Embedder,
    question: &str,
    answer: &str,
    margin: f32,
) -> Result<Option<Vec<Span>>, EmbedError> {
    let spans = sentence_spans(answer);
    if spans.len() < 2 || margin < 0.0 || question.trim().is_empty() {
        return Ok(None);
    }
    let texts: Vec<String> = spans.iter().map(|s| s.slice(answer)).collect();
    // One batch: the question as a query, the sentences as passages.
    let inputs: Vec<(Role, &str)> = std::iter::once((Role::Query, question))
        .chain(texts.iter().map(|t| (Role::Passage, t.as_str())))
        .collect();
    let e = embedder.embed_with_progress(&inputs, |_| {})?;
    let scores: Vec<f32> = e[1..].iter().map(|v| cosine(&e[0], v)).collect();
    Ok(Some(within_margin(&spans, &scores, margin)))
}

/// The spans whose score is within `margin` of the best.
fn within_margin(spans: &[Span], scores: &[f32], margin: f32) -> Vec<Span> {
    let best = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    spans
        .iter()
        .zip(scores)
        .filter(|(_, &s)| s >= best - margin)
        .map(|(span, _)| *span)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_sentence_and_its_near_ties_are_asked() {
        let spans = [Span::new(0, 5), Span::new(6, 10), Span::new(11, 20)];
        assert_eq!(
            within_margin(&spans, &[0.80, 0.83, 0.815], 0.02),
            [spans[1], spans[2]]
        );
        assert_eq!(within_margin(&spans, &[0.80, 0.83, 0.815], 0.0), [spans[1]]);
    }
}
