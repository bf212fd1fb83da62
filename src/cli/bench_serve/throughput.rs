//! Throughput phases of `concord bench serve`: concurrent clients sending requests that need no
//! generation (start conversation, feedback, healthz) over one keep-alive client.

use std::collections::BTreeMap;
use std::time::Duration;

use concord::eval::metrics::percentile;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::chat::{alternate_lang, start_conversation, transport_code, Conversation};
use super::{round1, round2, ServeArgs, REQUEST_TIMEOUT};

#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    StartConversation,
    Feedback,
    Healthz,
}

impl Target {
    pub(super) fn name(self) -> &'static str {
        match self {
            Target::StartConversation => "start_conversation",
            Target::Feedback => "feedback",
            Target::Healthz => "healthz",
        }
    }
}

pub(super) struct Phase {
    pub(super) requests: usize,
    /// Requests that failed: non-2xx, or no answer.
    pub(super) errors: usize,
    /// Failed requests by status (`429`) or transport failure (`connect`, `timeout`, `request`).
    by_status: BTreeMap<String, usize>,
    /// Conversations for the feedback phase that could not be started.
    pub(super) setup_errors: usize,
    /// Latencies of the 2xx answers.
    ok_ms: Vec<f64>,
    elapsed_s: f64,
}

impl Phase {
    pub(super) fn to_json(&self) -> Value {
        let ok = !self.ok_ms.is_empty();
        json!({
            "requests": self.requests,
            "req_s": round1(self.requests as f64 / self.elapsed_s.max(1e-9)),
            "p50_ms": ok.then(|| round2(percentile(&self.ok_ms, 50.0))),
            "p95_ms": ok.then(|| round2(percentile(&self.ok_ms, 95.0))),
            "errors": self.errors,
            "error_statuses": self.by_status,
            "setup_errors": self.setup_errors,
        })
    }
}

/// `--throughput-clients` concurrent clients sending `target` requests for `--throughput-seconds`.
pub(super) async fn throughput_phase(
    client: &reqwest::Client,
    bases: &[String],
    args: &ServeArgs,
    target: Target,
) -> Phase {
    let mut phase = Phase {
        requests: 0,
        errors: 0,
        by_status: BTreeMap::new(),
        setup_errors: 0,
        ok_ms: Vec::new(),
        elapsed_s: 0.0,
    };
    // Feedback goes to conversations created beforehand, one per client.
    let mut convs = Vec::new();
    if let Target::Feedback = target {
        for i in 0..args.throughput_clients {
            match start_conversation(client, &bases[i % bases.len()], alternate_lang(i)).await {
                Ok(conv) => convs.push(Some(conv)),
                Err(_) => {
                    phase.setup_errors += 1;
                    convs.push(None);
                }
            }
        }
    }
    let started = Instant::now();
    let stop = started + Duration::from_secs(args.throughput_seconds);
    let mut clients = JoinSet::new();
    for i in 0..args.throughput_clients {
        let conv = convs.get_mut(i).and_then(Option::take);
        if matches!(target, Target::Feedback) && conv.is_none() {
            continue;
        }
        let client = client.clone();
        let base = bases[i % bases.len()].clone();
        clients.spawn(async move {
            let mut ok_ms = Vec::new();
            let mut failed: BTreeMap<String, usize> = BTreeMap::new();
            let mut requests = 0usize;
            while Instant::now() < stop {
                let t = Instant::now();
                requests += 1;
                match one_request(&client, &base, target, conv.as_ref()).await {
                    Ok(()) => ok_ms.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(why) => *failed.entry(why).or_default() += 1,
                }
            }
            (requests, failed, ok_ms)
        });
    }
    while let Some(joined) = clients.join_next().await {
        if let Ok((requests, failed, ok_ms)) = joined {
            phase.requests += requests;
            for (why, n) in failed {
                phase.errors += n;
                *phase.by_status.entry(why).or_default() += n;
            }
            phase.ok_ms.extend(ok_ms);
        }
    }
    phase.elapsed_s = started.elapsed().as_secs_f64();
    phase
}

/// One request, its body read to the end (so the connection is reused); the status or transport
/// failure unless 2xx.
async fn one_request(
    client: &reqwest::Client,
    base: &str,
    target: Target,
    conv: Option<&Conversation>,
) -> Result<(), String> {
    let request = match (target, conv) {
        (Target::StartConversation, _) => client
            .post(format!("{base}/api/conversations"))
            .json(&json!({"lang": "pl"})),
        (Target::Feedback, Some(conv)) => client
            .post(format!("{base}/api/conversations/{}/feedback", conv.id))
            .bearer_auth(&conv.token)
            .json(&json!({"csat": 5})),
        (Target::Feedback, None) => return Err("no_conversation".to_string()),
        (Target::Healthz, _) => client.get(format!("{base}/healthz")),
    };
    let resp = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport_code(&e).to_string())?;
    let status = resp.status();
    let body = resp.bytes().await;
    if !status.is_success() {
        return Err(status.as_u16().to_string());
    }
    body.map(drop).map_err(|e| transport_code(&e).to_string())
}
