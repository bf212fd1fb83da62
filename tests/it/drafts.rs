//! `evaluate_drafts` end to end on the small knowledge base with SmolLM2: the report's counts and
//! rates are consistent and each case is scored from the text the model really generated.

use concord::answer::{DraftSettings, Prompts};
use concord::eval::drafts::{draft_cases, evaluate_drafts, facts, score_draft, DraftSetup};
use concord::knowledge::Lang;
use concord::retrieve::Retriever;

use crate::common::{self, SMOLLM2};

#[test]
fn draft_evaluation_scores_generated_drafts() {
    let data = tempfile::tempdir().unwrap();
    let (_kb, cfg, index) = common::small_index(data.path());
    let cases = draft_cases(&index, Lang::En, Some(2));
    assert_eq!(cases.len(), 2);
    assert!(cases[0].canonical.0 < cases[1].canonical.0, "id order");
    assert!(cases.iter().all(|c| c.canonical.0.starts_with("en-")));

    let g = common::generator(SMOLLM2);
    let prompts = Prompts::builtin().unwrap();
    let settings = DraftSettings {
        // Short drafts keep the test quick (tests run Concord's own code unoptimised).
        max_new_tokens: 32,
        ..DraftSettings::from_config(&cfg)
    };
    let setup = DraftSetup {
        generator: &g,
        prompts: &prompts,
        settings: &settings,
        index: &index,
        retriever: Retriever::new(&index, common::embedder(), cfg.retrieval),
        mode: cfg.retrieval.mode,
        k: cfg.retrieval.k,
        canonical_min_similarity: cfg.matching.min_score,
    };
    let report =
        evaluate_drafts(&setup, Lang::En, &cases, &indicatif::ProgressBar::hidden()).unwrap();

    assert_eq!(report.model, SMOLLM2);
    assert_eq!(report.lang, Lang::En);
    assert_eq!(report.cases, 2);
    assert_eq!(report.records.len(), 2);
    assert!(report.answers_with_facts <= 2);
    for rate in [
        report.all_facts_stated_rate,
        report.fact_recall,
        report.invented_number_rate,
        report.canonical_in_prompt_rate,
        report.own_canonical_in_prompt_rate,
        report.truncated_rate,
    ] {
        assert!((0.0..=1.0).contains(&rate), "{rate}");
    }
    assert!(report.mean_ttft_ms > 0.0 && report.mean_generated_tokens > 0.0);
    assert!(report.worst.len() <= 2);

    let mut scored_real_text = 0;
    for (record, case) in report.records.iter().zip(&cases) {
        assert_eq!(record.canonical, case.canonical);
        assert_eq!(record.question, case.question);
        assert!(record.passages > 0 && record.prompt_tokens > 100);
        assert!(record.generated_tokens <= 32);
        let s = &record.score;
        assert_eq!(s.canonical_facts, facts(&case.answer).len());
        assert_eq!(s.stated + s.missing.len(), s.canonical_facts);
        assert_eq!(s.all_stated, s.missing.is_empty());
        // The score is the one of the generated text (invented numbers aside, which depend on
        // the prompt).
        let again = score_draft(&case.answer, "", &record.draft);
        assert_eq!((again.stated, &again.missing), (s.stated, &s.missing));
        if !record.draft.trim().is_empty() && record.generated_tokens > 0 && s.canonical_facts > 0 {
            scored_real_text += 1;
        }
    }
    assert!(scored_real_text >= 1, "{:#?}", report.records);

    // The whole report serialises for `--json`.
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    assert!(v["records"][0]["score"]["invented"].is_array());
}
