//! Output chunk sizes and the overview level schedule (profile §3.1, §4).

/// Largest divisor of `n` that is `<= target`, or `n` itself when it fits.
/// Mirrors the original tool's `calculate_aligned_chunk_size`.
pub fn aligned_chunk_size(n: u64, target: u64) -> u64 {
    if target >= n {
        return n;
    }
    (1..=target.max(1))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Square band chunk edge for a `w × h` array: aligned to both sides, never
/// larger than `spatial_chunk`. Guard (profile fix): when the aligned size of
/// a side drops below `spatial_chunk / 4` (a prime side, say), that side
/// uses `min(spatial_chunk, n)` with a partial last chunk instead.
pub fn band_chunk(w: u64, h: u64, spatial_chunk: u64) -> u64 {
    let side = |n: u64| {
        let a = aligned_chunk_size(n, spatial_chunk);
        if a < spatial_chunk / 4 && a < n {
            spatial_chunk.min(n)
        } else {
            a
        }
    };
    spatial_chunk.min(side(w)).min(side(h)).max(1)
}

/// Inner chunk edge of a `chunk`-edge shard for a target edge: the largest
/// divisor of `chunk` not above the target (a shard must hold whole inner
/// chunks); `None` when not sharding.
pub fn inner_chunk(chunk: u64, target: Option<u64>) -> Option<u64> {
    target.map(|t| aligned_chunk_size(chunk, t.max(1)))
}

/// Size of the next overview level along one axis (ceil halving).
pub fn half(n: u64) -> u64 {
    n.div_ceil(2)
}

/// Level sizes `(w, h)` from native: level 0 always, then halve while the
/// smaller side stays `>= min_dimension`.
pub fn level_sizes(w: u64, h: u64, min_dimension: u64) -> Vec<(u64, u64)> {
    let mut out = vec![(w, h)];
    loop {
        let (pw, ph) = *out.last().unwrap();
        let (nw, nh) = (half(pw), half(ph));
        if nw.min(nh) < min_dimension || (nw, nh) == (pw, ph) {
            break;
        }
        out.push((nw, nh));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_examples_from_profile() {
        assert_eq!(aligned_chunk_size(5490, 3660), 2745);
        assert_eq!(aligned_chunk_size(10980, 4096), 3660);
        assert_eq!(aligned_chunk_size(5490, 4096), 2745);
        assert_eq!(aligned_chunk_size(2745, 4096), 2745);
        assert_eq!(aligned_chunk_size(1830, 4096), 1830);
        assert_eq!(aligned_chunk_size(4099, 4096), 1); // prime
        assert_eq!(aligned_chunk_size(7, 3), 1);
    }

    #[test]
    fn band_chunks() {
        for (n, c) in [
            (10980, 3660),
            (5490, 2745),
            (2745, 2745),
            (1830, 1830),
            (1098, 1098),
            (549, 549),
            (1373, 1373),
            (687, 687),
            (344, 344),
        ] {
            assert_eq!(band_chunk(n, n, 4096), c, "size {n}");
        }
        // prime height: guard gives a full-size chunk with a partial edge
        assert_eq!(band_chunk(10980, 4099, 4096), 3660);
        assert_eq!(band_chunk(8209, 8209, 4096), 4096);
    }

    #[test]
    fn level_schedule() {
        let widths = |n| {
            level_sizes(n, n, 256)
                .into_iter()
                .map(|(w, _)| w)
                .collect::<Vec<_>>()
        };
        assert_eq!(widths(10980), vec![10980, 5490, 2745, 1373, 687, 344]);
        assert_eq!(widths(5490).len(), 5);
        assert_eq!(widths(1830), vec![1830, 915, 458]);
        assert_eq!(widths(1098).len(), 3);
        assert_eq!(widths(549).len(), 2);
        assert_eq!(widths(183), vec![183]);
        assert_eq!(level_sizes(1, 1, 0), vec![(1, 1)]);
    }
}
