//! Pure tensor functions for sentence embeddings: mean over the tokens the attention mask keeps,
//! then L2 normalisation (what sentence-transformers' Pooling + Normalize modules do).

use candle_core::{DType, Result, Tensor, D};

/// `hidden` (batch, seq, dim) and `mask` (batch, seq) of 0/1 -> (batch, dim) mean of unmasked rows.
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?; // (b, s, 1)
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (b, d)
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (b, 1)
    summed.broadcast_div(&counts)
}

/// Rows scaled to unit length (a zero row stays zero).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_ignores_padding_and_norm_is_one() {
        let dev = Device::Cpu;
        // batch of 2, seq 3, dim 2; second sequence has one padding position holding junk.
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[2f32, 0.], [4., 0.], [100., 100.]],
            ],
            &dev,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &dev).unwrap();
        let mean = masked_mean(&hidden, &mask)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(mean, vec![vec![3.0, 4.0], vec![3.0, 0.0]]);
        let normed = l2_normalize(&masked_mean(&hidden, &mask).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert!((normed[0][0] - 0.6).abs() < 1e-6 && (normed[0][1] - 0.8).abs() < 1e-6);
        assert_eq!(normed[1], vec![1.0, 0.0]);
    }

    #[test]
    fn zero_rows_stay_finite() {
        let x = Tensor::zeros((1, 4), DType::F32, &Device::Cpu).unwrap();
        let n = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!(n[0].iter().all(|v| *v == 0.0));
    }
}
