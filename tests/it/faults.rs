//! Faults (issue 20): a `concord serve` killed with SIGKILL while it answers loses nothing it
//! acknowledged; after the restart the customer's message is there and handed to a person.

use std::process::Command;
use std::time::Duration;

use concord::store::{ConversationId, Role, Store};
use serde_json::{json, Value};

use crate::common;
use crate::server::{client, read_sse, spawn_serving};

#[test]
fn a_message_whose_answer_a_kill_cut_is_handed_to_a_person_after_the_restart() {
    let (dir, _, _) = common::demo_index();
    let db = tempfile::tempdir().unwrap();
    let db_path = db.path().join("concord.db");
    let args = ["serve", "--no-ingest", "--bind", "127.0.0.1:0"];
    let (mut child, base, _) = spawn_serving(&args, &[], dir.path(), &db_path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let question = "Can I pay for my order in instalments?";
    let (id, token) = rt.block_on(async {
        let c = client();
        let (id, token) = common::start_conversation(&c, &base, &json!({"lang": "en"})).await;
        let answer = c
            .post(format!("{base}/api/conversations/{id}/messages"))
            .bearer_auth(&token)
            .json(&json!({ "text": question }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        // Acknowledged: then the process dies without a chance to finish anything.
        let events = read_sse(answer, Duration::from_secs(60), |e| {
            e.iter().any(|e| e.event == "accepted")
        })
        .await;
        assert_eq!(events[0].event, "accepted", "{events:?}");
        let killed = Command::new("kill")
            .args(["-KILL", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        (id, token)
    });
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "killed, not stopped: {status}");
    let before = rt.block_on(async {
        let store = Store::open(&db_path, &common::config(dir.path()).store)
            .await
            .unwrap();
        let m = store
            .messages_after(&ConversationId(id.clone()), 0)
            .await
            .unwrap();
        store.close().await;
        m
    });
    assert_eq!(
        before.len(),
        1,
        "the kill came before the answer: {before:?}"
    );
    assert_eq!(
        (before[0].role, before[0].text.as_str()),
        (Role::Customer, question)
    );

    // The restart hands the message to a person; the customer reads it where they left off.
    let (_child, base, _) = spawn_serving(&args, &[], dir.path(), &db_path);
    rt.block_on(async {
        let v: Value = client()
            .get(format!("{base}/api/conversations/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "waiting_staff", "{v}");
        let messages = v["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{v}");
        assert_eq!(messages[0]["text"], question);
        assert_eq!(messages[1]["role"], "system");
        assert_eq!(messages[1]["decision"], "handoff");
    });
    // Audited as a recovery, once: a second start finds nothing more to hand off.
    drop(_child);
    let (_again, _, _) = spawn_serving(&args, &[], dir.path(), &db_path);
    rt.block_on(async {
        let store = Store::open(&db_path, &common::config(dir.path()).store)
            .await
            .unwrap();
        let audit = store.audit_events(20).await.unwrap();
        let recovered = audit
            .iter()
            .filter(|e| e.1 == "answer_interrupted" && e.0 == "recovery")
            .count();
        assert_eq!(recovered, 1, "{audit:?}");
        assert_eq!(
            store
                .messages_after(&ConversationId(id), 0)
                .await
                .unwrap()
                .len(),
            2
        );
    });
}
