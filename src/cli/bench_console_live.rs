//! The live queue's fan-out for `concord bench console`: staff streams open at once while
//! customers ask for a person one after another; each handoff is timed to the first queue event
//! on every stream that counts it.

use std::time::{Duration, Instant};

use anyhow::Context;
use concord::eval::metrics::percentile;
use concord::sse::SseParser;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Opens `streams` live-queue streams, then hands `customers` conversations to a person 200 ms
/// apart; returns the latency figures.
pub async fn fan_out(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    streams: usize,
    customers: usize,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        streams >= 1 && customers >= 1,
        "--streams and --customers must be at least 1"
    );
    // Each stream reports (stream, when, waiting count) for every queue event.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant, i64)>();
    let mut readers = Vec::with_capacity(streams);
    for n in 0..streams {
        let r = client
            .get(format!("{base}/console/api/queue/events"))
            .header(reqwest::header::COOKIE, cookie)
            .timeout(Duration::from_secs(3600))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "live queue: HTTP {}", r.status());
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut body = r.bytes_stream();
            let mut parser = SseParser::default();
            while let Some(Ok(chunk)) = body.next().await {
                let now = Instant::now();
                for e in parser.push(&chunk) {
                    if e.event != "queue" {
                        continue;
                    }
                    let waiting = serde_json::from_str::<Value>(&e.data)
                        .ok()
                        .and_then(|v| v["waiting"].as_i64())
                        .unwrap_or(-1);
                    if tx.send((n, now, waiting)).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);
    // Every stream has the queue as it is.
    let mut base_waiting = vec![None::<i64>; streams];
    while base_waiting.iter().any(Option::is_none) {
        let (n, _, waiting) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .context("the live-queue streams did not all start")?
            .context("a live-queue stream ended")?;
        base_waiting[n].get_or_insert(waiting);
    }
    let start_waiting = base_waiting[0].unwrap_or(0);

    // Customers ask for a person one after another; the k-th handoff makes `waiting` reach
    // start + k on every stream.
    let mut sent_at = Vec::with_capacity(customers);
    let mut arrived = vec![vec![None::<Duration>; customers]; streams];
    for _ in 0..customers {
        let c: Value = client
            .post(format!("{base}/api/conversations"))
            .json(&json!({ "lang": "pl" }))
            .send()
            .await?
            .json()
            .await?;
        let id = c["conversation_id"].as_str().context("conversation id")?;
        let token = c["token"].as_str().context("conversation token")?;
        sent_at.push(Instant::now());
        let r = client
            .post(format!("{base}/api/conversations/{id}/handoff"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "handoff: HTTP {}", r.status());
        // Collect events while waiting for the next customer.
        let until = Instant::now() + Duration::from_millis(200);
        collect(&mut rx, &mut arrived, &sent_at, start_waiting, until, false).await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    collect(&mut rx, &mut arrived, &sent_at, start_waiting, until, true).await;
    for r in readers {
        r.abort();
    }
    let times: Vec<f64> = arrived
        .iter()
        .flatten()
        .flatten()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    Ok(json!({
        "streams": streams,
        "handoffs": customers,
        "expected": streams * customers,
        "arrived": times.len(),
        "p50_ms": percentile(&times, 50.0),
        "p95_ms": percentile(&times, 95.0),
        "max_ms": times.iter().copied().fold(0.0, f64::max),
    }))
}

/// Records, per stream, when the count first covered each handoff sent so far.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(usize, Instant, i64)>,
    arrived: &mut [Vec<Option<Duration>>],
    sent_at: &[Instant],
    start_waiting: i64,
    until: Instant,
    stop_when_complete: bool,
) {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(Some((n, at, waiting))) = tokio::time::timeout(left, rx.recv()).await else {
            return;
        };
        let covered = usize::try_from(waiting - start_waiting)
            .unwrap_or(0)
            .min(sent_at.len());
        for (k, sent) in sent_at.iter().enumerate().take(covered) {
            if arrived[n][k].is_none() {
                arrived[n][k] = Some(at.saturating_duration_since(*sent));
            }
        }
        if stop_when_complete && arrived.iter().all(|s| s.iter().all(Option::is_some)) {
            return;
        }
    }
}
