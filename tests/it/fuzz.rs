//! Fuzzing (issue 20): the knowledge parsers (Markdown with front matter, approved answers in
//! TOML, JSONL passages), the GGUF header reader, the e5 blob reader and the customer API bodies
//! take arbitrary and mutated input without panicking; every refusal is a clear error. Seeds in
//! `tests/fuzz/corpus` (committed); proptest keeps failing cases in `proptest-regressions`.

use std::path::PathBuf;

use concord::assistant::Mode;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestRunner};
use serde_json::Value;

use crate::common;
use crate::console::{client, console_server_with};

/// The committed seeds of one kind, in name order.
fn seeds(kind: &str) -> Vec<Vec<u8>> {
    let dir = common::repo().join("tests/fuzz/corpus").join(kind);
    let mut paths: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths.iter().map(|p| fs_err::read(p).unwrap()).collect()
}

/// One edit of a seed: what to do, where (taken modulo the length) and a value.
type Edit = (u8, usize, u32);

/// Applies `edits` to `seed`: flip a byte, cut the tail, insert a byte, repeat a run, or write an
/// extreme little-endian u32 (lengths and counts are where readers over-allocate or overflow).
fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(op, at, v) in edits {
        let at = if b.is_empty() { 0 } else { at % b.len() };
        match op {
            0 if !b.is_empty() => b[at] ^= (v as u8).max(1),
            1 => b.truncate(at),
            2 => b.insert(at, v as u8),
            3 if !b.is_empty() => {
                let end = (at + 1 + (v as usize % 64)).min(b.len());
                let run = b[at..end].to_vec();
                b.splice(at..at, run);
            }
            _ => {
                let extreme = [u32::MAX, 0x7fff_ffff, 0x8000_0000, 0, 1 << 20][v as usize % 5];
                for (i, byte) in extreme.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = byte;
                    }
                }
            }
        }
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((0u8..5, any::<usize>(), any::<u32>()), 1..6)
}

/// A seed of `kind` mutated, or (one case in four) arbitrary bytes.
fn input(kind: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(kind);
    let n = seeds.len();
    prop_oneof![
        3 => (0..n, edits()).prop_map(move |(i, e)| mutate(&seeds[i], &e)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn articles_parse_or_say_why(bytes in input("article")) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = concord::knowledge::parse::parse_article(&text, "fuzz.md") {
            prop_assert!(!e.message.trim().is_empty());
        }
    }

    #[test]
    fn approved_answers_parse_or_say_why(bytes in input("canonical")) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = concord::knowledge::canonical::parse_canonical_file(&text, "fuzz.toml") {
            prop_assert!(!e.message.trim().is_empty());
        }
    }

    #[test]
    fn passages_parse_or_say_why(bytes in input("jsonl")) {
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if let Err(e) = concord::knowledge::parse::parse_jsonl_passage(line, "fuzz.jsonl", i + 1) {
                prop_assert!(!e.message.trim().is_empty());
            }
        }
    }

    #[test]
    fn e5_blobs_are_read_or_refused(bytes in input("e5")) {
        if let Err(e) = concord::embed::e5blob::Blob::parse(bytes) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(cases(200))]

    #[test]
    fn gguf_headers_are_read_or_refused(bytes in input("gguf")) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.gguf");
        fs_err::write(&path, &bytes).unwrap();
        if let Err(e) = concord::llm::gguf::GgufFile::open(&path) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
        if let Err(e) = concord::llm::tokenizer::load_tokenizer(&path) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }
}

#[test]
fn the_seeds_themselves_are_valid() {
    // Otherwise the mutations would only ever explore the first error path.
    for (kind, ok) in [
        (
            "article",
            seeds("article").iter().all(|b| {
                concord::knowledge::parse::parse_article(&String::from_utf8_lossy(b), "s.md")
                    .is_ok()
            }),
        ),
        (
            "canonical",
            seeds("canonical").iter().all(|b| {
                concord::knowledge::canonical::parse_canonical_file(
                    &String::from_utf8_lossy(b),
                    "s.toml",
                )
                .is_ok()
            }),
        ),
        (
            "jsonl",
            seeds("jsonl").iter().all(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .enumerate()
                    .all(|(i, l)| {
                        concord::knowledge::parse::parse_jsonl_passage(l, "s.jsonl", i + 1).is_ok()
                    })
            }),
        ),
        (
            "e5",
            seeds("e5")
                .into_iter()
                .all(|b| concord::embed::e5blob::Blob::parse(b).is_ok()),
        ),
    ] {
        assert!(ok, "a {kind} seed does not parse");
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, b) in seeds("gguf").iter().enumerate() {
        let path = dir.path().join(format!("{i}.gguf"));
        fs_err::write(&path, b).unwrap();
        concord::llm::gguf::GgufFile::open(&path).unwrap();
    }
}

/// A JSON value of the shapes customer bodies have, with their field names among others.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        let key = prop_oneof![
            Just("text".to_string()),
            Just("lang".to_string()),
            Just("context".to_string()),
            Just("thumb".to_string()),
            Just("csat".to_string()),
            Just("nps".to_string()),
            Just("resolved".to_string()),
            Just("message_id".to_string()),
            Just("email".to_string()),
            Just("consent".to_string()),
            ".{0,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: JSON as above, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

#[test]
fn customer_api_bodies_never_fail_on_our_side() {
    let s = console_server_with(Mode::Autopilot, |_| {});
    let c = client();
    let (id, token) = s.rt.block_on(s.customer(&c, "pl"));
    let endpoints = ["", "/feedback", "/contact", "/messages", "/handoff"];
    let mut runner = TestRunner::new(RunConfig {
        cases: 160,
        ..RunConfig::default()
    });
    let result = runner.run(&(0..endpoints.len(), body()), |(e, body)| {
        let endpoint = endpoints[e];
        // A well-formed question would be answered by the model: worth nothing here, and slow.
        if endpoint == "/messages" {
            let v: Option<Value> = serde_json::from_slice(&body).ok();
            prop_assume!(v
                .as_ref()
                .and_then(|v| v["text"].as_str())
                .is_none_or(|t| t.trim().is_empty()));
        }
        let (status, text) = s.rt.block_on(async {
            let url = if endpoint.is_empty() {
                format!("{}/api/conversations", s.base)
            } else {
                format!("{}/api/conversations/{id}{endpoint}", s.base)
            };
            let r = c
                .post(url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        });
        prop_assert!(!status.is_server_error(), "{endpoint}: {status} {text}");
        if status.is_client_error() {
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                TestCaseError::fail(format!("{endpoint}: {status} not JSON: {e}: {text}"))
            })?;
            prop_assert!(v["code"].is_string() && v["message"].is_string(), "{text}");
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The conversation still works after all of that.
    let status = s.rt.block_on(async {
        c.get(format!("{}/api/conversations/{id}", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
}
