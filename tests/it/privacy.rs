//! Erasure and export on a real loopback server (issue 20): one customer among several is
//! exported and erased through the console API, then the database file, its WAL and the knowledge
//! folder and the index are scanned byte by byte for their name, e-mail, order id and message phrases.

use std::path::Path;

use concord::assistant::Mode;
use concord::store::StaffRole;
use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::{client, console_server_with, Console};

/// Which of `needles` occur in the file's bytes (as written, and in lower case: the full-text
/// index keeps lower-cased words).
fn found_in(path: &Path, needles: &[&str]) -> Vec<String> {
    let Ok(bytes) = fs_err::read(path) else {
        return Vec::new();
    };
    let lower = bytes.to_ascii_lowercase();
    needles
        .iter()
        .filter(|n| {
            let n = n.as_bytes();
            let nl = n.to_ascii_lowercase();
            bytes.windows(n.len()).any(|w| w == n) || lower.windows(nl.len()).any(|w| w == nl)
        })
        .map(|n| format!("{n} in {}", path.display()))
        .collect()
}

fn found_under(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir(dir) {
        out.extend(found_in(&entry, needles));
    }
    out
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// A customer who asks for a person with their name and order in the message, leaves an e-mail
/// and rates the conversation with a comment.
async fn customer_with_data(
    s: &Console,
    c: &reqwest::Client,
    message: &str,
    email: &str,
    comment: &str,
) -> (String, String) {
    let (id, token) = s.customer(c, "pl").await;
    let (event, _) = s.ask(c, &id, &token, message).await;
    assert_eq!(event, "handoff", "{message}");
    let r = c
        .post(format!("{}/api/conversations/{id}/contact", s.base))
        .bearer_auth(&token)
        .json(&json!({ "email": email, "consent": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .post(format!("{}/api/conversations/{id}/feedback", s.base))
        .bearer_auth(&token)
        .json(&json!({ "csat": 5, "comment": comment }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    (id, token)
}

async fn post_api(
    s: &Console,
    c: &reqwest::Client,
    (cookie, csrf): (&str, &str),
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = c
        .post(format!("{}{path}", s.base))
        .header(COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn one_customer_is_exported_then_erased_from_the_database_its_wal_and_the_knowledge_files() {
    let s = console_server_with(Mode::Autopilot, |c| {
        c.privacy.notice_url = "/polityka-prywatnosci".into();
    });
    s.state.set_offers_email(true);
    s.rt.block_on(async {
        let c = client();
        // The widget links the shop's privacy notice.
        let started: Value = c
            .post(format!("{}/api/conversations", s.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(started["privacy_url"], "/polityka-prywatnosci");
        s.add_staff("olga", StaffRole::Admin, "olga-long-password")
            .await;
        s.add_staff("ewa", StaffRole::Agent, "ewa-long-password")
            .await;
        let (cookie, csrf) = s.login(&c, "olga", "olga-long-password").await;
        let admin = (cookie.as_str(), csrf.as_str());

        // The customer to erase, and two others.
        let name = "Bolesław Kwiatkowski";
        let email = "b.kwiatkowski@poczta-testowa.pl";
        let order = "ZAM-2024-55713";
        let question = format!(
            "Dzień dobry, nazywam się {name}. Proszę o kontakt z konsultantem w sprawie zamówienia {order}, paczka miała przyjść na ulicę Pogodną 17."
        );
        let comment = "Pan Bolesław dziękuje, szybka i miła obsługa";
        let reply = "Panie Bolesławie, zamówienie ZAM-2024-55713 wyjechało dziś kurierem.";
        let (target, _) = customer_with_data(&s, &c, &question, email, comment).await;
        let mut others = Vec::new();
        for (who, mail, ord) in [
            ("Zofia Adamczyk", "zofia.adamczyk@poczta-testowa.pl", "ZAM-2024-11802"),
            ("Mikołaj Sobczak", "m.sobczak@firma-testowa.pl", "ZAM-2024-90417"),
        ] {
            let q = format!(
                "Nazywam się {who}, poproszę konsultanta, chodzi o zamówienie {ord}."
            );
            let (id, _) = customer_with_data(&s, &c, &q, mail, "Dziękuję za pomoc").await;
            s.reply_as_staff(&c, admin, &id, "Sprawdzam, proszę chwilę poczekać.")
                .await;
            others.push((id, who, mail, ord));
        }

        // The target's question is saved as an approved answer with the shop's own phrasing too:
        // "save as canonical" copies the customer's words into the knowledge files.
        let queue = s.get_json(&c, &cookie, "/console/api/queue").await;
        let item = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["conversation_id"] == target.as_str())
            .unwrap_or_else(|| panic!("the target's item is in the queue: {queue}"));
        let decision = item["decision_id"].as_i64().unwrap();
        let answer = "Zamówienia wysyłamy w ciągu 2 dni roboczych; numer przesyłki jest w e-mailu z potwierdzeniem wysyłki.";
        let (st, _) = post_api(
            &s,
            &c,
            admin,
            &format!("/console/api/items/{decision}/review"),
            json!({ "action": "edit", "text": answer }),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        // The preview shows what goes in and what was cut, and writes nothing.
        let kb = s.config.knowledge_dir.clone();
        let (st, preview) = post_api(
            &s,
            &c,
            admin,
            &format!("/console/api/items/{decision}/canonical/preview"),
            json!({ "answer": answer, "questions": "Kiedy wyślecie moje zamówienie?" }),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{preview}");
        assert_eq!(preview["entry"]["created"], true, "{preview}");
        let cut: Vec<&str> = preview["cut"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert!(cut.contains(&name) && cut.contains(&order), "{preview}");
        let listed = preview["questions"].to_string();
        assert!(
            !listed.contains("Kwiatkowski") && listed.contains("w sprawie zamówienia"),
            "{preview}"
        );
        assert!(found_under(&kb, &["w sprawie zamówienia, paczka"]).is_empty());
        let (st, saved) = post_api(
            &s,
            &c,
            admin,
            &format!("/console/api/items/{decision}/canonical"),
            json!({ "answer": answer, "questions": "Kiedy wyślecie moje zamówienie?" }),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{saved}");
        s.reply_as_staff(&c, admin, &target, reply).await;
        assert!(
            found_under(&kb, &["Kwiatkowski", "55713", "Pogodn"]).is_empty(),
            "save as canonical keeps personal data out of the knowledge files"
        );
        assert!(!found_under(&kb, &["w sprawie zamówienia, paczka"]).is_empty());
        // An answer holding personal data is refused, and nothing is saved.
        let (st, v) = post_api(
            &s,
            &c,
            admin,
            &format!("/console/api/items/{decision}/canonical"),
            json!({ "answer": format!("Napisz do nas: {email}"), "questions": "Dokąd pisać w sprawie hurtowej wyceny szafek?" }),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().contains("email"), "{v}");
        assert!(found_under(&kb, &["hurtowej wyceny szafek"]).is_empty());

        let db = crate::common::sqlite_file(&s.config);
        let wal = db.with_extension("db-wal");
        let needles = [
            "Kwiatkowski",
            email,
            "55713",
            "Pogodn",
            "szybka i mi",
            "wyjechało dziś kurierem",
            "paczka miała przyjść",
        ];
        let before: Vec<String> = [found_in(&db, &needles), found_in(&wal, &needles)].concat();
        assert!(
            before.iter().any(|f| f.contains("Kwiatkowski")),
            "the scan finds the data before the erasure: {before:?}"
        );

        // Bad requests change nothing: not an address, an agent, an unknown conversation.
        let (cookie_e, csrf_e) = s.login(&c, "ewa", "ewa-long-password").await;
        let (st, v) = post_api(
            &s,
            &c,
            admin,
            "/console/api/privacy/erase",
            json!({ "subject": "email", "value": "nie-adres" }),
        )
        .await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
        let (st, v) = post_api(
            &s,
            &c,
            (&cookie_e, &csrf_e),
            "/console/api/privacy/erase",
            json!({ "subject": "email", "value": email }),
        )
        .await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let (st, _) = post_api(
            &s,
            &c,
            admin,
            "/console/api/privacy/erase",
            json!({ "subject": "conversation", "value": "c_00000000000000000000000000000000" }),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        s.state.store.conversation(&target).await.expect("still there");

        // The export holds everything the erasure will remove.
        let (st, export) = post_api(
            &s,
            &c,
            admin,
            "/console/api/privacy/export",
            json!({ "subject": "email", "value": email }),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{export}");
        assert_eq!(export["format"], "concord-export/1");
        let convs = export["conversations"].as_array().unwrap();
        assert_eq!(convs.len(), 1, "only the target's conversation: {export}");
        let conv = &convs[0];
        assert_eq!(conv["conversation"]["id"], target.as_str());
        assert_eq!(conv["conversation"]["contact_email"], email);
        let texts: Vec<&str> = conv["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        assert!(texts.contains(&question.as_str()), "{texts:?}");
        assert!(texts.contains(&reply), "{texts:?}");
        assert_eq!(conv["feedback"][0]["comment"], comment);
        assert!(!conv["decisions"].as_array().unwrap().is_empty());
        // Saved without the personal data it held, and still found as their words.
        let kept_phrasing = "Dzień dobry, nazywam się. Proszę o kontakt z konsultantem w sprawie zamówienia, paczka miała przyjść na ulicę.";
        assert_eq!(export["knowledge"][0]["phrasings"][0], kept_phrasing);
        // The same by order id and by conversation.
        for (kind, value) in [("order", order), ("conversation", target.as_str())] {
            let (_, e) = post_api(
                &s,
                &c,
                admin,
                "/console/api/privacy/export",
                json!({ "subject": kind, "value": value }),
            )
            .await;
            assert_eq!(e["conversations"].as_array().unwrap().len(), 1, "{kind}");
        }

        // Erased by e-mail.
        let (st, done) = post_api(
            &s,
            &c,
            admin,
            "/console/api/privacy/erase",
            json!({ "subject": "email", "value": email }),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{done}");
        assert!(found_under(&kb, &["w sprawie zamówienia, paczka"]).is_empty());
        let erased = &done["erased"];
        assert_eq!(erased["conversations"], 1);
        assert_eq!(erased["messages"].as_u64(), Some(texts.len() as u64));
        assert_eq!(erased["wal_cleared"], true, "{done}");
        assert_eq!(erased["knowledge"][0]["answer_id"], saved["saved"]["id"]);
        assert!(done["report_id"].is_i64(), "the index was rebuilt: {done}");

        // Nothing in the database, its WAL, the knowledge files or the index.
        let after: Vec<String> = [
            found_in(&db, &needles),
            found_in(&wal, &needles),
            found_under(&kb, &needles),
            found_under(&s.config.data_dir.join("index"), &needles),
        ]
        .concat();
        assert!(after.is_empty(), "left after the erasure: {after:?}");
        let r = c
            .get(format!("{}/console/conversations/{target}", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let hits = s
            .get_json(&c, &cookie, "/console/api/conversations?q=Kwiatkowski")
            .await;
        assert_eq!(hits["conversations"], json!([]), "{hits}");
        // The approved answer stays with the shop's own phrasing.
        let file = fs_err::read_to_string(saved["saved"]["path"].as_str().unwrap()).unwrap();
        assert!(file.contains("Kiedy wyślecie moje zamówienie?"), "{file}");

        // The others are intact, and still found.
        for (id, who, mail, ord) in &others {
            let conv = s.state.store.conversation(id).await.unwrap();
            assert_eq!(conv.id.0, *id);
            let contact = s.state.store.contact(&conv.id).await.unwrap().unwrap();
            assert_eq!(contact.email, *mail);
            let surname = who.split(' ').nth(1).unwrap();
            let hits = s
                .get_json(&c, &cookie, &format!("/console/api/conversations?q={surname}"))
                .await;
            assert_eq!(hits["conversations"][0]["conversation_id"], id.as_str(), "{hits}");
            assert!(!found_in(&db, &[ord]).is_empty() || !found_in(&wal, &[ord]).is_empty());
        }

        // The audit log says who erased what kind of subject, never the identifier.
        let audit = s.state.store.audit_events(50).await.unwrap();
        let (actor, _, conv, detail) = audit
            .iter()
            .find(|e| e.1 == "privacy_erase")
            .expect("the erasure is audited");
        assert_eq!((actor.as_str(), conv), ("olga", &None));
        assert!(detail.contains("\"subject\":\"email\""), "{detail}");
        for (_, _, _, d) in &audit {
            assert!(!d.contains("kwiatkowski") && !d.contains("55713"), "{d}");
        }
    });
}

fn concord_privacy(data: &Path, kb: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .arg("privacy")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("CONCORD__KNOWLEDGE__DIR", kb)
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .output()
        .expect("concord runs")
}

#[test]
fn the_command_line_shows_first_exports_and_erases_and_refuses_bad_input() {
    let data = tempfile::tempdir().unwrap();
    let kb = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = data.path().join("concord.db");
    let cfg = concord::Config::defaults().unwrap();
    let email = "teodor.maj@poczta-testowa.pl";
    let (target, other) = rt.block_on(async {
        let store = concord::store::Store::open(&db, &cfg.store).await.unwrap();
        let mut ids = Vec::new();
        for text in [
            format!("Proszę o fakturę na adres {email}"),
            "Ile kosztuje dostawa?".into(),
        ] {
            let c = store
                .create_conversation(None, &Default::default())
                .await
                .unwrap();
            store
                .add_customer_message(&c.conversation.id, &text, &Default::default())
                .await
                .unwrap();
            ids.push(c.conversation.id);
        }
        store.close().await;
        (ids[0].clone(), ids[1].clone())
    });
    let run = |args: &[&str]| concord_privacy(data.path(), kb.path(), args);

    let bad = run(&["erase", "--email", "teodor"]);
    assert!(!bad.status.success());
    assert!(
        crate::common::stderr(&bad).contains("e-mail"),
        "{}",
        crate::common::stderr(&bad)
    );
    let both = run(&["erase", "--email", email, "--order", "ZAM-1234"]);
    assert!(!both.status.success(), "one subject at a time");

    let shown = run(&["erase", "--email", email]);
    assert_eq!(shown.status.code(), Some(2));
    assert!(
        crate::common::stdout(&shown).contains("would erase 1 conversation(s) with 1 message(s)"),
        "{}",
        crate::common::stdout(&shown)
    );

    let out = data.path().join("export.json");
    let exported = run(&["export", "--email", email, "--out", out.to_str().unwrap()]);
    assert!(
        exported.status.success(),
        "{}",
        crate::common::stderr(&exported)
    );
    let export: Value = serde_json::from_str(&fs_err::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        export["conversations"][0]["conversation"]["id"],
        target.0.as_str()
    );
    assert_eq!(
        export["conversations"][0]["messages"][0]["text"],
        format!("Proszę o fakturę na adres {email}")
    );

    let erased = run(&["erase", "--email", email, "--yes", "--actor", "dpo"]);
    assert!(
        erased.status.success(),
        "{}",
        crate::common::stderr(&erased)
    );
    assert!(crate::common::stdout(&erased).contains("erased 1 conversation(s) with 1 message(s)"));
    rt.block_on(async {
        let store = concord::store::Store::open(&db, &cfg.store).await.unwrap();
        assert!(store.conversation(&target.0).await.is_err());
        assert_eq!(store.messages_after(&other, 0).await.unwrap().len(), 1);
        let audit = store.audit_events(5).await.unwrap();
        assert_eq!(
            (audit[0].0.as_str(), audit[0].1.as_str()),
            ("dpo", "privacy_erase")
        );
    });
    assert!(found_in(&db, &["teodor.maj"]).is_empty());
}

#[test]
fn a_token_stops_opening_its_conversation_after_token_days_without_activity() {
    let s = console_server_with(Mode::Autopilot, |c| {
        c.privacy.token_days = 1;
    });
    s.rt.block_on(async {
        let c = client();
        let (id, token) = s.customer(&c, "pl").await;
        let get = || {
            c.get(format!("{}/api/conversations/{id}", s.base))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(get().await.unwrap().status(), 200);
        // Two days without activity (as if the device were found later).
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(crate::common::sqlite_file(&s.config)),
        )
        .await
        .unwrap();
        sqlx::query(
            "UPDATE conversations SET updated_ms = updated_ms - 2 * 86400000 WHERE id = $1",
        )
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let r = get().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        // Staff keep the conversation until retention ends.
        let kept = s.state.store.conversation(&id).await.unwrap();
        assert_eq!(kept.id.0, id);
    });
}
