//! Two `concord serve` processes on one PostgreSQL database (the test cluster on loopback): a
//! handoff on A, a reply from B's console arriving live on A, and a reload on B after A dies.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common;
use crate::server::{client, read_sse, spawn_serving_on};

/// Sends a message on `base` and reads its stream until `done`.
async fn say(
    c: &reqwest::Client,
    base: &str,
    id: &str,
    token: &str,
    text: &str,
    done: impl Fn(&[crate::server::Sse]) -> bool,
) -> Vec<crate::server::Sse> {
    let resp = c
        .post(format!("{base}/api/conversations/{id}/messages"))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "sending to {base}");
    read_sse(resp, Duration::from_secs(300), done).await
}

async fn history(c: &reqwest::Client, base: &str, id: &str, token: &str) -> Value {
    let r = c
        .get(format!("{base}/api/conversations/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "history on {base}");
    r.json().await.unwrap()
}

fn roles(history: &Value) -> Vec<String> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_instances_on_postgres_share_handoffs_replies_and_conversations() {
    let admin = std::env::var("CONCORD_TEST_POSTGRES").expect(
        "this test needs a PostgreSQL server: CONCORD_TEST_POSTGRES (scripts/test.sh starts one)",
    );
    let url = common::new_postgres_database(&admin);
    // One data directory with the demo index, as two instances on one machine (or on a shared
    // volume) have it.
    let (dir, _, _) = common::demo_index();

    // An account, made by the CLI on the shared database.
    let mut add = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["staff", "add", "olga", "--role", "admin"])
        .env("CONCORD__STORE__URL", &url)
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .current_dir(common::repo())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"olga-long-password\n")
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));

    // A polls almost never: a reply written by B can reach A's stream in time only through
    // the database's announcement (LISTEN/NOTIFY).
    let serve = ["serve", "--no-ingest", "--bind", "127.0.0.1:0"];
    let (mut a, base_a, _) = spawn_serving_on(
        &serve,
        &[("CONCORD__SERVER__EVENTS_POLL_MS", "60000")],
        dir.path(),
        ("CONCORD__STORE__URL", &url),
    );
    let (_b, base_b, _) = spawn_serving_on(&serve, &[], dir.path(), ("CONCORD__STORE__URL", &url));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = client();
        // The customer is on A and asks for a person.
        let (id, token) = common::start_conversation(&c, &base_a, &json!({"lang": "pl"})).await;
        let events = say(
            &c,
            &base_a,
            &id,
            &token,
            "Chcę rozmawiać z konsultantem, nie z botem",
            |ev| ev.iter().any(|e| e.event == "handoff"),
        )
        .await;
        let handoff = events.iter().find(|e| e.event == "handoff").unwrap();
        let last = handoff.data["message_id"].as_i64().unwrap();
        let listening = c
            .get(format!(
                "{base_a}/api/conversations/{id}/events?after={last}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(listening.status(), 200);

        // The staff member works on B: the handoff is in B's queue, and the reply goes from B.
        // (A console client: it does not follow redirects.)
        let staff = crate::console::client();
        let (cookie, csrf) = common::sign_in(&staff, &base_b, "olga", "olga-long-password").await;
        let queue = staff
            .get(format!("{base_b}/console/conversations/{id}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(queue.status(), 200);
        assert!(queue
            .text()
            .await
            .unwrap()
            .contains("Chcę rozmawiać z konsultantem"));
        let sent = Instant::now();
        let r = staff
            .post(format!("{base_b}/console/conversations/{id}/reply"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("text", "Dzień dobry, tu Olga z drugiej instancji."),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let live = read_sse(listening, Duration::from_secs(30), |ev| {
            ev.iter()
                .any(|e| e.event == "message" && e.data["role"] == "staff")
        })
        .await;
        let waited = sent.elapsed();
        let reply = live.iter().find(|e| e.event == "message").unwrap();
        assert_eq!(
            reply.data["text"],
            "Dzień dobry, tu Olga z drugiej instancji."
        );
        // Far sooner than A's 60 s poll: the announcement woke the stream.
        assert!(waited < Duration::from_secs(20), "{waited:?}");
        eprintln!("reply written on B reached A's stream in {waited:?}");

        // A second customer on A; A dies (kill -9) while the answer is being made.
        let (id2, token2) = common::start_conversation(&c, &base_a, &json!({"lang": "pl"})).await;
        let accepted = say(
            &c,
            &base_a,
            &id2,
            &token2,
            "Ile kosztuje dostawa kurierem?",
            |ev| ev.iter().any(|e| e.event == "accepted"),
        )
        .await;
        assert!(accepted.iter().any(|e| e.event == "accepted"));
        a.0.kill().unwrap();
        a.0.wait().unwrap();

        // The customers reload on B: everything acknowledged is there.
        let h1 = history(&c, &base_b, &id, &token).await;
        assert_eq!(roles(&h1), ["customer", "system", "staff"], "{h1}");
        assert_eq!(h1["status"], "staff");
        let h2 = history(&c, &base_b, &id2, &token2).await;
        let r2 = roles(&h2);
        assert_eq!(r2[0], "customer", "{h2}");
        assert_eq!(
            h2["messages"][0]["text"], "Ile kosztuje dostawa kurierem?",
            "{h2}"
        );
        // B keeps serving: the second customer goes on talking there.
        let events = say(
            &c,
            &base_b,
            &id2,
            &token2,
            "Dziękuję, a ile trwa dostawa?",
            |ev| {
                ev.iter()
                    .any(|e| matches!(e.event.as_str(), "final" | "handoff" | "error"))
            },
        )
        .await;
        assert!(
            events
                .iter()
                .any(|e| matches!(e.event.as_str(), "final" | "handoff")),
            "{events:?}"
        );
    });
}
