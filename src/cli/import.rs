//! `concord import`: pages, sitemaps, documents and answer sheets into the knowledge folder, then
//! an incremental re-ingest and the stale-answer report (also after `--resync`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use concord::assistant::Assistant;
use concord::console::knowledge::{reload, ReloadReport};
use concord::import::{ImportOptions, ImportReport, ImportSource};
use concord::index::IndexDir;
use concord::ingest::{ingest_strict, IngestReport, KnowledgeSource};
use concord::knowledge::Lang;
use concord::Config;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: Option<ImportWhat>,
    /// Fetch or read every imported source again and update what changed.
    #[arg(long)]
    resync: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
pub struct Common {
    /// Write the files only; do not rebuild the index.
    #[arg(long, global = true)]
    no_ingest: bool,
    /// Milliseconds between requests to one host (overrides import.delay_ms).
    #[arg(long, global = true, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Print the reports as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args, Clone)]
pub struct One {
    /// The article's id (default: from the URL path or the file name).
    #[arg(long)]
    id: Option<String>,
    /// The article's language, pl or en (default: declared by the page, else detected).
    #[arg(long)]
    lang: Option<Lang>,
}

#[derive(Subcommand)]
enum ImportWhat {
    /// One web page (its main content, as Markdown).
    Url {
        url: String,
        #[command(flatten)]
        one: One,
    },
    /// Every page of a sitemap on its own host, robots.txt obeyed, one request at a time.
    Sitemap { url: String },
    /// Saved HTML pages.
    Html {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        one: One,
    },
    /// A PDF document (terms, policies).
    Pdf {
        file: PathBuf,
        #[command(flatten)]
        one: One,
    },
    /// A Word document.
    Docx {
        file: PathBuf,
        #[command(flatten)]
        one: One,
    },
    /// A spreadsheet (CSV) of questions and answers: approved answers.
    Csv { file: PathBuf },
}

fn options(one: &One) -> ImportOptions {
    ImportOptions {
        lang: one.lang,
        id: one.id.clone(),
    }
}

pub fn run(config: &Config, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut settings = config.import.clone();
    if let Some(ms) = args.common.delay_ms {
        settings.delay_ms = ms;
    }
    let dir = &config.knowledge_dir;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = match (args.what, args.resync) {
        (None, true) => runtime.block_on(concord::import::resync(dir, &settings))?,
        (None, false) => {
            anyhow::bail!(
                "say what to import (url, sitemap, html, pdf, docx, csv) or pass --resync"
            )
        }
        (Some(_), true) => anyhow::bail!("--resync re-syncs every source; name none"),
        (Some(what), false) => {
            let jobs: Vec<(ImportSource, ImportOptions)> = match what {
                ImportWhat::Url { url, one } => vec![(ImportSource::Url(url), options(&one))],
                ImportWhat::Sitemap { url } => {
                    vec![(ImportSource::Sitemap(url), ImportOptions::default())]
                }
                ImportWhat::Html { files, one } => {
                    if files.len() > 1 && one.id.is_some() {
                        anyhow::bail!("--id names one article; import the files one by one");
                    }
                    files
                        .into_iter()
                        .map(|f| (ImportSource::Html(f), options(&one)))
                        .collect()
                }
                ImportWhat::Pdf { file, one } => vec![(ImportSource::Pdf(file), options(&one))],
                ImportWhat::Docx { file, one } => vec![(ImportSource::Docx(file), options(&one))],
                ImportWhat::Csv { file } => {
                    vec![(ImportSource::Csv(file), ImportOptions::default())]
                }
            };
            let mut all = ImportReport::default();
            for (source, opts) in jobs {
                let r =
                    runtime.block_on(concord::import::import(dir, &source, &opts, &settings))?;
                all.written.extend(r.written);
                all.unchanged.extend(r.unchanged);
                all.answers.extend(r.answers);
                all.answers_file = r.answers_file.or(all.answers_file);
                all.ignored_columns.extend(r.ignored_columns);
                all.skipped.extend(r.skipped);
                all.gone.extend(r.gone);
            }
            all
        }
    };
    let changed = !report.written.is_empty() || !report.answers.is_empty();
    let refreshed = if args.common.no_ingest || !changed {
        None
    } else {
        Some(refresh(config)?)
    };
    if args.common.json {
        let (first, reload) = match &refreshed {
            Some(Refreshed::First(r)) => (Some(r), None),
            Some(Refreshed::Reloaded(r)) => (None, Some(r)),
            None => (None, None),
        };
        super::print_json(
            &serde_json::json!({ "import": report, "first_build": first, "reload": reload }),
        )?;
    } else {
        print_import(&report);
        match &refreshed {
            Some(Refreshed::First(r)) => println!(
                "index built: {} articles and {} approved answers",
                r.articles, r.canonicals
            ),
            Some(Refreshed::Reloaded(r)) => print_reload(r),
            None if changed => println!("index not rebuilt (--no-ingest): run `concord ingest`"),
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What re-ingesting did: the first build, or a rebuild compared with the index before.
enum Refreshed {
    First(IngestReport),
    Reloaded(ReloadReport),
}

/// Re-ingests incrementally. With an index already published, the new one is compared with it
/// and the approved answers the change made stale are reported.
fn refresh(config: &Config) -> anyhow::Result<Refreshed> {
    let settings = concord::pipeline::ingest_settings(config);
    if IndexDir::new(&config.data_dir).current()?.is_none() {
        let embedder = concord::embed::Embedder::from_config(config)?;
        let report = ingest_strict(
            &settings,
            &KnowledgeSource::Dir(config.knowledge_dir.clone()),
            &embedder,
            &super::progress_bar("embedding"),
        )?;
        return Ok(Refreshed::First(report));
    }
    let current = Assistant::load(config, None)?;
    let (_, report) = reload(&current, &config.knowledge_dir, &settings)?;
    Ok(Refreshed::Reloaded(report))
}

fn print_import(r: &ImportReport) {
    for w in &r.written {
        let what = if w.created { "imported" } else { "updated" };
        println!("{what} {} -> {} ({})", w.location, w.id, w.file);
    }
    if !r.unchanged.is_empty() {
        println!("{} source(s) unchanged", r.unchanged.len());
    }
    if let Some(file) = &r.answers_file {
        println!(
            "{} approved answer(s) -> {file}: {}",
            r.answers.len(),
            r.answers.join(", ")
        );
    }
    for c in &r.ignored_columns {
        println!("column `{c}` ignored");
    }
    for g in &r.gone {
        println!("gone: {g} (its article is kept; `concord knowledge check` lists it)");
    }
    for s in &r.skipped {
        println!("skipped {}: {}", s.location, s.reason);
    }
}

fn print_reload(r: &ReloadReport) {
    println!(
        "index rebuilt: {} articles, {} approved answers; embedded {} passage(s), reused {} ({:.1} s)",
        r.articles, r.canonicals, r.embedded_chunks, r.reused_chunks, r.seconds
    );
    if r.stale.is_empty() {
        println!(
            "no approved answer made stale ({} checked again)",
            r.rechecked
        );
    }
    for s in &r.stale {
        println!("STALE approved answer {}:", s.canonical_id);
        if !s.changed_sources.is_empty() {
            println!("  its sources changed: {}", s.changed_sources.join(", "));
        }
        for f in &s.new_findings {
            println!("  {}", f.message);
        }
        for q in &s.lost_questions {
            println!(
                "  \"{}\" now reaches {}",
                q.question,
                q.now_matches.as_deref().unwrap_or("no approved answer")
            );
        }
    }
}
