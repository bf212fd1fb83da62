//! `concord check`: the consistency checker alone on a draft and a reference text (the approved
//! answer), with optional context passages; prints the verdict and its findings.

use std::process::ExitCode;

use clap::Args;
use concord::check::{check, CheckInput, Status, Verdict};
use concord::embed::{cosine, Embedder, Role};
use concord::Config;

#[derive(Args)]
pub struct CheckArgs {
    /// The text to check (a drafted answer).
    #[arg(long)]
    draft: String,
    /// The approved (canonical) answer it must agree with.
    #[arg(long)]
    reference: Option<String>,
    /// Retrieved passages the draft may also rely on (repeatable).
    #[arg(long = "context", value_name = "TEXT")]
    context: Vec<String>,
    /// Leave out the embedding similarity (no model is loaded).
    #[arg(long)]
    no_embed: bool,
    /// Print the verdict as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Exit code 0 when the draft is consistent, 1 when it is flagged, 2 on errors.
pub fn run(config: &Config, args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.draft.trim().is_empty(), "the draft is empty");
    anyhow::ensure!(
        args.reference
            .as_deref()
            .is_none_or(|r| !r.trim().is_empty()),
        "the reference is empty"
    );
    let similarity = match (&args.reference, args.no_embed) {
        (Some(reference), false) => {
            let embedder = Embedder::from_config(config)?;
            let e = embedder.embed(&[args.draft.as_str(), reference.as_str()], Role::Query)?;
            Some(cosine(&e[0], &e[1]))
        }
        (None, _) | (_, true) => None,
    };
    let context: Vec<&str> = args.context.iter().map(String::as_str).collect();
    let verdict = check(
        &CheckInput {
            draft: &args.draft,
            canonical: args.reference.as_deref(),
            context: &context,
            similarity,
            focus: None,
            question: None,
        },
        &config.check,
    );
    if args.json {
        super::print_json(&verdict)?;
    } else {
        print_verdict(&args.draft, args.reference.as_deref(), &verdict);
    }
    Ok(if verdict.status == Status::Consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The verdict for people: status, score, and each finding with the text it points at.
pub fn print_verdict(draft: &str, reference: Option<&str>, v: &Verdict) {
    let slice = |text: &str, s: concord::check::Span| -> String {
        text.chars().skip(s.start).take(s.end - s.start).collect()
    };
    println!(
        "verdict: {} (score {:.2}, coverage {:.2}{})",
        serde_json::to_value(v.status)
            .ok()
            .and_then(|s| s.as_str().map(str::to_string))
            .unwrap_or_default(),
        v.score,
        v.coverage,
        v.similarity
            .map(|s| format!(", similarity {s:.2}"))
            .unwrap_or_default()
    );
    for f in &v.findings {
        let mut line = format!("  - {}", f.message);
        if let Some(s) = f.draft_span {
            line.push_str(&format!("  [draft: «{}»]", slice(draft, s)));
        }
        if let (Some(s), Some(r), Some(concord::check::RefSource::Canonical)) =
            (f.reference_span, reference, f.reference)
        {
            line.push_str(&format!("  [reference: «{}»]", slice(r, s)));
        }
        println!("{line}");
    }
}
