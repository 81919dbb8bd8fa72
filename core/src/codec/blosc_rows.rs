//! Reading a Zarr v2 blosc chunk a few rows at a time. A blosc chunk is a
//! run of independently compressed blocks (128 KiB here), so a band can
//! stream through memory in windows of rows: the chunk is fetched in byte
//! ranges of a few MiB and decoded block by block, and neither the whole
//! compressed chunk nor a decoded chunk row is ever held.

use serde_json::Value;
use zarrs::storage::Bytes;

use crate::codec::blosc_frame::{u32_at, BLOCK as BLOSC_BLOCK, HEADER, MEMCPYED};

/// Compressed bytes fetched at a time (one range request).
pub(crate) const FETCH_BYTES: usize = 4 << 20;

/// Can the input chunks of this Zarr v2 array be read by [`ChunkRows`] as
/// items of `item_size` bytes? Blosc compressor, no filters, C order,
/// little-endian (or single-byte) dtype of that size.
pub(crate) fn applies(meta: &Value, item_size: usize) -> bool {
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
pub(crate) type Fetch<'a> = Box<dyn FnMut(u64, u64) -> Result<Option<Bytes>, String> + Send + 'a>;

/// One stored chunk, decoded front to back in whole blosc blocks.
///
/// Any valid c-blosc 1 frame is read: its own typesize (zarr-python 3 +
/// numcodecs writes 1 whatever the array's item size), any shuffle, inner
/// codec and block size, split or not, blocks in any order, or stored
/// uncompressed. A frame that blosc cannot decode by items (an item size
/// that does not divide its block or its length, another format version)
/// is decoded whole instead; [`ChunkRows::decoded_whole`] tells.
pub(crate) struct ChunkRows<'a> {
    fetch: Fetch<'a>,
    fetch_bytes: usize,
    /// The array's item size (what [`ChunkRows::take`] hands out).
    item: usize,
    /// The frame's own item size (the unit of `blosc_getitem`).
    typesize: usize,
    nbytes: usize,
    block: usize,
    cbytes: usize,
    head: [u8; HEADER],
    /// Where each block's compressed data starts and ends in the chunk
    /// (blocks written by several threads need not be in order).
    spans: Vec<(usize, usize)>,
    /// `part` holds raw bytes: a chunk stored uncompressed, or one decoded whole.
    raw: bool,
    /// The chunk was decoded whole (its frame cannot be read by items).
    whole: bool,
    /// Blocks `[b0, b1)` as a blosc frame of their own (their raw bytes when `raw`).
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
    pub(crate) fn open(
        fetch: Fetch<'a>,
        items: usize,
        item: usize,
    ) -> Result<Option<Self>, String> {
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
        if nbytes != items * item {
            return Err(format!(
                "blosc chunk holds {nbytes} bytes, expected {} ({items} items of {item} bytes)",
                items * item
            ));
        }
        if cbytes < HEADER {
            return Err(format!("not a blosc chunk (compressed size {cbytes})"));
        }
        let mut head = [0u8; HEADER];
        head.copy_from_slice(&h);
        let mut rows = ChunkRows {
            fetch,
            fetch_bytes,
            item,
            typesize,
            nbytes,
            block,
            cbytes,
            head,
            spans: vec![],
            raw: false,
            whole: false,
            part: vec![],
            b0: 0,
            b1: 0,
            decoded: 0,
            pending: vec![],
            pos: 0,
        };
        if flags & MEMCPYED != 0 && version <= 2 {
            if cbytes != HEADER + nbytes {
                return Err("blosc chunk of the wrong size".into());
            }
            // stored uncompressed: read the bytes in steps of any size
            rows.raw = true;
            rows.block = if block == 0 { BLOSC_BLOCK } else { block };
            return Ok(Some(rows));
        }
        let by_items = version == 2
            && typesize > 0
            && block > 0
            && block.is_multiple_of(typesize)
            && nbytes.is_multiple_of(typesize);
        if !by_items {
            rows.decode_whole()?;
            return Ok(Some(rows));
        }
        let nblocks = nbytes.div_ceil(block);
        let table = HEADER + 4 * nblocks;
        let t = rows
            .get_opt(HEADER, 4 * nblocks)?
            .filter(|t| t.len() == 4 * nblocks && cbytes > table)
            .ok_or("blosc chunk too short for its block table")?;
        let starts: Vec<usize> = (0..nblocks).map(|j| u32_at(&t, 4 * j)).collect();
        if starts.iter().any(|s| *s < table || *s >= cbytes) {
            return Err("blosc block table points outside the chunk".into());
        }
        let mut sorted = starts.clone();
        sorted.sort_unstable();
        rows.spans = starts
            .iter()
            .map(|s| {
                let i = sorted.partition_point(|x| x <= s);
                (*s, sorted.get(i).copied().unwrap_or(cbytes))
            })
            .collect();
        Ok(Some(rows))
    }

    /// Was the chunk decoded whole (its frame could not be read by items)?
    pub(crate) fn decoded_whole(&self) -> bool {
        self.whole
    }

    /// Fetch the whole frame and decode it at once into `part`.
    fn decode_whole(&mut self) -> Result<(), String> {
        let frame = self.get(0, self.cbytes)?;
        let mut n = 0usize;
        // SAFETY: reads at most `frame.len()` bytes of `frame`.
        let ok = unsafe {
            blosc_src::blosc_cbuffer_validate(frame.as_ptr().cast(), frame.len(), &mut n)
        };
        if ok != 0 || n != self.nbytes {
            return Err("damaged blosc chunk".into());
        }
        let mut out = vec![0u8; self.nbytes];
        // SAFETY: the frame was validated above; `out` has room for the
        // `nbytes` it decodes to.
        let got = unsafe {
            blosc_src::blosc_decompress_ctx(
                frame.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                out.len(),
                1,
            )
        };
        if got < 0 || got as usize != self.nbytes {
            return Err(format!(
                "blosc chunk decoding failed ({got}; format version {})",
                self.head[0]
            ));
        }
        self.part = out;
        (self.raw, self.whole) = (true, true);
        // handed out in steps of a block, like a stored-raw chunk (a
        // chunk-sized step would copy it again through `pending`)
        self.block = BLOSC_BLOCK;
        (self.b0, self.b1) = (0, self.nbytes.div_ceil(BLOSC_BLOCK).max(1));
        Ok(())
    }

    /// Fetch the blocks from `b` on, about `fetch_bytes` of them, into `part`.
    fn load(&mut self, b: usize) -> Result<(), String> {
        let nblocks = self.nbytes.div_ceil(self.block);
        if self.raw {
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
        let bytes = self
            .get_opt(offset, len)?
            .ok_or("the chunk disappeared while being read")?;
        if bytes.len() != len {
            return Err("blosc chunk shorter than its header says".into());
        }
        Ok(bytes)
    }

    /// Bytes `[offset, offset + len)` as fetched (`None`: chunk gone),
    /// never past the size the header gives.
    fn get_opt(&mut self, offset: usize, len: usize) -> Result<Option<Bytes>, String> {
        if offset + len > self.cbytes {
            return Err("blosc chunk shorter than its header says".into());
        }
        (self.fetch)(offset as u64, len as u64)
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
            if self.raw {
                out.copy_from_slice(&self.part[from..from + n]);
            } else {
                // whole blocks (or up to the end): whole frame items
                let start = i32::try_from(from / self.typesize).map_err(|e| e.to_string())?;
                let items = i32::try_from(n / self.typesize).map_err(|e| e.to_string())?;
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
    pub(crate) fn take<T: Copy>(&mut self, dst: &mut [T]) -> Result<(), String> {
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
        compress_as(&bytes, clevel, 1, 2, c"zstd", blocksize, threads)
    }

    /// One c-blosc 1 frame, every parameter chosen (as numcodecs would).
    fn compress_as(
        bytes: &[u8],
        clevel: i32,
        shuffle: i32,
        typesize: usize,
        cname: &std::ffi::CStr,
        blocksize: usize,
        threads: i32,
    ) -> Bytes {
        let mut out = vec![0u8; bytes.len() + 16];
        // SAFETY: `out` has room for the worst case (input + 16-byte header).
        let n = unsafe {
            blosc_src::blosc_compress_ctx(
                clevel,
                shuffle,
                typesize,
                bytes.len(),
                bytes.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                out.len(),
                cname.as_ptr(),
                blocksize,
                threads,
            )
        };
        assert!(n > 0);
        out.truncate(n as usize);
        Bytes::from(out)
    }

    /// Read a whole chunk of u16 through windows of `step` items.
    fn read_all(enc: Bytes, items: usize, fetch_bytes: usize, step: usize) -> (Vec<u16>, bool) {
        let fetch = fetch_from(enc, Arc::default());
        let mut rows = ChunkRows::open_with(fetch, items, 2, fetch_bytes)
            .unwrap()
            .unwrap();
        let mut got = vec![];
        while got.len() < items {
            let mut w = vec![0u16; step.min(items - got.len())];
            rows.take(&mut w).unwrap();
            got.extend(w);
        }
        assert!(rows.take(&mut [0u16; 1]).is_err());
        (got, rows.decoded_whole())
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
    fn frames_of_any_typesize_shuffle_codec_and_block_size_are_read() {
        let data: Vec<u16> = (0..60_001u32).map(|i| (i * 7919 % 3001) as u16).collect();
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let cnames = [c"blosclz", c"lz4", c"lz4hc", c"zlib", c"zstd"];
        let mut wholes = 0;
        // typesize 1 (zarr-python 3 + numcodecs), the item size, and others
        for typesize in [1, 2, 8] {
            for shuffle in [0, 1, 2] {
                for (i, cname) in cnames.iter().enumerate() {
                    let (blocksize, threads) = [(0, 1), (16384, 1), (131072, 2), (4096, 4)][i % 4];
                    let case = format!("typesize {typesize} shuffle {shuffle} {cname:?} block {blocksize} threads {threads}");
                    let enc = compress_as(&bytes, 5, shuffle, typesize, cname, blocksize, threads);
                    assert_eq!(enc[3] as usize, typesize, "{case}");
                    for (fetch_bytes, step) in [(1, 777), (FETCH_BYTES, 60_001)] {
                        let (got, whole) = read_all(enc.clone(), data.len(), fetch_bytes, step);
                        assert!(got == data, "{case}");
                        // 120002 bytes: whole items of 1 and 2 bytes, not of 8
                        // (a frame stored uncompressed is read by ranges anyway)
                        let stored_raw = enc[2] & MEMCPYED != 0;
                        assert_eq!(whole, typesize == 8 && !stored_raw, "{case}");
                        wholes += usize::from(whole);
                    }
                }
            }
        }
        assert!(wholes >= 20, "{wholes} frames decoded whole");
        // stored uncompressed (clevel 0, memcpyed) at typesize 1
        let enc = compress_as(&bytes, 0, 2, 1, c"zstd", 0, 1);
        assert_ne!(enc[2] & MEMCPYED, 0);
        assert_eq!(read_all(enc, data.len(), 1000, 999), (data.clone(), false));
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
        assert!(open(enc.clone(), 3, 2).is_err());
        // the same bytes as 2 items of 4 bytes: a frame's typesize is its own
        assert!(open(enc.clone(), 2, 4).is_ok());
        assert!(open(Bytes::from(vec![7u8; 40]), 4, 2).is_err());
        // a frame of another format version, right sizes: decoded whole, and refused
        let mut bad = enc.to_vec();
        bad[0] = 9;
        assert!(open(Bytes::from(bad), 4, 2).is_err());
        // a damaged frame decoded whole (typesize 8 of 10 bytes) is an error too
        let odd: Vec<u8> = (0..30_002u32).map(|i| (i % 13) as u8).collect();
        let enc = compress_as(&odd, 5, 1, 8, c"lz4", 0, 1);
        assert!(open(enc.clone(), 15_001, 2).is_ok());
        assert!(open(enc.slice(..enc.len() - 10), 15_001, 2).is_err());
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
