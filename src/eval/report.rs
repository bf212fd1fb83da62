//! An evaluation run's report as files: `report.json`, a self-contained `report.html` with SVG
//! charts, `report.md` with the same charts beside it; the `--gate` thresholds and `eval diff`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::run::{worst, RunReport};
use super::suite::Bound;
use crate::console::svg::{bar_chart, heatmap, histogram, line_chart, Bar, Series};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an evaluation report: {message}")]
    NotAReport { path: PathBuf, message: String },
}

/// Failures listed in the reports.
pub const WORST_LISTED: usize = 15;

/// `put!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// One chart: a file name (for `report.md`) and its SVG.
pub struct Chart {
    pub file: &'static str,
    pub title: String,
    pub svg: String,
}

/// The report's charts, in the order they are shown.
pub fn charts(r: &RunReport) -> Vec<Chart> {
    let mut out = Vec::new();
    if r.retrieval.queries > 0 {
        let series: Vec<Series> = r
            .retrieval
            .by_mode
            .iter()
            .map(|(mode, m)| Series {
                name: mode.clone(),
                points: m
                    .recall_curve
                    .iter()
                    .enumerate()
                    .map(|(k, v)| ((k + 1) as f64, *v))
                    .collect(),
            })
            .collect();
        let title = format!(
            "Recall@k per retrieval mode ({} queries)",
            r.retrieval.queries
        );
        out.push(Chart {
            file: "recall-at-k.svg",
            svg: line_chart(&title, "k", "recall", &series, Some((0.0, 1.0))),
            title,
        });
    }
    if r.queries > 0 {
        let bars: Vec<Bar> = r
            .decisions
            .iter()
            .map(|(d, share)| {
                let count = r.records.iter().filter(|x| x.action.as_str() == d).count();
                Bar::new(d.clone(), 100.0 * share)
                    .with_note(format!("{count} ({:.0}%)", 100.0 * share))
            })
            .collect();
        let title = format!("Decisions ({} queries)", r.queries);
        out.push(Chart {
            file: "decisions.svg",
            svg: bar_chart(&title, &bars, "%"),
            title,
        });
        let rows: Vec<String> = r.decision_matrix.keys().cloned().collect();
        let cols: Vec<String> = r.decisions.keys().cloned().collect();
        let cells: Vec<Vec<f64>> = rows
            .iter()
            .map(|e| {
                cols.iter()
                    .map(|d| r.decision_matrix[e].get(d).copied().unwrap_or(0) as f64)
                    .collect()
            })
            .collect();
        let title = "Expected outcome (rows) by decision taken (columns)".to_string();
        out.push(Chart {
            file: "decision-matrix.svg",
            svg: heatmap(&title, &rows, &cols, &cells),
            title,
        });
        let latencies: Vec<f64> = r.records.iter().map(|x| x.total_ms).collect();
        let title = format!(
            "Answer latency, p50 {:.0} ms, p95 {:.0} ms",
            r.latency_ms.p50, r.latency_ms.p95
        );
        out.push(Chart {
            file: "latency.svg",
            svg: histogram(&title, &latencies, 12, "ms"),
            title,
        });
        if !r.by_tag.is_empty() {
            let bars: Vec<Bar> = r
                .by_tag
                .iter()
                .map(|(t, s)| Bar::new(format!("{t} ({})", s.queries), 100.0 * s.decision_accuracy))
                .collect();
            let title = "Decision accuracy by kind of message".to_string();
            out.push(Chart {
                file: "by-tag.svg",
                svg: bar_chart(&title, &bars, "%"),
                title,
            });
        }
    }
    if let Some(c) = &r.checker {
        let rows: Vec<String> = c.confusion.keys().cloned().collect();
        let mut cols: Vec<String> = c
            .confusion
            .values()
            .flat_map(|m| m.keys().cloned())
            .collect();
        cols.sort();
        cols.dedup();
        let cells: Vec<Vec<f64>> = rows
            .iter()
            .map(|l| {
                cols.iter()
                    .map(|s| c.confusion[l].get(s).copied().unwrap_or(0) as f64)
                    .collect()
            })
            .collect();
        let title = format!(
            "Checker: label (rows) by verdict (columns), {} pairs",
            c.pairs
        );
        out.push(Chart {
            file: "checker-confusion.svg",
            svg: heatmap(&title, &rows, &cols, &cells),
            title,
        });
    }
    out
}

/// The headline figures as `(name, value)` rows (`–` when not measured).
pub fn headline(r: &RunReport) -> Vec<(String, String)> {
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let opt = |v: Option<f64>| v.map_or("–".to_string(), pct);
    let mut rows = vec![("queries".to_string(), r.queries.to_string())];
    if r.retrieval.queries > 0 {
        let m = &r.retrieval.top;
        rows.extend([
            (
                format!("retrieval ({}) nDCG@10", r.retrieval.mode),
                format!("{:.3}", m.ndcg_10),
            ),
            (
                "Recall@1 / @5 / @10".into(),
                format!("{:.3} / {:.3} / {:.3}", m.recall_1, m.recall_5, m.recall_10),
            ),
            ("MRR@10".into(), format!("{:.3}", m.mrr_10)),
        ]);
    }
    if r.retrieval.labelled > 0 {
        rows.push((
            "approved answer matched".into(),
            format!(
                "{} of {}",
                pct(r.retrieval.canonical_accuracy),
                r.retrieval.labelled
            ),
        ));
    }
    if r.queries > 0 {
        rows.extend([
            ("decision as labelled".to_string(), pct(r.decision_accuracy)),
            (
                "contradictions sent (must be 0)".into(),
                r.contradictions_sent.to_string(),
            ),
            (
                "sent matched to a wrong answer".into(),
                r.wrong_answers_sent.to_string(),
            ),
            (
                "answers sent to unanswerable questions".into(),
                r.answers_sent_unanswerable.to_string(),
            ),
            (
                "handoff precision / recall".into(),
                format!("{} / {}", opt(r.handoff_precision), opt(r.handoff_recall)),
            ),
            (
                "drafts agreeing with the approved answer".into(),
                format!(
                    "{} of {} checked (fully consistent {})",
                    opt(r.draft_agreement),
                    r.records.iter().filter(|x| x.draft_check.is_some()).count(),
                    opt(r.draft_consistent)
                ),
            ),
            (
                "answered by a checked draft".into(),
                format!(
                    "{} of {} answered",
                    opt(r.draft_answered),
                    r.records.iter().filter(|x| x.sent()).count()
                ),
            ),
            (
                "verdicts on drafts".into(),
                r.verdicts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "answer latency p50 / p95 / p99".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    r.latency_ms.p50, r.latency_ms.p95, r.latency_ms.p99
                ),
            ),
            (
                "time to first token p50 / p95".into(),
                format!("{:.0} / {:.0} ms", r.ttft_ms.p50, r.ttft_ms.p95),
            ),
            (
                "prompt tokens reused from cached pieces".into(),
                format!("{:.1}% of {}", r.cached_share * 100.0, r.prompt_tokens),
            ),
            (
                "time to first visible text p50 / p95".into(),
                format!(
                    "{:.0} / {:.0} ms",
                    r.first_visible_ms.p50, r.first_visible_ms.p95
                ),
            ),
            (
                "answers streamed before the reply / streamed then withdrawn (must be 0)".into(),
                format!("{} / {}", r.streamed_answers, r.streamed_withdrawn),
            ),
            (
                "canary leaks (must be 0)".into(),
                r.canary_leaks.to_string(),
            ),
            ("generation".into(), format!("{:.1} tokens/s", r.gen_tok_s)),
        ]);
    }
    if let Some(c) = &r.checker {
        let opt3 = |x: Option<f64>| x.map_or("not measured".to_string(), |v| format!("{v:.3}"));
        rows.push((
            "checker vs approved answer: precision / recall / F1".into(),
            format!(
                "{} / {:.3} / {} ({} pairs; {} consistent pairs that repeat it verbatim left out)",
                opt3(c.precision),
                c.recall,
                opt3(c.f1),
                c.pairs,
                c.verbatim_skipped
            ),
        ));
        rows.push((
            "checker vs knowledge text: precision / recall / F1".into(),
            format!(
                "{:.3} / {:.3} / {:.3}",
                c.knowledge_precision, c.knowledge_recall, c.knowledge_f1
            ),
        ));
    }
    if let Some(mb) = r.peak_rss_mb {
        rows.push(("peak memory".into(), format!("{mb:.0} MB")));
    }
    rows.push(("runtime".into(), format!("{:.0} s", r.runtime.total_s)));
    rows
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#1f2937;max-width:1000px;margin:2em auto;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #e5e7eb}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #e5e7eb;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f9fafb}.bad{color:#b91c1c}.good{color:#15803d}.muted{color:#6b7280}figure{margin:1em 0}\
pre{white-space:pre-wrap;margin:0;font:inherit}";

/// The self-contained HTML report.
pub fn render_html(r: &RunReport, gate: &[GateCheck]) -> String {
    let mut h = String::new();
    put!(h, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Concord eval: {}</title><style>{CSS}</style></head><body>", esc(&r.suite));
    put!(
        h,
        "<h1>Concord evaluation: {}</h1><p class=\"muted\">{}</p>",
        esc(&r.suite),
        esc(&r.description)
    );
    put!(h, "<p class=\"muted\">models {}; embedder {}; retrieval {}; temperature {}; seed {}; {} of {} queries</p>",
        esc(&r.settings.models.iter().map(|(l, m)| format!("{l}: {m}")).collect::<Vec<_>>().join(", ")),
        esc(&r.settings.embedder), esc(&r.settings.retrieval_mode), r.settings.temperature, r.settings.seed,
        r.queries, r.settings.queries_in_suite);
    h.push_str("<h2>Headline</h2><table>");
    for (k, v) in headline(r) {
        put!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    h.push_str("</table>");
    if !gate.is_empty() {
        h.push_str(
            "<h2>Gate</h2><table><tr><th>metric</th><th>value</th><th>bound</th><th></th></tr>",
        );
        for g in gate {
            put!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&g.metric),
                g.value.map_or("–".into(), |v| format!("{v:.4}")),
                esc(&g.bound_text()),
                if g.ok { "good" } else { "bad" },
                g.verdict()
            );
        }
        h.push_str("</table>");
    }
    if r.retrieval.queries > 0 {
        h.push_str("<h2>Retrieval</h2><table><tr><th>mode</th><th>nDCG@10</th><th>Recall@1</th><th>Recall@5</th><th>Recall@10</th><th>MRR@10</th></tr>");
        for (mode, m) in &r.retrieval.by_mode {
            put!(h, "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
                esc(mode), m.ndcg_10, m.recall_1, m.recall_5, m.recall_10, m.mrr_10);
        }
        h.push_str("</table>");
    }
    for c in charts(r) {
        put!(h, "<figure>{}</figure>", c.svg);
    }
    if !r.latency_by_model.is_empty() && r.queries > 0 {
        h.push_str("<h2>Latency by model</h2><table><tr><th>model</th><th>queries</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>");
        for (m, p) in &r.latency_by_model {
            put!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td></tr>",
                esc(m),
                p.n,
                p.p50,
                p.p95,
                p.p99
            );
        }
        h.push_str("</table>");
    }
    if let Some(c) = &r.checker {
        h.push_str("<h2>Checker by finding kind</h2><table><tr><th>kind</th><th>fired</th><th>precision</th><th>recall</th><th>F1</th></tr>");
        for (k, p) in &c.by_kind {
            put!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
                esc(k),
                p.fired,
                p.precision,
                p.recall,
                p.f1
            );
        }
        h.push_str("</table>");
    }
    let bad = worst(&r.records, WORST_LISTED);
    if !bad.is_empty() {
        put!(h, "<h2>Worst failures ({} shown)</h2><table><tr><th>query</th><th>what went wrong</th><th>draft and verdict</th><th>sent</th><th>sources</th></tr>", bad.len());
        for q in bad {
            put!(h, "<tr><td><b>{}</b> ({}; {})<pre>{}</pre></td><td class=\"bad\">{}</td><td><pre>{}</pre><span class=\"muted\">{}{}</span></td><td><pre>{}</pre></td><td>{}</td></tr>",
                esc(&q.id), q.lang.as_str(), esc(&q.tags.join(", ")), esc(&q.question),
                esc(&q.failure().unwrap_or_default()),
                esc(q.draft.as_deref().unwrap_or("(no draft)")),
                esc(q.verdict.map_or("", |v| v.as_str())),
                esc(&q.findings.iter().map(|f| format!("; {f}")).collect::<String>()),
                esc(&q.reply), esc(&q.sources.join(", ")));
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

/// The Markdown report; its charts are the `.svg` files written beside it.
pub fn render_md(r: &RunReport, gate: &[GateCheck]) -> String {
    let mut m = String::new();
    put!(
        m,
        "# Concord evaluation: {}\n\n{}\n\n",
        r.suite,
        r.description
    );
    put!(
        m,
        "Models {}; embedder {}; retrieval {}; temperature {}; seed {}; {} of {} queries.\n\n",
        r.settings
            .models
            .iter()
            .map(|(l, x)| format!("{l}: {x}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.settings.embedder,
        r.settings.retrieval_mode,
        r.settings.temperature,
        r.settings.seed,
        r.queries,
        r.settings.queries_in_suite
    );
    m.push_str("| figure | value |\n|---|---|\n");
    for (k, v) in headline(r) {
        put!(m, "| {} | {} |\n", cell(&k), cell(&v));
    }
    if !gate.is_empty() {
        m.push_str("\n## Gate\n\n| metric | value | bound | |\n|---|---|---|---|\n");
        for g in gate {
            put!(
                m,
                "| {} | {} | {} | {} |\n",
                g.metric,
                g.value.map_or("–".into(), |v| format!("{v:.4}")),
                g.bound_text(),
                if g.ok { g.verdict() } else { "**FAIL**" }
            );
        }
    }
    if r.retrieval.queries > 0 {
        m.push_str("\n## Retrieval\n\n| mode | nDCG@10 | Recall@1 | Recall@5 | Recall@10 | MRR@10 |\n|---|---|---|---|---|---|\n");
        for (mode, x) in &r.retrieval.by_mode {
            put!(
                m,
                "| {mode} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                x.ndcg_10,
                x.recall_1,
                x.recall_5,
                x.recall_10,
                x.mrr_10
            );
        }
    }
    m.push('\n');
    for c in charts(r) {
        put!(m, "![{}]({})\n\n", c.title, c.file);
    }
    if !r.by_tag.is_empty() {
        m.push_str("## By kind of message\n\n| tag | queries | decision as labelled | approved answer matched |\n|---|---|---|---|\n");
        for (t, s) in &r.by_tag {
            put!(
                m,
                "| {t} | {} | {:.1}% | {} |\n",
                s.queries,
                100.0 * s.decision_accuracy,
                s.canonical_accuracy
                    .map_or("–".into(), |v| format!("{:.1}%", 100.0 * v))
            );
        }
    }
    if let Some(c) = &r.checker {
        m.push_str("\n## Checker by finding kind\n\n| kind | fired | precision | recall | F1 |\n|---|---|---|---|---|\n");
        for (k, p) in &c.by_kind {
            put!(
                m,
                "| {k} | {} | {:.3} | {:.3} | {:.3} |\n",
                p.fired,
                p.precision,
                p.recall,
                p.f1
            );
        }
    }
    let bad = worst(&r.records, WORST_LISTED);
    if !bad.is_empty() {
        put!(m, "\n## Worst failures ({} shown)\n\n", bad.len());
        for q in bad {
            put!(m, "- **{}** ({}, {}): {}\n  - {}\n  - draft: {} — verdict {}{}\n  - sent: {}\n  - sources: {}\n",
                q.id, q.lang.as_str(), q.tags.join(", "), cell(&q.question),
                q.failure().unwrap_or_default(),
                cell(q.draft.as_deref().unwrap_or("(no draft)")),
                q.verdict.map_or("–", |v| v.as_str()),
                q.findings.iter().map(|f| format!("; {}", cell(f))).collect::<String>(),
                cell(&q.reply), if q.sources.is_empty() { "–".into() } else { q.sources.join(", ") });
        }
    }
    m
}

/// Writes `report.json`, `report.html`, `report.md` and the charts into `dir`, each atomically.
pub fn write_reports(dir: &Path, r: &RunReport, gate: &[GateCheck]) -> Result<(), ReportError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        crate::util::atomic_write(&path, bytes)
            .map_err(|source| ReportError::Write { path, source })
    };
    fs_err::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_vec_pretty(r).expect("a report serialises");
    write("report.json", &json)?;
    write("report.html", render_html(r, gate).as_bytes())?;
    write("report.md", render_md(r, gate).as_bytes())?;
    for c in charts(r) {
        write(c.file, c.svg.as_bytes())?;
    }
    Ok(())
}

/// One threshold of the suite against the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateCheck {
    pub metric: String,
    /// `None`: this run did not measure it (which fails the gate).
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub ok: bool,
    /// False: a lower bound on a subset, not checked (see [`gate_checks`]).
    pub checked: bool,
}

impl GateCheck {
    /// `pass`, `FAIL`, or `not checked` (a lower bound on a subset).
    pub fn verdict(&self) -> &'static str {
        match (self.checked, self.ok) {
            (false, _) => "not checked (subset)",
            (true, true) => "pass",
            (true, false) => "FAIL",
        }
    }

    pub fn bound_text(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{a} ≤ x ≤ {b}"),
            (Some(a), None) => format!("≥ {a}"),
            (None, Some(b)) => format!("≤ {b}"),
            (None, None) => "–".into(),
        }
    }
}

/// The value at a dotted path (`retrieval.recall@5`) of a JSON value, when it is a number.
pub fn lookup(v: &Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_f64)
}

/// Every threshold checked against `report`. On a subset of the suite (`whole` false) only
/// upper bounds are checked: a count can only shrink on a subset, but a rate on a few questions
/// is noise, so a lower bound is held on the whole set alone (and reported as not checked).
pub fn gate_checks(
    report: &RunReport,
    thresholds: &BTreeMap<String, Bound>,
    whole: bool,
) -> Vec<GateCheck> {
    let v = serde_json::to_value(report).expect("a report serialises");
    thresholds
        .iter()
        .map(|(metric, b)| {
            let value = lookup(&v, metric);
            let min = b.min.filter(|_| whole);
            let checked = min.is_some() || b.max.is_some();
            let ok = !checked
                || value.is_some_and(|x| {
                    min.is_none_or(|m| x >= m - 1e-12) && b.max.is_none_or(|m| x <= m + 1e-12)
                });
            GateCheck {
                metric: metric.clone(),
                value,
                min: b.min,
                max: b.max,
                ok,
                checked,
            }
        })
        .collect()
}

/// Reads a `report.json` (or the `report.json` inside a directory).
pub fn read_report(path: &Path) -> Result<RunReport, ReportError> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let text = fs_err::read_to_string(&file).map_err(|source| ReportError::Read {
        path: file.clone(),
        source,
    })?;
    let r: RunReport = serde_json::from_str(&text).map_err(|e| ReportError::NotAReport {
        path: file.clone(),
        message: e.to_string(),
    })?;
    if r.version != super::run::REPORT_VERSION {
        return Err(ReportError::NotAReport {
            path: file,
            message: format!(
                "report version {} (this build reads version {})",
                r.version,
                super::run::REPORT_VERSION
            ),
        });
    }
    Ok(r)
}

/// Whether a higher value of a figure is better (`None`: neither, e.g. a decision share).
pub fn higher_is_better(path: &str) -> Option<bool> {
    let last = path.rsplit('.').next().unwrap_or(path);
    if path.starts_with("latency")
        || path.starts_with("ttft")
        || path.starts_with("first_visible")
        || path.starts_with("runtime")
        || path.starts_with("peak_rss")
        || matches!(
            last,
            "contradictions_sent"
                | "wrong_answers_sent"
                | "answers_sent_unanswerable"
                | "streamed_withdrawn"
                | "canary_leaks"
        )
    {
        return Some(false);
    }
    if path.starts_with("decisions.") || path.starts_with("verdicts.") || last == "n" {
        return None;
    }
    if last.contains("accuracy")
        || last.contains("recall")
        || last.contains("precision")
        || last.contains("f1")
        || last.contains("ndcg")
        || last.contains("mrr")
        || last == "draft_agreement"
        || last == "draft_answered"
        || last == "gen_tok_s"
    {
        return Some(true);
    }
    None
}

/// One figure that differs between two reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `Some(true)`: B is better; `Some(false)`: worse; `None`: no direction.
    pub better: Option<bool>,
}

/// A query whose outcome changed from A to B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryChange {
    pub id: String,
    pub question: String,
    pub a: String,
    pub b: String,
    pub better: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub rows: Vec<DiffRow>,
    pub queries: Vec<QueryChange>,
    pub better: usize,
    pub worse: usize,
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                if prefix.is_empty() && matches!(k.as_str(), "records" | "settings" | "version") {
                    continue;
                }
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), v, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// What got better or worse from report `a` to report `b`: every figure that changed, and the
/// queries (by id) whose outcome changed.
pub fn diff(a: &RunReport, b: &RunReport) -> Diff {
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(a).expect("serialises"), &mut fa);
    flatten("", &serde_json::to_value(b).expect("serialises"), &mut fb);
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows = Vec::new();
    for k in keys {
        let (x, y) = (fa.get(k).copied(), fb.get(k).copied());
        if let (Some(x), Some(y)) = (x, y) {
            if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0) {
                continue;
            }
        }
        let better = match (x, y, higher_is_better(k)) {
            (Some(x), Some(y), Some(up)) => Some((y > x) == up),
            _ => None,
        };
        rows.push(DiffRow {
            metric: k.clone(),
            a: x,
            b: y,
            better,
        });
    }
    let before: BTreeMap<&str, &super::run::QueryRecord> =
        a.records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut queries = Vec::new();
    for r in &b.records {
        let Some(old) = before.get(r.id.as_str()) else {
            continue;
        };
        let describe = |q: &super::run::QueryRecord| {
            format!(
                "{}{}",
                q.action.as_str(),
                q.failure().map(|f| format!(" ({f})")).unwrap_or_default()
            )
        };
        if old.severity() != r.severity() || old.action != r.action {
            queries.push(QueryChange {
                id: r.id.clone(),
                question: r.question.clone(),
                a: describe(old),
                b: describe(r),
                better: r.severity() < old.severity(),
            });
        }
    }
    let better = rows.iter().filter(|r| r.better == Some(true)).count();
    let worse = rows.iter().filter(|r| r.better == Some(false)).count();
    Diff {
        rows,
        queries,
        better,
        worse,
    }
}

#[cfg(test)]
mod tests {
    use super::super::run::tests::record;
    use super::super::run::{summarise, CheckerSummary};
    use super::*;
    use crate::assistant::Action;
    use crate::check::Status;

    fn report() -> RunReport {
        let mut bad = record("b");
        bad.action = Action::Send;
        bad.question = "<script>alert(1)</script> | pipe".into();
        bad.sent_check = Some(Status::Contradiction);
        let mut r = summarise(&[record("a"), bad], "hybrid");
        r.suite = "t".into();
        r.checker = Some(CheckerSummary {
            pairs: 2,
            precision: Some(1.0),
            recall: 0.5,
            f1: Some(2.0 / 3.0),
            verbatim_skipped: 0,
            by_kind: BTreeMap::new(),
            confusion: [("flag".to_string(), [("consistent".to_string(), 1)].into())].into(),
            knowledge_f1: 0.5,
            knowledge_precision: 1.0,
            knowledge_recall: 0.5,
        });
        r
    }

    #[test]
    fn thresholds_pass_fail_and_fail_when_not_measured() {
        let r = report();
        let t: BTreeMap<String, Bound> = [
            (
                "contradictions_sent",
                Bound {
                    min: None,
                    max: Some(0.0),
                },
            ),
            (
                "retrieval.recall@1",
                Bound {
                    min: Some(1.0),
                    max: None,
                },
            ),
            (
                "handoff_recall",
                Bound {
                    min: Some(0.5),
                    max: None,
                },
            ),
            (
                "checker.f1",
                Bound {
                    min: Some(0.6),
                    max: Some(0.7),
                },
            ),
        ]
        .into_iter()
        .map(|(k, b)| (k.to_string(), b))
        .collect();
        let checks = gate_checks(&r, &t, true);
        let by: BTreeMap<&str, &GateCheck> =
            checks.iter().map(|c| (c.metric.as_str(), c)).collect();
        assert!(!by["contradictions_sent"].ok);
        assert_eq!(by["contradictions_sent"].value, Some(1.0));
        assert!(by["retrieval.recall@1"].ok);
        assert!(
            !by["handoff_recall"].ok,
            "nothing is labelled handoff: not measured"
        );
        assert_eq!(by["handoff_recall"].value, None);
        assert!(by["checker.f1"].ok);
        // On a subset, lower bounds are not checked and upper bounds are.
        let subset = gate_checks(&r, &t, false);
        let by: BTreeMap<&str, &GateCheck> =
            subset.iter().map(|c| (c.metric.as_str(), c)).collect();
        assert!(!by["handoff_recall"].checked && by["handoff_recall"].ok);
        assert!(by["contradictions_sent"].checked && !by["contradictions_sent"].ok);
    }

    #[test]
    fn reports_escape_customer_text_and_hold_every_chart() {
        let r = report();
        let html = render_html(&r, &gate_checks(&r, &BTreeMap::new(), true));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert_eq!(html.matches("<svg").count(), charts(&r).len());
        assert!(charts(&r).iter().any(|c| c.file == "checker-confusion.svg"));
        let md = render_md(&r, &[]);
        assert!(md.contains("\\| pipe"));
        assert!(md.contains("![Recall@k per retrieval mode (2 queries)](recall-at-k.svg)"));
        assert!(md.contains("contradicts the approved answer"));
    }

    #[test]
    fn written_reports_read_back_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = report();
        write_reports(dir.path(), &r, &[]).unwrap();
        for f in [
            "report.json",
            "report.html",
            "report.md",
            "recall-at-k.svg",
            "latency.svg",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        assert_eq!(read_report(dir.path()).unwrap(), r);
        let other = dir.path().join("x.json");
        fs_err::write(&other, "{\"rows\": []}").unwrap();
        let e = read_report(&other).unwrap_err().to_string();
        assert!(e.contains("is not an evaluation report"), "{e}");
        let e = read_report(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn a_diff_names_what_got_better_and_what_got_worse() {
        let a = report();
        let mut fixed = record("b");
        fixed.question = "other".into();
        let mut broken = record("a");
        broken.matched = Some("c7".into());
        let mut b = summarise(&[broken, fixed], "hybrid");
        b.suite = "t".into();
        b.checker = a.checker.clone();
        let d = diff(&a, &b);
        let row = |m: &str| d.rows.iter().find(|r| r.metric == m).cloned();
        assert_eq!(row("contradictions_sent").unwrap().better, Some(true));
        assert_eq!(
            row("retrieval.canonical_accuracy").unwrap().better,
            Some(false)
        );
        assert_eq!(row("decisions.send").unwrap().better, None);
        assert!(row("queries").is_none(), "unchanged figures are left out");
        assert_eq!(d.queries.len(), 2);
        let q = |id: &str| d.queries.iter().find(|q| q.id == id).unwrap();
        assert!(q("b").better && !q("a").better);
        assert!(d.better >= 1 && d.worse >= 1);
    }
}
