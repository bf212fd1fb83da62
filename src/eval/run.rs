//! `concord eval run`: every query of a suite through the whole gate as the server runs it, one
//! record per query, and the pure summary of those records into the suite's report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use super::checker::ReferenceReport;
use super::metrics::{mrr_at, ndcg_at, percentile, ratio, recall_at};
use super::suite::{Expect, SuiteQuery};
use std::sync::Arc;

use crate::assistant::{Action, Assistant, MatchedCanonical, Provenance, TurnEvent, TurnRequest};
use crate::check::{check, CheckInput, Status};
use crate::knowledge::{detect_lang, Lang};
use crate::retrieve::RetrievalMode;

/// The version of `report.json`'s layout.
pub const REPORT_VERSION: u32 = 1;

/// Cut-offs of the recall curves.
pub const CURVE_K: usize = 10;

/// What happened to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    pub id: String,
    pub lang: Lang,
    pub question: String,
    pub tags: Vec<String>,
    pub expect: Expect,
    /// Approved answers that are right matches (the expected one first).
    pub acceptable: Vec<String>,
    /// Articles that answer it (empty: no retrieval metric for this query).
    pub relevant: Vec<String>,
    /// Top distinct articles per retrieval mode (`bm25`, `dense`, `hybrid`), best first.
    pub ranked: BTreeMap<String, Vec<String>>,
    /// The approved answer the gate's matching picks (above the threshold), with its similarity.
    pub matched: Option<String>,
    pub matched_similarity: Option<f32>,
    /// A message of several questions: every approved answer matched, in the message's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_parts: Vec<String>,
    /// What the match was decided on (similarity, margin, lexical agreement, sure or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_evidence: Option<crate::assistant::MatchEvidence>,
    /// Cosine similarity of the question to the best retrieved passage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_similarity: Option<f32>,
    pub action: Action,
    pub provenance: Provenance,
    /// Reason codes of the decision and the triage signals that fired.
    pub reasons: Vec<String>,
    pub signals: Vec<String>,
    /// The text the customer got.
    pub reply: String,
    pub draft: Option<String>,
    /// The gate's verdict on its draft, with its findings described.
    pub verdict: Option<Status>,
    pub findings: Vec<String>,
    /// Articles the draft was written from.
    pub sources: Vec<String>,
    /// A sent text checked against the expected approved answer.
    pub sent_check: Option<Status>,
    /// The draft checked against the expected approved answer and its passages.
    pub draft_check: Option<Status>,
    pub model: String,
    /// The model's first token (approximately: stages before drafting plus its own).
    pub ttft_ms: Option<f64>,
    /// The text the customer read before the final reply (the turn's released text).
    #[serde(default)]
    pub streamed: String,
    /// From the question to the first text on the customer's screen: the first released text,
    /// else the final reply.
    #[serde(default)]
    pub first_visible_ms: f64,
    /// The instructions' marker (`prompts.canary`) is in what the customer saw.
    #[serde(default)]
    pub canary_leak: bool,
    /// ... or in the draft (never shown or sent: the gate refuses it).
    #[serde(default)]
    pub canary_in_draft: bool,
    pub total_ms: f64,
    pub generated_tokens: usize,
    /// Generation time after the first token.
    pub decode_ms: f64,
    /// Tokens of the draft's prompt, and those reused from the cache of prompt pieces.
    #[serde(default)]
    pub prompt_tokens: usize,
    #[serde(default)]
    pub cached_tokens: usize,
}

impl QueryRecord {
    /// The gate's decision is the one the label asks for.
    pub fn decision_ok(&self) -> bool {
        match self.expect {
            Expect::Answer => self.sent(),
            Expect::Handoff => self.action == Action::Handoff,
            Expect::NoAnswer => matches!(self.action, Action::NoAnswer | Action::Hold),
        }
    }

    pub fn sent(&self) -> bool {
        matches!(self.action, Action::Send | Action::SendCanonical)
    }

    /// Text was streamed that the final reply does not begin with: the customer read something
    /// that was then withdrawn (the release rule says this never happens).
    pub fn streamed_withdrawn(&self) -> bool {
        !self.streamed.is_empty() && !self.reply.starts_with(&self.streamed)
    }

    /// The match picked an acceptable approved answer (`None`: none is expected).
    pub fn canonical_ok(&self) -> Option<bool> {
        if self.acceptable.is_empty() {
            return None;
        }
        Some(
            self.matched
                .as_ref()
                .is_some_and(|m| self.acceptable.contains(m)),
        )
    }

    /// Sent while matched to an approved answer that is not a right one (for a message of
    /// several questions, any of its answers).
    pub fn wrong_answer_sent(&self) -> bool {
        self.sent()
            && !self.acceptable.is_empty()
            && self
                .matched
                .iter()
                .chain(&self.matched_parts)
                .any(|m| !self.acceptable.contains(m))
    }

    /// How bad the failure is (0 = none), to list the worst first.
    pub fn severity(&self) -> u8 {
        if self.sent_check == Some(Status::Contradiction) {
            5
        } else if self.wrong_answer_sent() {
            4
        } else if self.expect == Expect::NoAnswer && self.sent() {
            3
        } else if !self.decision_ok() {
            2
        } else if self.canonical_ok() == Some(false) {
            1
        } else {
            0
        }
    }

    /// One line saying what went wrong.
    pub fn failure(&self) -> Option<String> {
        Some(match self.severity() {
            5 => "sent a text that contradicts the approved answer".to_string(),
            4 => format!(
                "sent while matched to `{}`, not the expected answer",
                self.matched.as_deref().unwrap_or("-")
            ),
            3 => "sent an answer to a question the knowledge base cannot answer".into(),
            2 => format!(
                "expected {}, the gate decided {}",
                self.expect.as_str(),
                self.action.as_str()
            ),
            1 => format!(
                "matched {} instead of `{}`",
                self.matched
                    .as_deref()
                    .map_or("no approved answer".to_string(), |m| format!("`{m}`")),
                self.acceptable[0]
            ),
            _ => return None,
        })
    }
}

/// Runs every query through the gate (`assistant` holds the suite's index).
pub fn run_queries(
    assistant: &Arc<Assistant>,
    queries: &[SuiteQuery],
    bar: &ProgressBar,
) -> Result<Vec<QueryRecord>, super::EvalError> {
    let index = &assistant.index;
    let by_id: HashMap<&str, usize> = index
        .canonicals
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.0.as_str(), i))
        .collect();
    let retriever = assistant.retriever();
    let canary = assistant.settings.canary.as_str();
    bar.set_length(queries.len() as u64);
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let lang = q.lang.unwrap_or_else(|| detect_lang(&q.question, Lang::En));
        let acceptable: Vec<String> = q.acceptable().iter().map(|s| s.to_string()).collect();
        let relevant: Vec<String> = if q.relevant_ids.is_empty() {
            let mut docs: Vec<String> = Vec::new();
            for id in &acceptable {
                if let Some(&i) = by_id.get(id.as_str()) {
                    for s in &index.canonicals[i].sources {
                        if !docs.contains(&s.0) {
                            docs.push(s.0.clone());
                        }
                    }
                }
            }
            docs
        } else {
            q.relevant_ids.clone()
        };

        let mut ranked = BTreeMap::new();
        if !relevant.is_empty() {
            let e = assistant
                .embedder
                .embed_one(&q.question, crate::embed::Role::Query)?;
            for mode in [
                RetrievalMode::Bm25,
                RetrievalMode::Dense,
                RetrievalMode::Hybrid,
            ] {
                let r = retriever.retrieve_embedded(&q.question, lang, Some(&e), mode, 30)?;
                let docs: Vec<String> = r.docs().into_iter().take(CURVE_K).map(|d| d.0).collect();
                ranked.insert(mode_name(mode).to_string(), docs);
            }
        }

        // The turn the server runs, recording what the customer would see and when.
        let started = Instant::now();
        let mut streamed = String::new();
        let mut first_visible_ms = None;
        let outcome = assistant
            .start_turn(TurnRequest::new(q.question.as_str(), Some(lang)))
            .run(|e| {
                if let TurnEvent::Released(text) = e {
                    first_visible_ms.get_or_insert(started.elapsed().as_secs_f64() * 1e3);
                    streamed.push_str(text);
                }
            })?;
        let first_visible_ms = first_visible_ms.unwrap_or(started.elapsed().as_secs_f64() * 1e3);
        // The turn's own match; a message a triage rule handed off never reached the match, so
        // it is matched the same way on its own.
        let matched = match outcome.canonical.clone() {
            Some(m) => Some(m),
            None => assistant.match_question(&q.question, lang)?,
        };
        let ttft_ms = outcome
            .draft
            .as_ref()
            .map(|d| outcome.timings.triage_ms + outcome.timings.retrieval_ms + d.usage.ttft_ms);

        // The expected answer to hold sent texts and drafts against: the matched one when it is
        // acceptable (a message with two questions), else the expected one.
        let reference: Option<MatchedCanonical> = matched
            .as_ref()
            .filter(|m| acceptable.contains(&m.id.0))
            .cloned()
            .or_else(|| {
                let c = &index.canonicals[*by_id.get(acceptable.first()?.as_str())?];
                Some(MatchedCanonical {
                    id: c.id.clone(),
                    similarity: 1.0,
                    handoff: c.handoff,
                    answer: c.answer.trim().to_string(),
                    evidence: crate::assistant::MatchEvidence {
                        score: 1.0,
                        similarity: 1.0,
                        lexical: 1.0,
                        coverage: 1.0,
                        known: 1.0,
                        runner_up: None,
                        margin: None,
                        lexical_top: None,
                        lexical_agrees: true,
                        sure: true,
                        candidates: Vec::new(),
                        doubt: None,
                    },
                    parts: Vec::new(),
                })
            });
        let sent = matches!(
            outcome.decision.action,
            Action::Send | Action::SendCanonical
        );
        let sent_check = reference.as_ref().filter(|_| sent).map(|r| {
            check(
                &CheckInput {
                    draft: &outcome.reply.text,
                    canonical: Some(&r.answer),
                    context: &[],
                    similarity: None,
                    focus: None,
                    question: None,
                },
                &assistant.settings.check,
            )
            .status
        });
        let draft_check = outcome
            .draft
            .as_ref()
            .zip(reference.as_ref())
            .map(|(d, r)| assistant.check_draft(d, Some(r)).status);
        let usage = outcome.draft.as_ref().map(|d| d.usage.clone());
        out.push(QueryRecord {
            id: q.id.clone(),
            lang,
            question: q.question.clone(),
            tags: q.tags.clone(),
            expect: q.expected(),
            acceptable,
            relevant,
            ranked,
            matched: matched.as_ref().map(|m| m.id.0.clone()),
            matched_similarity: matched.as_ref().map(|m| m.similarity),
            matched_parts: matched
                .as_ref()
                .map(|m| m.parts.iter().map(|p| p.0.clone()).collect())
                .unwrap_or_default(),
            match_evidence: matched.as_ref().map(|m| m.evidence.clone()),
            context_similarity: outcome.context_similarity,
            action: outcome.decision.action,
            provenance: outcome.reply.provenance,
            reasons: outcome
                .decision
                .reasons
                .iter()
                .map(|r| r.code.clone())
                .collect(),
            signals: outcome
                .triage
                .signals
                .iter()
                .map(|s| s.signal.as_str().to_string())
                .collect(),
            reply: outcome.reply.text.clone(),
            draft: outcome.draft.as_ref().map(|d| d.text.clone()),
            verdict: outcome.verdict.as_ref().map(|v| v.status),
            findings: outcome
                .verdict
                .as_ref()
                .map(|v| {
                    v.findings
                        .iter()
                        .map(|f| format!("{}: {}", f.kind.as_str(), f.message))
                        .collect()
                })
                .unwrap_or_default(),
            sources: outcome
                .draft
                .as_ref()
                .map(|d| {
                    let mut s: Vec<String> = Vec::new();
                    for src in &d.sources {
                        if !s.contains(&src.doc.0) {
                            s.push(src.doc.0.clone());
                        }
                    }
                    s
                })
                .unwrap_or_default(),
            sent_check,
            draft_check,
            model: outcome
                .draft
                .as_ref()
                .map(|d| d.model.clone())
                .unwrap_or_else(|| assistant.drafter.model_name(lang).to_string()),
            ttft_ms,
            canary_leak: outcome.reply.text.contains(canary) || streamed.contains(canary),
            canary_in_draft: outcome
                .draft
                .as_ref()
                .is_some_and(|d| d.text.contains(canary)),
            streamed,
            first_visible_ms,
            total_ms: outcome.timings.total_ms,
            generated_tokens: usage.as_ref().map_or(0, |u| u.generated_tokens),
            decode_ms: usage
                .as_ref()
                .map_or(0.0, |u| (u.total_ms - u.ttft_ms).max(0.0)),
            prompt_tokens: usage.as_ref().map_or(0, |u| u.prompt_tokens),
            cached_tokens: usage.as_ref().map_or(0, |u| u.cached_tokens),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

fn mode_name(m: RetrievalMode) -> &'static str {
    match m {
        RetrievalMode::Bm25 => "bm25",
        RetrievalMode::Dense => "dense",
        RetrievalMode::Hybrid => "hybrid",
    }
}

/// Retrieval quality of one mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeSummary {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@1")]
    pub recall_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    /// Recall@k for k = 1..=10.
    pub recall_curve: Vec<f64>,
}

/// The `retrieval` section: the configured mode's figures at the top, every mode below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalSummary {
    pub mode: String,
    /// Queries with relevant articles (the retrieval figures' denominator).
    pub queries: usize,
    /// The configured mode's figures (`retrieval.recall@5`...).
    #[serde(flatten)]
    pub top: ModeSummary,
    /// Queries with an expected approved answer, and the share the gate's matching got right.
    pub labelled: usize,
    pub canonical_accuracy: f64,
    pub by_mode: BTreeMap<String, ModeSummary>,
}

/// p50/p95/p99 and mean of a set of times, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(values: &[f64]) -> Percentiles {
        Percentiles {
            n: values.len(),
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
            p99: percentile(values, 99.0),
            mean: if values.is_empty() {
                0.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            },
        }
    }
}

/// Figures of the queries carrying one tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagSummary {
    pub queries: usize,
    pub decision_accuracy: f64,
    /// Among those with an expected approved answer.
    pub canonical_accuracy: Option<f64>,
}

/// The checker on the suite's labelled pairs (against the approved answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerSummary {
    /// Pairs checked against the approved answer (without the verbatim ones).
    pub pairs: usize,
    /// `None` when no consistent pair was left to flag wrongly (precision would be 1 by
    /// construction): HaluEval's consistent rows are the approved answer word for word.
    pub precision: Option<f64>,
    pub recall: f64,
    pub f1: Option<f64>,
    /// Consistent pairs left out because they repeat the approved answer verbatim.
    #[serde(default)]
    pub verbatim_skipped: usize,
    /// Per finding kind: pairs it fired on, precision and recall of flagging by it alone.
    pub by_kind: BTreeMap<String, KindPrf>,
    /// `confusion[label][status]`: label `flag` or `pass`.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Against the knowledge text instead of the approved answer (the consistent rows are then
    /// the right answers, not copies of the reference).
    pub knowledge_f1: f64,
    #[serde(default)]
    pub knowledge_precision: f64,
    #[serde(default)]
    pub knowledge_recall: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindPrf {
    pub fired: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl CheckerSummary {
    pub fn from_reports(canonical: &ReferenceReport, knowledge: &ReferenceReport) -> Self {
        CheckerSummary {
            pairs: canonical.pairs,
            precision: (canonical.negatives > 0).then_some(canonical.overall.precision),
            recall: canonical.overall.recall,
            f1: (canonical.negatives > 0).then_some(canonical.overall.f1),
            verbatim_skipped: canonical.verbatim_skipped,
            by_kind: canonical
                .by_kind
                .iter()
                .map(|(k, p)| {
                    (
                        k.as_str().to_string(),
                        KindPrf {
                            fired: p.flagged,
                            precision: p.precision,
                            recall: p.recall,
                            f1: p.f1,
                        },
                    )
                })
                .collect(),
            confusion: canonical
                .confusion
                .iter()
                .map(|(label, m)| {
                    (
                        label.to_string(),
                        m.iter()
                            .map(|(s, n)| (s.as_str().to_string(), *n))
                            .collect(),
                    )
                })
                .collect(),
            knowledge_f1: knowledge.overall.f1,
            knowledge_precision: knowledge.overall.precision,
            knowledge_recall: knowledge.overall.recall,
        }
    }
}

/// Settings the run used (what makes two reports comparable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub models: BTreeMap<String, String>,
    pub embedder: String,
    pub retrieval_mode: String,
    pub temperature: f64,
    pub seed: u64,
    pub limit: Option<usize>,
    pub queries_in_suite: usize,
    /// `autopilot` or `copilot`.
    #[serde(default)]
    pub mode: String,
    /// Drafts were written (false: the retrieval-and-policy mode, `--fast`).
    #[serde(default)]
    pub drafts: bool,
}

/// Wall time of each part of the run, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    pub ingest_s: f64,
    pub load_s: f64,
    pub queries_s: f64,
    pub checker_s: f64,
    pub total_s: f64,
}

/// `report.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub version: u32,
    pub suite: String,
    pub description: String,
    pub settings: RunSettings,
    pub queries: usize,
    pub retrieval: RetrievalSummary,
    /// Share of queries per decision (`send`, `send_canonical`, `hold`, `handoff`, `no_answer`).
    pub decisions: BTreeMap<String, f64>,
    /// `decision_matrix[expected][decision]` counts.
    pub decision_matrix: BTreeMap<String, BTreeMap<String, usize>>,
    /// Share of queries whose decision is the labelled one.
    pub decision_accuracy: f64,
    /// Sent texts that contradict the expected approved answer: must be 0.
    pub contradictions_sent: usize,
    /// Sent while matched to another approved answer than a right one.
    pub wrong_answers_sent: usize,
    /// Answers sent to questions labelled `no_answer`.
    pub answers_sent_unanswerable: usize,
    /// `None` when nothing was handed off / nothing is labelled `handoff`.
    pub handoff_precision: Option<f64>,
    pub handoff_recall: Option<f64>,
    /// Drafts (with an expected approved answer) whose facts agree with it: the checker finds
    /// nothing contradicting or unsupported (it may leave facts out).
    pub draft_agreement: Option<f64>,
    /// Drafts the checker finds fully consistent with it (every key fact stated, nothing else).
    pub draft_consistent: Option<f64>,
    /// Of the questions answered (sent), the share whose reply is a checked draft rather than
    /// the approved answer verbatim (issue 18: what the generator adds for a customer).
    #[serde(default)]
    pub draft_answered: Option<f64>,
    pub drafts: usize,
    /// The gate's verdicts on its drafts.
    pub verdicts: BTreeMap<String, usize>,
    pub by_tag: BTreeMap<String, TagSummary>,
    pub checker: Option<CheckerSummary>,
    /// Whole answer, message in to decision out.
    pub latency_ms: Percentiles,
    /// Message in to the first generated token (drafted queries).
    pub ttft_ms: Percentiles,
    /// Answers whose streamed text is not a prefix of the reply kept: must be 0.
    #[serde(default)]
    pub streamed_withdrawn: usize,
    /// Answers that showed text before the final reply.
    #[serde(default)]
    pub streamed_answers: usize,
    /// Message in to the first text on the customer's screen (released text, else the reply).
    #[serde(default)]
    pub first_visible_ms: Percentiles,
    /// Answers that showed the customer the instructions' marker: must be 0.
    #[serde(default)]
    pub canary_leaks: usize,
    /// Drafts that repeated it (refused by the gate).
    #[serde(default)]
    pub canary_in_drafts: usize,
    /// Answer latency per generation model.
    pub latency_by_model: BTreeMap<String, Percentiles>,
    /// Generated tokens per second after the first token, over all drafts.
    pub gen_tok_s: f64,
    pub generated_tokens: usize,
    /// Prompt tokens of all drafts, and the share reused from cached prompt pieces.
    #[serde(default)]
    pub prompt_tokens: usize,
    #[serde(default)]
    pub cached_share: f64,
    pub peak_rss_mb: Option<f64>,
    pub runtime: Runtime,
    pub records: Vec<QueryRecord>,
}

/// Summarises `records` (pure: everything but the settings and runtime).
pub fn summarise(records: &[QueryRecord], retrieval_mode: &str) -> RunReport {
    let n = records.len();
    let mut decisions = BTreeMap::new();
    for a in Action::ALL {
        let k = records.iter().filter(|r| r.action == a).count();
        decisions.insert(a.as_str().to_string(), ratio(k, n));
    }
    let mut decision_matrix: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in records {
        *decision_matrix
            .entry(r.expect.as_str().to_string())
            .or_default()
            .entry(r.action.as_str().to_string())
            .or_insert(0) += 1;
    }
    let handed: Vec<&QueryRecord> = records
        .iter()
        .filter(|r| r.action == Action::Handoff)
        .collect();
    let labelled_handoff = records
        .iter()
        .filter(|r| r.expect == Expect::Handoff)
        .count();
    let handoff_tp = handed
        .iter()
        .filter(|r| r.expect == Expect::Handoff)
        .count();
    let checked_drafts: Vec<&QueryRecord> =
        records.iter().filter(|r| r.draft_check.is_some()).collect();
    let mut verdicts = BTreeMap::new();
    for r in records {
        if let Some(v) = r.verdict {
            *verdicts.entry(v.as_str().to_string()).or_insert(0) += 1;
        }
    }
    let mut tags: BTreeMap<String, Vec<&QueryRecord>> = BTreeMap::new();
    for r in records {
        for t in &r.tags {
            tags.entry(t.clone()).or_default().push(r);
        }
    }
    let by_tag = tags
        .into_iter()
        .map(|(t, rs)| {
            let labelled: Vec<bool> = rs.iter().filter_map(|r| r.canonical_ok()).collect();
            (
                t,
                TagSummary {
                    queries: rs.len(),
                    decision_accuracy: ratio(
                        rs.iter().filter(|r| r.decision_ok()).count(),
                        rs.len(),
                    ),
                    canonical_accuracy: (!labelled.is_empty())
                        .then(|| ratio(labelled.iter().filter(|&&b| b).count(), labelled.len())),
                },
            )
        })
        .collect();
    let totals: Vec<f64> = records.iter().map(|r| r.total_ms).collect();
    let ttfts: Vec<f64> = records.iter().filter_map(|r| r.ttft_ms).collect();
    let visible: Vec<f64> = records.iter().map(|r| r.first_visible_ms).collect();
    let mut by_model: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in records {
        by_model
            .entry(r.model.clone())
            .or_default()
            .push(r.total_ms);
    }
    let decoded: usize = records
        .iter()
        .map(|r| r.generated_tokens.saturating_sub(1))
        .sum();
    let decode_s: f64 = records.iter().map(|r| r.decode_ms).sum::<f64>() / 1000.0;
    RunReport {
        version: REPORT_VERSION,
        queries: n,
        retrieval: summarise_retrieval(records, retrieval_mode),
        decisions,
        decision_matrix,
        decision_accuracy: ratio(records.iter().filter(|r| r.decision_ok()).count(), n),
        contradictions_sent: records
            .iter()
            .filter(|r| r.sent_check == Some(Status::Contradiction))
            .count(),
        wrong_answers_sent: records.iter().filter(|r| r.wrong_answer_sent()).count(),
        answers_sent_unanswerable: records
            .iter()
            .filter(|r| r.expect == Expect::NoAnswer && r.sent())
            .count(),
        handoff_precision: (!handed.is_empty()).then(|| ratio(handoff_tp, handed.len())),
        handoff_recall: (labelled_handoff > 0).then(|| ratio(handoff_tp, labelled_handoff)),
        draft_agreement: (!checked_drafts.is_empty()).then(|| {
            ratio(
                checked_drafts
                    .iter()
                    .filter(|r| {
                        !matches!(
                            r.draft_check,
                            Some(Status::Contradiction | Status::Unsupported)
                        )
                    })
                    .count(),
                checked_drafts.len(),
            )
        }),
        draft_consistent: (!checked_drafts.is_empty()).then(|| {
            ratio(
                checked_drafts
                    .iter()
                    .filter(|r| r.draft_check == Some(Status::Consistent))
                    .count(),
                checked_drafts.len(),
            )
        }),
        draft_answered: {
            let sent = records.iter().filter(|r| r.sent()).count();
            (sent > 0).then(|| {
                ratio(
                    records
                        .iter()
                        .filter(|r| r.sent() && r.provenance == Provenance::Generated)
                        .count(),
                    sent,
                )
            })
        },
        drafts: records.iter().filter(|r| r.draft.is_some()).count(),
        verdicts,
        by_tag,
        latency_ms: Percentiles::of(&totals),
        ttft_ms: Percentiles::of(&ttfts),
        streamed_withdrawn: records.iter().filter(|r| r.streamed_withdrawn()).count(),
        streamed_answers: records.iter().filter(|r| !r.streamed.is_empty()).count(),
        first_visible_ms: Percentiles::of(&visible),
        canary_leaks: records.iter().filter(|r| r.canary_leak).count(),
        canary_in_drafts: records.iter().filter(|r| r.canary_in_draft).count(),
        latency_by_model: by_model
            .into_iter()
            .map(|(m, v)| (m, Percentiles::of(&v)))
            .collect(),
        gen_tok_s: if decode_s > 0.0 {
            decoded as f64 / decode_s
        } else {
            0.0
        },
        generated_tokens: records.iter().map(|r| r.generated_tokens).sum(),
        prompt_tokens: records.iter().map(|r| r.prompt_tokens).sum(),
        cached_share: ratio(
            records.iter().map(|r| r.cached_tokens).sum(),
            records.iter().map(|r| r.prompt_tokens).sum(),
        ),
        records: records.to_vec(),
        ..RunReport::default()
    }
}

fn summarise_retrieval(records: &[QueryRecord], mode: &str) -> RetrievalSummary {
    let with_docs: Vec<&QueryRecord> = records
        .iter()
        .filter(|r| !r.relevant.is_empty() && !r.ranked.is_empty())
        .collect();
    let mut by_mode = BTreeMap::new();
    for m in ["bm25", "dense", "hybrid"] {
        let mut s = ModeSummary {
            recall_curve: vec![0.0; CURVE_K],
            ..ModeSummary::default()
        };
        for r in &with_docs {
            let ranked = r.ranked.get(m).map(Vec::as_slice).unwrap_or(&[]);
            let relevant: HashSet<String> = r.relevant.iter().cloned().collect();
            s.ndcg_10 += ndcg_at(ranked, &relevant, 10);
            s.mrr_10 += mrr_at(ranked, &relevant, 10);
            for (k, c) in s.recall_curve.iter_mut().enumerate() {
                *c += recall_at(ranked, &relevant, k + 1);
            }
        }
        let d = with_docs.len().max(1) as f64;
        s.ndcg_10 /= d;
        s.mrr_10 /= d;
        for c in &mut s.recall_curve {
            *c /= d;
        }
        s.recall_1 = s.recall_curve[0];
        s.recall_5 = s.recall_curve[4];
        s.recall_10 = s.recall_curve[9];
        by_mode.insert(m.to_string(), s);
    }
    let top = by_mode.get(mode).cloned().unwrap_or_default();
    let labelled: Vec<bool> = records.iter().filter_map(|r| r.canonical_ok()).collect();
    RetrievalSummary {
        mode: mode.to_string(),
        queries: with_docs.len(),
        top,
        labelled: labelled.len(),
        canonical_accuracy: ratio(labelled.iter().filter(|&&b| b).count(), labelled.len()),
        by_mode,
    }
}

/// The records that went worst, worst first (ties in query order), at most `n`.
pub fn worst(records: &[QueryRecord], n: usize) -> Vec<&QueryRecord> {
    let mut bad: Vec<&QueryRecord> = records.iter().filter(|r| r.severity() > 0).collect();
    bad.sort_by_key(|r| std::cmp::Reverse(r.severity()));
    bad.truncate(n);
    bad
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record that went as labelled: an answer, matched and sent as the approved answer.
    pub(crate) fn record(id: &str) -> QueryRecord {
        QueryRecord {
            id: id.into(),
            lang: Lang::En,
            question: format!("question {id}?"),
            tags: vec!["plain".into()],
            expect: Expect::Answer,
            acceptable: vec!["c1".into()],
            relevant: vec!["d1".into()],
            ranked: ["bm25", "dense", "hybrid"]
                .iter()
                .map(|m| (m.to_string(), vec!["d1".to_string(), "d2".to_string()]))
                .collect(),
            matched: Some("c1".into()),
            matched_similarity: Some(0.9),
            matched_parts: vec![],
            match_evidence: None,
            context_similarity: None,
            action: Action::SendCanonical,
            provenance: Provenance::Canonical,
            reasons: vec![],
            signals: vec![],
            reply: "We ship in 2 days.".into(),
            draft: Some("We ship in 2 days [1].".into()),
            verdict: Some(Status::Consistent),
            findings: vec![],
            sources: vec!["d1".into()],
            sent_check: Some(Status::Consistent),
            draft_check: Some(Status::Consistent),
            model: "m".into(),
            ttft_ms: Some(100.0),
            streamed: "We ship".into(),
            first_visible_ms: 150.0,
            canary_leak: false,
            canary_in_draft: false,
            total_ms: 1000.0,
            generated_tokens: 11,
            decode_ms: 500.0,
            prompt_tokens: 600,
            cached_tokens: 150,
        }
    }

    #[test]
    fn a_summary_counts_decisions_handoffs_and_contradicting_sends() {
        let ok = record("a");
        let mut contra = record("b");
        contra.action = Action::Send;
        contra.provenance = Provenance::Generated;
        contra.sent_check = Some(Status::Contradiction);
        contra.draft_check = Some(Status::Contradiction);
        // Streamed text the reply does not begin with is counted as withdrawn.
        contra.streamed = "We ship in 9 days.".into();
        let mut handoff = record("c");
        handoff.expect = Expect::Handoff;
        handoff.action = Action::Handoff;
        handoff.draft = None;
        handoff.draft_check = None;
        handoff.verdict = None;
        handoff.ttft_ms = None;
        handoff.generated_tokens = 0;
        handoff.decode_ms = 0.0;
        handoff.prompt_tokens = 0;
        handoff.cached_tokens = 0;
        let mut false_handoff = record("d");
        false_handoff.action = Action::Handoff;
        false_handoff.sent_check = None;
        let mut unanswerable = record("e");
        unanswerable.expect = Expect::NoAnswer;
        unanswerable.acceptable.clear();
        unanswerable.relevant.clear();
        unanswerable.matched = Some("c9".into());
        unanswerable.draft_check = None;
        let mut wrong = record("f");
        wrong.matched = Some("c2".into());
        wrong
            .ranked
            .insert("hybrid".into(), vec!["d2".into(), "d1".into()]);
        let records = vec![ok, contra, handoff, false_handoff, unanswerable, wrong];
        let r = summarise(&records, "hybrid");
        assert_eq!(r.queries, 6);
        assert_eq!(r.contradictions_sent, 1);
        assert_eq!(r.wrong_answers_sent, 1);
        assert_eq!(r.answers_sent_unanswerable, 1);
        assert_eq!(r.handoff_precision, Some(0.5));
        assert_eq!(r.handoff_recall, Some(1.0));
        assert_eq!(r.decisions["handoff"], 2.0 / 6.0);
        assert_eq!(r.decision_matrix["answer"]["handoff"], 1);
        // a, b, c, f decided as labelled; d (false handoff) and e (answered) not.
        assert!((r.decision_accuracy - 4.0 / 6.0).abs() < 1e-9);
        // Five queries have relevant articles; f ranks its one second in hybrid.
        assert_eq!(r.retrieval.queries, 5);
        assert!((r.retrieval.top.recall_1 - 0.8).abs() < 1e-9);
        assert_eq!(r.retrieval.top.recall_5, 1.0);
        assert!((r.retrieval.top.mrr_10 - 0.9).abs() < 1e-9);
        assert_eq!(r.retrieval.by_mode["bm25"].recall_1, 1.0);
        assert_eq!(r.retrieval.by_mode["hybrid"].recall_curve.len(), CURVE_K);
        // Five labelled with an approved answer; f matched another one.
        assert_eq!(r.retrieval.labelled, 5);
        assert!((r.retrieval.canonical_accuracy - 0.8).abs() < 1e-9);
        // Drafts checked against their expected answer: a, d, f consistent; b contradicts.
        assert_eq!(r.draft_agreement, Some(0.75));
        assert_eq!(r.draft_consistent, Some(0.75));
        // Four answered (a, b, e, f); b's reply is its draft.
        assert_eq!(r.draft_answered, Some(0.25));
        assert_eq!(r.verdicts["consistent"], 5);
        // 4 × 10 decoded tokens... over 5 drafts of 500 ms each = 10 tokens/0.5 s.
        assert!((r.gen_tok_s - 20.0).abs() < 1e-9);
        assert_eq!(r.ttft_ms.n, 5);
        // Five drafts of 600 prompt tokens, 150 of each reused.
        assert_eq!(r.prompt_tokens, 3000);
        assert!((r.cached_share - 0.25).abs() < 1e-9);
        assert_eq!(r.streamed_withdrawn, 1);
        assert_eq!(r.first_visible_ms.n, 6);
        assert_eq!(r.latency_ms.p50, 1000.0);
        let w = worst(&records, 3);
        assert_eq!(
            w.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b", "f", "e"]
        );
        assert!(w[0].failure().unwrap().contains("contradicts"));
    }

    #[test]
    fn nothing_handed_off_or_labelled_leaves_the_handoff_figures_undefined() {
        let r = summarise(&[record("a")], "hybrid");
        assert_eq!((r.handoff_precision, r.handoff_recall), (None, None));
        assert_eq!(r.by_tag["plain"].decision_accuracy, 1.0);
        let empty = summarise(&[], "hybrid");
        assert_eq!(empty.queries, 0);
        assert_eq!(empty.draft_agreement, None);
        assert_eq!(empty.draft_answered, None);
    }
}
