//! `concord search`: run one question through retrieval and show every score.

use std::process::ExitCode;

use clap::Args;
use concord::config::RetrievalMode;
use concord::{Config, Pipeline};
use serde_json::json;

#[derive(Args)]
pub struct SearchArgs {
    /// The question.
    query: String,
    /// hybrid, bm25 or dense (default: retrieval.mode).
    #[arg(long)]
    mode: Option<RetrievalMode>,
    /// Number of passages (default: retrieval.k).
    #[arg(long)]
    k: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

fn fmt_side(s: Option<concord::retrieve::RankScore>, decimals: usize) -> String {
    match s {
        Some(s) => format!("{:.*} (#{})", decimals, s.score, s.rank),
        None => "-".to_string(),
    }
}

pub fn run(config: &Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::open(config)?;
    let mode = args.mode.unwrap_or(config.retrieval.mode);
    let k = args.k.unwrap_or(config.retrieval.k);
    anyhow::ensure!(
        (1..=100).contains(&k),
        "--k must be between 1 and 100, got {k}"
    );
    let r = pipeline.retriever().retrieve(&args.query, mode, k)?;
    let index = &pipeline.index;
    if args.json {
        let results: Vec<_> = r
            .chunks
            .iter()
            .map(|c| {
                let chunk = &index.chunks[c.ord as usize];
                json!({
                    "id": c.id, "doc": c.doc, "score": c.score, "bm25": c.bm25, "dense": c.dense,
                    "title": chunk.title, "headings": chunk.headings, "url": chunk.url,
                    "text": chunk.text,
                })
            })
            .collect();
        let canonical: Vec<_> = r
            .canonical
            .iter()
            .map(|c| {
                let can = &index.canonicals[c.ord as usize];
                json!({
                    "id": c.id, "score": c.score, "similarity": c.similarity,
                    "matched_question": c.matched_question, "bm25": c.bm25, "dense": c.dense,
                    "answer": can.answer, "handoff": can.handoff,
                })
            })
            .collect();
        super::print_json(&json!({
            "query": args.query, "mode": mode, "k": k, "results": results,
            "canonical": canonical, "timings_ms": r.timings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} results for {:?} ({} mode, {:.1} ms)",
        r.chunks.len(),
        args.query,
        mode.as_str(),
        r.timings.total_ms
    );
    println!(
        "{:>3}  {:>7}  {:>14}  {:>13}  passage",
        "#", "fused", "bm25", "dense"
    );
    for (i, c) in r.chunks.iter().enumerate() {
        let chunk = &index.chunks[c.ord as usize];
        println!(
            "{:>3}  {:>7.4}  {:>14}  {:>13}  {}  {}",
            i + 1,
            c.score,
            fmt_side(c.bm25, 2),
            fmt_side(c.dense, 3),
            c.id,
            chunk.context_line()
        );
        println!("{:>44}{}", "", snippet(&chunk.text, 110));
        if let Some(url) = &chunk.url {
            println!("{:>44}{url}", "");
        }
    }
    if let Some(best) = r.canonical.first() {
        let can = &index.canonicals[best.ord as usize];
        println!();
        println!(
            "best canonical answer: {} (similarity {:.3}, fused {:.4}{})",
            best.id,
            best.similarity,
            best.score,
            if can.handoff { ", handoff topic" } else { "" }
        );
        if let Some(q) = &best.matched_question {
            println!("  matched phrasing: {q}");
        }
        println!("  {}", snippet(&can.answer, 200));
        for other in r.canonical.iter().skip(1) {
            println!(
                "  also: {} (similarity {:.3}, fused {:.4})",
                other.id, other.similarity, other.score
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
