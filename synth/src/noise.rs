//! Deterministic noise without an RNG: hashes of the array path, pixel
//! indices and parcel numbers, so every run writes the same bytes.

/// FNV-1a of `bytes` (seeds from names and paths).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64 finaliser.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1).
#[inline(always)]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Seeds of the parcel texture and of the class patches.
pub(crate) const PARCEL_SEED: u64 = 0x5eed_0ff1_e1d5;
pub(crate) const CLASS_SEED: u64 = 0x0c1a_55e5_0000;
