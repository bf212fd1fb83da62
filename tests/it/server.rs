//! The chat service on a real loopback socket with the real models and the whole demo knowledge
//! base: conversations, streamed answers, handoffs with a person's reply arriving live, feedback,
//! bad input, limits, headers, health and metrics; and `concord serve` stopping gracefully.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use concord::server::{AppState, SharedState};
use concord::sse::{SseEvent, SseParser};
use concord::store::Store;
use concord::Config;
use serde_json::{json, Value};

use crate::common;

/// One in-process server per test process, shared by the tests (each uses its own
/// conversations). Limits are raised so that tests do not throttle each other; the limits
/// themselves are tested on a second app with tight settings.
struct TestServer {
    rt: tokio::runtime::Runtime,
    base: String,
    state: SharedState,
    config: Config,
    _db: tempfile::TempDir,
}

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (_dir, cfg, _) = common::demo_index();
        let db = tempfile::tempdir().unwrap();
        let mut config = cfg.clone();
        config.store.path = db.path().join("concord.db").to_string_lossy().into_owned();
        common::raise_limits(&mut config);
        config.server.events_poll_ms = 200;
        let (rt, base, state) = common::serve_in_process(&config);
        TestServer {
            rt,
            base,
            state,
            config,
            _db: db,
        }
    })
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// One server-sent event, its data parsed as JSON.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub(crate) event: String,
    pub(crate) data: Value,
    id: Option<String>,
}

fn to_json(e: SseEvent) -> Sse {
    Sse {
        data: serde_json::from_str(&e.data).unwrap_or(Value::String(e.data)),
        event: e.event,
        id: e.id,
    }
}

/// Reads an SSE response until `done` says so, the stream ends, or `timeout`.
pub(crate) async fn read_sse(
    resp: reqwest::Response,
    timeout: Duration,
    done: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    use futures_util::StreamExt;
    let deadline = Instant::now() + timeout;
    let mut stream = resp.bytes_stream();
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(bytes))) => events.extend(parser.push(&bytes).into_iter().map(to_json)),
            Ok(Some(Err(e))) => panic!("stream failed: {e}"),
            Ok(None) => {
                events.extend(parser.finish().into_iter().map(to_json));
                break;
            }
            Err(_) => panic!("no complete answer within {timeout:?}; got {events:?}"),
        }
    }
    events
}

async fn start(c: &reqwest::Client, body: Value) -> (String, String) {
    common::start_conversation(c, &server().base, &body).await
}

/// Sends a message and reads its stream to the end.
async fn ask(c: &reqwest::Client, id: &str, token: &str, text: &str) -> Vec<Sse> {
    let r = c
        .post(format!("{}/api/conversations/{id}/messages", server().base))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    read_sse(r, Duration::from_secs(300), |_| false).await
}

async fn history(c: &reqwest::Client, id: &str, token: &str) -> Value {
    let r = c
        .get(format!("{}/api/conversations/{id}", server().base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

#[test]
fn a_polish_question_streams_a_checked_answer_with_sources_and_is_stored() {
    let s = server();
    s.rt.block_on(async {
        let c = client();
        let (id, token) = start(
            &c,
            json!({"lang": "pl", "context": {"customer_name": "Anna"}}),
        )
        .await;
        let events = ask(&c, &id, &token, "Ile kosztuje dostawa do paczkomatu?").await;
        let kinds = names(&events);
        assert_eq!(kinds[0], "accepted", "{kinds:?}");
        assert_eq!(*kinds.last().unwrap(), "final", "{events:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "final").count(), 1);
        assert!(kinds.contains(&"queued"), "{kinds:?}");
        let accepted = events[0].data["message_id"].as_i64().unwrap();
        let fin = &events.last().unwrap().data;
        let decision = fin["decision"].as_str().unwrap();
        assert!(["send", "send_canonical"].contains(&decision), "{fin}");
        // Streamed pieces passed the release rule: whatever the decision, the final text begins
        // with them; an approved answer sent after streamed sentences is marked generated (the
        // reply holds the model's sentences too).
        let streamed: String = events
            .iter()
            .filter(|e| e.event == "token")
            .map(|e| e.data["text"].as_str().unwrap())
            .collect();
        let text = fin["text"].as_str().unwrap();
        assert!(text.starts_with(&streamed), "{streamed:?} vs {text:?}");
        let provenance = fin["provenance"].as_str().unwrap();
        match (decision, streamed.is_empty()) {
            ("send", _) => assert_eq!(provenance, "generated"),
            (_, true) => assert_eq!(provenance, "canonical"),
            // Streamed sentences before the approved answer (generated), unless the approved
            // answer itself begins with them.
            (_, false) => assert!(["generated", "canonical"].contains(&provenance), "{fin}"),
        }
        assert!(text.chars().any(|c| c.is_ascii_digit()), "a price: {text}");
        let sources = fin["sources"].as_array().expect("sources");
        assert!(!sources.is_empty(), "{fin}");
        assert!(sources
            .iter()
            .all(|s| s["url"].as_str().is_some_and(|u| u.starts_with("https://"))));
        let h = history(&c, &id, &token).await;
        let msgs = h["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2, "{h}");
        assert_eq!(msgs[0]["id"].as_i64(), Some(accepted));
        assert_eq!(msgs[0]["role"], "customer");
        assert_eq!(msgs[0]["text"], "Ile kosztuje dostawa do paczkomatu?");
        assert_eq!(msgs[1]["id"], fin["message_id"]);
        assert_eq!(msgs[1]["text"], fin["text"]);
        assert_eq!(msgs[1]["role"], "assistant");
        // The decision, draft and verdict are kept for the console.
        let (action, _review, _verdict) = s
            .state
            .store
            .decision_for(accepted)
            .await
            .unwrap()
            .expect("a decision is stored");
        assert_eq!(action, decision);
    });
}

#[test]
fn a_handoff_rule_then_a_persons_reply_arrives_live_on_the_events_stream() {
    let s = server();
    s.rt.block_on(async {
        let c = client();
        let (id, token) = start(&c, json!({"lang": "pl"})).await;
        let events = ask(
            &c,
            &id,
            &token,
            "Chcę rozmawiać z konsultantem, nie z botem",
        )
        .await;
        assert_eq!(names(&events), vec!["accepted", "handoff"], "{events:?}");
        let handoff = &events[1].data;
        assert_eq!(handoff["reason"], "human_request");
        assert!(!handoff["text"].as_str().unwrap().is_empty());
        let last = handoff["message_id"].as_i64().unwrap();
        assert_eq!(history(&c, &id, &token).await["status"], "waiting_staff");

        // The customer's widget listens; a person replies from another process (the CLI on the
        // same database), which the stream finds by polling.
        let resp = c
            .get(format!(
                "{}/api/conversations/{id}/events?after={last}",
                s.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let reply = tokio::task::spawn_blocking({
            let (id, db) = (id.clone(), common::sqlite_file(&s.config));
            move || {
                Command::new(env!("CARGO_BIN_EXE_concord"))
                    .args([
                        "staff",
                        "reply",
                        &id,
                        "Dzień dobry, tu Ewa. W czym mogę pomóc?",
                        "--author",
                        "Ewa",
                    ])
                    .env("CONCORD__STORE__PATH", db)
                    .env("CONCORD__LOG__FILTER", "concord=warn")
                    .current_dir(common::repo())
                    .output()
                    .unwrap()
            }
        });
        let live = read_sse(resp, Duration::from_secs(60), |ev| {
            ev.iter()
                .any(|e| e.event == "message" && e.data["role"] == "staff")
                && ev.iter().any(|e| e.event == "status")
        })
        .await;
        let out = reply.await.unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        let staff = live.iter().find(|e| e.event == "message").unwrap();
        assert_eq!(
            staff.data["text"],
            "Dzień dobry, tu Ewa. W czym mogę pomóc?"
        );
        assert_eq!(staff.data["provenance"], "human");
        // "Ewa" is no account with a display name: customers see only that a person answered.
        assert!(staff.data.get("author").is_none(), "{:?}", staff.data);
        assert_eq!(
            staff.id.as_deref(),
            Some(staff.data["id"].to_string().as_str())
        );
        let status = live.iter().find(|e| e.event == "status").unwrap();
        assert_eq!(status.data["status"], "staff");

        // With a person in the conversation the assistant stays quiet.
        let events = ask(&c, &id, &token, "Ile kosztuje dostawa?").await;
        assert_eq!(names(&events), vec!["accepted", "handoff"]);
        assert!(events[1].data["message_id"].is_null());
        let h = history(&c, &id, &token).await;
        let roles: Vec<&str> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, vec!["customer", "system", "staff", "customer"]);
    });
}

#[test]
fn the_person_button_feedback_and_closing() {
    let s = server();
    s.rt.block_on(async {
        let c = client();
        let (id, token) = start(&c, json!({"lang": "en"})).await;
        let events = ask(&c, &id, &token, "How long does delivery take?").await;
        let fin = events.last().unwrap();
        assert_eq!(fin.event, "final", "{events:?}");
        let answer = fin.data["message_id"].as_i64().unwrap();
        let url = |p: &str| format!("{}/api/conversations/{id}/{p}", s.base);
        let r = c
            .post(url("feedback"))
            .bearer_auth(&token)
            .json(&json!({"message_id": answer, "thumb": "up"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        // A thumb on the customer's own message, a csat out of range, both at once: refused.
        for bad in [
            json!({"message_id": events[0].data["message_id"], "thumb": "up"}),
            json!({"csat": 6}),
            json!({"csat": 4, "thumb": "down", "message_id": answer}),
            json!({}),
        ] {
            let r = c
                .post(url("feedback"))
                .bearer_auth(&token)
                .json(&bad)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{bad}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], "invalid_feedback", "{bad}");
        }
        let r = c
            .post(url("handoff"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "waiting_staff");
        assert_eq!(v["message"]["role"], "system");
        let r = c
            .post(url("close"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .post(url("feedback"))
            .bearer_auth(&token)
            .json(&json!({"csat": 5, "comment": "Quick and clear"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = c
            .post(url("messages"))
            .bearer_auth(&token)
            .json(&json!({"text": "one more thing"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "conversation_closed");
        let h = history(&c, &id, &token).await;
        assert_eq!(h["status"], "closed");
        assert_eq!(h["csat"], 5);
        assert_eq!(h["messages"].as_array().unwrap().len(), 3, "{h}");
    });
}

#[test]
fn bad_requests_get_a_code_and_a_message_and_lose_nothing() {
    let s = server();
    s.rt.block_on(async {
        let c = client();
        let (id, token) = start(&c, json!({})).await;
        let (other, other_token) = start(&c, json!({})).await;
        let msg_url = format!("{}/api/conversations/{id}/messages", s.base);
        let post = |token: Option<&str>| {
            let r = c.post(&msg_url);
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        };
        let text = json!({"text": "Ile kosztuje dostawa?"});
        let long = "a".repeat(s.config.server.max_message_chars + 1);
        let huge = "a".repeat(s.config.server.max_body_bytes + 10);
        let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
            ("no token", post(None).json(&text), 401, "unauthorized"),
            (
                "another conversation's token",
                post(Some(&other_token)).json(&text),
                401,
                "unauthorized",
            ),
            (
                "a guessed token",
                post(Some("t_guess")).json(&text),
                401,
                "unauthorized",
            ),
            (
                "broken JSON",
                post(Some(&token))
                    .header("content-type", "application/json")
                    .body("{\"text\": "),
                400,
                "invalid_request",
            ),
            (
                "an unknown field",
                post(Some(&token)).json(&json!({"text": "hi", "extra": 1})),
                400,
                "invalid_request",
            ),
            (
                "a form body",
                post(Some(&token)).body("text=hi"),
                415,
                "unsupported_media_type",
            ),
            (
                "an empty message",
                post(Some(&token)).json(&json!({"text": "   "})),
                400,
                "invalid_message",
            ),
            (
                "a too long message",
                post(Some(&token)).json(&json!({"text": long})),
                400,
                "invalid_message",
            ),
            (
                "a too large body",
                post(Some(&token)).json(&json!({"text": huge})),
                413,
                "payload_too_large",
            ),
            (
                "a bad context key",
                post(Some(&token)).json(&json!({"text": "hi", "context": {"Bad Key": "x"}})),
                400,
                "invalid_request",
            ),
            (
                "an unknown language",
                c.post(format!("{}/api/conversations", s.base))
                    .json(&json!({"lang": "de"})),
                400,
                "invalid_request",
            ),
            (
                "an unknown route",
                c.get(format!("{}/api/nothing", s.base)),
                404,
                "not_found",
            ),
            (
                "a wrong method",
                c.delete(format!("{}/api/conversations", s.base)),
                405,
                "method_not_allowed",
            ),
        ];
        for (what, request, status, code) in cases {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), status, "{what}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("application/json"), "{what}: {ct}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], code, "{what}: {v}");
            let message = v["message"].as_str().unwrap();
            assert!(!message.is_empty(), "{what}");
            assert!(
                !message.contains("sqlx") && !message.contains("src/"),
                "{what}: {message}"
            );
        }
        // Nothing was stored by the refused requests; both conversations are empty and usable.
        for (i, t) in [(&id, &token), (&other, &other_token)] {
            assert_eq!(history(&c, i, t).await["messages"], json!([]));
        }
    });
}

#[test]
fn rate_limits_cors_and_security_headers() {
    let s = server();
    s.rt.block_on(async {
        // A second app on the same assistant with tight limits and one allowed origin.
        let mut settings = s.config.server.clone();
        settings.ip_requests_per_minute = 60;
        settings.ip_burst = 3;
        settings.allowed_origins = vec!["https://polnapolka.example".into()];
        let db = tempfile::tempdir().unwrap();
        let store = Store::open(&db.path().join("db.sqlite"), &s.config.store)
            .await
            .unwrap();
        let state = AppState::new(
            s.state.assistant(),
            store,
            settings,
            concord::pipeline::knowledge_home(&s.config),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(concord::server::serve(
            state,
            listener,
            None,
            std::future::pending(),
        ));
        let c = client();
        let start = || {
            c.post(format!("{base}/api/conversations"))
                .json(&json!({}))
                .send()
        };
        for _ in 0..3 {
            assert_eq!(start().await.unwrap().status(), 201);
        }
        let r = start().await.unwrap();
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "rate_limited");
        // Health and assets are not rate limited.
        assert_eq!(
            c.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        let page = c.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let h = page.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("x-request-id"));
        let html = page.text().await.unwrap();
        assert!(
            html.contains("src=\"/widget.js\""),
            "the demo page embeds the widget with one tag"
        );
        let js = c.get(format!("{base}/widget.js")).send().await.unwrap();
        assert!(js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert_eq!(js.headers()["cross-origin-resource-policy"], "cross-origin");
        assert!(js.text().await.unwrap().contains("/api/conversations"));

        // CORS: the configured origin may call the API, another may not.
        let preflight = |origin: &'static str| {
            c.request(
                reqwest::Method::OPTIONS,
                format!("{base}/api/conversations"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
        };
        let ok = preflight("https://polnapolka.example").await.unwrap();
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://polnapolka.example"
        );
        let no = preflight("https://evil.example").await.unwrap();
        assert!(!no.headers().contains_key("access-control-allow-origin"));
        server.abort();
    });
}

#[test]
fn health_readiness_and_metrics() {
    let s = server();
    s.rt.block_on(async {
        let c = client();
        let r = c.get(format!("{}/healthz", s.base)).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok");
        let r = c.get(format!("{}/readyz", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["ready"], true);
        assert!(v["passages"].as_u64().unwrap() > 100, "{v}");
        let (id, token) = start(&c, json!({"lang": "en"})).await;
        let events = ask(&c, &id, &token, "Do you ship to Germany?").await;
        let decision = events.last().unwrap().data["decision"]
            .as_str()
            .unwrap_or("handoff")
            .to_string();
        let text = common::metrics_text(&c, &s.base).await;
        for needle in [
            "concord_http_requests_total{",
            "route=\"/api/conversations/{id}/messages\"",
            "concord_generation_queue_waiting",
            "concord_time_to_queued_seconds_count",
            "concord_process_peak_rss_bytes",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(
            text.contains(&format!("concord_decisions_total{{kind=\"{decision}\"}}")),
            "{text}"
        );
        // Customer text never reaches metrics.
        assert!(!text.contains("Germany"));
    });
}

/// Kills the child on drop (also when the test fails).
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the `concord` binary with `args` (and `envs`) and waits for its `listening on` line;
/// returns the child, the base URL and what it printed before.
pub(crate) fn spawn_serving(
    args: &[&str],
    envs: &[(&str, &str)],
    data: &std::path::Path,
    db: &std::path::Path,
) -> (Killed, String, String) {
    let db = db.to_str().unwrap();
    spawn_serving_on(args, envs, data, ("CONCORD__STORE__PATH", db))
}

/// [`spawn_serving`] with the store given by one variable (`CONCORD__STORE__PATH` or `__URL`).
pub(crate) fn spawn_serving_on(
    args: &[&str],
    envs: &[(&str, &str)],
    data: &std::path::Path,
    store: (&str, &str),
) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .envs(envs.iter().copied())
        .arg("--data-dir")
        .arg(data)
        .env("CONCORD__MODELS__DIR", common::repo().join("models"))
        .env(store.0, store.1)
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .current_dir(common::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(Ok((addr.trim().to_string(), lines.join("\n"))));
            }
            lines.push(line);
        }
        let _ = tx.send(Err(lines.join("\n")));
    });
    match rx.recv_timeout(Duration::from_secs(600)) {
        Ok(Ok((base, before))) => (child, base, before),
        Ok(Err(out)) => panic!("concord exited before listening:\n{out}"),
        Err(_) => panic!("concord did not start listening within 10 minutes"),
    }
}

#[test]
fn serve_finishes_an_open_answer_and_exits_cleanly_on_sigterm() {
    let (dir, _, _) = common::demo_index();
    let db = tempfile::tempdir().unwrap();
    // A short grace, so that the answer usually outlives it: the stream must still end with an
    // event of its own (not be cut when the process stops, grace + 5 s after the signal).
    // With an admin listener: readiness and metrics there, not where customers connect.
    let (mut child, base, before) = spawn_serving(
        &["serve", "--no-ingest", "--bind", "127.0.0.1:0"],
        &[
            ("CONCORD__SERVER__SHUTDOWN_GRACE_MS", "1000"),
            ("CONCORD__SERVER__ADMIN_BIND", "127.0.0.1:0"),
        ],
        dir.path(),
        &db.path().join("concord.db"),
    );
    let admin = before
        .lines()
        .find_map(|l| l.strip_prefix("admin on "))
        .unwrap_or_else(|| panic!("no admin address in:\n{before}"))
        .trim()
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (id, final_text) = rt.block_on(async {
        let c = client();
        for path in ["/metrics", "/readyz"] {
            let public = c.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(public.status(), 404, "{path} on the public listener");
            let private = c.get(format!("{admin}{path}")).send().await.unwrap();
            assert_eq!(private.status(), 200, "{path} on the admin listener");
        }
        let healthz = c.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(healthz.status(), 200);
        let (id, token) = common::start_conversation(&c, &base, &json!({"lang": "en"})).await;
        let (id, token) = (id.as_str(), token.as_str());
        let events_stream = c
            .get(format!("{base}/api/conversations/{id}/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let answer = c
            .post(format!("{base}/api/conversations/{id}/messages"))
            .bearer_auth(token)
            .json(&json!({"text": "How can I return an item?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        // Stop the server while the answer is being written.
        let kill = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let signalled = Instant::now();
        let events = read_sse(answer, Duration::from_secs(120), |_| false).await;
        let ended = signalled.elapsed();
        let last = events.last().expect("the stream ended with an event");
        // The draft is cut at the deadline and the turn decides without it: the customer gets
        // a final reply that keeps whatever was streamed.
        assert_eq!(last.event, "final", "{events:?}");
        let streamed: String = events
            .iter()
            .filter(|e| e.event == "token")
            .map(|e| e.data["text"].as_str().unwrap())
            .collect();
        let final_text = last.data["text"].as_str().unwrap().to_string();
        assert!(final_text.starts_with(&streamed), "{events:?}");
        // The grace is one deadline for the answer, not one per token: the stream ends within
        // it (plus the time to store the outcome), well before the process stops at grace + 5 s.
        eprintln!(
            "answer stream ended {ended:?} after SIGTERM with {}",
            last.event
        );
        assert!(
            ended < Duration::from_secs(4),
            "ended {ended:?} after SIGTERM"
        );
        // The events stream ends instead of holding the shutdown up.
        let _ = read_sse(events_stream, Duration::from_secs(60), |_| false).await;
        (id.to_string(), final_text)
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "concord did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The acknowledged message and the reply sent are in the database after the stop, as rows.
    let messages = rt.block_on(async {
        let config = common::config(dir.path());
        let store = Store::open(&db.path().join("concord.db"), &config.store)
            .await
            .unwrap();
        assert_eq!(store.count_conversations().await.unwrap(), 1);
        store
            .messages_after(&concord::store::ConversationId(id), 0)
            .await
            .unwrap()
    });
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].role, concord::store::Role::Customer);
    assert_eq!(messages[0].text, "How can I return an item?");
    assert_eq!(messages[1].reply_to, Some(messages[0].id));
    assert_eq!(messages[1].text, final_text);
}

#[test]
fn the_demo_shows_the_gate_then_serves_the_shop() {
    // The README's first command, on the small knowledge base already indexed, so that CI does
    // not embed the whole demo shop twice (`concord demo` on `knowledge/` is the same code with
    // more files; its ingestion is tested in index.rs).
    let data = tempfile::tempdir().unwrap();
    let (kb, _cfg, _index) = common::small_index(data.path());
    let kb_arg = kb.path().to_str().unwrap();
    let (_child, base, text) = spawn_serving(
        &["--knowledge", kb_arg, "demo", "--bind", "127.0.0.1:0"],
        &[],
        data.path(),
        &data.path().join("concord.db"),
    );
    assert!(text.contains("4/5 the whole gate"), "{text}");
    // Each of the six questions shows the gate's match: sure, unsure (never shown as the
    // answer), or none.
    let decided = text.matches(", sure): ").count()
        + text.matches(") is not sure (").count()
        + text.matches("  no approved answer matches").count();
    assert_eq!(decided, 6, "{text}");
    // Two drafted questions get a checked decision; the request for a person is handed off.
    assert_eq!(text.matches("  check: ").count(), 3, "{text}");
    assert!(
        text.contains("decision: handoff (triage.human_request)"),
        "{text}"
    );
    for line in text.lines().filter(|l| l.starts_with("  decision: ")) {
        let action = line["  decision: ".len()..].split(' ').next().unwrap();
        assert!(
            ["send", "send_canonical", "hold", "handoff", "no_answer"].contains(&action),
            "{line}"
        );
    }
    assert!(text.contains("5/5 the chat service"), "{text}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let page = client().get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("/widget.js"));
        let ready = client().get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    });
}
