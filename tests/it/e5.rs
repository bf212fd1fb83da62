//! multilingual-e5-small loaded from its packed file against the file's own C engine: the fixture
//! (tests/fixtures/e5, made by scripts/e5ref) holds its token ids and embeddings for 40 texts.

use concord::embed::{cosine, Role};
use serde::Deserialize;

use crate::common;

#[derive(Deserialize)]
struct Line {
    role: String,
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn fixture() -> Vec<(Role, Line)> {
    let path = common::repo().join("tests/fixtures/e5/reference.jsonl");
    let lines: Vec<(Role, Line)> = fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let line: Line = serde_json::from_str(l).unwrap();
            let role = match line.role.as_str() {
                "query" => Role::Query,
                "passage" => Role::Passage,
                other => panic!("role {other}"),
            };
            (role, line)
        })
        .collect();
    assert!(lines.len() >= 40, "{} fixture texts", lines.len());
    lines
}

#[test]
fn token_ids_equal_the_c_tokenizer() {
    let e = common::embedder();
    assert_eq!(
        e.name(),
        "multilingual-e5-small",
        "e5 is the default embedder"
    );
    for (role, line) in fixture() {
        assert_eq!(
            e.token_ids(&line.text, role).unwrap(),
            line.ids,
            "ids for {:?}",
            line.text
        );
    }
}

#[test]
fn embeddings_agree_with_the_c_engine_one_by_one_and_batched() {
    let e = common::embedder();
    let fixture = fixture();
    let mut worst = 1.0f32;
    for (role, line) in &fixture {
        let ours = e.embed(&[line.text.as_str()], *role).unwrap().remove(0);
        assert_eq!(ours.len(), 384);
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        worst = worst.min(cosine(&ours, &line.embedding));
    }
    assert!(worst >= 0.999, "worst cosine to the C engine {worst}");
    let inputs: Vec<(Role, &str)> = fixture.iter().map(|(r, l)| (*r, l.text.as_str())).collect();
    let batched = e.embed_with_progress(&inputs, |_| {}).unwrap();
    for ((_, line), b) in fixture.iter().zip(&batched) {
        let c = cosine(b, &line.embedding);
        assert!(c >= 0.999, "batched cosine {c} for {:?}", line.text);
    }
}

#[test]
fn the_role_prefix_changes_the_embedding_and_repeats_come_from_the_cache() {
    let e = common::embedder();
    let q = "Jak mogę odesłać produkt?";
    let as_query = e.embed_one(q, Role::Query).unwrap();
    let as_passage = e.embed_one(q, Role::Passage).unwrap();
    assert!(cosine(&as_query, &as_passage) < 0.999);
    assert_eq!(e.embed_one(q, Role::Query).unwrap(), as_query);
}

#[test]
fn polish_paraphrases_are_closer_than_other_topics() {
    let e = common::embedder();
    let v = |t: &str| e.embed_one(t, Role::Query).unwrap();
    let a = v("Jak mogę zwrócić zamówienie?");
    let b = v("Chcę odesłać kupiony towar, co mam zrobić?");
    let c = v("Ile kosztuje dostawa kurierem?");
    assert!(cosine(&a, &b) > cosine(&a, &c), "return vs delivery");
}

/// Concord's own Unigram tokenizer (43 MB) against the tokenizers crate's (257 MB), both built
/// from the blob: the same ids and byte offsets on every text of the demo knowledge base, the C
/// fixture and edge cases.
#[test]
fn our_tokenizer_equals_the_tokenizers_crate() {
    use concord::embed::{e5, e5blob::Blob, unigram::UnigramTokenizer, E5_FILE};
    let cfg = common::config(std::path::Path::new("unused"));
    let store = concord::models::ModelStore::new(&cfg.models).unwrap();
    let model = store.ensure(&cfg.models.embedder).unwrap();
    let blob = Blob::parse(fs_err::read(&model.files[E5_FILE]).unwrap()).unwrap();
    let reference = e5::reference_tokenizer(&blob).unwrap();
    let ours = UnigramTokenizer::new(&blob.vocab, &blob.normalisation);

    let mut texts: Vec<String> = fixture().into_iter().map(|(_, l)| l.text).collect();
    for entry in walkdir(&common::repo().join("knowledge")) {
        let text = fs_err::read_to_string(&entry).unwrap();
        texts.extend(text.lines().map(str::to_string));
        texts.push(text);
    }
    texts.extend(
        [
            "",
            " ",
            "   spaces  around   ",
            "\t\ttabs\nand\r\nnewlines\n",
            "emoji 😀😀 run 🎉",
            "<s> tags </s> <unk>",
            "ﬁligrane ligature ①",
            "zażółć gęślą jaźń ZAŻÓŁĆ",
            "a\u{200b}b\u{00a0}c",
        ]
        .map(str::to_string),
    );
    let mut compared = 0;
    for text in &texts {
        let enc = reference.encode(text.as_str(), false).unwrap();
        let theirs_offsets = concord::knowledge::chunk::piece_offsets_of(&enc);
        let mine = ours.encode(text);
        assert_eq!(mine.ids, enc.get_ids(), "ids for {text:?}");
        assert_eq!(mine.offsets, theirs_offsets, "offsets for {text:?}");
        let with = reference.encode(text.as_str(), true).unwrap();
        assert_eq!(ours.ids_with_specials(text), with.get_ids(), "{text:?}");
        compared += 1;
    }
    assert!(compared > 1000, "{compared} texts compared");
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}
