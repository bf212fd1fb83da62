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

/// A weight matrix of `n` rows by `k` columns in its compact blocks, as in the GGUF file.
#[derive(Debug)]
pub struct CompactWeight {
    format: Format,
    n: usize,
    k: usize,
    data: Vec<u8>,
}

impl CompactWeight {
    /// The blocks of `t`, or `None` when its format or shape is not one these kernels read.
    pub fn from_qtensor(t: &QTensor) -> candle_core::Result<Option<CompactWeight>> {
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
        Ok(Some(CompactWeight { format, n, k, data }))
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
        let rb = (self.k / QK) * self.format.block_bytes();
        &self.data[j * rb..(j + 1) * rb]
    }

    /// `x` (m rows of k values, row-major) times the transposed weight: m rows of n values.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.product(x, m, kernels::has_avx512())
    }

    /// [`matmul`](Self::matmul) with the 512-bit kernels (`wide`) or the 256-bit ones.
    fn product(&self, x: &[f32], m: usize, wide: bool) -> Vec<f32> {
        assert_eq!(x.len(), m * self.k, "activations of {m} rows of {}", self.k);
        let acts = Q8Rows::quantize(x, m, self.k);
        let n = self.n;
        let mut y = vec![0f32; m * n];
        let out = OutPtr(y.as_mut_ptr());
        let units = n.div_ceil(UNIT_ROWS);
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
                        kernels::dot(wide, &buf, &acts, r, take, &mut sums);
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
    /// SAFETY: `i` must be inside the buffer and written by no other thread.
    unsafe fn write(self, i: usize, v: f32) {
        unsafe { *self.0.add(i) = v }
    }

    /// SAFETY: `start..start + len` must be inside the buffer and used by no other thread.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Activations rounded to 8 bits per 256-value block as ggml's Q8_K does (scale `max / -127`,
/// so every value is in -127..=127), with the sum of every 16 values.
struct Q8Rows {
    blocks: usize,
    d: Vec<f32>,
    qs: Vec<i8>,
    bsums: Vec<i16>,
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
        Q8Rows {
            blocks,
            d,
            qs,
            bsums,
        }
    }

    fn rows(&self) -> usize {
        self.d.len() / self.blocks.max(1)
    }
}

/// Per-row access for the plain-Rust kernels (the SIMD ones take raw row starts).
#[cfg(any(
    test,
    not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))
))]
impl Q8Rows {
    fn qs(&self, row: usize, block: usize) -> &[i8] {
        let at = (row * self.blocks + block) * QK;
        &self.qs[at..at + QK]
    }

    fn d(&self, row: usize, block: usize) -> f32 {
        self.d[row * self.blocks + block]
    }

    fn bsums(&self, row: usize, block: usize) -> &[i16] {
        let at = (row * self.blocks + block) * 16;
        &self.bsums[at..at + 16]
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
mod scalar {
    use super::*;

    pub(super) fn q4k(w: &[u8], a: &Q8Rows, row: usize) -> f32 {
        let mut total = 0f32;
        for (b, blk) in w.chunks_exact(Q4K_BYTES).enumerate() {
            let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
            let (scales, qs) = (&blk[4..16], &blk[16..]);
            let (aq, bs) = (a.qs(row, b), a.bsums(row, b));
            let (mut isum, mut msum) = (0i32, 0i32);
            for j in 0..4 {
                let (sc1, m1) = scale_min_k4(2 * j, scales);
                let (sc2, m2) = scale_min_k4(2 * j + 1, scales);
                let q = &qs[32 * j..32 * j + 32];
                let (lo, hi) = (&aq[64 * j..64 * j + 32], &aq[64 * j + 32..64 * j + 64]);
                let s1: i32 = q
                    .iter()
                    .zip(lo)
                    .map(|(&q, &a)| (q & 15) as i32 * a as i32)
                    .sum();
                let s2: i32 = q
                    .iter()
                    .zip(hi)
                    .map(|(&q, &a)| (q >> 4) as i32 * a as i32)
                    .sum();
                isum += sc1 as i32 * s1 + sc2 as i32 * s2;
                msum += m1 as i32 * (bs[4 * j] as i32 + bs[4 * j + 1] as i32)
                    + m2 as i32 * (bs[4 * j + 2] as i32 + bs[4 * j + 3] as i32);
            }
            total += a.d(row, b) * (d * isum as f32 - dmin * msum as f32);
        }
        total
    }

    pub(super) fn q6k(w: &[u8], a: &Q8Rows, row: usize) -> f32 {
        let mut total = 0f32;
        for (b, blk) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let (ql, qh, scales) = (&blk[..128], &blk[128..192], &blk[192..208]);
            let d = f16_at(blk, 208);
            let aq = a.qs(row, b);
            let mut isum = 0i32;
            for v in 0..QK {
                let (half, pos) = (v / 128, v % 128);
                let (quarter, l) = (pos / 32, pos % 32);
                let low = ql[64 * half + 32 * (quarter % 2) + l];
                let low = if quarter < 2 { low & 15 } else { low >> 4 };
                let high = (qh[32 * half + l] >> (2 * quarter)) & 3;
                let q = (low | (high << 4)) as i32 - 32;
                isum += scales[v / 16] as i8 as i32 * q * aq[v] as i32;
            }
            total += a.d(row, b) * d * isum as f32;
        }
        total
    }

    pub(super) fn unpack_q4k(qs: &[u8], q: &mut [u8]) {
        for j in 0..4 {
            for l in 0..32 {
                q[64 * j + l] = qs[32 * j + l] & 15;
                q[64 * j + 32 + l] = qs[32 * j + l] >> 4;
            }
        }
    }

    pub(super) fn unpack_q6k(ql: &[u8], qh: &[u8], q: &mut [u8]) {
        for (v, out) in q.iter_mut().enumerate().take(QK) {
            let (half, pos) = (v / 128, v % 128);
            let (quarter, l) = (pos / 32, pos % 32);
            let low = ql[64 * half + 32 * (quarter % 2) + l];
            let low = if quarter < 2 { low & 15 } else { low >> 4 };
            *out = low | (((qh[32 * half + l] >> (2 * quarter)) & 3) << 4);
        }
    }

    /// One row's product through the unpacked form (the kernels' arithmetic, unvectorized).
    pub(super) fn dot_row(buf: &RowBuf, a: &Q8Rows, row: usize) -> f32 {
        let mut total = 0f32;
        for b in 0..buf.blocks() {
            let (q, s, aq) = (&buf.q[b * QK..], &buf.s[b * 128..], a.qs(row, b));
            let isum: i32 = (0..QK)
                .map(|i| q[i] as i32 * s[i / 2] as i32 * aq[i] as i32)
                .sum();
            let bs = a.bsums(row, b);
            let msum: i32 = (0..16)
                .map(|t| buf.m[b * 16 + t] as i32 * bs[t] as i32)
                .sum();
            total += a.d(row, b) * (buf.d[b] * isum as f32 - buf.dm[b] * msum as f32);
        }
        total
    }
}

/// The unpacking and dot-product kernels: AVX2 (this build's baseline) or AVX-512 when the CPU
/// has it, else plain Rust.
mod kernels {
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
            x86::unpack_q4k(qs, q)
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
            x86::unpack_q6k(ql, qh, q)
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
                (true, Format::Q4K) => x86::gemv512_q4k(rows, row_bytes, a, r, out),
                (true, Format::Q6K) => x86::gemv512_q6k(rows, row_bytes, a, r, out),
                (false, Format::Q4K) => x86::gemv256_q4k(rows, row_bytes, a, r, out),
                (false, Format::Q6K) => x86::gemv256_q6k(rows, row_bytes, a, r, out),
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

    /// The products of `buf` with activation rows `r..r + take` (1..=4) into `out`.
    pub(super) fn dot(
        wide: bool,
        buf: &RowBuf,
        a: &Q8Rows,
        r: usize,
        take: usize,
        out: &mut [f32; 4],
    ) {
        assert!(take >= 1 && r + take <= a.rows() && a.blocks == buf.blocks());
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        // SAFETY: AVX2 and FMA are this build's baseline; the AVX-512 kernels run only when
        // `wide`, which `has_avx512` sets from the CPU's own report. Rows `r..r + take` exist
        // and have `buf`'s block count (asserted above).
        unsafe {
            match (wide, take) {
                (true, 4) => x86::dot512::<4>(buf, a, r, out),
                (true, 3) => x86::dot512::<3>(buf, a, r, out),
                (true, 2) => x86::dot512::<2>(buf, a, r, out),
                (true, _) => x86::dot512::<1>(buf, a, r, out),
                (false, 4) => x86::dot256::<4>(buf, a, r, out),
                (false, 3) => x86::dot256::<3>(buf, a, r, out),
                (false, 2) => x86::dot256::<2>(buf, a, r, out),
                (false, _) => x86::dot256::<1>(buf, a, r, out),
            }
        }
        #[cfg(not(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        )))]
        {
            let _ = wide;
            for (i, o) in out[..take].iter_mut().enumerate() {
                *o = scalar::dot_row(buf, a, r + i);
            }
        }
    }

    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    mod x86 {
        use super::super::{f16_at, scales_mins_q4k, Q8Rows, RowBuf, Q4K_BYTES, Q6K_BYTES, QK};
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
                        acc[i] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(isum[i]),
                            _mm256_set1_ps(db * da),
                            acc[i],
                        );
                        acc[i] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(dmb * da), acc[i]);
                    }
                }
            }
            for i in 0..R {
                out[i] = hsum(acc[i]);
            }
        }

        /// SAFETY: as [`dot256`], and the CPU must have AVX-512 F and BW.
        #[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
        pub(super) unsafe fn dot512<const R: usize>(
            buf: &RowBuf,
            a: &Q8Rows,
            r: usize,
            out: &mut [f32; 4],
        ) {
            let (aq, ad, ab) = act_rows::<R>(a, r);
            let mut acc = [_mm512_setzero_ps(); R];
            let mut acc_min = [_mm256_setzero_ps(); R];
            for b in 0..buf.blocks() {
                let mut isum = [_mm512_setzero_si512(); R];
                // SAFETY: as in `dot256`.
                unsafe {
                    for c in 0..4 {
                        let at = b * QK + 64 * c;
                        let w = _mm512_loadu_si512(buf.q.as_ptr().add(at) as *const __m512i);
                        let sc = _mm512_loadu_si512(buf.s.as_ptr().add(at / 2) as *const __m512i);
                        for i in 0..R {
                            let x = _mm512_loadu_si512(aq[i].add(at) as *const __m512i);
                            let p = _mm512_maddubs_epi16(w, x);
                            isum[i] = _mm512_add_epi32(isum[i], _mm512_madd_epi16(p, sc));
                        }
                    }
                    let mv = _mm256_loadu_si256(buf.m.as_ptr().add(16 * b) as *const __m256i);
                    let (db, dmb) = (*buf.d.get_unchecked(b), *buf.dm.get_unchecked(b));
                    for i in 0..R {
                        let da = *ad[i].add(b);
                        let bs = _mm256_loadu_si256(ab[i].add(16 * b) as *const __m256i);
                        let mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(mv, bs));
                        acc[i] = _mm512_fmadd_ps(
                            _mm512_cvtepi32_ps(isum[i]),
                            _mm512_set1_ps(db * da),
                            acc[i],
                        );
                        acc_min[i] = _mm256_fmadd_ps(mins, _mm256_set1_ps(dmb * da), acc_min[i]);
                    }
                }
            }
            for i in 0..R {
                out[i] = _mm512_reduce_add_ps(acc[i]) - hsum(acc_min[i]);
            }
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
        const Q4K_SPREAD: [[u16; 32]; 4] =
            [spread(0, 16), spread(2, 16), spread(4, 16), spread(6, 16)];
        const Q6K_SPREAD: [[u16; 32]; 4] =
            [spread(0, 8), spread(4, 8), spread(8, 8), spread(12, 8)];

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
            let (aq, ad, ab) = act_rows::<1>(a, r);
            let (aq, ad, ab) = (aq[0], ad[0], ab[0]);
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
                        let s16 = _mm512_castsi256_si512(_mm256_castsi128_si256(
                            _mm_cvtepu8_epi16(_mm_loadl_epi64(sc.as_ptr() as *const __m128i)),
                        ));
                        let mut isum = _mm512_setzero_si512();
                        for (j, spread) in spread.iter().enumerate() {
                            let v =
                                _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
                            let lo = _mm256_and_si256(v, low4);
                            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                            let wv = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                            let x = _mm512_loadu_si512(aq.add(b * QK + 64 * j) as *const __m512i);
                            let p = _mm512_maddubs_epi16(wv, x);
                            let s = _mm512_permutexvar_epi16(*spread, s16);
                            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, s));
                        }
                        let m8 = _mm_loadl_epi64(mn.as_ptr() as *const __m128i);
                        let mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
                        let bs = _mm256_loadu_si256(ab.add(16 * b) as *const __m256i);
                        let msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, bs));
                        acc =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc);
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
            let (aq, ad, ab) = act_rows::<1>(a, r);
            let (aq, ad, ab) = (aq[0], ad[0], ab[0]);
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
                        let s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(
                            blk.as_ptr().add(192) as *const __m128i
                        ));
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
                        acc =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc);
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
            let (aq, ad, ab) = act_rows::<1>(a, r);
            let (aq, ad, ab) = (aq[0], ad[0], ab[0]);
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
                            let v =
                                _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
                            let lo = _mm256_and_si256(v, low4);
                            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                            let x0 = _mm256_loadu_si256(aq.add(b * QK + 64 * j) as *const __m256i);
                            let x1 =
                                _mm256_loadu_si256(aq.add(b * QK + 64 * j + 32) as *const __m256i);
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
                        let m8 = _mm_loadl_epi64(mn.as_ptr() as *const __m128i);
                        let mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
                        let bs = _mm256_loadu_si256(ab.add(16 * b) as *const __m256i);
                        let msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, bs));
                        acc =
                            _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * da), acc);
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
            let (aq, ad, ab) = act_rows::<1>(a, r);
            let (aq, ad, ab) = (aq[0], ad[0], ab[0]);
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
                            let s = _mm256_set_m128i(
                                _mm_set1_epi16(sc[2 * g + 1]),
                                _mm_set1_epi16(sc[2 * g]),
                            );
                            isum = _mm256_add_epi32(
                                isum,
                                _mm256_madd_epi16(_mm256_maddubs_epi16(wv, x), s),
                            );
                        }
                        let s16 = _mm256_loadu_si256(sc.as_ptr() as *const __m256i);
                        let bs = _mm256_loadu_si256(ab.add(16 * b) as *const __m256i);
                        let off = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, bs));
                        acc =
                            _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * da), acc);
                        acc = _mm256_fnmadd_ps(off, _mm256_set1_ps(32.0 * d * da), acc);
                    }
                }
                *o = hsum(acc);
            }
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
        let compact = CompactWeight::from_qtensor(&q).unwrap().expect("supported");
        let x = matrix(m, k, 11);
        let ours = compact.matmul(&x, m);
        let narrow = compact.product(&x, m, false);
        assert_eq!(ours.len(), narrow.len());
        for (a, b) in ours.iter().zip(&narrow) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "256 vs 512 bits: {a} vs {b}"
            );
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
