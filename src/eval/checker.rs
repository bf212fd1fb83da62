//! The checker measured on labelled pairs (`{premise, canonical_answer, hypothesis, label}`):
//! precision, recall and F1 of flagging, overall and per finding kind, checked against the
//! approved answer and, separately, against the knowledge text.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::check::{check, CheckInput, CheckSettings, FindingKind, Status};

use super::metrics::ratio;
use super::EvalError;

/// One labelled pair.
#[derive(Debug, Clone, Deserialize)]
pub struct Pair {
    #[serde(default)]
    pub id: String,
    /// Knowledge text the hypothesis should be grounded in.
    #[serde(default)]
    pub premise: String,
    #[serde(default)]
    pub question: String,
    /// The approved answer.
    pub canonical_answer: String,
    /// The answer to check.
    pub hypothesis: String,
    /// Whether the hypothesis should be flagged.
    pub flag: bool,
}

/// Reads a pairs file. `label` is `consistent`/`faithful`/`correct` (not to be flagged) or
/// `hallucinated`/`contradiction`/`unsupported`/`inconsistent` (to be flagged).
pub fn load_pairs(path: &Path, limit: Option<usize>) -> Result<Vec<Pair>, EvalError> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        id: String,
        #[serde(default)]
        premise: String,
        #[serde(default)]
        question: String,
        canonical_answer: String,
        hypothesis: String,
        label: String,
    }
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs_err::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Query {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let raw: Raw = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let flag = match raw.label.trim().to_ascii_lowercase().as_str() {
            "consistent" | "faithful" | "correct" | "right" | "supported" => false,
            "hallucinated" | "contradiction" | "unsupported" | "inconsistent" | "wrong" => true,
            other => return Err(bad(format!("unknown label `{other}`"))),
        };
        out.push(Pair {
            id: raw.id,
            premise: raw.premise,
            question: raw.question,
            canonical_answer: raw.canonical_answer,
            hypothesis: raw.hypothesis,
            flag,
        });
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    if out.is_empty() {
        return Err(EvalError::NoQueries {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Precision, recall and F1 of one flagging rule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Prf {
    /// Pairs the rule flagged.
    pub flagged: usize,
    pub true_positives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    fn new(flagged: usize, true_positives: usize, positives: usize) -> Prf {
        let precision = ratio(true_positives, flagged);
        let recall = ratio(true_positives, positives);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Prf {
            flagged,
            true_positives,
            precision,
            recall,
            f1,
        }
    }
}

/// The checker's results against one kind of reference.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceReport {
    /// `canonical` (the approved answer) or `knowledge` (the premise as retrieved context).
    pub reference: String,
    pub pairs: usize,
    /// Pairs labelled to be flagged.
    pub positives: usize,
    /// Flagged = any status but consistent (what keeps a draft from being sent).
    pub overall: Prf,
    /// Flagged = contradiction only.
    pub contradiction: Prf,
    pub by_kind: BTreeMap<FindingKind, Prf>,
    pub statuses: BTreeMap<Status, usize>,
    /// Verdicts by label: `confusion["flag"|"pass"][status]` (what the pair should get, what the
    /// checker said).
    pub confusion: BTreeMap<&'static str, BTreeMap<Status, usize>>,
    pub checks_per_s: f64,
    /// Pairs labelled consistent whose hypothesis is the reference word for word: left out, as
    /// they measure nothing (HaluEval's right answers against the approved answer).
    pub verbatim_skipped: usize,
    /// Pairs labelled consistent that were checked: without any, precision means nothing.
    pub negatives: usize,
    /// The checker's mistakes, pair by pair: flagged though labelled consistent, and passed
    /// though labelled to be flagged.
    pub false_flags: Vec<Mistake>,
    pub misses: Vec<Mistake>,
}

/// One pair the checker got wrong, with what it said.
#[derive(Debug, Clone, Serialize)]
pub struct Mistake {
    pub id: String,
    pub status: Status,
    /// The findings' messages.
    pub findings: Vec<String>,
}

/// Checks every pair against `reference` (`canonical` or `knowledge`), with `grounded` texts
/// among the references as the gate adds them (the shop's own name).
pub fn evaluate_pairs(
    pairs: &[Pair],
    against_canonical: bool,
    grounded: &[&str],
    settings: &CheckSettings,
    mut similarity: impl FnMut(&str, &str) -> Option<f32>,
) -> ReferenceReport {
    // A consistent pair whose hypothesis is the approved answer verbatim tests nothing.
    let verbatim = |p: &Pair| {
        against_canonical
            && !p.flag
            && p.hypothesis
                .split_whitespace()
                .eq(p.canonical_answer.split_whitespace())
    };
    let verbatim_skipped = pairs.iter().filter(|p| verbatim(p)).count();
    let pairs: Vec<&Pair> = pairs.iter().filter(|p| !verbatim(p)).collect();
    let positives = pairs.iter().filter(|p| p.flag).count();
    let (mut flagged, mut tp, mut c_flagged, mut c_tp) = (0, 0, 0, 0);
    let mut kinds: BTreeMap<FindingKind, (usize, usize)> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    let mut confusion: BTreeMap<&'static str, BTreeMap<Status, usize>> = BTreeMap::new();
    let mut seconds = 0.0;
    let (mut false_flags, mut misses) = (Vec::new(), Vec::new());
    for &p in &pairs {
        let (canonical, context): (Option<&str>, Vec<&str>) = if against_canonical {
            (Some(p.canonical_answer.as_str()), grounded.to_vec())
        } else {
            let premise = std::iter::once(p.premise.as_str());
            (None, premise.chain(grounded.iter().copied()).collect())
        };
        let sim = if against_canonical {
            similarity(&p.hypothesis, &p.canonical_answer)
        } else {
            None
        };
        let t = std::time::Instant::now();
        let v = check(
            &CheckInput {
                draft: &p.hypothesis,
                canonical,
                context: &context,
                similarity: sim,
                focus: None,
                question: None,
            },
            settings,
        );
        seconds += t.elapsed().as_secs_f64();
        *statuses.entry(v.status).or_insert(0) += 1;
        *confusion
            .entry(if p.flag { "flag" } else { "pass" })
            .or_default()
            .entry(v.status)
            .or_insert(0) += 1;
        let is_flagged = v.status != Status::Consistent;
        if is_flagged != p.flag {
            let mistake = Mistake {
                id: p.id.clone(),
                status: v.status,
                findings: v.findings.iter().map(|f| f.message.clone()).collect(),
            };
            if is_flagged {
                false_flags.push(mistake);
            } else {
                misses.push(mistake);
            }
        }
        flagged += usize::from(is_flagged);
        tp += usize::from(is_flagged && p.flag);
        let is_contra = v.status == Status::Contradiction;
        c_flagged += usize::from(is_contra);
        c_tp += usize::from(is_contra && p.flag);
        let mut seen: Vec<FindingKind> = v.findings.iter().map(|f| f.kind).collect();
        seen.sort();
        seen.dedup();
        for k in seen {
            let e = kinds.entry(k).or_insert((0, 0));
            e.0 += 1;
            e.1 += usize::from(p.flag);
        }
    }
    ReferenceReport {
        reference: if against_canonical {
            "canonical"
        } else {
            "knowledge"
        }
        .to_string(),
        pairs: pairs.len(),
        positives,
        overall: Prf::new(flagged, tp, positives),
        contradiction: Prf::new(c_flagged, c_tp, positives),
        by_kind: kinds
            .into_iter()
            .map(|(k, (f, t))| (k, Prf::new(f, t, positives)))
            .collect(),
        statuses,
        confusion,
        checks_per_s: if seconds > 0.0 {
            pairs.len() as f64 / seconds
        } else {
            0.0
        },
        verbatim_skipped,
        negatives: pairs.len() - positives,
        false_flags,
        misses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_is_computed_from_counts() {
        let p = Prf::new(4, 3, 6);
        assert!((p.precision - 0.75).abs() < 1e-9);
        assert!((p.recall - 0.5).abs() < 1e-9);
        assert!((p.f1 - 0.6).abs() < 1e-9);
        let z = Prf::new(0, 0, 5);
        assert_eq!((z.precision, z.recall, z.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn pairs_files_with_unknown_labels_or_bad_json_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        fs_err::write(
            &path,
            "{\"canonical_answer\":\"a\",\"hypothesis\":\"b\",\"label\":\"consistent\"}\n{\"canonical_answer\":\"a\",\"hypothesis\":\"b\",\"label\":\"maybe\"}\n",
        )
        .unwrap();
        let e = load_pairs(&path, None).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("maybe"), "{e}");
        fs_err::write(&path, "{not json\n").unwrap();
        assert!(load_pairs(&path, None)
            .unwrap_err()
            .to_string()
            .contains(":1:"));
        fs_err::write(&path, "\n").unwrap();
        assert!(load_pairs(&path, None).is_err());
    }

    #[test]
    fn a_changed_amount_is_flagged_against_both_references() {
        let pairs = vec![
            Pair {
                id: "1".into(),
                premise: "Delivery to a parcel locker costs 12.99 zł.".into(),
                question: String::new(),
                canonical_answer: "Parcel locker delivery costs 12.99 zł.".into(),
                hypothesis: "Parcel locker delivery costs 15.99 zł.".into(),
                flag: true,
            },
            Pair {
                id: "2".into(),
                premise: "Delivery to a parcel locker costs 12.99 zł.".into(),
                question: String::new(),
                canonical_answer: "Parcel locker delivery costs 12.99 zł.".into(),
                hypothesis: "It costs 12.99 zł to deliver to a parcel locker.".into(),
                flag: false,
            },
        ];
        for against_canonical in [true, false] {
            let r = evaluate_pairs(
                &pairs,
                against_canonical,
                &[],
                &CheckSettings::default(),
                |_, _| None,
            );
            assert_eq!(r.overall.true_positives, 1, "{}", r.reference);
            assert_eq!(r.overall.flagged, 1, "{}", r.reference);
            assert!(
                r.by_kind.contains_key(&FindingKind::ValueMismatch),
                "{:?}",
                r.by_kind
            );
        }
    }
}
