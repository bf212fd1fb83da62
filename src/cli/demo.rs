//! `concord demo`: the first-run experience on the bundled demo shop. Fetches the default models,
//! indexes `knowledge/`, shows a few typical questions with their sources and the approved-answer
//! match, runs three through the whole gate (draft, check, decision), then serves the demo shop
//! page with the chat widget.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use concord::answer::Drafter;
use concord::assistant::{Assistant, TurnEvent, TurnRequest};
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

/// A message the triage rules hand to a person before any model runs.
const HANDOFF_QUESTION: &str = "Chcę rozmawiać z konsultantem, nie z botem";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Address to serve the demo shop on (default: `server.bind`, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    bind: Option<std::net::SocketAddr>,
    /// Stop after the questions instead of serving.
    #[arg(long)]
    no_serve: bool,
}

pub fn run(config: &Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let store = ModelStore::new(&config.models)?;
    println!(
        "1/5 models: making sure the default models are present in {}",
        config.models.dir.display()
    );
    for name in [&config.models.embedder, &config.models.generator] {
        let m = store.ensure(name)?;
        println!("    {name}: {}", m.dir.display());
    }
    println!("2/5 knowledge: indexing {}", config.knowledge_dir.display());
    let embedder = Embedder::from_config(config)?;
    let report = ingest(
        &concord::pipeline::ingest_settings(config),
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
    let assistant = Arc::new(Assistant::assemble(
        pipeline,
        Drafter::from_config(config, None)?,
    ));
    let retriever = assistant.retriever();
    println!("3/5 questions: retrieval and the approved-answer match");
    for q in QUESTIONS {
        let r = retriever.retrieve(q, config.retrieval.mode, 3)?;
        println!("\n  Q: {q}   ({:.1} ms)", r.timings.total_ms);
        // The match the gate decides, not merely the nearest approved answer: a near but
        // unsure one is never sent without staff.
        let lang = concord::knowledge::detect_lang(q, concord::knowledge::Lang::En);
        match assistant.match_question(q, lang)? {
            Some(m) if m.sure() => {
                let answer: String = m.answer.split_whitespace().collect::<Vec<_>>().join(" ");
                println!(
                    "  approved answer {} (similarity {:.2}, sure): {answer}",
                    m.id, m.similarity
                );
            }
            Some(m) => println!(
                "  nearest approved answer {} (similarity {:.2}) is not sure ({}): not sent without staff",
                m.id,
                m.similarity,
                m.evidence.doubt.as_deref().unwrap_or("no agreeing evidence")
            ),
            None => println!("  no approved answer matches"),
        }
        for c in &r.chunks {
            let chunk = &assistant.index.chunks[c.ord as usize];
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
        "\n4/5 the whole gate: triage rules, a draft by the local model, the consistency check, \
         the decision"
    );
    for q in [QUESTIONS[0], QUESTIONS[3], HANDOFF_QUESTION] {
        print!("\n  Q: {q}\n  shown while drafting: ");
        std::io::stdout().flush()?;
        let outcome = assistant
            .start_turn(TurnRequest::new(q, None))
            .run(|event| {
                if let TurnEvent::Released(piece) = event {
                    print!("{piece}");
                    let _ = std::io::stdout().flush();
                }
            })?;
        if let Some(d) = &outcome.draft {
            print!("\n  draft: {}", d.text);
        }
        if outcome.draft.is_none() {
            print!("(none: a rule decided before the model)");
        }
        let verdict = outcome
            .verdict
            .as_ref()
            .map(|v| format!("{} ({} finding(s))", v.status.as_str(), v.findings.len()))
            .unwrap_or_else(|| "not checked".into());
        let reasons: Vec<&str> = outcome
            .decision
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect();
        println!(
            "\n  check: {verdict}\n  decision: {} ({})\n  sent ({:?}): {}",
            outcome.decision.action.as_str(),
            reasons.join(", "),
            outcome.reply.provenance,
            outcome.reply.text
        );
    }
    if args.no_serve {
        println!("\nTry your own: cargo run --release -- ask \"...\"  (or search \"...\" for retrieval only)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("\n5/5 the chat service: the demo shop page with the widget (Ctrl-C stops)");
    super::serve::serve_assistant(config, assistant, args.bind)
}
