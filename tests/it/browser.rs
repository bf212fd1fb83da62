//! The chat widget in a real browser: `concord serve` on the demo knowledge base, headless Chromium
//! on a phone-sized screen driven through chromedriver (fantoccini). Ask, get a cited answer as
//! text, reload the page, and the conversation is still there.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const INSTALL_HINT: &str =
    "install the Debian packages `chromium chromium-driver` (.ci/run installs them)";
/// Loading the embedder and the generator comes before `listening on`.
const SERVER_READY: Duration = Duration::from_secs(300);
const DRIVER_READY: Duration = Duration::from_secs(30);
/// Generation on two CPU cores, possibly behind other tests' work.
const ANSWER: Duration = Duration::from_secs(240);
const UI: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);
const QUESTION: &str = "Ile kosztuje dostawa do paczkomatu?";
/// Phone-sized (a Pixel 7 in CSS pixels): below the widget's 480px breakpoint, so full screen.
const PHONE: (u32, u32) = (412, 915);

/// Kills the server and chromedriver when the test ends, also when it panics.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in &mut self.0 {
            if let Err(e) = child.kill() {
                eprintln!("could not kill {name}: {e}");
            }
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

fn artefacts() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; keep the screenshots beside it, in <target>/test-artefacts.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent (the target directory)")
        .join("test-artefacts");
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `concord serve` on the demo index with a fresh database (and `envs`); returns it, its
/// stdout and the temporary directory of the database.
fn spawn_server(data_dir: &Path, envs: &[(&str, &str)]) -> (Child, ChildStdout, tempfile::TempDir) {
    let db = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args([
            "serve",
            "--no-ingest",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .envs(envs.iter().copied())
        .env("CONCORD__MODELS__DIR", common::repo().join("models"))
        .env("CONCORD__STORE__PATH", db.path().join("concord.db"))
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .current_dir(common::repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the concord binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    (child, stdout, db)
}

/// Reads the server's stdout until `listening on http://...`; the reader thread then keeps
/// draining it so the server never blocks on a full pipe.
fn wait_listening(server: &mut Child, stdout: ChildStdout) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line.clone()).is_err() {
                eprintln!("[concord] {line}");
            }
        }
    });
    let deadline = Instant::now() + SERVER_READY;
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    return url.trim_end_matches('/').to_string();
                }
                eprintln!("[concord] {line}");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!(
                    "concord serve closed its stdout before `listening on` (see its stderr above)"
                )
            }
        }
        if let Some(status) = server.try_wait().expect("server status") {
            panic!(
                "concord serve exited with {status} before `listening on` (see its stderr above)"
            );
        }
        assert!(
            Instant::now() < deadline,
            "concord serve did not print `listening on` within {SERVER_READY:?}"
        );
    }
}

fn spawn_chromedriver(port: u16) -> Child {
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{CHROMEDRIVER}` ({e}): {INSTALL_HINT}"))
}

async fn wait_driver(driver: &mut Child, url: &str) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let deadline = Instant::now() + DRIVER_READY;
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Some(status) = driver.try_wait().expect("chromedriver status") {
            panic!("chromedriver exited with {status} before it answered /status");
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer {url}/status within {DRIVER_READY:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(driver_url: &str) -> Client {
    connect_sized(driver_url, Screen::Phone).await
}

/// The screen a browser session has.
#[derive(Clone, Copy)]
enum Screen {
    Phone,
    /// A staff member's desktop, 1280x900.
    Desktop,
}

async fn connect_sized(driver_url: &str, screen: Screen) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    let options = match screen {
        Screen::Phone => json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     format!("--window-size={},{}", PHONE.0, PHONE.1)],
            // Desktop Chromium keeps windows at least 500px wide, so --window-size alone gives a
            // 500px viewport, above the widget's phone breakpoint; emulation gives the real size.
            "mobileEmulation": {"deviceMetrics": {"width": PHONE.0, "height": PHONE.1, "pixelRatio": 1.0}},
        }),
        Screen::Desktop => json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900"],
        }),
    };
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver_url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver creates a Chromium session ({e}); {INSTALL_HINT}"))
}

async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Runs `script` every `every` until it returns something truthy (not null/false/empty):
/// `Ok` with that, or `Err` with the last value once `timeout` has passed.
async fn poll_every(
    client: &Client,
    timeout: Duration,
    every: Duration,
    script: &str,
) -> Result<Value, Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let v = js(client, script).await;
        let ready = !matches!(&v, Value::Null | Value::Bool(false))
            && v.as_array().is_none_or(|a| !a.is_empty());
        if ready {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(v);
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls `script` until it returns something truthy (not null/false/empty), or panics with
/// `what` and the last value.
async fn poll(client: &Client, what: &str, timeout: Duration, script: &str) -> Value {
    poll_every(client, timeout, POLL, script)
        .await
        .unwrap_or_else(|v| panic!("{what}: not within {timeout:?}; last value {v}"))
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let path = artefacts().join(name);
    fs_err::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The messages in the widget: role, id, text (of the text element only) and source links.
const MESSAGES: &str = r#"
return Array.from(document.querySelectorAll('[data-concord="message"]')).map(function (b) {
  var t = b.querySelector('[data-concord="text"]');
  return {
    role: b.getAttribute('data-role'),
    id: b.getAttribute('data-message-id'),
    provisional: b.hasAttribute('data-provisional'),
    text: t ? t.textContent : null,
    links: Array.from(b.querySelectorAll('[data-concord="sources"] a')).map(function (a) {
      return {href: a.getAttribute('href'), text: a.textContent, target: a.getAttribute('target'),
              rel: a.getAttribute('rel')};
    })
  };
});"#;

/// The first final assistant answer with text and an http(s) source link, if any; an error
/// notice from the widget (busy, network...) ends the wait at once.
const ANSWERED: &str = r#"
var err = document.querySelector('[data-concord="notice"].concord-notice--error');
if (err) return {error: err.textContent};
var found = null;
document.querySelectorAll('[data-concord="message"][data-role="assistant"][data-message-id]').forEach(function (b) {
  var t = b.querySelector('[data-concord="text"]');
  var ok = Array.from(b.querySelectorAll('[data-concord="sources"] a')).some(function (a) {
    return /^https?:\/\//.test(a.getAttribute('href') || '');
  });
  if (!found && t && t.textContent.trim() && ok) found = {id: b.getAttribute('data-message-id')};
});
return found;"#;

/// Every element inside the chat log is the widget's own: a known tag with a `concord-` class
/// (or an icon's svg/path); server text never became markup.
const FOREIGN_ELEMENTS: &str = r#"
var bad = [];
document.querySelectorAll('[data-concord="log"] *').forEach(function (n) {
  var tag = n.tagName.toLowerCase();
  var own = (n.getAttribute('class') || '').split(/\s+/).some(function (c) { return c.indexOf('concord-') === 0; });
  var inSources = !!n.closest('[data-concord="sources"] li');
  var ok = (own && ['div', 'p', 'span', 'ul', 'button', 'svg'].indexOf(tag) >= 0)
    || (tag === 'path' && n.parentNode.tagName.toLowerCase() === 'svg')
    || (inSources && (tag === 'li' || tag === 'a' || tag === 'span'));
  if (!ok) bad.push(n.outerHTML.slice(0, 200));
});
document.querySelectorAll('[data-concord="message"] [data-concord="text"]').forEach(function (t) {
  if (t.childElementCount) bad.push('markup in message text: ' + t.innerHTML.slice(0, 200));
});
return bad;"#;

async fn open_widget(client: &Client) {
    let launcher = client
        .wait()
        .at_most(UI)
        .for_element(Locator::Css(r#"[data-concord="launcher"]"#))
        .await
        .expect("the widget adds its launcher button to the page");
    let window = client
        .find(Locator::Css(r#"[data-concord="window"]"#))
        .await
        .expect("the widget has a chat window");
    if !window.is_displayed().await.unwrap() {
        launcher.click().await.expect("click the launcher");
    }
    poll(
        client,
        "the chat window opens",
        UI,
        // Open and done rising in (a 0.18 s fade from opacity 0, during which WebDriver reports
        // its content as not displayed).
        r#"var w = document.querySelector('[data-concord="window"]');
           return !w.hidden && w.getClientRects().length > 0
               && w.getAnimations().every(function (a) { return a.playState === 'finished'; });"#,
    )
    .await;
}

/// The test proper; `run` closes the WebDriver session whatever happens here.
async fn widget_flow(client: Client, base: String) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the shop page");
    assert_eq!(
        client.title().await.unwrap(),
        "Polna Półka — dom, kuchnia i ogród",
        "`/` serves the demo shop page"
    );
    client
        .wait()
        .at_most(UI)
        .for_element(Locator::Css(r#"[data-concord="launcher"]"#))
        .await
        .expect("the widget adds its launcher button to the page");
    let hidden = js(
        &client,
        r#"var w = document.querySelector('[data-concord="window"]'); return w ? w.hidden : 'no window';"#,
    )
    .await;
    assert_eq!(hidden, json!(true), "the chat window starts closed");
    open_widget(&client).await;

    // widget.css was loaded (the page's CSP allows it) and the window is full screen on a phone
    let layout = js(
        &client,
        r#"var l = document.querySelector('[data-concord="launcher"]');
           var r = document.querySelector('[data-concord="window"]').getBoundingClientRect();
           return {launcher: getComputedStyle(l).position, width: r.width, vw: window.innerWidth,
                   focus: document.activeElement.getAttribute('data-concord')};"#,
    )
    .await;
    assert_eq!(
        layout["launcher"], "fixed",
        "widget.css styles the launcher: {layout}"
    );
    let vw = layout["vw"].as_f64().unwrap();
    assert_eq!(
        vw,
        f64::from(PHONE.0),
        "the viewport is phone-sized: {layout}"
    );
    assert!(
        (layout["width"].as_f64().unwrap() - vw).abs() < 1.0,
        "the window is full screen on a phone: {layout}"
    );
    assert_eq!(
        layout["focus"], "input",
        "focus moves into the window on open: {layout}"
    );

    // EU AI Act art. 50: the customer is told first that this is an AI, and that a person can take over
    let disclosure = client
        .find(Locator::Css(r#"[data-concord="disclosure"]"#))
        .await
        .expect("the window has an AI disclosure");
    assert!(
        disclosure.is_displayed().await.unwrap(),
        "the AI disclosure is visible"
    );
    let said = disclosure.text().await.unwrap();
    assert!(
        said.to_lowercase().contains("asystent") && said.contains("AI"),
        "the disclosure says it is an AI assistant: {said:?}"
    );
    assert!(
        said.contains("konsultant") || said.contains("człowie"),
        "the disclosure says a person can take over: {said:?}"
    );

    let input = client
        .find(Locator::Css(r#"[data-concord="input"]"#))
        .await
        .expect("the window has a message input");
    input.send_keys(QUESTION).await.unwrap();
    input.send_keys(&Key::Enter).await.unwrap();

    let answered = poll(&client, "a cited assistant answer", ANSWER, ANSWERED).await;
    assert!(
        answered.get("error").is_none(),
        "the widget showed an error instead of an answer: {answered}; messages: {}",
        js(&client, MESSAGES).await
    );
    let before = js(&client, MESSAGES).await;
    let messages = before.as_array().unwrap();
    eprintln!("messages: {before:#}");
    let customer: Vec<&Value> = messages
        .iter()
        .filter(|m| m["role"] == "customer")
        .collect();
    assert_eq!(customer.len(), 1, "one customer message: {before}");
    assert_eq!(
        customer[0]["text"], QUESTION,
        "the question is shown as typed"
    );
    assert!(
        customer[0]["id"].is_string(),
        "the stored question has its id: {before}"
    );
    let answer = messages
        .iter()
        .find(|m| m["id"] == answered["id"])
        .expect("the answer is in the list");
    let text = answer["text"].as_str().unwrap();
    assert!(
        text.chars().any(|c| c.is_ascii_digit()),
        "the answer about parcel-locker delivery names a price: {text:?}"
    );
    assert!(
        messages
            .iter()
            .all(|m| !m["provisional"].as_bool().unwrap()),
        "no provisional bubble is left once the answer is final: {before}"
    );
    for link in answer["links"].as_array().unwrap() {
        let href = link["href"].as_str().unwrap();
        assert!(
            href.starts_with("https://") || href.starts_with("http://"),
            "only http(s) sources are links: {link}"
        );
        assert_eq!(
            link["target"], "_blank",
            "sources open in a new tab: {link}"
        );
        assert_eq!(
            link["rel"], "noopener noreferrer",
            "sources carry rel=noopener: {link}"
        );
        assert!(
            !link["text"].as_str().unwrap().trim().is_empty(),
            "a link has its title: {link}"
        );
    }
    let foreign = js(&client, FOREIGN_ELEMENTS).await;
    assert_eq!(
        foreign,
        json!([]),
        "message text was rendered as text, never as markup"
    );
    screenshot(&client, "browser-widget-answer.png").await;

    // a reload keeps the conversation (localStorage + GET /api/conversations/{id})
    client.refresh().await.expect("reload the page");
    open_widget(&client).await;
    let restored_script = format!(
        r#"var m = document.querySelector('[data-concord="message"][data-message-id="{}"]');
           return m && m.querySelector('[data-concord="text"]').textContent.length > 0;"#,
        answered["id"].as_str().unwrap()
    );
    poll(
        &client,
        "the answer is restored after a reload",
        UI,
        &restored_script,
    )
    .await;
    let after = js(&client, MESSAGES).await;
    let strip = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|m| m["id"].is_string())
            .map(|m| json!({"role": m["role"], "id": m["id"], "text": m["text"], "links": m["links"]}))
            .collect()
    };
    assert_eq!(
        strip(&after),
        strip(&before),
        "after a reload the same question and answer are shown"
    );
    let foreign = js(&client, FOREIGN_ELEMENTS).await;
    assert_eq!(
        foreign,
        json!([]),
        "restored text was rendered as text, never as markup"
    );
    screenshot(&client, "browser-widget-reload.png").await;

    // Asking for a person offers to leave an e-mail address for the reply, with the shop's
    // consent text; a malformed address or a missing tick is refused with a clear note.
    client
        .find(Locator::Css(r#"[data-concord="human"]"#))
        .await
        .expect("the window has a talk-to-a-person button")
        .click()
        .await
        .unwrap();
    poll(
        &client,
        "the e-mail offer",
        UI,
        r#"return !!document.querySelector('[data-concord="email"] input[type="email"]');"#,
    )
    .await;
    let offer = js(
        &client,
        r#"var f = document.querySelector('[data-concord="email"]');
           return {text: f.textContent, consent: !!f.querySelector('input[type="checkbox"]')};"#,
    )
    .await;
    assert!(
        offer["text"].as_str().unwrap().contains("Zgadzam się") && offer["consent"] == true,
        "the offer shows the consent text with a tick box: {offer}"
    );
    let email = client
        .find(Locator::Css(
            r#"[data-concord="email"] input[type="email"]"#,
        ))
        .await
        .unwrap();
    let save = client
        .find(Locator::Css(
            r#"[data-concord="email"] button[type="submit"]"#,
        ))
        .await
        .unwrap();
    email.send_keys("anna@example.pl").await.unwrap();
    save.click().await.unwrap();
    poll(
        &client,
        "the consent reminder",
        UI,
        r#"var t = document.querySelector('[data-concord="email"] .concord-email-note').textContent;
           return t.indexOf('Zaznacz zgodę') >= 0 || null;"#,
    )
    .await;
    client
        .find(Locator::Css(
            r#"[data-concord="email"] input[type="checkbox"]"#,
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    email.clear().await.unwrap();
    email.send_keys("anna(at)example").await.unwrap();
    save.click().await.unwrap();
    poll(
        &client,
        "the malformed-address note",
        UI,
        r#"var t = document.querySelector('[data-concord="email"] .concord-email-note').textContent;
           return t.indexOf('nie wygląda na adres') >= 0 || null;"#,
    )
    .await;
    email.clear().await.unwrap();
    email.send_keys("anna@example.pl").await.unwrap();
    save.click().await.unwrap();
    poll(
        &client,
        "the address is kept",
        UI,
        r#"var t = document.querySelector('[data-concord="email"] .concord-email-note').textContent;
           return t.indexOf('anna@example.pl') >= 0 || null;"#,
    )
    .await;
    screenshot(&client, "browser-widget-email.png").await;

    // The shop's privacy notice ([privacy] notice_url) is linked under the composer.
    let privacy = js(
        &client,
        r#"var a = document.querySelector('[data-concord="privacy"]');
           return {href: a.getAttribute('href'), shown: a.getClientRects().length > 0};"#,
    )
    .await;
    assert_eq!(privacy["href"], "/polityka-prywatnosci", "{privacy}");
    assert_eq!(
        privacy["shown"], true,
        "the privacy link is visible: {privacy}"
    );

    // "New conversation", for a shared device: once confirmed, the old conversation is neither
    // shown nor stored here, and the next message starts a new one.
    let old = js(&client, CONVERSATION_ID).await;
    assert!(old.is_string(), "a conversation is stored: {old}");
    js(
        &client,
        "window.confirm = function () { return true; }; return true;",
    )
    .await;
    client
        .find(Locator::Css(r#"[data-concord="new-chat"]"#))
        .await
        .expect("the header has a new-conversation button")
        .click()
        .await
        .unwrap();
    poll(
        &client,
        "the old conversation leaves the window",
        UI,
        r#"return document.querySelectorAll('[data-concord="message"][data-message-id]').length === 0 || null;"#,
    )
    .await;
    assert_eq!(
        js(&client, CONVERSATION_ID).await,
        Value::Null,
        "the old token is forgotten on this device"
    );
    let input = client
        .find(Locator::Css(r#"[data-concord="input"]"#))
        .await
        .unwrap();
    input.send_keys(QUESTION).await.unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    let fresh = poll(
        &client,
        "an answer in the new conversation",
        ANSWER,
        ANSWERED,
    )
    .await;
    assert!(fresh.get("error").is_none(), "{fresh}");
    let new = js(&client, CONVERSATION_ID).await;
    assert!(
        new.is_string() && new != old,
        "the message started a new conversation: {old} -> {new}"
    );
    screenshot(&client, "browser-widget-new-conversation.png").await;
}

/// `concord serve` on the demo index and chromedriver for one test; dropping it stops both
/// (the server first) and then removes the database.
struct Stage {
    _children: Children,
    driver_url: String,
    base: String,
    _db: tempfile::TempDir,
}

/// Starts `concord serve` on the demo index (with `envs`; `prepare` gets the database path once
/// the server listens) and chromedriver.
async fn set_up(envs: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> Stage {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: {INSTALL_HINT}"
    );
    let (dir, _cfg, _index) = tokio::task::block_in_place(common::demo_index);
    let (server, stdout, db) = spawn_server(dir.path(), envs);
    let mut children = Children(vec![("concord serve", server)]);

    let port = free_port();
    children.0.push(("chromedriver", spawn_chromedriver(port)));
    let driver_url = format!("http://127.0.0.1:{port}");
    wait_driver(&mut children.0[1].1, &driver_url).await;

    let base = tokio::task::block_in_place(|| wait_listening(&mut children.0[0].1, stdout));
    // The server has created (migrated) the database by now.
    prepare(&db.path().join("concord.db"));
    Stage {
        _children: children,
        driver_url,
        base,
        _db: db,
    }
}

/// Ends a WebDriver session (and its Chromium); a failure is reported, not raised.
async fn close(client: Client) {
    if let Err(e) = client.close().await {
        eprintln!("closing the WebDriver session: {e}");
    }
}

/// What the flow's task came to: a panic in the flow fails the test with its own message.
fn finish(outcome: Result<(), tokio::task::JoinError>) {
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the browser flow did not finish: {e}"),
    }
}

/// Runs `flow` in Chromium against `concord serve` on the demo index (with `envs`; `prepare`
/// gets the database path once the server listens), then closes the session and the children
/// whatever happened.
async fn in_browser<F, Fut>(envs: &[(&str, &str)], prepare: impl FnOnce(&Path), flow: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stage = set_up(envs, prepare).await;
    let client = connect(&stage.driver_url).await;

    // the flow runs as its own task so that a panic in it still lets us close the session
    let outcome = tokio::spawn(flow(client.clone(), stage.base.clone())).await;
    close(client).await;
    drop(stage);
    finish(outcome);
}

/// Like `in_browser`, with two WebDriver sessions on the one chromedriver: two Chromium
/// instances, each with its own profile (cookies, localStorage), so two people use Concord at
/// once. `flow` gets them in the order (a, b); both are closed whatever happened.
async fn in_two_browsers<F, Fut>(envs: &[(&str, &str)], prepare: impl FnOnce(&Path), flow: F)
where
    F: FnOnce(Client, Client, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stage = set_up(envs, prepare).await;
    let a = connect(&stage.driver_url).await;
    // The staff member works at a desktop.
    let b = connect_sized(&stage.driver_url, Screen::Desktop).await;

    // the flow runs as its own task so that a panic in it still lets us close the sessions
    let outcome = tokio::spawn(flow(a.clone(), b.clone(), stage.base.clone())).await;
    close(a).await;
    close(b).await;
    drop(stage);
    finish(outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn widget_answers_with_sources_survives_a_reload_and_starts_afresh_on_request() {
    // E-mail is configured (nothing is sent in this flow), so the widget offers it.
    let email = [
        ("CONCORD__EMAIL__SMTP_HOST", "127.0.0.1"),
        ("CONCORD__EMAIL__SECURITY", "none"),
        (
            "CONCORD__EMAIL__FROM",
            "Polna Półka <pomoc@polnapolka.example>",
        ),
        ("CONCORD__PRIVACY__NOTICE_URL", "/polityka-prywatnosci"),
    ];
    in_browser(&email, |_| {}, widget_flow).await;
}

/// The console flow: the customer's question waits (copilot mode); staff sign in in another
/// window, open the item and approve it; the answer appears in the customer's widget.
async fn console_flow(client: Client, base: String) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the shop page");
    open_widget(&client).await;
    let shop = client.window().await.unwrap();
    let input = client
        .find(Locator::Css(r#"[data-concord="input"]"#))
        .await
        .expect("the window has a message input");
    input
        .send_keys("Ile mam czasu na zwrot towaru?")
        .await
        .unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    // The held notice arrives first (a system message: a colleague checks the answer).
    poll(
        &client,
        "the held notice",
        ANSWER,
        r#"return document.querySelector('[data-concord="message"][data-role="system"][data-message-id]') !== null;"#,
    )
    .await;

    // Staff, in another window: sign in, open the item, approve it.
    let console = client.new_window(true).await.unwrap();
    client.switch_to_window(console.handle).await.unwrap();
    client.goto(&format!("{base}/console")).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
    client
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("marta")
        .await
        .unwrap();
    let pw = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    pw.send_keys("marta-long-password").await.unwrap();
    pw.send_keys(&Key::Enter).await.unwrap();
    let found = client
        .wait()
        .at_most(UI)
        .for_element(Locator::Css("table.queue a[href^='/console/items/']"))
        .await;
    screenshot(&client, "browser-console-queue.png").await;
    let item = match found {
        Ok(item) => item,
        Err(e) => panic!(
            "the held draft is in the review queue ({e}); the page: {}",
            client.source().await.unwrap_or_default()
        ),
    };
    // The page follows the live queue (console.js over server-sent events); the update that
    // arrives leaves the unchanged row, and the link found above, in place.
    poll(
        &client,
        "the live queue is connected",
        UI,
        r#"return document.querySelector('[data-live-updated]') !== null || null;"#,
    )
    .await;
    item.click().await.unwrap();
    let approve = client
        .wait()
        .at_most(UI)
        .for_element(Locator::Css("#approve"))
        .await
        .expect("the item page offers approve and send");
    let marked = js(
        &client,
        "return document.querySelectorAll('p.text').length;",
    )
    .await;
    assert!(
        marked.as_u64().unwrap() >= 2,
        "draft and approved answer are shown"
    );
    screenshot(&client, "browser-console-item.png").await;
    approve.click().await.unwrap();
    poll(
        &client,
        "the item is approved",
        UI,
        r#"var s = document.querySelector('.status-approved'); return s !== null;"#,
    )
    .await;

    // Back in the shop: the approved answer arrives without a reload.
    client.switch_to_window(shop).await.unwrap();
    let arrived = poll(
        &client,
        "the approved answer in the widget",
        UI,
        r#"var b = document.querySelector('[data-concord="message"][data-role="assistant"][data-message-id]');
           return b ? b.querySelector('[data-concord="text"]').textContent : null;"#,
    )
    .await;
    assert!(
        arrived.as_str().unwrap().contains("30"),
        "the answer states the 30 days: {arrived}"
    );
    screenshot(&client, "browser-console-approved-in-widget.png").await;
}

/// Adds the agent `marta` (password `marta-long-password`) to the database at `db`.
fn add_marta(db: &Path) {
    let added = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args([
            "staff",
            "add",
            "marta",
            "--role",
            "agent",
            "--password",
            "marta-long-password",
        ])
        .env("CONCORD__STORE__PATH", db)
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", common::stderr(&added));
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_approve_a_held_draft_in_the_console_and_the_widget_shows_it() {
    in_browser(
        &[("CONCORD__POLICY__MODE", "copilot")],
        add_marta,
        console_flow,
    )
    .await;
}

/// The reply staff type in the console; it names Marta, which the widget check looks for.
const STAFF_REPLY: &str = "Dzień dobry, tu Marta. Paczka wyjdzie jutro rano.";
/// How soon a handoff shows in a console that is already open.
const LIVE: Duration = Duration::from_secs(2);
/// Polling while timing the live queue (the measurement is no finer than this).
const FAST_POLL: Duration = Duration::from_millis(50);

/// The widget's conversation id, from its localStorage entry (`concord:v1:<server>`), or null.
const CONVERSATION_ID: &str = r#"
for (var i = 0; i < localStorage.length; i++) {
  var k = localStorage.key(i);
  if (k.indexOf('concord:v1:') !== 0) continue;
  var v = null;
  try { v = JSON.parse(localStorage.getItem(k)); } catch (e) { v = null; }
  if (v && v.conversation_id) return String(v.conversation_id);
}
return null;"#;

/// The customer (`customer`) and staff (`staff`) in two separate browsers: staff sign in and
/// leave the queue open; the customer asks for a person; the conversation shows in the staff's
/// queue within `LIVE` without a reload; staff open it and reply, and the reply reaches the
/// widget. The console is in Polish throughout.
async fn handoff_flow(customer: Client, staff: Client, base: String) {
    // Staff: sign in, and wait until the queue follows the live stream.
    staff
        .goto(&format!("{base}/console"))
        .await
        .expect("open the console");
    let path = staff.current_url().await.unwrap().path().to_string();
    assert!(
        path.ends_with("/console/login"),
        "the console asks staff to sign in first: {path}"
    );
    staff
        .find(Locator::Css("input[name=name]"))
        .await
        .expect("the login form has a name field")
        .send_keys("marta")
        .await
        .unwrap();
    let pw = staff
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("the login form has a password field");
    pw.send_keys("marta-long-password").await.unwrap();
    pw.send_keys(&Key::Enter).await.unwrap();
    // (the login page has an h1 too; the queue's is inside its live root)
    let heading = match staff
        .wait()
        .at_most(UI)
        .for_element(Locator::Css("[data-live-queue] h1"))
        .await
    {
        Ok(h) => h,
        Err(e) => panic!(
            "signing in leads to the queue ({e}); the page: {}",
            staff.source().await.unwrap_or_default()
        ),
    };
    let title = heading.text().await.unwrap();
    assert!(
        title.starts_with("Kolejka"),
        "the queue is titled in Polish (queue-title in pl.ftl): {title:?}"
    );
    assert_eq!(
        js(&staff, "return document.documentElement.lang;").await,
        "pl",
        "the console page is in Polish"
    );
    poll(
        &staff,
        "the live queue is connected",
        UI,
        r#"return document.querySelector('[data-live-updated]') !== null || null;"#,
    )
    .await;
    // A reload would lose this; the row must be added to the page in place.
    js(&staff, "window.__concordNoReload = 1; return null;").await;

    // The customer, in the other browser: open the widget and ask for a person.
    customer
        .goto(&format!("{base}/"))
        .await
        .expect("open the shop page");
    open_widget(&customer).await;
    let human = customer
        .find(Locator::Css(r#"[data-concord="human"]"#))
        .await
        .expect("the window has a talk-to-a-person button");
    let clicked = Instant::now();
    human.click().await.expect("click talk-to-a-person");
    // The widget starts the conversation (and stores its id) before it asks for the handoff.
    let id = poll_every(&customer, UI, FAST_POLL, CONVERSATION_ID)
        .await
        .unwrap_or_else(|v| {
            panic!("the widget stores its conversation id: not within {UI:?}; last value {v}")
        });
    let id = id
        .as_str()
        .expect("the conversation id is a string")
        .to_string();

    // Staff: the conversation appears in the open queue, with no reload.
    let row = format!(r#"[data-live="people"] a[href="/console/conversations/{id}"]"#);
    let appeared = poll_every(
        &staff,
        UI,
        FAST_POLL,
        &format!(
            r#"var a = document.querySelector('{row}');
               return a && !a.closest('table').hidden ? a.closest('tr').textContent : null;"#
        ),
    )
    .await;
    let waited = clicked.elapsed();
    eprintln!("the handoff reached the other browser's console {waited:?} after the click");
    let row_text = match appeared {
        Ok(t) => t,
        Err(_) => panic!(
            "conversation {id} is not in the live queue within {UI:?}; the page: {}",
            staff.source().await.unwrap_or_default()
        ),
    };
    assert!(
        waited < LIVE,
        "the handoff reaches the open console within {LIVE:?}, took {waited:?}"
    );
    assert_eq!(
        js(&staff, "return window.__concordNoReload === 1;").await,
        json!(true),
        "the queue was updated in place, not reloaded"
    );
    assert!(
        row_text
            .as_str()
            .unwrap_or_default()
            .contains("czeka na konsultanta"),
        "the row gives its status in Polish (status-waiting_staff): {row_text}"
    );
    screenshot(&staff, "console-queue-pl.png").await;

    // Staff: open the conversation and reply.
    staff
        .find(Locator::Css(&row))
        .await
        .expect("the conversation's row links to it")
        .click()
        .await
        .expect("open the conversation");
    let reply = match staff
        .wait()
        .at_most(UI)
        .for_element(Locator::Css(
            r#"form[action$="/reply"] textarea[name="text"]"#,
        ))
        .await
    {
        Ok(t) => t,
        Err(e) => panic!(
            "the conversation page has a reply form ({e}); the page: {}",
            staff.source().await.unwrap_or_default()
        ),
    };
    let path = staff.current_url().await.unwrap().path().to_string();
    assert_eq!(
        path,
        format!("/console/conversations/{id}"),
        "the row opens its conversation"
    );
    reply.send_keys(STAFF_REPLY).await.unwrap();
    assert_eq!(
        js(
            &staff,
            r#"return document.querySelector('textarea[name="text"]').value;"#
        )
        .await,
        json!(STAFF_REPLY),
        "the reply is typed as written"
    );
    staff
        .find(Locator::Css("#reply"))
        .await
        .expect("the reply form has its send button")
        .click()
        .await
        .expect("send the reply");
    poll(
        &staff,
        "the reply in the console's conversation",
        UI,
        r#"return Array.from(document.querySelectorAll('ol.messages li.m-staff p')).some(function (p) {
             return p.textContent.indexOf('Marta') >= 0;
           }) || null;"#,
    )
    .await;
    screenshot(&staff, "console-conversation-pl.png").await;

    // The customer: the reply arrives in the widget, from staff.
    let shown = poll(
        &customer,
        "the staff reply in the widget",
        UI,
        r#"var found = null;
           document.querySelectorAll('[data-concord="message"][data-role="staff"]').forEach(function (b) {
             var t = b.querySelector('[data-concord="text"]');
             if (!found && t && t.textContent.indexOf('Marta') >= 0) found = t.textContent;
           });
           return found;"#,
    )
    .await;
    assert_eq!(
        shown,
        json!(STAFF_REPLY),
        "the widget shows the reply as written"
    );
    screenshot(&customer, "widget-staff-reply.png").await;

    // The customer ends the chat and answers the survey: solved, 4 of 5, a comment.
    customer
        .find(Locator::Css(r#"[data-concord="close"]"#))
        .await
        .expect("the widget offers to end the chat")
        .click()
        .await
        .unwrap();
    let yes = customer
        .wait()
        .at_most(UI)
        .for_element(Locator::Css(r#"[data-concord="resolved-yes"]"#))
        .await
        .expect("the survey asks whether the problem is solved");
    yes.click().await.unwrap();
    customer
        .find(Locator::Css(r#"[data-csat="4"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    customer
        .find(Locator::Css("#concord-csat-comment"))
        .await
        .unwrap()
        .send_keys("Szybka odpowiedź, dziękuję")
        .await
        .unwrap();
    screenshot(&customer, "widget-survey.png").await;
    customer
        .find(Locator::Css(r#"[data-concord="csat-send"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    poll(
        &customer,
        "the survey's thanks",
        UI,
        r#"return document.querySelector('.concord-csat-thanks') !== null || null;"#,
    )
    .await;
    // Staff see the answers on the conversation page.
    staff
        .goto(&format!("{base}/console/conversations/{id}"))
        .await
        .unwrap();
    let feedback = staff
        .wait()
        .at_most(UI)
        .for_element(Locator::Css("section.feedback"))
        .await
        .expect("the conversation page shows the customer's feedback");
    let text = feedback.text().await.unwrap();
    for want in ["tak", "4 / 5", "Szybka odpowiedź, dziękuję"] {
        assert!(text.contains(want), "{want} in the feedback: {text}");
    }
    screenshot(&staff, "console-conversation-feedback-pl.png").await;

    // Staff: the statistics, in Polish too.
    staff
        .goto(&format!("{base}/console/stats"))
        .await
        .expect("open the statistics");
    let heading = match staff
        .wait()
        .at_most(UI)
        .for_element(Locator::Css("main h1"))
        .await
    {
        Ok(h) => h,
        Err(e) => panic!(
            "the statistics page has its heading ({e}); the page: {}",
            staff.source().await.unwrap_or_default()
        ),
    };
    assert_eq!(
        heading.text().await.unwrap(),
        "Statystyki",
        "the statistics are titled in Polish (stats-title in pl.ftl)"
    );
    screenshot(&staff, "console-stats-pl.png").await;

    // Staff: the conversation found again by a word of the reply, typed without Polish letters.
    staff
        .goto(&format!("{base}/console/conversations?q=paczka+wyjdzie"))
        .await
        .unwrap();
    let found = poll(
        &staff,
        "the conversation list with the match marked",
        UI,
        r#"var m = document.querySelector('table.conversations mark');
           return m ? m.textContent : null;"#,
    )
    .await;
    assert_eq!(found, json!("Paczka"), "the matched word is marked");
    assert_eq!(
        js(
            &staff,
            "return document.querySelector('main h1').textContent;"
        )
        .await,
        json!("Rozmowy")
    );
    screenshot(&staff, "console-conversations-pl.png").await;
}

/// A customer and a member of staff in two separate Chromium instances (own cookies and
/// storage): a handoff asked for in the widget shows in the staff's already open console queue
/// within two seconds, without a reload (the live queue over server-sent events), and the reply
/// staff type in the console reaches the customer's widget; the console speaks Polish.
#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_reaches_the_live_console_of_another_browser_and_the_reply_reaches_the_widget() {
    in_two_browsers(&[], add_marta, handoff_flow).await;
}
