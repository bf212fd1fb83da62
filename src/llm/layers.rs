//! Building blocks shared by every architecture: quantized linear layers (fused, requantized, with
//! an optional dense copy for prompt batches), RMS norm, RoPE tables, the KV cache and attention.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use super::kquant::CompactWeight;

/// Prompt batches at least this long use the dense copy of a weight, when one is kept.
pub const DENSE_MIN_ROWS: usize = 8;

/// Formats without SIMD dot products in candle on x86 (`MODELS-NOTES.md` section 5); their
/// weights are requantized to Q8_0 at load, which is lossless in practice (KL 0.0035 nats).
fn needs_requant(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// `t` requantized to Q8_0 when its format is slow in candle, else unchanged.
pub fn requantize(t: QTensor, device: &Device) -> candle_core::Result<QTensor> {
    if needs_requant(t.dtype()) {
        QTensor::quantize(&t.dequantize(device)?, GgmlDType::Q8_0)
    } else {
        Ok(t)
    }
}

/// The format candle quantizes activations to for a product with an (n, k) `weight` (its
/// dot-product partner), or `None` for float weights. On CPUs with VNNI, candle 0.11 repacks
/// Q8_0 matrices whose sizes allow it and then rounds activations in 256-value Q8_K blocks.
fn activation_format(weight: GgmlDType, n: usize, k: usize) -> Option<GgmlDType> {
    match weight {
        GgmlDType::Q8_0 if k.is_multiple_of(256) && n.is_multiple_of(16) && has_vnni() => {
            Some(GgmlDType::Q8K)
        }
        GgmlDType::Q4_0 | GgmlDType::Q5_0 | GgmlDType::Q8_0 => Some(GgmlDType::Q8_0),
        GgmlDType::Q4_1 | GgmlDType::Q5_1 => Some(GgmlDType::Q8_1),
        GgmlDType::Q2K
        | GgmlDType::Q3K
        | GgmlDType::Q4K
        | GgmlDType::Q5K
        | GgmlDType::Q6K
        | GgmlDType::Q8K => Some(GgmlDType::Q8K),
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 | GgmlDType::Q8_1 => None,
    }
}

#[cfg(target_arch = "x86_64")]
fn has_vnni() -> bool {
    (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni"))
        || is_x86_feature_detected!("avxvnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_vnni() -> bool {
    false
}

/// Bytes of one row (the last dimension) of a quantized matrix.
fn row_bytes(t: &QTensor) -> candle_core::Result<usize> {
    let (_, k) = t.shape().dims2()?;
    let dtype = t.dtype();
    if k % dtype.block_size() != 0 {
        candle_core::bail!("row of {k} values is not whole {dtype:?} blocks")
    }
    Ok(k / dtype.block_size() * dtype.type_size())
}

/// Rows of `parts` (same format and row length) stacked into one matrix, so that q, k and v (or
/// gate and up) cost one matrix product, one activation quantization and one thread dispatch.
pub fn stack_rows(parts: &[&QTensor], device: &Device) -> candle_core::Result<QTensor> {
    let Some(first) = parts.first() else {
        candle_core::bail!("nothing to stack")
    };
    let (_, k) = first.shape().dims2()?;
    let mut rows = 0;
    let mut bytes = Vec::new();
    for p in parts {
        let (n, pk) = p.shape().dims2()?;
        if pk != k || p.dtype() != first.dtype() {
            candle_core::bail!(
                "cannot stack {:?} {:?} onto {:?}",
                p.dtype(),
                p.shape(),
                first.shape()
            )
        }
        rows += n;
        bytes.extend_from_slice(&p.data()?);
    }
    let storage = QStorage::from_data(Cow::Owned(bytes), device, first.dtype())?;
    QTensor::new(storage, (rows, k))
}

/// Rows of `t` reordered so that `new[i] = old[order[i]]`.
pub fn permute_rows(t: &QTensor, order: &[usize], device: &Device) -> candle_core::Result<QTensor> {
    let rb = row_bytes(t)?;
    let data = t.data()?;
    let (n, k) = t.shape().dims2()?;
    if order.len() != n {
        candle_core::bail!("row order of {} for {n} rows", order.len())
    }
    let mut out = Vec::with_capacity(data.len());
    for &r in order {
        out.extend_from_slice(&data[r * rb..(r + 1) * rb]);
    }
    let storage = QStorage::from_data(Cow::Owned(out), device, t.dtype())?;
    QTensor::new(storage, (n, k))
}

/// The row order that undoes llama.cpp's q/k permutation for interleaved RoPE: within each head,
/// rows `2i` then `2i + 1` become `i` and `i + head_dim / 2`, so NeoX-style RoPE (halves) applies.
pub fn unpermute_rope_order(n_head: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    let mut order = Vec::with_capacity(n_head * head_dim);
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                order.push(h * head_dim + 2 * i + j);
            }
        }
    }
    order
}

/// How a linear layer keeps its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightUse {
    /// Candle's quantized product, plus an f32 copy for prompt batches.
    Dense,
    /// Candle's quantized product only.
    Quantized,
    /// Q4_K and Q6_K blocks read in place ([`kquant`]): no second copy of any kind. Other
    /// formats as `Quantized`.
    InPlace,
}

impl WeightUse {
    /// The same without the f32 copy (for layers that only ever see one row).
    pub fn without_copy(self) -> WeightUse {
        match self {
            WeightUse::Dense | WeightUse::Quantized => WeightUse::Quantized,
            WeightUse::InPlace => WeightUse::InPlace,
        }
    }
}

#[derive(Debug, Clone)]
enum Weight {
    Candle(QMatMul),
    InPlace(Arc<CompactWeight>),
}

/// A linear layer `y = x W^T (+ b)` on a quantized weight, whose output may be several stacked
/// projections (`splits`), with an optional f32 copy of `W` for long prompt batches.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Weight,
    /// Dequantized weight and the format activations are rounded through before using it.
    dense: Option<(Tensor, GgmlDType)>,
    bias: Option<Tensor>,
    splits: Vec<usize>,
}

impl Linear {
    pub fn new(
        weight: QTensor,
        bias: Option<Tensor>,
        usage: WeightUse,
    ) -> candle_core::Result<Self> {
        let (n, k) = weight.shape().dims2()?;
        if usage == WeightUse::InPlace {
            if let Some(c) = CompactWeight::from_qtensor(&weight)? {
                return Ok(Linear {
                    weight: Weight::InPlace(Arc::new(c)),
                    dense: None,
                    bias,
                    splits: vec![n],
                });
            }
        }
        let dense = match activation_format(weight.dtype(), n, k) {
            Some(act) if usage == WeightUse::Dense => {
                Some((weight.dequantize(&weight.device())?, act))
            }
            _ => None,
        };
        Ok(Linear {
            weight: Weight::Candle(QMatMul::from_arc(Arc::new(weight))?),
            dense,
            bias,
            splits: vec![n],
        })
    }

    /// A layer on a weight shared with another use (a tied embedding table), through candle.
    pub fn shared(weight: Arc<QTensor>) -> candle_core::Result<Self> {
        let n = weight.shape().dims2()?.0;
        Ok(Linear {
            weight: Weight::Candle(QMatMul::from_arc(weight)?),
            dense: None,
            bias: None,
            splits: vec![n],
        })
    }

    /// Stacks projections that read the same input: one product, outputs split afterwards.
    pub fn stacked(
        parts: Vec<QTensor>,
        biases: Option<Vec<Tensor>>,
        usage: WeightUse,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let splits = parts
            .iter()
            .map(|p| p.shape().dims2().map(|(n, _)| n))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let refs: Vec<&QTensor> = parts.iter().collect();
        let weight = if parts.len() == 1 {
            parts
                .into_iter()
                .next()
                .ok_or_else(|| candle_core::Error::Msg("empty".into()))?
        } else {
            stack_rows(&refs, device)?
        };
        let bias = match biases {
            Some(b) => Some(Tensor::cat(&b, 0)?),
            None => None,
        };
        let mut lin = Linear::new(weight, bias, usage)?;
        lin.splits = splits;
        Ok(lin)
    }

    /// `x`: (rows, in) → (rows, out).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        let y = match &self.dense {
            Some((w, act)) if rows >= DENSE_MIN_ROWS => {
                // Round the activations as the quantized product does (llama.cpp too), so both
                // paths compute the same sums and greedy answers do not depend on the path.
                let xq = QTensor::quantize(&x.contiguous()?, *act)?.dequantize(x.device())?;
                xq.matmul(&w.t()?)?
            }
            _ => match &self.weight {
                Weight::Candle(w) => w.forward(x)?,
                Weight::InPlace(w) => in_place(w, x)?,
            },
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// The stacked outputs of [`forward`](Self::forward), split apart and made contiguous.
    pub fn forward_split(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let y = self.forward(x)?;
        if self.splits.len() == 1 {
            return Ok(vec![y]);
        }
        let mut out = Vec::with_capacity(self.splits.len());
        let mut start = 0;
        for &n in &self.splits {
            out.push(y.narrow(D::Minus1, start, n)?.contiguous()?);
            start += n;
        }
        Ok(out)
    }

    /// Whether the weight is read in place by [`kquant`](super::kquant).
    pub fn in_place(&self) -> bool {
        matches!(self.weight, Weight::InPlace(_))
    }

    /// Bytes held by this layer (quantized weight plus any dense copy).
    pub fn bytes(&self) -> usize {
        let q = match &self.weight {
            Weight::Candle(QMatMul::QTensor(t)) => t.storage_size_in_bytes(),
            Weight::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                t.elem_count() * t.dtype().size_in_bytes()
            }
            Weight::InPlace(w) => w.bytes(),
        };
        q + self.dense.as_ref().map_or(0, |(d, _)| d.elem_count() * 4)
    }
}

/// `x` (.., k) times an in-place weight: (.., n).
fn in_place(w: &CompactWeight, x: &Tensor) -> candle_core::Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let k = dims.pop().unwrap_or(0);
    let m: usize = dims.iter().product();
    let xs = x.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    if k != w.cols() || xs.len() != m * k {
        candle_core::bail!(
            "activations of shape {:?} for a weight of {k} columns",
            x.dims()
        )
    }
    dims.push(w.rows());
    Tensor::from_vec(w.matmul(&xs, m), dims, x.device())
}

/// Root-mean-square norm over the last dimension.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub fn new(weight: QTensor, eps: f32, device: &Device) -> candle_core::Result<Self> {
        Ok(RmsNorm {
            weight: weight.dequantize(device)?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.weight, self.eps)
    }
}

/// Cosine and sine tables of rotary position embeddings (NeoX layout), shared by all layers with
/// the same base.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(
        head_dim: usize,
        base: f32,
        max_pos: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let inv: Vec<f32> = (0..head_dim / 2)
            .map(|i| 1.0 / base.powf(2.0 * i as f32 / head_dim as f32))
            .collect();
        let mut angles = Vec::with_capacity(max_pos * inv.len());
        for p in 0..max_pos {
            angles.extend(inv.iter().map(|f| p as f32 * f));
        }
        let angles = Tensor::from_vec(angles, (max_pos, head_dim / 2), device)?;
        Ok(Rope {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    /// Longest position the tables cover.
    pub fn max_pos(&self) -> usize {
        self.cos.dims()[0]
    }

    /// `x`: (1, t, heads, head_dim), contiguous, for positions `start..start + t`.
    pub fn apply(&self, x: &Tensor, start: usize) -> candle_core::Result<Tensor> {
        let t = x.dim(1)?;
        let cos = self.cos.narrow(0, start, t)?;
        let sin = self.sin.narrow(0, start, t)?;
        candle_nn::rotary_emb::rope_thd(x, &cos, &sin)
    }
}

/// Keys and values of one layer for the positions seen so far, in a buffer that grows by doubling
/// (no copy per token).
#[derive(Debug, Clone)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
    max: usize,
}

const KV_INITIAL: usize = 512;

impl KvCache {
    pub fn new(max: usize) -> Self {
        KvCache {
            k: None,
            v: None,
            len: 0,
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions from `len` on (the prefix before it stays valid).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Copies of the keys and values of positions `start..start + len`: (kv_heads, len, head_dim).
    pub fn segment(&self, start: usize, len: usize) -> candle_core::Result<(Tensor, Tensor)> {
        if start + len > self.len {
            candle_core::bail!(
                "KV cache holds {} positions, asked for {start}..{}",
                self.len,
                start + len
            )
        }
        let (Some(kc), Some(vc)) = (&self.k, &self.v) else {
            candle_core::bail!("KV cache not allocated")
        };
        // A copy, not a view: the cache's buffers are written in place by later appends.
        Ok((
            kc.narrow(1, start, len)?.force_contiguous()?,
            vc.narrow(1, start, len)?.force_contiguous()?,
        ))
    }

    /// Appends `k`, `v`: (kv_heads, t, head_dim); returns the whole cache up to now.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (h, t, d) = k.dims3()?;
        let need = self.len + t;
        if need > self.max {
            candle_core::bail!("KV cache full: {need} positions, room for {}", self.max)
        }
        let cap = self.k.as_ref().map_or(0, |k| k.dim(1).unwrap_or(0));
        if need > cap {
            let new_cap = need.max(cap * 2).max(KV_INITIAL).min(self.max);
            let grow = |old: &Option<Tensor>| -> candle_core::Result<Tensor> {
                let fresh = Tensor::zeros((h, new_cap, d), DType::F32, k.device())?;
                if let Some(old) = old {
                    if self.len > 0 {
                        fresh.slice_set(&old.narrow(1, 0, self.len)?.contiguous()?, 1, 0)?;
                    }
                }
                Ok(fresh)
            };
            self.k = Some(grow(&self.k)?);
            self.v = Some(grow(&self.v)?);
        }
        let (Some(kc), Some(vc)) = (&self.k, &self.v) else {
            candle_core::bail!("KV cache not allocated")
        };
        kc.slice_set(&k.contiguous()?, 1, self.len)?;
        vc.slice_set(&v.contiguous()?, 1, self.len)?;
        self.len = need;
        Ok((kc.narrow(1, 0, need)?, vc.narrow(1, 0, need)?))
    }
}

/// Additive attention mask for queries at positions `start..start + t` over keys `0..start + t`:
/// causal, and limited to the last `window` positions when given. Built on absolute positions,
/// so chunked prompts and appended turns are masked the same way as one long prompt.
pub fn attention_mask(
    start: usize,
    t: usize,
    window: Option<usize>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let keys = start + t;
    let mut m = vec![0f32; t * keys];
    for i in 0..t {
        let q = start + i;
        for (j, slot) in m[i * keys..(i + 1) * keys].iter_mut().enumerate() {
            let visible = j <= q && window.is_none_or(|w| q - j < w);
            if !visible {
                *slot = f32::NEG_INFINITY;
            }
        }
    }
    Tensor::from_vec(m, (t, keys), device)
}

/// Scaled dot-product attention with grouped key/value heads.
/// `q`: (t, heads, head_dim), already scaled; `k`, `v`: (kv_heads, keys, head_dim);
/// `mask`: (t, keys) or none (a single query that may see every key). Returns (t, heads * head_dim).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (t, heads, d) = q.dims3()?;
    let (kv_heads, keys, _) = k.dims3()?;
    let rep = heads / kv_heads;
    // Heads sharing a key/value head become rows of one matrix product.
    let q = q
        .transpose(0, 1)?
        .contiguous()?
        .reshape((kv_heads, rep * t, d))?;
    let scores = q.matmul(&k.t()?)?;
    let scores = match mask {
        Some(m) => scores
            .reshape((kv_heads, rep, t, keys))?
            .broadcast_add(m)?
            .reshape((kv_heads, rep * t, keys))?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let out = probs.matmul(v)?; // (kv_heads, rep * t, d)
    out.reshape((heads, t, d))?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((t, heads * d))
}

/// A read-only f32 view of a CPU tensor whose last dimension is contiguous: (slice from the
/// tensor's start, strides). `None` on other devices or dtypes.
fn cpu_view<R>(t: &Tensor, f: impl FnOnce(&[f32], &[usize]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => {
            let data = cpu.as_slice::<f32>().ok()?;
            let stride = layout.stride();
            if stride.last() != Some(&1) {
                return None;
            }
            Some(f(data.get(layout.start_offset()..)?, stride))
        }
        candle_core::Storage::Cuda(_) | candle_core::Storage::Metal(_) => None,
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums so the compiler keeps them in SIMD lanes.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Attention of a single new token on the CPU, straight over the cached key and value rows:
/// no packing or copying of the cache, which the general matrix product does on every call
/// (it dominated the cost per token). `q`: (heads, head_dim), already scaled; `k`, `v`:
/// (kv_heads, keys, head_dim) with contiguous rows. `None` when the tensors are not on the CPU.
pub fn attention_one_cpu(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> candle_core::Result<Option<Tensor>> {
    let (heads, d) = q.dims2()?;
    let (kv_heads, keys, kd) = k.dims3()?;
    if kd != d || v.dims3()? != (kv_heads, keys, d) || heads % kv_heads != 0 || !q.is_contiguous() {
        return Ok(None);
    }
    let rep = heads / kv_heads;
    let Some(Some(qv)) = cpu_view(q, |s, _| s.get(..heads * d).map(<[f32]>::to_vec)) else {
        return Ok(None);
    };
    // Softmax of the scores, head by head: (heads, keys).
    let mut probs = vec![0f32; heads * keys];
    let scored = cpu_view(k, |ks, st| {
        if st[1] != d {
            return false;
        }
        for h in 0..heads {
            let g = h / rep;
            let qh = &qv[h * d..(h + 1) * d];
            let row = &mut probs[h * keys..(h + 1) * keys];
            let mut max = f32::NEG_INFINITY;
            for (j, p) in row.iter_mut().enumerate() {
                let at = g * st[0] + j * d;
                *p = dot(qh, &ks[at..at + d]);
                max = max.max(*p);
            }
            let mut sum = 0.0;
            for p in row.iter_mut() {
                *p = (*p - max).exp();
                sum += *p;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|p| *p *= inv);
        }
        true
    });
    if scored != Some(true) {
        return Ok(None);
    }
    let mut out = vec![0f32; heads * d];
    let ok = cpu_view(v, |vs, st| {
        if st[1] != d {
            return false;
        }
        for g in 0..kv_heads {
            for j in 0..keys {
                let at = g * st[0] + j * d;
                let vr = &vs[at..at + d];
                for r in 0..rep {
                    let w = probs[(g * rep + r) * keys + j];
                    let o = &mut out[(g * rep + r) * d..(g * rep + r + 1) * d];
                    for (o, x) in o.iter_mut().zip(vr) {
                        *o += w * x;
                    }
                }
            }
        }
        true
    });
    if ok != Some(true) {
        return Ok(None);
    }
    Tensor::from_vec(out, (1, heads * d), q.device()).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_is_causal_and_windowed_on_absolute_positions() {
        let dev = Device::Cpu;
        let m = attention_mask(3, 2, Some(2), &dev).unwrap();
        let rows: Vec<Vec<f32>> = m.to_vec2().unwrap();
        let vis = |r: &Vec<f32>| r.iter().map(|x| x.is_finite()).collect::<Vec<_>>();
        // Query at position 3 sees 2 and 3; query at 4 sees 3 and 4.
        assert_eq!(vis(&rows[0]), [false, false, true, true, false]);
        assert_eq!(vis(&rows[1]), [false, false, false, true, true]);
        let full = attention_mask(0, 3, None, &dev)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(vis(&full[2]), [true, true, true]);
        assert_eq!(vis(&full[0]), [true, false, false]);
    }

    #[test]
    fn single_token_attention_matches_the_general_path() {
        let dev = Device::Cpu;
        let (heads, kv_heads, keys, cap, d) = (6, 2, 37, 64, 16);
        let q = (Tensor::randn(0f32, 1.0, (heads, d), &dev).unwrap() * 0.3).unwrap();
        let cache = Tensor::randn(0f32, 1.0, (kv_heads, cap, d), &dev).unwrap();
        let vcache = Tensor::randn(0f32, 1.0, (kv_heads, cap, d), &dev).unwrap();
        // Views into a larger cache, starting past position 0 (a sliding window).
        let k = cache.narrow(1, 5, keys).unwrap();
        let v = vcache.narrow(1, 5, keys).unwrap();
        let fast = attention_one_cpu(&q, &k, &v).unwrap().unwrap();
        let general = attention(&q.unsqueeze(0).unwrap(), &k, &v, None).unwrap();
        let a: Vec<f32> = fast.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = general.flatten_all().unwrap().to_vec1().unwrap();
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn unpermute_order_moves_pairs_to_halves() {
        assert_eq!(unpermute_rope_order(1, 4), vec![0, 2, 1, 3]);
        assert_eq!(unpermute_rope_order(2, 4), vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }

    #[test]
    fn stacked_rows_give_the_same_products() {
        let dev = Device::Cpu;
        let a = Tensor::arange(0f32, 64.0 * 4.0, &dev)
            .unwrap()
            .reshape((4, 64))
            .unwrap();
        let b = (Tensor::arange(0f32, 64.0 * 2.0, &dev)
            .unwrap()
            .reshape((2, 64))
            .unwrap()
            * 0.5)
            .unwrap();
        let q = |t: &Tensor| QTensor::quantize(t, GgmlDType::Q8_0).unwrap();
        let x = Tensor::ones((1, 64), DType::F32, &dev).unwrap();
        let sep_a = Linear::new(q(&a), None, WeightUse::Quantized)
            .unwrap()
            .forward(&x)
            .unwrap();
        let sep_b = Linear::new(q(&b), None, WeightUse::Quantized)
            .unwrap()
            .forward(&x)
            .unwrap();
        let both = Linear::stacked(vec![q(&a), q(&b)], None, WeightUse::Quantized, &dev).unwrap();
        let parts = both.forward_split(&x).unwrap();
        assert_eq!(
            parts[0].to_vec2::<f32>().unwrap(),
            sep_a.to_vec2::<f32>().unwrap()
        );
        assert_eq!(
            parts[1].to_vec2::<f32>().unwrap(),
            sep_b.to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn kv_cache_contents_do_not_depend_on_how_they_were_appended() {
        let dev = Device::Cpu;
        let all = Tensor::arange(0f32, (3 * 600 * 8) as f32, &dev)
            .unwrap()
            .reshape((3, 600, 8))
            .unwrap();
        let mut whole = KvCache::new(1024);
        let (want, _) = whole.append(&all, &all).unwrap();
        let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
        for splits in [vec![300, 300], vec![512, 86, 1, 1], vec![1; 600]] {
            let mut c = KvCache::new(1024);
            let mut at = 0;
            let mut got = None;
            for n in splits.iter().copied() {
                let part = all.narrow(1, at, n).unwrap().contiguous().unwrap();
                got = Some(c.append(&part, &part).unwrap().0);
                at += n;
            }
            let got: Vec<f32> = got.unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got, want, "{splits:?}");
        }
    }

    #[test]
    fn kv_cache_grows_and_truncates() {
        let dev = Device::Cpu;
        let mut c = KvCache::new(2000);
        let k = Tensor::ones((2, 600, 4), DType::F32, &dev).unwrap();
        let (kk, _) = c.append(&k, &k).unwrap();
        assert_eq!(kk.dims(), &[2, 600, 4]);
        let k2 = (Tensor::ones((2, 1, 4), DType::F32, &dev).unwrap() * 2.0).unwrap();
        let (kk, _) = c.append(&k2, &k2).unwrap();
        assert_eq!(kk.dims(), &[2, 601, 4]);
        let last: Vec<f32> = kk
            .narrow(1, 600, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(last.iter().all(|&x| x == 2.0));
        let first: Vec<f32> = kk
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(first.iter().all(|&x| x == 1.0));
        c.truncate(10);
        assert_eq!(c.len(), 10);
        let err = c.append(
            &Tensor::zeros((2, 1991, 4), DType::F32, &dev).unwrap(),
            &Tensor::zeros((2, 1991, 4), DType::F32, &dev).unwrap(),
        );
        assert!(err.is_err());
    }
}
