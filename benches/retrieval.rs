//! Criterion benchmarks of the retrieval kernels: chunking, fusion, BM25 query, HNSW search,
//! query embedding and batch embedding, on the demo knowledge base with the real embedder.
//! Run with `cargo bench` (not part of CI; quote the numbers in closing notes).

use std::path::PathBuf;

use concord::config::{Config, RetrievalMode};
use concord::embed::{Embedder, Role};
use concord::index::lexical::KIND_CHUNK;
use concord::index::{ExpectedEmbedder, IndexDir};
use concord::ingest::{ingest, KnowledgeSource};
use concord::knowledge::{chunk_article, KnowledgeBase};
use concord::models::ModelStore;
use concord::retrieve::fusion::{reciprocal_rank_fusion, Ranked};
use concord::retrieve::Retriever;
use criterion::{criterion_group, criterion_main, Criterion};

fn setup() -> (Config, Embedder, tempfile::TempDir) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::defaults().expect("defaults");
    cfg.models.dir = repo.join("models");
    cfg.knowledge_dir = repo.join("knowledge");
    cfg.data_dir = data.path().to_path_buf();
    let store = ModelStore::new(&cfg.models).expect("manifest");
    let model = store.ensure(&cfg.models.embedder).expect("embedder model");
    let embedder = Embedder::load(&model, &cfg.embed).expect("embedder");
    (cfg, embedder, data)
}

fn benches(c: &mut Criterion) {
    let (cfg, embedder, _data) = setup();
    let kb = KnowledgeBase::load_dir(&cfg.knowledge_dir).expect("demo kb");
    c.bench_function("chunk/demo_kb_56_articles", |b| {
        b.iter(|| {
            kb.articles
                .iter()
                .map(|a| {
                    chunk_article(a, &embedder, &cfg.chunking)
                        .expect("chunks")
                        .len()
                })
                .sum::<usize>()
        })
    });

    let a: Vec<u32> = (0..50).collect();
    let d: Vec<u32> = (25..75).rev().collect();
    c.bench_function("fusion/rrf_2x50", |b| {
        b.iter(|| {
            reciprocal_rank_fusion(
                &[
                    Ranked {
                        weight: 1.0,
                        items: &a,
                    },
                    Ranked {
                        weight: 1.0,
                        items: &d,
                    },
                ],
                60.0,
                10,
            )
        })
    });

    ingest(
        &concord::pipeline::ingest_settings(&cfg),
        &KnowledgeSource::Dir(cfg.knowledge_dir.clone()),
        &embedder,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("ingest");
    let index = IndexDir::new(&cfg.data_dir)
        .open(
            &ExpectedEmbedder {
                name: embedder.name(),
                fingerprint: embedder.fingerprint(),
            },
            cfg.hnsw.ef_search,
        )
        .expect("index");
    let q = "Ile kosztuje dostawa do paczkomatu?";
    let qv = embedder.embed_one(q, Role::Query).expect("embedding");
    c.bench_function("lexical_query/demo", |b| {
        b.iter(|| index.lexical.search(q, KIND_CHUNK, 50).expect("search"))
    });
    let hnsw = index.hnsw.as_ref().expect("graph");
    c.bench_function("vector_search/hnsw_demo_k50", |b| {
        b.iter(|| hnsw.search(&qv, 50))
    });
    c.bench_function("embed/query", |b| {
        // Uncached: `embed` bypasses the query cache that `embed_one` keeps.
        b.iter(|| embedder.embed(&[q], Role::Query).expect("embedding"))
    });
    let texts: Vec<String> = index
        .chunks
        .iter()
        .take(16)
        .map(|c| c.embed_text())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    c.bench_function("embed/batch16_passages", |b| {
        b.iter(|| embedder.embed(&refs, Role::Passage).expect("embeddings"))
    });
    let retriever = Retriever::new(&index, &embedder, cfg.retrieval);
    c.bench_function("retrieve/hybrid_with_query_embedding", |b| {
        b.iter(|| {
            retriever
                .retrieve(q, RetrievalMode::Hybrid, 10)
                .expect("retrieval")
        })
    });
}

criterion_group! {
    name = retrieval;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(retrieval);
