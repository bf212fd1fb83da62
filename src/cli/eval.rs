//! `concord eval ...`: offline measurements. `eval retrieval` ingests a JSONL knowledge base into
//! its own folder under the data directory and scores BM25, dense and hybrid retrieval on a query set;
//! `eval drafts` drafts the knowledge base's own questions with each generation model and counts how
//! often the drafts state the approved answers' facts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use concord::answer::{DraftSettings, Prompts};
use concord::embed::Embedder;
use concord::eval::drafts::{draft_cases, evaluate_drafts, DraftReport, DraftSetup};
use concord::eval::{evaluate_retrieval, load_queries, sweep_fusion, ModeReport, Split};
use concord::index::{ExpectedEmbedder, IndexDir};
use concord::ingest::{ingest, KnowledgeSource};
use concord::knowledge::Lang;
use concord::pipeline::load_generator;
use concord::{Config, Pipeline};
use serde_json::json;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// A suite from `eval/` end to end through the gate as the server runs it: retrieval,
    /// decisions, contradictions sent, handoffs, drafts, the checker on its pairs, latency;
    /// writes report.json, report.html and report.md (with SVG charts).
    Run(super::eval_run::RunArgs),
    /// The consistency audit: the 10 most frequent questions in several phrasings, in both
    /// languages, through the pipeline and the HTTP API; how consistent the answers are (0-100%).
    Audit(super::eval_run::AuditArgs),
    /// What got better or worse between two reports (report.json files or their directories).
    Diff(super::eval_run::DiffArgs),
    /// Retrieval quality (nDCG@10, Recall@1/5/10, MRR@10) and latency of each mode.
    Retrieval(RetrievalArgs),
    /// How often each generation model's drafts state the approved answers' facts (numbers,
    /// e-mails, phones, addresses), on the indexed knowledge base's own questions.
    Drafts(DraftsArgs),
    /// The consistency checker on labelled pairs {premise, canonical_answer, hypothesis, label}:
    /// precision, recall and F1 of flagging, overall and per finding kind, against the approved
    /// answer and against the knowledge text.
    Check(CheckPairsArgs),
    /// The checker on a seeded perturbation suite built from a knowledge base's approved answers
    /// (swapped numbers, amounts, deadlines, entities, negations; and faithful variants).
    Perturb(PerturbArgs),
    /// The whole gate on the knowledge base's own questions (each approved answer's first
    /// phrasing): the share of each decision and any sent text that contradicts its approved answer.
    Gate(GateArgs),
}

#[derive(Args)]
pub struct GateArgs {
    /// Only this language (default: both).
    #[arg(long)]
    lang: Option<Lang>,
    /// Only the first N questions per language.
    #[arg(long)]
    limit: Option<usize>,
    /// Generation model (manifest name; default: the configured one per language).
    #[arg(long)]
    model: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CheckPairsArgs {
    /// JSONL pairs file.
    #[arg(long, value_name = "FILE")]
    pairs: PathBuf,
    /// Use only the first N pairs.
    #[arg(long)]
    limit: Option<usize>,
    /// Leave out the embedding similarity signal (no model is loaded).
    #[arg(long)]
    no_embed: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PerturbArgs {
    /// A JSONL knowledge base of {id, title, text} whose passages are approved answers (instead of
    /// the knowledge folder's canonical answers).
    #[arg(long, value_name = "FILE")]
    kb: Option<PathBuf>,
    /// Seed of the suite: the same seed builds the same cases.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Use only the first N approved answers.
    #[arg(long)]
    limit: Option<usize>,
    /// Leave out the embedding similarity signal (no model is loaded).
    #[arg(long)]
    no_embed: bool,
    /// Write the suite's cases to this JSONL file.
    #[arg(long, value_name = "FILE")]
    write_suite: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Models compared by default.
const DEFAULT_DRAFT_MODELS: [&str; 2] = ["smollm2-135m-instruct", "gemma3-270m"];

#[derive(Args)]
pub struct DraftsArgs {
    /// Generation models to compare (manifest names, comma-separated; default: SmolLM2-135M and
    /// Gemma 3 270M).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    models: Vec<String>,
    /// Only this language (default: both).
    #[arg(long)]
    lang: Option<Lang>,
    /// Only the first N approved answers of each language (in id order).
    #[arg(long)]
    limit: Option<usize>,
    /// Print one JSON object on stdout (every report with its per-question records).
    #[arg(long)]
    json: bool,
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
    /// Which half of the queries: dev (choose settings here), test (report here) or all.
    #[arg(long, value_enum, default_value = "all")]
    split: Split,
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
        EvalCommand::Run(args) => super::eval_run::run(config, args),
        EvalCommand::Audit(args) => super::eval_run::audit(config, args),
        EvalCommand::Diff(args) => super::eval_run::diff(args),
        EvalCommand::Retrieval(args) => retrieval(config, args),
        EvalCommand::Drafts(args) => drafts(config, args),
        EvalCommand::Check(args) => check_pairs(config, args),
        EvalCommand::Perturb(args) => perturb(config, args),
        EvalCommand::Gate(args) => gate(config, args),
    }
}

fn gate(config: &Config, args: GateArgs) -> anyhow::Result<ExitCode> {
    use concord::eval::gate::{evaluate_gate, gate_cases};
    let langs = match args.lang {
        Some(l) => vec![l],
        None => vec![Lang::Pl, Lang::En],
    };
    let pipeline = Pipeline::open(config)?;
    let cases: Vec<_> = langs
        .iter()
        .map(|&lang| (lang, gate_cases(&pipeline.index, lang, args.limit)))
        .collect();
    anyhow::ensure!(
        cases.iter().any(|(_, c)| !c.is_empty()),
        "the index in {} has no approved answers to ask (run `concord ingest` on a knowledge base \
         with canonical answers)",
        config.data_dir.display()
    );
    let drafter = concord::answer::Drafter::from_config(config, args.model.as_deref())?;
    let assistant = std::sync::Arc::new(concord::assistant::Assistant::assemble(pipeline, drafter));
    let mut reports = Vec::new();
    for (lang, c) in &cases {
        let bar = super::progress_bar(&format!("gate {lang}"));
        reports.push(evaluate_gate(&assistant, *lang, c, &bar)?);
    }
    if args.json {
        super::print_json(&json!({ "reports": reports }))?;
    } else {
        for r in &reports {
            println!(
                "{}: {} questions; send {:.0}%, send_canonical {:.0}%, hold {:.0}%, handoff {:.0}%, \
                 no_answer {:.0}%",
                r.lang,
                r.questions,
                100.0 * r.shares["send"],
                100.0 * r.shares["send_canonical"],
                100.0 * r.shares["hold"],
                100.0 * r.shares["handoff"],
                100.0 * r.shares["no_answer"]
            );
            println!(
                "  drafts: {} — sent as written {:.0}%, replaced by the approved answer {:.0}%, \
                 held {:.0}%",
                r.drafted,
                100.0 * r.draft_sent_share,
                100.0 * r.draft_replaced_share,
                100.0 * r.draft_held_share
            );
            println!(
                "  sent texts contradicting their approved answer: {}; other approved answer \
                 matched: {}; handoff entries handed off: {}/{}; p50 {:.0} ms",
                r.sent_contradictions,
                r.wrong_canonical,
                r.handoff_entries_handed_off,
                r.handoff_entries,
                r.p50_ms
            );
        }
    }
    let contradictions: usize = reports.iter().map(|r| r.sent_contradictions).sum();
    Ok(if contradictions == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn drafts(config: &Config, args: DraftsArgs) -> anyhow::Result<ExitCode> {
    let models: Vec<String> = if args.models.is_empty() {
        DEFAULT_DRAFT_MODELS.iter().map(|m| m.to_string()).collect()
    } else {
        args.models.clone()
    };
    let langs = match args.lang {
        Some(l) => vec![l],
        None => vec![Lang::Pl, Lang::En],
    };
    let pipeline = Pipeline::open(config)?;
    let prompts = Prompts::from_config(config.prompts.dir.as_deref())?;
    let settings = DraftSettings::from_config(config);
    let cases: Vec<_> = langs
        .iter()
        .map(|&lang| (lang, draft_cases(&pipeline.index, lang, args.limit)))
        .collect();
    for (lang, c) in &cases {
        anyhow::ensure!(
            !c.is_empty(),
            "the index in {} has no {lang} approved answers to draft (run `concord ingest` on a \
             knowledge base with canonical answers)",
            config.data_dir.display()
        );
    }
    let started = Instant::now();
    let mut reports: Vec<DraftReport> = Vec::new();
    let mut load_ms = serde_json::Map::new();
    for name in &models {
        let generator = load_generator(config, name)?;
        load_ms.insert(name.clone(), json!(generator.load_ms()));
        let setup = DraftSetup::from_pipeline(&pipeline, &generator, &prompts, &settings);
        for (lang, c) in &cases {
            let bar = super::progress_bar(&format!("{name} {lang}"));
            reports.push(evaluate_drafts(&setup, *lang, c, &bar)?);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        super::print_json(&json!({
            "settings": {
                "retrieval_mode": config.retrieval.mode,
                "k": config.retrieval.k,
                "max_passages": settings.max_passages,
                "max_new_tokens": settings.max_new_tokens,
                "matching": config.matching,
                "context_tokens": config.generation.context_tokens,
                "template_hash": prompts.hash(),
                "limit": args.limit,
            },
            "seconds": seconds,
            "load_ms": load_ms,
            "reports": reports,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<4} {:>5} {:>10} {:>7} {:>9} {:>10} {:>8} {:>8} {:>7}",
        "model",
        "lang",
        "cases",
        "all facts",
        "recall",
        "invented",
        "canonical",
        "TTFT ms",
        "tok/s",
        "tokens"
    );
    for r in &reports {
        println!(
            "{:<24} {:<4} {:>5} {:>10.3} {:>7.3} {:>9.3} {:>10.3} {:>8.0} {:>8.1} {:>7.0}",
            r.model,
            r.lang.as_str(),
            r.cases,
            r.all_facts_stated_rate,
            r.fact_recall,
            r.invented_number_rate,
            r.canonical_in_prompt_rate,
            r.mean_ttft_ms,
            r.mean_gen_tok_s,
            r.mean_generated_tokens,
        );
    }
    println!(
        "all facts: share of drafts stating every fact of the approved answer (over answers with \
         facts); recall: facts stated / facts; invented: share of drafts with a number found \
         neither in the approved answer nor in the prompt; canonical: share of prompts given an \
         approved answer. {seconds:.0} s in all."
    );
    for r in &reports {
        if let Some(w) = r.worst.first() {
            println!(
                "\nworst {} {} draft ({}): {}\n  missing: {}  invented: {}\n  {}",
                r.model,
                r.lang,
                w.canonical,
                w.question,
                w.missing.join(", "),
                w.invented.join(", "),
                w.draft
                    .chars()
                    .take(300)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn retrieval(config: &Config, args: RetrievalArgs) -> anyhow::Result<ExitCode> {
    let mut queries = load_queries(&args.queries)?;
    queries.retain(|q| args.split.contains(&q.id));
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
        &concord::pipeline::ingest_settings(&cfg),
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
        let ks = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 100.0];
        let ws = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
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
        "{} queries ({:?} split) on {} passages ({}); fusion pl: rrf_k {} dense weight {}; en: rrf_k {} dense weight {}",
        queries.len(),
        args.split,
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

/// Embedding similarity of two texts, memoised per text (the same approved answer is compared
/// many times).
struct Similarity {
    embedder: Option<Embedder>,
    cache: std::collections::HashMap<String, Vec<f32>>,
}

impl Similarity {
    fn new(config: &Config, off: bool) -> anyhow::Result<Similarity> {
        Ok(Similarity {
            embedder: if off {
                None
            } else {
                Some(Embedder::from_config(config)?)
            },
            cache: Default::default(),
        })
    }

    fn of(&mut self, a: &str, b: &str) -> Option<f32> {
        let embedder = self.embedder.as_ref()?;
        for t in [a, b] {
            if !self.cache.contains_key(t) {
                let e = embedder.embed_one(t, concord::embed::Role::Query).ok()?;
                self.cache.insert(t.to_string(), e);
            }
        }
        Some(concord::embed::cosine(&self.cache[a], &self.cache[b]))
    }
}

fn check_pairs(config: &Config, args: CheckPairsArgs) -> anyhow::Result<ExitCode> {
    use concord::eval::checker::{evaluate_pairs, load_pairs};
    let pairs = load_pairs(&args.pairs, args.limit)?;
    let mut sim = Similarity::new(config, args.no_embed)?;
    // The shop's name is grounded in every check the gate makes; the same here.
    let grounded = [config.prompts.business_name.as_str()];
    let canonical = evaluate_pairs(&pairs, true, &grounded, &config.check, |a, b| sim.of(a, b));
    let knowledge = evaluate_pairs(&pairs, false, &grounded, &config.check, |_, _| None);
    if args.json {
        super::print_json(&json!({
            "pairs_file": args.pairs,
            "pairs": pairs.len(),
            "against_canonical": canonical,
            "against_knowledge": knowledge,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} pairs from {}", pairs.len(), args.pairs.display());
    for r in [&canonical, &knowledge] {
        println!(
            "against {:<9}  flagged {:>5}  precision {:.3}  recall {:.3}  F1 {:.3}   (contradiction only: P {:.3} R {:.3})   {:.0} checks/s",
            r.reference,
            r.overall.flagged,
            r.overall.precision,
            r.overall.recall,
            r.overall.f1,
            r.contradiction.precision,
            r.contradiction.recall,
            r.checks_per_s
        );
        for (kind, p) in &r.by_kind {
            println!(
                "    {:<18} fired {:>5}  precision {:.3}  recall {:.3}",
                serde_json::to_value(kind)?.as_str().unwrap_or_default(),
                p.flagged,
                p.precision,
                p.recall
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn perturb(config: &Config, args: PerturbArgs) -> anyhow::Result<ExitCode> {
    use concord::eval::perturb::{build_suite, evaluate, SourceAnswer};
    let mut answers: Vec<SourceAnswer> = match &args.kb {
        Some(path) => concord::knowledge::KnowledgeBase::load_jsonl(path)?
            .articles
            .into_iter()
            .map(|a| SourceAnswer {
                id: a.id.to_string(),
                lang: a.lang,
                text: a.body,
            })
            .collect(),
        None => concord::knowledge::KnowledgeBase::load_dir(&config.knowledge_dir)?
            .canonicals
            .into_iter()
            .map(|c| SourceAnswer {
                id: c.id.to_string(),
                lang: c.lang,
                text: c.answer.trim().to_string(),
            })
            .collect(),
    };
    answers.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(l) = args.limit {
        answers.truncate(l);
    }
    anyhow::ensure!(!answers.is_empty(), "no approved answers to perturb");
    let suite = build_suite(&answers, args.seed);
    if let Some(path) = &args.write_suite {
        let mut text = String::new();
        for case in &suite {
            text.push_str(&serde_json::to_string(case)?);
            text.push('\n');
        }
        concord::util::atomic_write(path, text.as_bytes())?;
    }
    let mut sim = Similarity::new(config, args.no_embed)?;
    let report = evaluate(&answers, &suite, &config.check, |a, b| sim.of(a, b));
    if args.json {
        super::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} approved answers, seed {}: {} contradictions, recall {:.3}; {} faithful variants, {:.1}% flagged; {:.0} checks/s",
        report.answers,
        args.seed,
        report.contradictions,
        report.contradiction_recall,
        report.faithful,
        100.0 * report.faithful_flag_rate,
        report.checks_per_s
    );
    for (kind, r) in &report.by_kind {
        println!(
            "    {:<18} {:>4} cases  flagged {:.3}",
            serde_json::to_value(kind)?.as_str().unwrap_or_default(),
            r.cases,
            r.rate
        );
    }
    for m in report.misses.iter().take(10) {
        println!("  missed {:?} ({}): {}", m.kind, m.source, m.text);
    }
    Ok(ExitCode::SUCCESS)
}
