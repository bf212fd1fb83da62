//! Personalisation slots (`{{customer_name}}`, `{{order_id}}`, `{{order_status}}`...) in approved
//! answers and drafts, filled by code from the conversation's context after the check.
//!
//! A slot is `{{name}}` or `{{name|fallback text}}`. With no value, the inline fallback is used;
//! else a built-in neutral form (the name and the order number simply disappear); else the whole
//! sentence holding the slot is left out, so the customer never reads a hole or a placeholder.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::knowledge::slots::{find_slots, SlotRef};

/// The values the host page passes for a conversation (`name -> value`).
pub type SlotValues = BTreeMap<String, String>;

/// The slots Concord knows; others are still filled when a value is given.
pub const KNOWN_SLOTS: &[&str] = &["customer_name", "order_id", "order_status"];

/// Longest value accepted for a slot; longer ones are treated as missing.
const MAX_VALUE_CHARS: usize = 120;

/// The text with its slots resolved, and what happened to each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filled {
    pub text: String,
    /// Slots filled with a value from the context.
    pub filled: Vec<String>,
    /// Slots without a value (a fallback was used or the sentence was left out).
    pub missing: Vec<String>,
}

/// Fills the slots of `text` from `values`; see the module documentation for missing values.
pub fn fill_slots(text: &str, values: &SlotValues) -> Filled {
    let slots = find_slots(text);
    let mut filled = Vec::new();
    let mut missing = Vec::new();
    if slots.is_empty() {
        return Filled {
            text: text.to_string(),
            filled,
            missing,
        };
    }
    // Work sentence by sentence so that a slot with no neutral form drops its sentence only.
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (s_start, s_end) in sentences(&chars) {
        let mut piece = String::new();
        let mut drop_sentence = false;
        let mut pos = s_start;
        for slot in slots
            .iter()
            .filter(|s| s.start >= s_start && s.start < s_end)
        {
            piece.extend(&chars[pos..slot.start]);
            pos = slot.end;
            match usable(values.get(&slot.name)) {
                Some(v) => {
                    piece.push_str(&v);
                    filled.push(slot.name.clone());
                }
                None => {
                    missing.push(slot.name.clone());
                    match slot
                        .fallback
                        .as_deref()
                        .or_else(|| neutral_form(&slot.name))
                    {
                        Some(f) => piece.push_str(f),
                        None => drop_sentence = true,
                    }
                }
            }
        }
        piece.extend(&chars[pos..s_end.max(pos)]);
        if !drop_sentence {
            out.push_str(&piece);
        }
    }
    Filled {
        text: tidy(&out),
        filled,
        missing,
    }
}

/// A value is used as plain text, on one line, if it is short and holds no slot syntax.
fn usable(value: Option<&String>) -> Option<String> {
    let v = value?.trim();
    if v.is_empty() || v.chars().count() > MAX_VALUE_CHARS || v.contains("{{") || v.contains("}}") {
        return None;
    }
    Some(v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The neutral replacement of a known slot with no value: names and numbers just disappear
/// ("Dzień dobry {{customer_name}}," becomes "Dzień dobry,"). `None`: leave the sentence out.
fn neutral_form(name: &str) -> Option<&'static str> {
    match name {
        "customer_name" | "order_id" => Some(""),
        _ => None,
    }
}

/// Sentence ranges (character offsets, end exclusive, trailing whitespace included) of `chars`.
fn sentences(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let ends = matches!(c, '.' | '!' | '?' | '\n')
            && (i + 1 == chars.len() || chars[i + 1].is_whitespace());
        if ends {
            let mut end = i + 1;
            while end < chars.len() && chars[end].is_whitespace() {
                end += 1;
            }
            out.push((start, end));
            start = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if start < chars.len() {
        out.push((start, chars.len()));
    }
    out
}

/// Repairs what an empty slot leaves behind: doubled spaces, a space before punctuation, a
/// dangling ":" before the sentence end.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let mut s = body
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        for p in [" ,", " .", " :", " ;", " !", " ?"] {
            while s.contains(p) {
                s = s.replace(p, &p[1..]);
            }
        }
        s = s.replace(",.", ".").replace(":.", ".").replace(",,", ",");
        out.push_str(&s);
        out.push_str(nl);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> SlotValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const PL: &str = "Status zamówienia {{order_id}}: {{order_status}}. Aktualny status zawsze sprawdzisz w „Moje konto” → „Moje zamówienia”.";
    const EN: &str = "Status of order {{order_id}}: {{order_status}}. You can always check the current status under \"My account\" → \"My orders\".";

    #[test]
    fn finds_slots_with_character_offsets_and_fallbacks() {
        let s =
            find_slots("Cześć {{customer_name|}}! Zamówienie {{ order_id }} i {{bad slot}} {{x");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "customer_name");
        assert_eq!(s[0].fallback.as_deref(), Some(""));
        assert_eq!((s[0].start, s[0].end), (6, 24));
        assert_eq!(s[1].name, "order_id");
        assert_eq!(s[1].fallback, None);
    }

    #[test]
    fn fills_every_slot_from_the_context() {
        let v = values(&[("order_id", "PP-2026-10442"), ("order_status", "wysłane")]);
        let f = fill_slots(PL, &v);
        assert!(f
            .text
            .starts_with("Status zamówienia PP-2026-10442: wysłane. Aktualny"));
        assert_eq!(f.filled, ["order_id", "order_status"]);
        assert!(f.missing.is_empty());
        let f = fill_slots(
            EN,
            &values(&[("order_id", "PP-1"), ("order_status", "shipped")]),
        );
        assert!(
            f.text.starts_with("Status of order PP-1: shipped. You can"),
            "{}",
            f.text
        );
    }

    #[test]
    fn a_missing_status_drops_its_sentence_and_a_missing_id_disappears() {
        let f = fill_slots(PL, &SlotValues::new());
        assert_eq!(
            f.text,
            "Aktualny status zawsze sprawdzisz w „Moje konto” → „Moje zamówienia”."
        );
        assert_eq!(f.missing, ["order_id", "order_status"]);
        let f = fill_slots(EN, &values(&[("order_status", "delivered")]));
        assert!(
            f.text.starts_with("Status of order: delivered. You can"),
            "{}",
            f.text
        );
        assert!(!f.text.contains("{{"));
    }

    #[test]
    fn a_missing_name_leaves_clean_punctuation_in_both_languages() {
        let f = fill_slots(
            "Dzień dobry {{customer_name}}, paczka jest w drodze.",
            &SlotValues::new(),
        );
        assert_eq!(f.text, "Dzień dobry, paczka jest w drodze.");
        let f = fill_slots(
            "Hello {{customer_name}}! Your parcel is on its way.",
            &SlotValues::new(),
        );
        assert_eq!(f.text, "Hello! Your parcel is on its way.");
        let f = fill_slots(
            "Hello {{customer_name}}! Your parcel is on its way.",
            &values(&[("customer_name", "Anna")]),
        );
        assert_eq!(f.text, "Hello Anna! Your parcel is on its way.");
    }

    #[test]
    fn inline_fallbacks_win_over_dropping() {
        let f = fill_slots(
            "Your order is {{order_status|being processed}}. Thank you.",
            &SlotValues::new(),
        );
        assert_eq!(f.text, "Your order is being processed. Thank you.");
    }

    #[test]
    fn values_are_plain_text_and_bounded() {
        let v = values(&[
            ("customer_name", "Anna\n  Nowak"),
            ("order_status", "{{order_id}}"),
        ]);
        let f = fill_slots("Hi {{customer_name}}. Status: {{order_status}}. Bye.", &v);
        assert_eq!(f.text, "Hi Anna Nowak. Bye.");
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        let f = fill_slots(
            "Hi {{customer_name}}.",
            &values(&[("customer_name", &long)]),
        );
        assert_eq!(f.text, "Hi.");
    }

    #[test]
    fn text_without_slots_is_unchanged() {
        let t = "Zwrot jest bezpłatny.  Odeślij paczkę w 30 dni.";
        assert_eq!(fill_slots(t, &SlotValues::new()).text, t);
    }
}

/// The reverse of [`fill_slots`] for saving a sent answer as an approved one: each slot value
/// of this conversation (at least 2 characters) found in `text` becomes its `{{slot}}` again,
/// so one customer's name or order never lands in the knowledge base.
pub fn unfill_slots(text: &str, values: &SlotValues) -> String {
    let mut pairs: Vec<(&String, &String)> = values
        .iter()
        .filter(|(_, v)| v.trim().chars().count() >= 2)
        .collect();
    // Longer values first, so that a value inside another does not split it.
    pairs.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for (k, v) in pairs {
        out = out.replace(v.trim(), &format!("{{{{{k}}}}}"));
    }
    out
}

#[cfg(test)]
mod unfill_tests {
    use super::*;

    #[test]
    fn slot_values_become_slots_again() {
        let mut values = SlotValues::new();
        values.insert("customer_name".into(), "Anna".into());
        values.insert("order_id".into(), "PP-2024-00123".into());
        values.insert("order_status".into(), "x".into());
        let text = "Dzień dobry Anna, zamówienie PP-2024-00123 jest w drodze (x).";
        assert_eq!(
            unfill_slots(text, &values),
            "Dzień dobry {{customer_name}}, zamówienie {{order_id}} jest w drodze (x)."
        );
        // Filling them back gives the text again.
        assert_eq!(fill_slots(&unfill_slots(text, &values), &values).text, text);
    }
}
