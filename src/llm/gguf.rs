//! Opening a GGUF model file: header and metadata read and checked (architecture, hyperparameters,
//! tensor extents against the file size) before any weight is loaded, so bad files are errors.

use std::collections::HashMap;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;

use super::LlmError;

/// The model families Concord runs, named by the GGUF key `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama 2/3, SmolLM, Mistral-architecture models (Bielik): pre-norm, SiLU-gated MLP,
    /// interleaved RoPE (llama.cpp permutes the q/k rows at conversion).
    Llama,
    /// Qwen 2 / 2.5: as Llama with biases on q, k and v and NeoX RoPE.
    Qwen2,
    /// Qwen 3: as Llama with per-head RMS norms on q and k and NeoX RoPE.
    Qwen3,
    /// Gemma 3: GELU-gated MLP, q/k norms, post-norms, scaled embeddings, sliding-window layers
    /// with their own RoPE base.
    Gemma3,
}

impl Arch {
    /// The architecture named by `general.architecture`, or `None` when Concord has no forward
    /// pass for it.
    pub fn from_gguf_name(name: &str) -> Option<Arch> {
        match name {
            "llama" | "mistral" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            "qwen3" => Some(Arch::Qwen3),
            "gemma3" => Some(Arch::Gemma3),
            _ => None,
        }
    }

    /// Names accepted in `general.architecture`, for error messages.
    pub const SUPPORTED: &'static str = "llama, mistral, qwen2, qwen3, gemma3";
}

/// The hyperparameters a forward pass needs, read from `<arch>.*` metadata keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hparams {
    pub arch: Arch,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
    /// RoPE base of the sliding-window layers (Gemma 3: 10 000).
    pub rope_base_local: f32,
    /// Attention window of the local layers, in tokens.
    pub sliding_window: Option<usize>,
    /// Every `swa_pattern`-th layer attends globally; the others use the window (Gemma 3: 6).
    pub swa_pattern: usize,
    /// Context length the model was trained for.
    pub context_length: usize,
    pub vocab_size: usize,
}

impl Hparams {
    /// Whether layer `layer` attends through the sliding window.
    pub fn is_local(&self, layer: usize) -> bool {
        self.sliding_window.is_some() && !(layer + 1).is_multiple_of(self.swa_pattern)
    }
}

/// An opened GGUF file: its parsed header, checked to be complete.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: BufReader<fs_err::File>,
}

impl GgufFile {
    /// Reads and checks the header of the GGUF file at `path`: magic, metadata, tensor table, and
    /// that every tensor's bytes lie inside the file (a truncated download is caught here).
    pub fn open(path: &Path) -> Result<GgufFile, LlmError> {
        let mut reader = BufReader::new(fs_err::File::open(path)?);
        let content = Content::read(&mut reader).map_err(|source| LlmError::NotGguf {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let file_len = reader.seek(SeekFrom::End(0))?;
        for (name, info) in &content.tensor_infos {
            // Counted without overflow: the dimensions are whatever the file says.
            let block = info.ggml_dtype.block_size();
            let size = info
                .shape
                .dims()
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .filter(|elems| elems % block == 0)
                .and_then(|elems| (elems / block).checked_mul(info.ggml_dtype.type_size()));
            let end = size.and_then(|s| {
                content
                    .tensor_data_offset
                    .checked_add(info.offset)?
                    .checked_add(s as u64)
            });
            match end {
                Some(end) if end <= file_len => {}
                Some(end) => {
                    return Err(LlmError::Truncated {
                        path: path.to_path_buf(),
                        tensor: name.clone(),
                        needed: end,
                        actual: file_len,
                    })
                }
                _ => {
                    return Err(LlmError::Corrupt {
                        path: path.to_path_buf(),
                        detail: format!("tensor {name} has an impossible shape or offset"),
                    })
                }
            }
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            content,
            reader,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    /// A string metadata value, if present.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        match self.content.metadata.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The architecture named in the file, or a clear error naming it when unsupported.
    pub fn arch(&self) -> Result<Arch, LlmError> {
        let name = self
            .meta_str("general.architecture")
            .ok_or_else(|| self.missing("general.architecture"))?;
        Arch::from_gguf_name(name).ok_or_else(|| LlmError::UnsupportedArch {
            path: self.path.clone(),
            arch: name.to_string(),
        })
    }

    /// The hyperparameters of the model, validated for consistency.
    pub fn hparams(&self) -> Result<Hparams, LlmError> {
        let arch = self.arch()?;
        let prefix = self
            .meta_str("general.architecture")
            .unwrap_or("llama")
            .to_string();
        let key = |k: &str| format!("{prefix}.{k}");
        let n_embd = self.meta_usize(&key("embedding_length"))?;
        let n_head = self.meta_usize(&key("attention.head_count"))?;
        let n_head_kv = self
            .meta_usize_opt(&key("attention.head_count_kv"))?
            .unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(self.corrupt(format!(
                "{n_head} attention heads cannot share {n_head_kv} key/value heads"
            )));
        }
        let head_dim = match self.meta_usize_opt(&key("attention.key_length"))? {
            Some(d) => d,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(self.corrupt(format!(
                    "embedding length {n_embd} is not a multiple of {n_head} heads"
                )))
            }
        };
        if head_dim % 2 != 0 {
            return Err(self.corrupt(format!("head size {head_dim} is odd")));
        }
        let vocab_size = match self.content.tensor_infos.get("token_embd.weight") {
            Some(info) => info.shape.dims().first().copied().unwrap_or(0),
            None => return Err(self.missing_tensor("token_embd.weight")),
        };
        let gemma = arch == Arch::Gemma3;
        let hp = Hparams {
            arch,
            n_layer: self.meta_usize(&key("block_count"))?,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            n_ff: self.meta_usize(&key("feed_forward_length"))?,
            rms_eps: self
                .meta_f32_opt(&key("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(1e-5),
            rope_base: self
                .meta_f32_opt(&key("rope.freq_base"))?
                .unwrap_or(if gemma { 1_000_000.0 } else { 10_000.0 }),
            rope_base_local: self
                .meta_f32_opt(&key("rope.local_freq_base"))?
                .unwrap_or(10_000.0),
            sliding_window: if gemma {
                self.meta_usize_opt(&key("attention.sliding_window"))?
            } else {
                None
            },
            swa_pattern: if gemma {
                self.meta_usize_opt(&key("attention.sliding_window_pattern"))?
                    .unwrap_or(6)
                    .max(1)
            } else {
                1
            },
            context_length: self.meta_usize_opt(&key("context_length"))?.unwrap_or(2048),
            vocab_size,
        };
        if hp.n_layer == 0 || hp.n_ff == 0 || hp.vocab_size == 0 {
            return Err(self.corrupt("zero layers, feed-forward size or vocabulary".into()));
        }
        Ok(hp)
    }

    /// Reads one tensor's weights onto `device`.
    pub fn tensor(&mut self, name: &str, device: &Device) -> Result<QTensor, LlmError> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(self.missing_tensor(name));
        }
        self.content
            .tensor(&mut self.reader, name, device)
            .map_err(|source| LlmError::Tensor {
                path: self.path.clone(),
                name: name.to_string(),
                source: Box::new(source),
            })
    }

    /// Reads one tensor if the file has it.
    pub fn tensor_opt(&mut self, name: &str, device: &Device) -> Result<Option<QTensor>, LlmError> {
        if self.content.tensor_infos.contains_key(name) {
            self.tensor(name, device).map(Some)
        } else {
            Ok(None)
        }
    }

    fn meta_usize(&self, key: &str) -> Result<usize, LlmError> {
        self.meta_usize_opt(key)?.ok_or_else(|| self.missing(key))
    }

    fn meta_usize_opt(&self, key: &str) -> Result<Option<usize>, LlmError> {
        let v = match self.content.metadata.get(key) {
            None => return Ok(None),
            Some(Value::U8(v)) => u64::from(*v),
            Some(Value::U16(v)) => u64::from(*v),
            Some(Value::U32(v)) => u64::from(*v),
            Some(Value::U64(v)) => *v,
            Some(Value::I32(v)) if *v >= 0 => *v as u64,
            Some(Value::I64(v)) if *v >= 0 => *v as u64,
            Some(other) => {
                return Err(self.corrupt(format!(
                    "metadata {key} should be a count, found {:?}",
                    other.value_type()
                )))
            }
        };
        // Anything larger than this is a corrupt file, not a model.
        if v > 1 << 24 {
            return Err(self.corrupt(format!("metadata {key} = {v} is out of range")));
        }
        Ok(Some(v as usize))
    }

    fn meta_f32_opt(&self, key: &str) -> Result<Option<f32>, LlmError> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(Value::F32(v)) if v.is_finite() && *v > 0.0 => Ok(Some(*v)),
            Some(Value::F64(v)) if v.is_finite() && *v > 0.0 => Ok(Some(*v as f32)),
            Some(other) => Err(self.corrupt(format!(
                "metadata {key} should be a positive number, found {other:?}"
            ))),
        }
    }

    fn missing(&self, key: &str) -> LlmError {
        self.corrupt(format!("metadata key {key} is missing"))
    }

    pub(crate) fn missing_tensor(&self, name: &str) -> LlmError {
        self.corrupt(format!("tensor {name} is missing"))
    }

    pub(crate) fn corrupt(&self, detail: String) -> LlmError {
        LlmError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}
