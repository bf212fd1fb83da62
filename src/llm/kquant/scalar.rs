//! The plain-Rust kernels: the reference the SIMD ones are tested against, and the kernels of
//! builds without AVX2.

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

/// Per-row access for these kernels (the SIMD ones take raw row starts).
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
