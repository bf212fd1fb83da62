//! The chat load of `concord bench serve`: simulated customers asking the knowledge base's
//! questions over SSE, what each message took and ended with, and the durability read-back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use concord::knowledge::{KnowledgeBase, Lang};
use concord::Config;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::server::proc_status_mb;
use super::{ServeArgs, REQUEST_TIMEOUT};
use concord::sse::{SseEvent, SseParser};

/// Share of chat messages that ask for a person.
const HANDOFF_SHARE: f64 = 0.1;
/// Pause after a busy or failed message before the slot tries again (a client backing off).
const RETRY_PAUSE: Duration = Duration::from_secs(1);

const HANDOFF_PL: &[&str] = &[
    "Chcę rozmawiać z konsultantem",
    "Poproszę konsultanta",
    "Połącz mnie z konsultantem",
    "Chcę rozmawiać z człowiekiem",
];
const HANDOFF_EN: &[&str] = &[
    "I want to talk to a real person",
    "Can I speak to a human please?",
    "Connect me to an agent",
    "I need a real person",
];

/// The questions of one language: first phrasings of approved answers, and requests for a person.
struct LangQuestions {
    normal: Vec<String>,
    handoff: Vec<String>,
}

pub(crate) struct Questions {
    pl: LangQuestions,
    en: LangQuestions,
}

impl Questions {
    pub(crate) fn load(config: &Config) -> anyhow::Result<Questions> {
        let kb = KnowledgeBase::load_dir(&config.knowledge_dir)
            .with_context(|| format!("loading {}", config.knowledge_dir.display()))?;
        let mut canonicals: Vec<_> = kb.canonicals.iter().collect();
        canonicals.sort_by(|a, b| a.id.0.cmp(&b.id.0));
        let of = |lang: Lang, fixed: &[&str]| -> anyhow::Result<LangQuestions> {
            let first = |handoff: bool| {
                canonicals
                    .iter()
                    .filter(move |c| c.lang == lang && c.handoff == handoff)
                    .filter_map(|c| c.questions.first().cloned())
            };
            let normal: Vec<String> = first(false).collect();
            anyhow::ensure!(
                !normal.is_empty(),
                "the knowledge base in {} has no approved answers in {} (the benchmark asks their \
                 first phrasings)",
                config.knowledge_dir.display(),
                lang.as_str()
            );
            let mut handoff: Vec<String> = fixed.iter().map(|q| q.to_string()).collect();
            handoff.extend(first(true));
            Ok(LangQuestions { normal, handoff })
        };
        Ok(Questions {
            pl: of(Lang::Pl, HANDOFF_PL)?,
            en: of(Lang::En, HANDOFF_EN)?,
        })
    }

    fn of(&self, lang: Lang) -> &LangQuestions {
        match lang {
            Lang::Pl => &self.pl,
            Lang::En => &self.en,
        }
    }

    /// The questions of `lang` that an approved answer answers (none asks for a person).
    pub(crate) fn answered(&self, lang: Lang) -> &[String] {
        &self.of(lang).normal
    }
}

/// A conversation started during the chat load: (slot, n-th conversation of the slot).
pub(super) type ConvKey = (usize, usize);

#[derive(Clone)]
pub(crate) struct Conversation {
    pub(crate) id: String,
    pub(crate) token: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// No terminal event yet.
    Pending,
    Final,
    Handoff,
    /// An SSE `error` or a 503 with code `busy`.
    Busy,
    /// Any other failure, by code.
    Error(String),
    /// Still in flight when the drain time ran out.
    Aborted,
}

/// One chat message, with times from sending the request, in milliseconds.
#[derive(Debug)]
pub(super) struct MessageRecord {
    conv: ConvKey,
    handoff_question: bool,
    accepted_ms: Option<f64>,
    message_id: Option<Value>,
    queued_ms: Option<f64>,
    token_ms: Option<f64>,
    end_ms: Option<f64>,
    outcome: Outcome,
    decision: Option<String>,
    /// A failure before the stream: `"<status> <code>"`, or `connect`/`request` for transport errors.
    http_error: Option<String>,
}

impl MessageRecord {
    fn new(conv: ConvKey, handoff_question: bool) -> MessageRecord {
        MessageRecord {
            conv,
            handoff_question,
            accepted_ms: None,
            message_id: None,
            queued_ms: None,
            token_ms: None,
            end_ms: None,
            outcome: Outcome::Pending,
            decision: None,
            http_error: None,
        }
    }

    /// Takes one SSE event; true when it ends the answer.
    fn on_event(&mut self, event: &SseEvent, ms: f64) -> bool {
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        match event.event.as_str() {
            "accepted" => {
                self.accepted_ms.get_or_insert(ms);
                if !data["message_id"].is_null() {
                    self.message_id = Some(data["message_id"].clone());
                }
                false
            }
            "queued" => {
                self.queued_ms.get_or_insert(ms);
                false
            }
            "token" => {
                self.token_ms.get_or_insert(ms);
                false
            }
            "final" => {
                self.end_ms = Some(ms);
                self.decision = Some(data["decision"].as_str().unwrap_or("unknown").to_string());
                self.outcome = Outcome::Final;
                true
            }
            "handoff" => {
                self.end_ms = Some(ms);
                self.decision = Some("handoff".to_string());
                self.outcome = Outcome::Handoff;
                true
            }
            "error" => {
                self.end_ms = Some(ms);
                let code = data["code"].as_str().unwrap_or("unknown");
                self.outcome = if code == "busy" {
                    Outcome::Busy
                } else {
                    Outcome::Error(code.to_string())
                };
                true
            }
            _ => false,
        }
    }
}

enum LoadEvent {
    Conversation(ConvKey, Conversation),
    ConversationFailed(String),
    Message(MessageRecord),
}

struct LoadCtx {
    client: reqwest::Client,
    /// The instances; conversation slot `i` talks to `bases[i % len]`.
    bases: Vec<String>,
    questions: Arc<Questions>,
    seed: u64,
    /// No new message starts after this.
    stop: Instant,
    /// Messages still in flight are aborted at this time.
    hard_stop: Instant,
}

/// What the chat load recorded.
pub(super) struct Load {
    pub(super) conversations: HashMap<ConvKey, Conversation>,
    pub(super) conversation_errors: BTreeMap<String, usize>,
    pub(super) records: Vec<MessageRecord>,
    pub(super) rss_samples: Vec<f64>,
    pub(super) elapsed_s: f64,
}

pub(super) async fn chat_load(
    client: &reqwest::Client,
    bases: &[String],
    args: &ServeArgs,
    questions: Arc<Questions>,
    pids: &[u32],
) -> Load {
    let started = Instant::now();
    let stop = started + Duration::from_secs(args.seconds);
    let hard_stop = stop + Duration::from_secs(args.drain_seconds);
    let ctx = Arc::new(LoadCtx {
        client: client.clone(),
        bases: bases.to_vec(),
        questions,
        seed: args.seed,
        stop,
        hard_stop,
    });
    let (stop_sampler, sampler_stopped) = oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_rss(pids.to_vec(), sampler_stopped));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut slots = JoinSet::new();
    for slot in 0..args.conversations {
        slots.spawn(conversation_slot(slot, ctx.clone(), tx.clone()));
    }
    drop(tx);
    // Every message ends by itself at `hard_stop` at the latest; the abort is a safety net.
    let _ = timeout_at(hard_stop + Duration::from_secs(10), async {
        while slots.join_next().await.is_some() {}
    })
    .await;
    slots.abort_all();
    let elapsed_s = started.elapsed().as_secs_f64();
    let _ = stop_sampler.send(());
    let rss_samples = sampler.await.unwrap_or_default();

    let mut load = Load {
        conversations: HashMap::new(),
        conversation_errors: BTreeMap::new(),
        records: Vec::new(),
        rss_samples,
        elapsed_s,
    };
    while let Some(event) = rx.recv().await {
        match event {
            LoadEvent::Conversation(key, conv) => {
                load.conversations.insert(key, conv);
            }
            LoadEvent::ConversationFailed(code) => {
                *load.conversation_errors.entry(code).or_default() += 1;
            }
            LoadEvent::Message(record) => load.records.push(record),
        }
    }
    load
}

/// One simulated customer: starts a conversation, asks questions one after the other, and starts
/// a new conversation after a handoff (the bot then stays quiet) or a failure.
async fn conversation_slot(slot: usize, ctx: Arc<LoadCtx>, tx: mpsc::UnboundedSender<LoadEvent>) {
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed.wrapping_add(slot as u64));
    let base = ctx.bases[slot % ctx.bases.len()].as_str();
    let mut n = 0;
    'conversations: while Instant::now() < ctx.stop {
        let lang = alternate_lang(slot + n);
        let key = (slot, n);
        n += 1;
        let conv =
            match timeout_at(ctx.hard_stop, start_conversation(&ctx.client, base, lang)).await {
                Ok(Ok(conv)) => conv,
                Ok(Err(code)) => {
                    let _ = tx.send(LoadEvent::ConversationFailed(code));
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Err(_) => break,
            };
        let (id, token) = (conv.id.clone(), conv.token.clone());
        let _ = tx.send(LoadEvent::Conversation(key, conv));
        while Instant::now() < ctx.stop {
            let handoff_question = rng.random_bool(HANDOFF_SHARE);
            let pool = ctx.questions.of(lang);
            let pool = if handoff_question {
                &pool.handoff
            } else {
                &pool.normal
            };
            let text = &pool[rng.random_range(0..pool.len())];
            let mut record = MessageRecord::new(key, handoff_question);
            let sent = send_message(&ctx, base, &id, &token, text, Instant::now(), &mut record);
            if timeout_at(ctx.hard_stop, sent).await.is_err() {
                record.outcome = Outcome::Aborted;
            }
            let outcome = record.outcome.clone();
            let _ = tx.send(LoadEvent::Message(record));
            match outcome {
                Outcome::Final => {}
                Outcome::Busy => tokio::time::sleep(RETRY_PAUSE).await,
                Outcome::Handoff => continue 'conversations,
                Outcome::Error(_) | Outcome::Pending => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue 'conversations;
                }
                Outcome::Aborted => break 'conversations,
            }
        }
        break;
    }
}

/// Polish for even `i`, English for odd: conversations alternate languages.
pub(crate) fn alternate_lang(i: usize) -> Lang {
    if i.is_multiple_of(2) {
        Lang::Pl
    } else {
        Lang::En
    }
}

/// `POST /api/conversations`; `"<status> <code>"` or the transport failure on failure.
pub(crate) async fn start_conversation(
    client: &reqwest::Client,
    base: &str,
    lang: Lang,
) -> Result<Conversation, String> {
    let resp = client
        .post(format!("{base}/api/conversations"))
        .json(&json!({"lang": lang.as_str()}))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport_code(&e).to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{} {}", status.as_u16(), error_code(resp).await));
    }
    let body: Value = resp.json().await.map_err(|_| "bad_body".to_string())?;
    match (body["conversation_id"].as_str(), body["token"].as_str()) {
        (Some(id), Some(token)) => Ok(Conversation {
            id: id.to_string(),
            token: token.to_string(),
        }),
        _ => Err("bad_body".to_string()),
    }
}

/// Sends one message and reads its SSE answer to the terminal event, filling `record`.
async fn send_message(
    ctx: &LoadCtx,
    base: &str,
    id: &str,
    token: &str,
    text: &str,
    t0: Instant,
    record: &mut MessageRecord,
) {
    let ms = || t0.elapsed().as_secs_f64() * 1000.0;
    let resp = ctx
        .client
        .post(format!("{base}/api/conversations/{id}/messages"))
        .bearer_auth(token)
        .json(&json!({"text": text}))
        .send()
        .await;
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => {
            let code = transport_code(&e);
            record.http_error = Some(code.to_string());
            record.outcome = Outcome::Error(code.to_string());
            return;
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let code = error_code(resp).await;
        record.http_error = Some(format!("{} {code}", status.as_u16()));
        record.end_ms = Some(ms());
        record.outcome = if status.as_u16() == 503 && code == "busy" {
            Outcome::Busy
        } else {
            Outcome::Error(code)
        };
        return;
    }
    let mut parser = SseParser::default();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            record.outcome = Outcome::Error("stream_broken".to_string());
            return;
        };
        for event in parser.push(&chunk) {
            if record.on_event(&event, ms()) {
                return;
            }
        }
    }
    for event in parser.finish() {
        if record.on_event(&event, ms()) {
            return;
        }
    }
    record.outcome = Outcome::Error("stream_incomplete".to_string());
}

/// The `code` of a JSON error body, else `http_<status>`.
pub(crate) async fn error_code(resp: reqwest::Response) -> String {
    let status = resp.status().as_u16();
    resp.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("http_{status}"))
}

pub(crate) fn transport_code(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "request"
    }
}

/// VmRSS of the servers (summed) every second until `stop` fires (nothing without a pid).
async fn sample_rss(pids: Vec<u32>, mut stop: oneshot::Receiver<()>) -> Vec<f64> {
    if pids.is_empty() {
        return Vec::new();
    }
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mbs: Option<Vec<f64>> =
                    pids.iter().map(|&pid| proc_status_mb(pid, "VmRSS:")).collect();
                if let Some(mbs) = mbs {
                    samples.push(mbs.iter().sum());
                }
            }
            _ = &mut stop => return samples,
        }
    }
}

/// The chat load's counts and latency samples.
pub(super) struct Summary {
    pub(super) acknowledged: usize,
    pub(super) finals: usize,
    pub(super) handoffs: usize,
    pub(super) busy: usize,
    pub(super) handoff_questions: usize,
    pub(super) errors: BTreeMap<String, usize>,
    pub(super) http_errors: BTreeMap<String, usize>,
    pub(super) decisions: BTreeMap<String, usize>,
    pub(super) accepted_ms: Vec<f64>,
    pub(super) queued_ms: Vec<f64>,
    pub(super) token_ms: Vec<f64>,
    pub(super) answer_ms: Vec<f64>,
}

impl Load {
    pub(super) fn summarize(&self) -> Summary {
        let mut s = Summary {
            acknowledged: 0,
            finals: 0,
            handoffs: 0,
            busy: 0,
            handoff_questions: 0,
            errors: BTreeMap::new(),
            http_errors: BTreeMap::new(),
            decisions: ["send", "send_canonical", "hold", "no_answer", "handoff"]
                .into_iter()
                .map(|d| (d.to_string(), 0))
                .collect(),
            accepted_ms: Vec::new(),
            queued_ms: Vec::new(),
            token_ms: Vec::new(),
            answer_ms: Vec::new(),
        };
        for r in &self.records {
            s.handoff_questions += usize::from(r.handoff_question);
            if r.message_id.is_some() {
                s.acknowledged += 1;
            }
            s.accepted_ms.extend(r.accepted_ms);
            s.queued_ms.extend(r.queued_ms);
            s.token_ms.extend(r.token_ms);
            if let Some(d) = &r.decision {
                *s.decisions.entry(d.clone()).or_default() += 1;
            }
            if let Some(e) = &r.http_error {
                *s.http_errors.entry(e.clone()).or_default() += 1;
            }
            match &r.outcome {
                Outcome::Final => {
                    s.finals += 1;
                    s.answer_ms.extend(r.end_ms);
                }
                Outcome::Handoff => s.handoffs += 1,
                Outcome::Busy => s.busy += 1,
                Outcome::Error(code) => *s.errors.entry(code.clone()).or_default() += 1,
                Outcome::Aborted => *s.errors.entry("aborted".to_string()).or_default() += 1,
                Outcome::Pending => *s.errors.entry("pending".to_string()).or_default() += 1,
            }
        }
        s
    }
}

pub(super) struct Durability {
    pub(super) acknowledged: usize,
    pub(super) stored: usize,
    pub(super) missing: usize,
    /// Conversations whose history could not be read (their acknowledged messages count as missing).
    pub(super) unreadable: usize,
}

/// Reads back every conversation and looks for each acknowledged customer message; with several
/// instances, through another instance than the one the conversation talked to.
pub(super) async fn durability(
    client: &reqwest::Client,
    bases: &[String],
    load: &Load,
) -> Durability {
    let mut acked: HashMap<ConvKey, Vec<Value>> = HashMap::new();
    for r in &load.records {
        if let Some(id) = &r.message_id {
            acked.entry(r.conv).or_default().push(id.clone());
        }
    }
    let checks = load.conversations.iter().map(|(key, conv)| {
        let ids = acked.get(key).cloned().unwrap_or_default();
        let base = bases[(key.0 + 1) % bases.len()].as_str();
        async move {
            let stored = customer_message_ids(client, base, conv).await;
            (ids, stored)
        }
    });
    let results: Vec<_> = futures_util::stream::iter(checks)
        .buffer_unordered(8)
        .collect()
        .await;
    let mut d = Durability {
        acknowledged: 0,
        stored: 0,
        missing: 0,
        unreadable: 0,
    };
    for (ids, stored) in results {
        d.acknowledged += ids.len();
        match stored {
            Some(stored) => {
                let found = ids
                    .iter()
                    .filter(|id| stored.contains(&id.to_string()))
                    .count();
                d.stored += found;
                d.missing += ids.len() - found;
            }
            None => {
                d.unreadable += 1;
                d.missing += ids.len();
            }
        }
    }
    d
}

/// The ids (as JSON text) of the customer messages of a conversation; None if it cannot be read.
pub(crate) async fn customer_message_ids(
    client: &reqwest::Client,
    base: &str,
    conv: &Conversation,
) -> Option<HashSet<String>> {
    let resp = client
        .get(format!("{base}/api/conversations/{}", conv.id))
        .bearer_auth(&conv.token)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body: Value = resp.json().await.ok()?;
    Some(
        body["messages"]
            .as_array()?
            .iter()
            .filter(|m| m["role"] == "customer")
            .map(|m| m["id"].to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent::new(event, data)
    }

    #[test]
    fn record_takes_the_first_times_and_the_terminal_event() {
        let mut r = MessageRecord::new((0, 0), false);
        assert!(!r.on_event(&ev("accepted", r#"{"message_id": 17}"#), 5.0));
        assert!(!r.on_event(&ev("queued", r#"{"position": 2}"#), 7.0));
        assert!(!r.on_event(&ev("queued", r#"{"position": 1}"#), 9.0));
        assert!(!r.on_event(&ev("token", r#"{"text": "a"}"#), 11.0));
        assert!(r.on_event(&ev("final", r#"{"decision": "send_canonical"}"#), 20.0));
        assert_eq!(r.message_id, Some(json!(17)));
        assert_eq!(
            (r.queued_ms, r.token_ms, r.end_ms),
            (Some(7.0), Some(11.0), Some(20.0))
        );
        assert_eq!(r.decision.as_deref(), Some("send_canonical"));
        assert_eq!(r.outcome, Outcome::Final);

        let mut busy = MessageRecord::new((0, 1), false);
        assert!(busy.on_event(&ev("error", r#"{"code": "busy", "message": "m"}"#), 3.0));
        assert_eq!(busy.outcome, Outcome::Busy);
    }
}
