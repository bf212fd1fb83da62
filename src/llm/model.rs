//! The decoder forward pass for every supported family (llama/Mistral, qwen2/3, gemma3), on
//! candle ops and quantized matrix products; what differs per family is in [`Family`].

use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::activation::{gated, Gate};
use super::cache::Cache;
use super::gguf::{Arch, GgufFile, Hparams};
use super::layers::{
    attention, attention_mask, attention_one_cpu, permute_rows, requantize, unpermute_rope_order,
    KvCache, Linear, RmsNorm, Rope, WeightUse,
};
use super::LlmError;

/// How the families differ, as data: one forward pass reads it.
#[derive(Debug, Clone, Copy)]
struct Family {
    /// llama.cpp permuted q/k rows for interleaved RoPE; undone at load.
    interleaved_rope: bool,
    qkv_bias: bool,
    qk_norm: bool,
    post_norms: bool,
    gelu: bool,
    scale_embeddings: bool,
}

impl Family {
    fn of(arch: Arch) -> Family {
        let base = Family {
            interleaved_rope: false,
            qkv_bias: false,
            qk_norm: false,
            post_norms: false,
            gelu: false,
            scale_embeddings: false,
        };
        match arch {
            Arch::Llama => Family {
                interleaved_rope: true,
                ..base
            },
            Arch::Qwen2 => Family {
                qkv_bias: true,
                ..base
            },
            Arch::Qwen3 => Family {
                qk_norm: true,
                ..base
            },
            Arch::Gemma3 => Family {
                qk_norm: true,
                post_norms: true,
                gelu: true,
                scale_embeddings: true,
                ..base
            },
        }
    }
}

/// How to load the weights.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Longest context (prompt plus answer) to prepare for; capped by the model's own window.
    pub max_context: usize,
    /// Keep an f32 copy of the block weights for prompt batches (about 3x faster prefill on CPU
    /// for roughly 4 bytes per weight of extra memory).
    pub dense_prefill: bool,
    /// Largest f32 copy kept, in MiB: a larger model reads prompts through its quantized
    /// weights (a 1.5B model's copy is 5 GB).
    pub dense_max_mb: usize,
    /// Without an f32 copy, read Q4_K/Q6_K weights in place ([`super::kquant`]): one copy of
    /// the weights, where candle's products keep an expanded one beside it.
    pub in_place: bool,
    /// Requantize Q4_1/Q5_0/Q5_1 weights to Q8_0 at load (candle has no SIMD kernels for them).
    pub requantize: bool,
    /// MiB of earlier prompts' pieces (keys and values) each cache keeps for reuse; 0 keeps only
    /// what the cache holds from the previous prompt.
    pub prefix_cache_mb: usize,
    pub device: Device,
}

#[derive(Debug, Clone)]
struct Block {
    attn_norm: RmsNorm,
    /// q, k, v projections, stacked into one product when their formats agree.
    qkv: Vec<Linear>,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    wo: Linear,
    post_attn_norm: Option<RmsNorm>,
    ffn_norm: RmsNorm,
    gate_up: Vec<Linear>,
    down: Linear,
    post_ffw_norm: Option<RmsNorm>,
    local: bool,
}

/// A loaded model: immutable weights, shareable between threads; the per-conversation state is
/// a [`Cache`].
#[derive(Debug)]
pub struct Model {
    hp: Hparams,
    family: Family,
    embed: Arc<QTensor>,
    embed_scale: Option<f64>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    head: Linear,
    rope: Rope,
    rope_local: Option<Rope>,
    attn_scale: f64,
    max_context: usize,
    device: Device,
    weight_bytes: usize,
    in_place_bytes: usize,
    prefix_cache_bytes: usize,
}

/// Longest prompt chunk run in one forward pass (bounds the attention scores' memory).
const PREFILL_CHUNK: usize = 512;

impl Model {
    /// Loads the model in `file`.
    pub fn load(file: &mut GgufFile, opts: &LoadOptions) -> Result<Model, LlmError> {
        let started = Instant::now();
        let hp = file.hparams()?;
        let family = Family::of(hp.arch);
        let dev = opts.device.clone();
        let max_context = opts.max_context.min(hp.context_length).max(16);
        let path = file.path().to_path_buf();
        let wrap = |name: &str, e: candle_core::Error| LlmError::Tensor {
            path: path.clone(),
            name: name.to_string(),
            source: Box::new(e),
        };

        let embed_q = file.tensor("token_embd.weight", &dev)?;
        check_dims(
            file,
            "token_embd.weight",
            &embed_q,
            &[hp.vocab_size, hp.n_embd],
        )?;
        let embed = Arc::new(embed_q);
        let norm = load_norm(file, "output_norm.weight", hp.n_embd, hp.rms_eps, &dev)?;

        let q_dim = hp.n_head * hp.head_dim;
        let kv_dim = hp.n_head_kv * hp.head_dim;
        // The f32 copy the blocks' products would keep: q, k, v, output, gate, up, down.
        let per_layer = hp.n_embd * (2 * q_dim + 2 * kv_dim + 3 * hp.n_ff);
        let dense_mb = hp.n_layer * per_layer * 4 / (1 << 20);
        let dense = opts.dense_prefill && dense_mb <= opts.dense_max_mb;
        if opts.dense_prefill && !dense {
            tracing::info!(
                dense_mb,
                max_mb = opts.dense_max_mb,
                "no f32 copy of the weights for prompts: it would exceed generation.dense_prefill_max_mb"
            );
        }
        // Without an f32 copy, K-quant weights are read in place: candle would keep an expanded
        // copy of them beside the blocks (up to 2.2x their size on AMX machines).
        let usage = if dense {
            WeightUse::Dense
        } else if opts.in_place && dev.is_cpu() {
            WeightUse::InPlace
        } else {
            WeightUse::Quantized
        };
        let head = match file.tensor_opt("output.weight", &dev)? {
            Some(t) => {
                check_dims(file, "output.weight", &t, &[hp.vocab_size, hp.n_embd])?;
                let t = if opts.requantize {
                    requantize(t, &dev).map_err(|e| wrap("output.weight", e))?
                } else {
                    t
                };
                Linear::new(t, None, usage.without_copy()).map_err(|e| wrap("output.weight", e))?
            }
            None => Linear::shared(embed.clone()).map_err(|e| wrap("token_embd.weight", e))?,
        };
        let mut blocks = Vec::with_capacity(hp.n_layer);
        for l in 0..hp.n_layer {
            let p = |s: &str| format!("blk.{l}.{s}");
            let mut weight = |name: &str, dims: [usize; 2]| -> Result<QTensor, LlmError> {
                let t = file.tensor(&p(name), &dev)?;
                check_dims(file, &p(name), &t, &dims)?;
                if opts.requantize {
                    requantize(t, &dev).map_err(|e| wrap(&p(name), e))
                } else {
                    Ok(t)
                }
            };
            let mut wq = weight("attn_q.weight", [q_dim, hp.n_embd])?;
            let mut wk = weight("attn_k.weight", [kv_dim, hp.n_embd])?;
            let wv = weight("attn_v.weight", [kv_dim, hp.n_embd])?;
            let wo = weight("attn_output.weight", [hp.n_embd, q_dim])?;
            let gate = weight("ffn_gate.weight", [hp.n_ff, hp.n_embd])?;
            let up = weight("ffn_up.weight", [hp.n_ff, hp.n_embd])?;
            let down = weight("ffn_down.weight", [hp.n_embd, hp.n_ff])?;
            if family.interleaved_rope {
                wq = permute_rows(&wq, &unpermute_rope_order(hp.n_head, hp.head_dim), &dev)
                    .map_err(|e| wrap(&p("attn_q.weight"), e))?;
                wk = permute_rows(&wk, &unpermute_rope_order(hp.n_head_kv, hp.head_dim), &dev)
                    .map_err(|e| wrap(&p("attn_k.weight"), e))?;
            }
            let biases = if family.qkv_bias {
                let mut b = Vec::with_capacity(3);
                for (name, n) in [
                    ("attn_q.bias", q_dim),
                    ("attn_k.bias", kv_dim),
                    ("attn_v.bias", kv_dim),
                ] {
                    let t = file.tensor(&p(name), &dev)?;
                    check_dims(file, &p(name), &t, &[n])?;
                    b.push(t.dequantize(&dev).map_err(|e| wrap(&p(name), e))?);
                }
                Some(b)
            } else {
                None
            };
            let qkv = stack_or_split(vec![wq, wk, wv], biases, usage, &dev)
                .map_err(|e| wrap(&p("attn_qkv"), e))?;
            let gate_up = stack_or_split(vec![gate, up], None, usage, &dev)
                .map_err(|e| wrap(&p("ffn_gate_up"), e))?;
            let (q_norm, k_norm) = if family.qk_norm {
                (
                    Some(load_norm(
                        file,
                        &p("attn_q_norm.weight"),
                        hp.head_dim,
                        hp.rms_eps,
                        &dev,
                    )?),
                    Some(load_norm(
                        file,
                        &p("attn_k_norm.weight"),
                        hp.head_dim,
                        hp.rms_eps,
                        &dev,
                    )?),
                )
            } else {
                (None, None)
            };
            let (post_attn_norm, post_ffw_norm) = if family.post_norms {
                (
                    Some(load_norm(
                        file,
                        &p("post_attention_norm.weight"),
                        hp.n_embd,
                        hp.rms_eps,
                        &dev,
                    )?),
                    Some(load_norm(
                        file,
                        &p("post_ffw_norm.weight"),
                        hp.n_embd,
                        hp.rms_eps,
                        &dev,
                    )?),
                )
            } else {
                (None, None)
            };
            blocks.push(Block {
                attn_norm: load_norm(file, &p("attn_norm.weight"), hp.n_embd, hp.rms_eps, &dev)?,
                qkv,
                q_norm,
                k_norm,
                wo: Linear::new(wo, None, usage).map_err(|e| wrap(&p("attn_output.weight"), e))?,
                post_attn_norm,
                ffn_norm: load_norm(file, &p("ffn_norm.weight"), hp.n_embd, hp.rms_eps, &dev)?,
                gate_up,
                down: Linear::new(down, None, usage).map_err(|e| wrap(&p("ffn_down.weight"), e))?,
                post_ffw_norm,
                local: hp.is_local(l),
            });
        }
        let rope =
            Rope::new(hp.head_dim, hp.rope_base, max_context, &dev).map_err(|e| wrap("rope", e))?;
        let rope_local = match hp.sliding_window {
            Some(_) => Some(
                Rope::new(hp.head_dim, hp.rope_base_local, max_context, &dev)
                    .map_err(|e| wrap("rope", e))?,
            ),
            None => None,
        };
        let linears: Vec<&Linear> = blocks
            .iter()
            .flat_map(|b| b.qkv.iter().chain(&b.gate_up).chain([&b.wo, &b.down]))
            .chain([&head])
            .collect();
        let weight_bytes =
            embed.storage_size_in_bytes() + linears.iter().map(|l| l.bytes()).sum::<usize>();
        let in_place_bytes = linears
            .iter()
            .filter(|l| l.in_place())
            .map(|l| l.bytes())
            .sum::<usize>();
        tracing::debug!(
            arch = ?hp.arch,
            layers = hp.n_layer,
            weight_mb = weight_bytes / (1 << 20),
            in_place_mb = in_place_bytes / (1 << 20),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(Model {
            family,
            embed_scale: family.scale_embeddings.then(|| (hp.n_embd as f64).sqrt()),
            attn_scale: 1.0 / (hp.head_dim as f64).sqrt(),
            hp,
            embed,
            blocks,
            norm,
            head,
            rope,
            rope_local,
            max_context,
            device: dev,
            weight_bytes,
            in_place_bytes,
            prefix_cache_bytes: opts.prefix_cache_mb << 20,
        })
    }

    pub fn hparams(&self) -> &Hparams {
        &self.hp
    }

    /// Positions (prompt plus answer) one conversation may use.
    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Bytes held by the weights (including dense prefill copies).
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// Bytes of the weights read in place by [`super::kquant`] (part of `weight_bytes`).
    pub fn in_place_bytes(&self) -> usize {
        self.in_place_bytes
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty cache, with a store of prompt pieces as large as the load options said.
    pub fn new_cache(&self) -> Cache {
        Cache::new(
            (0..self.hp.n_layer)
                .map(|_| KvCache::new(self.max_context))
                .collect(),
            self.prefix_cache_bytes,
        )
    }

    /// Runs `tokens` after those already in `cache` and returns the next-token logits (vocab,)
    /// after the last of them. Long inputs run in chunks.
    pub fn forward(&self, cache: &mut Cache, tokens: &[u32]) -> Result<Tensor, LlmError> {
        self.run(cache, tokens, true)?.ok_or(LlmError::EmptyInput)
    }

    /// Runs `tokens` after those already in `cache` without computing logits (a prompt piece
    /// whose next token is known: the output head is a large product for nothing).
    pub fn prefill(&self, cache: &mut Cache, tokens: &[u32]) -> Result<(), LlmError> {
        self.run(cache, tokens, false).map(|_| ())
    }

    fn run(
        &self,
        cache: &mut Cache,
        tokens: &[u32],
        logits_wanted: bool,
    ) -> Result<Option<Tensor>, LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::EmptyInput);
        }
        let needed = cache.tokens.len() + tokens.len();
        if needed > self.max_context {
            return Err(LlmError::ContextFull {
                needed,
                max: self.max_context,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.hp.vocab_size) {
            return Err(LlmError::BadToken {
                id: bad,
                vocab: self.hp.vocab_size,
            });
        }
        let mut logits = None;
        let chunks = tokens.chunks(PREFILL_CHUNK).count();
        for (i, chunk) in tokens.chunks(PREFILL_CHUNK).enumerate() {
            let want = logits_wanted && i + 1 == chunks;
            let result = if chunk.len() == 1 && self.device.is_cpu() {
                // A decode step is a chain of small ops: run them where rayon has no other
                // threads to wake, so idle rayon workers do not spin against the matrix
                // product threads (measured: +10% tokens/s on 2 cores).
                single_thread_pool().install(|| self.forward_chunk(cache, chunk, want))
            } else {
                self.forward_chunk(cache, chunk, want)
            };
            match result {
                Ok(l) => {
                    cache.tokens.extend_from_slice(chunk);
                    logits = Some(l);
                }
                Err(e) => {
                    // Layers may have appended part of the chunk: drop it so the cache stays
                    // consistent with its tokens.
                    let len = cache.tokens.len();
                    cache.truncate(len);
                    return Err(LlmError::Forward(Box::new(e)));
                }
            }
        }
        Ok(logits.flatten())
    }

    fn forward_chunk(
        &self,
        cache: &mut Cache,
        tokens: &[u32],
        logits: bool,
    ) -> candle_core::Result<Option<Tensor>> {
        let t = tokens.len();
        let start = cache.tokens.len();
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embed.embedding(&ids)?;
        if let Some(s) = self.embed_scale {
            x = (x * s)?;
        }
        let (global_mask, local_mask) = if t > 1 {
            let g = attention_mask(start, t, None, &self.device)?;
            let l = match self.hp.sliding_window {
                Some(w) => Some(attention_mask(start, t, Some(w), &self.device)?),
                None => None,
            };
            (Some(g), l)
        } else {
            (None, None)
        };
        for (block, kv) in self.blocks.iter().zip(&mut cache.layers) {
            let mask = if block.local {
                local_mask.as_ref()
            } else {
                global_mask.as_ref()
            };
            x = self.block_forward(block, kv, &x, start, mask)?;
        }
        if !logits {
            return Ok(None);
        }
        let last = x.narrow(0, t - 1, 1)?;
        let last = self.norm.forward(&last)?;
        Ok(Some(self.head.forward(&last)?.squeeze(0)?))
    }

    fn block_forward(
        &self,
        b: &Block,
        kv: &mut KvCache,
        x: &Tensor,
        start: usize,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let hp = &self.hp;
        let t = x.dim(0)?;
        let h = b.attn_norm.forward(x)?;
        let mut qkv = Vec::with_capacity(3);
        for lin in &b.qkv {
            qkv.extend(lin.forward_split(&h)?);
        }
        let [q, k, v] = <[Tensor; 3]>::try_from(qkv)
            .map_err(|_| candle_core::Error::Msg("q/k/v projections".into()))?;
        let mut q = q.reshape((1, t, hp.n_head, hp.head_dim))?;
        let mut k = k.reshape((1, t, hp.n_head_kv, hp.head_dim))?;
        if let (Some(qn), Some(kn)) = (&b.q_norm, &b.k_norm) {
            q = qn.forward(&q)?;
            k = kn.forward(&k)?;
        }
        let rope = match (&self.rope_local, b.local) {
            (Some(r), true) => r,
            _ => &self.rope,
        };
        let q = (rope.apply(&q, start)? * self.attn_scale)?;
        let k = rope.apply(&k, start)?;
        let k = k.squeeze(0)?.transpose(0, 1)?; // (kv_heads, t, d)
        let v = v.reshape((t, hp.n_head_kv, hp.head_dim))?.transpose(0, 1)?;
        let (k_all, v_all) = kv.append(&k, &v)?;
        let q = q.squeeze(0)?;
        let attn = match mask {
            Some(mask) => attention(&q, &k_all, &v_all, Some(mask))?,
            None => {
                // One new token: no mask; a local layer sees only the last `w` keys.
                let (k_all, v_all) = match b.local.then_some(hp.sliding_window).flatten() {
                    Some(w) if kv.len() > w => {
                        let from = kv.len() - w;
                        (k_all.narrow(1, from, w)?, v_all.narrow(1, from, w)?)
                    }
                    _ => (k_all, v_all),
                };
                let q1 = q.squeeze(0)?;
                match attention_one_cpu(&q1, &k_all, &v_all)? {
                    Some(a) => a,
                    None => attention(&q, &k_all, &v_all, None)?,
                }
            }
        };
        let mut o = b.wo.forward(&attn)?;
        if let Some(n) = &b.post_attn_norm {
            o = n.forward(&o)?;
        }
        let x = (x + o)?;
        let h = b.ffn_norm.forward(&x)?;
        let mut gu = Vec::with_capacity(2);
        for lin in &b.gate_up {
            gu.extend(lin.forward_split(&h)?);
        }
        let [g, u] = <[Tensor; 2]>::try_from(gu)
            .map_err(|_| candle_core::Error::Msg("gate/up projections".into()))?;
        let act = if self.family.gelu {
            Gate::GeluTanh
        } else {
            Gate::Silu
        };
        let mut d = b.down.forward(&gated(&g, &u, act)?)?;
        if let Some(n) = &b.post_ffw_norm {
            d = n.forward(&d)?;
        }
        x + d
    }
}

/// A one-thread rayon pool per calling thread, for decode steps.
fn single_thread_pool() -> &'static rayon::ThreadPool {
    thread_local! {
        static POOL: &'static rayon::ThreadPool = Box::leak(Box::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "concord-decode".into())
                .build()
                .expect("a one-thread pool can always be built"),
        ));
    }
    POOL.with(|p| *p)
}

/// One stacked product when all parts share a format, else one per part.
fn stack_or_split(
    parts: Vec<QTensor>,
    biases: Option<Vec<Tensor>>,
    usage: WeightUse,
    dev: &Device,
) -> candle_core::Result<Vec<Linear>> {
    let same = parts.windows(2).all(|w| w[0].dtype() == w[1].dtype())
        && !matches!(
            parts[0].dtype(),
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16
        );
    if same {
        return Ok(vec![Linear::stacked(parts, biases, usage, dev)?]);
    }
    let mut biases = biases.map(|b| b.into_iter());
    parts
        .into_iter()
        .map(|p| Linear::new(p, biases.as_mut().and_then(|b| b.next()), usage))
        .collect()
}

fn check_dims(file: &GgufFile, name: &str, t: &QTensor, want: &[usize]) -> Result<(), LlmError> {
    if t.shape().dims() == want {
        Ok(())
    } else {
        Err(file.corrupt(format!(
            "tensor {name} has shape {:?}, the hyperparameters say {want:?}",
            t.shape().dims()
        )))
    }
}

fn load_norm(
    file: &mut GgufFile,
    name: &str,
    n: usize,
    eps: f32,
    dev: &Device,
) -> Result<RmsNorm, LlmError> {
    let t = file.tensor(name, dev)?;
    check_dims(file, name, &t, &[n])?;
    RmsNorm::new(t, eps, dev).map_err(|source| LlmError::Tensor {
        path: file.path().to_path_buf(),
        name: name.to_string(),
        source: Box::new(source),
    })
}
