//! Drafts written by a real llama.cpp `llama-server` (built by scripts/llama_server.sh from the
//! llama-cpp-python sdist) through the OpenAI chat-completions API, as the widget sees them:
//! streamed, checked, decided and stored; a hung and then a stopped server still end every turn in
//! time with an approved answer or a hold, and the breaker stops asking a server that keeps failing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concord::answer::Backend;
use concord::assistant::Mode;
use concord::eval::suite::{stratified, Suite, SuiteQuery};
use concord::llm::remote::{ChatMessage, ChatRequest, RemoteGenerator, RemoteSettings};
use concord::llm::FinishReason;
use concord::Config;

use crate::common;
use crate::release::{ask, Seen};

/// A llama-server process on a loopback port, killed when dropped.
struct LlamaServer {
    child: Child,
    base: String,
}

impl LlamaServer {
    fn start(gguf: &Path, log: &Path) -> LlamaServer {
        let script = common::repo().join("scripts/llama_server.sh");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/llama_server.sh runs");
        assert!(out.status.success(), "llama-server is built");
        let bin = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = fs_err::File::create(log).unwrap().into_parts().0;
        let child = Command::new(&bin)
            .args(["-m", &gguf.to_string_lossy()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "-c",
                "4096",
                "-t",
                "2",
                "-np",
                "1",
                "--alias",
                "concord-drafts",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
        let mut server = LlamaServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("llama-server exited at start: {status}");
            }
            let ok = Command::new("python3")
                .args([
                    "-c",
                    "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)",
                    &format!("{}/health", server.base),
                ])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server ready within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn remote_settings(base: &str) -> RemoteSettings {
    RemoteSettings {
        base_url: format!("{base}/v1"),
        model: "concord-drafts".into(),
        api_key_env: "CONCORD_TEST_REMOTE_KEY".into(),
        context_tokens: 4096,
        connect_timeout_ms: 2000,
        first_token_timeout_ms: 8000,
        idle_timeout_ms: 8000,
        total_timeout_ms: 60_000,
        retries: 1,
        breaker_failures: 3,
        breaker_cooldown_ms: 600_000,
    }
}

fn questions() -> Vec<SuiteQuery> {
    let demo = Suite::load(&common::repo().join("eval/demo")).unwrap();
    stratified(&demo.queries, 8)
}

/// What every answer must satisfy, whoever wrote the draft.
fn shown_right(s: &Seen, canary: &str) {
    assert!(
        matches!(s.last_event.as_str(), "final" | "handoff"),
        "{}: {s:?}",
        s.id
    );
    assert!(
        s.kept.starts_with(&s.streamed),
        "{}: streamed then withdrawn: {s:?}",
        s.id
    );
    assert!(
        !s.kept.contains(canary) && !s.streamed.contains(canary),
        "{s:?}"
    );
}

#[test]
fn a_remote_server_writes_drafts_and_a_failing_one_never_hangs_a_turn() {
    let (_, cfg, _) = common::demo_index();
    let work = tempfile::tempdir().unwrap();
    let llama = LlamaServer::start(
        &common::gguf_path(common::SMOLLM2),
        &work.path().join("llama-server.log"),
    );
    // The client alone: the answer arrives in pieces, as the server writes it.
    let remote = RemoteGenerator::new(&remote_settings(&llama.base));
    let worker = remote.worker().unwrap();
    let mut pieces = Vec::new();
    let done = remote
        .generate(
            &worker,
            &ChatRequest {
                messages: vec![
                    ChatMessage {
                        role: "system",
                        content: "You answer customers of a shop in one short sentence.".into(),
                    },
                    ChatMessage {
                        role: "user",
                        content: "How long do I have to return an item?".into(),
                    },
                ],
                max_tokens: 40,
                sampling: Default::default(),
                stop_strings: Vec::new(),
            },
            |piece| {
                pieces.push(piece.to_string());
                std::ops::ControlFlow::Continue(())
            },
        )
        .unwrap();
    let streamed: String = pieces.concat();
    assert!(
        pieces.iter().filter(|p| !p.is_empty()).count() > 3,
        "{pieces:?}"
    );
    assert_eq!(streamed.trim(), done.text, "{pieces:?}");
    assert!(done.usage.generated_tokens > 3, "{:?}", done.usage);
    assert!(matches!(
        done.finish,
        FinishReason::Stop | FinishReason::Length
    ));

    let mut config: Config = cfg.clone();
    config.store.path = work
        .path()
        .join("concord.db")
        .to_string_lossy()
        .into_owned();
    config.policy.mode = Mode::Autopilot;
    config.generation.backend = Backend::OpenAi(remote_settings(&llama.base));
    common::raise_limits(&mut config);
    let canary = config.prompts.canary.clone();
    let (rt, base, state) = common::serve_in_process(&config);
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let draft_of = |s: &Seen| {
        rt.block_on(async {
            let id = concord::store::ConversationId(s.conversation.clone());
            let messages = state.store.messages_after(&id, 0).await.unwrap();
            let asked = messages
                .iter()
                .find(|m| m.role == concord::store::Role::Customer)
                .unwrap();
            state.store.draft_for(asked.id).await.unwrap()
        })
    };

    // The server up: drafts come from it, streamed and decided as local ones are.
    let qs = questions();
    let (mut drafted, mut streamed_answers) = (0, 0);
    for q in &qs {
        let s = rt.block_on(ask(&c, &base, q));
        shown_right(&s, &canary);
        streamed_answers += usize::from(s.tokens > 0);
        if let Some((model, text)) = draft_of(&s) {
            assert_eq!(model, "openai:concord-drafts", "{s:?}");
            assert!(!text.trim().is_empty(), "{}: an empty draft", s.id);
            drafted += 1;
        }
    }
    eprintln!(
        "remote: {drafted} of {} questions drafted by llama-server, {streamed_answers} streamed",
        qs.len()
    );
    assert!(
        drafted * 2 >= qs.len(),
        "most questions were drafted: {drafted}"
    );

    // A hung server (stopped, its port still open): every turn ends after the time limits with
    // an approved answer or a hold, and nothing was drafted.
    let time_limit = |s: &RemoteSettings| {
        Duration::from_millis((s.first_token_timeout_ms + 1000) * (s.retries as u64 + 1))
            + Duration::from_secs(20)
    };
    let settings = remote_settings(&llama.base);
    llama.signal("-STOP");
    let matched = qs
        .iter()
        .find(|q| q.canonical.is_some())
        .expect("a question with an approved answer");
    let started = Instant::now();
    let s = rt.block_on(ask(&c, &base, matched));
    let took = started.elapsed();
    shown_right(&s, &canary);
    assert!(took < time_limit(&settings), "{took:?}");
    assert!(
        matches!(s.decision.as_str(), "send_canonical" | "hold" | "handoff"),
        "{s:?}"
    );
    assert!(draft_of(&s).is_none(), "{s:?}");

    // Stopped for good: a refused connection fails at once; the breaker then stops asking.
    llama.signal("-CONT");
    drop(llama);
    for q in qs.iter().take(2) {
        let started = Instant::now();
        let s = rt.block_on(ask(&c, &base, q));
        shown_right(&s, &canary);
        assert!(started.elapsed() < time_limit(&settings), "{s:?}");
        assert!(
            matches!(
                s.decision.as_str(),
                "send_canonical" | "hold" | "handoff" | "no_answer"
            ),
            "without drafts nothing generated is sent: {s:?}"
        );
        assert!(draft_of(&s).is_none(), "{s:?}");
    }
    // The breaker is open now, and /readyz says so (the service itself stays ready).
    let ready: serde_json::Value = rt.block_on(async {
        c.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(ready["generation_server_available"], false, "{ready}");
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["models"]["pl"], "openai:concord-drafts", "{ready}");
    rt.shutdown_timeout(Duration::from_secs(5));
}
