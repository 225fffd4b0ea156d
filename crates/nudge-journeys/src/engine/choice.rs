//! Deterministic draws for `random` steps: the same instance at the same visit of the same
//! step always takes the same path, on every machine and in every replay.

/// FNV-1a over the parts (each followed by a 0 byte), then a SplitMix64 finish so the low
/// bits used by `%` are well mixed.
pub(crate) fn draw(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Picks an index by weight from a draw; `None` when the weights sum to 0.
pub(crate) fn pick(weights: &[u32], draw: u64) -> Option<usize> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut point = draw % total;
    for (i, weight) in weights.iter().enumerate() {
        let weight = u64::from(*weight);
        if point < weight {
            return Some(i);
        }
        point -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_stable_and_parts_are_delimited() {
        assert_eq!(draw(&["a", "b"]), draw(&["a", "b"]));
        assert_ne!(draw(&["ab", ""]), draw(&["a", "b"]));
        // FNV-1a of the empty input is its offset basis; the finish is SplitMix64's.
        let mut z: u64 = 0xcbf2_9ce4_8422_2325;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        assert_eq!(draw(&[]), z ^ (z >> 31));
    }

    #[test]
    fn weights_share_the_draws() {
        assert_eq!(pick(&[1, 3], 0), Some(0));
        assert_eq!(pick(&[1, 3], 1), Some(1));
        assert_eq!(pick(&[1, 3], 7), Some(1));
        assert_eq!(pick(&[1, 3], 8), Some(0));
        assert_eq!(pick(&[], 8), None);
        let mut counts = [0u32; 2];
        for i in 0..10_000u32 {
            let d = draw(&["journey", "key", &i.to_string()]);
            if let Some(p) = pick(&[25, 75], d) {
                counts[p] += 1;
            }
        }
        assert!((2_200..2_800).contains(&counts[0]), "{counts:?}");
    }
}
