//! Elementary functions written so that loops over them vectorise (no libm calls): `exp` and
//! `erf`, shared by the generator's and the embedder's activations.

/// `e^x` to about 2 ulp over the f32 range, branch-free so loops over it vectorise: `x = n·ln2 + r`
/// with `|r| ≤ ln2/2`, a degree-6 polynomial for `e^r`, and `2^n` built in the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and a correction (Cody–Waite).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients of e^r up to r^6 (error < 2e-8 for |r| ≤ 0.35).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// The error function to about 5e-7 absolute (Abramowitz and Stegun 7.1.26, 1.5e-7, plus f32
/// rounding), branch-free.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// BERT's GELU, `x·Φ(x)` with the exact normal CDF: `0.5·x·(1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_across_the_range() {
        let mut worst = 0f32;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn erf_matches_libm_across_the_range() {
        let mut worst = 0f64;
        let mut x = -6.0f64;
        while x < 6.0 {
            let ours = f64::from(erf(x as f32));
            worst = worst.max((ours - libm_erf(x)).abs());
            x += 0.001_37;
        }
        assert!(worst < 6e-7, "worst absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!(gelu_erf(-10.0).abs() < 1e-6 && (gelu_erf(10.0) - 10.0).abs() < 1e-5);
    }

    /// erf in f64 by its Taylor series (|x| < 3) and the continued fraction of erfc beyond.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = f64::from(k) / 2.0 / (a + f);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
        };
        v.copysign(x)
    }
}
