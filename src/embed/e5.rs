//! multilingual-e5-small from its packed 4-bit file: the tokenizer built from the file's vocabulary
//! and normalisation, and the model with its word table and matrices kept 4-bit.

use std::collections::HashMap;

use tokenizers::models::unigram::Unigram;
use tokenizers::normalizer::NormalizedString;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{Normalizer, TokenizerImpl};

use super::e5blob::{dequantize_blocks, Blob, BlobError, DType as BlobDType, Q4_BLOCK_BYTES, QK};
use super::encoder::{Encoder, Layer, Linear, Norm, Q4Matrix};

/// The e5 tokenizer built with the tokenizers crate: the blob's per-character normalisation,
/// runs of spaces collapsed, a metaspace prepended, Unigram over the blob's pieces,
/// `<s> $A </s>`. Its trie of 250k pieces takes 257 MB, so Concord runs its own
/// [`super::unigram::UnigramTokenizer`]; this one is the reference it is tested against.
pub type E5Tokenizer =
    TokenizerImpl<Unigram, E5Normalizer, Metaspace, TemplateProcessing, Metaspace>;

/// Replaces characters by the blob's map (control characters vanish, tabs and newlines become
/// spaces, compatibility forms are folded), then keeps one space of each run.
#[derive(Debug, Clone)]
pub struct E5Normalizer {
    map: HashMap<char, String>,
}

impl Normalizer for E5Normalizer {
    fn normalize(&self, normalized: &mut NormalizedString) -> tokenizers::Result<()> {
        // (char, change): 0 replaces one original char, 1 is inserted, -n also removes the n
        // original chars after it; removals before the first kept char go to `initial`.
        let mut out: Vec<(char, isize)> = Vec::with_capacity(normalized.get().len());
        let mut initial = 0usize;
        for ch in normalized.get().chars() {
            let mut kept = 0;
            let mut emit = |c: char, out: &mut Vec<(char, isize)>| {
                if c == ' ' && out.last().is_some_and(|(p, _)| *p == ' ') {
                    return;
                }
                out.push((c, if kept == 0 { 0 } else { 1 }));
                kept += 1;
            };
            match self.map.get(&ch) {
                Some(to) => to.chars().for_each(|c| emit(c, &mut out)),
                None => emit(ch, &mut out),
            }
            if kept == 0 {
                match out.last_mut() {
                    Some(last) => last.1 -= 1,
                    None => initial += 1,
                }
            }
        }
        normalized.transform(out, initial);
        Ok(())
    }
}

/// Builds the reference tokenizer from the blob (no padding or truncation).
pub fn reference_tokenizer(blob: &Blob) -> Result<E5Tokenizer, BlobError> {
    let v = &blob.vocab;
    let err = |what: &str, e: tokenizers::Error| BlobError::Invalid(format!("{what}: {e}"));
    let model = Unigram::from(v.pieces.clone(), Some(v.unk as usize), false)
        .map_err(|e| err("Unigram vocabulary", e))?;
    let piece = |id: u32| v.pieces[id as usize].0.clone();
    let template = TemplateProcessing::builder()
        .try_single(format!("{} $A {}", piece(v.bos), piece(v.eos)))
        .map_err(|e| BlobError::Invalid(format!("template: {e}")))?
        .special_tokens(vec![(piece(v.bos), v.bos), (piece(v.eos), v.eos)])
        .build()
        .map_err(|e| BlobError::Invalid(format!("template: {e}")))?;
    tokenizers::TokenizerBuilder::new()
        .with_model(model)
        .with_normalizer(Some(E5Normalizer {
            map: blob.normalisation.clone(),
        }))
        .with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)))
        .with_post_processor(Some(template))
        .with_decoder(Some(Metaspace::new('▁', PrependScheme::Always, true)))
        .build()
        .map_err(|e| err("tokenizer", e))
}

/// The 250k x 384 word table, 4-bit: each row is read from the model file when looked up and
/// dequantized, so the 54 MB table stays in the page cache (shared and reclaimable) instead of
/// the process's memory; a query reads a few dozen rows.
struct WordRows {
    file: fs_err::File,
    start: u64,
    rows: usize,
    row_bytes: usize,
}

/// Running the model failed.
#[derive(Debug, thiserror::Error)]
pub enum E5Error {
    #[error("a text of {len} tokens is longer than the model's {max} positions")]
    TooLong { len: usize, max: usize },
    #[error("token id {id} is outside the {rows}-row word table")]
    Outside { id: usize, rows: usize },
    #[error("reading word row {id} from the e5 model file: {source}")]
    Io { id: usize, source: std::io::Error },
}

impl WordRows {
    /// Row `id` dequantized into `out` (`hidden` values).
    fn read(&self, id: usize, out: &mut [f32]) -> Result<(), E5Error> {
        use std::os::unix::fs::FileExt;
        if id >= self.rows {
            return Err(E5Error::Outside {
                id,
                rows: self.rows,
            });
        }
        let mut row = vec![0u8; self.row_bytes];
        self.file
            .file()
            .read_exact_at(&mut row, self.start + (id * self.row_bytes) as u64)
            .map_err(|source| E5Error::Io { id, source })?;
        dequantize_blocks(&row, out);
        Ok(())
    }
}

/// The model: word rows read from the file and dequantized when looked up (see [`WordRows`]),
/// positions and token type 0 added and normalised, then the encoder (see [`Encoder`]), which
/// keeps its matrices 4-bit (11 MB instead of 85 MB of f32).
pub struct E5Model {
    words: WordRows,
    hidden: usize,
    /// Position rows with token type 0 already added: (max_positions, hidden).
    positions: Vec<f32>,
    norm: Norm,
    encoder: Encoder,
}

impl E5Model {
    /// Builds the model from a parsed blob read from `path` (the word table's rows are read from
    /// `path` when looked up).
    pub fn load(blob: &Blob, path: &std::path::Path) -> Result<E5Model, E5LoadError> {
        let h = blob.header;
        let d = h.hidden;
        let shape = |what: &str| BlobError::Invalid(format!("{what}: shape does not fit"));
        let linear = |name: &str, out: usize, inp: usize| -> Result<Linear, E5LoadError> {
            let bytes = blob.tensor(&format!("{name}.w"), BlobDType::Q4_0, out * inp)?;
            let weight = Q4Matrix::new(out, inp, bytes.to_vec()).ok_or_else(|| shape(name))?;
            let bias = blob.f32s(&format!("{name}.b"), out)?;
            Ok(Linear::new(weight, bias).ok_or_else(|| shape(name))?)
        };
        let norm = |name: &str| -> Result<Norm, E5LoadError> {
            Ok(Norm {
                weight: blob.f32s(&format!("{name}.w"), d)?,
                bias: blob.f32s(&format!("{name}.b"), d)?,
                eps: h.eps as f32,
            })
        };
        if !d.is_multiple_of(h.heads) {
            return Err(shape("attention heads").into());
        }
        let mut layers = Vec::with_capacity(h.layers);
        for l in 0..h.layers {
            let p = |s: &str| format!("l{l}.{s}");
            layers.push(Layer::new(
                [
                    linear(&p("q"), d, d)?,
                    linear(&p("k"), d, d)?,
                    linear(&p("v"), d, d)?,
                    linear(&p("ao"), d, d)?,
                    linear(&p("fi"), h.ffn, d)?,
                    linear(&p("fo"), d, h.ffn)?,
                ],
                norm(&p("aln"))?,
                norm(&p("oln"))?,
            ));
        }
        let mut positions = blob.f32s("emb.pos", h.max_positions * d)?;
        let token_type = blob.f32s("emb.type", h.type_vocab * d)?;
        for row in positions.chunks_exact_mut(d) {
            for (p, t) in row.iter_mut().zip(&token_type[..d]) {
                *p += t;
            }
        }
        let range = blob.tensor_range("emb.word", BlobDType::Q4_0, h.vocab * d)?;
        let file = fs_err::File::open(path)
            .map_err(|e| BlobError::Invalid(format!("the word table: {e}")))?;
        Ok(E5Model {
            words: WordRows {
                file,
                start: range.start as u64,
                rows: h.vocab,
                row_bytes: d / QK * Q4_BLOCK_BYTES,
            },
            hidden: d,
            positions,
            norm: norm("emb.ln")?,
            encoder: Encoder {
                layers,
                heads: h.heads,
                hidden: d,
            },
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The mean of the last hidden states over each text's tokens (`texts`: token ids with
    /// specials, none longer than the position table). The texts are packed one after another,
    /// so no work goes to padding.
    pub fn mean_pooled(&self, texts: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, E5Error> {
        let d = self.hidden;
        let lens: Vec<usize> = texts.iter().map(Vec::len).collect();
        let max = self.positions.len() / d;
        if let Some(&len) = lens.iter().find(|&&l| l > max) {
            return Err(E5Error::TooLong { len, max });
        }
        let total: usize = lens.iter().sum();
        let mut x = vec![0f32; total * d];
        // Each distinct id is read once.
        let mut seen: HashMap<u32, Vec<f32>> = HashMap::new();
        for id in texts.iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(*id) {
                let mut row = vec![0f32; d];
                self.words.read(*id as usize, &mut row)?;
                slot.insert(row);
            }
        }
        let mut rows = x.chunks_exact_mut(d);
        for ids in texts {
            for (&id, position) in ids.iter().zip(self.positions.chunks_exact(d)) {
                let out = rows.next().expect("one row per token");
                for ((o, w), p) in out.iter_mut().zip(&seen[&id]).zip(position) {
                    *o = w + p;
                }
            }
        }
        self.norm.apply(&mut x);
        let x = self.encoder.forward(x, &lens);
        let mut pooled = Vec::with_capacity(texts.len());
        let mut at = 0;
        for len in lens {
            let mut mean = vec![0f32; d];
            for row in x[at * d..(at + len) * d].chunks_exact(d) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            mean.iter_mut().for_each(|m| *m /= len.max(1) as f32);
            pooled.push(mean);
            at += len;
        }
        Ok(pooled)
    }
}

/// Loading the model from a parsed blob failed.
#[derive(Debug, thiserror::Error)]
pub enum E5LoadError {
    #[error(transparent)]
    Blob(#[from] BlobError),
}
