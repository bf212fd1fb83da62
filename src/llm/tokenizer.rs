//! The LLM tokenizer, built from a GGUF file's `tokenizer.ggml.*` metadata so that it matches
//! llama.cpp id for id (`gpt2` byte-level BPE such as SmolLM2, `llama` SentencePiece-BPE such as
//! Gemma 3). See `shared/MODELS-NOTES.md` section 3 for why candle's own builder is not used.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

/// A tokenizer file beside the model takes precedence over the GGUF metadata.
pub const TOKENIZER_JSON: &str = "tokenizer.json";

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
const KEY_UNK: &str = "tokenizer.ggml.unknown_token_id";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";

/// SentencePiece's word-boundary marker, which stands for a space in `llama` vocabularies.
const SPIECE_SPACE: &str = "\u{2581}";

/// llama.cpp's token types (`llama_token_type`); the others (unknown 2, unused 5, byte 6) stay
/// ordinary vocabulary entries.
const TYPE_NORMAL: i32 = 1;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path} is not a readable GGUF file: {source}")]
    Gguf {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error("cannot load the tokenizer {path}: {source}")]
    TokenizerJson {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    #[error("GGUF metadata has no `{key}`: it holds no tokenizer")]
    MissingKey { key: &'static str },
    #[error("GGUF metadata `{key}` is {found}, expected {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("GGUF metadata `{key}` has {actual} entries, expected {expected} (one per token)")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("GGUF metadata `{key}` is {id}, outside the vocabulary of {vocab} tokens")]
    IdOutOfRange {
        key: &'static str,
        id: u64,
        vocab: usize,
    },
    #[error("entry {index} of `{KEY_MERGES}` is {merge:?}, not two tokens separated by a space")]
    BadMerge { index: usize, merge: String },
    #[error(
        "unsupported tokenizer model {model:?} (`{KEY_MODEL}`); supported: \"gpt2\", \"llama\""
    )]
    UnsupportedModel { model: String },
    #[error("cannot build the {model} tokenizer: {source}")]
    Build {
        model: &'static str,
        #[source]
        source: tokenizers::Error,
    },
    #[error("cannot encode {chars} characters: {source}")]
    Encode {
        chars: usize,
        #[source]
        source: tokenizers::Error,
    },
    #[error("cannot decode {ids} token ids: {source}")]
    Decode {
        ids: usize,
        #[source]
        source: tokenizers::Error,
    },
}

/// A text tokenizer for one GGUF model, with the special ids generation needs.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    inner: Tokenizer,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
}

impl GgufTokenizer {
    /// Beginning-of-sequence id (`tokenizer.ggml.bos_token_id`).
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// End-of-sequence id (`tokenizer.ggml.eos_token_id`); for SmolLM2 this is `<|im_end|>`.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Whether [`encode`](Self::encode) with `add_special` prepends BOS
    /// (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The id of a token given as its exact vocabulary string, such as `"<end_of_turn>"`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) become their ids,
    /// as in llama.cpp's default; `add_special` adds BOS (and EOS) as the model asks.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.inner
            .encode_fast(text, add_special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|source| TokenizerError::Encode {
                chars: text.chars().count(),
                source,
            })
    }

    /// The text of `ids`, special tokens included as their strings. Bytes that do not form
    /// complete UTF-8 characters become U+FFFD, so decode whole sequences, not single tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, false)
            .map_err(|source| TokenizerError::Decode {
                ids: ids.len(),
                source,
            })
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// `text` with every added token written in it (`<start_of_turn>`, `<|im_start|>`, `[INST]`)
    /// broken by a word joiner after its first character, so that [`encode`](Self::encode)
    /// reads it as plain text: customer and knowledge text cannot write control tokens.
    pub fn defuse(&self, text: &str) -> String {
        let mut out = text.to_string();
        if !text.contains(['<', '[', '|']) {
            return out;
        }
        for token in self.added_markup() {
            if out.contains(token.as_str()) {
                let mut chars = token.chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                let broken = format!("{first}\u{2060}{}", chars.as_str());
                out = out.replace(token.as_str(), &broken);
            }
        }
        out
    }

    /// Added tokens that look like markup (start with `<`, `[` or `|` and are longer than one
    /// character), longest first.
    fn added_markup(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self
            .inner
            .get_added_tokens_decoder()
            .into_values()
            .map(|t| t.content)
            .filter(|c| c.chars().count() > 1 && c.starts_with(['<', '[', '|']))
            .collect();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        tokens.dedup();
        tokens
    }
}

/// The tokenizer of the GGUF model at `model_path`. Reads the file's header and metadata only,
/// not the tensors. A `tokenizer.json` beside the model file, if present, is used instead of the
/// GGUF vocabulary (the special ids and `add_bos` still come from the GGUF metadata).
pub fn load_tokenizer(model_path: &Path) -> Result<GgufTokenizer, TokenizerError> {
    let started = Instant::now();
    let mut reader = BufReader::new(fs_err::File::open(model_path)?);
    let content = Content::read(&mut reader).map_err(|source| TokenizerError::Gguf {
        path: model_path.to_path_buf(),
        source,
    })?;
    let json = model_path.with_file_name(TOKENIZER_JSON);
    let from_json = json.is_file();
    let tokenizer = if from_json {
        let inner =
            Tokenizer::from_file(&json).map_err(|source| TokenizerError::TokenizerJson {
                path: json.clone(),
                source,
            })?;
        // llama.cpp adds BOS by default for SentencePiece models only.
        let default_add_bos = matches!(
            content.metadata.get(KEY_MODEL),
            Some(Value::String(model)) if model == "llama"
        );
        let special = SpecialIds::read(
            &content.metadata,
            inner.get_vocab_size(true),
            default_add_bos,
        )?;
        GgufTokenizer {
            inner,
            bos_id: special.bos,
            eos_id: special.eos,
            add_bos: special.add_bos,
        }
    } else {
        tokenizer_from_gguf(&content)?
    };
    tracing::debug!(
        model = %model_path.display(),
        from_json,
        vocab = tokenizer.inner.get_vocab_size(true),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "tokenizer loaded"
    );
    Ok(tokenizer)
}

/// The tokenizer described by the `tokenizer.ggml.*` metadata of a GGUF file.
pub fn tokenizer_from_gguf(content: &Content) -> Result<GgufTokenizer, TokenizerError> {
    let md = &content.metadata;
    let model = get_str(md, KEY_MODEL)?;
    let tokens = str_array(md, KEY_TOKENS)?;
    let types = match md.get(KEY_TYPES) {
        Some(_) => i32_array(md, KEY_TYPES, tokens.len())?,
        None => vec![TYPE_NORMAL; tokens.len()],
    };
    let (mut inner, default_add_bos) = match model {
        "gpt2" => (byte_level_bpe(md, &tokens)?, false),
        "llama" => {
            let scores = f32_array(md, KEY_SCORES, tokens.len())?;
            (sentencepiece_bpe(md, &tokens, &scores, &types)?, true)
        }
        other => {
            return Err(TokenizerError::UnsupportedModel {
                model: other.to_string(),
            })
        }
    };
    add_typed_tokens(&mut inner, &tokens, &types)?;
    let special = SpecialIds::read(md, tokens.len(), default_add_bos)?;
    if let Some(post) = special.post_processor(&tokens)? {
        inner.with_post_processor(Some(post));
    }
    Ok(GgufTokenizer {
        inner,
        bos_id: special.bos,
        eos_id: special.eos,
        add_bos: special.add_bos,
    })
}

/// `gpt2`: byte-level BPE from the vocabulary and the merges, with llama.cpp's `smollm`
/// pre-tokenizer (single digits, then the GPT-2 regex).
fn byte_level_bpe(md: &Metadata, tokens: &[&str]) -> Result<Tokenizer, TokenizerError> {
    let merges = str_array(md, KEY_MERGES)?
        .into_iter()
        .enumerate()
        .map(|(index, merge)| match merge.split_once(' ') {
            Some((l, r)) if !l.is_empty() && !r.is_empty() => Ok((l.to_string(), r.to_string())),
            Some(_) | None => Err(TokenizerError::BadMerge {
                index,
                merge: merge.to_string(),
            }),
        })
        .collect::<Result<Merges, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .build()
        .map_err(|source| TokenizerError::Build {
            model: "gpt2",
            source,
        })?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

/// `llama`: SentencePiece-BPE, with merges derived from the scores ([`sentencepiece_merges`]).
fn sentencepiece_bpe(
    md: &Metadata,
    tokens: &[&str],
    scores: &[f32],
    types: &[i32],
) -> Result<Tokenizer, TokenizerError> {
    let build_error = |source| TokenizerError::Build {
        model: "llama",
        source,
    };
    let unk = match opt_id(md, KEY_UNK, tokens.len())? {
        Some(id) => tokens[id as usize],
        None => "<unk>",
    };
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), sentencepiece_merges(tokens, scores, types))
        .byte_fallback(true)
        .fuse_unk(true)
        .unk_token(unk.to_string())
        .build()
        .map_err(build_error)?;
    let mut tokenizer = Tokenizer::new(bpe);
    // llama.cpp defaults to a prefix space for SentencePiece models; Gemma 3 turns it off.
    let mut normalizers = Vec::with_capacity(2);
    if opt_bool(md, KEY_ADD_SPACE_PREFIX)?.unwrap_or(true) {
        normalizers.push(NormalizerWrapper::Prepend(Prepend::new(
            SPIECE_SPACE.to_string(),
        )));
    }
    normalizers.push(NormalizerWrapper::Replace(
        Replace::new(" ", SPIECE_SPACE).map_err(build_error)?,
    ));
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(build_error)?;
    tokenizer.with_decoder(Some(DecoderSequence::new(vec![
        DecoderWrapper::Replace(Replace::new(SPIECE_SPACE, " ").map_err(build_error)?),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ])));
    Ok(tokenizer)
}

/// BPE merges of a SentencePiece vocabulary, derived as HF's `SentencePieceExtractor` does:
/// every split `(l, r)` of a normal token whose halves are both tokens is a merge, ranked by the
/// merged token's score (highest first), ties by the merged token's id, then by the ids of `l`
/// and `r`. Linear in the total length of the tokens, plus the sort.
pub fn sentencepiece_merges(tokens: &[&str], scores: &[f32], types: &[i32]) -> Merges {
    // Later duplicates win, as in llama.cpp's and HF's token-to-id maps.
    let ids: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut found: Vec<(f32, usize, usize, usize, &str, &str)> = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        if types.get(id).copied().unwrap_or(TYPE_NORMAL) != TYPE_NORMAL {
            continue;
        }
        let score = scores.get(id).copied().unwrap_or(0.0);
        for (at, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(at);
            if let (Some(&lid), Some(&rid)) = (ids.get(l), ids.get(r)) {
                found.push((score, id, lid, rid, l, r));
            }
        }
    }
    found.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    found
        .into_iter()
        .map(|(.., l, r)| (l.to_string(), r.to_string()))
        .collect()
}

/// Control tokens become special added tokens; user-defined tokens become non-special added
/// tokens matched on the raw text (llama.cpp matches them before any normalization).
fn add_typed_tokens(
    tokenizer: &mut Tokenizer,
    tokens: &[&str],
    types: &[i32],
) -> Result<(), TokenizerError> {
    let typed = |wanted: i32| {
        tokens
            .iter()
            .zip(types)
            .filter(move |(_, t)| **t == wanted)
            .map(|(token, _)| *token)
    };
    let build_error = |source| TokenizerError::Build {
        model: "added tokens",
        source,
    };
    tokenizer
        .add_special_tokens(typed(TYPE_CONTROL).map(|t| AddedToken::from(t, true)))
        .map_err(build_error)?;
    tokenizer
        .add_tokens(typed(TYPE_USER_DEFINED).map(|t| AddedToken::from(t, false).normalized(false)))
        .map_err(build_error)?;
    Ok(())
}

fn vocab(tokens: &[&str]) -> Vocab {
    tokens
        .iter()
        .zip(0u32..)
        .map(|(t, id)| (t.to_string(), id))
        .collect()
}

/// The special ids and what `encode(.., add_special = true)` adds.
struct SpecialIds {
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
}

impl SpecialIds {
    fn read(md: &Metadata, vocab: usize, default_add_bos: bool) -> Result<Self, TokenizerError> {
        let bos = opt_id(md, KEY_BOS, vocab)?;
        let eos = opt_id(md, KEY_EOS, vocab)?;
        let add_bos = opt_bool(md, KEY_ADD_BOS)?.unwrap_or(default_add_bos) && bos.is_some();
        let add_eos = opt_bool(md, KEY_ADD_EOS)?.unwrap_or(false) && eos.is_some();
        Ok(SpecialIds {
            bos,
            eos,
            add_bos,
            add_eos,
        })
    }

    /// `<bos> $A` (and/or `$A <eos>`) when the model asks for them, else `None`.
    fn post_processor(
        &self,
        tokens: &[&str],
    ) -> Result<Option<TemplateProcessing>, TokenizerError> {
        let bos = self.bos.filter(|_| self.add_bos);
        let eos = self.eos.filter(|_| self.add_eos);
        if bos.is_none() && eos.is_none() {
            return Ok(None);
        }
        let specials: Vec<(String, u32)> = bos
            .into_iter()
            .chain(eos)
            .map(|id| (tokens[id as usize].to_string(), id))
            .collect();
        let template = |seq: &str, type_id: u32| {
            let mut pieces = Vec::with_capacity(3);
            if let Some(id) = bos {
                pieces.push(format!("{}:{type_id}", tokens[id as usize]));
            }
            pieces.push(format!("{seq}:{type_id}"));
            if let Some(id) = eos {
                pieces.push(format!("{}:{type_id}", tokens[id as usize]));
            }
            pieces
        };
        let mut pair = template("$A", 0);
        pair.extend(template("$B", 1));
        let build_error = |e: String| TokenizerError::Build {
            model: "post-processor",
            source: e.into(),
        };
        TemplateProcessing::builder()
            .try_single(template("$A", 0))
            .map_err(build_error)?
            .try_pair(pair)
            .map_err(build_error)?
            .special_tokens(specials)
            .build()
            .map(Some)
            .map_err(|e| build_error(e.to_string()))
    }
}

type Metadata = HashMap<String, Value>;

fn get<'a>(md: &'a Metadata, key: &'static str) -> Result<&'a Value, TokenizerError> {
    md.get(key).ok_or(TokenizerError::MissingKey { key })
}

fn get_str<'a>(md: &'a Metadata, key: &'static str) -> Result<&'a str, TokenizerError> {
    let value = get(md, key)?;
    if let Value::String(s) = value {
        Ok(s)
    } else {
        Err(wrong_type(key, "a string", value))
    }
}

fn opt_bool(md: &Metadata, key: &'static str) -> Result<Option<bool>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(key, "a boolean", other)),
    }
}

/// An optional token id, checked against the vocabulary size.
fn opt_id(md: &Metadata, key: &'static str, vocab: usize) -> Result<Option<u32>, TokenizerError> {
    let Some(value) = md.get(key) else {
        return Ok(None);
    };
    let id: i128 = match value {
        Value::U8(v) => (*v).into(),
        Value::I8(v) => (*v).into(),
        Value::U16(v) => (*v).into(),
        Value::I16(v) => (*v).into(),
        Value::U32(v) => (*v).into(),
        Value::I32(v) => (*v).into(),
        Value::U64(v) => (*v).into(),
        Value::I64(v) => (*v).into(),
        other @ (Value::F32(_)
        | Value::F64(_)
        | Value::Bool(_)
        | Value::String(_)
        | Value::Array(_)) => return Err(wrong_type(key, "an integer", other)),
    };
    // llama.cpp writes -1 (or u32::MAX) for "no such token".
    if id < 0 || id == i128::from(u32::MAX) {
        return Ok(None);
    }
    match u32::try_from(id) {
        Ok(id) if (id as usize) < vocab => Ok(Some(id)),
        Ok(_) | Err(_) => Err(TokenizerError::IdOutOfRange {
            key,
            id: u64::try_from(id).unwrap_or(u64::MAX),
            vocab,
        }),
    }
}

fn array<'a>(
    md: &'a Metadata,
    key: &'static str,
    expected: &'static str,
) -> Result<&'a [Value], TokenizerError> {
    let value = get(md, key)?;
    if let Value::Array(items) = value {
        Ok(items)
    } else {
        Err(wrong_type(key, expected, value))
    }
}

/// The elements of array `key`, each converted by `pick`; any element `pick` rejects is a
/// type error naming `expected`.
fn typed_array<'a, T>(
    md: &'a Metadata,
    key: &'static str,
    expected: &'static str,
    pick: impl Fn(&'a Value) -> Option<T>,
) -> Result<Vec<T>, TokenizerError> {
    array(md, key, expected)?
        .iter()
        .map(|v| pick(v).ok_or_else(|| wrong_type(key, expected, v)))
        .collect()
}

fn str_array<'a>(md: &'a Metadata, key: &'static str) -> Result<Vec<&'a str>, TokenizerError> {
    typed_array(md, key, "an array of strings", |v| {
        if let Value::String(s) = v {
            Some(s.as_str())
        } else {
            None
        }
    })
}

fn f32_array(md: &Metadata, key: &'static str, len: usize) -> Result<Vec<f32>, TokenizerError> {
    let values = typed_array(md, key, "an array of f32", |v| {
        if let Value::F32(x) = v {
            Some(*x)
        } else {
            None
        }
    })?;
    check_len(key, len, values)
}

fn i32_array(md: &Metadata, key: &'static str, len: usize) -> Result<Vec<i32>, TokenizerError> {
    let values = typed_array(md, key, "an array of i32", |v| {
        if let Value::I32(x) = v {
            Some(*x)
        } else {
            None
        }
    })?;
    check_len(key, len, values)
}

fn check_len<T>(
    key: &'static str,
    expected: usize,
    values: Vec<T>,
) -> Result<Vec<T>, TokenizerError> {
    if values.len() == expected {
        Ok(values)
    } else {
        Err(TokenizerError::LengthMismatch {
            key,
            expected,
            actual: values.len(),
        })
    }
}

fn wrong_type(key: &'static str, expected: &'static str, found: &Value) -> TokenizerError {
    let found = match found {
        Value::U8(_) => "a u8",
        Value::I8(_) => "an i8",
        Value::U16(_) => "a u16",
        Value::I16(_) => "an i16",
        Value::U32(_) => "a u32",
        Value::I32(_) => "an i32",
        Value::U64(_) => "a u64",
        Value::I64(_) => "an i64",
        Value::F32(_) => "an f32",
        Value::F64(_) => "an f64",
        Value::Bool(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    TokenizerError::WrongType {
        key,
        expected,
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::VersionedMagic;

    fn content(pairs: Vec<(&str, Value)>) -> Content {
        Content {
            magic: VersionedMagic::GgufV3,
            metadata: pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            tensor_infos: HashMap::new(),
            tensor_data_offset: 0,
        }
    }

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
    }

    fn pairs(merges: &Merges) -> Vec<(&str, &str)> {
        merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect()
    }

    #[test]
    fn merges_are_ranked_by_the_merged_token_score_then_id() {
        let tokens = ["<unk>", "a", "b", "c", "ab", "bc", "abc", "<ctl>"];
        let scores = [0.0, -1.0, -1.0, -1.0, -3.0, -2.0, -3.0, 0.0];
        let types = [2, 1, 1, 1, 1, 1, 1, 3];
        let merges = sentencepiece_merges(&tokens, &scores, &types);
        assert_eq!(
            pairs(&merges),
            [
                ("b", "c"),  // "bc", score -2
                ("a", "b"),  // "ab", score -3, id 4
                ("a", "bc"), // "abc", score -3, id 6: splits ordered by the left id
                ("ab", "c"),
            ]
        );
    }

    #[test]
    fn merges_skip_non_normal_tokens_and_split_on_characters() {
        let tokens = ["ż", "ó", "żó", "<x>", "<", "x>"];
        let scores = [0.0, 0.0, -1.0, 0.0, 0.0, 0.0];
        let types = [1, 1, 1, 3, 1, 1];
        let merges = sentencepiece_merges(&tokens, &scores, &types);
        assert_eq!(pairs(&merges), [("ż", "ó")]);
    }

    fn tiny_llama(add_space_prefix: bool) -> Content {
        let mut tokens = vec![
            "<unk>",
            "<eos>",
            "<bos>",
            "\u{2581}",
            "a",
            "b",
            "ab",
            "\u{2581}ab",
            "\n\n",
        ];
        let mut scores = vec![0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -2.0, -3.0, 0.0];
        let mut types = vec![2, 3, 3, 1, 1, 1, 1, 1, 4];
        let bytes: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        for b in &bytes {
            tokens.push(b);
            scores.push(0.0);
            types.push(6);
        }
        content(vec![
            (KEY_MODEL, Value::String("llama".into())),
            (KEY_TOKENS, strings(&tokens)),
            (
                KEY_SCORES,
                Value::Array(scores.into_iter().map(Value::F32).collect()),
            ),
            (
                KEY_TYPES,
                Value::Array(types.into_iter().map(Value::I32).collect()),
            ),
            (KEY_BOS, Value::U32(2)),
            (KEY_EOS, Value::U32(1)),
            (KEY_UNK, Value::U32(0)),
            (KEY_ADD_BOS, Value::Bool(true)),
            (KEY_ADD_SPACE_PREFIX, Value::Bool(add_space_prefix)),
        ])
    }

    #[test]
    fn a_tiny_sentencepiece_vocabulary_encodes_and_decodes() {
        let tok = tokenizer_from_gguf(&tiny_llama(false)).unwrap();
        assert_eq!(
            (tok.bos_id(), tok.eos_id(), tok.add_bos()),
            (Some(2), Some(1), true)
        );
        assert_eq!(tok.token_id("<eos>"), Some(1));
        // "▁ab" merges whole; "\n\n" is a user-defined token; "z" falls back to its byte.
        let ids = tok.encode("ab ab\n\nz", true).unwrap();
        let z = 9 + u32::from(b'z');
        assert_eq!(ids, [2, 6, 7, 8, z]);
        assert_eq!(tok.decode(&ids[1..]).unwrap(), "ab ab\n\nz");
        assert_eq!(tok.encode("ab<eos>", false).unwrap(), [6, 1]);
    }

    #[test]
    fn the_space_prefix_follows_the_metadata() {
        let tok = tokenizer_from_gguf(&tiny_llama(true)).unwrap();
        assert_eq!(tok.encode("ab", false).unwrap(), [7]);
    }

    #[test]
    fn a_tiny_byte_level_vocabulary_splits_digits() {
        let tokens = ["<|endoftext|>", "1", "2", "12", "a", "Ġ", "Ġa"];
        let md = content(vec![
            (KEY_MODEL, Value::String("gpt2".into())),
            (KEY_TOKENS, strings(&tokens)),
            (
                KEY_TYPES,
                Value::Array([3, 1, 1, 1, 1, 1, 1].map(Value::I32).to_vec()),
            ),
            (KEY_MERGES, strings(&["1 2", "Ġ a"])),
            (KEY_EOS, Value::U32(0)),
        ]);
        let tok = tokenizer_from_gguf(&md).unwrap();
        assert_eq!(
            (tok.bos_id(), tok.eos_id(), tok.add_bos()),
            (None, Some(0), false)
        );
        let ids = tok.encode("12 a<|endoftext|>", true).unwrap();
        assert_eq!(ids, [1, 2, 6, 0]);
        assert_eq!(tok.decode(&ids).unwrap(), "12 a<|endoftext|>");
    }

    #[test]
    fn bad_metadata_is_an_error_naming_the_key() {
        let err = tokenizer_from_gguf(&content(vec![])).unwrap_err();
        assert!(
            matches!(err, TokenizerError::MissingKey { key: KEY_MODEL }),
            "{err}"
        );

        let md = content(vec![
            (KEY_MODEL, Value::String("bert".into())),
            (KEY_TOKENS, strings(&["a"])),
        ]);
        let err = tokenizer_from_gguf(&md).unwrap_err();
        assert!(
            matches!(err, TokenizerError::UnsupportedModel { .. }),
            "{err}"
        );

        let md = content(vec![
            (KEY_MODEL, Value::String("gpt2".into())),
            (KEY_TOKENS, Value::Array(vec![Value::U32(1)])),
        ]);
        let err = tokenizer_from_gguf(&md).unwrap_err();
        assert!(
            matches!(
                err,
                TokenizerError::WrongType {
                    key: KEY_TOKENS,
                    ..
                }
            ),
            "{err}"
        );

        let md = content(vec![
            (KEY_MODEL, Value::String("gpt2".into())),
            (KEY_TOKENS, strings(&["a", "b", "ab"])),
            (KEY_MERGES, strings(&["ab"])),
        ]);
        let err = tokenizer_from_gguf(&md).unwrap_err();
        assert!(
            matches!(err, TokenizerError::BadMerge { index: 0, .. }),
            "{err}"
        );

        let md = content(vec![
            (KEY_MODEL, Value::String("llama".into())),
            (KEY_TOKENS, strings(&["a", "b"])),
            (KEY_SCORES, Value::Array(vec![Value::F32(0.0)])),
        ]);
        let err = tokenizer_from_gguf(&md).unwrap_err();
        assert!(
            matches!(
                err,
                TokenizerError::LengthMismatch {
                    key: KEY_SCORES,
                    expected: 2,
                    actual: 1
                }
            ),
            "{err}"
        );

        let md = content(vec![
            (KEY_MODEL, Value::String("gpt2".into())),
            (KEY_TOKENS, strings(&["a"])),
            (KEY_MERGES, strings(&[])),
            (KEY_BOS, Value::U32(7)),
        ]);
        let err = tokenizer_from_gguf(&md).unwrap_err();
        assert!(
            matches!(
                err,
                TokenizerError::IdOutOfRange {
                    key: KEY_BOS,
                    id: 7,
                    vocab: 1
                }
            ),
            "{err}"
        );
    }
}
