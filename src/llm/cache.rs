//! The KV cache of one generation worker, and the prompt pieces it computed before (system text,
//! approved answer, each passage): a tree of their keys and values, reused by later prompts.

use std::collections::HashMap;

use candle_core::Tensor;

use super::layers::KvCache;

/// The keys and values a model holds for the tokens it has read, with the pieces they were
/// computed in, and a bounded store of earlier prompts' pieces.
///
/// A prompt is always computed in the same pieces (its declared piece ends), whatever is reused:
/// 8-bit activations would turn the tiny float differences of other splits into different
/// roundings, so reusing at any other point could change an answer.
#[derive(Debug, Clone)]
pub struct Cache {
    pub(super) layers: Vec<KvCache>,
    pub(super) tokens: Vec<u32>,
    /// Piece ends the held prompt was computed in (within `tokens`).
    bounds: Vec<usize>,
    store: PieceStore,
}

impl Cache {
    pub(super) fn new(layers: Vec<KvCache>, store_bytes: usize) -> Cache {
        Cache {
            layers,
            tokens: Vec::new(),
            bounds: Vec::new(),
            store: PieceStore::new(store_bytes),
        }
    }

    /// Tokens whose keys and values are held.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Makes the cache hold the longest run of `prompt`'s pieces (`bounds`: ascending piece ends)
    /// that it holds already or finds in its store; returns the number of tokens held (a piece
    /// end, or 0).
    pub fn reuse(&mut self, prompt: &[u32], bounds: &[usize]) -> usize {
        self.store.tick += 1;
        let held = bounds
            .iter()
            .rposition(|&b| {
                b <= prompt.len()
                    && self.tokens.len() >= b
                    && self.tokens[..b] == prompt[..b]
                    && self.bounds_upto(b) == upto(bounds, b)
            })
            .map_or(0, |i| bounds[i]);
        let stored = self.store.longest(prompt, bounds);
        if stored <= held {
            self.truncate(held);
            self.bounds = upto(bounds, held).to_vec();
            self.store.touch(prompt, bounds, held);
            return held;
        }
        self.truncate(held);
        let first = bounds.partition_point(|&b| b <= held);
        let mut start = held;
        for (i, &end) in bounds.iter().enumerate().skip(first) {
            if end > stored {
                break;
            }
            let key = PieceKey::of(prompt, bounds, i);
            let Some(piece) = self.store.pieces.get(&key) else {
                break;
            };
            let appended = self
                .layers
                .iter_mut()
                .zip(piece.k.iter().zip(&piece.v))
                .try_for_each(|(layer, (k, v))| layer.append(k, v).map(|_| ()));
            if appended.is_err() {
                // Cannot happen with pieces this cache stored; stay consistent if it does.
                self.truncate(start);
                break;
            }
            self.tokens.extend_from_slice(&prompt[start..end]);
            start = end;
        }
        self.bounds = upto(bounds, start).to_vec();
        self.store.touch(prompt, bounds, start);
        start
    }

    /// Records that the cache now holds `prompt[..bounds[i]]`, computed as the piece after
    /// `bounds[i - 1]`, and keeps that piece in the store when it fits.
    pub(super) fn piece_done(&mut self, prompt: &[u32], bounds: &[usize], i: usize) {
        let end = bounds[i];
        let start = if i == 0 { 0 } else { bounds[i - 1] };
        debug_assert_eq!(self.tokens.len(), end);
        self.bounds.push(end);
        if self.store.budget == 0 {
            return;
        }
        let mut k = Vec::with_capacity(self.layers.len());
        let mut v = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            match layer.segment(start, end - start) {
                Ok((lk, lv)) => {
                    k.push(lk);
                    v.push(lv);
                }
                Err(_) => return,
            }
        }
        self.store.insert(PieceKey::of(prompt, bounds, i), k, v);
    }

    /// Bytes of keys and values kept in the store of pieces.
    pub fn stored_bytes(&self) -> usize {
        self.store.bytes
    }

    /// Forgets everything from position `len` on (the store keeps its pieces).
    pub fn truncate(&mut self, len: usize) {
        self.tokens.truncate(len);
        self.bounds.retain(|&b| b <= len);
        for l in &mut self.layers {
            l.truncate(len);
        }
    }

    /// Forgets the held tokens (the store keeps its pieces).
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    fn bounds_upto(&self, end: usize) -> &[usize] {
        upto(&self.bounds, end)
    }
}

/// The piece ends of `bounds` up to and including `end`.
fn upto(bounds: &[usize], end: usize) -> &[usize] {
    &bounds[..bounds.partition_point(|&b| b <= end)]
}

/// A piece is named by everything that determines its keys and values: the tokens up to its
/// end and the pieces they were computed in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PieceKey {
    tokens: Vec<u32>,
    bounds: Vec<usize>,
}

impl PieceKey {
    fn of(prompt: &[u32], bounds: &[usize], i: usize) -> PieceKey {
        PieceKey {
            tokens: prompt[..bounds[i]].to_vec(),
            bounds: bounds[..=i].to_vec(),
        }
    }

    /// The piece this one continues, if any.
    fn parent(&self) -> Option<PieceKey> {
        let i = self.bounds.len().checked_sub(1)?;
        (i > 0).then(|| PieceKey {
            tokens: self.tokens[..self.bounds[i - 1]].to_vec(),
            bounds: self.bounds[..i].to_vec(),
        })
    }
}

#[derive(Debug, Clone)]
struct Piece {
    /// Per layer: (kv_heads, piece length, head_dim) keys and values of the piece's positions.
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    bytes: usize,
    last_used: u64,
    /// Stored pieces that continue this one (it is evicted only after them).
    children: usize,
}

/// Pieces of earlier prompts, least recently used evicted first, within a byte budget.
#[derive(Debug, Clone)]
struct PieceStore {
    pieces: HashMap<PieceKey, Piece>,
    budget: usize,
    bytes: usize,
    tick: u64,
}

impl PieceStore {
    fn new(budget: usize) -> PieceStore {
        PieceStore {
            pieces: HashMap::new(),
            budget,
            bytes: 0,
            tick: 0,
        }
    }

    /// End of the longest run of `prompt`'s pieces, from the start, that is stored.
    fn longest(&self, prompt: &[u32], bounds: &[usize]) -> usize {
        let mut end = 0;
        for i in 0..bounds.len() {
            if bounds[i] > prompt.len()
                || !self.pieces.contains_key(&PieceKey::of(prompt, bounds, i))
            {
                break;
            }
            end = bounds[i];
        }
        end
    }

    /// Marks the stored pieces of `prompt` up to `end` as just used.
    fn touch(&mut self, prompt: &[u32], bounds: &[usize], end: usize) {
        for i in 0..upto(bounds, end).len() {
            if let Some(p) = self.pieces.get_mut(&PieceKey::of(prompt, bounds, i)) {
                p.last_used = self.tick;
            }
        }
    }

    fn insert(&mut self, key: PieceKey, k: Vec<Tensor>, v: Vec<Tensor>) {
        let bytes: usize = k
            .iter()
            .chain(&v)
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum();
        if bytes > self.budget || self.pieces.contains_key(&key) {
            return;
        }
        if let Some(parent) = &key.parent() {
            match self.pieces.get_mut(parent) {
                Some(p) => {
                    p.children += 1;
                    p.last_used = self.tick;
                }
                // Its parent was evicted meanwhile: the piece could never be reached.
                None => return,
            }
        }
        self.bytes += bytes;
        self.pieces.insert(
            key,
            Piece {
                k,
                v,
                bytes,
                last_used: self.tick,
                children: 0,
            },
        );
        self.evict();
    }

    /// Drops least recently used pieces without stored continuations until within budget.
    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some(victim) = self
                .pieces
                .iter()
                .filter(|(_, p)| p.children == 0)
                .min_by_key(|(k, p)| (p.last_used, std::cmp::Reverse(k.tokens.len())))
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            let Some(gone) = self.pieces.remove(&victim) else {
                return;
            };
            self.bytes -= gone.bytes;
            if let Some(p) = victim.parent().and_then(|k| self.pieces.get_mut(&k)) {
                p.children -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// A cache of one layer whose keys at position p are all p (values -p), so what a
    /// cache holds can be read back.
    fn cache(budget: usize) -> Cache {
        Cache::new(vec![KvCache::new(64)], budget)
    }

    fn run(c: &mut Cache, prompt: &[u32], bounds: &[usize]) -> usize {
        let kept = c.reuse(prompt, bounds);
        let mut at = kept;
        for (i, &b) in bounds.iter().enumerate() {
            if b <= kept {
                continue;
            }
            push(c, prompt, at, b);
            c.piece_done(prompt, bounds, i);
            at = b;
        }
        push(c, prompt, at, prompt.len());
        kept
    }

    fn push(c: &mut Cache, prompt: &[u32], from: usize, to: usize) {
        let n = to - from;
        let vals: Vec<f32> = (from..to).map(|p| p as f32).collect();
        let k = Tensor::from_vec(vals, (1, n, 1), &Device::Cpu).unwrap();
        let v = k.neg().unwrap();
        c.layers[0].append(&k, &v).unwrap();
        c.tokens.extend_from_slice(&prompt[from..to]);
    }

    fn held(c: &Cache) -> Vec<f32> {
        let (k, _) = c.layers[0].segment(0, c.tokens.len()).unwrap();
        k.flatten_all().unwrap().to_vec1().unwrap()
    }

    const PIECE_BYTES: usize = 2 * 4; // one position: one key and one value of 4 bytes

    #[test]
    fn reuses_only_at_piece_ends_and_with_the_same_pieces() {
        let mut c = cache(0);
        let a = [1, 2, 3, 4, 5, 6];
        assert_eq!(run(&mut c, &a, &[2, 4]), 0);
        // Same first piece, different second piece: only the first is reused.
        assert_eq!(run(&mut c, &[1, 2, 3, 9, 5, 6], &[2, 4]), 2);
        // Same tokens but computed in other pieces: nothing is reused.
        assert_eq!(run(&mut c, &[1, 2, 3, 9, 5, 6], &[3, 4]), 0);
        assert_eq!(run(&mut c, &[1, 2, 3, 9, 7], &[3, 4]), 4);
        assert_eq!(held(&c), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn the_store_brings_back_earlier_prompts_pieces() {
        let mut c = cache(1 << 20);
        let a = [1, 2, 3, 4, 5, 6, 7];
        let b = [1, 2, 8, 8, 9, 9];
        run(&mut c, &a, &[2, 4]);
        run(&mut c, &b, &[2, 4]);
        // The cache holds b; a's second piece comes from the store.
        assert_eq!(c.reuse(&a, &[2, 4]), 4);
        assert_eq!(c.tokens(), &a[..4]);
        assert_eq!(held(&c), vec![0.0, 1.0, 2.0, 3.0]);
        let (_, v) = c.layers[0].segment(0, 4).unwrap();
        let v: Vec<f32> = v.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![-0.0, -1.0, -2.0, -3.0]);
        assert_eq!(c.stored_bytes(), 6 * PIECE_BYTES);
    }

    #[test]
    fn evicts_least_recently_used_continuations_first() {
        // Room for the shared first piece (2 positions) and one continuation (2 positions).
        let mut c = cache(4 * PIECE_BYTES);
        run(&mut c, &[1, 2, 3, 4, 0], &[2, 4]);
        run(&mut c, &[1, 2, 5, 6, 0], &[2, 4]);
        assert_eq!(c.stored_bytes(), 4 * PIECE_BYTES);
        c.clear();
        // [3, 4] was evicted, [5, 6] kept, the shared piece kept.
        assert_eq!(c.reuse(&[1, 2, 3, 4, 0], &[2, 4]), 2);
        c.clear();
        assert_eq!(c.reuse(&[1, 2, 5, 6, 0], &[2, 4]), 4);
    }

    #[test]
    fn a_piece_larger_than_the_budget_is_not_kept() {
        let mut c = cache(PIECE_BYTES);
        run(&mut c, &[1, 2, 3], &[2]);
        assert_eq!(c.stored_bytes(), 0);
    }
}
