//! e5's BERT encoder written out over its 4-bit matrices: the matrices stay quantized in memory
//! and are expanded a few rows at a time; the texts of a batch are packed without padding.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use super::e5blob::{dequantize_blocks, Q4_BLOCK_BYTES, QK};
use crate::math::{exp, gelu_erf};

/// Tokens whose rows are read together from the level-2 cache by one task.
const TOKEN_TILE: usize = 64;

/// A Q4_0 matrix of `rows` x `cols` (row-major; each row `cols / 32` blocks of a f16 scale and
/// 32 four-bit values).
pub struct Q4Matrix {
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
}

impl Q4Matrix {
    /// `None` when `cols` is not a whole number of blocks or `bytes` has the wrong length.
    pub fn new(rows: usize, cols: usize, bytes: Vec<u8>) -> Option<Q4Matrix> {
        let whole = cols.is_multiple_of(QK) && bytes.len() == rows * (cols / QK) * Q4_BLOCK_BYTES;
        whole.then_some(Q4Matrix { rows, cols, bytes })
    }

    /// Stacks matrices of the same width (the query, key and value projections become one).
    fn stack(parts: Vec<Q4Matrix>) -> Q4Matrix {
        let cols = parts[0].cols;
        debug_assert!(parts.iter().all(|p| p.cols == cols));
        Q4Matrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            bytes: parts.into_iter().flat_map(|p| p.bytes).collect(),
        }
    }

    /// Rows `first..first + out.len() / cols` as f32.
    fn expand(&self, first: usize, out: &mut [f32]) {
        let row_bytes = self.cols / QK * Q4_BLOCK_BYTES;
        let count = out.len() / self.cols;
        dequantize_blocks(
            &self.bytes[first * row_bytes..(first + count) * row_bytes],
            out,
        );
    }
}

/// What a linear layer does to its output before handing it on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Nothing,
    Gelu,
}

/// `y = x·Wᵀ + b` for `x` of `tokens` rows.
pub struct Linear {
    weight: Q4Matrix,
    bias: Vec<f32>,
}

impl Linear {
    pub fn new(weight: Q4Matrix, bias: Vec<f32>) -> Option<Linear> {
        (bias.len() == weight.rows).then_some(Linear { weight, bias })
    }

    fn stack(parts: Vec<Linear>) -> Linear {
        let bias = parts.iter().flat_map(|p| p.bias.iter().copied()).collect();
        Linear {
            weight: Q4Matrix::stack(parts.into_iter().map(|p| p.weight).collect()),
            bias,
        }
    }

    /// Output columns are split among tasks (a few per thread); see [`Products`] for a task.
    fn forward(&self, x: &[f32], then: Then) -> Vec<f32> {
        let (k, n) = (self.weight.cols, self.weight.rows);
        let tokens = x.len() / k;
        let threads = rayon::current_num_threads().max(1);
        // Four tasks per thread balance the load; whole groups of four rows each.
        let per_task = n.div_ceil(4 * threads).next_multiple_of(4).min(n);
        let parts: Vec<Vec<f32>> = (0..n.div_ceil(per_task))
            .into_par_iter()
            .map(|task| {
                let first = task * per_task;
                let rows = per_task.min(n - first);
                let bias = &self.bias[first..first + rows];
                let mut out = vec![0f32; tokens * rows];
                pulp::Arch::new().dispatch(Products {
                    x,
                    weight: &self.weight,
                    first,
                    rows,
                    out: &mut out,
                });
                for o in out.chunks_exact_mut(rows) {
                    for (v, b) in o.iter_mut().zip(bias) {
                        *v += b;
                    }
                    if then == Then::Gelu {
                        o.iter_mut().for_each(|v| *v = gelu_erf(*v));
                    }
                }
                out
            })
            .collect();
        let mut y = vec![0f32; tokens * n];
        for (task, part) in parts.iter().enumerate() {
            let first = task * per_task;
            let rows = per_task.min(n - first);
            for (yt, pt) in y.chunks_exact_mut(n).zip(part.chunks_exact(rows)) {
                yt[first..first + rows].copy_from_slice(pt);
            }
        }
        y
    }
}

/// One task of a product: `out[t][r] = x[t]·w[first + r]` for every token row of `x` and `rows`
/// weight rows, in the widest SIMD the CPU has (pulp picks it at run time). Tokens go a tile at
/// a time (the tile stays in the level-2 cache); for each tile, four weight rows are expanded to
/// f32 (they stay in the level-1 cache) and every pair of tokens is run against them.
struct Products<'a> {
    x: &'a [f32],
    weight: &'a Q4Matrix,
    first: usize,
    rows: usize,
    out: &'a mut [f32],
}

impl WithSimd for Products<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Products {
            x,
            weight,
            first,
            rows,
            out,
        } = self;
        let k = weight.cols;
        let mut w = vec![0f32; 4 * k];
        for (tile, outs) in x
            .chunks(TOKEN_TILE * k)
            .zip(out.chunks_mut(TOKEN_TILE * rows))
        {
            let mut r = 0;
            while r < rows {
                let n = (rows - r).min(4);
                weight.expand(first + r, &mut w[..n * k]);
                if n < 4 {
                    // Fewer than four rows left: one at a time.
                    for (i, wr) in w[..n * k].chunks_exact(k).enumerate() {
                        for (xt, ot) in tile.chunks_exact(k).zip(outs.chunks_exact_mut(rows)) {
                            ot[r + i] = dot(simd, xt, wr);
                        }
                    }
                    break;
                }
                let (w0, rest) = w.split_at(k);
                let (w1, rest) = rest.split_at(k);
                let (w2, w3) = rest.split_at(k);
                let wq = [w0, w1, w2, w3];
                let mut pairs = tile.chunks_exact(2 * k);
                let mut pair_outs = outs.chunks_exact_mut(2 * rows);
                for (xx, oo) in pairs.by_ref().zip(pair_outs.by_ref()) {
                    let (x0, x1) = xx.split_at(k);
                    let d = dot_2x4(simd, x0, x1, wq);
                    oo[r..r + 4].copy_from_slice(&d[0]);
                    oo[rows + r..rows + r + 4].copy_from_slice(&d[1]);
                }
                let last = pairs.remainder();
                if !last.is_empty() {
                    let o = pair_outs.into_remainder();
                    let d = dot_2x4(simd, last, last, wq);
                    o[r..r + 4].copy_from_slice(&d[0]);
                }
                r += 4;
            }
        }
    }
}

/// Two token rows against four weight rows: eight sums kept in SIMD registers.
#[inline(always)]
fn dot_2x4<S: Simd>(simd: S, x0: &[f32], x1: &[f32], w: [&[f32]; 4]) -> [[f32; 4]; 2] {
    let (v0, t0) = S::as_simd_f32s(x0);
    let (v1, t1) = S::as_simd_f32s(x1);
    let [(w0, u0), (w1, u1), (w2, u2), (w3, u3)] = w.map(S::as_simd_f32s);
    let z = simd.splat_f32s(0.0);
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
    let steps = v0.len().min(v1.len()).min(w0.len()).min(w1.len());
    let steps = steps.min(w2.len()).min(w3.len());
    for i in 0..steps {
        let (p, q) = (v0[i], v1[i]);
        a0 = simd.mul_add_e_f32s(p, w0[i], a0);
        b0 = simd.mul_add_e_f32s(q, w0[i], b0);
        a1 = simd.mul_add_e_f32s(p, w1[i], a1);
        b1 = simd.mul_add_e_f32s(q, w1[i], b1);
        a2 = simd.mul_add_e_f32s(p, w2[i], a2);
        b2 = simd.mul_add_e_f32s(q, w2[i], b2);
        a3 = simd.mul_add_e_f32s(p, w3[i], a3);
        b3 = simd.mul_add_e_f32s(q, w3[i], b3);
    }
    let tail = |x: &[f32], u: &[f32]| x.iter().zip(u).map(|(a, b)| a * b).sum::<f32>();
    let sum = |v| simd.reduce_sum_f32s(v);
    [
        [
            sum(a0) + tail(t0, u0),
            sum(a1) + tail(t0, u1),
            sum(a2) + tail(t0, u2),
            sum(a3) + tail(t0, u3),
        ],
        [
            sum(b0) + tail(t1, u0),
            sum(b1) + tail(t1, u1),
            sum(b2) + tail(t1, u2),
            sum(b3) + tail(t1, u3),
        ],
    ]
}

#[inline(always)]
fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let (va, ta) = S::as_simd_f32s(a);
    let (vb, tb) = S::as_simd_f32s(b);
    let mut acc = simd.splat_f32s(0.0);
    for (x, y) in va.iter().zip(vb) {
        acc = simd.mul_add_e_f32s(*x, *y, acc);
    }
    simd.reduce_sum_f32s(acc) + ta.iter().zip(tb).map(|(x, y)| x * y).sum::<f32>()
}

#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Layer normalisation with a learned scale and shift.
pub struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub eps: f32,
}

impl Norm {
    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        let d = self.weight.len();
        let rows = |x: &mut [f32]| pulp::Arch::new().dispatch(NormRows { norm: self, x });
        if x.len() >= TOKEN_TILE * d {
            x.par_chunks_mut(TOKEN_TILE / 4 * d).for_each(rows);
        } else {
            rows(x);
        }
    }
}

struct NormRows<'a> {
    norm: &'a Norm,
    x: &'a mut [f32],
}

impl WithSimd for NormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Norm { weight, bias, eps } = self.norm;
        let d = weight.len();
        for r in self.x.chunks_exact_mut(d) {
            let mean = sum(simd, r) / d as f32;
            let (v, tail) = S::as_simd_f32s(r);
            let m = simd.splat_f32s(mean);
            let mut acc = simd.splat_f32s(0.0);
            for &x in v {
                let c = simd.sub_f32s(x, m);
                acc = simd.mul_add_e_f32s(c, c, acc);
            }
            let var = (simd.reduce_sum_f32s(acc)
                + tail.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>())
                / d as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, w), b) in r.iter_mut().zip(weight).zip(bias) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }
}

/// The sum of `x`, in SIMD lanes.
#[inline(always)]
fn sum<S: Simd>(simd: S, x: &[f32]) -> f32 {
    let (v, tail) = S::as_simd_f32s(x);
    let mut acc = simd.splat_f32s(0.0);
    for &x in v {
        acc = simd.add_f32s(acc, x);
    }
    simd.reduce_sum_f32s(acc) + tail.iter().sum::<f32>()
}

/// One transformer layer's weights (post-norm, as BERT).
pub struct Layer {
    /// Query, key and value projections stacked: `3 * hidden` outputs.
    qkv: Linear,
    out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

impl Layer {
    pub fn new(
        [q, k, v, out, up, down]: [Linear; 6],
        attention_norm: Norm,
        output_norm: Norm,
    ) -> Layer {
        Layer {
            qkv: Linear::stack(vec![q, k, v]),
            out,
            attention_norm,
            up,
            down,
            output_norm,
        }
    }
}

/// The encoder: layers over packed token rows.
pub struct Encoder {
    pub layers: Vec<Layer>,
    pub heads: usize,
    pub hidden: usize,
}

impl Encoder {
    /// Runs every layer over `x` (token rows of `hidden` values; the texts one after another,
    /// `lens` tokens each) and returns the new rows.
    pub fn forward(&self, mut x: Vec<f32>, lens: &[usize]) -> Vec<f32> {
        let d = self.hidden;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x, Then::Nothing);
            let context = self.attention(&qkv, lens);
            let mut h = layer.out.forward(&context, Then::Nothing);
            add(&mut h, &x);
            layer.attention_norm.apply(&mut h);
            let up = layer.up.forward(&h, Then::Gelu);
            let mut y = layer.down.forward(&up, Then::Nothing);
            add(&mut y, &h);
            layer.output_norm.apply(&mut y);
            x = y;
        }
        debug_assert_eq!(x.len(), lens.iter().sum::<usize>() * d);
        x
    }

    /// Self-attention of each text on itself, head by head (one task per text and head).
    fn attention(&self, qkv: &[f32], lens: &[usize]) -> Vec<f32> {
        let d = self.hidden;
        let hd = d / self.heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let starts: Vec<usize> = lens
            .iter()
            .scan(0, |at, &l| {
                let s = *at;
                *at += l;
                Some(s)
            })
            .collect();
        let tasks: Vec<(usize, usize)> = (0..lens.len())
            .flat_map(|s| (0..self.heads).map(move |h| (s, h)))
            .collect();
        let run = |&(s, h): &(usize, usize)| -> Vec<f32> {
            pulp::Arch::new().dispatch(Head {
                qkv,
                hidden: d,
                head_dim: hd,
                head: h,
                start: starts[s],
                len: lens[s],
                scale,
            })
        };
        let parts: Vec<Vec<f32>> = tasks.par_iter().map(run).collect();
        let mut context = vec![0f32; qkv.len() / 3];
        for (&(s, h), part) in tasks.iter().zip(&parts) {
            for (t, head) in part.chunks_exact(hd).enumerate() {
                let at = (starts[s] + t) * d + h * hd;
                context[at..at + hd].copy_from_slice(head);
            }
        }
        context
    }
}

/// One head's attention for one text: (len, head_dim) context rows.
struct Head<'a> {
    /// Query, key and value rows of all texts: (tokens, 3 * hidden).
    qkv: &'a [f32],
    hidden: usize,
    head_dim: usize,
    head: usize,
    start: usize,
    len: usize,
    scale: f32,
}

impl WithSimd for Head<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
        let (d, hd) = (self.hidden, self.head_dim);
        let row = |t: usize, part: usize| {
            let at = (self.start + t) * 3 * d + part * d + self.head * hd;
            &self.qkv[at..at + hd]
        };
        let mut out = vec![0f32; self.len * hd];
        let mut p = vec![0f32; self.len];
        for (i, o) in out.chunks_exact_mut(hd).enumerate() {
            let q = row(i, 0);
            for (j, pj) in p.iter_mut().enumerate() {
                *pj = dot(simd, q, row(j, 1)) * self.scale;
            }
            let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            p.iter_mut().for_each(|pj| *pj = exp(*pj - max));
            let total = sum(simd, &p);
            for (j, pj) in p.iter().enumerate() {
                let w = pj / total;
                for (ov, vv) in o.iter_mut().zip(row(j, 2)) {
                    *ov = fma(w, *vv, *ov);
                }
            }
        }
        out
    }
}

fn add(into: &mut [f32], other: &[f32]) {
    for (a, b) in into.iter_mut().zip(other) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Q4_0 matrix from values that are exact in four bits times a power-of-two scale.
    fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> i8) -> (Q4Matrix, Vec<f32>) {
        let mut bytes = Vec::new();
        let mut dense = Vec::new();
        for r in 0..rows {
            for b in 0..cols / QK {
                bytes.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
                let q: Vec<i8> = (0..QK).map(|i| f(r, b * QK + i)).collect();
                for j in 0..QK / 2 {
                    bytes.push(((q[j] + 8) as u8) | (((q[j + 16] + 8) as u8) << 4));
                }
                dense.extend(q.iter().map(|&v| f32::from(v) * 0.5));
            }
        }
        (Q4Matrix::new(rows, cols, bytes).unwrap(), dense)
    }

    #[test]
    fn linear_equals_the_plain_product_for_every_shape() {
        // Rows not a multiple of four, token counts odd and beyond one tile.
        for (rows, cols, tokens) in [(4, 32, 1), (7, 64, 3), (38, 96, 67), (13, 32, 130)] {
            let (w, dense) = matrix(rows, cols, |r, c| ((r * 7 + c * 3) % 16) as i8 - 8);
            let bias: Vec<f32> = (0..rows).map(|r| r as f32 * 0.25).collect();
            let x: Vec<f32> = (0..tokens * cols)
                .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let lin = Linear::new(w, bias.clone()).unwrap();
            let y = lin.forward(&x, Then::Nothing);
            let g = lin.forward(&x, Then::Gelu);
            for t in 0..tokens {
                for r in 0..rows {
                    let want: f32 = (0..cols)
                        .map(|c| x[t * cols + c] * dense[r * cols + c])
                        .sum::<f32>()
                        + bias[r];
                    let got = y[t * rows + r];
                    assert!(
                        (got - want).abs() < 1e-3,
                        "{rows}x{cols} t{t} r{r}: {got} vs {want}"
                    );
                    assert!((g[t * rows + r] - gelu_erf(want)).abs() < 1e-3);
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(Q4Matrix::new(2, 30, vec![0; 36]).is_none());
        assert!(Q4Matrix::new(2, 32, vec![0; 35]).is_none());
        let (w, _) = matrix(2, 32, |_, _| 1);
        assert!(Linear::new(w, vec![0.0; 3]).is_none());
    }
}
