//! `concord eval run | audit | diff` with the real models on the demo knowledge base: reports
//! written with every key, deterministic decisions, the gate failing a run, bad suites refused.

use std::path::Path;

use serde_json::Value;

use crate::common;

/// Demo-suite lines by id (a Polish answer, an English answer, a request for a person, an
/// unanswerable question and a pure prompt injection).
fn demo_lines(ids: &[&str]) -> String {
    let text = fs_err::read_to_string(common::repo().join("eval/demo/queries.jsonl")).unwrap();
    let mut out = String::new();
    for id in ids {
        let line = text
            .lines()
            .find(|l| serde_json::from_str::<Value>(l).unwrap()["id"] == *id)
            .unwrap_or_else(|| panic!("query {id} is in eval/demo/queries.jsonl"));
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The first query of the demo set with `expect` and `tag`.
fn demo_id(expect: &str, tag: &str, lang: &str) -> String {
    let text = fs_err::read_to_string(common::repo().join("eval/demo/queries.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| {
            v["expect"] == expect
                && v["lang"] == lang
                && v["tags"].as_array().unwrap().iter().any(|t| t == tag)
        })
        .map(|v| v["id"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("the demo set has a {lang} {expect} query tagged {tag}"))
}

fn write_suite(dir: &Path, queries: &str, thresholds: &str) -> std::path::PathBuf {
    fs_err::write(dir.join("q.jsonl"), queries).unwrap();
    fs_err::write(
        dir.join("audit.toml"),
        "[[question]]\ntopic = \"returns\"\ncanonical_en = \"en-returns-deadline\"\n\
         en = [\"How many days do I have to send something back?\", \"return deadline?\"]\n",
    )
    .unwrap();
    let suite = dir.join("suite.toml");
    fs_err::write(
        &suite,
        format!(
            "name = \"mini\"\nknowledge = {:?}\nqueries = \"q.jsonl\"\naudit = \"audit.toml\"\n\
             [thresholds]\ncontradictions_sent = {{ max = 0 }}\n{thresholds}",
            common::repo().join("knowledge").display().to_string()
        ),
    )
    .unwrap();
    suite
}

fn json_report(dir: &Path) -> Value {
    serde_json::from_str(&fs_err::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// What must not change between two runs of the same suite (everything but times).
fn outcomes(report: &Value) -> Vec<Value> {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::json!([
                r["id"],
                r["action"],
                r["matched"],
                r["reply"],
                r["draft"],
                r["verdict"],
                r["ranked"]
            ])
        })
        .collect()
}

#[test]
fn eval_run_reports_every_figure_is_deterministic_and_gates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ids = [
        demo_id("answer", "plain", "pl"),
        demo_id("answer", "typo", "en"),
        demo_id("handoff", "person", "pl"),
        demo_id("no_answer", "unanswerable", "en"),
        demo_id("no_answer", "injection", "en"),
    ];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    // An impossible latency bound: the gate must fail on it, and only with --gate.
    let suite = write_suite(
        dir.path(),
        &demo_lines(&ids),
        "\"latency_ms.p50\" = { max = 0.001 }\n",
    );
    let suite = suite.display().to_string();
    let out_a = dir.path().join("a");
    let a = common::concord(
        &data,
        &[
            "eval",
            "run",
            &suite,
            "--json",
            "--out",
            out_a.to_str().unwrap(),
        ],
    );
    assert!(a.status.success(), "{}", common::stderr(&a));
    let v: Value = serde_json::from_slice(&a.stdout).unwrap();
    for key in [
        "queries",
        "retrieval",
        "decisions",
        "contradictions_sent",
        "handoff_precision",
        "handoff_recall",
        "draft_agreement",
        "latency_ms",
        "gen_tok_s",
    ] {
        assert!(v.get(key).is_some(), "--json has `{key}`: {v}");
    }
    assert_eq!(v["queries"], 5);
    assert!(
        v.get("records").is_none(),
        "--json leaves the records to report.json"
    );
    for k in [
        "ndcg@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr@10",
        "canonical_accuracy",
    ] {
        let x = v["retrieval"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    for p in ["p50", "p95", "p99"] {
        assert!(v["latency_ms"][p].as_f64().unwrap() > 0.0);
    }
    let shares: f64 = v["decisions"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!(
        (shares - 1.0).abs() < 1e-9,
        "decision shares sum to 1: {}",
        v["decisions"]
    );
    assert_eq!(v["contradictions_sent"], 0);
    // The request for a person is handed off before any model runs, and the unanswerable and
    // injection messages get no answer.
    let report = json_report(&out_a);
    let rec = |id: &str| {
        report["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(rec(ids[2])["action"], "handoff");
    for id in [ids[3], ids[4]] {
        let action = rec(id)["action"].as_str().unwrap().to_string();
        assert!(
            ["no_answer", "hold", "handoff"].contains(&action.as_str()),
            "{id}: {action}"
        );
    }
    assert_eq!(v["handoff_recall"], 1.0);
    let gate = v["gate"].as_array().unwrap();
    assert!(gate
        .iter()
        .any(|g| g["metric"] == "latency_ms.p50" && g["ok"] == false));
    for f in [
        "report.json",
        "report.html",
        "report.md",
        "recall-at-k.svg",
        "decisions.svg",
        "latency.svg",
    ] {
        assert!(out_a.join(f).is_file(), "{f} written");
    }
    let html = fs_err::read_to_string(out_a.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && !html.contains("src=\"http"),
        "self-contained HTML"
    );

    // Again, with --gate: the same decisions and texts, and exit status 1 naming the figure.
    let out_b = dir.path().join("b");
    let b = common::concord(
        &data,
        &[
            "eval",
            "run",
            &suite,
            "--gate",
            "--out",
            out_b.to_str().unwrap(),
        ],
    );
    assert_eq!(b.status.code(), Some(1), "{}", common::stderr(&b));
    assert!(
        common::stderr(&b).contains("gate failed: latency_ms.p50"),
        "{}",
        common::stderr(&b)
    );
    assert_eq!(
        outcomes(&report),
        outcomes(&json_report(&out_b)),
        "deterministic"
    );

    let d = common::concord(
        &data,
        &[
            "eval",
            "diff",
            out_a.to_str().unwrap(),
            out_b.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(d.status.success(), "{}", common::stderr(&d));
    let d: Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(
        d["queries"].as_array().unwrap().len(),
        0,
        "no outcome changed: {d}"
    );
    assert!(
        d["rows"].as_array().unwrap().iter().all(|r| {
            let m = r["metric"].as_str().unwrap();
            m.starts_with("latency")
                || m.starts_with("ttft")
                || m.starts_with("first_visible")
                || m.starts_with("runtime")
                || m.starts_with("gen_tok_s")
                || m.starts_with("peak_rss")
        }),
        "only times differ: {d}"
    );

    // The retrieval-and-policy mode decides as the drafted run wherever no draft was sent, and
    // writes no draft; a draft that was sent is counted as held or the approved answer.
    let out_f = dir.path().join("f");
    let f = common::concord(
        &data,
        &[
            "eval",
            "run",
            &suite,
            "--fast",
            "--json",
            "--out",
            out_f.to_str().unwrap(),
        ],
    );
    assert!(f.status.success(), "{}", common::stderr(&f));
    let fast = json_report(&out_f);
    assert_eq!(fast["settings"]["drafts"], false);
    for r in fast["records"].as_array().unwrap() {
        let drafted = rec(r["id"].as_str().unwrap());
        assert!(r["draft"].is_null(), "{r}");
        if drafted["action"] == "send" {
            assert!(
                ["send_canonical", "hold"].contains(&r["action"].as_str().unwrap()),
                "{r}"
            );
        } else {
            assert_eq!(r["action"], drafted["action"], "{r} vs {drafted}");
            assert_eq!(r["matched"], drafted["matched"]);
        }
    }

    // The audit on the same knowledge: both paths, the same answers.
    let out_c = dir.path().join("c");
    let c = common::concord(
        &data,
        &[
            "eval",
            "audit",
            &suite,
            "--json",
            "--out",
            out_c.to_str().unwrap(),
        ],
    );
    assert!(c.status.success(), "{}", common::stderr(&c));
    let c: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(
        c["answers"].as_array().unwrap().len(),
        4,
        "2 phrasings × CLI and HTTP"
    );
    assert_eq!(
        c["cli_http_same"], 100.0,
        "the API answers as the pipeline does: {c}"
    );
    let score = c["consistency"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&score));
    assert!(out_c.join("audit.md").is_file());
}

#[test]
fn bad_suites_and_reports_are_refused_before_any_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write_suite(
        dir.path(),
        &demo_lines(&["pl-001"]),
        "recal = { min = 1 }\n",
    );
    let out = dir.path().join("out");
    let o = common::concord(
        dir.path(),
        &[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "bad input: {}",
        common::stderr(&o)
    );
    assert!(
        common::stderr(&o).contains("unknown metric `recal`"),
        "{}",
        common::stderr(&o)
    );
    assert!(!out.exists(), "nothing written");

    let suite = write_suite(dir.path(), "{\"id\": \"x\", \"question\": \"\"}\n", "");
    let o = common::concord(dir.path(), &["eval", "run", suite.to_str().unwrap()]);
    assert!(
        common::stderr(&o).contains("q.jsonl:1: the question is empty"),
        "{}",
        common::stderr(&o)
    );

    fs_err::write(dir.path().join("r.json"), "{}").unwrap();
    let r = dir.path().join("r.json").display().to_string();
    let o = common::concord(dir.path(), &["eval", "diff", &r, &r]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("is not an evaluation report"),
        "{}",
        common::stderr(&o)
    );
}
