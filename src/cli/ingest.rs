//! `concord ingest`: load the knowledge base, embed what changed, publish a new index.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use concord::embed::Embedder;
use concord::index::BuildStage;
use concord::ingest::{ingest_with_stages, KnowledgeSource};
use concord::Config;

#[derive(Args)]
pub struct IngestArgs {
    /// Import a JSONL file of {id, title, text} passages instead of the knowledge folder.
    #[arg(long, value_name = "FILE")]
    kb: Option<PathBuf>,
    /// Exit 0 even when some files were skipped as invalid.
    #[arg(long)]
    allow_errors: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Crash tests only: abort the process (as a kill would) right after this build step.
    #[arg(long, hide = true, value_enum)]
    crash_after: Option<BuildStage>,
}

impl IngestArgs {
    /// The knowledge folder, strict, human output (for commands that rebuild after a change).
    pub fn quiet() -> IngestArgs {
        IngestArgs {
            kb: None,
            allow_errors: false,
            json: false,
            crash_after: None,
        }
    }
}

pub fn run(config: &Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let source = match args.kb {
        Some(f) => KnowledgeSource::Jsonl(f),
        None => KnowledgeSource::Dir(config.knowledge_dir.clone()),
    };
    let embedder = Embedder::from_config(config)?;
    let bar = super::progress_bar("embedding");
    let crash_after = args.crash_after;
    let on_stage = move |stage: BuildStage| {
        tracing::debug!(?stage, "build step done");
        if crash_after == Some(stage) {
            eprintln!("aborting after {stage:?} (--crash-after)");
            std::process::abort();
        }
    };
    let report = ingest_with_stages(
        &concord::pipeline::ingest_settings(config),
        &source,
        &embedder,
        &bar,
        &on_stage,
    )?;
    let peak = concord::util::peak_rss_mb();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["chunks_per_s"] =
            serde_json::json!(report.embedded_chunks as f64 / report.embed_seconds.max(1e-9));
        v["peak_rss_mb"] = serde_json::json!(peak);
        super::print_json(&v)?;
    } else {
        for issue in &report.issues {
            eprintln!("skipped: {issue}");
        }
        println!(
            "indexed {} articles ({} passages) and {} canonical answers from {}",
            report.articles, report.chunks, report.canonicals, report.source
        );
        println!(
            "embedded {} new passages and {} canonical phrasings, reused {} + {} ({:.1} s, {:.1} passages/s)",
            report.embedded_chunks,
            report.embedded_canonical_rows,
            report.reused_chunks,
            report.reused_canonical_rows,
            report.seconds,
            (report.embedded_chunks + report.embedded_canonical_rows) as f64
                / report.embed_seconds.max(1e-9)
        );
        if let Some(mb) = peak {
            println!(
                "peak memory {mb:.0} MiB; index {}",
                report.generation.display()
            );
        }
    }
    if !report.issues.is_empty() && !args.allow_errors {
        eprintln!(
            "{} file(s) were skipped; fix them or pass --allow-errors",
            report.issues.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
