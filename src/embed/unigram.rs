//! e5's tokenizer in 43 MB instead of the tokenizers crate's 257 MB trie: the blob's character
//! normalisation, metaspace words, Unigram Viterbi over a hashed piece table, byte offsets.

use std::collections::HashMap;

use super::e5blob::Vocab;

/// Below the lowest piece score: what an unknown character costs (as SentencePiece does).
const UNK_PENALTY: f64 = 10.0;
/// The metaspace that marks a word's start.
const SPACE: char = '\u{2581}';

/// A piece table entry: the id when the text is a whole piece; every proper prefix of a piece is
/// also stored (without an id) so the search stops as soon as no piece can continue.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: Option<u32>,
}

/// Tokenizes as the tokenizers crate's `Unigram` behind e5's normaliser and `Metaspace`
/// (prepend always, split on spaces) does: the same ids and offsets, checked on the demo
/// knowledge base and the reference fixture in `tests/it/e5.rs`.
pub struct UnigramTokenizer {
    table: HashMap<Box<str>, Entry>,
    scores: Vec<f64>,
    unk: u32,
    bos: u32,
    eos: u32,
    unk_score: f64,
    map: HashMap<char, String>,
}

/// Pieces of a text, specials excluded: ids and byte ranges in the original text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
}

impl UnigramTokenizer {
    pub fn new(vocab: &Vocab, map: &HashMap<char, String>) -> UnigramTokenizer {
        let mut table: HashMap<Box<str>, Entry> = HashMap::new();
        let mut min_score = f64::INFINITY;
        for (id, (piece, score)) in vocab.pieces.iter().enumerate() {
            min_score = min_score.min(*score);
            if piece.is_empty() {
                continue;
            }
            for (end, _) in piece.char_indices().skip(1) {
                table
                    .entry(piece[..end].into())
                    .or_insert(Entry { id: None });
            }
            // The first piece of a given text keeps it (as a map from text to id would).
            let e = table
                .entry(piece.as_str().into())
                .or_insert(Entry { id: None });
            if e.id.is_none() {
                e.id = Some(id as u32);
            }
        }
        table.shrink_to_fit();
        UnigramTokenizer {
            table,
            scores: vocab.pieces.iter().map(|p| p.1).collect(),
            unk: vocab.unk,
            bos: vocab.bos,
            eos: vocab.eos,
            unk_score: min_score - UNK_PENALTY,
            map: map.clone(),
        }
    }

    /// Ids with `<s>` before and `</s>` after.
    pub fn ids_with_specials(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        ids.push(self.bos);
        ids.extend(self.encode(text).ids);
        ids.push(self.eos);
        ids
    }

    /// The pieces of `text`, without specials.
    pub fn encode(&self, text: &str) -> Pieces {
        let normalized = self.normalize(text);
        let mut out = Pieces::default();
        // Words start at each metaspace; each is segmented on its own.
        let mut start = 0;
        for i in 1..=normalized.len() {
            if i == normalized.len() || normalized[i].0 == SPACE {
                self.segment(&normalized[start..i], &mut out);
                start = i;
            }
        }
        out
    }

    /// The normalised text as (char, original byte range): the blob's per-character map, runs
    /// of spaces kept once, spaces as metaspaces and one metaspace in front (none for an empty
    /// text).
    fn normalize(&self, text: &str) -> Vec<(char, (usize, usize))> {
        let mut out: Vec<(char, (usize, usize))> = Vec::with_capacity(text.len() + 1);
        for (at, ch) in text.char_indices() {
            let range = (at, at + ch.len_utf8());
            let mut push = |c: char| {
                if c == ' ' && out.last().is_some_and(|(p, _)| *p == SPACE) {
                    return;
                }
                out.push((if c == ' ' { SPACE } else { c }, range));
            };
            match self.map.get(&ch) {
                Some(to) => to.chars().for_each(&mut push),
                None => push(ch),
            }
        }
        if let Some(&(_, at)) = out.first().filter(|(c, _)| *c != SPACE) {
            out.insert(0, (SPACE, at));
        }
        out
    }

    /// Viterbi over one word: the best-scoring pieces, unknown characters as `<unk>` (a run of
    /// them fused into one).
    fn segment(&self, word: &[(char, (usize, usize))], out: &mut Pieces) {
        if word.is_empty() {
            return;
        }
        let text: String = word.iter().map(|(c, _)| *c).collect();
        // Byte position in `text` of each char, and the end.
        let mut at: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        at.push(text.len());
        let n = word.len();
        // best[i]: (score, start char, id) of the best path ending at char i.
        let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; n + 1];
        best[0] = Some((0.0, 0, 0));
        for s in 0..n {
            let Some((here, _, _)) = best[s] else {
                continue;
            };
            let mut single = false;
            for e in s + 1..=n {
                let Some(entry) = self.table.get(&text[at[s]..at[e]]) else {
                    break;
                };
                let Some(id) = entry.id else {
                    continue;
                };
                let score = here + self.scores[id as usize];
                if best[e].is_none_or(|(b, _, _)| score > b) {
                    best[e] = Some((score, s, id));
                }
                single |= e == s + 1;
            }
            if !single {
                let score = here + self.unk_score;
                if best[s + 1].is_none_or(|(b, _, _)| score > b) {
                    best[s + 1] = Some((score, s, self.unk));
                }
            }
        }
        // Walk back, fusing runs of unknown pieces.
        let mut pieces: Vec<(usize, usize, u32)> = Vec::new();
        let mut end = n;
        while end > 0 {
            let (_, start, id) = best[end].expect("every char is reachable");
            match pieces.last_mut() {
                Some(last) if id == self.unk && last.2 == self.unk => last.0 = start,
                _ => pieces.push((start, end, id)),
            }
            end = start;
        }
        for (s, e, id) in pieces.into_iter().rev() {
            out.ids.push(id);
            out.offsets.push((word[s].1 .0, word[e - 1].1 .1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        let pieces = [
            ("<pad>", 0.0),
            ("<s>", 0.0),
            ("</s>", 0.0),
            ("<unk>", 0.0),
            ("\u{2581}", -2.0),
            ("\u{2581}zwrot", -5.0),
            ("\u{2581}zw", -4.0),
            ("rot", -4.0),
            ("\u{2581}w", -3.0),
            ("\u{2581}30", -6.0),
            ("\u{2581}dni", -5.0),
            ("a", -3.0),
            ("b", -3.0),
        ];
        Vocab {
            pieces: pieces.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
            bos: 1,
            eos: 2,
            pad: 0,
            unk: 3,
        }
    }

    #[test]
    fn best_path_offsets_and_unknown_runs() {
        let map = HashMap::from([('\t', " ".to_string()), ('\u{200b}', String::new())]);
        let t = UnigramTokenizer::new(&vocab(), &map);
        // "▁zwrot" (-5) beats "▁zw" + "rot" (-8); tabs and runs of spaces are one space.
        let p = t.encode("zwrot \t w 30\u{200b} dni");
        assert_eq!(p.ids, vec![5, 8, 9, 10]);
        assert_eq!(p.offsets, vec![(0, 5), (5, 9), (9, 12), (15, 19)]);
        assert_eq!(t.ids_with_specials("zwrot"), vec![1, 5, 2]);
        // Unknown characters: one <unk> for a run, offsets over the whole run.
        let p = t.encode("ab\u{1F600}\u{1F600}b");
        assert_eq!(p.ids, vec![4, 11, 12, 3, 12]);
        assert_eq!(p.offsets[3], (2, 10));
        // Nothing to tokenize; a lone space is a metaspace.
        assert_eq!(t.ids_with_specials(""), vec![1, 2]);
        assert_eq!(t.ids_with_specials("\u{200b}"), vec![1, 2]);
        assert_eq!(t.encode(" ").ids, vec![4]);
    }
}
