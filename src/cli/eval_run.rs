//! `concord eval run | audit | diff`: a suite end to end through the gate with its reports and
//! thresholds, the consistency audit of the most frequent questions, and two reports compared.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use concord::answer::Drafter;
use concord::assistant::Assistant;
use concord::embed::Embedder;
use concord::eval::audit::{self, AuditReport};
use concord::eval::checker::{evaluate_pairs, load_pairs};
use concord::eval::report::{self, GateCheck};
use concord::eval::run::{run_queries, summarise, CheckerSummary, RunReport, RunSettings};
use concord::eval::suite::{spread, stratified, Suite, SuiteKnowledge};
use concord::ingest::{ingest, KnowledgeSource};
use concord::knowledge::Lang;
use concord::pipeline::{ingest_settings, knowledge_home};
use concord::{Config, Pipeline};

#[derive(Args)]
pub struct RunArgs {
    /// The suite: a TOML file, or a directory holding `suite.toml` (e.g. `eval/demo`).
    suite: PathBuf,
    /// Use N queries (and N checker pairs) spread evenly over the suite's files, instead of all
    /// of them (or the suite's own `limit`).
    #[arg(long)]
    limit: Option<usize>,
    /// Generation model for both languages (manifest name; default: the configured ones).
    #[arg(long)]
    model: Option<String>,
    /// Where the reports go (default: `eval/runs/<suite>/`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Exit with status 1 when a figure is outside the suite's thresholds.
    #[arg(long)]
    gate: bool,
    /// Gate against the suite's `[ratchet]` (today's figures, which only tighten) instead of
    /// its `[thresholds]` (the targets); implies `--gate`.
    #[arg(long)]
    ratchet: bool,
    /// Retrieval and policy only: every turn runs as the server runs it but writes no draft,
    /// so the decisions that do not depend on a draft's text are measured in seconds (a
    /// question a draft could be sent for is counted as held).
    #[arg(long)]
    fast: bool,
    /// The policy mode to run in (default: `policy.mode` of the configuration).
    #[arg(long, value_parser = parse_mode)]
    mode: Option<concord::assistant::Mode>,
    /// Ingest into a new temporary directory instead of the suite's index cache under the data
    /// directory (which is updated incrementally and never touches the served index).
    #[arg(long)]
    fresh: bool,
    /// Print the report (without per-query records) as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_mode(s: &str) -> Result<concord::assistant::Mode, String> {
    s.parse()
}

#[derive(Args)]
pub struct AuditArgs {
    /// The suite whose knowledge base and audit list are used (default: `eval/demo`).
    #[arg(default_value = "eval/demo")]
    suite: PathBuf,
    /// Take the 10 most frequent questions from the store's history (the served database)
    /// instead of the suite's list.
    #[arg(long)]
    from_store: bool,
    /// Phrasings per language when taken from the store (the customers' own wording first).
    #[arg(long, default_value_t = 4)]
    phrasings: usize,
    /// Ask only through the pipeline in this process, not also through the HTTP API.
    #[arg(long)]
    no_http: bool,
    /// Generation model for both languages (manifest name; default: the configured ones).
    #[arg(long)]
    model: Option<String>,
    /// Where `audit.json` and `audit.md` go (default: `eval/runs/<suite>/`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the audit as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The earlier report (`report.json` or its directory).
    a: PathBuf,
    /// The later report.
    b: PathBuf,
    /// Print the comparison as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// The suite's assistant on its own index.
struct Opened {
    assistant: Arc<Assistant>,
    /// The configuration the suite runs under (its own data and knowledge directories).
    config: Config,
    ingest_s: f64,
    load_s: f64,
    /// Kept alive while the run uses a `--fresh` index.
    _tmp: Option<tempfile::TempDir>,
}

fn open_suite(
    config: &Config,
    suite: &Suite,
    fresh: bool,
    model: Option<&str>,
    drafts: bool,
) -> anyhow::Result<Opened> {
    let knowledge = suite.knowledge.as_ref().with_context(|| {
        format!(
            "the suite {} names no knowledge source",
            suite.file.display()
        )
    })?;
    let (source, key) = match knowledge {
        SuiteKnowledge::Dir(d) => {
            let d = fs_err::canonicalize(d)?;
            (KnowledgeSource::Dir(d.clone()), d.display().to_string())
        }
        SuiteKnowledge::Jsonl { path, answers } => {
            let p = fs_err::canonicalize(path)?;
            let key = format!("{}#answers={answers}", p.display());
            let s = if *answers {
                KnowledgeSource::JsonlAnswers(p)
            } else {
                KnowledgeSource::Jsonl(p)
            };
            (s, key)
        }
    };
    let mut cfg = config.clone();
    let tmp = if fresh {
        let t = tempfile::tempdir()?;
        cfg.data_dir = t.path().to_path_buf();
        Some(t)
    } else {
        let tag = &concord::util::sha256_hex(key.as_bytes())[..8];
        cfg.data_dir = config
            .data_dir
            .join("eval")
            .join(format!("{}-{tag}", suite.name));
        None
    };
    if let KnowledgeSource::Dir(d) = &source {
        cfg.knowledge_dir = d.clone();
    }
    let t = Instant::now();
    let embedder = Embedder::from_config(&cfg)?;
    let report = ingest(
        &ingest_settings(&cfg),
        &source,
        &embedder,
        &super::progress_bar("ingest"),
    )?;
    for issue in &report.issues {
        eprintln!("skipped: {issue}");
    }
    let ingest_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pipeline = Pipeline::with_embedder(&cfg, embedder)?;
    let drafter = Drafter::from_config(&cfg, model)?;
    Ok(Opened {
        assistant: Arc::new({
            let mut a = Assistant::assemble(pipeline, drafter);
            a.settings.drafts = drafts;
            a
        }),
        config: cfg,
        ingest_s,
        load_s: t.elapsed().as_secs_f64(),
        _tmp: tmp,
    })
}

/// `eval/runs/<suite>/` for a suite in `eval/<suite>/` (ignored by git; the reports quoted in
/// the docs are written with `--out eval/reports/<suite>`).
fn default_out(suite: &Suite) -> PathBuf {
    let dir = suite.file.parent().unwrap_or(Path::new("."));
    dir.parent()
        .unwrap_or(Path::new("."))
        .join("runs")
        .join(&suite.name)
}

pub fn run(config: &Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut config = config.clone();
    if let Some(mode) = args.mode {
        config.policy.mode = mode;
    }
    let config = &config;
    let suite = Suite::load(&args.suite)?;
    let limit = args.limit.or(suite.default_limit);
    anyhow::ensure!(limit != Some(0), "--limit must be at least 1");
    // A subset keeps every kind of message in both languages.
    let queries = match limit {
        Some(n) => stratified(&suite.queries, n),
        None => suite.queries.clone(),
    };
    let pairs = match &suite.pairs {
        Some(p) => {
            let all = load_pairs(p, None)?;
            Some(match limit {
                Some(n) => spread(&all, n),
                None => all,
            })
        }
        None => None,
    };

    let mut report = RunReport::default();
    let mut settings = RunSettings {
        temperature: f64::from(config.generation.sampling.temperature),
        seed: config.generation.sampling.seed,
        limit,
        queries_in_suite: suite.queries.len(),
        retrieval_mode: format!("{:?}", config.retrieval.mode).to_lowercase(),
        embedder: config.models.embedder.clone(),
        mode: config.policy.mode.as_str().to_string(),
        drafts: !args.fast,
        ..RunSettings::default()
    };
    let mut runtime = concord::eval::run::Runtime::default();
    let mut embedder_for_pairs: Option<Arc<Embedder>> = None;
    if !queries.is_empty() {
        let opened = open_suite(
            config,
            &suite,
            args.fresh,
            args.model.as_deref(),
            !args.fast,
        )?;
        let a = &opened.assistant;
        for lang in [Lang::Pl, Lang::En] {
            settings.models.insert(
                lang.as_str().to_string(),
                a.drafter.model_name(lang).to_string(),
            );
        }
        let t = Instant::now();
        let records = run_queries(a, &queries, &super::progress_bar("queries"))?;
        report = summarise(&records, &settings.retrieval_mode);
        runtime.queries_s = t.elapsed().as_secs_f64();
        runtime.ingest_s = opened.ingest_s;
        runtime.load_s = opened.load_s;
        embedder_for_pairs = Some(a.embedder.clone());
    }
    if let Some(pairs) = &pairs {
        let t = Instant::now();
        let embedder = match embedder_for_pairs {
            Some(e) => e,
            None => Arc::new(Embedder::from_config(config)?),
        };
        let mut cache: std::collections::HashMap<String, Vec<f32>> = Default::default();
        let mut sim = |a: &str, b: &str| -> Option<f32> {
            for t in [a, b] {
                if !cache.contains_key(t) {
                    cache.insert(
                        t.to_string(),
                        embedder.embed_one(t, concord::embed::Role::Query).ok()?,
                    );
                }
            }
            Some(concord::embed::cosine(&cache[a], &cache[b]))
        };
        let bar = super::progress_bar("pairs");
        bar.set_length(1);
        // The shop's name is grounded in every check the gate makes; the same here.
        let grounded = [config.prompts.business_name.as_str()];
        let canonical = evaluate_pairs(pairs, true, &grounded, &config.check, &mut sim);
        let knowledge = evaluate_pairs(pairs, false, &grounded, &config.check, |_, _| None);
        bar.finish_and_clear();
        report.checker = Some(CheckerSummary::from_reports(&canonical, &knowledge));
        runtime.checker_s = t.elapsed().as_secs_f64();
    }
    report.suite = suite.name.clone();
    report.description = suite.description.clone();
    report.settings = settings;
    report.peak_rss_mb = concord::util::peak_rss_mb();
    runtime.total_s = started.elapsed().as_secs_f64();
    report.runtime = runtime;

    let whole = queries.len() == suite.queries.len();
    let bounds = if args.ratchet {
        &suite.ratchet
    } else {
        &suite.thresholds
    };
    anyhow::ensure!(
        !(args.ratchet && bounds.is_empty()),
        "{} has no [ratchet] bounds",
        suite.file.display()
    );
    let checks = report::gate_checks(&report, bounds, whole);
    let out = args.out.clone().unwrap_or_else(|| default_out(&suite));
    report::write_reports(&out, &report, &checks)?;
    let failed: Vec<&GateCheck> = checks.iter().filter(|c| !c.ok).collect();

    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("records");
            o.insert("gate".into(), serde_json::to_value(&checks)?);
        }
        super::print_json(&v)?;
    } else {
        println!(
            "suite {} ({} queries{})",
            report.suite,
            report.queries,
            pairs
                .as_ref()
                .map_or(String::new(), |p| format!(", {} checker pairs", p.len()))
        );
        for (k, v) in report::headline(&report) {
            println!("  {k:<44} {v}");
        }
        for c in &checks {
            println!(
                "  gate {:<39} {:>10} {:<14} {}",
                c.metric,
                c.value.map_or("–".into(), |v| format!("{v:.4}")),
                c.bound_text(),
                c.verdict()
            );
        }
        println!("reports in {}", out.display());
    }
    if (args.gate || args.ratchet) && !failed.is_empty() {
        eprintln!(
            "gate failed: {}",
            failed
                .iter()
                .map(|c| format!(
                    "{} = {} (wanted {})",
                    c.metric,
                    c.value.map_or("not measured".into(), |v| format!("{v:.4}")),
                    c.bound_text()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(config: &Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let suite = Suite::load(&args.suite)?;
    let (topics, source) = if args.from_store {
        let location = config.store_location();
        if let concord::store::StoreLocation::Sqlite(path) = &location {
            anyhow::ensure!(
                path.exists(),
                "no store at {} to take the most frequent questions from (serve customers first, \
                 or audit the suite's list without --from-store)",
                path.display()
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stats = rt.block_on(async {
            let store = concord::store::Store::connect(&location, &config.store).await?;
            store
                .stats(
                    concord::store::StatsRange {
                        from_ms: 0,
                        to_ms: i64::MAX,
                    },
                    30,
                )
                .await
        })?;
        let pipeline = Pipeline::open(config)?;
        let mut topics =
            audit::topics_from_history(&stats.top_questions, &pipeline.index, args.phrasings);
        topics.truncate(10);
        anyhow::ensure!(
            !topics.is_empty(),
            "the store's history has no question that matched an approved answer yet"
        );
        (topics, format!("store {location}"))
    } else {
        let path = suite.audit.as_ref().with_context(|| {
            format!(
                "the suite {} has no audit list (`audit = ...`); use --from-store",
                suite.file.display()
            )
        })?;
        (audit::load_audit(path)?, format!("list {}", path.display()))
    };
    let opened = open_suite(config, &suite, false, args.model.as_deref(), true)?;
    let asks = audit::asks(&topics, &opened.assistant.index).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let bar = super::progress_bar("audit");
    bar.set_length((asks.len() * if args.no_http { 1 } else { 2 }) as u64);
    let mut answers = audit::ask_cli(&opened.assistant, &asks, &bar)?;
    if !args.no_http {
        let dir = tempfile::tempdir()?;
        answers.extend(
            audit::ask_http(
                opened.assistant.clone(),
                &asks,
                &audit::AuditService {
                    server: opened.config.server.clone(),
                    store: opened.config.store.clone(),
                    store_dir: dir.path().to_path_buf(),
                    knowledge: knowledge_home(&opened.config),
                },
                &bar,
            )
            .map_err(|e| anyhow::anyhow!("asking through the HTTP API: {e}"))?,
        );
    }
    bar.finish_and_clear();
    let report = audit::score(&source, &topics, answers, &config.check);
    let out = args.out.clone().unwrap_or_else(|| default_out(&suite));
    fs_err::create_dir_all(&out)?;
    concord::util::atomic_write(
        &out.join("audit.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    concord::util::atomic_write(&out.join("audit.md"), render_audit_md(&report).as_bytes())?;
    if args.json {
        super::print_json(&report)?;
    } else {
        println!(
            "consistency {:.1}% over {} topics ({}; {} answers in {:.0} s): with the approved \
             answer {:.1}%, with each other {:.1}%, CLI and HTTP alike {:.1}%",
            report.consistency,
            report.topics.len(),
            report.source,
            report.answers.len(),
            started.elapsed().as_secs_f64(),
            report.with_canonical,
            report.with_each_other,
            report.cli_http_same
        );
        for t in &report.topics {
            println!(
                "  {:<28} {:>5.1}%  (approved {:>5.1}%, each other {:>5.1}%, CLI=HTTP {:>5.1}%)",
                t.topic, t.score, t.with_canonical, t.with_each_other, t.cli_http_same
            );
        }
        for a in report.differing().iter().take(20) {
            println!(
                "  differs: [{} {} {:?}] {} -> {} {}",
                a.topic,
                a.lang,
                a.path,
                a.phrasing,
                a.decision,
                a.status.map_or("", |s| s.as_str())
            );
        }
        println!("audit in {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn render_audit_md(r: &AuditReport) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let _ = write!(
        m,
        "# Consistency audit\n\nQuestions from {}. **Consistency {:.1}%** (with the approved answer {:.1}%, \
         with each other {:.1}%, CLI and HTTP answers alike {:.1}%).\n\n\
         | topic | asked | answers | score | with approved | with each other | CLI = HTTP |\n|---|---|---|---|---|---|---|\n",
        r.source, r.consistency, r.with_canonical, r.with_each_other, r.cli_http_same
    );
    for t in &r.topics {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
            t.topic,
            t.asked.map_or("–".into(), |n| n.to_string()),
            t.answers,
            t.score,
            t.with_canonical,
            t.with_each_other,
            t.cli_http_same
        );
    }
    let differing = r.differing();
    let _ = write!(m, "\n## Answers that differ ({})\n\n", differing.len());
    for a in differing {
        let _ = writeln!(
            m,
            "- **{}** ({}, {:?}) \"{}\" → {} {}: {}",
            a.topic,
            a.lang,
            a.path,
            a.phrasing.replace('\n', " "),
            a.decision,
            a.status.map_or("", |s| s.as_str()),
            a.text.replace('\n', " ")
        );
    }
    m
}

pub fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let a = report::read_report(&args.a)?;
    let b = report::read_report(&args.b)?;
    let d = report::diff(&a, &b);
    if args.json {
        super::print_json(&d)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.suite != b.suite {
        println!("note: comparing suite {} with suite {}", a.suite, b.suite);
    }
    if a.settings != b.settings {
        println!("note: the two runs used different settings (models, limit or retrieval)");
    }
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
    println!(
        "{} figures changed: {} better, {} worse",
        d.rows.len(),
        d.better,
        d.worse
    );
    for (label, want) in [
        ("worse", Some(false)),
        ("better", Some(true)),
        ("changed", None),
    ] {
        for r in d.rows.iter().filter(|r| r.better == want) {
            println!(
                "  {label:<7} {:<48} {:>10} -> {:>10}",
                r.metric,
                fmt(r.a),
                fmt(r.b)
            );
        }
    }
    for q in &d.queries {
        println!(
            "  {} {}: {} -> {}   ({})",
            if q.better { "fixed " } else { "broken" },
            q.id,
            q.a,
            q.b,
            q.question.chars().take(70).collect::<String>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
