//! The approved-answer match, decided once per turn: which approved answer the question asks for,
//! and whether the evidence agrees enough to send it without staff (`[matching]`).

use serde::{Deserialize, Serialize};

use crate::knowledge::{CanonicalId, Lang};
use crate::retrieve::CanonicalEvidence;

/// When an approved answer is matched, and when the match is sure (`[matching]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSettings {
    /// Each candidate approved answer scores the cosine similarity of its closest phrasing and
    /// of its text (weighed `answer_weight` to 1, e5 is trained for questions against passages)
    /// plus `lexical_weight` times its BM25 score relative to the best: the embedder and the
    /// words the customer used both count.
    pub answer_weight: f32,
    pub lexical_weight: f32,
    /// The best-scoring approved answer is matched (put in the prompt as the reference, sent when
    /// the draft disagrees) when it scores at least this.
    pub min_score: f32,
    /// A match is sure, and is sent without staff, only on agreeing evidence: at least this
    /// score (per language)...
    pub sure_min_score_pl: f32,
    pub sure_min_score_en: f32,
    /// ...leading the next approved answer by at least this much score...
    pub sure_min_margin: f32,
    /// ...ranked first by the lexical search too (BM25 over the phrasings and answer texts,
    /// stemmed), when this is true...
    pub sure_lexical_agreement: bool,
    /// ...owning the phrasing closest to the question too, when this is true (the text and
    /// the words may not outvote the nearest phrasing)...
    pub sure_phrasing_agreement: bool,
    /// ...with at least this weighed share of the question's terms known to the knowledge base
    /// (a question about the weather borrows nothing from it)...
    pub sure_min_known: f32,
    /// ...and at least this share found in the approved answer's own phrasings and text.
    pub sure_min_coverage: f32,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            answer_weight: 0.0,
            lexical_weight: 0.0,
            min_score: 0.6,
            sure_min_score_pl: 0.6,
            sure_min_score_en: 0.6,
            sure_min_margin: 0.0,
            sure_lexical_agreement: false,
            sure_phrasing_agreement: false,
            sure_min_known: 0.0,
            sure_min_coverage: 0.0,
        }
    }
}

impl MatchSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v, range) in [
            ("matching.min_score", self.min_score, -1.0..=12.0),
            (
                "matching.sure_min_score_pl",
                self.sure_min_score_pl,
                -1.0..=12.0,
            ),
            (
                "matching.sure_min_score_en",
                self.sure_min_score_en,
                -1.0..=12.0,
            ),
            ("matching.answer_weight", self.answer_weight, 0.0..=10.0),
            ("matching.lexical_weight", self.lexical_weight, 0.0..=10.0),
            ("matching.sure_min_margin", self.sure_min_margin, 0.0..=2.0),
            ("matching.sure_min_known", self.sure_min_known, 0.0..=1.0),
            (
                "matching.sure_min_coverage",
                self.sure_min_coverage,
                0.0..=1.0,
            ),
        ] {
            if !range.contains(&v) {
                return Err((
                    key,
                    format!(
                        "must be between {} and {}, got {v}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The score at which a match can be sure, for `lang`.
    pub fn sure_min_score(&self, lang: Lang) -> f32 {
        match lang {
            Lang::Pl => self.sure_min_score_pl,
            Lang::En => self.sure_min_score_en,
        }
    }

    /// A candidate's score from its evidence.
    fn score(&self, phrasing: f32, answer: f32, lexical: f32) -> f32 {
        (phrasing + self.answer_weight * answer) / (1.0 + self.answer_weight)
            + self.lexical_weight * lexical
    }
}

/// One approved answer weighed for the match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: CanonicalId,
    pub score: f32,
    /// Cosine similarity of the question to its closest phrasing and to its text.
    pub phrasing: f32,
    pub answer: f32,
    /// Its BM25 score relative to the best one (1 when the lexical search ranks it first).
    pub lexical: f32,
    /// The weighed share of the question's terms found in its phrasings and text.
    pub coverage: f32,
}

/// What the match was decided on, kept with the turn for staff and the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEvidence {
    /// The matched answer's score, and the cosine similarity of its closest phrasing.
    pub score: f32,
    pub similarity: f32,
    /// Its lexical score relative to the best one (1 when the lexical search ranks it first).
    pub lexical: f32,
    /// The weighed share of the question's terms in the matched answer, and in the knowledge base.
    pub coverage: f32,
    pub known: f32,
    /// The next approved answer by score and how far behind it is.
    pub runner_up: Option<CanonicalId>,
    pub margin: Option<f32>,
    /// The approved answer the lexical search ranks first, and whether it is the matched one.
    pub lexical_top: Option<CanonicalId>,
    pub lexical_agrees: bool,
    /// Sent without staff: every condition of [`MatchSettings`] held.
    pub sure: bool,
    /// The best candidates weighed, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// The first condition that failed, when not sure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
}

/// Candidates kept in the evidence for staff and the evaluation.
const KEPT: usize = 10;

/// Every approved answer the dense side weighs, scored and best first (the lexical side only
/// adds to them).
fn rank(
    evidence: &CanonicalEvidence,
    id_of: &impl Fn(u32) -> Option<CanonicalId>,
    settings: &MatchSettings,
) -> Vec<(u32, Candidate)> {
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
    let side = |list: &[(u32, f32)], ord: u32, or: f32| {
        list.iter()
            .find(|&&(o, _)| o == ord)
            .map_or(or, |&(_, s)| s)
    };
    let mut scored: Vec<(u32, Candidate)> = evidence
        .dense
        .iter()
        .filter_map(|&(ord, phrasing)| {
            let answer = side(&evidence.answer, ord, phrasing);
            let lexical = lexical_of(ord);
            Some((
                ord,
                Candidate {
                    id: id_of(ord)?,
                    score: settings.score(phrasing, answer, lexical),
                    phrasing,
                    answer,
                    lexical,
                    coverage: side(&evidence.coverage, ord, 0.0),
                },
            ))
        })
        .collect();
    scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    scored
}

/// The best-scoring approved answer whatever its score: when nothing is matched, a draft from
/// the passages must still not contradict it.
pub fn nearest(evidence: &CanonicalEvidence, settings: &MatchSettings) -> Option<u32> {
    rank(evidence, &|o| Some(CanonicalId(o.to_string())), settings)
        .first()
        .map(|&(o, _)| o)
}

/// The decision: the matched answer's position in `index.canonicals` and the evidence, or none
/// when the best-scoring answer is below `min_score` (or there is no dense side).
pub fn decide(
    evidence: &CanonicalEvidence,
    id_of: impl Fn(u32) -> Option<CanonicalId>,
    lang: Lang,
    settings: &MatchSettings,
) -> Option<(u32, MatchEvidence)> {
    let scored = rank(evidence, &id_of, settings);
    let (ord, best) = scored.first()?.clone();
    if best.score < settings.min_score {
        return None;
    }
    let runner_up = scored.get(1);
    let margin = runner_up.map(|(_, c)| best.score - c.score);
    let lexical_top = evidence.lexical.first().map(|&(o, _)| o);
    let lexical_agrees = lexical_top == Some(ord);
    let sure_at = settings.sure_min_score(lang);
    let doubt = if best.score < sure_at {
        Some(format!("score {:.3} < {sure_at:.3}", best.score))
    } else if margin.is_some_and(|m| m < settings.sure_min_margin) {
        Some(format!(
            "margin {:.3} over the next approved answer < {:.3}",
            margin.unwrap_or(0.0),
            settings.sure_min_margin
        ))
    } else if settings.sure_lexical_agreement && !lexical_agrees {
        Some("the lexical search ranks another approved answer first".to_string())
    } else if settings.sure_phrasing_agreement
        && evidence.dense.first().is_some_and(|&(o, _)| o != ord)
    {
        Some("another approved answer has the phrasing closest to the question".to_string())
    } else if evidence.known < settings.sure_min_known {
        Some(format!(
            "the knowledge base uses {:.2} of the question's terms < {:.2}",
            evidence.known, settings.sure_min_known
        ))
    } else if best.coverage < settings.sure_min_coverage {
        Some(format!(
            "the approved answer uses {:.2} of the question's terms < {:.2}",
            best.coverage, settings.sure_min_coverage
        ))
    } else {
        None
    };
    Some((
        ord,
        MatchEvidence {
            score: best.score,
            similarity: best.phrasing,
            lexical: best.lexical,
            coverage: best.coverage,
            known: evidence.known,
            runner_up: runner_up.map(|(_, c)| c.id.clone()),
            margin,
            lexical_top: lexical_top.and_then(&id_of),
            lexical_agrees,
            sure: doubt.is_none(),
            candidates: scored.into_iter().take(KEPT).map(|(_, c)| c).collect(),
            doubt,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MatchSettings {
        MatchSettings {
            answer_weight: 0.0,
            lexical_weight: 0.0,
            min_score: 0.8,
            sure_min_score_pl: 0.86,
            sure_min_score_en: 0.85,
            sure_min_margin: 0.02,
            sure_lexical_agreement: true,
            sure_phrasing_agreement: false,
            sure_min_known: 0.5,
            sure_min_coverage: 0.2,
        }
    }

    fn ev(dense: &[(u32, f32)], lexical: &[u32]) -> CanonicalEvidence {
        CanonicalEvidence {
            dense: dense.to_vec(),
            answer: dense.to_vec(),
            lexical: lexical.iter().map(|&o| (o, 1.0)).collect(),
            coverage: dense.iter().map(|&(o, _)| (o, 0.5)).collect(),
            known: 0.9,
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
        // A question the knowledge base does not speak about, or the answer does not cover.
        let mut unknown = ev(&[(1, 0.9), (2, 0.85)], &[1]);
        unknown.known = 0.3;
        let (_, e) = decide(&unknown, id, Lang::Pl, &s).unwrap();
        assert!(!e.sure && e.doubt.unwrap().contains("knowledge base"));
        let mut uncovered = ev(&[(1, 0.9), (2, 0.85)], &[1]);
        uncovered.coverage = vec![(1, 0.1), (2, 0.9)];
        let (_, e) = decide(&uncovered, id, Lang::Pl, &s).unwrap();
        assert!(!e.sure && e.doubt.unwrap().contains("approved answer uses"));
    }

    #[test]
    fn the_answer_text_and_the_words_used_move_the_ranking() {
        let mut s = settings();
        // By phrasings alone 1 leads; its text fits the question worse than 2's.
        let mut e = ev(&[(1, 0.90), (2, 0.89)], &[2]);
        e.answer = vec![(1, 0.80), (2, 0.86)];
        assert_eq!(decide(&e, id, Lang::Pl, &s).unwrap().0, 1);
        s.answer_weight = 1.0;
        let (ord, m) = decide(&e, id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 2);
        assert!((m.score - 0.875).abs() < 1e-6 && (m.similarity - 0.89).abs() < 1e-6);
        // BM25 alone can tip a tie.
        let mut e = ev(&[(1, 0.90), (2, 0.90)], &[2]);
        e.lexical = vec![(2, 4.0), (1, 2.0)];
        s.lexical_weight = 0.1;
        let (ord, m) = decide(&e, id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 2);
        assert_eq!(m.candidates[1].lexical, 0.5);
    }

    #[test]
    fn the_nearest_phrasing_can_be_required_to_agree() {
        let mut s = settings();
        s.answer_weight = 1.0;
        s.sure_min_margin = 0.0;
        s.sure_lexical_agreement = false;
        // 1 has the closest phrasing; 2's text and words put it first.
        let mut e = ev(&[(1, 0.95), (2, 0.92)], &[2]);
        e.answer = vec![(1, 0.85), (2, 0.92)];
        let (ord, m) = decide(&e, id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 2);
        assert!(m.sure);
        s.sure_phrasing_agreement = true;
        let (ord, m) = decide(&e, id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 2);
        assert!(!m.sure && m.doubt.unwrap().contains("closest"));
        // When the nearest phrasing is the matched answer's, nothing changes.
        let (ord, m) = decide(&ev(&[(1, 0.95), (2, 0.9)], &[1]), id, Lang::Pl, &s).unwrap();
        assert_eq!(ord, 1);
        assert!(m.sure);
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
        s.min_score = 15.0;
        assert_eq!(s.validate().unwrap_err().0, "matching.min_score");
        let mut s = settings();
        s.sure_min_known = 1.5;
        assert_eq!(s.validate().unwrap_err().0, "matching.sure_min_known");
    }
}
