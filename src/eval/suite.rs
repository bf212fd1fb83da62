//! Evaluation suites: a TOML file in `eval/` naming a knowledge source, labelled queries, optional
//! checker pairs, an audit list and the thresholds of `--gate`; parsed and validated before any model loads.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::knowledge::Lang;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What the customer should get for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// An answer is sent (the approved answer or a checked draft).
    Answer,
    /// The conversation goes to a person.
    Handoff,
    /// Nothing in the knowledge base answers it: the assistant must not send an answer (a held
    /// draft also counts, since staff decide before anything is sent).
    NoAnswer,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Answer => "answer",
            Expect::Handoff => "handoff",
            Expect::NoAnswer => "no_answer",
        }
    }
}

/// One labelled question, read from the suite's queries file. Third-party files
/// (`{id, question, relevant_ids, answer}`) read as they are: their relevant ids are then the
/// expected approved answers when the suite's passages are answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteQuery {
    pub id: String,
    pub question: String,
    /// The customer's language (else the suite's `lang`, else detected).
    #[serde(default)]
    pub lang: Option<Lang>,
    /// Default: `answer` when an approved answer is expected, else `no_answer`.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// The approved answer that answers it.
    #[serde(default)]
    pub canonical: Option<String>,
    /// Other approved answers that would be right too (several questions in one message).
    #[serde(default)]
    pub accept: Vec<String>,
    /// Articles (passages) that answer it; default: the sources of the expected approved answers.
    #[serde(default)]
    pub relevant_ids: Vec<String>,
    /// Kinds of message (`typo`, `angry`...); a single string is one tag (Bitext's `"BIL"`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub tags: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Tags::deserialize(d)? {
        Tags::One(s) if s.trim().is_empty() => Vec::new(),
        Tags::One(s) => vec![s],
        Tags::Many(v) => v,
    })
}

impl SuiteQuery {
    /// The expected outcome, defaults applied.
    pub fn expected(&self) -> Expect {
        self.expect.unwrap_or(if self.canonical.is_some() {
            Expect::Answer
        } else {
            Expect::NoAnswer
        })
    }

    /// Every approved answer that is a right match, the expected one first.
    pub fn acceptable(&self) -> Vec<&str> {
        self.canonical
            .iter()
            .chain(&self.accept)
            .map(String::as_str)
            .collect()
    }
}

/// A metric's bound in `[thresholds]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// The suite file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    /// A `knowledge/` directory or a JSONL file of passages, relative to the suite file.
    knowledge: Option<PathBuf>,
    /// A JSONL knowledge base's passages are also approved answers.
    #[serde(default)]
    passages_are_answers: bool,
    queries: Option<PathBuf>,
    pairs: Option<PathBuf>,
    audit: Option<PathBuf>,
    /// Language of queries that do not say theirs.
    lang: Option<Lang>,
    /// Queries used when the command gives no `--limit` (large third-party sets).
    limit: Option<usize>,
    #[serde(default)]
    thresholds: BTreeMap<String, Bound>,
    #[serde(default)]
    ratchet: BTreeMap<String, Bound>,
}

/// Where the suite's knowledge comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SuiteKnowledge {
    Dir(PathBuf),
    Jsonl { path: PathBuf, answers: bool },
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    pub knowledge: Option<SuiteKnowledge>,
    pub queries: Vec<SuiteQuery>,
    pub queries_file: Option<PathBuf>,
    pub pairs: Option<PathBuf>,
    pub audit: Option<PathBuf>,
    pub default_limit: Option<usize>,
    pub thresholds: BTreeMap<String, Bound>,
    /// Today's measured figures as bounds (`--ratchet`): what CI holds the suite to until the
    /// targets in `thresholds` are met; a bound only ever tightens.
    pub ratchet: BTreeMap<String, Bound>,
}

/// Metrics a threshold may name: paths into `report.json`.
pub const GATED_METRICS: &[&str] = &[
    "retrieval.ndcg@10",
    "retrieval.recall@1",
    "retrieval.recall@5",
    "retrieval.recall@10",
    "retrieval.mrr@10",
    "retrieval.canonical_accuracy",
    "decision_accuracy",
    "contradictions_sent",
    "wrong_answers_sent",
    "answers_sent_unanswerable",
    "streamed_withdrawn",
    "canary_leaks",
    "handoff_precision",
    "handoff_recall",
    "draft_agreement",
    "draft_consistent",
    "draft_answered",
    "checker.f1",
    "checker.precision",
    "checker.recall",
    "checker.knowledge_precision",
    "checker.knowledge_recall",
    "checker.knowledge_f1",
    "latency_ms.p50",
    "latency_ms.p95",
    "latency_ms.p99",
    "first_visible_ms.p50",
    "first_visible_ms.p95",
    "gen_tok_s",
];

impl Suite {
    /// Reads `path`: a suite file, or a directory holding `suite.toml`.
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let file = if path.is_dir() {
            path.join("suite.toml")
        } else {
            path.to_path_buf()
        };
        let text = fs_err::read_to_string(&file).map_err(|source| SuiteError::Io {
            path: file.clone(),
            source,
        })?;
        let invalid = |message: String| SuiteError::Invalid {
            path: file.clone(),
            message,
        };
        let raw: SuiteFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |p: &PathBuf| -> Result<PathBuf, SuiteError> {
            let full = base.join(p);
            if full.exists() {
                Ok(full)
            } else {
                Err(invalid(format!(
                    "{} does not exist (paths are relative to the suite file)",
                    full.display()
                )))
            }
        };
        let knowledge = match &raw.knowledge {
            None => None,
            Some(p) => {
                let full = resolve(p)?;
                Some(if full.is_dir() {
                    if raw.passages_are_answers {
                        return Err(invalid(
                            "passages_are_answers applies to a JSONL knowledge base, not to a \
                             knowledge directory"
                                .into(),
                        ));
                    }
                    SuiteKnowledge::Dir(full)
                } else {
                    SuiteKnowledge::Jsonl {
                        path: full,
                        answers: raw.passages_are_answers,
                    }
                })
            }
        };
        let queries_file = raw.queries.as_ref().map(resolve).transpose()?;
        let pairs = raw.pairs.as_ref().map(resolve).transpose()?;
        let audit = raw.audit.as_ref().map(resolve).transpose()?;
        if queries_file.is_some() && knowledge.is_none() {
            return Err(invalid(
                "queries need a knowledge source (`knowledge = ...`)".into(),
            ));
        }
        if queries_file.is_none() && pairs.is_none() {
            return Err(invalid(
                "a suite needs queries, checker pairs, or both".into(),
            ));
        }
        for (name, bound) in raw.thresholds.iter().chain(&raw.ratchet) {
            if !GATED_METRICS.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "threshold on unknown metric `{name}` (known: {})",
                    GATED_METRICS.join(", ")
                )));
            }
            if bound.min.is_none() && bound.max.is_none() {
                return Err(invalid(format!(
                    "threshold `{name}` has neither min nor max"
                )));
            }
        }
        if raw.limit == Some(0) {
            return Err(invalid("limit must be at least 1".into()));
        }
        let mut queries = match &queries_file {
            Some(f) => load_suite_queries(f)?,
            None => Vec::new(),
        };
        let answers_from_passages =
            matches!(knowledge, Some(SuiteKnowledge::Jsonl { answers: true, .. }));
        for q in &mut queries {
            if q.lang.is_none() {
                q.lang = raw.lang;
            }
            // A FAQ export: the passage that answers is the approved answer expected.
            if answers_from_passages && q.canonical.is_none() && !q.relevant_ids.is_empty() {
                q.canonical = Some(q.relevant_ids[0].clone());
                q.accept = q.relevant_ids[1..].to_vec();
            }
        }
        let name = raw.name.unwrap_or_else(|| {
            base.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "suite".into())
        });
        Ok(Suite {
            name,
            description: raw.description,
            file,
            knowledge,
            queries,
            queries_file,
            pairs,
            audit,
            default_limit: raw.limit,
            thresholds: raw.thresholds,
            ratchet: raw.ratchet,
        })
    }
}

/// Reads a queries file; a bad line is an error naming it, duplicate ids too.
pub fn load_suite_queries(path: &Path) -> Result<Vec<SuiteQuery>, SuiteError> {
    let text = fs_err::read_to_string(path).map_err(|source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out: Vec<SuiteQuery> = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| SuiteError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let q: SuiteQuery = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        if q.question.trim().is_empty() {
            return Err(err("the question is empty".into()));
        }
        if q.expect == Some(Expect::NoAnswer) && q.canonical.is_some() {
            return Err(err(
                "a query expecting no_answer cannot name an approved answer".into(),
            ));
        }
        if !ids.insert(q.id.clone()) {
            return Err(err(format!("query id `{}` is used twice", q.id)));
        }
        out.push(q);
    }
    if out.is_empty() {
        return Err(SuiteError::Invalid {
            path: path.to_path_buf(),
            message: "the file holds no queries".into(),
        });
    }
    Ok(out)
}

/// `n` items spread evenly over `items` (all of them when `n` is at least their number), in their
/// order: a subset that keeps the mix of a file sorted by topic.
pub fn spread<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    if n >= items.len() {
        return items.to_vec();
    }
    (0..n).map(|i| items[i * items.len() / n].clone()).collect()
}

/// `n` queries stratified by language and kind of message: the queries are grouped by
/// (language, first tag), and the groups are taken round-robin (each group's queries spread over
/// it), so that every kind in every language is in a subset as soon as `n` allows. In file order.
pub fn stratified(queries: &[SuiteQuery], n: usize) -> Vec<SuiteQuery> {
    if n >= queries.len() {
        return queries.to_vec();
    }
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, q) in queries.iter().enumerate() {
        let lang = q
            .lang
            .map_or_else(|| "-".to_string(), |l| l.as_str().to_string());
        let tag = q.tags.first().cloned().unwrap_or_else(|| "plain".into());
        groups.entry((lang, tag)).or_default().push(i);
    }
    // Each group in spread order: its 1st pick is its first query, then the middle, and so on.
    let orders: Vec<Vec<usize>> = groups
        .into_values()
        .map(|g| {
            let mut order = Vec::with_capacity(g.len());
            for k in 1..=g.len() {
                for i in spread(&g, k) {
                    if !order.contains(&i) {
                        order.push(i);
                    }
                }
            }
            order
        })
        .collect();
    let mut picked = Vec::with_capacity(n);
    let mut round = 0;
    while picked.len() < n {
        for order in &orders {
            if let Some(&i) = order.get(round) {
                if picked.len() < n {
                    picked.push(i);
                }
            }
        }
        round += 1;
    }
    picked.sort_unstable();
    picked.into_iter().map(|i| queries[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stratified_subset_has_every_kind_in_every_language() {
        let q = |id: usize, lang: Lang, tag: &str| SuiteQuery {
            id: format!("q{id}"),
            question: "?".into(),
            lang: Some(lang),
            expect: None,
            canonical: None,
            accept: vec![],
            relevant_ids: vec![],
            tags: vec![tag.into()],
        };
        let mut all = Vec::new();
        for i in 0..40 {
            all.push(q(i, Lang::Pl, "plain"));
        }
        all.push(q(40, Lang::Pl, "typo"));
        all.push(q(41, Lang::En, "injection"));
        for i in 42..60 {
            all.push(q(i, Lang::En, "plain"));
        }
        let s = stratified(&all, 6);
        assert_eq!(s.len(), 6);
        assert!(s.iter().any(|x| x.id == "q40") && s.iter().any(|x| x.id == "q41"));
        let ids: Vec<&str> = s.iter().map(|x| x.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
        assert_eq!(ids, sorted, "file order");
        assert_eq!(stratified(&all, 100).len(), 60);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 6);
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs_err::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_faq_suite_expects_each_querys_passage_as_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "kb.jsonl",
            "{\"id\":\"1\",\"title\":\"\",\"text\":\"Tak.\"}\n",
        );
        write(
            dir.path(),
            "q.jsonl",
            "{\"id\":\"a\",\"question\":\"Czy?\",\"relevant_ids\":[\"1\",\"2\"],\"tags\":\"BIL\"}\n",
        );
        let suite = write(
            dir.path(),
            "s.toml",
            "knowledge = \"kb.jsonl\"\npassages_are_answers = true\nqueries = \"q.jsonl\"\nlang = \"pl\"\n\
             [thresholds]\n\"retrieval.recall@5\" = { min = 0.5 }\n",
        );
        let s = Suite::load(&suite).unwrap();
        let q = &s.queries[0];
        assert_eq!(q.canonical.as_deref(), Some("1"));
        assert_eq!(q.accept, vec!["2".to_string()]);
        assert_eq!(q.lang, Some(Lang::Pl));
        assert_eq!(q.expected(), Expect::Answer);
        assert_eq!(q.tags, vec!["BIL".to_string()]);
        assert_eq!(s.thresholds["retrieval.recall@5"].min, Some(0.5));
    }

    #[test]
    fn bad_suites_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "q.jsonl", "{\"id\":\"a\",\"question\":\"x\"}\n");
        write(dir.path(), "kb.jsonl", "{\"id\":\"1\",\"text\":\"t\"}\n");
        let cases = [
            ("queries = \"q.jsonl\"\n", "need a knowledge source"),
            ("knowledge = \"kb.jsonl\"\n", "needs queries, checker pairs"),
            ("knowledge = \"nope\"\nqueries = \"q.jsonl\"\n", "does not exist"),
            (
                "knowledge = \"kb.jsonl\"\nqueries = \"q.jsonl\"\n[thresholds]\nrecal = { min = 1 }\n",
                "unknown metric `recal`",
            ),
            (
                "knowledge = \"kb.jsonl\"\nqueries = \"q.jsonl\"\n[thresholds]\ngen_tok_s = {}\n",
                "neither min nor max",
            ),
            ("knowledge = \"kb.jsonl\"\nquerys = \"q.jsonl\"\n", "unknown field"),
        ];
        for (text, want) in cases {
            let f = write(dir.path(), "s.toml", text);
            let e = Suite::load(&f).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn bad_query_lines_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "{\"id\":\"a\",\"question\":\"x\"}\n{\"id\":\"a\",\"question\":\"y\"}\n",
                ":2: query id `a` is used twice",
            ),
            (
                "\n{\"id\":\"a\",\"question\":\" \"}\n",
                ":2: the question is empty",
            ),
            (
                "{\"id\":\"a\",\"question\":\"x\",\"expect\":\"maybe\"}\n",
                ":1: unknown variant",
            ),
            (
                "{\"id\":\"a\",\"question\":\"x\",\"expect\":\"no_answer\",\"canonical\":\"c\"}\n",
                "cannot name an approved answer",
            ),
            ("\n\n", "holds no queries"),
        ];
        for (text, want) in cases {
            let f = write(dir.path(), "q.jsonl", text);
            let e = load_suite_queries(&f).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn spread_takes_distinct_items_in_order(len in 0usize..300, n in 1usize..400) {
            let items: Vec<usize> = (0..len).collect();
            let got = spread(&items, n);
            prop_assert_eq!(got.len(), n.min(len));
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]));
            if n < len && n > 1 {
                // Spread over the whole list, not bunched at its start.
                prop_assert!(*got.last().unwrap() >= len - len / n - 1);
            }
        }
    }
}
