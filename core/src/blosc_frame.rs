//! Encoding a band chunk (blosc zstd level 3, byte shuffle; see
//! [`crate::attrs::blosc_codec`]) block by block as its rows arrive. Blosc
//! compresses each block on its own, so a chunk row being built is held
//! compressed instead of raw, and the frame is byte for byte the one blosc
//! makes from the whole chunk at once.

use std::ffi::{c_int, c_void};

/// Blosc block size of band chunks: the one blosc picks itself for zstd
/// level 3 (`blocksize: 0` in the metadata), fixed here so that blocks can
/// be compressed a few at a time.
pub const BLOCK: usize = 128 << 10;
const HEADER: usize = 16;
const MEMCPYED: u8 = 0x2;

/// Compress `raw` as one blosc frame with [`BLOCK`]-byte blocks, appended
/// to `out`. There is room for every block stored raw, so blosc never falls
/// back to a whole-frame copy (which could not be stitched).
fn compress(raw: &[u8], typesize: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let cap = HEADER + raw.len() + 8 * raw.len().div_ceil(BLOCK) + 64;
    out.reserve(cap);
    let at = out.len();
    // SAFETY: `raw` is valid for `raw.len()` bytes and `out` has `cap`
    // spare bytes from `at`.
    let n = unsafe {
        blosc_src::blosc_compress_ctx(
            3 as c_int,
            1 as c_int,
            typesize,
            raw.len(),
            raw.as_ptr().cast::<c_void>(),
            out.as_mut_ptr().add(at).cast::<c_void>(),
            cap,
            c"zstd".as_ptr(),
            BLOCK,
            1,
        )
    };
    if n <= 0 {
        return Err(format!(
            "blosc compression of {} bytes failed ({n})",
            raw.len()
        ));
    }
    // SAFETY: blosc wrote `n <= cap` bytes from `at`.
    unsafe { out.set_len(at + n as usize) };
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// One chunk's blosc frame, fed raw bytes in order.
pub struct FrameWriter {
    typesize: usize,
    total: usize,
    fed: usize,
    /// Raw bytes not compressed yet: the last whole block is always kept
    /// back, so the final piece (which may end in a short block) is never
    /// smaller than a block.
    staged: Vec<u8>,
    /// The frame so far: room for the header and block starts, then the
    /// compressed blocks.
    frame: Vec<u8>,
    /// Version, codec version, flags and type size of the first piece.
    head: Option<[u8; 4]>,
    blocks: usize,
}

impl FrameWriter {
    /// A frame for a chunk of `total` bytes of `typesize`-byte items.
    pub fn new(total: usize, typesize: usize) -> Self {
        FrameWriter {
            typesize,
            total,
            fed: 0,
            staged: Vec::new(),
            frame: Vec::new(),
            head: None,
            blocks: 0,
        }
    }

    /// Append the chunk's next raw bytes.
    pub fn push(&mut self, raw: &[u8]) -> Result<(), String> {
        self.fed += raw.len();
        if self.fed > self.total {
            return Err(format!("chunk fed {} of {} bytes", self.fed, self.total));
        }
        self.staged.extend_from_slice(raw);
        if self.staged.len() >= 2 * BLOCK {
            let n = (self.staged.len() - BLOCK) / BLOCK * BLOCK;
            if self.frame.is_empty() {
                // room for the worst case up front: no copies as the frame
                // grows, and pages never written are never resident
                let all = self.total.div_ceil(BLOCK);
                self.frame
                    .reserve_exact(2 * HEADER + 12 * all + self.total + 64);
                self.frame.resize(HEADER + 4 * all, 0);
            }
            self.append(n)?;
            self.staged.drain(..n);
        }
        Ok(())
    }

    /// Compress the first `n` staged bytes onto the end of the frame, then
    /// drop the piece's own header and make its block starts absolute.
    fn append(&mut self, n: usize) -> Result<(), String> {
        let at = self.frame.len();
        compress(&self.staged[..n], self.typesize, &mut self.frame)?;
        let piece = &self.frame[at..];
        let head = [piece[0], piece[1], piece[2], piece[3]];
        if head[2] & MEMCPYED != 0 || u32_at(piece, 8) != BLOCK {
            return Err("blosc stored a piece of a chunk uncompressed".into());
        }
        if self.head.is_some_and(|h| h != head) {
            return Err("blosc pieces of one chunk have different flags".into());
        }
        self.head = Some(head);
        let k = n.div_ceil(BLOCK);
        let data = HEADER + 4 * k;
        let starts: Vec<usize> = (0..k).map(|j| u32_at(piece, HEADER + 4 * j)).collect();
        for (j, start) in starts.into_iter().enumerate() {
            let abs = (at + start - data) as u32;
            let slot = HEADER + 4 * (self.blocks + j);
            self.frame[slot..slot + 4].copy_from_slice(&abs.to_le_bytes());
        }
        self.blocks += k;
        let end = self.frame.len();
        self.frame.copy_within(at + data..end, at);
        self.frame.truncate(end - data);
        Ok(())
    }

    /// The encoded chunk, once all `total` bytes were pushed.
    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        if self.fed != self.total {
            return Err(format!("chunk fed {} of {} bytes", self.fed, self.total));
        }
        if self.head.is_none() {
            return Self::encode(&self.staged, self.typesize);
        }
        let n = self.staged.len();
        self.append(n)?;
        let head = self.head.unwrap_or_default();
        let len = self.frame.len() as u32;
        let f = &mut self.frame;
        f[..4].copy_from_slice(&head);
        f[4..8].copy_from_slice(&(self.total as u32).to_le_bytes());
        f[8..12].copy_from_slice(&(BLOCK as u32).to_le_bytes());
        f[12..16].copy_from_slice(&len.to_le_bytes());
        Ok(self.frame)
    }

    /// Encode a whole chunk at once (the same bytes as pushing it piecewise).
    pub fn encode(raw: &[u8], typesize: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![];
        compress(raw, typesize, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(frame: &[u8], n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        // SAFETY: `out` has room for the `n` bytes the frame holds.
        let got = unsafe {
            blosc_src::blosc_decompress_ctx(frame.as_ptr().cast(), out.as_mut_ptr().cast(), n, 1)
        };
        assert_eq!(got as usize, n);
        out
    }

    /// Compressible (smooth) or incompressible (hashed) 16-bit samples.
    fn data(n: usize, noisy: bool) -> Vec<u8> {
        (0..n / 2)
            .flat_map(|i| {
                let v = if noisy {
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48
                } else {
                    (i / 7 % 3000) as u64
                };
                (v as u16).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn piecewise_frames_equal_whole_ones_and_decode() {
        for noisy in [false, true] {
            for n in [
                64,
                4000,
                BLOCK,
                2 * BLOCK,
                2 * BLOCK + 6,
                5 * BLOCK + 1234,
                9_000_000,
            ] {
                let raw = data(n, noisy);
                let whole = FrameWriter::encode(&raw, 2).unwrap();
                for step in [7 * 2, 7320, 1 << 20] {
                    let mut w = FrameWriter::new(raw.len(), 2);
                    for part in raw.chunks(step) {
                        w.push(part).unwrap();
                    }
                    let got = w.finish().unwrap();
                    assert!(got == whole, "n {n} step {step} noisy {noisy}");
                }
                assert_eq!(decompress(&whole, raw.len()), raw);
            }
        }
    }

    #[test]
    fn matches_blosc_with_automatic_block_size() {
        // what zarrs writes for `blocksize: 0`, for data that compresses
        for n in [100, 40_000, 3_000_000] {
            let raw = data(n, false);
            let mut out = vec![0u8; raw.len() + HEADER];
            // SAFETY: `out` has room for the frame blosc may write.
            let got = unsafe {
                blosc_src::blosc_compress_ctx(
                    3,
                    1,
                    2,
                    raw.len(),
                    raw.as_ptr().cast(),
                    out.as_mut_ptr().cast(),
                    out.len(),
                    c"zstd".as_ptr(),
                    0,
                    1,
                )
            };
            out.truncate(got as usize);
            assert!(out == FrameWriter::encode(&raw, 2).unwrap(), "n {n}");
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut w = FrameWriter::new(10, 2);
        w.push(&[0; 8]).unwrap();
        assert!(FrameWriter::new(10, 2).push(&[0; 12]).is_err());
        assert!(w.finish().is_err());
    }
}
