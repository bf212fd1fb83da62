//! Store tests on a real SQLite file in a temporary directory.

use super::*;
use crate::assistant::SlotValues;
use crate::knowledge::Lang;

fn settings() -> StoreSettings {
    StoreSettings {
        path: String::new(),
        max_connections: 2,
        busy_timeout_ms: 5000,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn conversations_are_opened_only_with_their_token() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), &settings())
            .await
            .unwrap();
        let mut ctx = SlotValues::new();
        ctx.insert("customer_name".into(), "Anna".into());
        let a = store
            .create_conversation(Some(Lang::Pl), &ctx)
            .await
            .unwrap();
        let b = store
            .create_conversation(None, &SlotValues::new())
            .await
            .unwrap();
        assert_ne!(a.conversation.id, b.conversation.id);
        assert_ne!(a.token, b.token);
        let got = store
            .authenticate(&a.conversation.id.0, &a.token)
            .await
            .unwrap();
        assert_eq!(got.lang, Some(Lang::Pl));
        assert_eq!(
            got.context.get("customer_name").map(String::as_str),
            Some("Anna")
        );
        assert_eq!(got.status, ConversationStatus::Bot);
        // Another conversation's token, a changed token and an unknown id are all refused.
        for (id, token) in [
            (&a.conversation.id.0, &b.token),
            (&a.conversation.id.0, &format!("{}x", a.token)),
            (&"c_nope".to_string(), &a.token),
        ] {
            assert!(matches!(
                store.authenticate(id, token).await,
                Err(StoreError::Unauthorized)
            ));
        }
    });
}

#[test]
fn acknowledged_messages_survive_reopening_and_closed_conversations_refuse_more() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let (id, first) = rt().block_on(async {
        let store = Store::open(&path, &settings()).await.unwrap();
        let c = store
            .create_conversation(None, &SlotValues::new())
            .await
            .unwrap();
        let id = c.conversation.id;
        let m = store
            .add_customer_message(&id, "Ile kosztuje dostawa?", &SlotValues::new())
            .await
            .unwrap();
        // No close(): the process could die here; the commit is on disk already.
        (id, m)
    });
    rt().block_on(async {
        let store = Store::open(&path, &settings()).await.unwrap();
        let all = store.messages_after(&id, 0).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], first);
        assert_eq!(all[0].role, Role::Customer);
        let (handoff, status) = store
            .request_handoff(&id, "Łączę z konsultantem.")
            .await
            .unwrap();
        assert_eq!(status, ConversationStatus::WaitingStaff);
        assert_eq!(handoff.role, Role::System);
        let staff = store
            .staff_reply(
                &id,
                StaffReply {
                    author: "ewa",
                    text: "Dzień dobry, tu Ewa.",
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store.conversation(&id.0).await.unwrap().status,
            ConversationStatus::Staff
        );
        assert_eq!(
            store.messages_after(&id, handoff.id).await.unwrap(),
            vec![staff.clone()]
        );
        let audit = store.audit_events(10).await.unwrap();
        assert_eq!(audit[0].0, "ewa");
        assert_eq!(audit[0].1, "staff_reply");
        store
            .set_status(&id, ConversationStatus::Closed)
            .await
            .unwrap();
        assert!(matches!(
            store
                .add_customer_message(&id, "halo?", &SlotValues::new())
                .await,
            Err(StoreError::Closed)
        ));
        // Feedback still works after closing; a second score replaces the first.
        store.set_csat(&id, 2, None).await.unwrap();
        store.set_csat(&id, 5, Some("dzięki")).await.unwrap();
        assert_eq!(store.conversation(&id.0).await.unwrap().csat, Some(5));
        // Thumbs go on the shop's messages only.
        store.add_thumb(&id, staff.id, true).await.unwrap();
        assert!(store.add_thumb(&id, first.id, true).await.is_err());
    });
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    rt().block_on(async {
        let store = Store::open(&path, &settings()).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'future', TRUE, x'00', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let err = Store::open(&path, &settings()).await.unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    });
}

#[test]
fn staff_sessions_open_expire_and_end_with_a_new_password() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), &settings())
            .await
            .unwrap();
        let anna = store
            .add_staff("anna", StaffRole::Agent, "$argon2id$x", false)
            .await
            .unwrap();
        assert!(matches!(
            store
                .add_staff("anna", StaffRole::Admin, "$argon2id$y", false)
                .await,
            Err(StoreError::Conflict { .. })
        ));
        let live = store.create_session(&anna, 60_000).await.unwrap();
        let expired = store.create_session(&anna, -1).await.unwrap();
        let got = store.session(&live.token).await.unwrap().unwrap();
        assert_eq!(got.member, anna);
        assert_eq!(got.csrf_token, live.session.csrf_token);
        assert_ne!(live.session.csrf_token, expired.session.csrf_token);
        assert!(store.session(&expired.token).await.unwrap().is_none());
        assert!(store.session("s_unknown").await.unwrap().is_none());
        // A new password (and role) ends the account's sessions.
        let admin = store
            .add_staff("anna", StaffRole::Admin, "$argon2id$z", true)
            .await
            .unwrap();
        assert_eq!(admin.role, StaffRole::Admin);
        assert!(store.session(&live.token).await.unwrap().is_none());
        let again = store.create_session(&admin, 60_000).await.unwrap();
        store.end_session(&again.token, "anna").await.unwrap();
        assert!(store.session(&again.token).await.unwrap().is_none());
        let (_, hash) = store.staff_login_record("anna").await.unwrap().unwrap();
        assert_eq!(hash, "$argon2id$z");
        assert!(store.staff_login_record("nobody").await.unwrap().is_none());
    });
}

#[test]
fn events_are_written_with_their_change_only_for_targets_that_take_them_and_claimed_once() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), &settings())
            .await
            .unwrap();
        let c = store
            .create_conversation(None, &SlotValues::new())
            .await
            .unwrap();
        let id = c.conversation.id;
        store
            .add_customer_message(&id, "Chcę rozmawiać z człowiekiem", &SlotValues::new())
            .await
            .unwrap();
        // No targets: nothing is written.
        store
            .request_handoff(&id, "Konsultant odpowie.")
            .await
            .unwrap();
        assert!(store.conversation_events(&id).await.unwrap().is_empty());

        store.set_outbox_targets(vec![
            OutboxTarget {
                name: "all".into(),
                kinds: EventKind::ALL.to_vec(),
                delay_ms: 0,
            },
            OutboxTarget {
                name: "pager".into(),
                kinds: vec![EventKind::Handoff],
                delay_ms: 0,
            },
        ]);
        let reply = StaffReply {
            author: "ewa",
            text: "Dzień dobry, tu Ewa.",
        };
        let m = store.staff_reply(&id, reply).await.unwrap();
        store.add_thumb(&id, m.id, false).await.unwrap();
        let rows = store.conversation_events(&id).await.unwrap();
        let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
        assert_eq!(kinds, [("all", "staff_reply"), ("all", "feedback")]);
        assert_ne!(rows[0].0, rows[1].0, "each event has its own id");

        // Claimed once while the lease runs; due again when it ends, as the next attempt.
        let first = store.claim_deliveries(10, 60_000).await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].kind, EventKind::StaffReply);
        assert_eq!(first[0].data["author"], "ewa");
        assert_eq!(first[0].attempt, 1);
        assert!(store.claim_deliveries(10, 60_000).await.unwrap().is_empty());
        store.delivered(first[0].id).await.unwrap();
        store
            .delivery_failed(first[1].id, "HTTP 503", Some(now_ms() - 1))
            .await
            .unwrap();
        let again = store.claim_deliveries(10, 60_000).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].attempt), (first[1].id, 2));
        assert_eq!(again[0].event_id, first[1].event_id);
        store
            .delivery_failed(again[0].id, "HTTP 503", None)
            .await
            .unwrap();
        assert!(store.claim_deliveries(10, 0).await.unwrap().is_empty());
        let counts = store.outbox_counts().await.unwrap();
        assert_eq!(
            counts,
            [(
                "all".to_string(),
                OutboxCounts {
                    pending: 0,
                    delivered: 1,
                    skipped: 0,
                    failed: 1
                }
            )]
        );
        assert_eq!(store.purge_delivered(now_ms() + 1).await.unwrap(), 1);

        // A score's comment and the customer's question are read at delivery, not stored.
        store.set_csat(&id, 2, Some("za długo")).await.unwrap();
        let csat = store.claim_deliveries(10, 60_000).await.unwrap();
        assert_eq!(csat.len(), 1);
        assert_eq!(csat[0].data["has_comment"], true);
        assert!(!csat[0].data.to_string().contains("za długo"));
        let texts = store
            .event_texts(&id, None, csat[0].data["feedback_id"].as_i64())
            .await
            .unwrap();
        assert_eq!(texts.comment.as_deref(), Some("za długo"));
        assert_eq!(
            texts.question.as_deref(),
            Some("Chcę rozmawiać z człowiekiem")
        );

        // Closing is an event once; erasing the conversation takes its events with it.
        store
            .set_status(&id, ConversationStatus::Closed)
            .await
            .unwrap();
        store
            .set_status(&id, ConversationStatus::Closed)
            .await
            .unwrap();
        let closed = store.conversation_events(&id).await.unwrap();
        assert_eq!(closed.iter().filter(|r| r.2 == "closed").count(), 1);
        sqlx::query("DELETE FROM conversations WHERE id = $1")
            .bind(&id.0)
            .execute(store.pool())
            .await
            .unwrap();
        assert!(store.conversation_events(&id).await.unwrap().is_empty());
    });
}

#[test]
fn a_customer_still_waiting_is_announced_again_and_one_a_person_joined_is_not() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), &settings())
            .await
            .unwrap();
        store.set_outbox_targets(vec![OutboxTarget {
            name: "all".into(),
            kinds: EventKind::ALL.to_vec(),
            delay_ms: 0,
        }]);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let c = store
                .create_conversation(None, &SlotValues::new())
                .await
                .unwrap();
            store
                .request_handoff(&c.conversation.id, "Konsultant odpowie.")
                .await
                .unwrap();
            ids.push(c.conversation.id);
        }
        // A person joins the second conversation.
        let reply = StaffReply {
            author: "ewa",
            text: "Już jestem.",
        };
        store.staff_reply(&ids[1], reply).await.unwrap();
        // Announced just now: not yet.
        assert_eq!(store.announce_again(now_ms() - 60_000).await.unwrap(), 0);
        // Later: the waiting one only, once per call.
        assert_eq!(store.announce_again(now_ms() + 1).await.unwrap(), 1);
        let rows = store.conversation_events(&ids[0]).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.2 == "handoff"));
        let claimed = store.claim_deliveries(10, 60_000).await.unwrap();
        let repeat: Vec<_> = claimed
            .iter()
            .filter(|d| d.data["repeat"] == true)
            .collect();
        assert_eq!(repeat.len(), 1);
        assert_eq!(repeat[0].conversation_id.as_ref(), Some(&ids[0]));
        assert_eq!(store.announce_again(now_ms() - 60_000).await.unwrap(), 0);
    });
}

#[test]
fn alerts_waiting_for_their_window_leave_with_the_first_that_falls_due() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), &settings())
            .await
            .unwrap();
        store.set_outbox_targets(vec![OutboxTarget {
            name: "email-staff".into(),
            kinds: vec![EventKind::Handoff],
            delay_ms: 3_600_000,
        }]);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let c = store
                .create_conversation(None, &SlotValues::new())
                .await
                .unwrap();
            store
                .request_handoff(&c.conversation.id, "Konsultant odpowie.")
                .await
                .unwrap();
            ids.push(c.conversation.id);
        }
        // Nothing is due within the window.
        assert!(store.claim_deliveries(10, 60_000).await.unwrap().is_empty());
        // The first falls due; the two raised after it leave with it, once.
        sqlx::query("UPDATE outbox SET next_ms = 0 WHERE conversation_id = $1")
            .bind(&ids[0].0)
            .execute(store.pool())
            .await
            .unwrap();
        let first = store.claim_deliveries(10, 60_000).await.unwrap();
        assert_eq!(first.len(), 1);
        let rest = store
            .claim_waiting_of("email-staff", 10, 60_000)
            .await
            .unwrap();
        let of: Vec<_> = rest
            .iter()
            .map(|d| d.conversation_id.clone().unwrap())
            .collect();
        assert_eq!(of, [ids[1].clone(), ids[2].clone()]);
        assert!(store
            .claim_waiting_of("email-staff", 10, 60_000)
            .await
            .unwrap()
            .is_empty());
        // A retry waiting for its time is not pulled forward.
        store
            .delivery_failed(rest[0].id, "SMTP: refused", Some(now_ms() + 3_600_000))
            .await
            .unwrap();
        assert!(store
            .claim_waiting_of("email-staff", 10, 60_000)
            .await
            .unwrap()
            .is_empty());
    });
}
