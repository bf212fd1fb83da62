//! The abusive clients of `concord bench soak`: stream hoarding, queue flooding, slowloris, slow
//! bodies, random methods and oversized bodies, each from its own loopback address and bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::{
    alternate_lang, client_from, error_code, send_message, start_conversation, transport_code,
    Answer, Conversation, Sent, Tally, ANSWER_TIMEOUT, REQUEST_TIMEOUT,
};

/// The first abuser's address; the others follow it (127.0.1.1 ..= 127.0.1.6).
pub(super) const FIRST_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
/// How many kinds of abuse run at once.
pub(super) const KINDS: usize = Abuse::ALL.len();
/// Sockets an abuser holds open at most, so the bench itself cannot exhaust the machine (the
/// server's per-address caps are lower, so it still meets them).
const MAX_SOCKETS: usize = 300;
/// Slow-body connections held at most.
const MAX_SLOW_BODIES: usize = 100;
/// Messages of the queue flooder in flight at most.
const MAX_FLOOD_IN_FLIGHT: usize = 20;
/// Events streams opened per conversation by the hoarder (more than the server allows).
const STREAMS_PER_CONVERSATION: usize = 6;
/// Size of an oversized body (the server's limit is `server.max_body_bytes`, 16 KiB by default).
const BIG_BODY_BYTES: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Abuse {
    StreamHoarding,
    QueueFlooding,
    Slowloris,
    SlowBody,
    RandomMethods,
    OversizedBodies,
}

impl Abuse {
    const ALL: [Abuse; 6] = [
        Abuse::StreamHoarding,
        Abuse::QueueFlooding,
        Abuse::Slowloris,
        Abuse::SlowBody,
        Abuse::RandomMethods,
        Abuse::OversizedBodies,
    ];

    fn name(self) -> &'static str {
        match self {
            Abuse::StreamHoarding => "stream_hoarding",
            Abuse::QueueFlooding => "queue_flooding",
            Abuse::Slowloris => "slowloris",
            Abuse::SlowBody => "slow_body",
            Abuse::RandomMethods => "random_methods",
            Abuse::OversizedBodies => "oversized_bodies",
        }
    }

    /// Each kind attacks from an address of its own, so the server's per-address caps can stop
    /// it without touching the customers.
    fn ip(self) -> Ipv4Addr {
        let [a, b, c, d] = FIRST_IP.octets();
        Ipv4Addr::new(a, b, c, d + self as u8)
    }
}

/// What an abuser attacks and from where.
struct Target {
    base: String,
    /// The server's socket address, for raw TCP.
    addr: SocketAddr,
    ip: Ipv4Addr,
    client: reqwest::Client,
    seed: u64,
}

/// One running abuser: its counts and its task, which ends at the deadline.
pub(super) struct Running {
    kind: Abuse,
    tally: Arc<Tally>,
    task: JoinHandle<()>,
}

/// Starts every kind of abuse; each runs until `stop`.
pub(super) fn start(base: &str, seed: u64, stop: Instant) -> anyhow::Result<Vec<Running>> {
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("the server's address in {base}"))?;
    let mut running = Vec::with_capacity(KINDS);
    for kind in Abuse::ALL {
        let target = Arc::new(Target {
            base: base.to_string(),
            addr,
            ip: kind.ip(),
            client: client_from(kind.ip())?,
            seed,
        });
        let tally = Arc::new(Tally::default());
        let task = tokio::spawn(attack(kind, target, tally.clone(), stop));
        running.push(Running { kind, tally, task });
    }
    Ok(running)
}

/// Waits for the abusers (they stop at the deadline) and reports each kind's counts.
pub(super) async fn finish(running: Vec<Running>) -> Value {
    let mut report = serde_json::Map::new();
    for r in running {
        let abort = r.task.abort_handle();
        if timeout(REQUEST_TIMEOUT, r.task).await.is_err() {
            abort.abort();
        }
        report.insert(r.kind.name().to_string(), r.tally.to_json());
    }
    Value::Object(report)
}

/// Runs one kind of abuse until `stop`; dropping it then closes its sockets (its `JoinSet`s abort
/// their tasks).
async fn attack(kind: Abuse, target: Arc<Target>, tally: Arc<Tally>, stop: Instant) {
    let abuse = async {
        match kind {
            Abuse::StreamHoarding => hoard_streams(&target, &tally).await,
            Abuse::QueueFlooding => flood_queue(&target, &tally).await,
            Abuse::Slowloris => slowloris(&target, &tally).await,
            Abuse::SlowBody => slow_bodies(&target, &tally).await,
            Abuse::RandomMethods => random_methods(&target, &tally).await,
            Abuse::OversizedBodies => oversized_bodies(&target, &tally).await,
        }
    };
    tokio::pin!(abuse);
    tokio::select! {
        () = &mut abuse => {}
        () = sleep_until(stop) => {}
    }
    // Read before the held sockets are dropped with `abuse`.
    let open = tally.open.load(Ordering::Relaxed);
    tally.open_at_deadline.store(open, Ordering::Relaxed);
}

/// A socket or stream held open: counted in its tally's `open` while it lives, and its permit
/// bounds how many are held at once.
struct Held {
    tally: Arc<Tally>,
    _permit: OwnedSemaphorePermit,
}

impl Held {
    fn new(tally: &Arc<Tally>, permit: OwnedSemaphorePermit) -> Held {
        let open = tally.open.fetch_add(1, Ordering::Relaxed) + 1;
        tally.max_open.fetch_max(open, Ordering::Relaxed);
        Held {
            tally: tally.clone(),
            _permit: permit,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.tally.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Forgets the tasks that have ended, so a long run does not keep their results.
fn reap(tasks: &mut JoinSet<()>) {
    while tasks.try_join_next().is_some() {}
}

/// A new conversation, counting a refusal as an outcome.
async fn new_conversation(target: &Target, tally: &Tally, n: usize) -> Option<Conversation> {
    match start_conversation(&target.client, &target.base, alternate_lang(n)).await {
        Ok(conv) => Some(conv),
        Err(code) => {
            tally.count(&format!("conversation {code}"));
            None
        }
    }
}

// Stream hoarding

/// Opens as many events streams as the server lets it (several per conversation) and holds them.
async fn hoard_streams(target: &Arc<Target>, tally: &Arc<Tally>) {
    let sockets = Arc::new(Semaphore::new(MAX_SOCKETS));
    let mut held = JoinSet::new();
    let mut conversations: Vec<Conversation> = Vec::new();
    let mut n: usize = 0;
    loop {
        n += 1;
        // Once the server stops starting conversations for this address, the old ones are used.
        if let Some(conv) = new_conversation(target, tally, n).await {
            conversations.push(conv);
        }
        if conversations.is_empty() {
            sleep(Duration::from_secs(1)).await;
            continue;
        }
        let conv = conversations[n % conversations.len()].clone();
        for _ in 0..STREAMS_PER_CONVERSATION {
            let Ok(permit) = sockets.clone().acquire_owned().await else {
                return;
            };
            tally.attempt();
            match timeout(REQUEST_TIMEOUT, open_events(target, &conv)).await {
                Ok(Ok(resp)) => {
                    tally.count("opened");
                    held.spawn(hold_stream(resp, Held::new(tally, permit)));
                }
                Ok(Err(outcome)) => tally.count(&outcome),
                Err(_) => tally.count("timeout"),
            }
            reap(&mut held);
            sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `GET /api/conversations/{id}/events`; `"<status> <code>"` or the transport failure if refused.
async fn open_events(target: &Target, conv: &Conversation) -> Result<reqwest::Response, String> {
    let resp = target
        .client
        .get(format!(
            "{}/api/conversations/{}/events",
            target.base, conv.id
        ))
        .bearer_auth(&conv.token)
        .send()
        .await
        .map_err(|e| transport_code(&e).to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(resp)
    } else {
        Err(format!("{} {}", status.as_u16(), error_code(resp).await))
    }
}

/// Reads a held events stream (its keep-alive comments) until the server ends it.
async fn hold_stream(resp: reqwest::Response, held: Held) {
    let mut stream = resp.bytes_stream();
    let mut broken = false;
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            broken = true;
            break;
        }
    }
    let outcome = if broken { "broken" } else { "ended_by_server" };
    held.tally.count(outcome);
}

// Queue flooding

/// Sends messages that need generation as fast as it can, many in flight, over a growing set of
/// conversations (so the per-conversation limit is not all it meets).
async fn flood_queue(target: &Arc<Target>, tally: &Arc<Tally>) {
    let in_flight = Arc::new(Semaphore::new(MAX_FLOOD_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let mut conversations: Vec<Conversation> = Vec::new();
    let mut n: usize = 0;
    loop {
        if n.is_multiple_of(10) {
            if let Some(conv) = new_conversation(target, tally, n / 10).await {
                conversations.push(conv);
            }
        }
        if conversations.is_empty() {
            n = 0;
            sleep(Duration::from_secs(1)).await;
            continue;
        }
        let conv = conversations[n % conversations.len()].clone();
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        tally.attempt();
        tasks.spawn(flood_one(
            target.clone(),
            conv,
            flood_text(n),
            tally.clone(),
            permit,
        ));
        n += 1;
        reap(&mut tasks);
        sleep(Duration::from_millis(10)).await;
    }
}

/// A question no approved answer covers, different every time (so nothing is served from cache).
fn flood_text(n: usize) -> String {
    if n.is_multiple_of(2) {
        format!("Opowiedz mi szczegółowo o produkcie numer {n}")
    } else {
        format!("Tell me in detail about product {n}")
    }
}

/// One flood message, read to its end; counts how it ended.
async fn flood_one(
    target: Arc<Target>,
    conv: Conversation,
    text: String,
    tally: Arc<Tally>,
    _permit: OwnedSemaphorePermit,
) {
    let mut answer = Answer::default();
    let sent = send_message(&target.client, &target.base, &conv, &text, &mut answer);
    let outcome = match timeout(ANSWER_TIMEOUT, sent).await {
        Err(_) => "timeout".to_string(),
        Ok(Sent::Streamed) => answer
            .terminal
            .unwrap_or_else(|| "stream_incomplete".to_string()),
        Ok(Sent::Refused(status, code)) => format!("{status} {code}"),
        Ok(Sent::Failed(code)) => code.to_string(),
    };
    tally.count(&outcome);
}

// Slowloris and slow bodies (raw TCP)

/// A request that never ends: its head, the piece sent after each pause, and how many pieces.
struct Trickle {
    head: &'static [u8],
    piece: &'static [u8],
    every: Duration,
    pieces: usize,
}

/// A request head never finished: one more header line every 2 s.
static SLOWLORIS: Trickle = Trickle {
    head: b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    piece: b"X-a: b\r\n",
    every: Duration::from_secs(2),
    pieces: usize::MAX,
};

/// A body of 1000 bytes announced and sent one byte a second (it would take 1000 s).
static SLOW_BODY: Trickle = Trickle {
    head: b"POST /api/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
            Content-Length: 1000\r\n\r\n",
    piece: b" ",
    every: Duration::from_secs(1),
    pieces: 1000,
};

/// Keeps up to `MAX_SOCKETS` unfinished request heads open, reopening those the server closes.
async fn slowloris(target: &Arc<Target>, tally: &Arc<Tally>) {
    trickle_connections(target, tally, MAX_SOCKETS, &SLOWLORIS).await;
}

/// Keeps up to `MAX_SLOW_BODIES` bodies trickling in, reopening those the server ends.
async fn slow_bodies(target: &Arc<Target>, tally: &Arc<Tally>) {
    trickle_connections(target, tally, MAX_SLOW_BODIES, &SLOW_BODY).await;
}

async fn trickle_connections(
    target: &Arc<Target>,
    tally: &Arc<Tally>,
    max: usize,
    how: &'static Trickle,
) {
    let sockets = Arc::new(Semaphore::new(max));
    let mut held = JoinSet::new();
    loop {
        let Ok(permit) = sockets.clone().acquire_owned().await else {
            return;
        };
        tally.attempt();
        match connect(target).await {
            Ok(stream) => {
                tally.count("opened");
                held.spawn(trickle(stream, how, Held::new(tally, permit)));
            }
            Err(code) => {
                tally.count(code);
                sleep(Duration::from_secs(1)).await;
            }
        }
        reap(&mut held);
        sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP connection to the server from the abuser's own address.
async fn connect(target: &Target) -> Result<TcpStream, &'static str> {
    let socket = TcpSocket::new_v4().map_err(|_| "socket_failed")?;
    socket
        .bind(SocketAddr::new(IpAddr::V4(target.ip), 0))
        .map_err(|_| "bind_failed")?;
    match timeout(CONNECT_TIMEOUT, socket.connect(target.addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(_)) => Err("connect_failed"),
        Err(_) => Err("connect_timeout"),
    }
}

/// Sends `how` slowly until the server closes the connection; counts what it answered and when.
async fn trickle(stream: TcpStream, how: &'static Trickle, held: Held) {
    let opened = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let writing = async {
        if wr.write_all(how.head).await.is_err() {
            return;
        }
        for _ in 0..how.pieces {
            sleep(how.every).await;
            if wr.write_all(how.piece).await.is_err() {
                return;
            }
        }
        // All sent: wait for the answer.
        std::future::pending::<()>().await;
    };
    let outcome = tokio::select! {
        outcome = read_until_closed(&mut rd) => outcome,
        () = writing => "closed_by_server".to_string(),
    };
    let lasted = held_for(opened.elapsed());
    held.tally.count(&format!("{outcome} {lasted}"));
}

/// Reads what the server sends until it closes: `answered_<status>` if it sent a response first.
async fn read_until_closed(rd: &mut OwnedReadHalf) -> String {
    let mut first = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if first.len() < 16 {
                    first.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    status_of(&first).map_or_else(
        || "closed_by_server".to_string(),
        |status| format!("answered_{status}"),
    )
}

/// The status code of an HTTP/1.x response that begins with `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let rest = text.strip_prefix("HTTP/1.")?.get(2..5)?;
    rest.parse().ok()
}

/// How long a connection lasted, in 10-second buckets (`at once` under a second), so the
/// server's header and body timeouts show in the counts.
fn held_for(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    if s == 0 {
        "at once".to_string()
    } else {
        let from = s / 10 * 10;
        format!("after {from}-{} s", from + 10)
    }
}

// Random methods

const PATHS: [&str; 8] = [
    "/api/conversations",
    "/api/conversations/x",
    "/api/conversations/c_nope/messages",
    "/api/conversations/c_nope/events",
    "/metrics",
    "/healthz",
    "/console/api/queue",
    "/widget.js",
];

/// Requests with made-up and unusual methods on made-up and real paths.
async fn random_methods(target: &Arc<Target>, tally: &Arc<Tally>) {
    let mut rng = ChaCha8Rng::seed_from_u64(target.seed.wrapping_add(0x50AC));
    loop {
        let method = random_method(&mut rng);
        let path = if rng.random_bool(0.3) {
            format!("/nope/{}", rng.random::<u32>())
        } else {
            PATHS[rng.random_range(0..PATHS.len())].to_string()
        };
        tally.attempt();
        let outcome = match reqwest::Method::from_bytes(method.as_bytes()) {
            Ok(method) => {
                let sent = target
                    .client
                    .request(method, format!("{}{path}", target.base))
                    .timeout(REQUEST_TIMEOUT)
                    .send()
                    .await;
                match sent {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        format!("{status} {}", error_code(resp).await)
                    }
                    Err(e) => transport_code(&e).to_string(),
                }
            }
            Err(_) => "invalid_method".to_string(),
        };
        tally.count(&outcome);
        sleep(Duration::from_millis(20)).await;
    }
}

/// A method token: a rare real one, random capitals (3-10), or capitals and digits (`FOO123`).
fn random_method(rng: &mut ChaCha8Rng) -> String {
    const RARE: [&str; 6] = ["PROPFIND", "PATCH", "DELETE", "OPTIONS", "TRACE", "PUT"];
    let letters = |rng: &mut ChaCha8Rng| -> String {
        let len = rng.random_range(3..=10);
        (0..len)
            .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
            .collect()
    };
    match rng.random_range(0..3) {
        0 => RARE[rng.random_range(0..RARE.len())].to_string(),
        1 => letters(rng),
        _ => format!("{}{}", letters(rng), rng.random_range(0..1000u32)),
    }
}

// Oversized bodies

/// 1 MiB bodies to starting a conversation and to a message, with a Content-Length and chunked.
async fn oversized_bodies(target: &Arc<Target>, tally: &Arc<Tally>) {
    let mut conversation: Option<Conversation> = None;
    let mut n: usize = 0;
    loop {
        n += 1;
        if conversation.is_none() {
            conversation = new_conversation(target, tally, n).await;
        }
        let chunked = n % 2 == 1;
        let to_message = n % 4 >= 2;
        let what = match (to_message, chunked) {
            (false, false) => "create length",
            (false, true) => "create chunked",
            (true, false) => "message length",
            (true, true) => "message chunked",
        };
        let request = match (&conversation, to_message) {
            (_, false) => target
                .client
                .post(format!("{}/api/conversations", target.base)),
            (Some(conv), true) => target
                .client
                .post(format!(
                    "{}/api/conversations/{}/messages",
                    target.base, conv.id
                ))
                .bearer_auth(&conv.token),
            (None, true) => {
                tally.count(&format!("{what}: no conversation"));
                sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let body = if chunked {
            chunked_body()
        } else {
            reqwest::Body::from(big_json())
        };
        tally.attempt();
        let sent = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        let outcome = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                format!("{what} {status} {}", error_code(resp).await)
            }
            // The server may close the connection while the body is still being sent.
            Err(e) => format!("{what} {}", transport_code(&e)),
        };
        tally.count(&outcome);
        sleep(Duration::from_millis(200)).await;
    }
}

/// A JSON message of `BIG_BODY_BYTES` bytes.
fn big_json() -> Vec<u8> {
    let mut body = br#"{"text":""#.to_vec();
    body.resize(BIG_BODY_BYTES - 2, b'a');
    body.extend_from_slice(br#""}"#);
    body
}

/// `big_json` sent in 64 KiB chunks (`Transfer-Encoding: chunked`, no length announced).
fn chunked_body() -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big_json()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abusers_have_their_own_addresses() {
        let ips: Vec<Ipv4Addr> = Abuse::ALL.iter().map(|k| k.ip()).collect();
        assert_eq!(ips.first(), Some(&FIRST_IP));
        assert_eq!(ips.last(), Some(&Ipv4Addr::new(127, 0, 1, 6)));
    }

    #[test]
    fn raw_answers_and_bodies() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b""), None);
        assert_eq!(held_for(Duration::from_millis(300)), "at once");
        assert_eq!(held_for(Duration::from_secs(21)), "after 20-30 s");
        assert_eq!(big_json().len(), BIG_BODY_BYTES);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let m = random_method(&mut rng);
            assert!(reqwest::Method::from_bytes(m.as_bytes()).is_ok(), "{m}");
        }
    }
}
