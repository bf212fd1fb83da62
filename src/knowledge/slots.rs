//! The slot syntax of approved answers and drafts: `{{name}}` or `{{name|fallback text}}` (pure).
//! Filling slots with a conversation's values is the assistant's (`assistant::slots`).

use serde::Serialize;

/// One `{{...}}` occurrence in a text (character offsets, for the console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotRef {
    pub name: String,
    pub fallback: Option<String>,
    /// Character offsets of the whole `{{...}}`.
    pub start: usize,
    pub end: usize,
}

/// Every slot in `text`, in order. Unclosed braces are plain text.
pub fn find_slots(text: &str) -> Vec<SlotRef> {
    let mut out = Vec::new();
    let mut byte = 0;
    while let Some(open) = text[byte..].find("{{") {
        let open = byte + open;
        let Some(close) = text[open + 2..].find("}}") else {
            break;
        };
        let close = open + 2 + close;
        let inner = &text[open + 2..close];
        let (name, fallback) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(f.trim().to_string())),
            None => (inner.trim(), None),
        };
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(SlotRef {
                name: name.to_string(),
                fallback,
                start: text[..open].chars().count(),
                end: text[..close + 2].chars().count(),
            });
            byte = close + 2;
        } else {
            byte = open + 2;
        }
    }
    out
}
