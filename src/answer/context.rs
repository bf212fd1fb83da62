//! Fitting retrieved passages into the model's window: as many of the most relevant passages as
//! fit the token budget, the least relevant dropped first (pure; the caller measures).

/// How many of `n` passages (ordered most relevant first) fit: the largest `k <= n` whose prompt,
/// as measured by `measure(k)` in tokens, is within `budget`. `None` when not even the prompt
/// without passages fits. `measure` must not shrink as `k` grows (more passages, longer prompt).
pub fn fit<E>(
    n: usize,
    budget: usize,
    mut measure: impl FnMut(usize) -> Result<usize, E>,
) -> Result<Option<usize>, E> {
    if measure(0)? > budget {
        return Ok(None);
    }
    // Binary search for the last k that fits: O(log n) renders instead of n.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if measure(mid)? <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Some(lo))
}

/// The passage numbers `[n]` cited in `text`, in order of first citation, limited to `1..=max`
/// (`[1, 2]` and `[1][2]` both count).
pub fn citations(text: &str, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        for part in after[..close].split(',') {
            if let Ok(n) = part.trim().parse::<usize>() {
                if (1..=max).contains(&n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn drops_least_relevant_first() {
        let sizes = [100, 50, 60, 70];
        let measure = |k: usize| Ok::<_, ()>(20 + sizes[..k].iter().sum::<usize>());
        assert_eq!(fit(4, 1000, measure), Ok(Some(4)));
        assert_eq!(fit(4, 200, measure), Ok(Some(2)));
        assert_eq!(fit(4, 119, measure), Ok(Some(0)));
        assert_eq!(fit(4, 10, measure), Ok(None));
    }

    #[test]
    fn citations_are_parsed() {
        assert_eq!(
            citations("Yes [2]. Also [1, 2][3] and [x] [9]", 3),
            vec![2, 1, 3]
        );
        assert_eq!(citations("no refs [", 3), Vec::<usize>::new());
    }

    proptest! {
        #[test]
        fn fit_is_the_largest_prefix_within_budget(
            sizes in proptest::collection::vec(0usize..300, 0..12),
            base in 0usize..200,
            budget in 0usize..2000,
        ) {
            let measure = |k: usize| Ok::<_, ()>(base + sizes[..k].iter().sum::<usize>());
            let got = fit(sizes.len(), budget, measure).unwrap();
            let expected = (0..=sizes.len()).rev().find(|&k| measure(k).unwrap() <= budget);
            prop_assert_eq!(got, expected);
        }
    }
}
