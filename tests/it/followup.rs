//! Follow-up questions through the turn: the second message of each conversation in
//! eval/demo/followups.jsonl only makes sense with the first; with the conversation it must match
//! the right approved answer more often than on its own.

use concord::assistant::{PastMessage, TurnRequest};
use concord::knowledge::Lang;
use serde::Deserialize;

use crate::common;

#[derive(Deserialize)]
struct Conversation {
    lang: String,
    first: String,
    then: String,
    canonical: String,
}

#[test]
fn follow_ups_are_matched_with_the_conversation() {
    let (_dir, cfg, _index) = common::demo_index();
    let mut assistant = concord::assistant::Assistant::load(cfg, None).expect("assistant");
    assistant.settings.drafts = false;
    let assistant = std::sync::Arc::new(assistant);
    let text = fs_err::read_to_string(common::repo().join("eval/demo/followups.jsonl")).unwrap();
    let conversations: Vec<Conversation> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(conversations.len(), 20);
    let (mut right, mut alone_right, mut sent) = (0, 0, 0);
    let mut misses = Vec::new();
    for c in &conversations {
        let lang = if c.lang == "pl" { Lang::Pl } else { Lang::En };
        let first = assistant
            .start_turn(TurnRequest::new(c.first.as_str(), Some(lang)))
            .run(|_| {})
            .unwrap();
        let request = TurnRequest {
            message: c.then.clone(),
            history: vec![
                PastMessage {
                    text: c.first.clone(),
                    from_customer: true,
                },
                PastMessage {
                    text: first.reply.text.clone(),
                    from_customer: false,
                },
            ],
            lang: Some(lang),
            client: None,
            ..TurnRequest::default()
        };
        let outcome = assistant.start_turn(request).run(|_| {}).unwrap();
        let matched = outcome.canonical.as_ref().map(|m| m.id.0.clone());
        if matched.as_deref() == Some(c.canonical.as_str()) {
            right += 1;
            sent += usize::from(outcome.decision.action.as_str().starts_with("send"));
        } else {
            misses.push(format!(
                "{:?} -> {matched:?} (want {})",
                c.then, c.canonical
            ));
        }
        let alone = assistant
            .start_turn(TurnRequest::new(c.then.as_str(), Some(lang)))
            .run(|_| {})
            .unwrap();
        alone_right += usize::from(
            alone.canonical.as_ref().map(|m| m.id.0.as_str()) == Some(c.canonical.as_str()),
        );
    }
    eprintln!("follow-ups: {right}/20 matched with the conversation ({sent} sent without staff), {alone_right}/20 alone; missed: {misses:#?}");
    // A ratchet: 13 of 20 on 2026-12-05 (the message alone: 11; the two messages simply joined:
    // 4, the first topic wins); 16 once the match weighed the answer texts (alone: 9); 17 once
    // the approved answer just sent is no candidate for its follow-up. The target is 20 (issue
    // 17); the bound only goes up.
    assert!(right >= 17, "{right}/20 matched; missed: {misses:#?}");
    assert!(
        alone_right < right,
        "the conversation must matter: {alone_right} alone vs {right}"
    );
}
