//! Kernel dispatch: AVX2 (this build's baseline) or AVX-512 when the CPU has it, else the plain
//! Rust kernels.

use super::*;

pub(super) fn has_avx512() -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        false
    }
}

/// Q4_K's 128 bytes of nibbles as 256 values in order.
pub(super) fn unpack_q4k(qs: &[u8], q: &mut [u8]) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    // SAFETY: this build targets AVX2 and FMA, so the CPU has them.
    unsafe {
        super::x86::unpack_q4k(qs, q)
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    scalar::unpack_q4k(qs, q)
}

/// Q6_K's low nibbles and high bit pairs as 256 values (0..=63) in order.
pub(super) fn unpack_q6k(ql: &[u8], qh: &[u8], q: &mut [u8]) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    // SAFETY: as in `unpack_q4k`.
    unsafe {
        super::x86::unpack_q6k(ql, qh, q)
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    scalar::unpack_q6k(ql, qh, q)
}

/// The products of the weight rows in `rows` (each `row_bytes` long) with activation row
/// `r`, straight from their blocks, into `out` (one value per weight row).
pub(super) fn gemv(
    wide: bool,
    format: Format,
    rows: &[u8],
    row_bytes: usize,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32],
) {
    assert!(r < a.rows() && row_bytes == a.blocks * format.block_bytes());
    assert_eq!(rows.len(), out.len() * row_bytes);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    // SAFETY: as in `dot`; row `r` exists with the weight rows' block count.
    unsafe {
        match (wide, format) {
            (true, Format::Q4K) => super::x86::gemv512_q4k(rows, row_bytes, a, r, out),
            (true, Format::Q6K) => super::x86::gemv512_q6k(rows, row_bytes, a, r, out),
            (false, Format::Q4K) => super::x86::gemv256_q4k(rows, row_bytes, a, r, out),
            (false, Format::Q6K) => super::x86::gemv256_q6k(rows, row_bytes, a, r, out),
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        let _ = wide;
        for (w, o) in rows.chunks_exact(row_bytes).zip(out.iter_mut()) {
            *o = match format {
                Format::Q4K => scalar::q4k(w, a, r),
                Format::Q6K => scalar::q6k(w, a, r),
            };
        }
    }
}

/// The products of `buf` with activation rows `r..r + take` (1..=4) into `out` (prompt batches
/// on CPUs without VNNI; those with it take the tiles of `tile.rs`).
pub(super) fn dot(buf: &RowBuf, a: &Q8Rows, r: usize, take: usize, out: &mut [f32; 4]) {
    assert!(take >= 1 && r + take <= a.rows() && a.blocks == buf.blocks());
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    // SAFETY: AVX2 and FMA are this build's baseline. Rows `r..r + take` exist and have
    // `buf`'s block count (asserted above).
    unsafe {
        match take {
            4 => super::x86::dot256::<4>(buf, a, r, out),
            3 => super::x86::dot256::<3>(buf, a, r, out),
            2 => super::x86::dot256::<2>(buf, a, r, out),
            _ => super::x86::dot256::<1>(buf, a, r, out),
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        for (i, o) in out[..take].iter_mut().enumerate() {
            *o = scalar::dot_row(buf, a, r + i);
        }
    }
}
