//! `concord demo`: the first-run experience on the bundled demo shop. Fetches the default models,
//! indexes `knowledge/`, shows a few typical questions with their sources, and drafts two answers
//! with the local generation model.

use std::io::Write;
use std::process::ExitCode;

use concord::answer::{finish_draft, Drafter};
use concord::embed::Embedder;
use concord::ingest::{ingest, KnowledgeSource};
use concord::knowledge::{detect_lang, Lang};
use concord::llm::queue::Event;
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
    println!("2/4 knowledge: indexing {}", config.knowledge_dir.display());
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
    println!("3/4 questions (hybrid retrieval):");
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
    println!(
        "\n4/4 drafts by the local model (no checking yet: this shows what the model writes):"
    );
    let drafter = Drafter::from_config(config, None)?;
    for q in [QUESTIONS[0], QUESTIONS[3]] {
        let lang = detect_lang(q, Lang::Pl);
        let r = retriever.retrieve(q, config.retrieval.mode, config.retrieval.k)?;
        let (plan, mut ticket) = drafter.draft(&pipeline.index, q, lang, &r)?;
        print!("\n  Q: {q}\n  A: ");
        std::io::stdout().flush()?;
        let done = loop {
            match ticket.blocking_next() {
                Some(Event::Text(piece)) => {
                    print!("{piece}");
                    std::io::stdout().flush()?;
                }
                Some(Event::Done(done)) => break done,
                Some(Event::Failed(e)) => return Err(e.into()),
                Some(Event::Queued { .. } | Event::Started) => {}
                None => anyhow::bail!("the generation queue stopped without an answer"),
            }
        };
        let draft = finish_draft(plan, done, &drafter.generator(lang).name);
        println!(
            "\n     ({}, first token after {:.1} s, {:.0} tokens/s; sources: {})",
            draft.model,
            draft.usage.ttft_ms / 1e3,
            draft.usage.gen_tok_s,
            draft
                .sources
                .iter()
                .map(|s| s.chunk.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("\nTry your own: cargo run --release -- ask \"...\"  (or search \"...\" for retrieval only)");
    Ok(ExitCode::SUCCESS)
}
