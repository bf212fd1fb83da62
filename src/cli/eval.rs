//! `concord eval ...`: offline measurements. `eval retrieval` ingests a JSONL knowledge base into
//! its own folder under the data directory and scores BM25, dense and hybrid retrieval on a query set.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use concord::embed::Embedder;
use concord::eval::{evaluate_retrieval, load_queries, sweep_fusion, ModeReport};
use concord::index::{ExpectedEmbedder, IndexDir};
use concord::ingest::{ingest, KnowledgeSource};
use concord::Config;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Retrieval quality (nDCG@10, Recall@1/5/10, MRR@10) and latency of each mode.
    Retrieval(RetrievalArgs),
}

#[derive(Args)]
pub struct RetrievalArgs {
    /// JSONL knowledge base of {id, title, text} passages.
    #[arg(long, value_name = "FILE")]
    kb: PathBuf,
    /// JSONL queries of {id, question, relevant_ids}.
    #[arg(long, value_name = "FILE")]
    queries: PathBuf,
    /// Use only the first N queries.
    #[arg(long)]
    limit: Option<usize>,
    /// Override retrieval.rrf_k_pl and rrf_k_en.
    #[arg(long)]
    rrf_k: Option<f32>,
    /// Override retrieval.dense_weight_pl and dense_weight_en (BM25 weight stays as configured).
    #[arg(long)]
    dense_weight: Option<f32>,
    /// Also sweep rrf_k and the dense weight, printing hybrid quality for each pair.
    #[arg(long)]
    sweep: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, command: EvalCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvalCommand::Retrieval(args) => retrieval(config, args),
    }
}

fn retrieval(config: &Config, args: RetrievalArgs) -> anyhow::Result<ExitCode> {
    let mut queries = load_queries(&args.queries)?;
    if let Some(n) = args.limit {
        queries.truncate(n);
    }
    // Each knowledge base gets its own index folder, reused (incrementally) across runs.
    let kb_path = fs_err::canonicalize(&args.kb)?;
    let stem = kb_path
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "kb".into());
    let tag = &concord::util::sha256_hex(kb_path.to_string_lossy().as_bytes())[..8];
    let mut cfg = config.clone();
    cfg.data_dir = config.data_dir.join("eval").join(format!("{stem}-{tag}"));
    for f in [&mut cfg.retrieval.pl, &mut cfg.retrieval.en] {
        if let Some(k) = args.rrf_k {
            f.rrf_k = k;
        }
        if let Some(w) = args.dense_weight {
            f.dense_weight = w;
        }
    }

    let embedder = Embedder::from_config(&cfg)?;
    let started = Instant::now();
    let report = ingest(
        &cfg,
        &KnowledgeSource::Jsonl(kb_path.clone()),
        &embedder,
        &super::progress_bar("embedding"),
    )?;
    let ingest_s = started.elapsed().as_secs_f64();
    if !report.issues.is_empty() {
        for issue in &report.issues {
            eprintln!("skipped: {issue}");
        }
    }
    let index = IndexDir::new(&cfg.data_dir).open(
        &ExpectedEmbedder {
            name: embedder.name(),
            fingerprint: embedder.fingerprint(),
        },
        cfg.hnsw.ef_search,
    )?;
    let result = evaluate_retrieval(
        &index,
        &embedder,
        cfg.retrieval,
        &queries,
        &super::progress_bar("queries"),
    )?;
    let sweep = if args.sweep {
        let ks = [0.0, 1.0, 5.0, 10.0, 20.0, 40.0, 60.0, 100.0];
        let ws = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0];
        Some(sweep_fusion(
            &index,
            &embedder,
            cfg.retrieval,
            &queries,
            &ks,
            &ws,
            &super::progress_bar("sweep"),
        )?)
    } else {
        None
    };
    if args.json {
        let mut v = serde_json::to_value(&result)?;
        v["ingest"] = serde_json::json!({
            "seconds": ingest_s,
            "chunks": report.chunks,
            "embedded_chunks": report.embedded_chunks,
            "embed_seconds": report.embed_seconds,
        });
        if let Some(s) = &sweep {
            v["sweep"] = serde_json::to_value(s)?;
        }
        super::print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} queries on {} passages ({}); fusion pl: rrf_k {} dense weight {}; en: rrf_k {} dense weight {}",
        queries.len(),
        report.chunks,
        args.kb.display(),
        cfg.retrieval.pl.rrf_k,
        cfg.retrieval.pl.dense_weight,
        cfg.retrieval.en.rrf_k,
        cfg.retrieval.en.dense_weight
    );
    println!(
        "{:<7} {:>8} {:>9} {:>9} {:>10} {:>7} {:>7} {:>7}",
        "mode", "nDCG@10", "Recall@1", "Recall@5", "Recall@10", "MRR@10", "p50 ms", "p95 ms"
    );
    let row = |name: &str, m: &ModeReport| {
        println!(
            "{:<7} {:>8.4} {:>9.4} {:>9.4} {:>10.4} {:>7.4} {:>7.2} {:>7.2}",
            name, m.ndcg_10, m.recall_1, m.recall_5, m.recall_10, m.mrr_10, m.p50_ms, m.p95_ms
        )
    };
    row("bm25", &result.bm25);
    row("dense", &result.dense);
    row("hybrid", &result.hybrid);
    println!(
        "HNSW recall@10 against exact search: {:.4}",
        result.hnsw_recall_10
    );
    if let Some(points) = sweep {
        println!("\nfusion sweep (hybrid; bm25 weight 1):");
        println!(
            "{:>6} {:>7} {:>8} {:>9} {:>10} {:>7}",
            "rrf_k", "dense_w", "nDCG@10", "Recall@1", "Recall@10", "MRR@10"
        );
        for p in points {
            println!(
                "{:>6} {:>7} {:>8.4} {:>9.4} {:>10.4} {:>7.4}",
                p.rrf_k, p.dense_weight, p.ndcg_10, p.recall_1, p.recall_10, p.mrr_10
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
