//! Embeddings against sentence-transformers: the fixture in tests/fixtures/embeddings was made by
//! make_reference.py with the reference implementation; ours must agree to cosine >= 0.999.

use concord::embed::Role;
use serde::Deserialize;

use crate::common;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let path = common::repo().join("tests/fixtures/embeddings/reference.json");
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_match_sentence_transformers_one_at_a_time() {
    let embedder = common::minilm();
    let reference = reference();
    assert!(reference.sentences.len() >= 12);
    for s in &reference.sentences {
        let ours = embedder.embed_one(&s.text, Role::Query).unwrap();
        assert_eq!(ours.len(), 384);
        let c = cosine(&ours, &s.embedding);
        assert!(c >= 0.999, "cosine {c} for {:?}", s.text);
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

#[test]
fn batched_embeddings_equal_single_ones_and_keep_order() {
    let embedder = common::minilm();
    let reference = reference();
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let batched = embedder.embed(&texts, Role::Passage).unwrap();
    assert_eq!(batched.len(), texts.len());
    for (s, b) in reference.sentences.iter().zip(&batched) {
        let c = cosine(b, &s.embedding);
        assert!(c >= 0.999, "batched cosine {c} for {:?}", s.text);
    }
    assert!(embedder.embed(&[], Role::Passage).unwrap().is_empty());
}

#[test]
fn similar_questions_are_closer_than_unrelated_ones() {
    let e = common::minilm();
    let a = e
        .embed_one("How can I return my order?", Role::Query)
        .unwrap();
    let b = e
        .embed_one("I want to send back the item I bought", Role::Query)
        .unwrap();
    let c = e
        .embed_one("Do you sell garden furniture?", Role::Query)
        .unwrap();
    assert!(cosine(&a, &b) > cosine(&a, &c) + 0.1);
}
