//! `concord bench soak`: a bounded, loopback-only soak test — legitimate customers chat with think
//! time for minutes while abusive clients attack; checks latency, lost messages and server memory.

mod abuse;
mod report;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use concord::knowledge::Lang;
use concord::sse::{SseEvent, SseParser};
use concord::Config;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use super::bench_serve::chat::{
    alternate_lang, customer_message_ids, error_code, start_conversation, transport_code,
    Conversation, Questions,
};
use super::bench_serve::server::{check_health, proc_status_mb, ServerChild};
use report::{legit_json, print_summary, round1, rss_json};

#[derive(Args)]
pub struct SoakArgs {
    /// How long the customers chat and the abusers attack, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Legitimate customers, each from its own loopback address (127.0.0.10 and up; at most 200).
    #[arg(long, default_value_t = 100)]
    customers: usize,
    /// Shortest pause of a customer before each message (reading, typing), in milliseconds.
    #[arg(long, default_value_t = 5000)]
    think_min_ms: u64,
    /// Longest pause of a customer before each message, in milliseconds.
    #[arg(long, default_value_t = 30000)]
    think_max_ms: u64,
    /// Seed of the think times and question choice (each customer draws from its own stream).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Keep the started server's log (stderr) in this file (default: a temporary file, removed).
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
    /// Print one JSON object on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Customers get their own addresses 127.0.0.10 ..= 127.0.0.209.
const MAX_CUSTOMERS: usize = 200;
/// The longest a legitimate customer waits for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// After the deadline, answers still in flight get this long to finish.
const DRAIN: Duration = Duration::from_secs(120);
/// Timeout of one request that needs no generation.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause of a customer before it tries again to start a conversation, or to reopen its events.
const RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How often the server's memory is sampled; every `PROGRESS_EVERY`-th sample prints progress.
const RSS_INTERVAL: Duration = Duration::from_secs(5);
const PROGRESS_EVERY: u32 = 6;
/// At most this many points in the reported RSS curve.
const RSS_SERIES_POINTS: usize = 60;
/// The issue's target for a legitimate message's time to `accepted`.
const ACCEPTED_P95_TARGET_MS: f64 = 200.0;

pub fn run(config: &Config, args: SoakArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=MAX_CUSTOMERS).contains(&args.customers),
        "--customers must be between 1 and {MAX_CUSTOMERS} (one loopback address each)"
    );
    anyhow::ensure!(args.seconds >= 1, "--seconds must be at least 1");
    anyhow::ensure!(
        args.think_min_ms <= args.think_max_ms,
        "--think-min-ms must not exceed --think-max-ms"
    );
    check_loopback_addresses()?;
    let questions = Questions::load(config)?;
    // The configured limits stay in force: they are what the abusers must run into.
    let mut server = ServerChild::spawn(config, args.server_log.as_deref(), false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    // Ctrl-C ends the benchmark future; dropping `server` then kills the child.
    let result = runtime.block_on(async {
        tokio::select! {
            r = bench(&args, questions, &mut server) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    drop(runtime);
    let report = result?;

    let alive = report["server_alive"].as_bool().unwrap_or(false);
    let lost = report["legit"]["lost"].as_u64().unwrap_or(0);
    if !alive {
        eprintln!("the server's log ends with:\n{}", server.log_tail());
    } else if lost > 0 {
        let kept = match &args.server_log {
            Some(path) => format!("all of it in {}", path.display()),
            None => "--server-log FILE keeps all of it".to_string(),
        };
        eprintln!(
            "errors and warnings in the server's log ({kept}):\n{}",
            server.log_problems()
        );
    }
    if args.json {
        super::print_json(&report)?;
    } else {
        print_summary(&report);
    }
    // Latency over the target is reported; only lost messages and a dead server fail the run.
    Ok(if lost > 0 || !alive {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every client binds its own source address in 127.0.0.0/8, which needs the whole block on the
/// loopback interface (as Linux has); fails early and clearly where it is not.
fn check_loopback_addresses() -> anyhow::Result<()> {
    for ip in [customer_ip(0), abuse::FIRST_IP] {
        std::net::TcpListener::bind((ip, 0)).with_context(|| {
            format!(
                "binding {ip}: `bench soak` gives every client its own loopback address and needs \
                 all of 127.0.0.0/8 on the loopback interface (as Linux has)"
            )
        })?;
    }
    Ok(())
}

/// The source address of legitimate customer `i` (validated: `i` < `MAX_CUSTOMERS`).
fn customer_ip(i: usize) -> Ipv4Addr {
    let last = u8::try_from(10 + i).expect("--customers is at most 200");
    Ipv4Addr::new(127, 0, 0, last)
}

/// An HTTP client whose connections all come from `ip` (its own per-address limits on the server).
fn client_from(ip: Ipv4Addr) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .connect_timeout(Duration::from_secs(10))
        // Idle connections are dropped before the server's own idle timeout (header_timeout_s,
        // 20 s by default) closes them, so a request never races a closing connection.
        .pool_idle_timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .context("building an HTTP client")
}

/// Attempts and outcome counts of one kind of client, shared by its tasks.
#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    /// Sockets or streams held now, the most held at once, and how many at the deadline.
    open: AtomicUsize,
    max_open: AtomicUsize,
    open_at_deadline: AtomicUsize,
}

impl Tally {
    fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, outcome: &str) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        *outcomes.entry(outcome.to_string()).or_default() += 1;
    }

    fn to_json(&self) -> Value {
        let outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        json!({
            "attempts": self.attempts.load(Ordering::Relaxed),
            "outcomes": outcomes,
            "max_open": self.max_open.load(Ordering::Relaxed),
            "open_at_deadline": self.open_at_deadline.load(Ordering::Relaxed),
        })
    }
}

/// What one message's answer stream showed, filled as events arrive (a timeout keeps what came).
#[derive(Default)]
struct Answer {
    /// Milliseconds from sending the request to the `accepted` event.
    accepted_ms: Option<f64>,
    message_id: Option<Value>,
    /// `final`, `hold`, `no_answer`, `handoff`, `error:<code>`, or how the stream failed.
    terminal: Option<String>,
}

impl Answer {
    /// Takes one SSE event; true when it ends the answer.
    fn on_event(&mut self, event: &SseEvent, t0: Instant) -> bool {
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let terminal = match event.event.as_str() {
            "accepted" => {
                if self.accepted_ms.is_none() {
                    self.accepted_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
                }
                if !data["message_id"].is_null() {
                    self.message_id = Some(data["message_id"].clone());
                }
                return false;
            }
            // Held answers and honest no-answers come as `final` with that decision.
            "final" => {
                let decision = data["decision"].as_str().unwrap_or("send");
                if decision == "hold" || decision == "no_answer" {
                    decision.to_string()
                } else {
                    "final".to_string()
                }
            }
            "hold" | "no_answer" | "handoff" => event.event.clone(),
            "error" => format!("error:{}", data["code"].as_str().unwrap_or("unknown")),
            _ => return false,
        };
        self.terminal = Some(terminal);
        true
    }
}

/// How a message request went before its answer stream.
enum Sent {
    /// 200: the answer stream was read (see `Answer`).
    Streamed,
    /// Another status, with the error code.
    Refused(u16, String),
    /// No response at all: `connect`, `timeout` or `request`.
    Failed(&'static str),
}

/// Sends one message and reads its answer stream to the terminal event, filling `answer`.
async fn send_message(
    client: &reqwest::Client,
    base: &str,
    conv: &Conversation,
    text: &str,
    answer: &mut Answer,
) -> Sent {
    let t0 = Instant::now();
    let resp = client
        .post(format!("{base}/api/conversations/{}/messages", conv.id))
        .bearer_auth(&conv.token)
        .json(&json!({"text": text}))
        .send()
        .await;
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => return Sent::Failed(transport_code(&e)),
    };
    let status = resp.status();
    if !status.is_success() {
        return Sent::Refused(status.as_u16(), error_code(resp).await);
    }
    let mut parser = SseParser::default();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            answer.terminal = Some("stream_broken".to_string());
            return Sent::Streamed;
        };
        for event in parser.push(&chunk) {
            if answer.on_event(&event, t0) {
                return Sent::Streamed;
            }
        }
    }
    for event in parser.finish() {
        if answer.on_event(&event, t0) {
            return Sent::Streamed;
        }
    }
    answer.terminal = Some("stream_incomplete".to_string());
    Sent::Streamed
}

// Legitimate customers

/// What the legitimate customers share.
struct Shared {
    base: String,
    questions: Questions,
    think_ms: (u64, u64),
    seed: u64,
    /// No new message starts after this.
    stop: Instant,
    /// Answers still in flight are given up at this time.
    hard_stop: Instant,
    /// Messages acknowledged so far (for the progress line).
    accepted: AtomicUsize,
    /// The customers' events streams.
    events: Tally,
}

/// One conversation of a customer and the ids of its acknowledged messages.
struct ConversationLog {
    conv: Conversation,
    accepted_ids: Vec<Value>,
}

/// What one legitimate customer did.
#[derive(Default)]
struct CustomerLog {
    conversations: Vec<ConversationLog>,
    conversation_refused: BTreeMap<String, usize>,
    sent: usize,
    accepted_ms: Vec<f64>,
    refused: BTreeMap<String, usize>,
    failed: BTreeMap<String, usize>,
    terminal: BTreeMap<String, usize>,
}

fn bump(counts: &mut BTreeMap<String, usize>, key: &str) {
    *counts.entry(key.to_string()).or_default() += 1;
}

/// One customer: starts a conversation, keeps its events stream open as the widget does, and asks
/// a question after each think time until the deadline; a new conversation when the old one
/// cannot take more (handed off, closed, token refused).
async fn customer(i: usize, client: reqwest::Client, shared: Arc<Shared>) -> CustomerLog {
    let mut rng = ChaCha8Rng::seed_from_u64(shared.seed.wrapping_add(i as u64));
    let mut log = CustomerLog::default();
    let mut n = 0;
    while Instant::now() < shared.stop {
        let lang = alternate_lang(i + n);
        n += 1;
        let conv = match start_conversation(&client, &shared.base, lang).await {
            Ok(conv) => conv,
            Err(code) => {
                bump(&mut log.conversation_refused, &code);
                sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let events = tokio::spawn(follow_events(client.clone(), shared.clone(), conv.clone()));
        let mut conv = ConversationLog {
            conv,
            accepted_ids: Vec::new(),
        };
        chat(&client, &shared, lang, &mut rng, &mut conv, &mut log).await;
        events.abort();
        log.conversations.push(conv);
    }
    log
}

/// Asks questions in one conversation until the deadline, or until it cannot take more.
async fn chat(
    client: &reqwest::Client,
    shared: &Shared,
    lang: Lang,
    rng: &mut ChaCha8Rng,
    conv: &mut ConversationLog,
    log: &mut CustomerLog,
) {
    loop {
        let think = rng.random_range(shared.think_ms.0..=shared.think_ms.1);
        let wake = Instant::now() + Duration::from_millis(think);
        if wake >= shared.stop {
            sleep_until(shared.stop).await;
            return;
        }
        sleep_until(wake).await;
        let pool = shared.questions.answered(lang);
        let text = &pool[rng.random_range(0..pool.len())];
        log.sent += 1;
        let mut answer = Answer::default();
        let deadline = (Instant::now() + ANSWER_TIMEOUT).min(shared.hard_stop);
        let sent = send_message(client, &shared.base, &conv.conv, text, &mut answer);
        let sent = timeout_at(deadline, sent).await;
        if let Some(ms) = answer.accepted_ms {
            log.accepted_ms.push(ms);
            shared.accepted.fetch_add(1, Ordering::Relaxed);
            match answer.message_id.take() {
                Some(id) => conv.accepted_ids.push(id),
                None => bump(&mut log.failed, "accepted_without_id"),
            }
        }
        let keep_conversation = match sent {
            Err(_) => {
                bump(&mut log.terminal, "timeout");
                true
            }
            Ok(Sent::Streamed) => {
                let kind = answer.terminal.as_deref().unwrap_or("stream_incomplete");
                bump(&mut log.terminal, kind);
                // After a handoff the assistant stays quiet: the customer starts over.
                kind != "handoff"
            }
            Ok(Sent::Refused(status, code)) => {
                bump(&mut log.refused, &format!("{status} {code}"));
                !matches!(status, 401 | 404 | 409)
            }
            Ok(Sent::Failed(code)) => {
                bump(&mut log.failed, code);
                true
            }
        };
        if !keep_conversation || Instant::now() >= shared.stop {
            return;
        }
    }
}

/// Keeps the conversation's events stream open, reconnecting after the last message id seen
/// (as the widget does); ends when the token is refused or the task is aborted.
async fn follow_events(client: reqwest::Client, shared: Arc<Shared>, conv: Conversation) {
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{}/api/conversations/{}/events", shared.base, conv.id);
        if let Some(after) = &after {
            url = format!("{url}?after={after}");
        }
        shared.events.attempt();
        match client.get(url).bearer_auth(&conv.token).send().await {
            Ok(resp) if resp.status().is_success() => {
                shared.events.count("opened");
                let ended = drain_events(resp, &mut after).await;
                shared.events.count(ended);
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let code = error_code(resp).await;
                shared.events.count(&format!("{status} {code}"));
                if status == 401 || status == 404 {
                    return;
                }
            }
            Err(e) => shared.events.count(transport_code(&e)),
        }
        sleep(RETRY_PAUSE).await;
    }
}

/// Reads an events stream to its end, keeping the last message id; how it ended.
async fn drain_events(resp: reqwest::Response, after: &mut Option<String>) -> &'static str {
    let mut parser = SseParser::default();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return "broken";
        };
        for event in parser.push(&chunk) {
            if event.id.is_some() {
                *after = event.id;
            }
        }
    }
    "ended_by_server"
}

// The run

async fn bench(
    args: &SoakArgs,
    questions: Questions,
    server: &mut ServerChild,
) -> anyhow::Result<Value> {
    let base = server.wait_ready().await?;
    let pid = server.child.id();
    let observer = client_from(Ipv4Addr::LOCALHOST)?;
    check_health(&observer, &base).await?;
    let mut clients = Vec::with_capacity(args.customers);
    for i in 0..args.customers {
        clients.push(client_from(customer_ip(i))?);
    }

    let started = Instant::now();
    let stop = started + Duration::from_secs(args.seconds);
    let shared = Arc::new(Shared {
        base: base.clone(),
        questions,
        think_ms: (args.think_min_ms, args.think_max_ms),
        seed: args.seed,
        stop,
        hard_stop: stop + DRAIN,
        accepted: AtomicUsize::new(0),
        events: Tally::default(),
    });
    eprintln!(
        "soak: {} customers and {} abusers for {} s against {base} (configured limits)",
        args.customers,
        abuse::KINDS,
        args.seconds
    );
    let (stop_sampler, sampler_stopped) = oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_rss(pid, started, shared.clone(), sampler_stopped));
    let abusers = abuse::start(&base, args.seed, stop)?;
    let mut customers = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        let shared = shared.clone();
        customers.spawn(async move {
            let log = customer(i, client.clone(), shared).await;
            (client, log)
        });
    }

    // The abusers stop at the deadline; the customers' answers in flight get `DRAIN` more.
    let abuse_report = abuse::finish(abusers).await;
    let mut logs = Vec::with_capacity(args.customers);
    let collect = async {
        while let Some(done) = customers.join_next().await {
            if let Ok(done) = done {
                logs.push(done);
            }
        }
    };
    // Every request of a customer ends by `hard_stop`; this only guards against a hang.
    let _ = timeout_at(shared.hard_stop + REQUEST_TIMEOUT, collect).await;
    customers.abort_all();
    let unfinished = args.customers - logs.len();

    let durability = durability(&logs, &base).await;
    let metrics = metrics_lines(&observer, &base).await;
    let _ = stop_sampler.send(());
    let samples = sampler.await.unwrap_or_default();
    let hwm = proc_status_mb(pid, "VmHWM:");
    let alive = matches!(server.child.try_wait(), Ok(None));

    let legit = legit_json(&logs, &shared.events, &durability, unfinished);
    let p95 = legit["accepted_ms"]["p95"].as_f64();
    Ok(json!({
        "seconds": args.seconds,
        "customers": args.customers,
        "think_ms": [args.think_min_ms, args.think_max_ms],
        "seed": args.seed,
        "legit": legit,
        "abuse": abuse_report,
        "rss_mb": rss_json(&samples, args.seconds as f64),
        "hwm_mb": hwm.map(round1),
        "server_alive": alive,
        "rate_limited_metrics": metrics,
        "verdict": {
            "accepted_p95_ok": p95.is_some_and(|p| p <= ACCEPTED_P95_TARGET_MS),
            "nothing_lost": durability.missing == 0,
            "server_alive": alive,
        },
    }))
}

/// VmRSS samples `(seconds since start, MiB)` until `stop` fires, with a progress line on stderr
/// every `PROGRESS_EVERY` samples.
async fn sample_rss(
    pid: u32,
    started: Instant,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) -> Vec<(f64, f64)> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(RSS_INTERVAL);
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let t = started.elapsed().as_secs_f64();
                let mb = proc_status_mb(pid, "VmRSS:");
                if let Some(mb) = mb {
                    samples.push((t, mb));
                }
                if ticks > 0 && ticks.is_multiple_of(PROGRESS_EVERY) {
                    let rss = mb.map_or("-".to_string(), |mb| format!("{mb:.0}"));
                    let accepted = shared.accepted.load(Ordering::Relaxed);
                    eprintln!("soak: {t:.0} s, {accepted} messages accepted, server RSS {rss} MB");
                }
                ticks += 1;
            }
            _ = &mut stop => return samples,
        }
    }
}

struct Durability {
    acknowledged: usize,
    missing: usize,
    /// Conversations whose history could not be read (their acknowledged messages count as lost).
    unreadable: usize,
}

/// Reads back every legitimate conversation, each from its customer's own client and address (so
/// the per-address rate limit is the customer's), and counts acknowledged messages not stored.
async fn durability(logs: &[(reqwest::Client, CustomerLog)], base: &str) -> Durability {
    let checks = logs.iter().flat_map(|(client, log)| {
        log.conversations
            .iter()
            .filter(|c| !c.accepted_ids.is_empty())
            .map(move |c| missing_messages(client, base, c))
    });
    let results: Vec<(usize, usize, bool)> = futures_util::stream::iter(checks)
        .buffer_unordered(8)
        .collect()
        .await;
    let mut d = Durability {
        acknowledged: 0,
        missing: 0,
        unreadable: 0,
    };
    for (acknowledged, missing, readable) in results {
        d.acknowledged += acknowledged;
        d.missing += missing;
        d.unreadable += usize::from(!readable);
    }
    d
}

/// (acknowledged, missing, readable) for one conversation; all missing if it cannot be read.
async fn missing_messages(
    client: &reqwest::Client,
    base: &str,
    c: &ConversationLog,
) -> (usize, usize, bool) {
    let acknowledged = c.accepted_ids.len();
    for attempt in 0..3 {
        if attempt > 0 {
            sleep(Duration::from_secs(2)).await;
        }
        if let Some(stored) = customer_message_ids(client, base, &c.conv).await {
            let missing = c
                .accepted_ids
                .iter()
                .filter(|id| !stored.contains(&id.to_string()))
                .count();
            return (acknowledged, missing, true);
        }
    }
    (acknowledged, acknowledged, false)
}

/// The `concord_rate_limited*` and `concord_http_open_connections*` lines of `/metrics`.
async fn metrics_lines(client: &reqwest::Client, base: &str) -> Vec<String> {
    let resp = client
        .get(format!("{base}/metrics"))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    let text = match resp {
        Ok(resp) if resp.status().is_success() => resp.text().await.unwrap_or_default(),
        Ok(resp) => return vec![format!("(/metrics answered {})", resp.status().as_u16())],
        Err(e) => return vec![format!("(/metrics failed: {})", transport_code(&e))],
    };
    text.lines()
        .filter(|l| {
            l.starts_with("concord_rate_limited") || l.starts_with("concord_http_open_connections")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::report::downsample;
    use super::*;

    #[test]
    fn answer_takes_accepted_and_the_terminal_kind() {
        let t0 = Instant::now();
        let mut a = Answer::default();
        assert!(!a.on_event(&SseEvent::new("accepted", r#"{"message_id": 17}"#), t0));
        assert!(!a.on_event(&SseEvent::new("queued", r#"{"position": 1}"#), t0));
        assert!(a.on_event(&SseEvent::new("final", r#"{"decision": "hold"}"#), t0));
        assert_eq!(a.message_id, Some(json!(17)));
        assert!(a.accepted_ms.is_some());
        assert_eq!(a.terminal.as_deref(), Some("hold"));

        let mut busy = Answer::default();
        assert!(busy.on_event(&SseEvent::new("error", r#"{"code": "busy"}"#), t0));
        assert_eq!(busy.terminal.as_deref(), Some("error:busy"));
    }

    #[test]
    fn rss_curve_is_short_and_keeps_peaks() {
        let samples: Vec<(f64, f64)> = (0..150u32).map(|i| (f64::from(i) * 5.0, 100.0)).collect();
        let mut with_peak = samples.clone();
        with_peak[77].1 = 500.0;
        let series = downsample(&with_peak);
        assert!(series.len() <= RSS_SERIES_POINTS);
        assert!(series.iter().any(|p| p[1] == 500.0));
        assert_eq!(series.last().map(|p| p[0]), Some(745.0));
        let r = rss_json(&samples, 600.0);
        assert_eq!(r["first_third_max"], json!(100.0));
        assert_eq!(r["last_third_max"], json!(100.0));
    }
}
