//! Prompt batches on CPUs with AVX-512 VNNI: 16 weight rows at a time are unpacked into a
//! short-lived interleaved tile, so one `vpdpbusd` makes 64 products (16 rows x 4 values).
// The tile lives in one thread's buffer for one product: like candle's repacked tiles it feeds
// VNNI, unlike them it is never kept, so the weights stay in memory once.

use std::arch::x86_64::*;

use super::{f16_at, scales_mins_q4k, Format, Q8Rows, Q4K_BYTES, Q6K_BYTES, QK};

/// Weight rows per tile: one 512-bit register holds 4 values of each.
pub(super) const TILE_ROWS: usize = 16;

/// 16 weight rows unpacked and interleaved. For every 4 values (a group) the 16 rows' bytes sit
/// side by side (64 bytes); for every 16 values (a unit) the 16 rows' scales `d x sc` and the
/// terms their unit sums are weighted by (Q4_K: `dmin x min`; Q6_K: `32 x d x sc`, undoing the
/// stored offset of 32). Row value sums are then `sum_u scale_u (sum a q) - term_u (sum a)`.
pub(super) struct Tile {
    q: Vec<u32>,
    scale: Vec<f32>,
    term: Vec<f32>,
}

impl Tile {
    pub(super) fn new(k: usize) -> Tile {
        Tile {
            q: vec![0; k / 4 * TILE_ROWS],
            scale: vec![0.0; k / 16 * TILE_ROWS],
            term: vec![0.0; k / 16 * TILE_ROWS],
        }
    }

    /// Unpacks `rows` (16 weight rows of `row_bytes`) into the tile.
    pub(super) fn fill(&mut self, format: Format, rows: &[u8], row_bytes: usize) {
        let mut values = [0u8; QK];
        for (j, row) in rows.chunks_exact(row_bytes).enumerate() {
            for (b, blk) in row.chunks_exact(format.block_bytes()).enumerate() {
                let unit = |t: usize| (b * 16 + t) * TILE_ROWS + j;
                match format {
                    Format::Q4K => {
                        super::kernels::unpack_q4k(&blk[16..Q4K_BYTES], &mut values);
                        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                        let (sc, mn) = scales_mins_q4k(&blk[4..16]);
                        for t in 0..16 {
                            self.scale[unit(t)] = d * sc[t / 2] as f32;
                            self.term[unit(t)] = dmin * mn[t / 2] as f32;
                        }
                    }
                    Format::Q6K => {
                        super::kernels::unpack_q6k(&blk[..128], &blk[128..192], &mut values);
                        let d = f16_at(blk, Q6K_BYTES - 2);
                        for t in 0..16 {
                            let sc = d * blk[192 + t] as i8 as f32;
                            self.scale[unit(t)] = sc;
                            self.term[unit(t)] = 32.0 * sc;
                        }
                    }
                }
                for (g, four) in values.chunks_exact(4).enumerate() {
                    let four = [four[0], four[1], four[2], four[3]];
                    self.q[(b * 64 + g) * TILE_ROWS + j] = u32::from_le_bytes(four);
                }
            }
        }
    }
}

/// The products of the tile's 16 rows with activation rows `r..r + R`, stored at
/// `out[(r + i) * n + j0..][..16]`.
///
/// SAFETY: the CPU must have AVX-512 F, BW and VNNI; rows `r..r + R` must exist in `a`, whose
/// rows have as many blocks as the tile; `out` must hold `(r + R) * n` values with
/// `j0 + 16 <= n`, and no other thread may write those 16 columns of these rows.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn product<const R: usize>(
    tile: &Tile,
    a: &Q8Rows,
    r: usize,
    out: *mut f32,
    n: usize,
    j0: usize,
) {
    let kb = a.blocks;
    let aq: [*const i8; R] = std::array::from_fn(|i| a.qs[(r + i) * kb * QK..].as_ptr());
    let ad: [*const f32; R] = std::array::from_fn(|i| a.d[(r + i) * kb..].as_ptr());
    let asum: [*const f32; R] = std::array::from_fn(|i| a.sum16[(r + i) * kb * 16..].as_ptr());
    let (q, scale, term) = (tile.q.as_ptr(), tile.scale.as_ptr(), tile.term.as_ptr());
    let mut acc = [_mm512_setzero_ps(); R];
    for b in 0..kb {
        let mut blk = [_mm512_setzero_ps(); R];
        for u in 0..16 {
            let unit = b * 16 + u;
            let mut isum = [_mm512_setzero_si512(); R];
            // SAFETY: unit < k / 16 and its 4 groups are inside the tile (k / 4 groups of 16
            // u32), its 16 values inside each activation row (the caller's promise).
            unsafe {
                for g in 0..4 {
                    let w = _mm512_loadu_si512(q.add((unit * 4 + g) * TILE_ROWS) as *const __m512i);
                    for i in 0..R {
                        let four = (aq[i].add(unit * 16 + 4 * g) as *const i32).read_unaligned();
                        isum[i] = _mm512_dpbusd_epi32(isum[i], w, _mm512_set1_epi32(four));
                    }
                }
                let sc = _mm512_loadu_ps(scale.add(unit * TILE_ROWS));
                let tm = _mm512_loadu_ps(term.add(unit * TILE_ROWS));
                for i in 0..R {
                    blk[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), sc, blk[i]);
                    acc[i] = _mm512_fnmadd_ps(tm, _mm512_set1_ps(*asum[i].add(unit)), acc[i]);
                }
            }
        }
        for i in 0..R {
            // SAFETY: block `b` of each row exists.
            let da = unsafe { *ad[i].add(b) };
            acc[i] = _mm512_fmadd_ps(blk[i], _mm512_set1_ps(da), acc[i]);
        }
    }
    for (i, v) in acc.iter().enumerate() {
        // SAFETY: the caller's promise on `out`.
        unsafe { _mm512_storeu_ps(out.add((r + i) * n + j0), *v) };
    }
}

/// Whether this CPU runs [`product`].
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

/// Bytes of one packed Q4_K tile-block: 16 rows x 256 values.
pub(super) const PACKED_Q4K_BYTES: usize = 2048 + 128 + 128 + 64 + 64;

/// Q4_K rows packed 16 at a time, replacing the GGUF blocks at about the same size (0.59 against
/// 0.5625 bytes per weight). Per tile-block: for every 8 values the 16 rows' nibbles side by
/// side (byte `j` of a row holds values `j` and `j + 4`, so one 64-byte load gives 16 rows x 4
/// values in its low nibbles and the next 4 in its high ones); then the 6-bit scales and mins
/// of the 8 sub-blocks, 16 rows each; then `d` and `dmin` of the 16 rows as f32.
pub(super) fn pack_q4k(blocks: &[u8], n: usize, k: usize) -> Vec<u8> {
    let kb = k / QK;
    let row_bytes = kb * Q4K_BYTES;
    let mut out = vec![0u8; n / TILE_ROWS * kb * PACKED_Q4K_BYTES];
    let mut values = [0u8; QK];
    for (t, tile) in out.chunks_exact_mut(kb * PACKED_Q4K_BYTES).enumerate() {
        for (b, dst) in tile.chunks_exact_mut(PACKED_Q4K_BYTES).enumerate() {
            for row in 0..TILE_ROWS {
                let at = (t * TILE_ROWS + row) * row_bytes + b * Q4K_BYTES;
                let blk = &blocks[at..at + Q4K_BYTES];
                super::kernels::unpack_q4k(&blk[16..], &mut values);
                for g in 0..32 {
                    for j in 0..4 {
                        dst[(g * TILE_ROWS + row) * 4 + j] =
                            values[8 * g + j] | (values[8 * g + j + 4] << 4);
                    }
                }
                let (sc, mn) = scales_mins_q4k(&blk[4..16]);
                for s in 0..8 {
                    dst[2048 + s * TILE_ROWS + row] = sc[s];
                    dst[2176 + s * TILE_ROWS + row] = mn[s];
                }
                let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                dst[2304 + 4 * row..2308 + 4 * row].copy_from_slice(&d.to_le_bytes());
                dst[2368 + 4 * row..2372 + 4 * row].copy_from_slice(&dmin.to_le_bytes());
            }
        }
    }
    out
}

/// The products of packed Q4_K tile `t` (16 weight rows) with activation rows `r..r + R`,
/// stored at `out[(r + i) * n + 16 t..][..16]`.
///
/// SAFETY: the CPU must have AVX-512 F, BW and VNNI; `packed` must come from [`pack_q4k`] for
/// `k = 256 x a.blocks` with tile `t` inside it; rows `r..r + R` must exist in `a`; `out` must
/// hold `(r + R) * n` values with `16 (t + 1) <= n`, those columns written by no other thread.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn packed_q4k<const R: usize>(
    packed: &[u8],
    t: usize,
    a: &Q8Rows,
    r: usize,
    out: *mut f32,
    n: usize,
) {
    let kb = a.blocks;
    let aq: [*const i8; R] = std::array::from_fn(|i| a.qs[(r + i) * kb * QK..].as_ptr());
    let ad: [*const f32; R] = std::array::from_fn(|i| a.d[(r + i) * kb..].as_ptr());
    let asum: [*const f32; R] = std::array::from_fn(|i| a.sum16[(r + i) * kb * 16..].as_ptr());
    let low4 = _mm512_set1_epi8(0x0F);
    let mut acc = [_mm512_setzero_ps(); R];
    for b in 0..kb {
        // SAFETY: tile-block (t, b) is inside `packed`; block `b` of each row exists.
        unsafe {
            let base = packed.as_ptr().add((t * kb + b) * PACKED_Q4K_BYTES);
            let d = _mm512_loadu_ps(base.add(2304) as *const f32);
            let dmin = _mm512_loadu_ps(base.add(2368) as *const f32);
            for s in 0..8 {
                let mut isum = [_mm512_setzero_si512(); R];
                for gg in 0..4 {
                    let g = 4 * s + gg;
                    let w = _mm512_loadu_si512(base.add(g * 64) as *const __m512i);
                    let lo = _mm512_and_si512(w, low4);
                    let hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
                    for i in 0..R {
                        let at = aq[i].add(b * QK + 8 * g) as *const i32;
                        let (x0, x1) = (at.read_unaligned(), at.add(1).read_unaligned());
                        isum[i] = _mm512_dpbusd_epi32(isum[i], lo, _mm512_set1_epi32(x0));
                        isum[i] = _mm512_dpbusd_epi32(isum[i], hi, _mm512_set1_epi32(x1));
                    }
                }
                let sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(
                    base.add(2048 + 16 * s) as *const __m128i
                ));
                let mn = _mm512_cvtepu8_epi32(_mm_loadu_si128(
                    base.add(2176 + 16 * s) as *const __m128i
                ));
                let sc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
                let mn = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn));
                for i in 0..R {
                    let da = *ad[i].add(b);
                    let sum = *asum[i].add(16 * b + 2 * s) + *asum[i].add(16 * b + 2 * s + 1);
                    let scaled = _mm512_mul_ps(sc, _mm512_set1_ps(da));
                    acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), scaled, acc[i]);
                    acc[i] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(sum), acc[i]);
                }
            }
        }
    }
    for (i, v) in acc.iter().enumerate() {
        // SAFETY: the caller's promise on `out`.
        unsafe { _mm512_storeu_ps(out.add((r + i) * n + TILE_ROWS * t), *v) };
    }
}
