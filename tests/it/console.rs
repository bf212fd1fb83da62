//! The staff console on a real loopback server with the real models, a copy of the demo
//! knowledge base and its index: sign-in, roles, CSRF and customer tokens; a held draft approved
//! once and arriving live in the customer's events stream; a person's reply to a handoff; save
//! as canonical served to the next question; and the stale-answer report after an article edit.

use std::path::Path;
use std::time::{Duration, Instant};

use concord::assistant::Mode;
use concord::server::SharedState;
use concord::sse::SseParser;
use concord::store::StaffRole;
use concord::Config;
use futures_util::StreamExt;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common;

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A server of its own: knowledge files and index copied (so tests can change them), a new
/// database, `mode` as the deployment's policy.
pub struct Console {
    pub rt: tokio::runtime::Runtime,
    pub base: String,
    pub state: SharedState,
    pub config: Config,
    pub _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub fn console_server(mode: Mode) -> Console {
    console_server_with(mode, |_| {})
}

/// The same with other settings.
pub fn console_server_with(mode: Mode, adjust: impl FnOnce(&mut Config)) -> Console {
    let (demo_data, demo_cfg, _) = common::demo_index();
    let kb = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_dir(&demo_cfg.knowledge_dir, kb.path());
    copy_dir(demo_data.path(), data.path());
    let mut config = common::config(data.path());
    config.knowledge_dir = kb.path().to_path_buf();
    config.store.path = data
        .path()
        .join("concord.db")
        .to_string_lossy()
        .into_owned();
    config.policy.mode = mode;
    common::raise_limits(&mut config);
    adjust(&mut config);
    let (rt, base, state) = common::serve_in_process(&config);
    Console {
        rt,
        base,
        state,
        config,
        _dirs: (kb, data),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

impl Console {
    pub async fn add_staff(&self, name: &str, role: StaffRole, password: &str) {
        let hash = concord::staff::hash_password(password).unwrap();
        self.state
            .store
            .add_staff(name, role, &hash, false)
            .await
            .unwrap();
    }

    /// Signs in; returns the `Cookie` header value and the CSRF token.
    pub async fn login(&self, c: &reqwest::Client, name: &str, password: &str) -> (String, String) {
        common::sign_in(c, &self.base, name, password).await
    }

    /// A console API call with a session cookie, its JSON body.
    pub async fn get_json(&self, c: &reqwest::Client, cookie: &str, path: &str) -> Value {
        let text = self.get_text(c, cookie, path).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// A console page with a session cookie, its HTML.
    pub async fn get_text(&self, c: &reqwest::Client, cookie: &str, path: &str) -> String {
        c.get(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Starts a conversation; returns its id and token.
    pub async fn customer(&self, c: &reqwest::Client, lang: &str) -> (String, String) {
        let body = json!({ "lang": lang, "context": { "customer_name": "Anna" } });
        common::start_conversation(c, &self.base, &body).await
    }

    /// The customer presses "talk to a person".
    pub async fn request_person(&self, c: &reqwest::Client, id: &str, token: &str) {
        let r = c
            .post(format!("{}/api/conversations/{id}/handoff", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// A person replies in a conversation with the console's form.
    pub async fn reply_as_staff(
        &self,
        c: &reqwest::Client,
        (cookie, csrf): (&str, &str),
        id: &str,
        text: &str,
    ) {
        let r = c
            .post(format!("{}/console/conversations/{id}/reply", self.base))
            .header(COOKIE, cookie)
            .form(&[("csrf", csrf), ("text", text)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    /// Sends a customer message and returns the terminal event (`final`, `handoff`, `error`).
    pub async fn ask(
        &self,
        c: &reqwest::Client,
        id: &str,
        token: &str,
        text: &str,
    ) -> (String, Value) {
        let r = c
            .post(format!("{}/api/conversations/{id}/messages", self.base))
            .bearer_auth(token)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut stream = r.bytes_stream();
        let mut parser = SseParser::default();
        while let Some(chunk) = stream.next().await {
            for e in parser.push(&chunk.unwrap()) {
                if matches!(e.event.as_str(), "final" | "handoff" | "error") {
                    return (e.event, serde_json::from_str(&e.data).unwrap());
                }
            }
        }
        panic!("the answer stream ended without a final event");
    }
}

impl Console {
    /// The approved answer the gate matched for a conversation's (first) customer message.
    pub async fn decided_canonical(&self, conversation: &str) -> Option<String> {
        let stored = self
            .state
            .store
            .messages_after(&concord::store::ConversationId(conversation.to_string()), 0)
            .await
            .unwrap();
        let asked = stored
            .iter()
            .find(|m| m.role == concord::store::Role::Customer)
            .unwrap();
        self.state.store.decision_canonical(asked.id).await.unwrap()
    }
}

/// Reads an events stream until a `message` event satisfies `want`.
pub(crate) async fn wait_message(
    resp: reqwest::Response,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut stream = resp.bytes_stream();
    let mut parser = SseParser::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .expect("the message arrives in time")
            .expect("the events stream stays open")
            .unwrap();
        for e in parser.push(&chunk) {
            if e.event == "message" {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                if want(&v) {
                    return v;
                }
            }
        }
    }
}

async fn code_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v["code"].as_str().unwrap_or("").to_string())
}

#[test]
fn sign_in_roles_csrf_and_customer_tokens() {
    let s = console_server(Mode::Autopilot);
    s.rt.block_on(async {
        let c = client();
        // The CLI creates an account with the password on stdin (as a script would).
        let out = {
            use std::io::Write;
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
                .args(["staff", "add", "olga", "--role", "admin"])
                .env("CONCORD__STORE__PATH", &s.config.store.path)
                .env("CONCORD__LOG__FILTER", "concord=warn")
                .current_dir(common::repo())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"olga-long-password\n")
                .unwrap();
            child.wait_with_output().unwrap()
        };
        assert!(out.status.success(), "{}", common::stderr(&out));
        // A second add of the same name is refused, and a short password too.
        let again = common::concord(
            s._dirs.1.path(),
            &[
                "staff",
                "add",
                "olga",
                "--role",
                "agent",
                "--password",
                "another-long-one",
            ],
        );
        assert!(!again.status.success());
        assert!(
            common::stderr(&again).contains("already exists"),
            "{}",
            common::stderr(&again)
        );
        s.add_staff("piotr", StaffRole::Agent, "piotr-long-password")
            .await;

        // Signed out: pages send to the sign-in page, the API answers 401 with its code.
        let r = c.get(format!("{}/console", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/console/login");
        let r = c
            .get(format!("{}/console/api/queue", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            code_of(r).await,
            (StatusCode::UNAUTHORIZED, "staff_login_required".into())
        );

        // A customer's token never opens staff endpoints, as a bearer token or as the cookie.
        let (_, token) = s.customer(&c, "en").await;
        for r in [
            c.get(format!("{}/console/api/queue", s.base))
                .bearer_auth(&token),
            c.get(format!("{}/console/api/queue", s.base))
                .header(COOKIE, format!("concord_staff={token}")),
        ] {
            let r = r.send().await.unwrap();
            assert_eq!(
                code_of(r).await,
                (StatusCode::UNAUTHORIZED, "staff_login_required".into())
            );
        }

        let (cookie, csrf) = s.login(&c, "piotr", "piotr-long-password").await;

        // A wrong password is refused like an unknown name, and sign-ins are rate limited.
        for (name, pw) in [
            ("piotr", "wrong-password!"),
            ("nobody", "piotr-long-password"),
        ] {
            let r = c
                .post(format!("{}/console/login", s.base))
                .form(&[("name", name), ("password", pw)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert!(r.headers().get(SET_COOKIE).is_none());
            assert!(r.text().await.unwrap().contains("wrong name or password"));
        }
        let mut limited = false;
        for _ in 0..s.config.server.login_attempts_per_minute + 1 {
            let r = c
                .post(format!("{}/console/login", s.base))
                .form(&[("name", "olga"), ("password", "guessing-again")])
                .send()
                .await
                .unwrap();
            limited |= r.status() == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(limited, "sign-in attempts are limited per name");

        // The agent's sign-in; the queue opens; a change without the CSRF token, from another
        // origin, or beyond the agent's role is refused.
        let r = c
            .get(format!("{}/console", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        // The console speaks Polish by default (`server.console_lang`).
        assert!(r.text().await.unwrap().contains("<h1>Kolejka"));
        let reload = |csrf: Option<&str>, origin: Option<&str>| {
            let mut r = c
                .post(format!("{}/console/api/knowledge/reload", s.base))
                .header(COOKIE, &cookie);
            if let Some(t) = csrf {
                r = r.header("x-csrf-token", t);
            }
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            r.send()
        };
        assert_eq!(
            code_of(reload(None, None).await.unwrap()).await,
            (StatusCode::FORBIDDEN, "csrf_failed".into())
        );
        assert_eq!(
            code_of(reload(Some("0000"), None).await.unwrap()).await,
            (StatusCode::FORBIDDEN, "csrf_failed".into())
        );
        assert_eq!(
            code_of(
                reload(Some(&csrf), Some("https://evil.example"))
                    .await
                    .unwrap()
            )
            .await,
            (StatusCode::FORBIDDEN, "csrf_failed".into())
        );
        assert_eq!(
            code_of(reload(Some(&csrf), None).await.unwrap()).await,
            (StatusCode::FORBIDDEN, "forbidden".into())
        );

        // Signing out ends the session on the server, not only in the browser.
        let r = c
            .post(format!("{}/console/logout", s.base))
            .header(COOKIE, &cookie)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = c
            .get(format!("{}/console/api/queue", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let audit = s.state.store.audit_events(50).await.unwrap();
        for action in ["staff_added", "login", "logout"] {
            assert!(audit.iter().any(|a| a.1 == action), "{action} in {audit:?}");
        }
    });
}

#[test]
fn a_held_draft_is_sent_once_and_arrives_live_and_a_handoff_gets_a_persons_reply() {
    let s = console_server(Mode::Copilot);
    s.rt.block_on(async {
        let c = client();
        s.add_staff("ewa", StaffRole::Agent, "ewa-long-password")
            .await;
        s.add_staff("jan", StaffRole::Agent, "jan-long-password")
            .await;
        let (ewa, ewa_csrf) = s.login(&c, "ewa", "ewa-long-password").await;
        let (jan, jan_csrf) = s.login(&c, "jan", "jan-long-password").await;

        // Copilot: the customer's question waits for staff.
        let (id, token) = s.customer(&c, "en").await;
        let (event, data) = s
            .ask(&c, &id, &token, "How long do I have to return an item?")
            .await;
        assert_eq!(event, "final", "{data}");
        assert_eq!(data["decision"], "hold", "{data}");
        let events = c
            .get(format!(
                "{}/api/conversations/{id}/events?after={}",
                s.base, data["message_id"]
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();

        let queue: Value = s.get_json(&c, &ewa, "/console/api/queue").await;
        let item = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["conversation_id"] == id.as_str())
            .unwrap_or_else(|| panic!("the held draft is in the queue: {queue}"))
            .clone();
        assert_eq!(item["kind"], "copilot");
        let decision = item["decision_id"].as_i64().unwrap();
        let detail: Value = s
            .get_json(&c, &ewa, &format!("/console/api/items/{decision}"))
            .await;
        let proposal = detail["item"]["proposal"]
            .as_str()
            .expect("a proposal to approve")
            .to_string();
        assert!(detail["draft_segments"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
        assert_eq!(detail["item"]["canonical_id"], "en-returns-deadline");
        let canonical: String = detail["canonical_segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert!(canonical.contains("30 days"), "{canonical}");
        assert!(
            !detail["context"].as_array().unwrap().is_empty(),
            "the sources are shown"
        );
        let page = s
            .get_text(&c, &ewa, &format!("/console/items/{decision}"))
            .await;
        assert!(page.contains("Zatwierdź i wyślij") && page.contains("Znalezione źródła"));

        // Two staff approve at the same moment: one sends, the other is told, nothing twice.
        let approve = |cookie: &str, csrf: &str| {
            c.post(format!("{}/console/api/items/{decision}/review", s.base))
                .header(COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .json(&json!({ "action": "approve" }))
                .send()
        };
        let (a, b) = tokio::join!(approve(&ewa, &ewa_csrf), approve(&jan, &jan_csrf));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
        let loser = if a.status() == StatusCode::CONFLICT {
            a
        } else {
            b
        };
        assert_eq!(code_of(loser).await.1, "already_reviewed");

        // The customer sees the approved answer live, once.
        let sent = wait_message(events, Duration::from_secs(30), |m| {
            m["role"] == "assistant"
        })
        .await;
        assert_eq!(sent["text"], proposal.as_str());
        assert_eq!(sent["provenance"], "generated");
        let messages = s
            .state
            .store
            .messages_after(&concord::store::ConversationId(id.clone()), 0)
            .await
            .unwrap();
        assert_eq!(messages.iter().filter(|m| m.text == proposal).count(), 1);
        let audit = s.state.store.audit_events(50).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.1 == "review_approved").count(), 1);

        // A handoff: a person replies from the console and the customer sees it live.
        let (id2, token2) = s.customer(&c, "en").await;
        let (event, _) = s
            .ask(&c, &id2, &token2, "I want to talk to a human, please.")
            .await;
        assert_eq!(event, "handoff");
        let events2 = c
            .get(format!("{}/api/conversations/{id2}/events", s.base))
            .bearer_auth(&token2)
            .send()
            .await
            .unwrap();
        // Customers see the display name an admin set on the team page, never the sign-in name.
        s.add_staff("ada", StaffRole::Admin, "ada-long-password")
            .await;
        let (ada, ada_csrf) = s.login(&c, "ada", "ada-long-password").await;
        let set_display = |cookie: &str, csrf: &str, display: &str| {
            c.post(format!("{}/console/staff/display-name", s.base))
                .header(COOKIE, cookie)
                .form(&[("csrf", csrf), ("name", "ewa"), ("display_name", display)])
                .send()
        };
        // An agent may not; a name too long is refused; neither changes anything.
        let r = set_display(&ewa, &ewa_csrf, "Ewa").await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = set_display(&ada, &ada_csrf, &"E".repeat(41)).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(s.state.store.display_names().await.unwrap().is_empty());
        let r = set_display(&ada, &ada_csrf, "Ewa K.").await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/console/staff?saved=ewa");
        let team = s.get_text(&c, &ada, "/console/staff?saved=ewa").await;
        for want in [
            "value=\"Ewa K.\"",
            "Zapisano: nazwa widoczna dla klientów dla ewa.",
        ] {
            assert!(team.contains(want), "{want}: {team}");
        }
        let audit = s.state.store.audit_events(50).await.unwrap();
        assert!(audit.iter().any(|a| a.1 == "set_display_name"));
        let r = c
            .post(format!("{}/console/conversations/{id2}/reply", s.base))
            .header(COOKIE, &ewa)
            .form(&[
                ("csrf", ewa_csrf.as_str()),
                ("text", "Hello, Ewa here. How can I help?"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let reply = wait_message(events2, Duration::from_secs(30), |m| m["role"] == "staff").await;
        assert_eq!(reply["author"], "Ewa K.");
        let seen: Value = c
            .get(format!("{}/api/conversations/{id2}", s.base))
            .bearer_auth(&token2)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let staff_message = seen["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "staff")
            .unwrap();
        assert_eq!(staff_message["author"], "Ewa K.");
        assert!(!seen.to_string().contains("\"ewa\""), "{seen}");
        // The handoff item is resolved by the reply; a reply without the CSRF token is refused.
        let queue: Value = s.get_json(&c, &ewa, "/console/api/queue").await;
        assert!(!queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["conversation_id"] == id2.as_str()));
        let r = c
            .post(format!("{}/console/conversations/{id2}/reply", s.base))
            .header(COOKIE, &ewa)
            .form(&[("csrf", "nope"), ("text", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c
            .post(format!("{}/console/conversations/{id2}/close", s.base))
            .header(COOKIE, &ewa)
            .form(&[("csrf", ewa_csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let closed = s.state.store.conversation(&id2).await.unwrap();
        assert_eq!(closed.status, concord::store::ConversationStatus::Closed);

        // The stats page counts what happened and draws its charts.
        let stats: Value = s.get_json(&c, &ewa, "/console/api/stats").await;
        assert_eq!(stats["stats"]["conversations"], 2);
        assert_eq!(stats["stats"]["by_action"]["hold"], 1);
        assert_eq!(stats["stats"]["by_action"]["handoff"], 1);
        let page = s.get_text(&c, &ewa, "/console/stats").await;
        assert!(page.matches("<svg").count() >= 3, "three charts");
    });
}

#[test]
fn save_as_canonical_is_served_next_and_an_article_edit_reports_stale_answers() {
    let s = console_server(Mode::Autopilot);
    s.rt.block_on(async {
        let c = client();
        s.add_staff("olga", StaffRole::Admin, "olga-long-password")
            .await;
        let (cookie, csrf) = s.login(&c, "olga", "olga-long-password").await;

        // A customer asks for a person and something the knowledge base does not answer.
        let question = "Do you deliver parcels to Norway?";
        let (id, token) = s.customer(&c, "en").await;
        let (event, _) = s
            .ask(
                &c,
                &id,
                &token,
                &format!("I want to talk to a human. {question}"),
            )
            .await;
        assert_eq!(event, "handoff");
        let queue: Value = s.get_json(&c, &cookie, "/console/api/queue").await;
        let decision = queue["items"][0]["decision_id"].as_i64().unwrap();
        let answer =
            "Yes, Anna: we deliver to Norway with DHL within 5 working days; delivery costs 79 zł.";
        let r = c
            .post(format!("{}/console/api/items/{decision}/review", s.base))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "action": "edit", "text": answer }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // Saved as canonical: written to the knowledge files (the name back to its slot) and
        // indexed without a restart.
        let saved_at = Instant::now();
        let r = c
            .post(format!("{}/console/api/items/{decision}/canonical", s.base))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({
                "answer": answer,
                "questions": "Do you ship to Norway?\nCan I order to Norway?",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let done: Value = r.json().await.unwrap();
        let new_id = done["saved"]["id"].as_str().unwrap().to_string();
        let file = fs_err::read_to_string(done["saved"]["path"].as_str().unwrap()).unwrap();
        assert!(
            file.contains("{{customer_name}}") && !file.contains("Anna"),
            "{file}"
        );
        assert_eq!(done["report"]["changed_canonicals"], json!([new_id]));
        // The admin's save is recorded as an approval (for `concord knowledge check`).
        let approvals =
            concord::knowledge::approvals::Approvals::load(&s.config.knowledge_dir).unwrap();
        assert_eq!(approvals.answers[&new_id].by, "olga");
        assert!(
            done["report"]["embedded_chunks"].as_u64().unwrap() == 0,
            "only the answer is embedded"
        );

        // The next customer asking gets the new approved answer.
        let (id2, token2) = s.customer(&c, "en").await;
        let (event, data) = s.ask(&c, &id2, &token2, "Do you ship to Norway?").await;
        let served_after = saved_at.elapsed();
        assert_eq!(event, "final", "{data}");
        let decided = s.decided_canonical(&id2).await;
        assert_eq!(decided.as_deref(), Some(new_id.as_str()), "{data}");
        assert!(
            matches!(data["decision"].as_str(), Some("send" | "send_canonical")),
            "{data}"
        );
        assert!(data["text"].as_str().unwrap().contains('5'), "{data}");
        eprintln!("save as canonical -> new answer served: {served_after:?} (includes the answer)");

        // An article edit: the approved answers it now contradicts are reported.
        let article = s.config.knowledge_dir.join("articles/en/returns.md");
        let text = fs_err::read_to_string(&article).unwrap();
        fs_err::write(&article, text.replace("30 days", "21 days")).unwrap();
        let r = c
            .post(format!("{}/console/api/knowledge/reload", s.base))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let report: Value = r.json().await.unwrap();
        let report = &report["report"];
        assert_eq!(
            report["changed_articles"],
            json!(["en-returns"]),
            "{report}"
        );
        // Every approved answer citing the changed article was checked again, and the one whose
        // deadline the article no longer states is reported with what the article says instead.
        assert!(report["rechecked"].as_u64().unwrap() >= 3, "{report}");
        let stale: Vec<&str> = report["stale"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["canonical_id"].as_str().unwrap())
            .collect();
        assert!(stale.contains(&"en-returns-deadline"), "{report}");
        let deadline = report["stale"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["canonical_id"] == "en-returns-deadline")
            .unwrap();
        let findings = deadline["new_findings"].as_array().unwrap();
        assert!(
            findings.iter().any(|f| f["kind"] == "value_mismatch"),
            "{deadline}"
        );
        assert_eq!(deadline["changed_sources"], json!(["en-returns"]));
        // Answers whose sources did not change are not reported.
        assert!(!stale.iter().any(|id| id.starts_with("pl-")), "{stale:?}");
        let page = s.get_text(&c, &cookie, "/console/knowledge").await;
        assert!(
            page.contains("en-returns"),
            "the report is on the knowledge page"
        );

        // A syntax error in a canonical file that holds live answers is refused with a clear
        // error; nothing is published, and its answers keep being served.
        let dir = concord::index::IndexDir::new(&s.config.data_dir);
        let published = dir.current().unwrap();
        let invoices = s.config.knowledge_dir.join("canonical/en/invoices.toml");
        let text = fs_err::read_to_string(&invoices).unwrap();
        fs_err::write(&invoices, text.replacen("[[answer]]", "[[answer]\nid=", 1)).unwrap();
        let r = c
            .post(format!("{}/console/api/knowledge/reload", s.base))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "knowledge_invalid", "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("invoices.toml"),
            "{v}"
        );
        assert_eq!(dir.current().unwrap(), published, "nothing was published");
        let (id3, token3) = s.customer(&c, "en").await;
        let (event, data) = s
            .ask(
                &c,
                &id3,
                &token3,
                "How do I get a VAT invoice for my company?",
            )
            .await;
        assert_eq!(event, "final", "{data}");
        let decided = s.decided_canonical(&id3).await;
        assert_eq!(
            decided.as_deref(),
            Some("en-company-invoice"),
            "the broken file's answer is still served: {data}"
        );
        fs_err::write(&invoices, text).unwrap();
    });
}

/// The next `queue` event of a live-queue stream that satisfies `want`, with the time it took.
async fn next_queue<B: AsRef<[u8]>>(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    parser: &mut SseParser,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let chunk = tokio::time::timeout(timeout.saturating_sub(start.elapsed()), stream.next())
            .await
            .unwrap_or_else(|_| panic!("no matching queue event within {timeout:?}"))
            .expect("the stream stays open")
            .unwrap();
        for e in parser.push(chunk.as_ref()) {
            if e.event == "queue" {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                if want(&v) {
                    return (v, start.elapsed());
                }
            }
        }
    }
}

#[test]
fn the_live_queue_shows_a_handoff_without_a_reload_oldest_waiting_first() {
    let s = console_server(Mode::Autopilot);
    s.rt.block_on(async {
        let c = client();
        // Staff only.
        let r = c
            .get(format!("{}/console/api/queue/events", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        s.add_staff("ola", StaffRole::Agent, "ola-long-password")
            .await;
        let (cookie, _) = s.login(&c, "ola", "ola-long-password").await;
        let page = s.get_text(&c, &cookie, "/console").await;
        assert!(page.contains(r#"<script src="/console/console.js" defer></script>"#));
        let js = c
            .get(format!("{}/console/console.js", s.base))
            .send()
            .await
            .unwrap();
        assert!(js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));

        let r = c
            .get(format!("{}/console/api/queue/events", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut stream = r.bytes_stream();
        let mut parser = SseParser::default();
        // At once: the queue as it is (empty).
        let (first, _) =
            next_queue(&mut stream, &mut parser, Duration::from_secs(5), |_| true).await;
        assert_eq!(first["people"], json!([]));
        assert!(first["now_ms"].as_i64().unwrap() > 0);

        // Two customers ask for a person, one after the other; each appears without a reload,
        // the one waiting longer first.
        let mut ids = Vec::new();
        for n in 1..=2 {
            let (id, token) = s.customer(&c, "pl").await;
            s.request_person(&c, &id, &token).await;
            ids.push(id);
            let (q, took) = next_queue(&mut stream, &mut parser, Duration::from_secs(2), |q| {
                q["people"].as_array().unwrap().len() == n
            })
            .await;
            eprintln!("handoff {n} reached the live queue in {took:?}");
            let order: Vec<&str> = q["people"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["conversation_id"].as_str().unwrap())
                .collect();
            assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(q["people"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["status"] == "waiting_staff"));
        }
    });
}
