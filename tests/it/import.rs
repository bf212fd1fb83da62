//! `concord import` on a small shop site served on loopback (pages with navigation and cookie
//! banners, a sitemap, robots.txt, a PDF of terms, a CSV of answers): answers cite the imported
//! pages, and a re-sync re-embeds only the changed page and reports the answer it made stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use concord::assistant::{Assistant, TurnRequest};
use concord::knowledge::Lang;
use serde_json::Value;

use crate::common;

/// Requests the site saw: (path, status).
type Log = Arc<Mutex<Vec<(String, u16)>>>;

#[derive(Clone)]
struct Site {
    root: PathBuf,
    log: Log,
}

/// A static file server with ETags (and 304 on a matching If-None-Match), as shop servers do.
async fn file(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let response = serve(&site.root, &path, request.headers());
    site.log
        .lock()
        .unwrap()
        .push((path, response.status().as_u16()));
    response
}

fn serve(root: &Path, path: &str, headers: &HeaderMap) -> Response {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|p| p == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let Ok(bytes) = fs_err::read(root.join(rel)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", &concord::util::sha256_hex(&bytes)[..16]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let kind = match rel.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("xml") => "application/xml",
        Some("pdf") => "application/pdf",
        _ => "text/plain; charset=utf-8",
    };
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::ETAG, etag),
        ],
        bytes,
    )
        .into_response()
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// The fixture site copied to `root` and served on loopback; its base URL.
fn serve_site(rt: &tokio::runtime::Runtime, root: &Path, log: Log) -> String {
    copy_dir(&common::repo().join("tests/fixtures/shop-site"), root);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let sitemap = root.join("sitemap.xml");
    let text = fs_err::read_to_string(&sitemap).unwrap();
    fs_err::write(&sitemap, text.replace("SHOP_HOST", &host)).unwrap();
    let app = axum::Router::new().fallback(file).with_state(Site {
        root: root.to_path_buf(),
        log,
    });
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{host}")
}

fn import(data: &Path, kb: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--knowledge", kb.to_str().unwrap(), "import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--delay-ms", "0", "--json"]);
    let out = common::concord(data, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    serde_json::from_str(&common::stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}", common::stdout(&out)))
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_shop_site_is_imported_answered_from_and_kept_in_sync() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let site_dir = tempfile::tempdir().unwrap();
    let log: Log = Arc::default();
    let base = serve_site(&rt, site_dir.path(), log.clone());
    let kb_dir = tempfile::tempdir().unwrap();
    let kb = kb_dir.path().join("knowledge");
    let data = tempfile::tempdir().unwrap();

    // The sitemap: every page but the one robots.txt disallows (which is never requested).
    let v = import(
        data.path(),
        &kb,
        &["sitemap", &format!("{base}/sitemap.xml")],
    );
    let mut written = ids(&v["import"]["written"]);
    written.sort();
    assert_eq!(
        written,
        [
            "en-shipping",
            "pomoc-dostawa",
            "pomoc-pielegnacja",
            "pomoc-platnosci",
            "pomoc-zwroty",
            "regulamin"
        ]
    );
    let skipped = v["import"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["location"]
        .as_str()
        .unwrap()
        .ends_with("/prywatne/panel.html"));
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("robots.txt"));
    assert!(!log
        .lock()
        .unwrap()
        .iter()
        .any(|(p, _)| p.starts_with("/prywatne")));

    // Main content only, Polish intact, the PDF's hyphenated words joined.
    for furniture in [
        "Używamy plików cookie",
        "Ten tekst ze skryptu",
        "nie importować",
        "Panel administracyjny",
        "PRACOWNIK-DZBANEK-40",
        "Polecane produkty",
    ] {
        assert!(
            common::files_containing(&kb, furniture).is_empty(),
            "`{furniture}` was imported"
        );
    }
    let terms = fs_err::read_to_string(kb.join("articles/pl/imported/regulamin.md")).unwrap();
    for joined in [
        "prawa konsumenta",
        "złożeniu zamówienia",
        "formularza odstąpienia",
        "swojej reklamacji",
    ] {
        assert!(terms.contains(joined), "`{joined}` in the terms:\n{terms}");
    }
    assert!(terms.contains("31-155 Kraków") && terms.contains("## § 5. Prawo odstąpienia"));
    assert!(
        !terms.contains("strona 1 z 2"),
        "the running footer is dropped"
    );
    let delivery =
        fs_err::read_to_string(kb.join("articles/pl/imported/pomoc-dostawa.md")).unwrap();
    assert!(
        delivery.contains("url = \"http://") && delivery.contains("| Kurier DPD"),
        "{delivery}"
    );

    // The answer sheet: approved answers, merged by id, checked against the imported pages.
    let v = import(
        data.path(),
        &kb,
        &[
            "csv",
            common::repo()
                .join("tests/fixtures/shop-site/odpowiedzi.csv")
                .to_str()
                .unwrap(),
        ],
    );
    let answers: Vec<&str> = v["import"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(answers.len(), 7, "eight rows, two with one id: {answers:?}");
    assert!(answers.contains(&"pl-koszt-dostawy"));
    let reload = &v["reload"];
    assert_eq!(reload["embedded_chunks"], 0, "no article changed: {reload}");
    assert!(reload["stale"].as_array().unwrap().is_empty(), "{reload}");

    // Customers' questions, worded unlike the pages, answered through the gate with the
    // imported page as a source.
    let mut cfg = common::config(data.path());
    cfg.knowledge_dir = kb.clone();
    let assistant = Arc::new(Assistant::load(&cfg, None).unwrap());
    #[derive(serde::Deserialize)]
    struct Question {
        text: String,
        lang: Lang,
        expect_article: String,
    }
    #[derive(serde::Deserialize)]
    struct Questions {
        question: Vec<Question>,
    }
    let questions: Questions = toml::from_str(
        &fs_err::read_to_string(common::repo().join("tests/fixtures/shop-site/questions.toml"))
            .unwrap(),
    )
    .unwrap();
    let mut misses = Vec::new();
    for q in &questions.question {
        let outcome = assistant
            .start_turn(TurnRequest::new(q.text.clone(), Some(q.lang)))
            .run(|_| {})
            .unwrap();
        let page = format!("/{}.", q.expect_article.replacen('-', "/", 1));
        let action = outcome.decision.action.as_str();
        let shown: Vec<String> = outcome
            .sources
            .iter()
            .filter_map(|s| s.url.clone())
            .collect();
        let drafted: Vec<String> = outcome
            .draft
            .iter()
            .flat_map(|d| &d.sources)
            .filter_map(|s| s.url.clone())
            .collect();
        // Everything shown or proposed to staff links to an imported page.
        for url in shown.iter().chain(&drafted) {
            assert!(url.starts_with(&base), "{}: {url}", q.text);
        }
        let cites = shown.iter().chain(&drafted).any(|u| u.contains(&page));
        eprintln!(
            "{action:>14} {}: {}",
            if cites {
                "cites the page"
            } else {
                "other pages  "
            },
            q.text
        );
        if cites {
            continue;
        }
        // A reply sent to the customer must cite the page; a held one (a draft for staff) must
        // at least have had it among the passages the turn retrieved.
        let retrieved = assistant
            .retriever()
            .retrieve_in(&q.text, q.lang, cfg.retrieval.mode, cfg.retrieval.k)
            .unwrap()
            .docs();
        let held = matches!(action, "hold" | "handoff");
        if !held || !retrieved.iter().any(|d| d.0 == q.expect_article) {
            misses.push(format!(
                "{}: {action}, shown {shown:?}, drafted from {drafted:?}",
                q.text
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "answers without the imported page:\n{}",
        misses.join("\n")
    );
    drop(assistant);

    // The shop changes one price. Re-sync: conditional requests, only that page re-embedded,
    // the approved answer quoting the old price reported stale.
    let page = site_dir.path().join("pomoc/dostawa.html");
    let html = fs_err::read_to_string(&page).unwrap();
    assert_eq!(html.matches("14,99 zł").count(), 1);
    fs_err::write(&page, html.replace("14,99 zł", "16,99 zł")).unwrap();
    log.lock().unwrap().clear();
    let v = import(data.path(), &kb, &["--resync"]);
    assert_eq!(ids(&v["import"]["written"]), ["pomoc-dostawa"]);
    let statuses: HashMap<String, u16> = log.lock().unwrap().iter().cloned().collect();
    assert_eq!(statuses["/pomoc/dostawa.html"], 200);
    assert_eq!(statuses["/pomoc/zwroty.html"], 304, "{statuses:?}");
    assert_eq!(statuses["/regulamin.pdf"], 304, "{statuses:?}");
    let reload = &v["reload"];
    assert_eq!(
        reload["changed_articles"],
        serde_json::json!(["pomoc-dostawa"]),
        "{reload}"
    );
    let index = common::open_index(&cfg);
    let page_chunks = index
        .chunks
        .iter()
        .filter(|c| c.doc.0 == "pomoc-dostawa")
        .count();
    assert!(page_chunks > 0);
    assert_eq!(reload["embedded_chunks"], page_chunks, "{reload}");
    assert_eq!(
        reload["reused_chunks"],
        index.chunks.len() - page_chunks,
        "every other passage is reused: {reload}"
    );
    let stale: Vec<&str> = reload["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["canonical_id"].as_str().unwrap())
        .collect();
    assert_eq!(stale, ["pl-koszt-dostawy"], "{reload}");

    // The freshness check agrees, and exits non-zero for the shop's pipeline; a page that
    // disappears is listed too, its article kept.
    fs_err::remove_file(site_dir.path().join("pomoc/zwroty.html")).unwrap();
    let v = import(data.path(), &kb, &["--resync"]);
    assert!(
        v["import"]["gone"][0]
            .as_str()
            .unwrap()
            .ends_with("/pomoc/zwroty.html"),
        "{v}"
    );
    assert!(kb.join("articles/pl/imported/pomoc-zwroty.md").is_file());
    let out = common::concord(
        data.path(),
        &[
            "--knowledge",
            kb.to_str().unwrap(),
            "knowledge",
            "check",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let check: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let changed: Vec<&str> = check["changed_since_approval"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // Both answers based on the page are listed (the page changed since they were approved);
    // the reload report above named only the one the change contradicts.
    assert_eq!(
        changed,
        ["pl-koszt-dostawy", "pl-wysylka-roslin"],
        "{check}"
    );
    assert_eq!(check["gone"][0]["article"], "pomoc-zwroty", "{check}");

    // Re-approving (an admin reviewed both) records the page as it is now; the gone page stays.
    let out = common::concord(
        data.path(),
        &[
            "--knowledge",
            kb.to_str().unwrap(),
            "knowledge",
            "approve",
            "pl-koszt-dostawy",
            "pl-wysylka-roslin",
            "--by",
            "anna",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::concord(
        data.path(),
        &[
            "--knowledge",
            kb.to_str().unwrap(),
            "knowledge",
            "check",
            "--json",
        ],
    );
    let check: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert!(
        check["changed_since_approval"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{check}"
    );
    assert_eq!(out.status.code(), Some(1), "the gone page is still listed");

    // `serve` re-syncs on its schedule: the running server swaps the new page in and keeps the
    // report for the console.
    let (server_rt, _base, state) = common::serve_in_process(&cfg);
    let html = fs_err::read_to_string(&page).unwrap();
    fs_err::write(&page, html.replace("16,99 zł", "17,49 zł")).unwrap();
    let mut settings = cfg.import.clone();
    settings.delay_ms = 0;
    let outcome = server_rt
        .block_on(concord::server::resync::resync_once(&state, &settings))
        .unwrap();
    assert_eq!(
        ids(&serde_json::to_value(&outcome.import.written).unwrap()),
        ["pomoc-dostawa"]
    );
    let reload = outcome.reload.expect("a change reloads");
    // The answer already disagreed with the page (16,99 zł); this change adds no new finding.
    assert_eq!(reload.changed_articles, ["pomoc-dostawa"]);
    assert_eq!(
        reload.rechecked, 2,
        "both answers based on the page are checked again"
    );
    assert!(state
        .assistant()
        .index
        .chunks
        .iter()
        .any(|c| c.doc.0 == "pomoc-dostawa" && c.text.contains("17,49 zł")));
    let reports = server_rt
        .block_on(state.store.knowledge_reports(1))
        .unwrap();
    assert_eq!(reports[0].actor, "import");
    let quiet = server_rt
        .block_on(concord::server::resync::resync_once(&state, &settings))
        .unwrap();
    assert!(quiet.reload.is_none() && quiet.import.written.is_empty());
}

#[test]
fn bad_sources_are_clear_errors_and_write_nothing() {
    let kb_dir = tempfile::tempdir().unwrap();
    let kb = kb_dir.path().join("knowledge");
    let data = tempfile::tempdir().unwrap();
    let junk = kb_dir.path().join("terms.pdf");
    fs_err::write(&junk, "this is not a PDF").unwrap();
    let sheet = kb_dir.path().join("answers.csv");
    fs_err::write(&sheet, "question,answer\nIle kosztuje dostawa?,\n").unwrap();
    let kb_arg = kb.to_str().unwrap();
    for (args, message) in [
        (vec!["pdf", junk.to_str().unwrap()], "not a readable PDF"),
        (
            vec!["csv", sheet.to_str().unwrap()],
            "line 2: the answer is empty",
        ),
        (vec!["url", "ftp://shop.test/x"], "is not an http(s) URL"),
        (
            vec!["url", "http://127.0.0.1:9/nothing-listens-here"],
            "127.0.0.1:9",
        ),
        (vec!["--resync"], "nothing to re-sync"),
    ] {
        let mut all = vec!["--knowledge", kb_arg, "import"];
        all.extend(args.iter().copied());
        let out = common::concord(data.path(), &all);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            common::stdout(&out)
        );
        let err = common::stderr(&out);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let files: Vec<_> = walk(&kb);
    assert!(
        files
            .iter()
            .all(|f| !f.ends_with(".md") && !f.ends_with(".toml")),
        "nothing imported: {files:?}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = fs_err::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn init_makes_a_shop_that_ingests_and_answers() {
    let root = tempfile::tempdir().unwrap();
    let shop = root.path().join("sklep");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["init", shop.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("Next steps"));
    let config = shop.join("concord.toml");
    let config_arg = config.to_str().unwrap();
    let out = common::concord(&shop.join("data"), &["--config", config_arg, "ingest"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::concord(
        &shop.join("data"),
        &[
            "--config",
            config_arg,
            "ask",
            "Ile kosztuje dostawa?",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(v["canonical"]["id"], "pl-koszt-dostawy", "{v}");
    let out = common::concord(
        &shop.join("data"),
        &["--config", config_arg, "knowledge", "check"],
    );
    assert!(
        out.status.success(),
        "a new shop is current: {}",
        common::stdout(&out)
    );
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["init", shop.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(common::stderr(&again).contains("not empty"));
}
