//! Weighted reciprocal rank fusion of ranked lists (pure).
//!
//! `score(d) = Σ_i w_i / (k + rank_i(d))`, with 1-based ranks, summed over the lists that contain
//! `d`. Larger `k` flattens the difference between top and lower ranks; weights let one retriever
//! count more. Ties are broken by the first list's order, then by id, so results are deterministic.

use std::collections::HashMap;
use std::hash::Hash;

/// One ranked list with its weight. Items should be unique within a list; repeats after the
/// first occurrence are ignored.
#[derive(Debug, Clone, Copy)]
pub struct Ranked<'a, T> {
    pub weight: f32,
    pub items: &'a [T],
}

/// Fuses `lists` and returns at most `limit` items with their fused scores, best first.
/// Lists with weight 0 or no items contribute nothing; no lists give an empty result.
pub fn reciprocal_rank_fusion<T: Clone + Eq + Hash + Ord>(
    lists: &[Ranked<'_, T>],
    k: f32,
    limit: usize,
) -> Vec<(T, f32)> {
    debug_assert!(k >= 0.0 && k.is_finite());
    let mut scores: HashMap<&T, f32> = HashMap::new();
    for list in lists {
        if list.weight <= 0.0 {
            continue;
        }
        let mut seen = std::collections::HashSet::new();
        let mut rank = 0usize;
        for item in list.items {
            if !seen.insert(item) {
                continue;
            }
            rank += 1;
            *scores.entry(item).or_insert(0.0) += list.weight / (k + rank as f32);
        }
    }
    let mut fused: Vec<(T, f32)> = scores.into_iter().map(|(t, s)| (t.clone(), s)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    fused.truncate(limit);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn agreement_wins_and_formula_holds() {
        let bm25 = ["a", "b", "c"];
        let dense = ["b", "d", "a"];
        let fused = reciprocal_rank_fusion(
            &[
                Ranked {
                    weight: 1.0,
                    items: &bm25,
                },
                Ranked {
                    weight: 1.0,
                    items: &dense,
                },
            ],
            60.0,
            10,
        );
        assert_eq!(fused[0].0, "b");
        assert!((fused[0].1 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert_eq!(
            fused.iter().map(|x| x.0).collect::<Vec<_>>(),
            ["b", "a", "d", "c"]
        );
    }

    #[test]
    fn weights_and_limits() {
        let bm25 = ["a", "b"];
        let dense = ["b", "a"];
        let fused = reciprocal_rank_fusion(
            &[
                Ranked {
                    weight: 0.5,
                    items: &bm25,
                },
                Ranked {
                    weight: 2.0,
                    items: &dense,
                },
            ],
            10.0,
            1,
        );
        assert_eq!(fused, vec![("b", 0.5 / 12.0 + 2.0 / 11.0)]);
        let only_zero = reciprocal_rank_fusion(
            &[Ranked {
                weight: 0.0,
                items: &bm25,
            }],
            60.0,
            5,
        );
        assert!(only_zero.is_empty());
    }

    #[test]
    fn empty_inputs() {
        let none: Vec<(u32, f32)> = reciprocal_rank_fusion::<u32>(&[], 60.0, 10);
        assert!(none.is_empty());
        let empty: [u32; 0] = [];
        let one = [7u32];
        let fused = reciprocal_rank_fusion(
            &[
                Ranked {
                    weight: 1.0,
                    items: &empty,
                },
                Ranked {
                    weight: 1.0,
                    items: &one,
                },
            ],
            0.0,
            10,
        );
        assert_eq!(fused, vec![(7, 1.0)]);
    }

    proptest! {
        #[test]
        fn order_of_sources_does_not_matter(
            a in prop::collection::vec(0u8..30, 0..20),
            b in prop::collection::vec(0u8..30, 0..20),
            c in prop::collection::vec(0u8..30, 0..20),
            wa in 0.0f32..3.0, wb in 0.0f32..3.0, wc in 0.0f32..3.0,
            k in 0.0f32..100.0,
        ) {
            let l = [
                Ranked { weight: wa, items: &a[..] },
                Ranked { weight: wb, items: &b[..] },
                Ranked { weight: wc, items: &c[..] },
            ];
            let one = reciprocal_rank_fusion(&l, k, 100);
            let two = reciprocal_rank_fusion(&[l[2], l[0], l[1]], k, 100);
            prop_assert_eq!(one.len(), two.len());
            for (x, y) in one.iter().zip(&two) {
                prop_assert!((x.1 - y.1).abs() <= 1e-6 * x.1.max(1.0));
            }
            // Scores are sorted, and each item appears once.
            prop_assert!(one.windows(2).all(|w| w[0].1 >= w[1].1));
            let mut ids: Vec<u8> = one.iter().map(|x| x.0).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), one.len());
        }
    }
}
