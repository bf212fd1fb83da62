//! Heading-aware chunking: an article becomes passages of at most `max_tokens` embedder word
//! pieces (title and heading path included), cut at paragraph, sentence or word boundaries, with overlap.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::{Article, DocId, Lang};

/// Passage sizes (`[chunking]`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChunkingConfig {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

/// Identifier of a passage: `<article id>#<ordinal>`, stable for the same article text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChunkId(pub String);

impl std::fmt::Display for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One passage of an article, the unit of retrieval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub id: ChunkId,
    pub doc: DocId,
    pub ord: usize,
    pub lang: Lang,
    pub title: String,
    /// Headings above this passage, outermost first (the article's own H1 is left out).
    pub headings: Vec<String>,
    pub url: Option<String>,
    /// The passage text: exactly `article.body[span]`.
    pub text: String,
    /// Byte range of the passage in the article body.
    pub span: Range<usize>,
    /// Word pieces of [`Chunk::embed_text`] (without the model's special tokens).
    pub tokens: usize,
}

impl Chunk {
    /// "Title > Heading > Subheading", the context line put before the text when embedding.
    pub fn context_line(&self) -> String {
        context_line(&self.title, &self.headings)
    }

    /// The text the embedder sees: context line, newline, passage.
    pub fn embed_text(&self) -> String {
        let ctx = self.context_line();
        if ctx.is_empty() {
            self.text.clone()
        } else {
            format!("{ctx}\n{}", self.text)
        }
    }
}

fn context_line(title: &str, headings: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !title.is_empty() {
        parts.push(title);
    }
    parts.extend(headings.iter().map(String::as_str));
    parts.join(" > ")
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("tokenizer failed on article `{doc}`: {message}")]
    Tokenizer { doc: DocId, message: String },
}

/// A run of article text under one heading path (heading lines themselves excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub headings: Vec<String>,
    pub span: Range<usize>,
}

/// Splits Markdown into sections at ATX headings (`#` to `######`), ignoring `#` lines inside
/// fenced code blocks. A leading H1 equal to `title` does not enter heading paths.
pub fn split_sections(body: &str, title: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut start = 0usize;
    let mut pos = 0usize;
    let mut fence: Option<&str> = None;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let line_start = pos;
        pos += line.len();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if trimmed.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        let Some((level, text)) = atx_heading(line) else {
            continue;
        };
        sections.push(Section {
            headings: stack.iter().map(|(_, h)| h.clone()).collect(),
            span: start..line_start,
        });
        start = pos;
        while stack.last().is_some_and(|(l, _)| *l >= level) {
            stack.pop();
        }
        let is_title = level == 1 && text.eq_ignore_ascii_case(title.trim());
        if !is_title && !text.is_empty() {
            stack.push((level, text));
        } else if is_title {
            // Keep the level so that deeper headings nest under it without repeating the title.
            stack.retain(|(l, _)| *l < 1);
        }
    }
    sections.push(Section {
        headings: stack.iter().map(|(_, h)| h.clone()).collect(),
        span: start..body.len(),
    });
    sections
        .into_iter()
        .filter(|s| !body[s.span.clone()].trim().is_empty())
        .collect()
}

/// `## Heading ##` -> (2, "Heading"). Up to three leading spaces, as in CommonMark.
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with([' ', '\t', '\n', '\r'])) {
        return None;
    }
    let text = after.trim().trim_end_matches('#').trim().to_string();
    Some((level, text))
}

/// What cuts text into the embedder's word pieces: byte ranges into `text` of each piece,
/// special tokens excluded. The embedder implements it; so does a plain `tokenizers::Tokenizer`.
pub trait Pieces {
    fn piece_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>, String>;
}

impl Pieces for Tokenizer {
    fn piece_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>, String> {
        let enc = self.encode(text, false).map_err(|e| e.to_string())?;
        Ok(piece_offsets_of(&enc))
    }
}

/// Byte ranges of an encoding's pieces, special tokens excluded.
pub fn piece_offsets_of(enc: &tokenizers::Encoding) -> Vec<(usize, usize)> {
    enc.get_offsets()
        .iter()
        .zip(enc.get_special_tokens_mask())
        .filter(|(_, &special)| special == 0)
        .map(|(&o, _)| o)
        .collect()
}

fn token_offsets(
    tok: &dyn Pieces,
    text: &str,
    doc: &DocId,
) -> Result<Vec<(usize, usize)>, ChunkError> {
    tok.piece_offsets(text)
        .map_err(|message| ChunkError::Tokenizer {
            doc: doc.clone(),
            message,
        })
}

fn count_tokens(tok: &dyn Pieces, text: &str, doc: &DocId) -> Result<usize, ChunkError> {
    Ok(token_offsets(tok, text, doc)?.len())
}

/// Strength of the boundary in `gap` (the text between two tokens): paragraph > sentence > line > word.
fn boundary_rank(gap: &str, prev_token: &str) -> u8 {
    if gap.contains("\n\n") || gap.contains("\r\n\r\n") {
        4
    } else if !gap.is_empty()
        && gap.chars().all(char::is_whitespace)
        && prev_token.ends_with(['.', '!', '?', ':', ';'])
    {
        3
    } else if gap.contains('\n') {
        2
    } else if gap.chars().any(char::is_whitespace) {
        1
    } else {
        0
    }
}

/// Cuts an article into passages within `cfg.max_tokens` word pieces, context line included.
/// Every non-whitespace character of the body outside heading lines lies in some passage.
pub fn chunk_article(
    article: &Article,
    tok: &dyn Pieces,
    cfg: &ChunkingConfig,
) -> Result<Vec<Chunk>, ChunkError> {
    let doc = &article.id;
    let mut chunks = Vec::new();
    for section in split_sections(&article.body, &article.title) {
        let mut title = article.title.clone();
        let mut headings = section.headings.clone();
        // A context line may take at most half the budget: drop outer headings, then cut the title.
        let mut ctx_tokens = count_tokens(tok, &context_line(&title, &headings), doc)?;
        while ctx_tokens > cfg.max_tokens / 2 && !headings.is_empty() {
            headings.remove(0);
            ctx_tokens = count_tokens(tok, &context_line(&title, &headings), doc)?;
        }
        if ctx_tokens > cfg.max_tokens / 2 {
            let offs = token_offsets(tok, &title, doc)?;
            let keep = offs.get(cfg.max_tokens / 4).map_or(title.len(), |o| o.0);
            title.truncate(keep);
            title = title.trim_end().to_string();
            ctx_tokens = count_tokens(tok, &context_line(&title, &headings), doc)?;
        }
        let budget = cfg.max_tokens.saturating_sub(ctx_tokens).max(1);
        let overlap = cfg.overlap_tokens.min(budget / 2);

        let base = section.span.start;
        let raw = &article.body[section.span.clone()];
        let lead = raw.len() - raw.trim_start().len();
        let content = raw.trim();
        let base = base + lead;
        let offs = token_offsets(tok, content, doc)?;
        if offs.is_empty() {
            // Text the tokenizer ignores entirely still belongs to the article: keep it as is.
            chunks.push((
                title.clone(),
                headings.clone(),
                base..base + content.len(),
                ctx_tokens,
            ));
            continue;
        }
        let n = offs.len();
        let mut start_tok = 0usize;
        let mut span_start = 0usize; // byte offset in `content`
        loop {
            let mut end_tok = (start_tok + budget).min(n);
            if end_tok < n {
                let lo = start_tok + budget.div_ceil(2);
                let mut best: Option<(u8, usize)> = None;
                for i in (lo.max(start_tok + 1)..=end_tok).rev() {
                    let gap = &content[offs[i - 1].1..offs[i].0];
                    let prev = &content[offs[i - 1].0..offs[i - 1].1];
                    let rank = boundary_rank(gap, prev);
                    if rank > 0 && best.is_none_or(|(r, _)| rank > r) {
                        best = Some((rank, i));
                    }
                }
                if let Some((_, i)) = best {
                    end_tok = i;
                }
            }
            // Shrink until the re-tokenized passage fits (cuts inside a word can re-tokenize longer).
            let (span_end, tokens) = loop {
                let span_end = if end_tok == n {
                    content.len()
                } else {
                    // Extend over characters that make no token, up to the next token.
                    content[..offs[end_tok].0]
                        .trim_end()
                        .len()
                        .max(offs[end_tok - 1].1)
                };
                let t = count_tokens(tok, &content[span_start..span_end], doc)?;
                if t <= budget || end_tok <= start_tok + 1 {
                    break (span_end, t);
                }
                end_tok -= 1;
            };
            chunks.push((
                title.clone(),
                headings.clone(),
                base + span_start..base + span_end,
                ctx_tokens + tokens,
            ));
            if end_tok >= n {
                break;
            }
            // Next passage starts `overlap` tokens back, at a word boundary, always moving forward.
            let mut next = end_tok.saturating_sub(overlap).max(start_tok + 1);
            while next < end_tok {
                let gap = &content[offs[next - 1].1..offs[next].0];
                if gap.chars().any(char::is_whitespace) {
                    break;
                }
                next += 1;
            }
            span_start = if next == end_tok {
                // No overlap: continue right after the previous passage, so nothing is skipped.
                let rest = &content[span_end..];
                span_end + (rest.len() - rest.trim_start().len())
            } else {
                offs[next].0
            };
            start_tok = next;
        }
    }
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(ord, (title, headings, span, tokens))| Chunk {
            id: ChunkId(format!("{doc}#{ord}")),
            doc: doc.clone(),
            ord,
            lang: article.lang,
            title,
            headings,
            url: article.url.clone(),
            text: article.body[span.clone()].to_string(),
            span,
            tokens,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;

    /// A real BERT-style WordPiece tokenizer over a small vocabulary: words outside it become
    /// `[UNK]` (one piece), words built from known pieces split into several.
    fn wordpiece() -> Tokenizer {
        let mut vocab = ahash::AHashMap::new();
        let words = [
            "[UNK]", "[CLS]", "[SEP]", "zwrot", "##y", "dni", "masz", "30", "14", "na", "the",
            "return", "##s", "days", "you", "have", "to", ".", ",", "?", "!", "a", "##b", "##c",
        ];
        for (i, w) in words.iter().enumerate() {
            vocab.insert(w.to_string(), i as u32);
        }
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .max_input_chars_per_word(10_000)
            .build()
            .expect("valid wordpiece");
        let mut tok = Tokenizer::new(model);
        tok.with_normalizer(Some(BertNormalizer::new(true, true, Some(true), true)))
            .expect("normalizer set");
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        tok
    }

    fn article(title: &str, body: &str) -> Article {
        Article {
            id: DocId("doc".into()),
            title: title.into(),
            lang: Lang::En,
            url: None,
            updated: None,
            tags: vec![],
            body: body.into(),
            origin: "test".into(),
        }
    }

    fn heading_lines(body: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut fence = false;
        for line in body.split_inclusive('\n') {
            let t = line.trim_start();
            if t.starts_with("```") || t.starts_with("~~~") {
                fence = !fence;
            } else if !fence && atx_heading(line).is_some() {
                out.push(pos..pos + line.len());
            }
            pos += line.len();
        }
        out
    }

    fn check_invariants(a: &Article, chunks: &[Chunk], cfg: &ChunkingConfig, tok: &Tokenizer) {
        let headings = heading_lines(&a.body);
        let mut covered = vec![false; a.body.len()];
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ord, i);
            assert_eq!(c.id.0, format!("doc#{i}"));
            assert_eq!(&a.body[c.span.clone()], c.text);
            assert!(
                c.tokens <= cfg.max_tokens,
                "{} > {}",
                c.tokens,
                cfg.max_tokens
            );
            let real = tok.encode(c.embed_text(), false).unwrap().len();
            assert_eq!(real, c.tokens, "token count of {:?}", c.embed_text());
            covered[c.span.clone()].iter_mut().for_each(|b| *b = true);
        }
        for (i, ch) in a.body.char_indices() {
            let in_heading = headings.iter().any(|h| h.contains(&i));
            if !ch.is_whitespace() && !in_heading {
                assert!(
                    covered[i],
                    "byte {i} ({ch:?}) of {:?} is in no passage",
                    a.body
                );
            }
        }
        // Spans move forward within a section.
        for w in chunks.windows(2) {
            if w[0].headings == w[1].headings {
                assert!(w[1].span.start >= w[0].span.start);
            }
        }
    }

    #[test]
    fn sections_follow_headings_and_skip_code_fences() {
        let body = "# Returns\n\nIntro.\n\n## Deadline\n\nYou have 30 days.\n\n```\n# not a heading\n```\n\n### Exceptions\nSome.\n\n## Refunds\nPaid in 14 days.\n";
        let s = split_sections(body, "Returns");
        let paths: Vec<_> = s.iter().map(|s| s.headings.join("/")).collect();
        assert_eq!(
            paths,
            vec!["", "Deadline", "Deadline/Exceptions", "Refunds"]
        );
        assert!(body[s[1].span.clone()].contains("# not a heading"));
        assert!(!body[s[1].span.clone()].contains("## Deadline"));
    }

    #[test]
    fn long_sections_split_at_sentences_with_overlap() {
        let tok = wordpiece();
        let sentence = "You have 30 days to return. ";
        let body = format!("## Returns\n\n{}", sentence.repeat(40));
        let a = article("Help", &body);
        let cfg = ChunkingConfig {
            max_tokens: 40,
            overlap_tokens: 8,
        };
        let chunks = chunk_article(&a, &tok, &cfg).unwrap();
        assert!(chunks.len() > 3);
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.text.ends_with('.'), "cut at a sentence end: {:?}", c.text);
        }
        // Overlap: each passage starts before the previous one ends.
        for w in chunks.windows(2) {
            assert!(w[1].span.start < w[0].span.end);
        }
        assert_eq!(chunks[0].context_line(), "Help > Returns");
        check_invariants(&a, &chunks, &cfg, &tok);
    }

    #[test]
    fn one_giant_word_is_cut_inside() {
        let tok = wordpiece();
        let a = article("", &format!("a{}", "bc".repeat(200)));
        let cfg = ChunkingConfig {
            max_tokens: 20,
            overlap_tokens: 0,
        };
        let chunks = chunk_article(&a, &tok, &cfg).unwrap();
        assert!(chunks.len() > 10);
        check_invariants(&a, &chunks, &cfg, &tok);
    }

    #[test]
    fn same_input_gives_same_ids_and_spans() {
        let tok = wordpiece();
        let a = article(
            "T",
            "## A\n\nmasz 30 dni na zwroty.\n\n## B\n\nthe returns.\n",
        );
        let cfg = ChunkingConfig {
            max_tokens: 16,
            overlap_tokens: 2,
        };
        let one = chunk_article(&a, &tok, &cfg).unwrap();
        let two = chunk_article(&a, &tok, &cfg).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.len(), 2);
        assert_eq!(one[1].headings, vec!["B".to_string()]);
    }

    fn markdownish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("## Heading two\n".to_string()),
            Just("# Title\n".to_string()),
            Just("### Deeper\n".to_string()),
            Just("\n\n".to_string()),
            Just("```\n# code\n```\n".to_string()),
            "[a-c ]{0,30}",
            "(masz|30|dni|zwroty|the|days|return|zażółć|🙂|\\.|,|\\?)( |\n){0,2}",
            "[\\PC]{0,12}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn chunking_loses_no_text_and_respects_the_budget(
            body in markdownish(),
            title in "[a-z ]{0,20}",
            max in 12usize..60,
            overlap_frac in 0usize..50,
        ) {
            let tok = wordpiece();
            let cfg = ChunkingConfig { max_tokens: max, overlap_tokens: max * overlap_frac / 100 };
            let a = article(&title, &body);
            let chunks = chunk_article(&a, &tok, &cfg).unwrap();
            check_invariants(&a, &chunks, &cfg, &tok);
            prop_assert_eq!(chunks, chunk_article(&a, &tok, &cfg).unwrap());
        }
    }
}
