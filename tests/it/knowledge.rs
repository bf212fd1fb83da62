//! The demo knowledge base and the loader's handling of bad files, with the real tokenizer for
//! chunk budgets and the `concord ingest` exit codes.

use std::collections::HashSet;

use concord::knowledge::chunk::Pieces;
use concord::knowledge::{chunk_article, KnowledgeBase, Lang};

use crate::common;

#[test]
fn demo_knowledge_base_is_complete_and_valid() {
    let kb = KnowledgeBase::load_dir(&common::repo().join("knowledge")).unwrap();
    assert!(kb.issues.is_empty(), "issues: {:?}", kb.issues);
    for lang in [Lang::Pl, Lang::En] {
        let articles = kb.articles.iter().filter(|a| a.lang == lang).count();
        let canon: Vec<_> = kb.canonicals.iter().filter(|c| c.lang == lang).collect();
        assert!(articles >= 25, "{lang}: {articles} articles");
        assert!(
            canon.len() >= 40,
            "{lang}: {} canonical answers",
            canon.len()
        );
        assert!(
            canon.iter().all(|c| c.questions.len() >= 3),
            "{lang}: 3+ phrasings each"
        );
        let handoff: HashSet<&str> = canon
            .iter()
            .filter(|c| c.handoff)
            .map(|c| c.id.0.as_str())
            .collect();
        for topic in ["complaint-how", "phishing-sms", "account-takeover"] {
            assert!(
                handoff.contains(format!("{lang}-{topic}").as_str()),
                "{lang}-{topic} is a handoff topic"
            );
        }
    }
    let ids: HashSet<_> = kb.articles.iter().map(|a| &a.id).collect();
    for c in &kb.canonicals {
        for s in &c.sources {
            assert!(ids.contains(s), "{} cites missing {s}", c.id);
        }
    }
}

#[test]
fn demo_articles_chunk_within_the_embedder_budget() {
    let tok = common::embedder();
    let cfg = concord::Config::defaults().unwrap().chunking;
    let kb = KnowledgeBase::load_dir(&common::repo().join("knowledge")).unwrap();
    let mut total = 0;
    for a in &kb.articles {
        let chunks = chunk_article(a, tok, &cfg).unwrap();
        assert!(!chunks.is_empty());
        for c in &chunks {
            let n = tok.piece_offsets(&c.embed_text()).unwrap().len();
            assert!(n <= cfg.max_tokens, "{}: {n} word pieces", c.id);
            assert_eq!(&a.body[c.span.clone()], c.text);
        }
        total += chunks.len();
    }
    assert!(total > kb.articles.len(), "articles split at headings");
}

#[test]
fn bad_files_are_reported_with_line_and_the_rest_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    common::small_kb(dir.path());
    let arts = dir.path().join("articles/pl");
    fs_err::write(
        arts.join("broken.md"),
        "+++\nid = \"x\"\ntitle = \"T\"\nlang = \"pl\"\n\n# never closed\n",
    )
    .unwrap();
    fs_err::write(arts.join("latin1.md"), b"+++\nid = \"l\"\n\xff\xfe\n+++\n").unwrap();
    fs_err::write(
        dir.path().join("canonical/pl/bad.toml"),
        "[[answer]]\nid = \"bad\"\nlang = \"pl\"\nquestions = [\"a\", \"b\"]\nanswer = \"ok\"\nhandoff = maybe\n",
    )
    .unwrap();
    let kb = KnowledgeBase::load_dir(dir.path()).unwrap();
    assert_eq!(kb.articles.len(), 6, "the six good articles load");
    assert!(kb.canonicals.len() >= 10);
    let msgs: Vec<String> = kb.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(kb.issues.len(), 3, "{msgs:#?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("broken.md:1") && m.contains("not closed")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("latin1.md:3") && m.contains("UTF-8")),
        "{msgs:#?}"
    );
    assert!(msgs.iter().any(|m| m.contains("bad.toml:6")), "{msgs:#?}");
}

#[test]
fn duplicate_ids_and_missing_sources_are_issues() {
    let dir = tempfile::tempdir().unwrap();
    common::small_kb(dir.path());
    let src = dir.path().join("articles/pl/returns.md");
    fs_err::copy(&src, dir.path().join("articles/pl/returns-copy.md")).unwrap();
    let canon = dir.path().join("canonical/en/returns.toml");
    let text = fs_err::read_to_string(&canon).unwrap().replacen(
        "sources = [\"en-returns\"]",
        "sources = [\"en-nowhere\"]",
        1,
    );
    fs_err::write(&canon, text).unwrap();
    let kb = KnowledgeBase::load_dir(dir.path()).unwrap();
    let msgs: Vec<String> = kb.issues.iter().map(|i| i.to_string()).collect();
    assert!(msgs.iter().any(|m| m.contains("already used")), "{msgs:#?}");
    assert!(msgs.iter().any(|m| m.contains("en-nowhere")), "{msgs:#?}");
}

#[test]
fn ingest_exits_non_zero_on_skipped_files_unless_allowed() {
    let kb = tempfile::tempdir().unwrap();
    common::small_kb(kb.path());
    fs_err::write(kb.path().join("articles/en/broken.md"), "no front matter\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let knowledge = kb.path().to_str().unwrap();
    let out = common::concord(data.path(), &["ingest", "--knowledge", knowledge]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("broken.md:1"),
        "{}",
        common::stderr(&out)
    );
    assert!(
        common::stdout(&out).contains("indexed 6 articles"),
        "{}",
        common::stdout(&out)
    );
    // The good files were indexed all the same, and --allow-errors accepts the result.
    let out = common::concord(
        data.path(),
        &["ingest", "--knowledge", knowledge, "--allow-errors"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("reused"),
        "{}",
        common::stdout(&out)
    );
}

#[test]
fn missing_knowledge_dir_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let out = common::concord(data.path(), &["ingest", "--knowledge", "/nonexistent/kb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("/nonexistent/kb does not exist"),
        "{}",
        common::stderr(&out)
    );
}
