//! The gated feed-forward activation `act(gate) * up` as one fused pass (GELU-tanh for Gemma,
//! SiLU for the llama family), with a vectorisable `exp` instead of libm's scalar `tanhf`.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::math::exp;

/// Which activation the gate goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as `x·σ(2·√(2/π)·(…))`.
    GeluTanh,
    /// `x·σ(x)`.
    Silu,
}

/// `act(gate) * up`, elementwise, for tensors of the same shape. On CPU one fused pass over the
/// rows (the gate and up halves may be column slices of one fused projection); elsewhere candle's
/// own ops.
pub fn gated(gate: &Tensor, up: &Tensor, act: Gate) -> candle_core::Result<Tensor> {
    if !gate.device().is_cpu() || gate.dtype() != candle_core::DType::F32 {
        let g = match act {
            Gate::GeluTanh => gate.gelu()?,
            Gate::Silu => candle_nn::ops::silu(gate)?,
        };
        return g * up;
    }
    let gate = if rows_of(gate.layout()).is_some() {
        gate.clone()
    } else {
        gate.contiguous()?
    };
    let up = if rows_of(up.layout()).is_some() {
        up.clone()
    } else {
        up.contiguous()?
    };
    gate.apply_op2_no_bwd(&up, &Fused(act))
}

struct Fused(Gate);

/// A layout as `rows` rows of `cols` contiguous values, `row_stride` apart, from `offset`.
struct Rows {
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
}

fn rows_of(layout: &Layout) -> Option<Rows> {
    let dims = layout.dims();
    let strides = layout.stride();
    let (&cols, lead) = dims.split_last()?;
    if cols > 1 && strides[dims.len() - 1] != 1 {
        return None;
    }
    // The leading dimensions must collapse into one row index with a single stride.
    let rows: usize = lead.iter().product();
    let mut row_stride = cols;
    let mut expected = None;
    for i in (0..lead.len()).rev() {
        if lead[i] == 1 {
            continue;
        }
        match expected {
            None => {
                row_stride = strides[i];
                expected = Some(strides[i] * lead[i]);
            }
            Some(e) if strides[i] == e => expected = Some(e * lead[i]),
            Some(_) => return None,
        }
    }
    Some(Rows {
        offset: layout.start_offset(),
        rows,
        cols,
        row_stride,
    })
}

/// Below this many values one thread does the work (decode steps).
const PARALLEL_MIN: usize = 1 << 15;

impl CustomOp2 for Fused {
    fn name(&self) -> &'static str {
        match self.0 {
            Gate::GeluTanh => "gelu-tanh-mul",
            Gate::Silu => "silu-mul",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            candle_core::bail!(
                "gated activation: shapes {:?} and {:?}",
                l1.dims(),
                l2.dims()
            );
        }
        let (CpuStorage::F32(g), CpuStorage::F32(u)) = (s1, s2) else {
            candle_core::bail!("gated activation: f32 only");
        };
        let (Some(rg), Some(ru)) = (rows_of(l1), rows_of(l2)) else {
            candle_core::bail!("gated activation: unsupported layout");
        };
        let cols = rg.cols;
        let mut out = vec![0f32; rg.rows * cols];
        let act = self.0;
        let row = |(r, dst): (usize, &mut [f32])| {
            let g = &g[rg.offset + r * rg.row_stride..][..cols];
            let u = &u[ru.offset + r * ru.row_stride..][..cols];
            apply(act, g, u, dst);
        };
        if out.len() >= PARALLEL_MIN && cols > 0 {
            out.par_chunks_mut(cols).enumerate().for_each(row);
        } else if cols > 0 {
            out.chunks_mut(cols).enumerate().for_each(row);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

fn apply(act: Gate, g: &[f32], u: &[f32], dst: &mut [f32]) {
    match act {
        Gate::GeluTanh => {
            for ((d, &x), &y) in dst.iter_mut().zip(g).zip(u) {
                let z = 2.0 * SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x);
                *d = x * sigmoid(z) * y;
            }
        }
        Gate::Silu => {
            for ((d, &x), &y) in dst.iter_mut().zip(g).zip(u) {
                *d = x * sigmoid(x) * y;
            }
        }
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fused_matches_candle_ops_on_strided_halves() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // A fused gate|up projection output, split into two column halves (strided views).
        let gu = Tensor::randn(0f32, 3.0, (2, 5, 2 * 300), &dev)?;
        let g = gu.narrow(2, 0, 300)?;
        let u = gu.narrow(2, 300, 300)?;
        for act in [Gate::GeluTanh, Gate::Silu] {
            let ours = gated(&g, &u, act)?;
            let reference = match act {
                Gate::GeluTanh => g.gelu()?,
                Gate::Silu => candle_nn::ops::silu(&g)?,
            };
            let reference = (reference * &u)?;
            let diff = (ours - &reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = reference.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(
                diff <= 1e-5 * scale,
                "{act:?}: max diff {diff} (scale {scale})"
            );
        }
        // Large enough for the parallel path, and a transposed (non-collapsible) input.
        let g = Tensor::randn(0f32, 2.0, (64, 1024), &dev)?;
        let u = Tensor::randn(0f32, 2.0, (1024, 64), &dev)?.t()?;
        let ours = gated(&g, &u, Gate::GeluTanh)?;
        let reference = (g.gelu()? * &u)?;
        let diff = (ours - reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "max diff {diff}");
        Ok(())
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let dev = Device::Cpu;
        let g = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let u = Tensor::zeros((3, 2), candle_core::DType::F32, &dev).unwrap();
        assert!(gated(&g, &u, Gate::Silu).is_err());
    }
}
