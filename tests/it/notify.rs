//! Webhooks end to end on loopback: a real receiver process (scripts/webhook_receiver.py, Python's
//! standard library) checks every signature with its own HMAC; an event written while nobody
//! listens survives a server restart and arrives after a refused attempt; every kind arrives once
//! per endpoint with the endpoint's filter and text setting; a receiver that keeps refusing ends
//! with the event given up and shown as failed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concord::assistant::Mode;
use concord::notify::WebhookSettings;
use concord::store::{ConversationId, EventKind, StaffRole};
use concord::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common;
use crate::console::{client, console_server_with, Console};

const SECRET_VAR: &str = "CONCORD_IT_WEBHOOK_SECRET";
const SECRET: &str = "it-webhook-secret-0123456789";
const WRONG_VAR: &str = "CONCORD_IT_WEBHOOK_WRONG_SECRET";

/// The receiver process; killed when dropped.
struct Receiver {
    child: Child,
    log: PathBuf,
}

impl Receiver {
    fn start(port: u16, fail_first: u32, log: &Path) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--out", &log.to_string_lossy()])
            .args(["--port", &port.to_string()])
            .args(["--secret-env", SECRET_VAR])
            .args(["--fail-first", &fail_first.to_string()])
            .env(SECRET_VAR, SECRET)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver (scripts/test.sh installs it when missing)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), format!("listening on http://127.0.0.1:{port}"));
        Receiver {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Every request received so far.
    fn received(&self) -> Vec<Value> {
        match fs_err::read_to_string(&self.log) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn webhook(name: &str, url: String, secret_env: &str, events: Vec<EventKind>) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        url,
        secret_env: secret_env.into(),
        events,
        include_text: false,
    }
}

type Row = (String, String, String, String, i64, Option<String>);

/// The opening after tomorrow (Warsaw), and how a customer writing in `lang` is told it.
fn closed_until_after_tomorrow(
    lang: concord::knowledge::Lang,
) -> (chrono::DateTime<chrono_tz::Tz>, String) {
    let warsaw = chrono_tz::Europe::Warsaw;
    let now = chrono::Utc::now().with_timezone(&warsaw);
    let opens = (now.date_naive() + chrono::Duration::days(2))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(warsaw)
        .earliest()
        .unwrap();
    (opens, concord::hours::describe(opens, now, lang))
}

/// Opening hours that are closed today and tomorrow (in Warsaw): a minute a day, and those two
/// days closed.
fn close_until_after_tomorrow(c: &mut Config) {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Warsaw)
        .date_naive();
    let h = &mut c.hours;
    for day in [
        &mut h.mon, &mut h.tue, &mut h.wed, &mut h.thu, &mut h.fri, &mut h.sat, &mut h.sun,
    ] {
        *day = "00:00-00:01".into();
    }
    h.holidays = String::new();
    h.closed_dates = vec![
        today.to_string(),
        (today + chrono::Duration::days(1)).to_string(),
    ];
}

/// Waits until the conversation's outbox rows satisfy `done`.
async fn wait_rows(
    s: &Console,
    id: &ConversationId,
    what: &str,
    done: impl Fn(&[Row]) -> bool,
) -> Vec<Row> {
    let start = Instant::now();
    loop {
        let rows = s.state.store.conversation_events(id).await.unwrap();
        if done(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: outbox rows now {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn events_are_signed_survive_a_restart_and_arrive_once_per_endpoint() {
    // Edition 2021: setting a variable is safe; the names are this test's own.
    std::env::set_var(SECRET_VAR, SECRET);
    std::env::set_var(WRONG_VAR, "a-different-secret-0123456789");
    let port = free_port();
    // Closed today and tomorrow: the customer is told the opening after that.
    let (opens, promised) = closed_until_after_tomorrow(concord::knowledge::Lang::En);
    let adjust = |c: &mut Config| {
        close_until_after_tomorrow(c);
        let n = &mut c.notify;
        n.public_url = "https://czat.example.pl/".into();
        n.first_retry_ms = 200;
        n.max_retry_ms = 400;
        n.max_attempts = 6;
        n.poll_ms = 100;
        let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
        n.webhooks = vec![
            webhook("helpdesk", url("/all"), SECRET_VAR, vec![]),
            WebhookSettings {
                include_text: true,
                ..webhook("pager", url("/pager"), SECRET_VAR, vec![EventKind::Handoff])
            },
            webhook("stale", url("/stale"), WRONG_VAR, vec![EventKind::Closed]),
        ];
    };
    let s = console_server_with(Mode::Autopilot, adjust);
    let question = "I want to talk to a human, please.";

    // Nobody listens yet: the handoff's event is written with the handoff and its attempts
    // fail and are rescheduled.
    let (id, token) = s.rt.block_on(async {
        let c = client();
        let (id, token) = s.customer(&c, "en").await;
        let (event, _) = s.ask(&c, &id, &token, question).await;
        assert_eq!(event, "handoff");
        let told = s
            .state
            .store
            .messages_after(&ConversationId(id.clone()), 0)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.decision.as_deref() == Some("handoff"))
            .unwrap()
            .text;
        assert!(
            told.contains(&format!("No one is in right now: they will reply here, in this window, when we open {promised}.")),
            "{told}"
        );
        // Asking again while waiting tells nobody twice.
        s.request_person(&c, &id, &token).await;
        (id, token)
    });
    let conversation = ConversationId(id.clone());
    let rows =
        s.rt.block_on(wait_rows(&s, &conversation, "failed attempts", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.4 >= 1 && r.5.is_some())
        }));
    let event_id = rows[0].0.clone();
    assert!(
        rows.iter()
            .all(|r| r.0 == event_id && r.2 == "handoff" && r.3 == "pending"),
        "{rows:?}"
    );
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["helpdesk", "pager"]
    );

    // The server stops with the event undelivered; a receiver comes up that refuses the first
    // delivery; the server starts again on the same database.
    let Console {
        rt,
        base: _,
        state,
        config,
        _dirs,
    } = s;
    drop(state);
    drop(rt);
    let received = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(port, 1, &received.path().join("received.jsonl"));
    let (rt, base, state) = common::serve_in_process(&config);
    let s = Console {
        rt,
        base,
        state,
        config,
        _dirs,
    };
    s.rt.block_on(async {
        wait_rows(&s, &conversation, "the handoff delivered", |rows| {
            rows.iter().all(|r| r.3 == "delivered")
        })
        .await;
        let got = receiver.received();
        assert!(got.iter().all(|l| l["verified"] == true), "{got:?}");
        let handoff: Vec<&Value> = got
            .iter()
            .filter(|l| l["event_id"] == event_id.as_str())
            .collect();
        assert_eq!(
            handoff.iter().filter(|l| l["status"] == 503).count(),
            1,
            "{handoff:?}"
        );
        assert_eq!(
            handoff.iter().filter(|l| l["status"] == 200).count(),
            2,
            "{handoff:?}"
        );
        let ok = |path: &str| {
            handoff
                .iter()
                .find(|l| l["path"] == path && l["status"] == 200)
                .map(|l| l["body"].clone())
                .unwrap_or_else(|| panic!("{path}: {handoff:?}"))
        };
        let all = ok("/all");
        assert_eq!(all["id"], event_id.as_str());
        assert_eq!(all["type"], "handoff");
        assert_eq!(all["conversation_id"], id.as_str());
        assert_eq!(
            all["link"],
            format!("https://czat.example.pl/console/conversations/{id}")
        );
        assert_eq!(all["data"]["by"], "assistant");
        assert!(all["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(
            !all.to_string().contains(question),
            "no customer text: {all}"
        );
        assert_eq!(ok("/pager")["text"]["question"], question);
        assert_eq!(all["staffed"]["open"], false);
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(all["staffed"]["opens_at"].as_str().unwrap())
                .unwrap(),
            opens
        );

        // A person replies, the customer rates the reply and closes the conversation.
        let c = client();
        s.add_staff("ewa", StaffRole::Agent, "ewa-long-password")
            .await;
        let (cookie, csrf) = s.login(&c, "ewa", "ewa-long-password").await;
        s.reply_as_staff(&c, (&cookie, &csrf), &id, "Ewa here, how can I help?")
            .await;
        let messages = s
            .state
            .store
            .messages_after(&conversation, 0)
            .await
            .unwrap();
        let reply = messages
            .iter()
            .find(|m| m.author.as_deref() == Some("ewa"))
            .unwrap();
        let r = c
            .post(format!("{}/api/conversations/{id}/feedback", s.base))
            .bearer_auth(&token)
            .json(&json!({ "thumb": "up", "message_id": reply.id }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = c
            .post(format!("{}/api/conversations/{id}/close", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // Each arrives once at the endpoint that takes it; the endpoint with the wrong secret
        // refuses every attempt and the event is given up after the last.
        let rows = wait_rows(&s, &conversation, "every event settled", |rows| {
            rows.len() == 6 && rows.iter().all(|r| r.3 != "pending")
        })
        .await;
        let settled: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.1.as_str(), r.2.as_str(), r.3.as_str()))
            .collect();
        assert_eq!(
            settled,
            [
                ("helpdesk", "handoff", "delivered"),
                ("pager", "handoff", "delivered"),
                ("helpdesk", "staff_reply", "delivered"),
                ("helpdesk", "feedback", "delivered"),
                ("helpdesk", "closed", "delivered"),
                ("stale", "closed", "failed"),
            ]
        );
        // The endpoint that gave up shows in the metrics an operator alerts on.
        let metrics = reqwest::get(format!("{}/metrics", s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(r#"concord_notifications{target="stale",status="failed"} 1"#),
            "{metrics}"
        );
        let stale = &rows[5];
        assert_eq!(stale.4, 6, "every attempt made");
        assert_eq!(stale.5.as_deref(), Some("HTTP 401"));
        let got = receiver.received();
        let delivered: Vec<(String, String)> = got
            .iter()
            .filter(|l| l["status"] == 200)
            .map(|l| {
                (
                    l["path"].as_str().unwrap().to_string(),
                    l["body"]["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (path, kind) in [
            ("/all", "staff_reply"),
            ("/all", "feedback"),
            ("/all", "closed"),
        ] {
            assert_eq!(
                delivered
                    .iter()
                    .filter(|d| d.0 == path && d.1 == kind)
                    .count(),
                1,
                "{path} {kind}: {delivered:?}"
            );
        }
        let staff_reply = got
            .iter()
            .find(|l| l["status"] == 200 && l["body"]["type"] == "staff_reply")
            .unwrap();
        assert_eq!(staff_reply["body"]["data"]["author"], "ewa");
        assert_eq!(staff_reply["body"]["data"]["message_id"], reply.id);
        assert_eq!(got.iter().filter(|l| l["path"] == "/stale").count(), 6);
        assert!(got
            .iter()
            .filter(|l| l["path"] == "/stale")
            .all(|l| l["verified"] == false && l["status"] == 401));
    });
}

const SMTP_PASSWORD_VAR: &str = "CONCORD_IT_SMTP_PASSWORD";

/// The SMTP server process (scripts/smtp_receiver.py, aiosmtpd); killed when dropped.
struct SmtpServer {
    child: Child,
    dir: PathBuf,
}

/// A certificate authority of the test's own and a certificate it signed for 127.0.0.1 and
/// localhost, written as PEM files into `dir`: (ca.pem, cert.pem, key.pem).
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Concord test mail CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    fs_err::write(&paths.0, ca.pem()).unwrap();
    fs_err::write(&paths.1, cert.pem()).unwrap();
    fs_err::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

impl SmtpServer {
    /// With `tls` (certificate, key) the server requires STARTTLS before mail and AUTH.
    fn start(port: u16, dir: &Path, user: &str, tls: Option<(&Path, &Path)>) -> SmtpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp_receiver.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--out", &dir.to_string_lossy()])
            .args(["--user", user])
            .args(["--password-env", SMTP_PASSWORD_VAR]);
        if let Some((cert, key)) = tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server (scripts/test.sh installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("listening on 127.0.0.1:{port}"),
            "the SMTP server starts (is aiosmtpd installed?)"
        );
        SmtpServer {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Every message taken so far, decoded, in order.
    fn mail(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = fs_err::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&fs_err::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(m) = self.mail().into_iter().find(|m| want(m)) {
                return m;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what}: mail so far {:?}",
                self.mail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The issue's scenario: outside opening hours a customer asks for a person and leaves an
/// address; the webhook receiver and the staff mailbox are told; a person replies in the console
/// while the customer is gone and the reply arrives by e-mail; a reply the chat shows is not
/// e-mailed; every step is in the audit log; the address is erased on request.
#[test]
fn outside_hours_a_handoff_reaches_staff_and_the_reply_reaches_the_customer_by_email() {
    std::env::set_var(SECRET_VAR, SECRET);
    std::env::set_var(SMTP_PASSWORD_VAR, "smtp-test-password");
    let (hook_port, smtp_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let hooks = Receiver::start(hook_port, 0, &dir.path().join("received.jsonl"));
    // The mail server requires STARTTLS, with a certificate from a CA only `email.ca_file` names.
    let (ca, cert, key) = test_pki(dir.path());
    let smtp = SmtpServer::start(
        smtp_port,
        &dir.path().join("mail"),
        "concord",
        Some((&cert, &key)),
    );
    let (_, promised) = closed_until_after_tomorrow(concord::knowledge::Lang::Pl);
    let s = console_server_with(Mode::Autopilot, |c| {
        close_until_after_tomorrow(c);
        c.notify.public_url = "https://czat.example.pl".into();
        c.notify.first_retry_ms = 200;
        c.notify.max_retry_ms = 400;
        c.notify.poll_ms = 100;
        c.notify.webhooks = vec![webhook(
            "helpdesk",
            format!("http://127.0.0.1:{hook_port}/all"),
            SECRET_VAR,
            vec![],
        )];
        let e = &mut c.email;
        e.smtp_host = "127.0.0.1".into();
        e.smtp_port = smtp_port;
        e.security = concord::notify::email::Security::Starttls;
        e.ca_file = ca.to_string_lossy().into_owned();
        e.username = "concord".into();
        e.password_env = SMTP_PASSWORD_VAR.into();
        e.from = "Polna Półka <pomoc@polnapolka.example>".into();
        e.staff_to = vec!["zespol@polnapolka.example".into()];
        e.alert_batch_s = 1;
        e.reply_after_s = 1;
    });
    s.rt.block_on(async {
        let c = client();
        let (id, token) = s.customer(&c, "pl").await;
        let question = "Chcę porozmawiać z konsultantem.";
        let (event, _) = s.ask(&c, &id, &token, question).await;
        assert_eq!(event, "handoff");
        let conversation = ConversationId(id.clone());
        let messages = s
            .state
            .store
            .messages_after(&conversation, 0)
            .await
            .unwrap();
        let told = &messages
            .iter()
            .find(|m| m.decision.as_deref() == Some("handoff"))
            .unwrap()
            .text;
        assert!(
            told.contains(&format!(
                "konsultant odpowie tutaj, w tym oknie, {promised}, gdy zaczynamy pracę"
            )),
            "{told}"
        );

        // The widget offers to leave an address, with the consent text.
        let contact = format!("{}/api/conversations/{id}/contact", s.base);
        let offer: Value = c
            .get(&contact)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(offer["offered"], true);
        assert!(
            offer["consent_text"]
                .as_str()
                .unwrap()
                .starts_with("Zgadzam się"),
            "{offer}"
        );
        assert!(offer["email"].is_null());
        // Without consent, or with a malformed address: refused, nothing kept.
        for body in [
            json!({ "email": "anna@example.pl", "consent": false }),
            json!({ "email": "anna(at)example", "consent": true }),
        ] {
            let r = c
                .post(&contact)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["code"], "invalid_request", "{e}");
        }
        assert!(s
            .state
            .store
            .contact(&conversation)
            .await
            .unwrap()
            .is_none());
        let r = c
            .post(&contact)
            .bearer_auth(&token)
            .json(&json!({ "email": " Anna@Example.PL ", "consent": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let kept = s.state.store.contact(&conversation).await.unwrap().unwrap();
        assert_eq!(kept.email, "Anna@example.pl");
        assert_eq!(kept.consent_text, offer["consent_text"].as_str().unwrap());

        // Staff are told: the webhook and one alert e-mail with the question and the link.
        let alert = smtp
            .wait_for("the staff alert", |m| {
                m["envelope_to"][0] == "zespol@polnapolka.example"
            })
            .await;
        assert_eq!(alert["authenticated_as"], "concord");
        assert_eq!(alert["tls"], true, "sent over STARTTLS: {alert}");
        assert_eq!(
            alert["subject"],
            "1 rozmowa czeka na konsultanta — Polna Półka"
        );
        let body = alert["body"].as_str().unwrap();
        assert!(body.contains("Klient prosi o konsultanta"), "{body}");
        assert!(body.contains(question), "{body}");
        assert!(
            body.contains(&format!(
                "https://czat.example.pl/console/conversations/{id}"
            )),
            "{body}"
        );
        wait_rows(&s, &conversation, "the webhook delivered", |rows| {
            rows.iter()
                .any(|r| r.1 == "helpdesk" && r.2 == "handoff" && r.3 == "delivered")
        })
        .await;
        assert!(hooks.received().iter().any(|l| l["verified"] == true
            && l["body"]["type"] == "handoff"
            && l["body"]["conversation_id"] == id.as_str()));

        // A person replies while the customer's chat is closed: the reply goes by e-mail.
        s.add_staff("ewa", StaffRole::Agent, "ewa-long-password")
            .await;
        let (cookie, csrf) = s.login(&c, "ewa", "ewa-long-password").await;
        let reply_text = "Dzień dobry, tu Ewa. Sprawdzę zamówienie i odpiszę jeszcze dziś.";
        s.reply_as_staff(&c, (&cookie, &csrf), &id, reply_text)
            .await;
        let mailed = smtp
            .wait_for("the reply to the customer", |m| {
                m["envelope_to"][0] == "Anna@example.pl"
            })
            .await;
        assert_eq!(mailed["subject"], "Odpowiedź od Polna Półka");
        assert_eq!(mailed["reply_to"], "Polna Półka <pomoc@polnapolka.example>");
        let body = mailed["body"].as_str().unwrap();
        assert!(
            body.contains(reply_text) && body.contains(question),
            "{body}"
        );

        // With the chat open, the next reply is shown there and not e-mailed.
        let events = c
            .get(format!("{}/api/conversations/{id}/events", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let second = "Zamówienie jest już w drodze.";
        s.reply_as_staff(&c, (&cookie, &csrf), &id, second).await;
        crate::console::wait_message(events, Duration::from_secs(30), |m| m["text"] == second)
            .await;
        let rows = wait_rows(&s, &conversation, "the second reply settled", |rows| {
            rows.iter().filter(|r| r.1 == "email-customer").count() == 2
                && rows.iter().all(|r| r.3 != "pending")
        })
        .await;
        let customer_rows: Vec<(&str, Option<&str>)> = rows
            .iter()
            .filter(|r| r.1 == "email-customer")
            .map(|r| (r.3.as_str(), r.5.as_deref()))
            .collect();
        assert_eq!(
            customer_rows,
            [("delivered", None), ("skipped", Some("shown in the chat"))]
        );
        assert_eq!(
            smtp.mail()
                .iter()
                .filter(|m| m["envelope_to"][0] == "Anna@example.pl")
                .count(),
            1
        );

        // Every step is in the audit log (oldest first here).
        let mut steps: Vec<(String, String)> = s
            .state
            .store
            .audit_events(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.2.as_deref() == Some(id.as_str()))
            .map(|a| (a.0, a.1))
            .collect();
        steps.reverse();
        assert_eq!(steps[0], ("assistant".to_string(), "handoff".to_string()));
        // The alert and the address race each other; the rest is in order.
        let mut got: Vec<(&str, &str)> = steps
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        got.sort();
        let mut want = vec![
            ("assistant", "handoff"),
            ("customer", "contact_left"),
            ("concord", "staff_alerted"),
            ("ewa", "staff_reply"),
            ("concord", "reply_emailed"),
            ("ewa", "staff_reply"),
        ];
        want.sort();
        assert_eq!(got, want);
        let at = |step: (&str, &str)| {
            steps
                .iter()
                .position(|(a, b)| (a.as_str(), b.as_str()) == step)
                .unwrap()
        };
        assert!(at(("ewa", "staff_reply")) < at(("concord", "reply_emailed")));

        // The customer withdraws the address: it is gone, and the erasure is logged.
        let r: Value = c
            .delete(&contact)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["erased"], true);
        assert!(s
            .state
            .store
            .contact(&conversation)
            .await
            .unwrap()
            .is_none());
        let audit = s.state.store.audit_events(5).await.unwrap();
        assert_eq!(audit[0].1, "contact_erased");
        assert!(!audit[0].3.contains("Anna"), "the log keeps no address");
    });
}
