//! `concord bench console`: the staff console's page times on a large history, and the live
//! queue's fan-out. Seeds a fresh database with synthetic conversations (10,000 by default),
//! serves the console on loopback, times each page, then opens `--streams` live-queue streams and
//! has `--customers` customers ask for a person one after another, timing each handoff to its
//! arrival on every stream; prints the figures (JSON with --json).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use concord::eval::metrics::percentile;
use concord::server::AppState;
use concord::store::{seed::seed_history, StaffRole, Store};
use concord::Config;
use serde_json::{json, Value};

#[derive(Args)]
pub struct ConsoleArgs {
    /// Conversations to seed (over the last 30 days).
    #[arg(long, default_value_t = 10_000)]
    conversations: usize,
    /// Timed requests per page (after one warm-up request).
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Live-queue streams open at once (staff consoles).
    #[arg(long, default_value_t = 50)]
    streams: usize,
    /// Customers who ask for a person, one every 200 ms.
    #[arg(long, default_value_t = 20)]
    customers: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.requests >= 1, "--requests must be at least 1");
    let tmp = tempfile::tempdir()?;
    let mut config = config.clone();
    config.store.path = tmp.path().join("bench.db").to_string_lossy().into_owned();
    config.server.ip_requests_per_minute = u32::MAX;
    config.server.ip_burst = u32::MAX;
    config.server.conversations_per_address_per_hour = u32::MAX;
    let assistant = super::serve::prepare(&config, false)
        .context("the console serves the published index (run `concord ingest` first)")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = Store::connect(&config.store_location(), &config.store).await?;
        let seeding = Instant::now();
        let messages = seed_history(&store, args.conversations, 30, 42).await?;
        let seed_s = seeding.elapsed().as_secs_f64();
        let hash = concord::staff::hash_password("bench-password-long")?;
        let admin = store
            .add_staff("bench", StaffRole::Admin, &hash, false)
            .await?;
        let session = store.create_session(&admin, 3_600_000).await?;
        let (items, pending) = store.review_queue(1).await?;
        let item = items
            .first()
            .context("the seeded history has pending items")?;
        let state = AppState::new(
            Arc::new(assistant),
            store.clone(),
            config.server.clone(),
            concord::pipeline::knowledge_home(&config),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(concord::server::serve(
            state,
            listener,
            None,
            std::future::pending(),
        ));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?;
        let cookie = format!("concord_staff={}", session.token);
        let pages = [
            ("queue", "/console".to_string()),
            ("item", format!("/console/items/{}", item.decision_id)),
            (
                "conversation",
                format!("/console/conversations/{}", item.conversation_id),
            ),
            ("stats_30_days", "/console/stats".to_string()),
            ("stats_1_day", {
                let today = concord::console::dates::date(concord::store::now_ms());
                format!("/console/stats?from={today}&to={today}")
            }),
            ("knowledge", "/console/knowledge".to_string()),
            ("queue_api", "/console/api/queue".to_string()),
            ("conversations", "/console/conversations".to_string()),
            // Full-text search: a word in thousands of messages, typed without Polish letters.
            ("search", "/console/conversations?q=zwrot".to_string()),
            (
                "search_filtered",
                "/console/conversations?q=paczka&decision=hold&rating=low".to_string(),
            ),
            ("gaps_30_days", "/console/gaps".to_string()),
        ];
        let mut out = serde_json::Map::new();
        for (name, path) in pages {
            let mut times = Vec::with_capacity(args.requests);
            let mut bytes = 0;
            for i in 0..=args.requests {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .header(reqwest::header::COOKIE, &cookie)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "{path}: HTTP {}", r.status());
                bytes = r.bytes().await?.len();
                if i > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            out.insert(
                name.to_string(),
                json!({
                    "path": path,
                    "p50_ms": percentile(&times, 50.0),
                    "p95_ms": percentile(&times, 95.0),
                    "max_ms": times.iter().copied().fold(0.0, f64::max),
                    "bytes": bytes,
                }),
            );
        }
        let live = super::bench_console_live::fan_out(
            &client,
            &base,
            &cookie,
            args.streams,
            args.customers,
        )
        .await?;
        anyhow::Ok(json!({
            "live_queue": live,
            "conversations": args.conversations,
            "messages": messages,
            "pending_items": pending,
            "seed_s": seed_s,
            "requests_per_page": args.requests,
            "pages": Value::Object(out),
        }))
    })?;
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} conversations, {} messages seeded in {:.1} s; {} requests per page",
            report["conversations"],
            report["messages"],
            report["seed_s"].as_f64().unwrap_or(0.0),
            args.requests
        );
        let live = &report["live_queue"];
        println!(
            "  live queue: {} streams, {} handoffs: handoff to console event p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms ({} of {} arrived)",
            live["streams"],
            live["handoffs"],
            live["p50_ms"].as_f64().unwrap_or(0.0),
            live["p95_ms"].as_f64().unwrap_or(0.0),
            live["max_ms"].as_f64().unwrap_or(0.0),
            live["arrived"],
            live["expected"]
        );
        if let Some(pages) = report["pages"].as_object() {
            for (name, p) in pages {
                println!(
                    "  {name:<14} p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  ({} bytes)",
                    p["p50_ms"].as_f64().unwrap_or(0.0),
                    p["p95_ms"].as_f64().unwrap_or(0.0),
                    p["max_ms"].as_f64().unwrap_or(0.0),
                    p["bytes"]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
