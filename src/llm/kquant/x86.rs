//! The x86 SIMD kernels: unpacking, products of unpacked rows (AVX2) and products straight from
//! the blocks for single rows (AVX2 and AVX-512 BW).

use super::{f16_at, scales_mins_q4k, Q8Rows, RowBuf, Q4K_BYTES, Q6K_BYTES, QK};
use std::arch::x86_64::*;

/// 32 bytes at byte offset `at` of `s`. SAFETY: `at + 32` must be within `s`.
#[inline(always)]
unsafe fn ld<T>(s: &[T], at: usize) -> __m256i {
    unsafe { _mm256_loadu_si256((s.as_ptr() as *const u8).add(at) as *const __m256i) }
}

/// SAFETY: `at + 32` bytes must be within `s`.
#[inline(always)]
unsafe fn st(s: &mut [u8], at: usize, v: __m256i) {
    unsafe { _mm256_storeu_si256(s.as_mut_ptr().add(at) as *mut __m256i, v) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
pub(super) fn unpack_q4k(qs: &[u8], q: &mut [u8]) {
    let (qs, q): (&[u8; 128], &mut [u8; QK]) = (
        qs.try_into().expect("a Q4_K block has 128 bytes of values"),
        q.try_into().expect("256 values"),
    );
    let low4 = _mm256_set1_epi8(0x0F);
    for j in 0..4 {
        // SAFETY: offsets are below 128 - 32 in `qs` and 256 - 32 in `q`.
        unsafe {
            let v = ld(qs, 32 * j);
            st(q, 64 * j, _mm256_and_si256(v, low4));
            st(
                q,
                64 * j + 32,
                _mm256_and_si256(_mm256_srli_epi16(v, 4), low4),
            );
        }
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) fn unpack_q6k(ql: &[u8], qh: &[u8], q: &mut [u8]) {
    let (ql, qh, q): (&[u8; 128], &[u8; 64], &mut [u8; QK]) = (
        ql.try_into().expect("a Q6_K block has 128 low bytes"),
        qh.try_into().expect("and 64 high bytes"),
        q.try_into().expect("256 values"),
    );
    let low4 = _mm256_set1_epi8(0x0F);
    let two_bits = _mm256_set1_epi8(0x30);
    for half in 0..2 {
        // SAFETY: offsets stay below 128 - 32 (`ql`), 64 - 32 (`qh`), 256 - 32 (`q`).
        unsafe {
            let l0 = ld(ql, 64 * half);
            let l1 = ld(ql, 64 * half + 32);
            let h = ld(qh, 32 * half);
            // Four 32-value quarters: the low nibbles of l0 and l1, then their high
            // nibbles, each with its two bits of h on top.
            let quarters = [
                (_mm256_and_si256(l0, low4), _mm256_slli_epi16(h, 4)),
                (_mm256_and_si256(l1, low4), _mm256_slli_epi16(h, 2)),
                (_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), h),
                (
                    _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                    _mm256_srli_epi16(h, 2),
                ),
            ];
            for (i, (lo, hi)) in quarters.into_iter().enumerate() {
                let v = _mm256_or_si256(lo, _mm256_and_si256(hi, two_bits));
                st(q, 128 * half + 32 * i, v);
            }
        }
    }
}

/// Where the data of activation rows `r..r + R` start: values, scales, block sums.
#[inline(always)]
fn act_rows<const R: usize>(
    a: &Q8Rows,
    r: usize,
) -> ([*const i8; R], [*const f32; R], [*const i16; R]) {
    let kb = a.blocks;
    (
        std::array::from_fn(|i| a.qs[(r + i) * kb * QK..].as_ptr()),
        std::array::from_fn(|i| a.d[(r + i) * kb..].as_ptr()),
        std::array::from_fn(|i| a.bsums[(r + i) * kb * 16..].as_ptr()),
    )
}

/// SAFETY: rows `r..r + R` must exist in `a`, with as many blocks as `buf`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot256<const R: usize>(
    buf: &RowBuf,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32; 4],
) {
    let (aq, ad, ab) = act_rows::<R>(a, r);
    let mut acc = [_mm256_setzero_ps(); R];
    for b in 0..buf.blocks() {
        let mut isum = [_mm256_setzero_si256(); R];
        // SAFETY: block `b` lies inside `buf` (k values, k / 2 scales, 16 terms per
        // block) and inside each activation row (the caller's promise).
        unsafe {
            for c in 0..8 {
                let at = b * QK + 32 * c;
                let w = _mm256_loadu_si256(buf.q.as_ptr().add(at) as *const __m256i);
                let sc = _mm256_loadu_si256(buf.s.as_ptr().add(at / 2) as *const __m256i);
                for i in 0..R {
                    let x = _mm256_loadu_si256(aq[i].add(at) as *const __m256i);
                    let p = _mm256_maddubs_epi16(w, x);
                    isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(p, sc));
                }
            }
            let mv = _mm256_loadu_si256(buf.m.as_ptr().add(16 * b) as *const __m256i);
            let (db, dmb) = (*buf.d.get_unchecked(b), *buf.dm.get_unchecked(b));
            for i in 0..R {
                let da = *ad[i].add(b);
                let bs = _mm256_loadu_si256(ab[i].add(16 * b) as *const __m256i);
                let mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(mv, bs));
                acc[i] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_set1_ps(db * da), acc[i]);
                acc[i] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(dmb * da), acc[i]);
            }
        }
    }
    for i in 0..R {
        out[i] = hsum(acc[i]);
    }
}

/// Where activation row `r`'s values, scales and block sums start.
#[inline(always)]
fn act_row(a: &Q8Rows, r: usize) -> (*const i8, *const f32, *const i16) {
    let (q, d, s) = act_rows::<1>(a, r);
    (q[0], d[0], s[0])
}

/// A Q4_K block's 8 mins times its activations' sums of 16 (8 lanes, each a pair of sums).
/// SAFETY: `bsums` must point at the block's 16 sums.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn q4k_min_sums(mins: &[u8; 8], bsums: *const i16) -> __m256 {
    let m8 = _mm_loadl_epi64(mins.as_ptr() as *const __m128i);
    let paired = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    // SAFETY: the caller's promise.
    let bs = unsafe { _mm256_loadu_si256(bsums as *const __m256i) };
    _mm256_cvtepi32_ps(_mm256_madd_epi16(paired, bs))
}

/// Lanes of `_mm512_permutexvar_epi16` that spread 8 (Q4_K) or 16 (Q6_K) i16 scales
/// over the value pairs of a 64-value chunk.
const fn spread(first: u16, per: usize) -> [u16; 32] {
    let mut out = [0u16; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = first + (i / per) as u16;
        i += 1;
    }
    out
}
const Q4K_SPREAD: [[u16; 32]; 4] = [spread(0, 16), spread(2, 16), spread(4, 16), spread(6, 16)];
const Q6K_SPREAD: [[u16; 32]; 4] = [spread(0, 8), spread(4, 8), spread(8, 8), spread(12, 8)];

/// One Q4_K row times activation row `r`, straight from the blocks (no unpacked copy).
/// SAFETY: row `r` must exist in `a` with the row's block count; AVX-512 F and BW.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
pub(super) unsafe fn gemv512_q4k(
    rows: &[u8],
    row_bytes: usize,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32],
) {
    let (aq, ad, ab) = act_row(a, r);
    let low4 = _mm256_set1_epi8(0x0F);
    let spread: [__m512i; 4] = std::array::from_fn(|j| unsafe {
        _mm512_loadu_si512(Q4K_SPREAD[j].as_ptr() as *const __m512i)
    });
    for (w, o) in rows.chunks_exact(row_bytes).zip(out.iter_mut()) {
        let mut acc = _mm512_setzero_ps();
        let mut acc_min = _mm256_setzero_ps();
        for (b, blk) in w.chunks_exact(Q4K_BYTES).enumerate() {
            let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
            let (sc, mn) = scales_mins_q4k(&blk[4..16]);
            // SAFETY: `blk` has 144 bytes (values from 16); block `b` of row `r` exists.
            unsafe {
                let da = *ad.add(b);
                let s16 = _mm512_castsi256_si512(_mm256_castsi128_si256(_mm_cvtepu8_epi16(
                    _mm_loadl_epi64(sc.as_ptr() as *const __m128i),
                )));
                let mut isum = _mm512_setzero_si512();
                for (j, spread) in spread.iter().enumerate() {
                    let v = _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
                    let lo = _mm256_and_si256(v, low4);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    let wv = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                    let x = _mm512_loadu_si512(aq.add(b * QK + 64 * j) as *const __m512i);
                    let p = _mm512_maddubs_epi16(wv, x);
                    let s = _mm512_permutexvar_epi16(*spread, s16);
                    isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, s));
                }
                let msum = q4k_min_sums(&mn, ab.add(16 * b));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc);
                acc_min = _mm256_fmadd_ps(msum, _mm256_set1_ps(dmin * da), acc_min);
            }
        }
        *o = _mm512_reduce_add_ps(acc) - hsum(acc_min);
    }
}

/// One Q6_K row times activation row `r`. SAFETY: as [`gemv512_q4k`].
#[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
pub(super) unsafe fn gemv512_q6k(
    rows: &[u8],
    row_bytes: usize,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32],
) {
    let (aq, ad, ab) = act_row(a, r);
    let spread: [__m512i; 4] = std::array::from_fn(|j| unsafe {
        _mm512_loadu_si512(Q6K_SPREAD[j].as_ptr() as *const __m512i)
    });
    for (w, o) in rows.chunks_exact(row_bytes).zip(out.iter_mut()) {
        let mut acc = _mm512_setzero_ps();
        let mut acc_off = _mm256_setzero_ps();
        for (b, blk) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let d = f16_at(blk, 208);
            let mut q = [0u8; QK];
            // SAFETY: the block has 210 bytes; block `b` of row `r` exists.
            unsafe {
                unpack_q6k(&blk[..128], &blk[128..192], &mut q);
                let da = *ad.add(b);
                let s16 =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(blk.as_ptr().add(192) as *const __m128i));
                let s16w = _mm512_castsi256_si512(s16);
                let mut isum = _mm512_setzero_si512();
                for (c, spread) in spread.iter().enumerate() {
                    let wv = _mm512_loadu_si512(q.as_ptr().add(64 * c) as *const __m512i);
                    let x = _mm512_loadu_si512(aq.add(b * QK + 64 * c) as *const __m512i);
                    let p = _mm512_maddubs_epi16(wv, x);
                    let s = _mm512_permutexvar_epi16(*spread, s16w);
                    isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, s));
                }
                let bs = _mm256_loadu_si256(ab.add(16 * b) as *const __m256i);
                let off = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, bs));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc);
                acc_off = _mm256_fmadd_ps(off, _mm256_set1_ps(32.0 * d * da), acc_off);
            }
        }
        *o = _mm512_reduce_add_ps(acc) - hsum(acc_off);
    }
}

/// One Q4_K row times activation row `r`, 256 bits wide. SAFETY: row `r` must exist
/// in `a` with the row's block count.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv256_q4k(
    rows: &[u8],
    row_bytes: usize,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32],
) {
    let (aq, ad, ab) = act_row(a, r);
    let low4 = _mm256_set1_epi8(0x0F);
    for (w, o) in rows.chunks_exact(row_bytes).zip(out.iter_mut()) {
        let mut acc = _mm256_setzero_ps();
        for (b, blk) in w.chunks_exact(Q4K_BYTES).enumerate() {
            let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
            let (sc, mn) = scales_mins_q4k(&blk[4..16]);
            // SAFETY: as in `gemv512_q4k`.
            unsafe {
                let da = *ad.add(b);
                let mut isum = _mm256_setzero_si256();
                for j in 0..4 {
                    let v = _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
                    let lo = _mm256_and_si256(v, low4);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    let x0 = _mm256_loadu_si256(aq.add(b * QK + 64 * j) as *const __m256i);
                    let x1 = _mm256_loadu_si256(aq.add(b * QK + 64 * j + 32) as *const __m256i);
                    let p0 = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(lo, x0),
                        _mm256_set1_epi16(sc[2 * j] as i16),
                    );
                    let p1 = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(hi, x1),
                        _mm256_set1_epi16(sc[2 * j + 1] as i16),
                    );
                    isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
                }
                let msum = q4k_min_sums(&mn, ab.add(16 * b));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * da), acc);
                acc = _mm256_fnmadd_ps(msum, _mm256_set1_ps(dmin * da), acc);
            }
        }
        *o = hsum(acc);
    }
}

/// One Q6_K row times activation row `r`, 256 bits wide. SAFETY: as [`gemv256_q4k`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv256_q6k(
    rows: &[u8],
    row_bytes: usize,
    a: &Q8Rows,
    r: usize,
    out: &mut [f32],
) {
    let (aq, ad, ab) = act_row(a, r);
    for (w, o) in rows.chunks_exact(row_bytes).zip(out.iter_mut()) {
        let mut acc = _mm256_setzero_ps();
        for (b, blk) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let d = f16_at(blk, 208);
            let mut q = [0u8; QK];
            let sc: [i16; 16] = std::array::from_fn(|s| blk[192 + s] as i8 as i16);
            // SAFETY: as in `gemv512_q6k`.
            unsafe {
                unpack_q6k(&blk[..128], &blk[128..192], &mut q);
                let da = *ad.add(b);
                let mut isum = _mm256_setzero_si256();
                for g in 0..8 {
                    let wv = _mm256_loadu_si256(q.as_ptr().add(32 * g) as *const __m256i);
                    let x = _mm256_loadu_si256(aq.add(b * QK + 32 * g) as *const __m256i);
                    let s =
                        _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
                    isum =
                        _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(wv, x), s));
                }
                let s16 = _mm256_loadu_si256(sc.as_ptr() as *const __m256i);
                let bs = _mm256_loadu_si256(ab.add(16 * b) as *const __m256i);
                let off = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, bs));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * da), acc);
                acc = _mm256_fnmadd_ps(off, _mm256_set1_ps(32.0 * d * da), acc);
            }
        }
        *o = hsum(acc);
    }
}
