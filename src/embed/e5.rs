//! multilingual-e5-small from its packed 4-bit file: the tokenizer built from the file's vocabulary
//! and normalisation, and candle's BERT encoder behind a word table that stays quantized.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{BertEncoder, Config as BertConfig, HiddenAct};
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizer::NormalizedString;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{Normalizer, TokenizerImpl};

use super::e5blob::{dequantize_block, Blob, BlobError, DType as BlobDType, Q4_BLOCK_BYTES, QK};

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

impl WordRows {
    /// Row `id` dequantized into `out` (`hidden` values).
    fn read(&self, id: usize, out: &mut [f32]) -> candle_core::Result<()> {
        use std::os::unix::fs::FileExt;
        if id >= self.rows {
            candle_core::bail!("token id {id} outside the {}-row word table", self.rows);
        }
        let mut row = vec![0u8; self.row_bytes];
        self.file
            .file()
            .read_exact_at(&mut row, self.start + (id * self.row_bytes) as u64)
            .map_err(|e| candle_core::Error::Msg(format!("reading word row {id}: {e}")))?;
        for (block, o) in row
            .chunks_exact(Q4_BLOCK_BYTES)
            .zip(out.chunks_exact_mut(QK))
        {
            dequantize_block(block, o);
        }
        Ok(())
    }
}

/// The encoder with its input layer: word rows are read from the file and dequantized when
/// looked up (see [`WordRows`]), positions and token type 0 added, normalised.
pub struct E5Model {
    words: WordRows,
    hidden: usize,
    positions: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
    encoder: BertEncoder,
    device: Device,
}

impl E5Model {
    /// Builds the model from a parsed blob read from `path` (the encoder's matrices dequantized
    /// to f32; the word table's rows are read from `path` when looked up).
    pub fn load(
        blob: &Blob,
        path: &std::path::Path,
        device: &Device,
    ) -> Result<E5Model, E5LoadError> {
        let h = blob.header;
        let d = h.hidden;
        let f32_tensor = |name: &str, shape: &[usize]| -> Result<Tensor, E5LoadError> {
            let n = shape.iter().product();
            Ok(Tensor::from_vec(blob.f32s(name, n)?, shape, device)?)
        };
        // A matrix is stored transposed in memory and handed over as a transposed view: the
        // encoder's linear layers multiply by `weight.t()`, which is then row-major, and gemm
        // packs it with contiguous copies instead of a strided gather of every weight on every
        // call (half of a query's time before).
        let q4_tensor = |name: &str, shape: &[usize]| -> Result<Tensor, E5LoadError> {
            let n = shape.iter().product();
            let w = Tensor::from_vec(blob.dequantized(name, n)?, shape, device)?;
            Ok(w.t()?.contiguous()?.t()?)
        };
        let mut vars: HashMap<String, Tensor> = HashMap::new();
        for l in 0..h.layers {
            let p = format!("layer.{l}");
            let pairs = [
                ("q", "attention.self.query", d),
                ("k", "attention.self.key", d),
                ("v", "attention.self.value", d),
                ("ao", "attention.output.dense", d),
                ("fi", "intermediate.dense", h.ffn),
                ("fo", "output.dense", d),
            ];
            for (short, hf, out) in pairs {
                let inp = if short == "fo" { h.ffn } else { d };
                vars.insert(
                    format!("{p}.{hf}.weight"),
                    q4_tensor(&format!("l{l}.{short}.w"), &[out, inp])?,
                );
                vars.insert(
                    format!("{p}.{hf}.bias"),
                    f32_tensor(&format!("l{l}.{short}.b"), &[out])?,
                );
            }
            for (short, hf) in [
                ("aln", "attention.output.LayerNorm"),
                ("oln", "output.LayerNorm"),
            ] {
                vars.insert(
                    format!("{p}.{hf}.weight"),
                    f32_tensor(&format!("l{l}.{short}.w"), &[d])?,
                );
                vars.insert(
                    format!("{p}.{hf}.bias"),
                    f32_tensor(&format!("l{l}.{short}.b"), &[d])?,
                );
            }
        }
        let config = BertConfig {
            vocab_size: h.vocab,
            hidden_size: d,
            num_hidden_layers: h.layers,
            num_attention_heads: h.heads,
            intermediate_size: h.ffn,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.0,
            max_position_embeddings: h.max_positions,
            type_vocab_size: h.type_vocab,
            initializer_range: 0.02,
            layer_norm_eps: h.eps,
            pad_token_id: blob.vocab.pad as usize,
            classifier_dropout: None,
            model_type: Some("bert".into()),
            ..BertConfig::default()
        };
        let encoder =
            BertEncoder::load(VarBuilder::from_tensors(vars, DType::F32, device), &config)?;
        let norm = LayerNorm::new(
            f32_tensor("emb.ln.w", &[d])?,
            f32_tensor("emb.ln.b", &[d])?,
            h.eps,
        );
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
            positions: f32_tensor("emb.pos", &[h.max_positions, d])?,
            token_type: f32_tensor("emb.type", &[h.type_vocab, d])?.get(0)?,
            norm,
            encoder,
            device: device.clone(),
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Hidden states (batch, seq, hidden) for padded `ids` (batch, seq) and their 0/1 `mask`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (n, len) = ids.dims2()?;
        let d = self.hidden;
        let ids = ids.flatten_all()?.to_vec1::<u32>()?;
        // Each distinct id is read once (padding repeats one id many times).
        let mut seen: HashMap<u32, usize> = HashMap::new();
        let mut distinct: Vec<f32> = Vec::new();
        let mut rows = vec![0f32; n * len * d];
        for (&id, out) in ids.iter().zip(rows.chunks_exact_mut(d)) {
            let at = match seen.get(&id) {
                Some(&at) => at,
                None => {
                    let at = distinct.len();
                    distinct.resize(at + d, 0.0);
                    self.words.read(id as usize, &mut distinct[at..at + d])?;
                    seen.insert(id, at);
                    at
                }
            };
            out.copy_from_slice(&distinct[at..at + d]);
        }
        let words = Tensor::from_vec(rows, (n, len, d), &self.device)?;
        let extra = self
            .positions
            .narrow(0, 0, len)?
            .broadcast_add(&self.token_type)?;
        let x = self.norm.forward(&words.broadcast_add(&extra)?)?;
        // Additive attention mask: 0 where kept, a large negative number on padding.
        let additive = ((mask.to_dtype(DType::F32)? - 1.0)? * f64::from(f32::MAX))?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        self.encoder.forward(&x, &additive)
    }
}

/// Loading the model from a parsed blob failed.
#[derive(Debug, thiserror::Error)]
pub enum E5LoadError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("building the e5 encoder: {0}")]
    Candle(#[from] candle_core::Error),
}
