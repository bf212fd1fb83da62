//! `concord demo`: the first-run experience on the bundled demo shop. Fetches the default models,
//! indexes `knowledge/` and answers a few typical questions with their sources.

use std::process::ExitCode;

use concord::embed::Embedder;
use concord::ingest::{ingest, KnowledgeSource};
use concord::models::ModelStore;
use concord::{Config, Pipeline};

/// Typical customer questions, as customers type them (one without diacritics).
const QUESTIONS: &[&str] = &[
    "Ile kosztuje dostawa do paczkomatu?",
    "Jak moge zwrocic zamowienie?",
    "Czy mogę zapłacić w ratach?",
    "How long does delivery take?",
    "I forgot my password",
    "Do you ship to Germany?",
];

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let store = ModelStore::new(&config.models)?;
    println!(
        "1/3 models: making sure the default models are present in {}",
        config.models.dir.display()
    );
    for name in [&config.models.embedder, &config.models.generator] {
        let m = store.ensure(name)?;
        println!("    {name}: {}", m.dir.display());
    }
    println!("2/3 knowledge: indexing {}", config.knowledge_dir.display());
    let embedder = Embedder::from_config(config)?;
    let report = ingest(
        config,
        &KnowledgeSource::Dir(config.knowledge_dir.clone()),
        &embedder,
        &super::progress_bar("embedding"),
    )?;
    for issue in &report.issues {
        eprintln!("    skipped: {issue}");
    }
    println!(
        "    {} articles -> {} passages, {} canonical answers ({} passages embedded, {} reused, {:.1} s)",
        report.articles, report.chunks, report.canonicals, report.embedded_chunks, report.reused_chunks, report.seconds
    );
    let pipeline = Pipeline::with_embedder(config, embedder)?;
    let retriever = pipeline.retriever();
    println!("3/3 questions (hybrid retrieval):");
    for q in QUESTIONS {
        let r = retriever.retrieve(q, config.retrieval.mode, 3)?;
        println!("\n  Q: {q}   ({:.1} ms)", r.timings.total_ms);
        if let Some(best) = r.canonical.first() {
            let c = &pipeline.index.canonicals[best.ord as usize];
            let answer: String = c.answer.split_whitespace().collect::<Vec<_>>().join(" ");
            println!(
                "  approved answer {} (similarity {:.2}): {answer}",
                best.id, best.similarity
            );
        }
        for c in &r.chunks {
            let chunk = &pipeline.index.chunks[c.ord as usize];
            println!(
                "    source: {} — {}{}",
                c.id,
                chunk.context_line(),
                chunk
                    .url
                    .as_deref()
                    .map(|u| format!(" <{u}>"))
                    .unwrap_or_default()
            );
        }
    }
    println!("\nTry your own: cargo run --release -- search \"...\"");
    Ok(ExitCode::SUCCESS)
}
