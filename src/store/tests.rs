//! Store tests, each on both engines: a SQLite file in a temporary directory and a new database
//! on the PostgreSQL server named by `CONCORD_TEST_POSTGRES` (scripts/test.sh starts one).

use super::*;
use crate::assistant::SlotValues;
use crate::knowledge::Lang;

pub(crate) fn settings() -> StoreSettings {
    StoreSettings {
        url: String::new(),
        path: String::new(),
        max_connections: 2,
        busy_timeout_ms: 5000,
    }
}

/// A database for one test on one engine.
pub(crate) struct TestDb {
    pub location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn open(&self) -> Store {
        eprintln!("store test on {:?}", self.location.engine());
        Store::connect(&self.location, &settings())
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.location))
    }

    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        TestDb {
            location: StoreLocation::Sqlite(dir.path().join("db.sqlite")),
            _dir: Some(dir),
        }
    }

    /// A new, empty database on the test server.
    fn postgres() -> TestDb {
        let Ok(admin) = std::env::var("CONCORD_TEST_POSTGRES") else {
            panic!(
                "the store tests run on PostgreSQL too: set CONCORD_TEST_POSTGRES to a server's \
                 URL (postgres://USER@HOST:PORT/postgres); scripts/test.sh starts a throwaway one \
                 with scripts/postgres.sh"
            )
        };
        let name = format!("t_{}", crate::store::conversations::random_hex(8));
        TestDb {
            location: create_postgres_database(&admin, &name)
                .unwrap_or_else(|e| panic!("a database on CONCORD_TEST_POSTGRES: {e}")),
            _dir: None,
        }
    }
}

/// One database per engine, for a test to run on each.
pub(crate) fn engines() -> [TestDb; 2] {
    [TestDb::sqlite(), TestDb::postgres()]
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn conversations_are_opened_only_with_their_token() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
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
}

#[test]
fn acknowledged_messages_survive_reopening_and_closed_conversations_refuse_more() {
    for db in engines() {
        let (id, first) = rt().block_on(async {
            let store = db.open().await;
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
            let store = db.open().await;
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
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    for db in engines() {
        rt().block_on(async {
        let store = db.open().await;
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'future', TRUE, $1, 0)",
        )
        .bind(vec![0u8])
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let err = Store::connect(&db.location, &settings()).await.unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    });
    }
}

#[test]
fn staff_sessions_open_expire_and_end_with_a_new_password() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
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
}

#[test]
fn events_are_written_with_their_change_only_for_targets_that_take_them_and_claimed_once() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
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
            let kinds: Vec<(&str, &str)> =
                rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
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
            assert_eq!(store.undelivered().await.unwrap(), [("all".to_string(), 1)]);
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
}

#[test]
fn a_customer_still_waiting_is_announced_again_and_one_a_person_joined_is_not() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
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
}

#[test]
fn alerts_waiting_for_their_window_leave_with_the_first_that_falls_due() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
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
}

/// A decision on customer message `message` (raw, as the gate would record one).
async fn decide(store: &Store, message: i64, action: &str, at: i64) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO decisions (message_id, action, mode, draft_blocked, reasons_json, triage_json, \
         timings_json, review_status, created_ms) VALUES ($1, $2, 'autopilot', FALSE, '[]', '{}', '{}', \
         'none', $3) RETURNING id",
    )
    .bind(message)
    .bind(action)
    .bind(at)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// A shop message at `at` (role, decision, author) answering `reply_to`.
async fn shop_says(
    store: &Store,
    c: &ConversationId,
    (role, decision, author): (&str, Option<&str>, Option<&str>),
    text: &str,
    reply_to: i64,
    at: i64,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, role, text, reply_to, decision, author, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&c.0)
    .bind(role)
    .bind(text)
    .bind(reply_to)
    .bind(decision)
    .bind(author)
    .bind(at)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[test]
fn conversations_are_found_by_words_status_decision_and_rating() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            let none = SlotValues::new();
            let a = store
                .create_conversation(Some(Lang::Pl), &none)
                .await
                .unwrap()
                .conversation
                .id;
            let b = store
                .create_conversation(Some(Lang::Pl), &none)
                .await
                .unwrap()
                .conversation
                .id;
            let qa = store
                .add_customer_message(&a, "Jak zrobić zwrót butów?", &none)
                .await
                .unwrap()
                .id;
            let qb = store
                .add_customer_message(&b, "Ile kosztuje dostawa kurierem?", &none)
                .await
                .unwrap()
                .id;
            decide(&store, qa, "hold", 10).await;
            shop_says(
                &store,
                &a,
                ("system", Some("hold"), None),
                "Konsultant sprawdzi odpowiedź.",
                qa,
                15,
            )
            .await;
            decide(&store, qb, "send", 10).await;
            let answer = shop_says(
                &store,
                &b,
                ("assistant", Some("send"), None),
                "Dostawa kurierem kosztuje 14,99 zł.",
                qb,
                20,
            )
            .await;
            store.add_thumb(&b, answer, false).await.unwrap();
            store
                .answer_survey(
                    &a,
                    SurveyAnswer {
                        resolved: Some(false),
                        csat: Some(2),
                        nps: None,
                        comment: Some("Nikt nie odpisał"),
                    },
                )
                .await
                .unwrap();
            let find = |f: ConversationFilter| {
                let store = store.clone();
                async move {
                    store
                        .search_conversations(&ConversationFilter { limit: 10, ..f })
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|r| r.conversation_id)
                        .collect::<Vec<_>>()
                }
            };
            // Diacritics folded and words as prefixes: "zwrot" finds "zwrót", "kurier" "kurierem".
            assert_eq!(
                find(ConversationFilter {
                    text: Some("zwrot".into()),
                    ..Default::default()
                })
                .await,
                vec![a.clone()]
            );
            let rows = store
                .search_conversations(&ConversationFilter {
                    text: Some("KURIER 14".into()),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].conversation_id, b);
            assert!(rows[0]
                .snippet
                .as_deref()
                .unwrap()
                .contains(&format!("{HIT_START}kurierem{HIT_END}")));
            assert_eq!(rows[0].decisions, ["send"]);
            assert_eq!(rows[0].thumbs_down, 1);
            assert_eq!(
                find(ConversationFilter {
                    decision: Some("hold".into()),
                    ..Default::default()
                })
                .await,
                vec![a.clone()]
            );
            assert_eq!(
                find(ConversationFilter {
                    rating: Some(RatingFilter::ThumbsDown),
                    ..Default::default()
                })
                .await,
                vec![b.clone()]
            );
            assert_eq!(
                find(ConversationFilter {
                    rating: Some(RatingFilter::Low),
                    ..Default::default()
                })
                .await,
                vec![a.clone()]
            );
            assert_eq!(
                find(ConversationFilter {
                    rating: Some(RatingFilter::Unresolved),
                    ..Default::default()
                })
                .await,
                vec![a.clone()]
            );
            assert!(find(ConversationFilter {
                rating: Some(RatingFilter::High),
                ..Default::default()
            })
            .await
            .is_empty());
            assert!(find(ConversationFilter {
                status: Some(ConversationStatus::Closed),
                ..Default::default()
            })
            .await
            .is_empty());
            assert_eq!(
                find(ConversationFilter {
                    text: Some("dostawa".into()),
                    decision: Some("hold".into()),
                    ..Default::default()
                })
                .await,
                Vec::<ConversationId>::new()
            );
            // Search syntax cannot get through, and a search with no word is refused, not "all".
            assert!(find(ConversationFilter {
                text: Some("zwrot OR \"".into()),
                ..Default::default()
            })
            .await
            .is_empty());
            assert!(matches!(
                store
                    .search_conversations(&ConversationFilter {
                        text: Some("?!".into()),
                        limit: 10,
                        ..Default::default()
                    })
                    .await,
                Err(StoreError::Invalid(_))
            ));
            // A message erased or changed leaves the index with it.
            sqlx::query("UPDATE messages SET text = '[usunięto]' WHERE id = $1")
                .bind(qa)
                .execute(store.pool())
                .await
                .unwrap();
            assert!(find(ConversationFilter {
                text: Some("zwrot".into()),
                ..Default::default()
            })
            .await
            .is_empty());

            // The survey: a part given later keeps the earlier ones; out-of-range values are refused.
            store
                .answer_survey(
                    &a,
                    SurveyAnswer {
                        nps: Some(3),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let fb = store.conversation_feedback(&a).await.unwrap();
            assert_eq!(
                fb.survey,
                Survey {
                    resolved: Some(false),
                    nps: Some(3)
                }
            );
            assert_eq!(
                (fb.csat, fb.csat_comment.as_deref()),
                (Some(2), Some("Nikt nie odpisał"))
            );
            for bad in [
                SurveyAnswer::default(),
                SurveyAnswer {
                    csat: Some(6),
                    ..Default::default()
                },
                SurveyAnswer {
                    nps: Some(11),
                    ..Default::default()
                },
            ] {
                assert!(matches!(
                    store.answer_survey(&a, bad).await,
                    Err(StoreError::Invalid(_))
                ));
            }
            assert_eq!(
                store.survey(&a).await.unwrap(),
                Survey {
                    resolved: Some(false),
                    nps: Some(3)
                }
            );
            let thumbs = store.conversation_feedback(&b).await.unwrap().thumbs;
            assert_eq!(
                (thumbs.len(), thumbs[0].up, thumbs[0].message_id),
                (1, false, answer)
            );

            // Gap questions: the held one and the one whose answer was rated down.
            let gaps = store.gap_questions(0, i64::MAX, 10).await.unwrap();
            let mut reasons: Vec<(i64, GapReason)> =
                gaps.iter().map(|g| (g.message_id, g.reason)).collect();
            reasons.sort_by_key(|r| r.0);
            assert_eq!(
                reasons,
                [(qa, GapReason::Held), (qb, GapReason::ThumbsDown)]
            );
        });
    }
}

#[test]
fn service_figures_of_a_known_history() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            const H: i64 = 3_600_000;
            let day = 20_000 * 86_400_000_i64;
            let none = SlotValues::new();
            let mut ids = Vec::new();
            for _ in 0..5 {
                let c = store
                    .create_conversation(Some(Lang::Pl), &none)
                    .await
                    .unwrap()
                    .conversation
                    .id;
                sqlx::query("UPDATE conversations SET created_ms = $1 WHERE id = $2")
                    .bind(day + H)
                    .bind(&c.0)
                    .execute(store.pool())
                    .await
                    .unwrap();
                ids.push(c);
            }
            // Every conversation gets its question at day + 1 h.
            let mut q = Vec::new();
            for c in &ids {
                let m = store
                    .add_customer_message(c, "Pytanie", &none)
                    .await
                    .unwrap()
                    .id;
                sqlx::query("UPDATE messages SET created_ms = $1 WHERE id = $2")
                    .bind(day + H)
                    .bind(m)
                    .execute(store.pool())
                    .await
                    .unwrap();
                q.push(m);
            }
            // 0: answered, customer says yes (confirmed). 1: answered, no survey (assumed).
            // 2: handed off, a person after 30 min, customer says yes (not first contact).
            // 3: held, approved after 2 h. 4: handed off, nobody yet; NPS 10.
            for (i, action) in ["send", "send_canonical", "handoff", "hold", "handoff"]
                .iter()
                .enumerate()
            {
                decide(&store, q[i], action, day + H).await;
                let role = if matches!(*action, "send" | "send_canonical") {
                    "assistant"
                } else {
                    "system"
                };
                shop_says(
                    &store,
                    &ids[i],
                    (role, Some(action), None),
                    "…",
                    q[i],
                    day + H + 1000,
                )
                .await;
            }
            shop_says(
                &store,
                &ids[2],
                ("staff", None, Some("marta")),
                "Już sprawdzam.",
                q[2],
                day + H + 30 * 60_000,
            )
            .await;
            shop_says(
                &store,
                &ids[3],
                ("assistant", Some("approved"), Some("marta")),
                "Tak.",
                q[3],
                day + 3 * H,
            )
            .await;
            let yes = SurveyAnswer {
                resolved: Some(true),
                ..Default::default()
            };
            store
                .answer_survey(
                    &ids[0],
                    SurveyAnswer {
                        nps: Some(9),
                        csat: Some(5),
                        ..yes
                    },
                )
                .await
                .unwrap();
            store
                .answer_survey(
                    &ids[2],
                    SurveyAnswer {
                        nps: Some(5),
                        ..yes
                    },
                )
                .await
                .unwrap();
            store
                .answer_survey(
                    &ids[4],
                    SurveyAnswer {
                        nps: Some(10),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            // 5: only pressed "talk to a person", a person answered, the customer says yes.
            let pressed = store
                .create_conversation(Some(Lang::Pl), &none)
                .await
                .unwrap()
                .conversation
                .id;
            sqlx::query("UPDATE conversations SET created_ms = $1 WHERE id = $2")
                .bind(day + H)
                .bind(&pressed.0)
                .execute(store.pool())
                .await
                .unwrap();
            shop_says(
                &store,
                &pressed,
                ("system", Some("handoff"), None),
                "…",
                q[0],
                day + H,
            )
            .await;
            shop_says(
                &store,
                &pressed,
                ("staff", None, Some("marta")),
                "Dzień dobry.",
                q[0],
                day + H + 60_000,
            )
            .await;
            store.answer_survey(&pressed, yes).await.unwrap();
            let s = store
                .service_stats(StatsRange {
                    from_ms: day,
                    to_ms: day + 2 * 86_400_000,
                })
                .await
                // The survey counts every conversation; first-contact resolution only those with a question.
                .unwrap();
            assert_eq!(s.asked, 5);
            assert_eq!(
                (
                    s.resolution_answers,
                    s.resolved_yes,
                    s.fcr_confirmed,
                    s.fcr_assumed
                ),
                (3, 3, 1, 1)
            );
            assert_eq!(s.fcr_confirmed_rate(), Some(0.2));
            assert_eq!(s.fcr_total_rate(), Some(0.4));
            // Promoters 9 and 10, detractor 5: (2 - 1) / 3.
            assert_eq!(s.nps_count, 3);
            assert!((s.nps().unwrap() - 100.0 / 3.0).abs() < 1e-9);
            assert_eq!((s.person_needed, s.person_reached), (4, 3));
            assert_eq!(s.time_to_person_buckets, [2, 1, 0]);
            assert_eq!(s.time_to_person_median_ms, Some(30.0 * 60_000.0 - 1000.0));
            assert_eq!(s.daily.len(), 2);
            assert_eq!(
                (
                    s.daily[0].conversations,
                    s.daily[0].automated,
                    s.daily[0].person_needed
                ),
                (6, 2, 4)
            );
            assert_eq!(
                (
                    s.daily[0].resolved_confirmed,
                    s.daily[0].csat_count,
                    s.daily[0].csat_sum
                ),
                (3, 1, 5)
            );
            assert_eq!(
                s.daily[1],
                DayFigures {
                    day_ms: day + 86_400_000,
                    ..Default::default()
                }
            );
        });
    }
}

#[test]
fn a_staff_members_language_is_kept_with_the_account() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            let m = store
                .add_staff("ola", StaffRole::Agent, "a-long-password-1", false)
                .await
                .unwrap();
            assert_eq!(m.lang, None);
            store.set_staff_lang(m.id, Some(Lang::En)).await.unwrap();
            let s = store.create_session(&m, 60_000).await.unwrap();
            let got = store.session(&s.token).await.unwrap().unwrap();
            assert_eq!(got.member.lang, Some(Lang::En));
            store.set_staff_lang(m.id, None).await.unwrap();
            assert_eq!(store.staff_members().await.unwrap()[0].lang, None);
            assert!(matches!(
                store.set_staff_lang(999, Some(Lang::Pl)).await,
                Err(StoreError::NotFound { .. })
            ));
        });
    }
}

#[test]
fn retention_purges_old_conversations_contacts_and_settled_notifications_only() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            let mut ids = Vec::new();
            for text in [
                "Stara rozmowa Teodora",
                "Nowsza rozmowa Heleny",
                "Dzisiejsza rozmowa",
            ] {
                let c = store
                    .create_conversation(Some(Lang::Pl), &SlotValues::new())
                    .await
                    .unwrap();
                let id = c.conversation.id.clone();
                store
                    .add_customer_message(&id, text, &SlotValues::new())
                    .await
                    .unwrap();
                store
                    .set_contact(&id, "klient@example.com", "zgoda")
                    .await
                    .unwrap();
                ids.push(id);
            }
            let day = 24 * 3600 * 1000;
            let now = now_ms();
            for (id, age_days) in ids.iter().zip([400, 100, 0]) {
                sqlx::query("UPDATE conversations SET updated_ms = $1 WHERE id = $2")
                    .bind(now - age_days * day)
                    .bind(&id.0)
                    .execute(store.pool())
                    .await
                    .unwrap();
            }
            let cut = Cutoffs {
                conversations_ms: Some(now - 365 * day),
                contacts_ms: Some(now - 90 * day),
                audit_ms: None,
                outbox_ms: None,
            };
            let done = store.purge(cut).await.unwrap();
            assert_eq!(
                (done.conversations, done.messages, done.contacts),
                (1, 1, 1)
            );
            assert_eq!(done.wal_cleared, store.engine() == Engine::Sqlite);
            assert!(matches!(
                store.conversation(&ids[0].0).await,
                Err(StoreError::NotFound { .. })
            ));
            assert_eq!(
                store.contact(&ids[1]).await.unwrap(),
                None,
                "contact forgotten"
            );
            assert_eq!(store.messages_after(&ids[1], 0).await.unwrap().len(), 1);
            assert!(store.contact(&ids[2]).await.unwrap().is_some());
            // The search index forgot the old words, not the others.
            let hit = |q: &'static str| {
                let store = store.clone();
                async move {
                    let f = ConversationFilter {
                        text: Some(q.into()),
                        limit: 10,
                        ..Default::default()
                    };
                    store.search_conversations(&f).await.unwrap().len()
                }
            };
            assert_eq!(hit("Teodora").await, 0);
            assert_eq!(hit("Heleny").await, 1);
            // Nothing more to purge: a second run changes nothing and is not audited again.
            assert_eq!(store.purge(cut).await.unwrap().conversations, 0);
            let purges = store
                .audit_events(10)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.1 == "privacy_purge")
                .count();
            assert_eq!(purges, 1);
        });
    }
}

#[test]
fn an_answer_renamed_by_an_erasure_leaves_reports_and_audit_details_under_its_new_id() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            let old = "pl-nazywam-sie-jan-kowal";
            store
                .save_knowledge_report(
                    "olga",
                    "knowledge_reload",
                    &serde_json::json!({ "changed_canonicals": [old, "pl-inne"] }),
                )
                .await
                .unwrap();
            store
                .audit(
                    "olga",
                    "save_canonical",
                    None,
                    &serde_json::json!({ "canonical_id": old }),
                )
                .await
                .unwrap();
            let renames = vec![(old.to_string(), "pl-kiedy-wyslecie".to_string())];
            // Only SQLite can promise the old bytes are gone (PostgreSQL: README "PostgreSQL").
            assert_eq!(
                store.rename_canonical_refs(&renames).await.unwrap(),
                store.engine() == Engine::Sqlite
            );
            let reports: Vec<String> =
                sqlx::query_scalar("SELECT report_json FROM knowledge_reports")
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            assert_eq!(
                reports,
                [r#"{"changed_canonicals":["pl-kiedy-wyslecie","pl-inne"]}"#]
            );
            let audit = store.audit_events(5).await.unwrap();
            assert_eq!(audit[0].3, r#"{"canonical_id":"pl-kiedy-wyslecie"}"#);
            if let StoreLocation::Sqlite(file) = store.location() {
                let bytes = fs_err::read(file).unwrap();
                assert!(!bytes.windows(old.len()).any(|w| w == old.as_bytes()));
            }
        });
    }
}

#[test]
fn a_turn_reads_the_latest_messages_and_customers_see_display_names_only() {
    for db in engines() {
        rt().block_on(async {
            let store = db.open().await;
            let c = store
                .create_conversation(Some(Lang::Pl), &SlotValues::new())
                .await
                .unwrap()
                .conversation;
            let mut ids = Vec::new();
            for i in 0..7 {
                let m = store
                    .add_customer_message(&c.id, &format!("pytanie {i}"), &SlotValues::new())
                    .await
                    .unwrap();
                ids.push(m.id);
            }
            let recent = store.recent_messages(&c.id, 3).await.unwrap();
            let texts: Vec<&str> = recent.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(
                texts,
                ["pytanie 4", "pytanie 5", "pytanie 6"],
                "oldest first"
            );
            assert_eq!(store.recent_messages(&c.id, 100).await.unwrap().len(), 7);

            let hash = crate::staff::hash_password("a-long-password").unwrap();
            store
                .add_staff("ewa.k", crate::store::StaffRole::Agent, &hash, false)
                .await
                .unwrap();
            shop_says(
                &store,
                &c.id,
                ("staff", None, Some("ewa.k")),
                "Dzień dobry",
                ids[6],
                now_ms(),
            )
            .await;
            let seen = store.messages_for_customer(&c.id, 0).await.unwrap();
            assert_eq!(
                seen.last().unwrap().author,
                None,
                "no display name: no name at all"
            );
            let m = store
                .set_staff_display_name("ewa.k", Some("  Ewa  "), "admin")
                .await
                .unwrap();
            assert_eq!(m.display_name.as_deref(), Some("Ewa"));
            let seen = store.messages_for_customer(&c.id, 0).await.unwrap();
            assert_eq!(seen.last().unwrap().author.as_deref(), Some("Ewa"));
            // Staff still see who wrote it.
            let all = store.messages_after(&c.id, 0).await.unwrap();
            assert_eq!(all.last().unwrap().author.as_deref(), Some("ewa.k"));
            for bad in ["", "   ", "a\u{7}b", &"x".repeat(41)] {
                assert!(
                    matches!(
                        store
                            .set_staff_display_name("ewa.k", Some(bad), "admin")
                            .await,
                        Err(StoreError::Invalid(_))
                    ),
                    "{bad:?}"
                );
            }
            assert!(matches!(
                store
                    .set_staff_display_name("nobody", Some("X"), "admin")
                    .await,
                Err(StoreError::NotFound { .. })
            ));
            assert_eq!(
                store.staff_members().await.unwrap()[0]
                    .display_name
                    .as_deref(),
                Some("Ewa"),
                "a refused change keeps the old name"
            );
        });
    }
}

#[test]
fn the_store_url_chooses_the_engine_and_bad_ones_are_refused() {
    let data = Path::new("/srv/shop");
    let with = |url: &str, path: &str| StoreSettings {
        url: url.into(),
        path: path.into(),
        ..settings()
    };
    assert_eq!(
        with("", "").location(data),
        StoreLocation::Sqlite(data.join("concord.db"))
    );
    assert_eq!(
        with("", "/var/db/c.db").location(data),
        StoreLocation::Sqlite("/var/db/c.db".into())
    );
    assert_eq!(
        with("sqlite:///var/db/c.db", "").location(data),
        StoreLocation::Sqlite("/var/db/c.db".into())
    );
    let pg = with("postgres://concord:s3cret@db:5432/shop", "");
    assert!(pg.validate().is_ok());
    let location = pg.location(data);
    assert_eq!(location.engine(), Engine::Postgres);
    // The password never reaches a log line or an error.
    assert_eq!(location.to_string(), "postgres://concord:***@db:5432/shop");
    assert!(!format!("{location:?}").contains("s3cret"));
    for (url, path, says) in [
        ("mysql://db/shop", "", "must start with"),
        ("postgres://db/shop", "/var/db/c.db", "not both"),
        ("sqlite://", "", "names no file"),
    ] {
        let err = with(url, path).validate().unwrap_err();
        assert!(err.contains(says), "{url}: {err}");
    }
    let err = with("mysql://u:pw@db/shop", "").validate().unwrap_err();
    assert!(!err.contains("pw@"), "{err}");
}

#[test]
fn a_format_6_sqlite_database_keeps_its_flags_through_migration_7() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        // A database as Concord wrote it before format 7 (BOOLEAN columns).
        {
            use sqlx::sqlite::SqliteConnectOptions;
            let pool = sqlx::SqlitePool::connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
            let mut old = sqlx::migrate!("src/store/migrations");
            old.migrations = std::borrow::Cow::Owned(
                old.migrations
                    .iter()
                    .filter(|m| m.version <= 6)
                    .cloned()
                    .collect(),
            );
            old.run(&pool).await.unwrap();
            for sql in [
                "INSERT INTO conversations (id, token_hash, status, created_ms, updated_ms) VALUES ('c_1', 'h', 'bot', 1, 1)",
                "INSERT INTO messages (id, conversation_id, role, text, created_ms) VALUES (1, 'c_1', 'customer', 'Ile kosztuje dostawa?', 1)",
                "INSERT INTO decisions (message_id, action, mode, draft_blocked, reasons_json, triage_json, timings_json, review_status, created_ms, reviewed_by) \
                 VALUES (1, 'hold', 'autopilot', TRUE, '[]', '{}', '{}', 'approved', 1, 'olga')",
                "INSERT INTO decisions (message_id, action, mode, draft_blocked, reasons_json, triage_json, timings_json, review_status, created_ms) \
                 VALUES (1, 'send', 'autopilot', FALSE, '[]', '{}', '{}', 'none', 2)",
                "INSERT INTO surveys (conversation_id, resolved, nps, created_ms, updated_ms) VALUES ('c_1', FALSE, 9, 1, 1)",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let store = Store::open(&path, &settings()).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        let rows = sqlx::query(
            "SELECT draft_blocked, reviewed_by, review_status FROM decisions ORDER BY id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let got: Vec<(Option<bool>, Option<String>, String)> = rows
            .iter()
            .map(|r| {
                (
                    flag(r, "draft_blocked").unwrap(),
                    r.get("reviewed_by"),
                    r.get("review_status"),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(true), Some("olga".to_string()), "approved".to_string()),
                (Some(false), None, "none".to_string()),
            ]
        );
        let survey = store
            .survey(&ConversationId("c_1".into()))
            .await
            .unwrap();
        assert_eq!((survey.resolved, survey.nps), (Some(false), Some(9)));
        // The rebuilt table is whole: its indexes are back and new rows go in.
        let (indexes,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decisions'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(indexes, 3);
        let stats = store
            .stats(
                StatsRange {
                    from_ms: 0,
                    to_ms: 10,
                },
                5,
            )
            .await
            .unwrap();
        assert_eq!((stats.decided, stats.blocked_drafts), (2, 1));
    });
}
