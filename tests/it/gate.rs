//! The consistency gate end to end: `concord ask` decisions with the real models on a small
//! knowledge base, `concord check`, and the checker's evaluations (`eval perturb`, `eval check`).

use serde_json::Value;

use crate::common;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&common::stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", common::stdout(out), common::stderr(out)))
}

#[test]
fn ask_runs_the_gate_and_never_sends_a_draft_that_disagrees() {
    let data = tempfile::tempdir().unwrap();
    let (kb, _cfg, _index) = common::small_index(data.path());
    let kb_arg = kb.path().to_str().unwrap();
    for question in [
        "How long do I have to return an item?",
        "Ile mam czasu na zwrot towaru?",
    ] {
        let out = common::concord(
            data.path(),
            &["--knowledge", kb_arg, "ask", question, "--json"],
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        let v = json_of(&out);
        let action = v["decision"]["action"].as_str().unwrap();
        let canonical = &v["canonical"];
        assert!(
            canonical["id"].as_str().unwrap().contains("return"),
            "{question}: the returns answer matches: {canonical}"
        );
        let verdict = &v["verdict"];
        let status = verdict["status"].as_str().unwrap();
        let reply = &v["reply"];
        match action {
            // A draft goes out only when the checker found it consistent.
            "send" => {
                assert_eq!(status, "consistent", "{v}");
                assert_eq!(reply["provenance"], "generated");
                assert_eq!(reply["text"], v["draft"]["text"]);
                let released = v["released"].as_str().unwrap();
                assert!(reply["text"].as_str().unwrap().starts_with(released), "{v}");
            }
            // Otherwise the approved answer, word for word, after what the customer already
            // read while the draft was written (if anything was released).
            "send_canonical" => {
                // Replaced: the checker found the draft not consistent (and it is kept as
                // blocked), or consistent without stating a fact of the approved answer.
                let codes: Vec<&str> = v["decision"]["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|r| r["code"].as_str())
                    .collect();
                let unverifiable = codes.contains(&"draft.unverifiable");
                assert_eq!(status == "consistent", unverifiable, "{v}");
                if unverifiable {
                    assert_eq!(verdict["stated"], 0, "{v}");
                }
                let released = v["released"].as_str().unwrap();
                let text = reply["text"].as_str().unwrap();
                let answer = canonical["answer"].as_str().unwrap();
                if released.is_empty() {
                    assert_eq!(reply["provenance"], "canonical");
                    assert_eq!(text, answer);
                } else {
                    assert_eq!(reply["provenance"], "generated");
                    assert_eq!(text, format!("{released}\n\n{answer}"));
                }
                assert_eq!(v["decision"]["draft_blocked"], !unverifiable, "{v}");
            }
            other => panic!("{question}: unexpected decision {other}: {v}"),
        }
        assert!(!v["decision"]["reasons"].as_array().unwrap().is_empty());
    }
}

#[test]
fn a_request_for_a_person_hands_off_before_any_model_runs() {
    let data = tempfile::tempdir().unwrap();
    let (kb, _cfg, _index) = common::small_index(data.path());
    let kb_arg = kb.path().to_str().unwrap();
    for (question, lang) in [
        ("Chce rozmawiac z konsultantem, nie z botem", "pl"),
        ("I want to talk to a real person please", "en"),
    ] {
        let out = common::concord(
            data.path(),
            &["--knowledge", kb_arg, "ask", question, "--json"],
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        let v = json_of(&out);
        assert_eq!(v["decision"]["action"], "handoff", "{v}");
        assert_eq!(v["lang"], lang);
        assert!(v["draft"].is_null(), "no draft for a handoff");
        assert_eq!(v["reply"]["provenance"], "system");
        assert!(v["reply"]["text"].as_str().unwrap().contains("Polna Półka"));
        let reasons = v["decision"]["reasons"].as_array().unwrap();
        assert!(
            reasons
                .iter()
                .any(|r| r["code"].as_str().unwrap().starts_with("triage.")),
            "{reasons:?}"
        );
    }
    // Text mode says what would be sent.
    let out = common::concord(
        data.path(),
        &["--knowledge", kb_arg, "ask", "talk to a human agent now"],
    );
    assert!(out.status.success());
    let text = common::stdout(&out);
    assert!(
        text.contains("decision: handoff") && text.contains("sent (system)"),
        "{text}"
    );
}

#[test]
fn check_cli_flags_a_changed_deadline_and_passes_a_faithful_answer() {
    let data = tempfile::tempdir().unwrap();
    let reference = "Masz 30 dni na zwrot od dnia otrzymania paczki. Zwrot przez Paczkomat InPost jest bezpłatny.";
    let out = common::concord(
        data.path(),
        &[
            "check",
            "--draft",
            "Na zwrot masz 14 dni od otrzymania paczki.",
            "--reference",
            reference,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["status"], "contradiction");
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "value_mismatch")
        .expect("a value mismatch");
    // The spans point at "14 dni" in the draft and "30 dni" in the reference.
    let span = |text: &str, s: &Value| -> String {
        let (a, b) = (
            s["start"].as_u64().unwrap() as usize,
            s["end"].as_u64().unwrap() as usize,
        );
        text.chars().skip(a).take(b - a).collect()
    };
    assert!(span(
        "Na zwrot masz 14 dni od otrzymania paczki.",
        &finding["draft_span"]
    )
    .contains("14"));
    assert!(span(reference, &finding["reference_span"]).contains("30"));

    let out = common::concord(
        data.path(),
        &[
            "check",
            "--draft",
            "Masz 30 dni na zwrot, liczone od dnia otrzymania paczki, a zwrot przez Paczkomat InPost jest bezpłatny.",
            "--reference",
            reference,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::stdout(&out));
    assert!(common::stdout(&out).contains("verdict: consistent"));

    // A negation flip in English.
    let out = common::concord(
        data.path(),
        &[
            "check",
            "--draft",
            "You cannot return opened items.",
            "--reference",
            "You can return opened items within 30 days.",
            "--json",
            "--no-embed",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["status"], "contradiction");

    // Bad input: an empty draft is a clear error, exit code 2.
    let out = common::concord(data.path(), &["check", "--draft", "  ", "--reference", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("empty"));
}

#[test]
fn perturbation_suite_on_the_demo_answers_is_deterministic_and_caught() {
    let data = tempfile::tempdir().unwrap();
    let run = || {
        // Without the embedder: the facts, entities and negations alone must catch the changes.
        let out = common::concord(
            data.path(),
            &["eval", "perturb", "--seed", "3", "--no-embed", "--json"],
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        json_of(&out)
    };
    let a = run();
    let b = run();
    for key in [
        "contradictions",
        "contradiction_recall",
        "faithful",
        "faithful_flag_rate",
    ] {
        assert_eq!(
            a[key], b[key],
            "{key} differs between two runs with one seed"
        );
    }
    assert!(a["contradictions"].as_u64().unwrap() >= 200, "{a}");
    assert!(a["faithful"].as_u64().unwrap() >= 100, "{a}");
    let recall = a["contradiction_recall"].as_f64().unwrap();
    let flagged = a["faithful_flag_rate"].as_f64().unwrap();
    assert!(
        recall >= 0.98,
        "contradiction recall {recall}: {}",
        a["misses"]
    );
    assert!(
        flagged <= 0.10,
        "faithful variants flagged {flagged}: {}",
        a["misses"]
    );
    for kind in [
        "amount_swap",
        "deadline_swap",
        "negation_inserted",
        "entity_swap",
        "reordered",
    ] {
        assert!(
            a["by_kind"][kind]["cases"].as_u64().unwrap() > 0,
            "no {kind} cases"
        );
    }
}

#[test]
fn checker_on_halueval_pairs_reports_precision_and_recall() {
    let data = tempfile::tempdir().unwrap();
    let pairs = common::dataset("halueval_qa_en/pairs.jsonl");
    let out = common::concord(
        data.path(),
        &[
            "eval",
            "check",
            "--pairs",
            pairs.to_str().unwrap(),
            "--limit",
            "150",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["pairs"], 150);
    for side in ["against_canonical", "against_knowledge"] {
        let r = &v[side];
        assert_eq!(r["positives"], 100, "2 of 3 pairs are hallucinated");
        let p = r["overall"]["precision"].as_f64().unwrap();
        let rec = r["overall"]["recall"].as_f64().unwrap();
        // Measured on these 150 pairs: precision 1.0 on both sides, recall 0.98 against the
        // approved answer and 0.50 against the knowledge text (only facts and names are seen).
        let min_recall = if side == "against_canonical" {
            0.9
        } else {
            0.4
        };
        assert!(p >= 0.95, "{side}: precision {p}");
        assert!(rec >= min_recall, "{side}: recall {rec}");
    }
    // A broken pairs file is a clear error.
    let bad = data.path().join("bad.jsonl");
    fs_err::write(&bad, "{\"hypothesis\": 1}\n").unwrap();
    let out = common::concord(
        data.path(),
        &["eval", "check", "--pairs", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("bad.jsonl:1"),
        "{}",
        common::stderr(&out)
    );
}

/// Replies a person writes (eval/faithful_demo): wrapped or paraphrased faithful replies are
/// rarely flagged and the slips are caught, the shop's name grounded as the gate grounds it. A
/// ratchet on today's figures (README "Checker figures"): 11 of 240 faithful replies flagged, 37
/// of 48 slips caught (the two missed since the name is grounded here as in the gate are
/// invented things named after the shop, "the Polna Półka mobile app").
#[test]
fn faithful_replies_a_person_writes_are_rarely_flagged() {
    use concord::check::CheckSettings;
    use concord::eval::checker::{evaluate_pairs, load_pairs};
    let dir = common::repo().join("eval/faithful_demo");
    let settings = CheckSettings::default();
    // The shop's name is grounded as the gate grounds it.
    let shop = common::config(std::path::Path::new("unused"))
        .prompts
        .business_name;
    // e5's similarities never fall below `min_similarity`: no embedder needed for the verdicts.
    let report = |file: &str| {
        let pairs = load_pairs(&dir.join(file), None).unwrap();
        evaluate_pairs(&pairs, true, &[shop.as_str()], &settings, |_, _| None)
    };
    let (tuned, heldout) = (report("pairs.jsonl"), report("heldout.jsonl"));
    let heldout2 = report("heldout2.jsonl");
    assert_eq!(
        (tuned.negatives, heldout.negatives, heldout2.negatives),
        (96, 64, 80)
    );
    let flagged = tuned.false_flags.len() + heldout.false_flags.len() + heldout2.false_flags.len();
    assert!(
        flagged <= 11,
        "{flagged} faithful replies flagged: {:?} {:?} {:?}",
        tuned.false_flags,
        heldout.false_flags,
        heldout2.false_flags
    );
    assert!(
        tuned.misses.len() <= 11,
        "{} of 48 slips passed: {:?}",
        tuned.misses.len(),
        tuned.misses
    );
}
