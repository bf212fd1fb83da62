//! `concord models` against the real model folder (models are fetched through the project's own
//! code by the shared fixture first).

use crate::common;

#[test]
fn list_and_verify_the_default_models() {
    common::embedder(); // makes sure the embedder is present
    let data = tempfile::tempdir().unwrap();
    let out = common::concord(data.path(), &["models", "list"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    for name in [
        "all-minilm-l6-v2",
        "multilingual-e5-small",
        "smollm2-135m-instruct",
        "gemma3-270m",
    ] {
        assert!(text.contains(name), "{text}");
    }
    let out = common::concord(data.path(), &["models", "verify", "multilingual-e5-small"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn an_unknown_model_lists_the_known_ones() {
    let data = tempfile::tempdir().unwrap();
    let out = common::concord(data.path(), &["models", "fetch", "gpt-17"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("gpt-17") && err.contains("all-minilm-l6-v2"),
        "{err}"
    );
}
