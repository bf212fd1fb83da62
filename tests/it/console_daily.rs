//! The console for daily use on a real loopback server with the real models: the customer's
//! end-of-chat survey through the widget's API, past conversations found by words and filters,
//! the feedback on a conversation page, knowledge gaps with "write an approved answer", the
//! service stats with their CSV, and a staff member's own console language.

use concord::assistant::Mode;
use concord::store::StaffRole;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::{client, console_server};

#[test]
fn past_conversations_feedback_gaps_and_service_stats_in_the_staff_members_language() {
    let s = console_server(Mode::Autopilot);
    s.rt.block_on(async {
        let c = client();
        s.add_staff("olga", StaffRole::Admin, "olga-long-password")
            .await;
        let (cookie, csrf) = s.login(&c, "olga", "olga-long-password").await;

        // Customer A: an answered question, rated thumbs down, then the survey.
        let (a, token_a) = s.customer(&c, "pl").await;
        let (event, answer) = s
            .ask(&c, &a, &token_a, "Ile kosztuje dostawa do paczkomatu?")
            .await;
        assert_eq!(event, "final", "{answer}");
        let decision = answer["decision"].as_str().unwrap().to_string();
        assert!(
            matches!(decision.as_str(), "send" | "send_canonical"),
            "{answer}"
        );
        let feedback = |token: &str, id: &str, body: Value| {
            c.post(format!("{}/api/conversations/{id}/feedback", s.base))
                .bearer_auth(token)
                .json(&body)
                .send()
        };
        let r = feedback(
            &token_a,
            &a,
            json!({ "thumb": "down", "message_id": answer["message_id"] }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // Bad survey answers are refused with a clear code and change nothing.
        for bad in [
            json!({ "resolved": false, "nps": 11 }),
            json!({ "resolved": true, "csat": 0 }),
            json!({ "comment": "tylko komentarz" }),
        ] {
            let r = feedback(&token_a, &a, bad.clone()).await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], "invalid_feedback", "{bad}: {v}");
        }
        let r = feedback(
            &token_a,
            &a,
            json!({ "resolved": false, "csat": 2, "comment": "Cena inna niż w koszyku" }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let got: Value = c
            .get(format!("{}/api/conversations/{a}", s.base))
            .bearer_auth(&token_a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&got["resolved"], &got["csat"], &got["nps"], &got["ask_nps"]),
            (&json!(false), &json!(2), &Value::Null, &json!(false)),
            "{got}"
        );

        // Customer B asks for a person; a person answers.
        let (b, token_b) = s.customer(&c, "pl").await;
        s.request_person(&c, &b, &token_b).await;
        s.reply_as_staff(
            &c,
            (&cookie, &csrf),
            &b,
            "Dzień dobry, sprawdzę Pani zgłoszenie w magazynie w Wólce.",
        )
        .await;

        // Past conversations: found by words (typed without Polish letters), the match marked.
        let page = s
            .get_text(&c, &cookie, "/console/conversations?q=magazynie+wolce")
            .await;
        assert!(page.contains("<h1>Rozmowy</h1>"), "{page}");
        assert!(page.contains(&format!("/console/conversations/{b}")), "{page}");
        assert!(!page.contains(&format!("/console/conversations/{a}")));
        assert!(page.contains("<mark>Wólce</mark>"), "{page}");
        let found = |q: &'static str| {
            let (s, c, cookie) = (&s, &c, &cookie);
            async move {
                let v = s
                    .get_json(c, cookie, &format!("/console/api/conversations?{q}"))
                    .await;
                v["conversations"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{q}: {v}"))
                    .iter()
                    .map(|r| r["conversation_id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(found("rating=thumbs_down").await, vec![a.clone()]);
        assert_eq!(found("rating=unresolved").await, vec![a.clone()]);
        assert_eq!(found("decision=handoff").await, vec![b.clone()]);
        assert_eq!(found("status=closed").await, Vec::<String>::new());
        let mut both = found("").await;
        both.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        assert_eq!(both, want);
        for bad in ["rating=great", "status=asleep", "from=yesterday", "q=%3F%21"] {
            let r = c
                .get(format!("{}/console/api/conversations?{bad}", s.base))
                .header(COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        }

        // The conversation page shows what the customer said about it.
        let page = s
            .get_text(&c, &cookie, &format!("/console/conversations/{a}"))
            .await;
        for want in [
            "Opinia klienta",
            "Cena inna niż w koszyku",
            "2 / 5",
            "👎 niepomocna",
        ] {
            assert!(page.contains(want), "{want}: {page}");
        }

        // Knowledge gaps: the question rated down, under the article it is about, with a form
        // to write an approved answer (admins).
        let gaps = s.get_json(&c, &cookie, "/console/api/gaps").await;
        let topic = gaps["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| {
                t["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g["example"] == "Ile kosztuje dostawa do paczkomatu?")
            })
            .unwrap_or_else(|| panic!("the question rated down is a gap: {gaps}"));
        assert!(topic["article"].as_str().is_some(), "{topic}");
        assert_eq!(topic["groups"][0]["thumbs_down"], 1);
        let page = s.get_text(&c, &cookie, "/console/gaps").await;
        assert!(page.contains("Napisz zatwierdzoną odpowiedź"), "{page}");
        // The form shows a preview first and writes nothing; the admin's confirmation saves.
        let answer_text =
            "Tak, wysyłamy do Norwegii kurierem DHL w 5 dni roboczych; dostawa kosztuje 79 zł.";
        let questions = "Czy dostarczacie do Norwegii?\nWysyłka do Norwegii, nazywam się Jan Nowak";
        let kb_files = |dir: &std::path::Path| crate::common::files_containing(dir, "DHL w 5 dni");
        let kb = s.config.knowledge_dir.clone();
        let gap_answer = |confirm: &'static str| {
            c.post(format!("{}/console/gaps/answer", s.base))
                .header(COOKIE, &cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("questions", questions),
                    ("answer", answer_text),
                    ("previewed", "1"),
                    ("confirm", confirm),
                ])
                .send()
        };
        let r = gap_answer("0").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let preview = r.text().await.unwrap();
        for want in [
            "Sprawdź przed zapisaniem",
            "Czy dostarczacie do Norwegii?",
            "kurierem DHL",
            "<s>Jan Nowak</s>",
            "id=\"confirm-canonical\"",
        ] {
            assert!(preview.contains(want), "{want}: {preview}");
        }
        assert!(kb_files(&kb).is_empty(), "a preview writes nothing");
        let r = gap_answer("1").await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(kb_files(&kb).len(), 1);
        assert!(crate::common::files_containing(&kb, "Nowak").is_empty());
        assert!(r.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/console/knowledge?done=report-"));
        let (n, token_n) = s.customer(&c, "pl").await;
        let (event, data) = s
            .ask(&c, &n, &token_n, "Czy dostarczacie do Norwegii?")
            .await;
        assert_eq!(event, "final", "{data}");
        // The next customer's question matches the new approved answer (sent as it, or as a
        // draft the checker found consistent with it).
        let matched = s.decided_canonical(&n).await;
        let new_id = concord::knowledge::edit::id_from_question(
            concord::knowledge::Lang::Pl,
            "Czy dostarczacie do Norwegii?",
        );
        assert_eq!(matched.as_deref(), Some(new_id.as_str()), "{data}");
        assert!(data["text"].as_str().unwrap().contains("DHL"), "{data}");
        // Without a question the form is refused.
        let r = c
            .post(format!("{}/console/gaps/answer", s.base))
            .header(COOKIE, &cookie)
            .form(&[("csrf", csrf.as_str()), ("questions", " \n"), ("answer", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // Service stats: the page in Polish, the daily CSV for a spreadsheet.
        let page = s.get_text(&c, &cookie, "/console/stats").await;
        for want in [
            "rozwiązanych przy pierwszym kontakcie",
            "Czas do konsultanta",
            "Rozmowy dziennie",
        ] {
            assert!(page.contains(want), "{want}");
        }
        let stats = s.get_json(&c, &cookie, "/console/api/stats").await;
        assert_eq!(stats["service"]["person_needed"], 1, "{stats}");
        assert_eq!(stats["service"]["person_reached"], 1, "{stats}");
        assert_eq!(stats["service"]["resolution_answers"], 1, "{stats}");
        let r = c
            .get(format!("{}/console/stats.csv", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = r.text().await.unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("date,conversations,automated,person_needed,resolved_confirmed,csat_count,csat_average")
        );
        let today = lines.last().unwrap();
        assert!(today.starts_with(&format!("{},3,", concord::console::dates::date(concord::store::now_ms()))), "{csv}");
        assert!(today.ends_with(",1,2.00"), "{csv}");

        // Olga reads the console in English; a language the console does not have is refused.
        let set_lang = |lang: &'static str| {
            c.post(format!("{}/console/settings/lang", s.base))
                .header(COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str()), ("lang", lang), ("back", "/console/stats")])
                .send()
        };
        let r = set_lang("en").await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/console/stats");
        let page = s.get_text(&c, &cookie, "/console/conversations").await;
        assert!(page.contains("<h1>Conversations</h1>") && page.contains(r#"<html lang="en">"#));
        assert_eq!(set_lang("de").await.unwrap().status(), StatusCode::BAD_REQUEST);
        set_lang("").await.unwrap();
        let page = s.get_text(&c, &cookie, "/console").await;
        assert!(page.contains("<h1>Kolejka"), "back to the console's default");
    });
}
