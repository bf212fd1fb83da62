//! The approved-answer match, decided once per turn: which approved answer the question asks for,
//! and whether the evidence agrees enough to send it without staff (`[matching]`).

use serde::{Deserialize, Serialize};

use crate::knowledge::{CanonicalId, Lang};
use crate::retrieve::CanonicalEvidence;

/// When an approved answer is matched, and when the match is sure (`[matching]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSettings {
    /// Each candidate approved answer scores its cosine similarity plus this weight times its
    /// lexical score (BM25 over phrasings and answer texts, stemmed, divided by the best one):
    /// the embedder and the words the customer used both count.
    pub lexical_weight: f32,
    /// The best-scoring approved answer is matched (put in the prompt as the reference, sent when
    /// the draft disagrees) when its closest phrasing is at least this similar to the question.
    pub min_similarity: f32,
    /// A match is sure, and is sent without staff, only on agreeing evidence: at least this
    /// similar (per language)...
    pub sure_min_similarity_pl: f32,
    pub sure_min_similarity_en: f32,
    /// ...leading the next approved answer by at least this much score...
    pub sure_min_margin: f32,
    /// ...and ranked first by the lexical search too (BM25 over the phrasings and answer texts,
    /// stemmed), when this is true.
    pub sure_lexical_agreement: bool,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            lexical_weight: 0.0,
            min_similarity: 0.6,
            sure_min_similarity_pl: 0.6,
            sure_min_similarity_en: 0.6,
            sure_min_margin: 0.0,
            sure_lexical_agreement: false,
        }
    }
}

impl MatchSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("matching.min_similarity", self.min_similarity),
            (
                "matching.sure_min_similarity_pl",
                self.sure_min_similarity_pl,
            ),
            (
                "matching.sure_min_similarity_en",
                self.sure_min_similarity_en,
            ),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err((key, format!("must be between -1 and 1, got {v}")));
            }
        }
        if !(0.0..=10.0).contains(&self.lexical_weight) {
            return Err((
                "matching.lexical_weight",
                format!("must be between 0 and 10, got {}", self.lexical_weight),
            ));
        }
        if !(0.0..=2.0).contains(&self.sure_min_margin) {
            return Err((
                "matching.sure_min_margin",
                format!("must be between 0 and 2, got {}", self.sure_min_margin),
            ));
        }
        Ok(())
    }

    /// The similarity at which a match can be sure, for `lang`.
    pub fn sure_min_similarity(&self, lang: Lang) -> f32 {
        match lang {
            Lang::Pl => self.sure_min_similarity_pl,
            Lang::En => self.sure_min_similarity_en,
        }
    }
}

/// What the match was decided on, kept with the turn for staff and the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEvidence {
    /// Cosine similarity of the question to the matched answer's closest phrasing.
    pub similarity: f32,
    /// Its lexical score relative to the best one (1 when the lexical search ranks it first).
    pub lexical: f32,
    /// The next approved answer by score and how far behind it is.
    pub runner_up: Option<CanonicalId>,
    pub margin: Option<f32>,
    /// The approved answer the lexical search ranks first, and whether it is the matched one.
    pub lexical_top: Option<CanonicalId>,
    pub lexical_agrees: bool,
    /// Sent without staff: every condition of [`MatchSettings`] held.
    pub sure: bool,
    /// Every candidate weighed, best first: (answer, cosine, relative lexical score).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<(CanonicalId, f32, f32)>,
    /// The first condition that failed, when not sure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
}

/// The decision: the matched answer's position in `index.canonicals` and the evidence, or none
/// when the best-scoring answer is below `min_similarity` (or there is no dense side).
pub fn decide(
    evidence: &CanonicalEvidence,
    id_of: impl Fn(u32) -> Option<CanonicalId>,
    lang: Lang,
    settings: &MatchSettings,
) -> Option<(u32, MatchEvidence)> {
    // A candidate is any answer either side reports; a side that did not report it gives it
    // its lowest reported score (dense) or nothing (lexical).
    let floor = evidence.dense.last()?.1;
    let best_lexical = evidence.lexical.first().map_or(0.0, |&(_, s)| s);
    let lexical_of = |ord: u32| {
        evidence
            .lexical
            .iter()
            .find(|&&(o, _)| o == ord)
            .map_or(0.0, |&(_, s)| {
                if best_lexical > 0.0 {
                    s / best_lexical
                } else {
                    0.0
                }
            })
    };
    let cosine_of = |ord: u32| {
        evidence
            .dense
            .iter()
            .find(|&&(o, _)| o == ord)
            .map_or(floor, |&(_, s)| s)
    };
    let mut scored: Vec<(u32, f32)> = evidence
        .dense
        .iter()
        .map(|&(o, _)| o)
        .chain(evidence.lexical.iter().map(|&(o, _)| o))
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .map(|o| (o, cosine_of(o) + settings.lexical_weight * lexical_of(o)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let &(ord, score) = scored.first()?;
    let similarity = cosine_of(ord);
    if similarity < settings.min_similarity {
        return None;
    }
    let runner_up = scored.get(1);
    let margin = runner_up.map(|&(_, s)| score - s);
    let lexical_top = evidence.lexical.first().map(|&(o, _)| o);
    let lexical_agrees = lexical_top == Some(ord);
    let sure_at = settings.sure_min_similarity(lang);
    let doubt = if similarity < sure_at {
        Some(format!("similarity {similarity:.3} < {sure_at:.3}"))
    } else if margin.is_some_and(|m| m < settings.sure_min_margin) {
        Some(format!(
            "margin {:.3} over the next approved answer < {:.3}",
            margin.unwrap_or(0.0),
            settings.sure_min_margin
        ))
    } else if settings.sure_lexical_agreement && !lexical_agrees {
        Some("the lexical search ranks another approved answer first".to_string())
    } else {
        None
    };
    Some((
        ord,
        MatchEvidence {
            similarity,
            lexical: lexical_of(ord),
            runner_up: runner_up.and_then(|&(o, _)| id_of(o)),
            margin,
            lexical_top: lexical_top.and_then(&id_of),
            lexical_agrees,
            sure: doubt.is_none(),
            candidates: scored
                .iter()
                .filter_map(|&(o, _)| Some((id_of(o)?, cosine_of(o), lexical_of(o))))
                .collect(),
            doubt,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MatchSettings {
        MatchSettings {
            lexical_weight: 0.0,
            min_similarity: 0.8,
            sure_min_similarity_pl: 0.86,
            sure_min_similarity_en: 0.85,
            sure_min_margin: 0.02,
            sure_lexical_agreement: true,
        }
    }

    fn ev(dense: &[(u32, f32)], lexical: &[u32]) -> CanonicalEvidence {
        CanonicalEvidence {
            dense: dense.to_vec(),
            lexical: lexical.iter().map(|&o| (o, 1.0)).collect(),
        }
    }

    fn id(o: u32) -> Option<CanonicalId> {
        Some(CanonicalId(format!("c{o}")))
    }

    #[test]
    fn sure_only_when_every_piece_of_evidence_agrees() {
        let s = settings();
        let (ord, e) = decide(&ev(&[(1, 0.9), (2, 0.85)], &[1]), id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 1);
        assert!(e.sure && e.lexical_agrees && e.doubt.is_none());
        assert_eq!(e.runner_up, id(2));
        // The lexical side prefers another answer: matched, not sure.
        let (_, e) = decide(&ev(&[(1, 0.9), (2, 0.85)], &[2]), id, Lang::Pl, &s).unwrap();
        assert!(!e.sure && e.doubt.unwrap().contains("lexical"));
        // Too close to the runner-up.
        let (_, e) = decide(&ev(&[(1, 0.9), (2, 0.89)], &[1]), id, Lang::Pl, &s).unwrap();
        assert!(!e.sure && e.doubt.unwrap().contains("margin"));
        // Below the per-language bar.
        let (_, e) = decide(&ev(&[(1, 0.855), (2, 0.8)], &[1]), id, Lang::Pl, &s).unwrap();
        assert!(!e.sure);
        let (_, e) = decide(&ev(&[(1, 0.855), (2, 0.8)], &[1]), id, Lang::En, &s).unwrap();
        assert!(e.sure);
    }

    #[test]
    fn nothing_matches_below_the_floor_or_without_a_dense_side() {
        let s = settings();
        assert!(decide(&ev(&[(1, 0.79)], &[1]), id, Lang::Pl, &s).is_none());
        assert!(decide(&ev(&[], &[1]), id, Lang::Pl, &s).is_none());
    }

    #[test]
    fn settings_are_checked() {
        let mut s = settings();
        s.sure_min_margin = -0.1;
        assert_eq!(s.validate().unwrap_err().0, "matching.sure_min_margin");
        let mut s = settings();
        s.min_similarity = 1.5;
        assert_eq!(s.validate().unwrap_err().0, "matching.min_similarity");
    }
}
