//! Matrix products read straight from the compact GGUF blocks of Q4_K and Q6_K weights: no
//! repacked or dequantized copy, so a model keeps one copy of its weights in memory.
// Candle 0.11 keeps an expanded copy of every Q4_K matrix beside the compact one on x86 (AVX2 and
// AVX-512 tiles, 1.33x; AMX tiles for prompts, 2.2x) and of Q6_K ones for prompts: Qwen2.5-1.5B
// (1.1 GB of blocks) peaked at 3.9 GB. These kernels work on the blocks as stored. The SIMD loads
// need `unsafe`; each such block states why it stays in bounds.
#![allow(unsafe_code)]

use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

/// Values per K-quant block (a "super-block" in ggml's words).
pub const QK: usize = 256;
const Q4K_BYTES: usize = 144;
const Q6K_BYTES: usize = 210;
/// Activation rows one kernel call reads per weight row (each weight block is unpacked once).
const ROWS_PER_PASS: usize = 4;
/// Activation rows kept hot in the caches while every weight row of a work unit passes over them.
const ROW_BLOCK: usize = 64;
/// Weight rows per unit of work handed to a thread.
const UNIT_ROWS: usize = 8;

/// The block formats read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Q4K,
    Q6K,
}

impl Format {
    fn of(dtype: GgmlDType) -> Option<Format> {
        match dtype {
            GgmlDType::Q4K => Some(Format::Q4K),
            GgmlDType::Q6K => Some(Format::Q6K),
            GgmlDType::F32
            | GgmlDType::F16
            | GgmlDType::BF16
            | GgmlDType::Q4_0
            | GgmlDType::Q4_1
            | GgmlDType::Q5_0
            | GgmlDType::Q5_1
            | GgmlDType::Q8_0
            | GgmlDType::Q8_1
            | GgmlDType::Q2K
            | GgmlDType::Q3K
            | GgmlDType::Q5K
            | GgmlDType::Q8K => None,
        }
    }

    fn block_bytes(self) -> usize {
        match self {
            Format::Q4K => Q4K_BYTES,
            Format::Q6K => Q6K_BYTES,
        }
    }
}

/// A weight matrix of `n` rows by `k` columns in its compact blocks, as in the GGUF file, or
/// (Q4_K on CPUs with AVX-512 VNNI) packed 16 rows at a time in about the same space.
#[derive(Debug)]
pub struct CompactWeight {
    format: Format,
    n: usize,
    k: usize,
    data: Vec<u8>,
    /// `data` holds packed Q4_K tiles (`tile::pack_q4k`) instead of the GGUF blocks.
    packed: bool,
}

impl CompactWeight {
    /// The blocks of `t`, or `None` when its format or shape is not one these kernels read.
    pub fn from_qtensor(t: &QTensor) -> candle_core::Result<Option<CompactWeight>> {
        Self::from_qtensor_as(t, Path::best() == Path::Tiles)
    }

    /// As [`from_qtensor`](Self::from_qtensor); Q4_K matrices of whole tiles are packed when
    /// `pack` (which needs AVX-512 VNNI).
    fn from_qtensor_as(t: &QTensor, pack: bool) -> candle_core::Result<Option<CompactWeight>> {
        let Some(format) = Format::of(t.dtype()) else {
            return Ok(None);
        };
        let Ok((n, k)) = t.shape().dims2() else {
            return Ok(None);
        };
        if k == 0 || !k.is_multiple_of(QK) || !t.device().is_cpu() {
            return Ok(None);
        }
        let data = t.data()?.into_owned();
        if data.len() != n * (k / QK) * format.block_bytes() {
            candle_core::bail!("{n}x{k} {format:?} matrix of {} bytes", data.len())
        }
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        if pack && format == Format::Q4K && n.is_multiple_of(tile::TILE_ROWS) {
            let data = tile::pack_q4k(&data, n, k);
            return Ok(Some(CompactWeight {
                format,
                n,
                k,
                data,
                packed: true,
            }));
        }
        let _ = pack;
        Ok(Some(CompactWeight {
            format,
            n,
            k,
            data,
            packed: false,
        }))
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn cols(&self) -> usize {
        self.k
    }

    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn row(&self, j: usize) -> &[u8] {
        assert!(!self.packed, "rows of packed tiles are not GGUF blocks");
        let rb = (self.k / QK) * self.format.block_bytes();
        &self.data[j * rb..(j + 1) * rb]
    }

    /// `x` (m rows of k values, row-major) times the transposed weight: m rows of n values.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.product(x, m, Path::best())
    }

    /// [`matmul`](Self::matmul) through the kernels of `path`.
    fn product(&self, x: &[f32], m: usize, path: Path) -> Vec<f32> {
        let wide = path != Path::Narrow;
        assert_eq!(x.len(), m * self.k, "activations of {m} rows of {}", self.k);
        let acts = Q8Rows::quantize(x, m, self.k);
        let n = self.n;
        let mut y = vec![0f32; m * n];
        let out = OutPtr(y.as_mut_ptr());
        let units = n.div_ceil(UNIT_ROWS);
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        if self.packed {
            let _ = path;
            candle_core::utils::barrier_pool().execute_chunked(n / tile::TILE_ROWS, |range| {
                for t in range {
                    let mut r = 0;
                    while r < m {
                        let take = (m - r).min(ROWS_PER_PASS);
                        // SAFETY: packed tiles exist only where the CPU has AVX-512 F, BW and
                        // VNNI (`from_qtensor_as`), made by `pack_q4k` for this k; tile `t` is
                        // one of the n / 16; rows `r..r + take` exist; `y` holds m * n values
                        // and tile `t`'s 16 columns belong to this thread alone.
                        unsafe {
                            let (o, d) = (out.ptr(), &self.data);
                            match take {
                                4 => tile::packed_q4k::<4>(d, t, &acts, r, o, n),
                                3 => tile::packed_q4k::<3>(d, t, &acts, r, o, n),
                                2 => tile::packed_q4k::<2>(d, t, &acts, r, o, n),
                                _ => tile::packed_q4k::<1>(d, t, &acts, r, o, n),
                            }
                        }
                        r += take;
                    }
                }
            });
            return y;
        }
        if m == 1 {
            // One row (a decode step): read each weight row once, straight from its blocks.
            let rb = (self.k / QK) * self.format.block_bytes();
            candle_core::utils::barrier_pool().execute_chunked(units, |range| {
                let rows = range.start * UNIT_ROWS..(range.end * UNIT_ROWS).min(n);
                // SAFETY: `rows` is inside `0..n` = `y`, and the pool hands each unit to one
                // thread only, so no two threads hold overlapping slices; `y` outlives the call.
                let dst = unsafe { out.slice(rows.start, rows.len()) };
                let w = &self.data[rows.start * rb..rows.end * rb];
                kernels::gemv(wide, self.format, w, rb, &acts, 0, dst);
            });
            return y;
        }
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        if path == Path::Tiles && n.is_multiple_of(tile::TILE_ROWS) {
            let rb = (self.k / QK) * self.format.block_bytes();
            let tiles = n / tile::TILE_ROWS;
            candle_core::utils::barrier_pool().execute_chunked(tiles, |range| {
                let mut t = tile::Tile::new(self.k);
                for ti in range {
                    let j0 = ti * tile::TILE_ROWS;
                    t.fill(
                        self.format,
                        &self.data[j0 * rb..(j0 + tile::TILE_ROWS) * rb],
                        rb,
                    );
                    let mut r = 0;
                    while r < m {
                        let take = (m - r).min(ROWS_PER_PASS);
                        // SAFETY: `Path::Tiles` is chosen only where the CPU has AVX-512 F,
                        // BW and VNNI; rows `r..r + take` exist in `acts` with the tile's
                        // blocks; `y` holds m * n values, `j0 + 16 <= n`, and columns
                        // `j0..j0 + 16` belong to this tile's thread alone.
                        unsafe {
                            let o = out.ptr();
                            match take {
                                4 => tile::product::<4>(&t, &acts, r, o, n, j0),
                                3 => tile::product::<3>(&t, &acts, r, o, n, j0),
                                2 => tile::product::<2>(&t, &acts, r, o, n, j0),
                                _ => tile::product::<1>(&t, &acts, r, o, n, j0),
                            }
                        }
                        r += take;
                    }
                }
            });
            return y;
        }
        candle_core::utils::barrier_pool().execute_chunked(units, |range| {
            let rows = range.start * UNIT_ROWS..(range.end * UNIT_ROWS).min(n);
            let mut buf = RowBuf::new(self.k);
            for r0 in (0..m).step_by(ROW_BLOCK) {
                let r_end = (r0 + ROW_BLOCK).min(m);
                for j in rows.clone() {
                    buf.fill(self.format, self.row(j));
                    let mut r = r0;
                    while r < r_end {
                        let take = (r_end - r).min(ROWS_PER_PASS);
                        let mut sums = [0f32; ROWS_PER_PASS];
                        kernels::dot(&buf, &acts, r, take, &mut sums);
                        for (i, s) in sums[..take].iter().enumerate() {
                            // SAFETY: `r + i < m` and `j < n`, so the index is inside `y`
                            // (m * n values); each (row, j) is written by the one unit
                            // owning j, and `y` outlives the pool call.
                            unsafe { out.write((r + i) * n + j, *s) };
                        }
                        r += take;
                    }
                }
            }
        });
        y
    }
}

/// One weight row unpacked for the dot kernels, both formats alike. A row's product with
/// activations `a` (Q8_K blocks of scale `da`, block sums `bsum`) is
/// `sum_b da_b * (d_b * sum_i q_i s_i a_i - dm_b * sum_t m_bt bsum_bt)`:
/// - `q`: every value as an unsigned byte (Q4_K 0..=15, Q6_K 0..=63, stored 32 too high);
/// - `s`: the scale of every pair of values as i16 (the partner of maddubs' pairs);
/// - `m`: per 16 values, the term the block sums are weighted by (Q4_K: the sub-block's
///   min, with `dm` = dmin; Q6_K: 32 x the scale, undoing the offset, with `dm` = d).
struct RowBuf {
    q: Vec<u8>,
    s: Vec<i16>,
    m: Vec<i16>,
    d: Vec<f32>,
    dm: Vec<f32>,
}

impl RowBuf {
    fn new(k: usize) -> RowBuf {
        let blocks = k / QK;
        RowBuf {
            q: vec![0; k],
            s: vec![0; k / 2],
            m: vec![0; blocks * 16],
            d: vec![0.0; blocks],
            dm: vec![0.0; blocks],
        }
    }

    fn blocks(&self) -> usize {
        self.d.len()
    }

    fn fill(&mut self, format: Format, row: &[u8]) {
        let fixed = "blocks have fixed sizes";
        match format {
            Format::Q4K => {
                for (b, blk) in row.chunks_exact(Q4K_BYTES).enumerate() {
                    self.d[b] = f16_at(blk, 0);
                    self.dm[b] = f16_at(blk, 2);
                    let scales = &blk[4..16];
                    kernels::unpack_q4k(&blk[16..], &mut self.q[b * QK..(b + 1) * QK]);
                    let s: &mut [i16; 128] = (&mut self.s[b * 128..(b + 1) * 128])
                        .try_into()
                        .expect(fixed);
                    let m: &mut [i16; 16] =
                        (&mut self.m[b * 16..(b + 1) * 16]).try_into().expect(fixed);
                    for j in 0..8 {
                        let (sc, mn) = scale_min_k4(j, scales);
                        for v in &mut s[16 * j..16 * j + 16] {
                            *v = sc as i16;
                        }
                        m[2 * j] = mn as i16;
                        m[2 * j + 1] = mn as i16;
                    }
                }
            }
            Format::Q6K => {
                for (b, blk) in row.chunks_exact(Q6K_BYTES).enumerate() {
                    let d = f16_at(blk, 208);
                    (self.d[b], self.dm[b]) = (d, d);
                    let q = &mut self.q[b * QK..(b + 1) * QK];
                    kernels::unpack_q6k(&blk[..128], &blk[128..192], q);
                    let s: &mut [i16; 128] = (&mut self.s[b * 128..(b + 1) * 128])
                        .try_into()
                        .expect(fixed);
                    let m: &mut [i16; 16] =
                        (&mut self.m[b * 16..(b + 1) * 16]).try_into().expect(fixed);
                    for (t, &sc) in blk[192..208].iter().enumerate() {
                        let sc = sc as i8 as i16;
                        for v in &mut s[8 * t..8 * t + 8] {
                            *v = sc;
                        }
                        m[t] = 32 * sc;
                    }
                }
            }
        }
    }
}

/// The output buffer shared by the pool's threads, each writing its own columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: the threads write disjoint elements (see `matmul`) and the buffer outlives them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The buffer's start (a method, so closures capture the `Sync` wrapper, not the pointer).
    fn ptr(self) -> *mut f32 {
        self.0
    }

    /// SAFETY: `i` must be inside the buffer and written by no other thread.
    unsafe fn write(self, i: usize, v: f32) {
        unsafe { *self.ptr().add(i) = v }
    }

    /// SAFETY: `start..start + len` must be inside the buffer and used by no other thread.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr().add(start), len) }
    }
}

/// Activations rounded to 8 bits per 256-value block as ggml's Q8_K does (scale `max / -127`,
/// so every value is in -127..=127), with the sum of every 16 values.
struct Q8Rows {
    blocks: usize,
    d: Vec<f32>,
    qs: Vec<i8>,
    bsums: Vec<i16>,
    /// Every 16 values' sum times their block's scale (the tile kernel's form of `bsums`).
    #[cfg_attr(
        not(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        )),
        allow(dead_code)
    )]
    sum16: Vec<f32>,
}

impl Q8Rows {
    fn quantize(x: &[f32], m: usize, k: usize) -> Q8Rows {
        let blocks = k / QK;
        let mut d = vec![0f32; m * blocks];
        let mut qs = vec![0i8; m * k];
        let mut bsums = vec![0i16; m * blocks * 16];
        for ((xs, q), (db, bs)) in x
            .chunks_exact(QK)
            .zip(qs.chunks_exact_mut(QK))
            .zip(d.iter_mut().zip(bsums.chunks_exact_mut(16)))
        {
            let mut max = 0f32;
            let mut amax = 0f32;
            for &v in xs {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            if amax == 0.0 {
                continue;
            }
            let iscale = -127.0 / max;
            for (qi, &v) in q.iter_mut().zip(xs) {
                *qi = (iscale * v).round().clamp(-128.0, 127.0) as i8;
            }
            for (s, group) in bs.iter_mut().zip(q.chunks_exact(16)) {
                *s = group.iter().map(|&v| v as i16).sum();
            }
            *db = 1.0 / iscale;
        }
        let sum16 = bsums
            .iter()
            .enumerate()
            .map(|(i, &s)| d[i / 16] * s as f32)
            .collect();
        Q8Rows {
            blocks,
            d,
            qs,
            bsums,
            sum16,
        }
    }

    fn rows(&self) -> usize {
        self.d.len() / self.blocks.max(1)
    }
}

/// ggml's 6-bit scale and min of sub-block `j` (0..8) of a Q4_K block.
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// All 8 scales and 8 mins of a Q4_K block's 12 scale bytes at once (ggml's bit shuffle).
fn scales_mins_q4k(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (w0, w1, w2) = (word(0), word(1), word(2));
    let scales = [w0 & LOW6, (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4)];
    let mins = [w1 & LOW6, ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4)];
    let bytes = |v: [u32; 2]| {
        let (a, b) = (v[0].to_le_bytes(), v[1].to_le_bytes());
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    };
    (bytes(scales), bytes(mins))
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// The reference: plain Rust, one activation row; the SIMD kernels are tested against it.
#[cfg(any(
    test,
    not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))
))]
mod scalar;

/// The unpacking and dot-product kernels: AVX2 (this build's baseline) or AVX-512 when the CPU
/// has it, else plain Rust.
mod kernels;

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod x86;

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod tile;

/// Which kernels a product runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// 256-bit (AVX2) kernels, or plain Rust in builds without AVX2.
    Narrow,
    /// 512-bit (AVX-512 BW) kernels for single rows; prompt batches as `Narrow`.
    Wide,
    /// As `Wide`, with prompt batches through VNNI tiles.
    Tiles,
}

impl Path {
    /// The fastest path this CPU runs.
    fn best() -> Path {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        if tile::available() {
            return Path::Tiles;
        }
        if kernels::has_avx512() {
            Path::Wide
        } else {
            Path::Narrow
        }
    }

    /// Every path this CPU runs, for tests.
    #[cfg(test)]
    fn all() -> Vec<Path> {
        match Path::best() {
            Path::Tiles => vec![Path::Narrow, Path::Wide, Path::Tiles],
            Path::Wide => vec![Path::Narrow, Path::Wide],
            Path::Narrow => vec![Path::Narrow],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Tensor};

    fn matrix(n: usize, k: usize, seed: u32) -> Vec<f32> {
        // A fixed pseudo-random matrix with rows of different scales, some negative-heavy.
        let mut s = seed;
        (0..n * k)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let u = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.45;
                u * (1.0 + (i / k % 5) as f32)
            })
            .collect()
    }

    /// Our product against candle's on the same blocks and the same rounded activations.
    fn agrees_with_candle(dtype: GgmlDType, n: usize, k: usize, m: usize) {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(matrix(n, k, 7), (n, k), &dev).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let compact = CompactWeight::from_qtensor_as(&q, false)
            .unwrap()
            .expect("supported");
        let x = matrix(m, k, 11);
        let ours = compact.matmul(&x, m);
        if Path::best() == Path::Tiles {
            let packed = CompactWeight::from_qtensor_as(&q, true).unwrap().unwrap();
            assert_eq!(
                packed.packed,
                dtype == GgmlDType::Q4K && n.is_multiple_of(16)
            );
            for (a, b) in ours.iter().zip(&packed.matmul(&x, m)) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "packed: {a} vs {b}"
                );
            }
        }
        for path in Path::all() {
            let other = compact.product(&x, m, path);
            assert_eq!(ours.len(), other.len());
            for (a, b) in ours.iter().zip(&other) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{path:?}: {a} vs {b}"
                );
            }
        }
        let mut buf = RowBuf::new(k);
        let xt = Tensor::from_vec(x.clone(), (m, k), &dev).unwrap();
        let theirs = candle_core::quantized::QMatMul::from_qtensor(q)
            .unwrap()
            .forward(&xt)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let acts = Q8Rows::quantize(&x, m, k);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            let scale = 1.0 + b.abs();
            assert!(
                (a - b).abs() <= 2e-4 * scale,
                "{dtype:?} m={m} [{i}]: {a} vs {b}"
            );
            let (r, j) = (i / n, i % n);
            let reference = match compact.format {
                Format::Q4K => scalar::q4k(compact.row(j), &acts, r),
                Format::Q6K => scalar::q6k(compact.row(j), &acts, r),
            };
            assert!((a - reference).abs() <= 1e-4 * (1.0 + reference.abs()));
            buf.fill(compact.format, compact.row(j));
            let unpacked = scalar::dot_row(&buf, &acts, r);
            assert!((unpacked - reference).abs() <= 1e-4 * (1.0 + reference.abs()));
        }
    }

    #[test]
    fn q4k_products_match_candles() {
        for m in [1, 3, 4, 9, 70] {
            agrees_with_candle(GgmlDType::Q4K, 48, 512, m);
        }
    }

    #[test]
    fn q6k_products_match_candles() {
        for m in [1, 2, 5, 70] {
            agrees_with_candle(GgmlDType::Q6K, 40, 768, m);
            agrees_with_candle(GgmlDType::Q6K, 64, 512, m);
        }
    }

    #[test]
    fn all_scales_and_mins_at_once_match_one_at_a_time() {
        let mut s = 12345u32;
        for _ in 0..2000 {
            let bytes: [u8; 12] = std::array::from_fn(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (s >> 16) as u8
            });
            let (sc, mn) = scales_mins_q4k(&bytes);
            for j in 0..8 {
                assert_eq!(
                    (sc[j], mn[j]),
                    scale_min_k4(j, &bytes),
                    "{bytes:?} sub-block {j}"
                );
            }
        }
    }

    #[test]
    fn unpacking_matches_the_reference_on_every_byte_value() {
        let bytes: Vec<u8> = (0..192u32).map(|i| (i * 37 + 11) as u8).collect();
        let (mut ours, mut reference) = ([0u8; QK], [0u8; QK]);
        kernels::unpack_q4k(&bytes[..128], &mut ours);
        scalar::unpack_q4k(&bytes[..128], &mut reference);
        assert_eq!(ours, reference);
        kernels::unpack_q6k(&bytes[..128], &bytes[128..], &mut ours);
        scalar::unpack_q6k(&bytes[..128], &bytes[128..], &mut reference);
        assert_eq!(ours, reference);
        assert!(reference.iter().all(|&v| v < 64) && reference.iter().any(|&v| v >= 48));
    }

    #[test]
    fn zero_rows_and_unsupported_formats() {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(matrix(16, 256, 3), (16, 256), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let compact = CompactWeight::from_qtensor(&q).unwrap().unwrap();
        assert!(compact.matmul(&[0.0; 256], 1).iter().all(|&v| v == 0.0));
        let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        assert!(CompactWeight::from_qtensor(&q8).unwrap().is_none());
    }
}
