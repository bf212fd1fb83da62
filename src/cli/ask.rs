//! `concord ask`: one customer question through the turn the server runs (triage rules,
//! retrieval, the draft, the text released while drafting, the check, the decision), then the
//! draft, the verdict's findings, what is sent, the sources and the timing.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use std::sync::Arc;

use concord::assistant::{Assistant, SlotValues, TurnEvent, TurnRequest};
use concord::knowledge::Lang;
use concord::Config;
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
    /// A personalisation slot value from the customer's context, e.g. `--slot order_id=PP-1042`
    /// (repeatable).
    #[arg(long = "slot", value_name = "NAME=VALUE", value_parser = parse_slot)]
    slots: Vec<(String, String)>,
    /// Print one JSON object on stdout instead of streaming text.
    #[arg(long)]
    json: bool,
}

fn parse_slot(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=VALUE"))?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{k}`: a slot name is letters, digits and _"));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn run(config: &Config, args: AskArgs) -> anyhow::Result<ExitCode> {
    let question = args.question.trim();
    anyhow::ensure!(!question.is_empty(), "the question is empty");
    let assistant = Arc::new(Assistant::load(config, args.model.as_deref())?);
    let slots: SlotValues = args.slots.iter().cloned().collect();
    let mut out = std::io::stdout().lock();
    if !args.json {
        writeln!(out, "shown while drafting:")?;
    }
    let request = TurnRequest {
        message: question.to_string(),
        slots,
        lang: args.lang,
        ..TurnRequest::default()
    };
    let outcome = assistant.start_turn(request).run(|event| {
        if let (TurnEvent::Released(piece), false) = (event, args.json) {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    })?;
    let peak_rss_mb = concord::util::peak_rss_mb();
    if args.json {
        super::print_json(&json!({
            "question": question,
            "lang": outcome.lang,
            "triage": outcome.triage,
            "canonical": outcome.canonical,
            "context_similarity": outcome.context_similarity,
            "draft": outcome.draft,
            "verdict": outcome.verdict,
            "decision": outcome.decision,
            "released": outcome.released,
            "reply": outcome.reply,
            "proposal": outcome.proposal,
            "timings": outcome.timings,
            "peak_rss_mb": peak_rss_mb,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.released.is_empty() {
        writeln!(out, "(nothing: the customer sees only the final reply)")?;
    }
    writeln!(out, "\n\ndraft:")?;
    match &outcome.draft {
        Some(d) => writeln!(out, "{}", d.text)?,
        None => writeln!(out, "(no draft: the gate decided without the model)")?,
    }
    writeln!(out)?;
    if let Some(v) = &outcome.verdict {
        let d = outcome
            .draft
            .as_ref()
            .map(|d| d.text.as_str())
            .unwrap_or("");
        super::check::print_verdict(d, outcome.canonical.as_ref().map(|c| c.answer.as_str()), v);
    }
    let d = &outcome.decision;
    writeln!(out, "decision: {} ({:?} mode)", d.action.as_str(), d.mode)?;
    for r in &d.reasons {
        writeln!(out, "  · {}: {}", r.code, r.detail)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "sent ({}):",
        serde_json::to_value(outcome.reply.provenance)?
            .as_str()
            .unwrap_or_default()
    )?;
    writeln!(out, "{}", outcome.reply.text)?;
    if let Some(p) = &outcome.proposal {
        writeln!(out, "\nproposed to staff:\n{p}")?;
    }
    if let Some(draft) = &outcome.draft {
        writeln!(out, "\nSources:")?;
        for s in &draft.sources {
            let cited = if draft.cited.contains(&s.chunk) {
                "*"
            } else {
                " "
            };
            let url = s.url.as_deref().unwrap_or("");
            writeln!(out, " {cited}[{}] {}  {}  {}", s.n, s.chunk, s.title, url)?;
        }
        if let Some(c) = &outcome.canonical {
            writeln!(
                out,
                "Approved answer: {} (similarity {:.2})",
                c.id, c.similarity
            )?;
        }
        let u = &draft.usage;
        writeln!(
            out,
            "{} · {:?} · prompt {} tokens ({} reused) · first token {:.2} s · prompt {:.0} tok/s · generation {:.1} tok/s ({} tokens) · check {:.1} ms{}",
            draft.model,
            draft.finish,
            u.prompt_tokens,
            u.cached_tokens,
            u.ttft_ms / 1e3,
            u.prompt_tok_s,
            u.gen_tok_s,
            u.generated_tokens,
            outcome.timings.check_ms,
            peak_rss_mb.map(|m| format!(" · peak RSS {m:.0} MB")).unwrap_or_default(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
