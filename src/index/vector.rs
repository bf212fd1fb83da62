//! The dense side of the index: embeddings stored flat on disk and an HNSW graph (hnsw_rs) over
//! them, plus exact search used to measure the graph's recall.

use std::io::{Read, Write};
use std::path::Path;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;

use super::HnswConfig;

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vector file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("vector file {path} is corrupt: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("HNSW graph `{basename}` in {dir}: {message}")]
    Hnsw {
        dir: std::path::PathBuf,
        basename: String,
        message: String,
    },
}

/// Distance between unit vectors: 1 - dot, clamped at 0 (rounding makes the dot of a vector
/// with itself slightly above 1, which hnsw_rs' own `DistDot` rejects with a panic).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// Dot product written so the compiler vectorises it (8 independent accumulators).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Row-major matrix of `len` unit vectors of `dim` floats.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

const MAGIC: &[u8; 8] = b"CNCDVEC1";

impl Vectors {
    pub fn new(dim: usize) -> Self {
        Vectors {
            dim,
            data: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn push(&mut self, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        self.data.extend_from_slice(v);
    }

    /// Serialises as: magic, dim (u32 LE), count (u64 LE), floats (f32 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.data.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for f in &self.data {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    pub fn read(path: &Path) -> Result<Vectors, VectorError> {
        let io = |source| VectorError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |message: &str| VectorError::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let mut file = fs_err::File::open(path).map_err(io)?;
        let mut header = [0u8; 20];
        file.read_exact(&mut header)
            .map_err(|_| corrupt("shorter than its header"))?;
        if &header[..8] != MAGIC {
            return Err(corrupt("not a Concord vector file"));
        }
        let dim = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        let n = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes")) as usize;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() != n * dim * 4 {
            return Err(corrupt(&format!(
                "expected {n} vectors of {dim} floats, found {} bytes",
                bytes.len()
            )));
        }
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Ok(Vectors { dim, data })
    }

    pub fn write(&self, path: &Path) -> Result<(), VectorError> {
        let mut file = fs_err::File::create(path).map_err(|source| VectorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        file.write_all(&self.to_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|source| VectorError::Io {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Exact top `k` by dot product: (row, similarity), best first.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = (0..self.len())
            .map(|i| (i as u32, dot(self.row(i), query)))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }
}

/// An HNSW graph over [`Vectors`] rows (row index = data id).
pub struct VectorIndex {
    hnsw: Hnsw<'static, f32, UnitDot>,
    ef_search: usize,
}

impl VectorIndex {
    /// Builds the graph (in parallel over the rows).
    pub fn build(vectors: &Vectors, cfg: &HnswConfig) -> VectorIndex {
        let n = vectors.len().max(1);
        // hnsw_rs only dumps graphs built with its maximum number of layers (16); upper layers
        // stay empty for small collections, so this costs nothing.
        let max_layer = 16;
        let hnsw = Hnsw::<f32, UnitDot>::new(
            cfg.max_connections,
            n,
            max_layer,
            cfg.ef_construction,
            UnitDot,
        );
        let rows: Vec<(&[f32], usize)> = (0..vectors.len()).map(|i| (vectors.row(i), i)).collect();
        hnsw.parallel_insert_slice(&rows);
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        VectorIndex {
            hnsw,
            ef_search: cfg.ef_search,
        }
    }

    /// Writes the graph into `dir` under a basename derived from `basename`; hnsw_rs never
    /// overwrites files in use and may pick another name, which is returned and must be recorded.
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<String, VectorError> {
        self.hnsw
            .file_dump(dir, basename)
            .map_err(|e| VectorError::Hnsw {
                dir: dir.to_path_buf(),
                basename: basename.to_string(),
                message: e.to_string(),
            })
    }

    /// Loads a dumped graph. The caller checks the files' hashes first (hnsw_rs panics on some
    /// corrupt inputs instead of returning an error).
    pub fn load(dir: &Path, basename: &str, ef_search: usize) -> Result<VectorIndex, VectorError> {
        // hnsw_rs ties the graph's lifetime to its loader; the loader is a few paths and options,
        // so it is leaked once per index load to give the graph a 'static lifetime.
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        let mut hnsw: Hnsw<'static, f32, UnitDot> =
            io.load_hnsw().map_err(|e| VectorError::Hnsw {
                dir: dir.to_path_buf(),
                basename: basename.to_string(),
                message: e.to_string(),
            })?;
        hnsw.set_searching_mode(true);
        Ok(VectorIndex { hnsw, ef_search })
    }

    pub fn len(&self) -> usize {
        self.hnsw.get_nb_point()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate top `k`: (row, similarity), best first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(u32, f32)> {
        if self.is_empty() || k == 0 {
            return Vec::new();
        }
        let ef = self.ef_search.max(k);
        self.hnsw
            .search(query, k, ef)
            .into_iter()
            .map(|n| (n.d_id as u32, 1.0 - n.distance))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::HnswConfig;
    use super::*;

    /// Deterministic pseudo-random unit vectors (xorshift), no RNG crate needed.
    fn random_unit(n: usize, dim: usize, seed: u64) -> Vectors {
        let mut s = seed;
        let mut v = Vectors::new(dim);
        for _ in 0..n {
            let mut row: Vec<f32> = (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 2000) as f32 / 1000.0 - 1.0
                })
                .collect();
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
            v.push(&row);
        }
        v
    }

    #[test]
    fn dot_matches_naive_sum() {
        let v = random_unit(2, 385, 7);
        let naive: f32 = v.row(0).iter().zip(v.row(1)).map(|(a, b)| a * b).sum();
        assert!((dot(v.row(0), v.row(1)) - naive).abs() < 1e-5);
    }

    #[test]
    fn vectors_round_trip_and_reject_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let v = random_unit(10, 16, 3);
        let path = dir.path().join("v.bin");
        v.write(&path).unwrap();
        assert_eq!(Vectors::read(&path).unwrap(), v);
        let bytes = fs_err::read(&path).unwrap();
        fs_err::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(
            Vectors::read(&path),
            Err(VectorError::Corrupt { .. })
        ));
    }

    #[test]
    fn hnsw_finds_what_exact_search_finds_and_survives_a_dump() {
        let data = random_unit(600, 32, 11);
        let cfg = HnswConfig {
            max_connections: 24,
            ef_construction: 200,
            ef_search: 96,
        };
        let index = VectorIndex::build(&data, &cfg);
        let queries = random_unit(50, 32, 99);
        let mut hits = 0;
        for q in 0..queries.len() {
            let exact: Vec<u32> = data
                .exact_search(queries.row(q), 10)
                .iter()
                .map(|x| x.0)
                .collect();
            let approx: Vec<u32> = index
                .search(queries.row(q), 10)
                .iter()
                .map(|x| x.0)
                .collect();
            hits += approx.iter().filter(|a| exact.contains(a)).count();
        }
        let recall = hits as f32 / (queries.len() * 10) as f32;
        assert!(recall >= 0.95, "recall@10 {recall}");

        // A vector searched for itself is found first with similarity ~1 (no panic on rounding).
        let top = index.search(data.row(5), 1);
        assert_eq!(top[0].0, 5);
        assert!((top[0].1 - 1.0).abs() < 1e-5);

        let dir = tempfile::tempdir().unwrap();
        let name = index.dump(dir.path(), "vectors").unwrap();
        let loaded = VectorIndex::load(dir.path(), &name, 96).unwrap();
        assert_eq!(loaded.len(), 600);
        assert_eq!(loaded.search(data.row(5), 3), index.search(data.row(5), 3));
    }
}
