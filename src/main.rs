//! The `concord` command line: parses arguments, loads configuration, sets up logging and hands
//! each subcommand to `cli`. Errors print with their causes and map to exit codes.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "concord",
    version,
    about = "Local, private customer-support assistant"
)]
struct Args {
    /// Configuration file overriding the built-in defaults (see concord.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where Concord keeps its index and data (default `.concord`).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The knowledge base folder (default `knowledge`).
    #[arg(long, global = true, value_name = "DIR")]
    knowledge: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build (or update) the index from the knowledge base.
    Ingest(cli::ingest::IngestArgs),
    /// Import pages, a sitemap, documents or a sheet of answers into the knowledge folder, or
    /// re-sync what was imported (`--resync`); then re-ingest and report stale answers.
    Import(cli::import::ImportArgs),
    /// Is the knowledge base current (`check`), and record answers as approved (`approve`).
    #[command(subcommand)]
    Knowledge(cli::knowledge::KnowledgeCommand),
    /// Create a new shop folder: a commented configuration and example knowledge.
    Init(cli::init::InitArgs),
    /// Search the index and show each result's scores.
    Search(cli::search::SearchArgs),
    /// One customer question through the whole gate: triage, retrieval, draft, check, decision.
    Ask(cli::ask::AskArgs),
    /// Run the consistency checker alone on a draft and a reference answer.
    Check(cli::check::CheckArgs),
    /// Benchmarks that print JSON.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
    /// Offline evaluation.
    #[command(subcommand)]
    Eval(cli::eval::EvalCommand),
    /// Fetch, list and verify model files.
    #[command(subcommand)]
    Models(cli::models::ModelsCommand),
    /// Serve the customer API, the chat widget and the demo shop page.
    Serve(cli::serve::ServeArgs),
    /// Staff actions from the command line (reply to a conversation).
    #[command(subcommand)]
    Staff(cli::staff::StaffCommand),
    /// Personal data: export (access requests), erase, purge by the retention periods.
    #[command(subcommand)]
    Privacy(cli::privacy::PrivacyCommand),
    /// Set everything up on the demo knowledge base, show the gate on a few questions, then
    /// serve the demo shop with the chat widget.
    Demo(cli::demo::DemoArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = concord::Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(dir) = args.knowledge {
        config.knowledge_dir = dir;
    }
    concord::telemetry::init(config.log.format, &config.log.filter);
    cli::check_cpu()?;
    concord::llm::set_threads(config.generation.threads);
    match args.command {
        Command::Ingest(a) => cli::ingest::run(&config, a),
        Command::Import(a) => cli::import::run(&config, a),
        Command::Knowledge(c) => cli::knowledge::run(&config, c),
        Command::Init(a) => cli::init::run(a),
        Command::Search(a) => cli::search::run(&config, a),
        Command::Ask(a) => cli::ask::run(&config, a),
        Command::Check(a) => cli::check::run(&config, a),
        Command::Bench(c) => cli::bench::run(&config, c),
        Command::Eval(c) => cli::eval::run(&config, c),
        Command::Models(c) => cli::models::run(&config, c),
        Command::Serve(a) => cli::serve::run(&config, a),
        Command::Staff(c) => cli::staff::run(&config, c),
        Command::Privacy(c) => cli::privacy::run(&config, c),
        Command::Demo(a) => cli::demo::run(&config, a),
    }
}
