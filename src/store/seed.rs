//! Synthetic history for benchmarks: many conversations with questions, replies, decisions of
//! every kind, drafts with verdicts, feedback and pending review items, written in one
//! transaction with the real schema. Deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{now_ms, Store, StoreError};

const QUESTIONS: &[(&str, Option<&str>)] = &[
    (
        "Ile kosztuje dostawa do paczkomatu?",
        Some("pl-delivery-locker-cost"),
    ),
    ("Jak mogę zwrócić towar?", Some("pl-return-how")),
    ("Ile mam czasu na zwrot?", Some("pl-returns-deadline")),
    ("Gdzie jest moja paczka?", Some("pl-order-tracking")),
    (
        "How long do I have to return an item?",
        Some("en-returns-deadline"),
    ),
    (
        "How much is delivery to a parcel locker?",
        Some("en-delivery-locker-cost"),
    ),
    ("Can I pay in instalments?", Some("en-instalments")),
    ("Do you ship to Norway?", None),
    ("Czy macie sklep stacjonarny w Gdańsku?", None),
    ("I want to talk to a human", None),
];

const ACTIONS: &[&str] = &[
    "send",
    "send_canonical",
    "send_canonical",
    "hold",
    "handoff",
    "no_answer",
];

/// Writes `conversations` conversations spread over the last `days` days; returns the number of
/// messages written.
pub async fn seed_history(
    store: &Store,
    conversations: usize,
    days: i64,
    seed: u64,
) -> Result<usize, StoreError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let now = now_ms();
    let span = days.max(1) * 86_400_000;
    let verdict = serde_json::json!({
        "status": "contradiction", "score": 0.0, "coverage": 1.0, "similarity": 0.8,
        "findings": [{"kind": "value_mismatch", "message": "14 days where the approved answer says 30 days",
                      "draft_span": {"start": 10, "end": 17}, "reference": {"source": "canonical"},
                      "reference_span": {"start": 60, "end": 67}}]
    })
    .to_string();
    let mut messages = 0;
    let mut tx = store.write_tx().await?;
    for n in 0..conversations {
        let created = now - rng.random_range(0..span);
        let id = format!("c_seed{n:027}");
        let status = match rng.random_range(0..10) {
            0 => "waiting_staff",
            1 => "staff",
            2..=5 => "closed",
            _ => "bot",
        };
        sqlx::query(
            "INSERT INTO conversations (id, token_hash, lang, status, context_json, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, '{}', $5, $5)",
        )
        .bind(&id)
        .bind(format!("seed{n}"))
        .bind(if n % 2 == 0 { "pl" } else { "en" })
        .bind(status)
        .bind(created)
        .execute(&mut *tx)
        .await?;
        let turns = rng.random_range(1..=3);
        for t in 0..turns {
            let at = created + t * 60_000;
            let (question, canonical) = QUESTIONS[rng.random_range(0..QUESTIONS.len())];
            let q: i64 = sqlx::query_scalar(
                "INSERT INTO messages (conversation_id, role, provenance, text, created_ms) \
                 VALUES ($1, 'customer', NULL, $2, $3) RETURNING id",
            )
            .bind(&id)
            .bind(question)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let action = ACTIONS[rng.random_range(0..ACTIONS.len())];
            let (role, provenance) = match action {
                "send" => ("assistant", "generated"),
                "send_canonical" => ("assistant", "canonical"),
                _ => ("system", "system"),
            };
            let reply: i64 = sqlx::query_scalar(
                "INSERT INTO messages (conversation_id, role, provenance, text, reply_to, decision, created_ms) \
                 VALUES ($1, $2, $3, 'Odpowiedź.', $4, $5, $6) RETURNING id",
            )
            .bind(&id)
            .bind(role)
            .bind(provenance)
            .bind(q)
            .bind(action)
            .bind(at + rng.random_range(300..9_000))
            .fetch_one(&mut *tx)
            .await?;
            messages += 2;
            let blocked = action == "send_canonical" && rng.random_bool(0.3);
            let draft: Option<i64> = if matches!(action, "send" | "hold") || blocked {
                Some(
                    sqlx::query_scalar(
                        "INSERT INTO drafts (message_id, model, text, finish, sources_json, cited_json, canonical_id, \
                         verdict_status, verdict_json, prompt_tokens, completion_tokens, created_ms, references_json) \
                         VALUES ($1, 'gemma3-270m', 'You have 14 days to return an item [1].', 'stop', '[]', '[]', $2, $3, $4, 600, 40, $5, '{}') RETURNING id",
                    )
                    .bind(q)
                    .bind(canonical)
                    .bind(if blocked { "contradiction" } else { "consistent" })
                    .bind(if blocked { Some(verdict.as_str()) } else { None })
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?,
                )
            } else {
                None
            };
            let pending = matches!(action, "hold" | "handoff") || blocked;
            // Most past items were reviewed; the recent ones wait.
            let review = if !pending {
                "none"
            } else if now - at < 2 * 86_400_000 {
                "pending"
            } else {
                "approved"
            };
            sqlx::query(
                "INSERT INTO decisions (message_id, reply_id, draft_id, action, mode, draft_blocked, reasons_json, \
                 canonical_id, canonical_similarity, proposal, triage_json, timings_json, review_status, created_ms) \
                 VALUES ($1, $2, $3, $4, 'autopilot', $5, '[]', $6, 0.8, $7, '{}', '{}', $8, $9)",
            )
            .bind(q)
            .bind(reply)
            .bind(draft)
            .bind(action)
            .bind(blocked)
            .bind(canonical)
            .bind((action == "hold").then_some("You have 30 days to return an item."))
            .bind(review)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        if status == "closed" && rng.random_bool(0.5) {
            sqlx::query(
                "INSERT INTO feedback (conversation_id, kind, value, created_ms) VALUES ($1, 'csat', $2, $3)",
            )
            .bind(&id)
            .bind(rng.random_range(1..=5))
            .bind(created + 600_000)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_history_feeds_the_queue_and_the_stats() {
        for db in crate::store::tests::engines() {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let store = db.open().await;
                    let written = seed_history(&store, 300, 30, 7).await.unwrap();
                    assert!(written >= 600);
                    let (items, pending) = store.review_queue(50).await.unwrap();
                    assert!(pending > 0 && !items.is_empty());
                    // Riskiest first: items a customer waits on come before blocked drafts.
                    let risks: Vec<i64> = items.iter().map(|i| i.risk).collect();
                    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
                    // Every kind of item opens (drafts with and without stored references).
                    for listed in &items {
                        let item = store.review_item(listed.decision_id).await.unwrap();
                        assert_eq!(item.summary.decision_id, listed.decision_id);
                    }
                    let stats = store
                        .stats(
                            crate::store::StatsRange {
                                from_ms: 0,
                                to_ms: now_ms() + 1,
                            },
                            10,
                        )
                        .await
                        .unwrap();
                    assert_eq!(stats.conversations, 300);
                    assert_eq!(stats.decided as usize, written / 2);
                    assert!(stats.blocked_by_finding.contains_key("value_mismatch"));
                    assert!(stats.csat_count > 0 && stats.csat_average.unwrap() >= 1.0);
                    assert!(stats.first_response_median_ms.is_some());
                    assert!(stats.top_questions.len() <= 10 && stats.top_questions[0].count > 0);
                    let shares =
                        stats.share(&["send", "send_canonical", "hold", "handoff", "no_answer"]);
                    assert!((shares - 1.0).abs() < 1e-9);
                });
        }
    }
}
