//! The GGUF tokenizers of the real generator models (fetched through `concord::models`) against
//! llama.cpp's ids: golden ids, the reference fixture, round trips, specials, broken files.

use std::io::Read;
use std::sync::OnceLock;

use concord::llm::tokenizer::{load_tokenizer, GgufTokenizer, TokenizerError};
use serde_json::Value;

use crate::common;

use crate::common::{gguf_path, GEMMA, SMOLLM2};

/// One tokenizer per model per test process (Gemma's takes about a second to build).
fn tokenizer(name: &str) -> &'static GgufTokenizer {
    static SMOL: OnceLock<GgufTokenizer> = OnceLock::new();
    static GEM: OnceLock<GgufTokenizer> = OnceLock::new();
    let cell = match name {
        SMOLLM2 => &SMOL,
        GEMMA => &GEM,
        other => panic!("no tokenizer fixture for {other}"),
    };
    cell.get_or_init(|| load_tokenizer(&gguf_path(name)).expect("tokenizer loads"))
}

const QUESTION: &str = "Jak mogę zwrócić zamówienie?";

#[test]
fn golden_ids_match_llama_cpp() {
    assert_eq!(
        tokenizer(SMOLLM2).encode(QUESTION, true).unwrap(),
        [
            58, 494, 283, 435, 48137, 1892, 35967, 7342, 605, 27804, 1892, 332, 7342, 103, 6522,
            519, 47
        ]
    );
    assert_eq!(
        tokenizer(GEMMA).encode(QUESTION, true).unwrap(),
        [2, 59184, 210490, 218643, 121362, 158298, 48997, 236881]
    );
    // Without specials Gemma drops only the BOS; SmolLM2 adds none.
    assert_eq!(
        tokenizer(GEMMA).encode(QUESTION, false).unwrap(),
        [59184, 210490, 218643, 121362, 158298, 48997, 236881]
    );
}

#[test]
fn ids_match_the_reference_fixture() {
    let path = common::repo().join("tests/fixtures/tokenizers/reference_ids.json");
    let text = fs_err::read_to_string(&path).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let models = fixture["models"].as_object().expect("models object");
    assert_eq!(models.len(), 2, "{}", path.display());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, cases) in models {
        let tok = tokenizer(name);
        for case in cases.as_array().expect("array of cases") {
            let text = case["text"].as_str().expect("text");
            let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
            let ours = tok.encode(text, true).unwrap();
            checked += 1;
            if ours != expected {
                failures.push(format!(
                    "{name} {text:?}\n  expected {expected:?}\n  ours     {ours:?}"
                ));
            }
        }
    }
    assert!(checked >= 20, "only {checked} cases in the fixture");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn decode_inverts_encode() {
    let texts = [
        QUESTION,
        "Zażółć gęślą jaźń. ZAŻÓŁĆ GĘŚLĄ JAŹŃ!",
        "Dzień dobry,\r\nproszę o zwrot 2 par butów (nr 42).\r\n",
        "Order #PL-2024-000187\tpaid 1 299,99 zł\t\ton 2024-11-23",
        "  two leading, then   runs    of spaces   ",
        "Track it: https://example.com/track?id=ABC123&lang=pl#top",
        "Thanks! 👍😊🎉 ❤️ 👨‍👩‍👧",
        "注文をキャンセルしたいです。我想退货。주문 취소",
        "\n\nblank lines\n\n\nand a tab\t",
        "Größe, café, naïve, œuvre; 3.14159 and 1e-6",
        "",
    ];
    for name in [SMOLLM2, GEMMA] {
        let tok = tokenizer(name);
        for text in texts {
            let ids = tok.encode(text, false).unwrap();
            assert_eq!(tok.decode(&ids).unwrap(), text, "{name}: {ids:?}");
        }
    }
}

#[test]
fn chat_specials_are_single_tokens() {
    let smol = tokenizer(SMOLLM2);
    assert_eq!(
        (smol.bos_id(), smol.eos_id(), smol.add_bos()),
        (Some(1), Some(2), false)
    );
    assert_eq!(smol.token_id("<|im_start|>"), Some(1));
    assert_eq!(smol.token_id("<|im_end|>"), Some(2));
    let ids = smol.encode("<|im_start|>user\nHi<|im_end|>", true).unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(ids.iter().filter(|&&id| id <= 2).count(), 2, "{ids:?}");
    assert_eq!(smol.decode(&ids).unwrap(), "<|im_start|>user\nHi<|im_end|>");

    let gemma = tokenizer(GEMMA);
    assert_eq!(
        (gemma.bos_id(), gemma.eos_id(), gemma.add_bos()),
        (Some(2), Some(1), true)
    );
    assert_eq!(gemma.token_id("<bos>"), Some(2));
    assert_eq!(gemma.token_id("<eos>"), Some(1));
    assert_eq!(gemma.token_id("<end_of_turn>"), Some(106));
    assert_eq!(gemma.token_id("<start_of_turn>"), Some(105));
    let ids = gemma.encode("Hi<end_of_turn>", false).unwrap();
    assert_eq!(ids.last(), Some(&106), "{ids:?}");
    assert_eq!(ids.len(), 2, "{ids:?}");
}

#[test]
fn a_tokenizer_json_beside_the_model_takes_precedence() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model.gguf");
    std::os::unix::fs::symlink(gguf_path(SMOLLM2), &model).unwrap();
    // A saved copy of our own tokenizer, minus the ChatML specials: the file must be the one used.
    let mut json: Value =
        serde_json::from_str(&tokenizer(SMOLLM2).inner().to_string(false).unwrap()).unwrap();
    json["added_tokens"] = Value::Array(Vec::new());
    fs_err::write(tmp.path().join("tokenizer.json"), json.to_string()).unwrap();
    let tok = load_tokenizer(&model).unwrap();
    assert_eq!(
        tok.encode(QUESTION, true).unwrap(),
        tokenizer(SMOLLM2).encode(QUESTION, true).unwrap()
    );
    assert!(tok.encode("<|im_end|>", true).unwrap().len() > 1);
    // The special ids still come from the GGUF metadata.
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.add_bos()),
        (Some(1), Some(2), false)
    );
}

#[test]
fn broken_files_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [SMOLLM2, GEMMA] {
        let mut head = Vec::new();
        fs_err::File::open(gguf_path(name))
            .unwrap()
            .take(1000)
            .read_to_end(&mut head)
            .unwrap();
        assert_eq!(head.len(), 1000);
        let truncated = tmp.path().join(format!("{name}-truncated.gguf"));
        fs_err::write(&truncated, &head).unwrap();
        let err = load_tokenizer(&truncated).unwrap_err();
        assert!(matches!(err, TokenizerError::Gguf { .. }), "{name}: {err}");
        assert!(err.to_string().contains("truncated.gguf"), "{err}");
    }

    let text = tmp.path().join("notes.gguf");
    fs_err::write(
        &text,
        "this is not a GGUF file, just some text that is long enough",
    )
    .unwrap();
    let err = load_tokenizer(&text).unwrap_err();
    assert!(matches!(err, TokenizerError::Gguf { .. }), "{err}");

    let empty = tmp.path().join("empty.gguf");
    fs_err::write(&empty, b"").unwrap();
    assert!(load_tokenizer(&empty).is_err());

    let err = load_tokenizer(&tmp.path().join("absent.gguf")).unwrap_err();
    assert!(matches!(err, TokenizerError::Io(_)), "{err}");
    assert!(err.to_string().contains("absent.gguf"), "{err}");
}
