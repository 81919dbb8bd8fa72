//! Encoding a band chunk (blosc zstd level 3, byte shuffle; see
//! [`crate::convert::attrs::blosc_codec`]) block by block as its rows arrive. Blosc
//! compresses each block on its own, so a chunk row being built is held
//! compressed instead of raw — or, for a local output, not at all: blocks go
//! to the chunk's file as they are made — and the frame is byte for byte the
//! one blosc makes from the whole chunk at once.

use std::ffi::{c_int, c_void};
use std::io::{Seek, SeekFrom, Write};

/// Blosc block size of band chunks: the one blosc picks itself for zstd
/// level 3 (`blocksize: 0` in the metadata), fixed here so that blocks can
/// be compressed a few at a time.
pub(crate) const BLOCK: usize = 128 << 10;
/// Bytes of a blosc (format 2) frame header.
pub(crate) const HEADER: usize = 16;
/// Header flag: the frame holds its bytes uncompressed, without block table.
pub(crate) const MEMCPYED: u8 = 0x2;

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

/// The little-endian `u32` at `at` (blosc header fields and block starts).
pub(crate) fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// A finished chunk.
#[derive(Debug)]
pub(crate) enum Encoded<W> {
    /// The encoded bytes, to store.
    Bytes(Vec<u8>),
    /// Written whole to the sink (this many bytes), for the task to commit.
    Written(W, usize),
}

/// Opens the sink a frame is written to, with its first compressed piece.
pub(crate) type OpenSink<W> = Box<dyn FnOnce() -> std::io::Result<W> + Send>;

/// One chunk's blosc frame, fed raw bytes in order. The frame is built in
/// memory, or written as it is made to a sink the caller chooses (a local
/// chunk file): compressed blocks at their final offsets, the header and
/// block table, known last, at the front.
pub(crate) struct FrameWriter<W> {
    typesize: usize,
    total: usize,
    fed: usize,
    /// Raw bytes not compressed yet: the last whole block is always kept
    /// back, so the final piece (which may end in a short block) is never
    /// smaller than a block.
    staged: Vec<u8>,
    /// Header and block starts: first in the frame, known last.
    table: Vec<u8>,
    /// Where the compressed blocks go: a sink (`open`ed with the first
    /// piece), or memory (`frame`, with room for the table in front).
    open: Option<OpenSink<W>>,
    sink: Option<W>,
    frame: Vec<u8>,
    /// Compressed bytes after the table so far.
    body: usize,
    /// The piece being compressed (reused).
    piece: Vec<u8>,
    /// Version, codec version, flags and type size of the first piece.
    head: Option<[u8; 4]>,
    blocks: usize,
}

impl<W: Write + Seek> FrameWriter<W> {
    /// A frame for a chunk of `total` bytes of `typesize`-byte items, kept
    /// in memory, or, with `open`, written to the sink it opens as it is
    /// made (a chunk of a single piece never opens it: it comes back as
    /// [`Encoded::Bytes`]).
    pub(crate) fn new(total: usize, typesize: usize, open: Option<OpenSink<W>>) -> Self {
        FrameWriter {
            typesize,
            total,
            fed: 0,
            staged: Vec::new(),
            table: Vec::new(),
            open,
            sink: None,
            frame: Vec::new(),
            body: 0,
            piece: Vec::new(),
            head: None,
            blocks: 0,
        }
    }

    /// Append the chunk's next raw bytes.
    pub(crate) fn push(&mut self, raw: &[u8]) -> Result<(), String> {
        self.fed += raw.len();
        if self.fed > self.total {
            return Err(format!("chunk fed {} of {} bytes", self.fed, self.total));
        }
        self.staged.extend_from_slice(raw);
        if self.staged.len() >= 2 * BLOCK {
            let n = (self.staged.len() - BLOCK) / BLOCK * BLOCK;
            self.append(n)?;
            self.staged.drain(..n);
        }
        Ok(())
    }

    /// Compress the first `n` staged bytes as a piece and add its blocks to
    /// the frame, their starts made absolute.
    fn append(&mut self, n: usize) -> Result<(), String> {
        let all = self.total.div_ceil(BLOCK);
        let table = HEADER + 4 * all;
        if self.head.is_none() {
            self.table = vec![0; table];
            match self.open.take() {
                Some(open) => self.sink = Some(open().map_err(|e| e.to_string())?),
                None => {
                    // room for the worst case up front: no copies as the
                    // frame grows, and pages never written are never resident
                    self.frame.reserve_exact(table + 8 * all + self.total + 64);
                    self.frame.resize(table, 0);
                }
            }
        }
        self.piece.clear();
        compress(&self.staged[..n], self.typesize, &mut self.piece)?;
        let piece = &self.piece;
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
        let base = table + self.body;
        for j in 0..k {
            let abs = (base + u32_at(piece, HEADER + 4 * j) - data) as u32;
            let slot = HEADER + 4 * (self.blocks + j);
            self.table[slot..slot + 4].copy_from_slice(&abs.to_le_bytes());
        }
        let streams = &piece[data..];
        match &mut self.sink {
            Some(w) => write_at(w, base as u64, streams).map_err(|e| e.to_string())?,
            None => self.frame.extend_from_slice(streams),
        }
        self.blocks += k;
        self.body += streams.len();
        Ok(())
    }

    /// The encoded chunk, once all `total` bytes were pushed.
    pub(crate) fn finish(mut self) -> Result<Encoded<W>, String> {
        if self.fed != self.total {
            return Err(format!("chunk fed {} of {} bytes", self.fed, self.total));
        }
        if self.head.is_none() {
            return encode(&self.staged, self.typesize).map(Encoded::Bytes);
        }
        let n = self.staged.len();
        self.append(n)?;
        let head = self.head.unwrap_or_default();
        let len = self.table.len() + self.body;
        let t = &mut self.table;
        t[..4].copy_from_slice(&head);
        t[4..8].copy_from_slice(&(self.total as u32).to_le_bytes());
        t[8..12].copy_from_slice(&(BLOCK as u32).to_le_bytes());
        t[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        match self.sink.take() {
            Some(mut w) => {
                write_at(&mut w, 0, &self.table).map_err(|e| e.to_string())?;
                Ok(Encoded::Written(w, len))
            }
            None => {
                self.frame[..self.table.len()].copy_from_slice(&self.table);
                Ok(Encoded::Bytes(std::mem::take(&mut self.frame)))
            }
        }
    }
}

/// Encode a whole chunk at once (the same bytes as a [`FrameWriter`] makes).
pub(crate) fn encode(raw: &[u8], typesize: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    compress(raw, typesize, &mut out)?;
    Ok(out)
}

fn write_at<W: Write + Seek>(w: &mut W, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    w.seek(SeekFrom::Start(offset))?;
    w.write_all(bytes)
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
                let whole = encode(&raw, 2).unwrap();
                for step in [7 * 2, 7320, 1 << 20] {
                    // in memory, and written to a sink as it is made
                    for to_file in [false, true] {
                        let open = to_file.then(|| -> OpenSink<std::io::Cursor<Vec<u8>>> {
                            Box::new(|| Ok(std::io::Cursor::new(vec![])))
                        });
                        let mut w = FrameWriter::new(raw.len(), 2, open);
                        for part in raw.chunks(step) {
                            w.push(part).unwrap();
                        }
                        let got = match w.finish().unwrap() {
                            Encoded::Bytes(b) => b,
                            Encoded::Written(c, n) => {
                                let b = c.into_inner();
                                assert_eq!(b.len(), n);
                                b
                            }
                        };
                        assert!(
                            got == whole,
                            "n {n} step {step} noisy {noisy} file {to_file}"
                        );
                    }
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
            assert!(out == encode(&raw, 2).unwrap(), "n {n}");
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut w = FrameWriter::<std::io::Cursor<Vec<u8>>>::new(10, 2, None);
        w.push(&[0; 8]).unwrap();
        assert!(FrameWriter::<std::io::Cursor<Vec<u8>>>::new(10, 2, None)
            .push(&[0; 12])
            .is_err());
        assert!(w.finish().is_err());
    }
}
