//! Retrieval metrics over ranked ids with binary relevance (pure): recall@k, nDCG@k, MRR@k and
//! latency percentiles.

use std::collections::HashSet;
use std::hash::Hash;

/// Share of the relevant ids found in the first `k` results (0 when nothing is relevant).
pub fn recall_at<T: Eq + Hash>(ranked: &[T], relevant: &HashSet<T>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| relevant.contains(*d))
        .count();
    found as f64 / relevant.len() as f64
}

/// Reciprocal rank of the first relevant id within the first `k` results, else 0.
pub fn mrr_at<T: Eq + Hash>(ranked: &[T], relevant: &HashSet<T>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| relevant.contains(d))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Normalised discounted cumulative gain at `k` with binary gains:
/// `DCG = Σ_{i ≤ k, d_i relevant} 1 / log2(i + 1)`, divided by the DCG of an ideal ranking.
pub fn ndcg_at<T: Eq + Hash>(ranked: &[T], relevant: &HashSet<T>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, d)| relevant.contains(*d))
        .map(|(i, _)| gain(i))
        .sum();
    let ideal: f64 = (0..relevant.len().min(k)).map(gain).sum();
    dcg / ideal
}

/// The `p`-th percentile (0..=100) by nearest rank; 0 for no samples.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// `a / b`, or 0 when `b` is 0 (a rate over no cases).
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&'static str]) -> HashSet<&'static str> {
        ids.iter().copied().collect()
    }

    #[test]
    fn single_relevant_item() {
        let ranked = ["x", "a", "y"];
        let rel = set(&["a"]);
        assert_eq!(recall_at(&ranked, &rel, 1), 0.0);
        assert_eq!(recall_at(&ranked, &rel, 2), 1.0);
        assert_eq!(mrr_at(&ranked, &rel, 10), 0.5);
        assert!((ndcg_at(&ranked, &rel, 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
    }

    #[test]
    fn several_relevant_items_and_misses() {
        let ranked = ["a", "x", "b"];
        let rel = set(&["a", "b", "c"]);
        assert!((recall_at(&ranked, &rel, 10) - 2.0 / 3.0).abs() < 1e-12);
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5;
        let dcg = 1.0 + 0.5;
        assert!((ndcg_at(&ranked, &rel, 10) - dcg / ideal).abs() < 1e-12);
        assert_eq!(mrr_at(&["x", "y"], &rel, 10), 0.0);
        assert_eq!(ndcg_at(&["a"], &HashSet::new(), 10), 0.0);
        assert_eq!(recall_at(&["a", "b"], &rel, 0), 0.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 95.0), 95.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 50.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
