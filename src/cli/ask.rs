//! `concord ask`: retrieve, draft with the local model (streamed to the terminal), then show
//! the sources and the timing. No triage or checking yet: this shows what the model drafts.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use concord::answer::{finish_draft, Drafter};
use concord::knowledge::{detect_lang, Lang};
use concord::llm::queue::Event;
use concord::{Config, Pipeline};
use serde_json::json;

#[derive(Args)]
pub struct AskArgs {
    /// The customer's question.
    question: String,
    /// Generation model (a manifest name) instead of the configured one for the language.
    #[arg(long)]
    model: Option<String>,
    /// The question's language (default: detected, Polish when unclear).
    #[arg(long)]
    lang: Option<Lang>,
    /// Print one JSON object on stdout instead of streaming text.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: AskArgs) -> anyhow::Result<ExitCode> {
    let question = args.question.trim();
    anyhow::ensure!(!question.is_empty(), "the question is empty");
    let pipeline = Pipeline::open(config)?;
    let drafter = Drafter::from_config(config, args.model.as_deref())?;
    let lang = args.lang.unwrap_or_else(|| detect_lang(question, Lang::Pl));
    let retrieval =
        pipeline
            .retriever()
            .retrieve(question, config.retrieval.mode, config.retrieval.k)?;
    let (plan, mut ticket) = drafter.draft(&pipeline.index, question, lang, &retrieval)?;
    let model = drafter.generator(lang).name.clone();
    let mut out = std::io::stdout().lock();
    let completion = loop {
        match ticket.blocking_next() {
            Some(Event::Text(piece)) if !args.json => {
                out.write_all(piece.as_bytes())?;
                out.flush()?;
            }
            Some(Event::Done(done)) => break done,
            Some(Event::Failed(e)) => return Err(e.into()),
            Some(Event::Queued { .. } | Event::Started | Event::Text(_)) => {}
            None => anyhow::bail!("the generation queue stopped without an answer"),
        }
    };
    let draft = finish_draft(plan, completion, &model);
    let peak_rss_mb = concord::util::peak_rss_mb();
    if args.json {
        super::print_json(&json!({
            "question": question,
            "lang": lang,
            "draft": draft,
            "retrieval_ms": retrieval.timings,
            "peak_rss_mb": peak_rss_mb,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out)?;
    writeln!(out)?;
    writeln!(out, "Sources:")?;
    for s in &draft.sources {
        let cited = if draft.cited.contains(&s.chunk) {
            "*"
        } else {
            " "
        };
        let url = s.url.as_deref().unwrap_or("");
        writeln!(out, " {cited}[{}] {}  {}  {}", s.n, s.chunk, s.title, url)?;
    }
    if let Some(c) = &draft.canonical {
        writeln!(out, "Approved answer given to the model: {c}")?;
    }
    let u = &draft.usage;
    writeln!(
        out,
        "{} · {:?} · prompt {} tokens ({} reused) · first token {:.2} s · prompt {:.0} tok/s · generation {:.1} tok/s ({} tokens){}",
        draft.model,
        draft.finish,
        u.prompt_tokens,
        u.cached_tokens,
        u.ttft_ms / 1e3,
        u.prompt_tok_s,
        u.gen_tok_s,
        u.generated_tokens,
        peak_rss_mb.map(|m| format!(" · peak RSS {m:.0} MB")).unwrap_or_default(),
    )?;
    Ok(ExitCode::SUCCESS)
}
