//! `concord bench serve`: load benchmark of the customer HTTP API (docs/api.md) — concurrent chat
//! conversations over SSE, a durability check of acknowledged messages, throughput of requests that
//! need no generation, and the server's memory; starts its own `concord serve` unless given `--url`.

pub(crate) mod chat;
pub(crate) mod server;
mod throughput;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use concord::eval::metrics::percentile;
use concord::Config;
use serde_json::{json, Value};

use chat::{chat_load, durability, Questions};
use server::{proc_status_mb, ServerChild};
use throughput::{throughput_phase, Target};

#[derive(Args)]
pub struct ServeArgs {
    /// A running server to measure (default: start `concord serve` on a free local port, with a
    /// temporary database and rate limits raised out of the way). Given twice or more: instances
    /// of one service, which the simulated customers share round robin.
    #[arg(long, value_name = "URL")]
    url: Vec<String>,
    /// How many `concord serve` instances to start (without `--url`). They share one store: the
    /// configured PostgreSQL database (`store.url`; give it an empty one), or one temporary
    /// SQLite file.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Concurrent chat conversations (each sends its next question when the previous answer ends).
    #[arg(long, default_value_t = 20)]
    conversations: usize,
    /// For how long new chat messages are started, in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// How long answers still in flight after that may take before they are aborted, in seconds.
    #[arg(long, default_value_t = 120)]
    drain_seconds: u64,
    /// Duration of each throughput phase (start conversation, feedback, healthz), in seconds.
    #[arg(long, default_value_t = 10)]
    throughput_seconds: u64,
    /// Concurrent clients in each throughput phase.
    #[arg(long, default_value_t = 32)]
    throughput_clients: usize,
    /// Keep the started server's log (stderr) in this file (default: a temporary file, removed).
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
    /// Seed of the question choice (each conversation slot draws from its own seeded stream).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Timeout of one request that needs no generation.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many points in `rss_series_mb`.
const RSS_SERIES_POINTS: usize = 30;

pub fn run(config: &Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.conversations >= 1,
        "--conversations must be at least 1"
    );
    anyhow::ensure!(
        args.throughput_clients >= 1,
        "--throughput-clients must be at least 1"
    );
    anyhow::ensure!(
        (1..=8).contains(&args.instances),
        "--instances must be between 1 and 8"
    );
    let questions = Questions::load(config)?;
    let store = match config.store_location().engine() {
        concord::store::Engine::Sqlite => "sqlite",
        concord::store::Engine::Postgres => "postgresql",
    };
    let shared = tempfile::Builder::new()
        .prefix("concord-bench-store-")
        .tempdir()?;
    let mut servers = Vec::new();
    if args.url.is_empty() {
        for i in 0..args.instances {
            // One log per instance: FILE, or FILE.0.log, FILE.1.log...
            let log = args.server_log.as_ref().map(|p| match args.instances {
                1 => p.clone(),
                _ => p.with_extension(format!("{i}.log")),
            });
            servers.push(ServerChild::spawn_sharing(
                config,
                log.as_deref(),
                true,
                Some(&shared.path().join("bench.db")),
            )?);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    // Ctrl-C ends the benchmark future; the server guard below then kills the child.
    let result = runtime.block_on(async {
        tokio::select! {
            r = bench(&args, questions, &mut servers, store) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    drop(runtime);
    let mut report = result?;

    for server in &mut servers {
        if let Ok(Some(status)) = server.child.try_wait() {
            report
                .failures
                .push(format!("the server exited during the benchmark ({status})"));
            eprintln!("the server's log ends with:\n{}", server.log_tail());
        } else if !report.failures.is_empty() {
            let kept = match &args.server_log {
                Some(path) => format!("all of it in {}", path.display()),
                None => "--server-log FILE keeps all of it".to_string(),
            };
            eprintln!(
                "errors and warnings in the server's log ({kept}):\n{}",
                server.log_problems()
            );
        }
    }
    report.value["failures"] = json!(report.failures);
    report.value["ok"] = json!(report.failures.is_empty());
    if args.json {
        super::print_json(&report.value)?;
    } else {
        print_summary(&report.value);
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

struct Report {
    value: Value,
    /// Reasons for exit code 1 (errors other than busy, missing acknowledged messages).
    failures: Vec<String>,
}

async fn bench(
    args: &ServeArgs,
    questions: Questions,
    servers: &mut [ServerChild],
    store: &str,
) -> anyhow::Result<Report> {
    let mut bases = Vec::new();
    let mut pids = Vec::new();
    for server in servers.iter_mut() {
        bases.push(server.wait_ready().await?);
        pids.push(server.child.id());
    }
    if servers.is_empty() {
        bases = args
            .url
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    for base in &bases {
        server::check_health(&client, base).await?;
    }
    let mut failures = Vec::new();

    let load = chat_load(&client, &bases, args, Arc::new(questions), &pids).await;
    let durability = durability(&client, &bases, &load).await;
    let mut throughput = serde_json::Map::new();
    for target in [Target::StartConversation, Target::Feedback, Target::Healthz] {
        let phase = throughput_phase(&client, &bases, args, target).await;
        if phase.errors > 0 {
            failures.push(format!(
                "{} of {} {} requests failed",
                phase.errors,
                phase.requests,
                target.name()
            ));
        }
        if phase.setup_errors > 0 {
            failures.push(format!(
                "{} conversations for the {} phase could not be started",
                phase.setup_errors,
                target.name()
            ));
        }
        throughput.insert(target.name().to_string(), phase.to_json());
    }
    // Summed over the instances.
    let sum = |key: &str| -> Option<f64> {
        let each: Option<Vec<f64>> = pids.iter().map(|&p| proc_status_mb(p, key)).collect();
        each.filter(|e| !e.is_empty()).map(|e| e.iter().sum())
    };
    let peak = sum("VmHWM:");
    let current = sum("VmRSS:");

    let summary = load.summarize();
    let errors: usize = summary.errors.values().sum();
    if errors > 0 {
        failures.push(format!(
            "{errors} chat messages failed ({})",
            counts_text(&summary.errors)
        ));
    }
    let conversation_errors: usize = load.conversation_errors.values().sum();
    if conversation_errors > 0 {
        failures.push(format!(
            "{conversation_errors} conversations could not be started ({})",
            counts_text(&load.conversation_errors)
        ));
    }
    if durability.missing > 0 {
        failures.push(format!(
            "{} of {} acknowledged messages are missing from their conversation",
            durability.missing, durability.acknowledged
        ));
    }

    let value = json!({
        "url": bases.join(" "),
        "instances": bases.len(),
        // The engine the started instances share (`null` for servers given by `--url`).
        "store": (!pids.is_empty()).then_some(store),
        "started_server": !pids.is_empty(),
        "conversations": args.conversations,
        "seconds": args.seconds,
        "drain_seconds": args.drain_seconds,
        "seed": args.seed,
        "load_s": round1(load.elapsed_s),
        "conversations_started": load.conversations.len(),
        "conversation_errors": load.conversation_errors,
        "messages": {
            "sent": load.records.len(),
            "acknowledged": summary.acknowledged,
            "final": summary.finals,
            "handoff": summary.handoffs,
            "busy": summary.busy,
            "handoff_questions": summary.handoff_questions,
            "errors": summary.errors,
            "http_errors": summary.http_errors,
        },
        "decisions": summary.decisions,
        "ttf_accepted_ms": stats(&summary.accepted_ms, true),
        "ttf_queued_ms": stats(&summary.queued_ms, false),
        "ttf_token_ms": stats(&summary.token_ms, false),
        "answer_ms": stats(&summary.answer_ms, true),
        "durability": {
            "acknowledged": durability.acknowledged,
            "stored": durability.stored,
            "missing": durability.missing,
            "unreadable_conversations": durability.unreadable,
        },
        "throughput": throughput,
        "server_peak_rss_mb": peak.map(round1),
        "server_rss_mb": current.map(round1),
        "rss_max_mb": load.rss_samples.iter().copied().reduce(f64::max).map(round1),
        "rss_series_interval_s": series_interval(load.rss_samples.len()),
        "rss_series_mb": downsample(&load.rss_samples),
    });
    Ok(Report { value, failures })
}

// Output

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// p50/p95 (and max) of latency samples in ms; null figures for no samples.
fn stats(samples: &[f64], with_max: bool) -> Value {
    let some = !samples.is_empty();
    let p = |q: f64| some.then(|| round1(percentile(samples, q)));
    let mut v = json!({"p50": p(50.0), "p95": p(95.0), "n": samples.len()});
    if with_max {
        v["max"] = json!(samples.iter().copied().reduce(f64::max).map(round1));
    }
    v
}

/// Seconds per point of the downsampled RSS series.
fn series_interval(n: usize) -> usize {
    n.div_ceil(RSS_SERIES_POINTS).max(1)
}

/// At most `RSS_SERIES_POINTS` values: the maximum of each run of consecutive samples.
fn downsample(samples: &[f64]) -> Vec<f64> {
    samples
        .chunks(series_interval(samples.len()))
        .filter_map(|c| c.iter().copied().reduce(f64::max))
        .map(round1)
        .collect()
}

fn counts_text(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_summary(r: &Value) {
    let m = &r["messages"];
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
    let ms = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    // `{"a": 1, "b": 2}` as `a 1, b 2`.
    let counts = |v: &Value| match v.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_string(),
    };
    println!(
        "chat load: {} conversations, new messages for {} s, {} s in all, against {} ({} instance(s), store {})",
        r["conversations"],
        r["seconds"],
        r["load_s"],
        r["url"].as_str().unwrap_or_default(),
        r["instances"],
        r["store"].as_str().unwrap_or("as running")
    );
    println!(
        "  messages: {} sent, {} acknowledged, {} final, {} handoff, {} busy; errors: {}",
        m["sent"],
        m["acknowledged"],
        m["final"],
        m["handoff"],
        m["busy"],
        counts(&m["errors"])
    );
    println!("  HTTP errors: {}", counts(&m["http_errors"]));
    println!("  decisions: {}", counts(&r["decisions"]));
    for (name, key) in [
        ("accepted", "ttf_accepted_ms"),
        ("first queued", "ttf_queued_ms"),
        ("first token", "ttf_token_ms"),
        ("final answer", "answer_ms"),
    ] {
        let s = &r[key];
        println!(
            "  {name:>13}: p50 {} ms, p95 {} ms (n = {})",
            num(&s["p50"]),
            num(&s["p95"]),
            s["n"]
        );
    }
    let d = &r["durability"];
    println!(
        "durability: {} acknowledged, {} stored, {} missing",
        d["acknowledged"], d["stored"], d["missing"]
    );
    println!("throughput:");
    for target in [Target::StartConversation, Target::Feedback, Target::Healthz] {
        let p = &r["throughput"][target.name()];
        let statuses = match counts(&p["error_statuses"]).as_str() {
            "none" => String::new(),
            text => format!(" ({text})"),
        };
        println!(
            "  {:>18}: {:>8} req/s, p50 {} ms, p95 {} ms, {} errors{statuses}",
            target.name(),
            num(&p["req_s"]),
            ms(&p["p50_ms"]),
            ms(&p["p95_ms"]),
            p["errors"]
        );
    }
    println!(
        "server memory: peak {} MB, now {} MB, at most {} MB during the chat load",
        num(&r["server_peak_rss_mb"]),
        num(&r["server_rss_mb"]),
        num(&r["rss_max_mb"])
    );
    match r["failures"].as_array() {
        Some(f) if !f.is_empty() => {
            for failure in f {
                println!("FAIL: {}", failure.as_str().unwrap_or_default());
            }
        }
        _ => println!("ok"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_series_is_short() {
        let samples: Vec<f64> = (0..65).map(f64::from).collect();
        let series = downsample(&samples);
        assert!(series.len() <= RSS_SERIES_POINTS);
        assert_eq!(series.last(), Some(&64.0));
    }
}
