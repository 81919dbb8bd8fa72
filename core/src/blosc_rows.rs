//! Reading a Zarr v2 blosc chunk a few rows at a time. A blosc chunk is a
//! run of independently compressed blocks (128 KiB here), so a band can
//! stream through memory in windows of rows: the chunk is fetched in byte
//! ranges of a few MiB and decoded block by block, and neither the whole
//! compressed chunk nor a decoded chunk row is ever held.

use serde_json::Value;
use zarrs::storage::Bytes;

use crate::blosc_frame::{u32_at, HEADER, MEMCPYED};

/// Compressed bytes fetched at a time (one range request).
pub const FETCH_BYTES: usize = 4 << 20;

/// Can the input chunks of this Zarr v2 array be read by [`ChunkRows`] as
/// items of `item_size` bytes? Blosc compressor, no filters, C order,
/// little-endian (or single-byte) dtype of that size.
pub fn applies(meta: &Value, item_size: usize) -> bool {
    let dtype = meta["dtype"].as_str().unwrap_or("");
    let size_ok = dtype
        .get(2..)
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n == item_size);
    let order_ok = dtype.starts_with('<') || (dtype.starts_with('|') && item_size == 1);
    let no_filters = match &meta["filters"] {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    meta["compressor"]["id"] == "blosc"
        && no_filters
        && meta["order"].as_str().unwrap_or("C") == "C"
        && size_ok
        && order_ok
}

/// Reads `len` bytes at `offset` of one stored chunk (`None`: no such chunk).
pub type Fetch<'a> = Box<dyn FnMut(u64, u64) -> Result<Option<Bytes>, String> + Send + 'a>;

/// One stored chunk, decoded front to back in whole blosc blocks.
pub struct ChunkRows<'a> {
    fetch: Fetch<'a>,
    fetch_bytes: usize,
    item: usize,
    nbytes: usize,
    block: usize,
    cbytes: usize,
    head: [u8; HEADER],
    /// Where each block's compressed data starts and ends in the chunk
    /// (blocks written by several threads need not be in order).
    spans: Vec<(usize, usize)>,
    /// Blocks `[b0, b1)` as a blosc frame of their own (raw bytes for a
    /// chunk stored uncompressed).
    part: Vec<u8>,
    b0: usize,
    b1: usize,
    /// Bytes decoded so far (a multiple of the block size, or `nbytes`).
    decoded: usize,
    /// Bytes of a block decoded but not yet taken, from `pos` on.
    pending: Vec<u8>,
    pos: usize,
}

impl<'a> ChunkRows<'a> {
    /// Open a chunk of `items` items of `item` bytes: read and check its
    /// header and block table. `None` when the chunk is not stored.
    pub fn open(fetch: Fetch<'a>, items: usize, item: usize) -> Result<Option<Self>, String> {
        Self::open_with(fetch, items, item, FETCH_BYTES)
    }

    fn open_with(
        mut fetch: Fetch<'a>,
        items: usize,
        item: usize,
        fetch_bytes: usize,
    ) -> Result<Option<Self>, String> {
        let Some(h) = fetch(0, HEADER as u64)? else {
            return Ok(None);
        };
        if h.len() != HEADER {
            return Err("not a blosc chunk (too short)".into());
        }
        let (version, typesize, flags) = (h[0], h[3] as usize, h[2]);
        let (nbytes, block, cbytes) = (u32_at(&h, 4), u32_at(&h, 8), u32_at(&h, 12));
        if version != 2 {
            return Err(format!("blosc format version {version}, expected 2"));
        }
        if nbytes != items * item || typesize != item || block == 0 || !block.is_multiple_of(item) {
            return Err(format!(
                "blosc chunk holds {nbytes} bytes of {typesize}-byte items in {block}-byte \
                 blocks, expected {} bytes of {item}-byte items",
                items * item
            ));
        }
        let nblocks = nbytes.div_ceil(block);
        let mut spans = vec![];
        if flags & MEMCPYED != 0 {
            if cbytes != HEADER + nbytes {
                return Err("blosc chunk of the wrong size".into());
            }
        } else {
            let table = HEADER + 4 * nblocks;
            let t = fetch(HEADER as u64, 4 * nblocks as u64)?
                .filter(|t| t.len() == 4 * nblocks && cbytes > table)
                .ok_or("blosc chunk too short for its block table")?;
            let starts: Vec<usize> = (0..nblocks).map(|j| u32_at(&t, 4 * j)).collect();
            if starts.iter().any(|s| *s < table || *s >= cbytes) {
                return Err("blosc block table points outside the chunk".into());
            }
            let mut sorted = starts.clone();
            sorted.sort_unstable();
            spans = starts
                .iter()
                .map(|s| {
                    let i = sorted.partition_point(|x| x <= s);
                    (*s, sorted.get(i).copied().unwrap_or(cbytes))
                })
                .collect();
        }
        let mut head = [0u8; HEADER];
        head.copy_from_slice(&h);
        Ok(Some(ChunkRows {
            fetch,
            fetch_bytes,
            item,
            nbytes,
            block,
            cbytes,
            head,
            spans,
            part: vec![],
            b0: 0,
            b1: 0,
            decoded: 0,
            pending: vec![],
            pos: 0,
        }))
    }

    /// Fetch the blocks from `b` on, about `fetch_bytes` of them, into `part`.
    fn load(&mut self, b: usize) -> Result<(), String> {
        let nblocks = self.nbytes.div_ceil(self.block);
        if self.spans.is_empty() {
            // stored uncompressed: the blocks' raw bytes
            let e = (b + self.fetch_bytes.div_ceil(self.block)).min(nblocks);
            let (from, to) = (b * self.block, (e * self.block).min(self.nbytes));
            self.part = self.get(HEADER + from, to - from)?.to_vec();
            (self.b0, self.b1) = (b, e);
            return Ok(());
        }
        let (mut lo, mut hi, mut e) = (usize::MAX, 0, b);
        // as many blocks as fit in one range of `fetch_bytes` (at least one)
        while e < nblocks {
            let (l, h) = (lo.min(self.spans[e].0), hi.max(self.spans[e].1));
            if e > b && h - l > self.fetch_bytes {
                break;
            }
            (lo, hi, e) = (l, h, e + 1);
        }
        // a short last block never stands alone (blosc refuses a frame
        // whose only block is shorter than its block size)
        if e + 1 == nblocks && !self.nbytes.is_multiple_of(self.block) {
            (lo, hi, e) = (lo.min(self.spans[e].0), hi.max(self.spans[e].1), nblocks);
        }
        let k = e - b;
        let data = self.get(lo, hi - lo)?;
        let table = HEADER + 4 * k;
        let mut part = Vec::with_capacity(table + data.len());
        part.extend_from_slice(&self.head);
        let raw = (e * self.block).min(self.nbytes) - b * self.block;
        part[4..8].copy_from_slice(&(raw as u32).to_le_bytes());
        part[12..16].copy_from_slice(&((table + data.len()) as u32).to_le_bytes());
        for (s, _) in &self.spans[b..e] {
            part.extend_from_slice(&((s - lo + table) as u32).to_le_bytes());
        }
        part.extend_from_slice(&data);
        let mut n = 0usize;
        // SAFETY: reads at most `part.len()` bytes of `part`.
        let ok =
            unsafe { blosc_src::blosc_cbuffer_validate(part.as_ptr().cast(), part.len(), &mut n) };
        if ok != 0 || n != raw {
            return Err("damaged blosc block".into());
        }
        self.part = part;
        (self.b0, self.b1) = (b, e);
        Ok(())
    }

    /// Bytes `[offset, offset + len)` of the stored chunk.
    fn get(&mut self, offset: usize, len: usize) -> Result<Bytes, String> {
        let short = || "blosc chunk shorter than its header says".to_string();
        if offset + len > self.cbytes {
            return Err(short());
        }
        let bytes = (self.fetch)(offset as u64, len as u64)?
            .ok_or("the chunk disappeared while being read")?;
        if bytes.len() != len {
            return Err(short());
        }
        Ok(bytes)
    }

    /// Decode bytes `[decoded, decoded + len)` (whole blocks but perhaps the
    /// chunk's last) into `dst`.
    fn decode_into(&mut self, dst: &mut [u8]) -> Result<(), String> {
        let mut done = 0;
        while done < dst.len() {
            let b = self.decoded / self.block;
            if !(self.b0..self.b1).contains(&b) {
                self.load(b)?;
            }
            let from = self.decoded - self.b0 * self.block;
            let n = (dst.len() - done).min((self.b1 * self.block).min(self.nbytes) - self.decoded);
            let out = &mut dst[done..done + n];
            if self.spans.is_empty() {
                out.copy_from_slice(&self.part[from..from + n]);
            } else {
                let start = i32::try_from(from / self.item).map_err(|e| e.to_string())?;
                let items = i32::try_from(n / self.item).map_err(|e| e.to_string())?;
                // SAFETY: `part` was validated in `load`, items `[start,
                // start + items)` lie in it and `out` has room for them.
                let got = unsafe {
                    blosc_src::blosc_getitem(
                        self.part.as_ptr().cast(),
                        start,
                        items,
                        out.as_mut_ptr().cast(),
                    )
                };
                if got < 0 || got as usize != n {
                    return Err(format!("blosc block decoding failed ({got})"));
                }
            }
            self.decoded += n;
            done += n;
        }
        Ok(())
    }

    /// Fill `dst` with the next `dst.len()` items of the chunk.
    pub fn take<T: Copy>(&mut self, dst: &mut [T]) -> Result<(), String> {
        assert_eq!(std::mem::size_of::<T>(), self.item);
        let want = std::mem::size_of_val(dst);
        // SAFETY: `T` is plain data of `item` bytes; the bytes are the
        // chunk's little-endian items, the machine's layout (x86/arm).
        let dst = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), want) };
        let mut filled = (self.pending.len() - self.pos).min(want);
        dst[..filled].copy_from_slice(&self.pending[self.pos..self.pos + filled]);
        self.pos += filled;
        if filled == want {
            return Ok(());
        }
        let rem = want - filled;
        let avail = self.nbytes - self.decoded;
        if rem > avail {
            return Err("read past the end of the chunk".into());
        }
        // whole blocks straight into `dst`; a last partial block via `pending`
        let direct = if rem == avail {
            rem
        } else {
            rem / self.block * self.block
        };
        self.decode_into(&mut dst[filled..filled + direct])?;
        filled += direct;
        if filled < want {
            let len = self.block.min(self.nbytes - self.decoded);
            let mut buf = std::mem::take(&mut self.pending);
            buf.resize(len, 0);
            self.decode_into(&mut buf)?;
            let rest = want - filled;
            dst[filled..].copy_from_slice(&buf[..rest]);
            self.pending = buf;
            self.pos = rest;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn compress(data: &[u16], clevel: i32, blocksize: usize, threads: i32) -> Bytes {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = vec![0u8; bytes.len() + 16];
        // SAFETY: `out` has room for the worst case (input + 16-byte header).
        let n = unsafe {
            blosc_src::blosc_compress_ctx(
                clevel,
                1,
                2,
                bytes.len(),
                bytes.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                out.len(),
                c"zstd".as_ptr(),
                blocksize,
                threads,
            )
        };
        assert!(n > 0);
        out.truncate(n as usize);
        Bytes::from(out)
    }

    /// A fetch over `enc` that records the largest range asked for.
    fn fetch_from(enc: Bytes, largest: Arc<Mutex<u64>>) -> Fetch<'static> {
        Box::new(move |off, len| {
            let mut l = largest.lock().unwrap();
            *l = (*l).max(len);
            let end = ((off + len) as usize).min(enc.len());
            Ok(Some(enc.slice((off as usize).min(end)..end)))
        })
    }

    #[test]
    fn windows_of_any_size_give_the_chunk_back_in_bounded_reads() {
        let data: Vec<u16> = (0..100_007u32).map(|i| (i * 7919 % 4099) as u16).collect();
        // in order (1 thread), out of order (4 threads), stored raw (level 0);
        // ranges of one block at a time, and of several
        for (clevel, threads) in [(3, 1), (3, 4), (0, 1)] {
            let enc = compress(&data, clevel, 1024, threads);
            for (fetch_bytes, step) in [1, 8192]
                .into_iter()
                .flat_map(|f| [1, 7, 512, 513, 1500, 100_007].map(|s| (f, s)))
            {
                let case =
                    format!("level {clevel} threads {threads} range {fetch_bytes} step {step}");
                let largest = Arc::new(Mutex::new(0));
                let fetch = fetch_from(enc.clone(), largest.clone());
                let mut rows = ChunkRows::open_with(fetch, data.len(), 2, fetch_bytes)
                    .unwrap()
                    .unwrap();
                let mut got = vec![];
                let mut at = 0;
                while at < data.len() {
                    let n = step.min(data.len() - at);
                    let mut w = vec![0u16; n];
                    rows.take(&mut w)
                        .unwrap_or_else(|e| panic!("{case} at {at}: {e}"));
                    got.extend(w);
                    at += n;
                }
                assert!(got == data, "{case}");
                assert!(rows.take(&mut [0u16; 1]).is_err());
                // at most the range size, or one block over it
                let l = *largest.lock().unwrap() as usize;
                assert!(
                    l <= fetch_bytes.max(1100) + 1100,
                    "{case}: read {l} bytes at once"
                );
            }
        }
    }

    #[test]
    fn missing_chunks_are_none_and_bad_ones_errors() {
        let none: Fetch = Box::new(|_, _| Ok(None));
        assert!(ChunkRows::open(none, 4, 2).unwrap().is_none());
        let enc = compress(&[1, 2, 3, 4], 3, 0, 1);
        let open = |enc: Bytes, items, item| {
            ChunkRows::open(fetch_from(enc, Arc::default()), items, item).map(|_| ())
        };
        assert!(open(enc.clone(), 5, 2).is_err());
        assert!(open(enc, 2, 4).is_err());
        assert!(open(Bytes::from(vec![7u8; 40]), 4, 2).is_err());
        // a truncated chunk fails while reading, not with garbage
        let data: Vec<u16> = (0..50_000u32).map(|i| (i % 251) as u16).collect();
        let enc = compress(&data, 3, 1024, 1);
        let cut = enc.slice(..enc.len() - 100);
        let mut rows = ChunkRows::open(fetch_from(cut, Arc::default()), data.len(), 2)
            .unwrap()
            .unwrap();
        assert!(rows.take(&mut vec![0u16; data.len()]).is_err());
    }

    #[test]
    fn applies_only_to_plain_blosc() {
        let m = |dtype: &str, filters: Value| {
            serde_json::json!({"dtype": dtype, "order": "C", "filters": filters,
                "compressor": {"id": "blosc", "cname": "zstd"}})
        };
        assert!(applies(&m("<u2", Value::Null), 2));
        assert!(applies(&m("|u1", Value::Null), 1));
        assert!(!applies(&m(">u2", Value::Null), 2));
        assert!(!applies(&m("<u2", Value::Null), 4));
        assert!(!applies(&m("<u2", serde_json::json!([{"id": "delta"}])), 2));
        let mut z = m("<u2", Value::Null);
        z["compressor"] = serde_json::json!({"id": "zstd"});
        assert!(!applies(&z, 2));
    }
}
