//! `concord eval retrieval` on a real slice of the Polish allegro FAQ data: the JSON report has
//! every key, sane values, and recall that a regression in BM25 or fusion would break.

use std::collections::HashSet;

use crate::common;

/// Writes the first `n` allegro queries and a KB of their passages plus distractors.
fn allegro_slice(dir: &std::path::Path, n: usize, distractors: usize) -> (String, String) {
    let queries =
        fs_err::read_to_string(common::dataset("allegro_faq_pl/queries_test-A.jsonl")).unwrap();
    let kb = fs_err::read_to_string(common::dataset("allegro_faq_pl/kb.jsonl")).unwrap();
    let queries: Vec<&str> = queries.lines().take(n).collect();
    let mut wanted = HashSet::new();
    for q in &queries {
        let v: serde_json::Value = serde_json::from_str(q).unwrap();
        for id in v["relevant_ids"].as_array().unwrap() {
            wanted.insert(id.as_str().unwrap().to_string());
        }
    }
    let passages: Vec<&str> = kb
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            *i < distractors || wanted.contains(v["id"].as_str().unwrap())
        })
        .map(|(_, l)| l)
        .collect();
    let kb_path = dir.join("kb.jsonl");
    let q_path = dir.join("queries.jsonl");
    fs_err::write(&kb_path, passages.join("\n")).unwrap();
    fs_err::write(&q_path, queries.join("\n")).unwrap();
    (kb_path.display().to_string(), q_path.display().to_string())
}

#[test]
fn eval_retrieval_reports_every_mode_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, queries) = allegro_slice(dir.path(), 40, 150);
    let out = common::concord(
        dir.path(),
        &[
            "eval",
            "retrieval",
            "--kb",
            &kb,
            "--queries",
            &queries,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for mode in ["bm25", "dense", "hybrid"] {
        let m = &v[mode];
        for key in [
            "ndcg@10",
            "recall@1",
            "recall@5",
            "recall@10",
            "mrr@10",
            "p50_ms",
            "p95_ms",
            "queries",
        ] {
            assert!(m[key].is_number(), "{mode}.{key} missing in {m}");
        }
        assert_eq!(m["queries"], 40);
        let r1 = m["recall@1"].as_f64().unwrap();
        let r5 = m["recall@5"].as_f64().unwrap();
        let r10 = m["recall@10"].as_f64().unwrap();
        assert!(
            0.0 <= r1 && r1 <= r5 && r5 <= r10 && r10 <= 1.0,
            "{mode}: {m}"
        );
        assert!(m["p95_ms"].as_f64().unwrap() >= m["p50_ms"].as_f64().unwrap());
    }
    // On this slice (40 questions, ~190 passages) stemmed BM25 and hybrid find the gold passage in
    // the top 10 for about 90% of the questions, the English-only embedder alone for far fewer.
    let r10 = |mode: &str| v[mode]["recall@10"].as_f64().unwrap();
    assert!(r10("bm25") >= 0.8, "bm25 {}", r10("bm25"));
    assert!(r10("hybrid") >= 0.8, "hybrid {}", r10("hybrid"));
    assert!(
        r10("hybrid") > r10("dense"),
        "hybrid {} dense {}",
        r10("hybrid"),
        r10("dense")
    );
    assert!(v["hnsw_recall@10"].as_f64().unwrap() >= 0.99);
}

#[test]
fn a_bad_query_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, _) = allegro_slice(dir.path(), 2, 5);
    let q = dir.path().join("bad.jsonl");
    fs_err::write(
        &q,
        "{\"id\":\"1\",\"question\":\"a\",\"relevant_ids\":[\"0\"]}\n{\"id\": 2,\n",
    )
    .unwrap();
    let out = common::concord(
        dir.path(),
        &[
            "eval",
            "retrieval",
            "--kb",
            &kb,
            "--queries",
            q.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("bad.jsonl:2"),
        "{}",
        common::stderr(&out)
    );
}
