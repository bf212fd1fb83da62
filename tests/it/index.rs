//! Index building and retrieval on real files: the demo knowledge base answers typical questions,
//! re-ingestion is incremental and atomic (crashes and kills leave the previous index usable),
//! damaged files and a different embedding model are refused.

use std::path::Path;

use concord::config::RetrievalMode;
use concord::index::{ExpectedEmbedder, Index, IndexDir, IndexError};
use concord::ingest::{ingest, KnowledgeSource};
use concord::retrieve::Retriever;
use concord::Config;
use indicatif::ProgressBar;

use crate::common;

fn expected(e: &concord::embed::Embedder) -> ExpectedEmbedder<'_> {
    ExpectedEmbedder {
        name: e.name(),
        fingerprint: e.fingerprint(),
    }
}

fn open(cfg: &Config) -> Result<Index, IndexError> {
    IndexDir::new(&cfg.data_dir).open(&expected(common::embedder()), cfg.hnsw.ef_search)
}

fn demo() -> &'static (tempfile::TempDir, Config, Index) {
    common::demo_index()
}

fn ask(question: &str, mode: RetrievalMode) -> concord::retrieve::Retrieval {
    let (_, cfg, index) = demo();
    Retriever::new(index, common::embedder(), cfg.retrieval)
        .retrieve(question, mode, 5)
        .unwrap()
}

#[test]
fn typical_questions_find_their_canonical_answer_and_sources() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "Ile kosztuje dostawa do paczkomatu?",
            "pl-delivery-cost",
            &["pl-delivery-costs", "pl-parcel-lockers"],
        ),
        (
            "jak moge zwrocic zamowienie",
            "pl-return-how",
            &["pl-returns"],
        ),
        (
            "How long do I have to return an item?",
            "en-returns-deadline",
            &["en-returns"],
        ),
        ("I forgot my password", "en-password-reset", &["en-account"]),
        (
            "Do you ship to Germany?",
            "en-international-shipping",
            &["en-international-shipping"],
        ),
    ];
    for (q, canonical, expected_docs) in cases {
        let r = ask(q, RetrievalMode::Hybrid);
        let canon: Vec<&str> = r.canonical.iter().map(|c| c.id.0.as_str()).collect();
        assert!(canon.contains(&canonical), "{q:?}: canonical {canon:?}");
        let docs: Vec<String> = r.docs().into_iter().map(|d| d.0).collect();
        assert!(
            docs.iter().any(|d| expected_docs.contains(&d.as_str())),
            "{q:?}: docs {docs:?}"
        );
        assert!(r.chunks.len() <= 5);
        let best = &r.canonical[0];
        assert!(
            best.similarity > 0.3 && best.similarity <= 1.0001,
            "{q:?}: {best:?}"
        );
    }
}

#[test]
fn each_mode_reports_its_own_scores() {
    let q = "Ile kosztuje dostawa kurierem DPD?";
    let bm25 = ask(q, RetrievalMode::Bm25);
    assert!(bm25
        .chunks
        .iter()
        .all(|c| c.bm25.is_some() && c.dense.is_none()));
    let dense = ask(q, RetrievalMode::Dense);
    assert!(dense
        .chunks
        .iter()
        .all(|c| c.dense.is_some() && c.bm25.is_none()));
    let hybrid = ask(q, RetrievalMode::Hybrid);
    assert!(hybrid
        .chunks
        .iter()
        .any(|c| c.bm25.is_some() && c.dense.is_some()));
    assert!(hybrid.chunks.windows(2).all(|w| w[0].score >= w[1].score));
    // Ranks are the retrievers' own: a chunk's BM25 rank in hybrid equals its rank in BM25 mode.
    for c in &hybrid.chunks {
        if let Some(b) = c.bm25 {
            if let Some(same) = bm25.chunks.iter().find(|x| x.id == c.id) {
                assert_eq!(same.bm25.unwrap().rank, b.rank);
            }
        }
    }
}

#[test]
fn empty_and_symbol_only_questions() {
    let (_, cfg, index) = demo();
    let r = Retriever::new(index, common::embedder(), cfg.retrieval);
    assert!(r.retrieve("   ", RetrievalMode::Hybrid, 5).is_err());
    let odd = r.retrieve("??? !!!", RetrievalMode::Bm25, 5).unwrap();
    assert!(odd.chunks.is_empty(), "nothing to match lexically");
}

#[test]
fn search_cli_prints_scores_and_json() {
    let (dir, _, _) = demo();
    let out = common::concord(
        dir.path(),
        &["search", "zwrot towaru", "--k", "3", "--json"],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    assert!(v["results"][0]["score"].as_f64().unwrap() > 0.0);
    assert!(v["canonical"][0]["similarity"].as_f64().is_some());
    let out = common::concord(dir.path(), &["search", "zwrot towaru", "--mode", "bm25"]);
    assert!(out.status.success());
    assert!(
        common::stdout(&out).contains("best canonical answer"),
        "{}",
        common::stdout(&out)
    );
    let out = common::concord(dir.path(), &["search", "x", "--mode", "fuzzy"]);
    assert!(!out.status.success());
}

fn small(dir: &Path) -> (tempfile::TempDir, Config) {
    let kb = tempfile::tempdir().unwrap();
    common::small_kb(kb.path());
    let mut cfg = common::config(dir);
    cfg.knowledge_dir = kb.path().to_path_buf();
    (kb, cfg)
}

fn ingest_dir(cfg: &Config) -> concord::ingest::IngestReport {
    ingest(
        &concord::pipeline::ingest_settings(cfg),
        &KnowledgeSource::Dir(cfg.knowledge_dir.clone()),
        common::embedder(),
        &ProgressBar::hidden(),
    )
    .unwrap()
}

/// Number of passages the index holds for article `doc`.
fn passages_of(index: &Index, doc: &str) -> usize {
    let entry = index.manifest.documents.iter().find(|d| d.id == doc);
    entry.expect("article is indexed").count
}

const NEW_FACT: &str = "\n## Zwrot mebli ogrodowych\n\nMeble ogrodowe odbiera od Ciebie kurier Raben w ciągu 6 dni roboczych.\n";

#[test]
fn reingest_embeds_only_changed_articles() {
    let data = tempfile::tempdir().unwrap();
    let (kb, cfg) = small(data.path());
    let first = ingest_dir(&cfg);
    assert!(first.embedded_chunks > 0 && first.reused_chunks == 0);

    let again = ingest_dir(&cfg);
    assert_eq!(again.embedded_chunks, 0, "nothing changed");
    assert_eq!(again.embedded_canonical_rows, 0);
    assert_eq!(again.reused_chunks, first.chunks);

    let path = kb.path().join("articles/pl/returns.md");
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, format!("{text}{NEW_FACT}")).unwrap();
    let returns_before = passages_of(&open(&cfg).unwrap(), "pl-returns");
    let changed = ingest_dir(&cfg);
    let index = open(&cfg).unwrap();
    let returns_after = passages_of(&index, "pl-returns");
    assert_eq!(
        changed.embedded_chunks, returns_after,
        "only the changed article is embedded"
    );
    assert!(returns_after > returns_before);
    assert_eq!(changed.reused_chunks, changed.chunks - returns_after);

    let r = Retriever::new(&index, common::embedder(), cfg.retrieval)
        .retrieve(
            "Kto odbiera meble ogrodowe przy zwrocie?",
            RetrievalMode::Hybrid,
            3,
        )
        .unwrap();
    let top = &index.chunks[r.chunks[0].ord as usize];
    assert!(
        top.text.contains("Raben"),
        "the new passage is found: {:?}",
        top.text
    );
}

fn current_generation(cfg: &Config) -> std::path::PathBuf {
    IndexDir::new(&cfg.data_dir).current().unwrap().unwrap()
}

#[test]
fn a_crash_at_any_build_step_leaves_the_previous_index_usable() {
    let data = tempfile::tempdir().unwrap();
    let (kb, cfg) = small(data.path());
    ingest_dir(&cfg);
    let good = current_generation(&cfg);
    let path = kb.path().join("articles/pl/returns.md");
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, format!("{text}{NEW_FACT}")).unwrap();
    let knowledge = kb.path().to_str().unwrap();
    for stage in ["data", "lexical", "graph", "manifest"] {
        let out = common::concord(
            data.path(),
            &["ingest", "--knowledge", knowledge, "--crash-after", stage],
        );
        assert!(!out.status.success(), "{stage}: the process aborted");
        assert!(
            common::stderr(&out).contains("aborting after"),
            "{}",
            common::stderr(&out)
        );
        assert_eq!(
            current_generation(&cfg),
            good,
            "{stage}: CURRENT still names the old index"
        );
        let index = open(&cfg).expect("the previous index opens");
        assert!(!index.chunks.iter().any(|c| c.text.contains("Raben")));
    }
    // A crash after publishing leaves the new index in place.
    let out = common::concord(
        data.path(),
        &[
            "ingest",
            "--knowledge",
            knowledge,
            "--crash-after",
            "published",
        ],
    );
    assert!(!out.status.success());
    assert_ne!(current_generation(&cfg), good);
    assert!(open(&cfg)
        .unwrap()
        .chunks
        .iter()
        .any(|c| c.text.contains("Raben")));
    // The next build removes the abandoned generations, keeping the published one and its predecessor.
    ingest_dir(&cfg);
    let gens = fs_err::read_dir(data.path().join("index"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("gen-")
        })
        .count();
    assert_eq!(gens, 2);
}

#[test]
fn a_kill_during_ingest_leaves_the_previous_index_usable() {
    let data = tempfile::tempdir().unwrap();
    let (_kb, cfg) = small(data.path());
    ingest_dir(&cfg);
    let good = current_generation(&cfg);
    // A larger import takes long enough to be killed in the middle of embedding.
    let kb = common::dataset("allegro_faq_pl/kb.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["ingest", "--kb", kb.to_str().unwrap(), "--data-dir"])
        .arg(data.path())
        .env("CONCORD__MODELS__DIR", common::repo().join("models"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before it could finish");
    assert_eq!(current_generation(&cfg), good);
    let index = open(&cfg).unwrap();
    assert_eq!(index.manifest.documents.len(), 6);
    // The lock died with the process: a new ingest runs.
    ingest_dir(&cfg);
}

#[test]
fn an_index_from_another_embedding_model_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let (_kb, cfg) = small(data.path());
    ingest_dir(&cfg);
    let err = IndexDir::new(&cfg.data_dir)
        .open(
            &ExpectedEmbedder {
                name: "all-minilm-l6-v2",
                fingerprint: "0123456789abcdef",
            },
            64,
        )
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, IndexError::EmbedderMismatch { .. }), "{msg}");
    assert!(
        msg.contains("all-minilm-l6-v2") && msg.contains("multilingual-e5-small"),
        "{msg}"
    );
    assert!(msg.contains("concord ingest"), "{msg}");
}

#[test]
fn damaged_index_files_are_detected() {
    let data = tempfile::tempdir().unwrap();
    let (_kb, cfg) = small(data.path());
    ingest_dir(&cfg);
    let generation = current_generation(&cfg);
    let vectors = generation.join("chunk_vectors.bin");
    let mut bytes = fs_err::read(&vectors).unwrap();
    bytes[100] ^= 0xff;
    fs_err::write(&vectors, bytes).unwrap();
    assert!(matches!(open(&cfg), Err(IndexError::Corrupt { .. })));
    // Re-ingesting repairs it (the damaged generation is not reused).
    let report = ingest_dir(&cfg);
    assert_eq!(report.reused_chunks, 0);
    open(&cfg).unwrap();

    // A missing index is its own, actionable error.
    let empty = tempfile::tempdir().unwrap();
    let err = open(&common::config(empty.path())).err().unwrap();
    assert!(err.to_string().contains("run `concord ingest`"), "{err}");
}

#[test]
fn only_one_build_at_a_time() {
    let data = tempfile::tempdir().unwrap();
    let dir = IndexDir::new(data.path());
    let held = dir.lock().unwrap();
    assert!(matches!(dir.lock(), Err(IndexError::Busy { .. })));
    drop(held);
    dir.lock().unwrap();
}
