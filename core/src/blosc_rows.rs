//! Reading a Zarr v2 blosc chunk a few rows at a time. A blosc chunk is a
//! run of independently compressed blocks (128 KiB here), so a band can
//! stream through memory in windows of rows instead of decoding whole chunk
//! rows: only the compressed chunk and the current window are held.

use serde_json::Value;
use zarrs::storage::Bytes;

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

/// One compressed chunk, decoded front to back in whole blosc blocks.
pub struct ChunkRows {
    enc: Bytes,
    item: usize,
    nbytes: usize,
    block: usize,
    /// Bytes decoded so far (a multiple of the block size, or `nbytes`).
    decoded: usize,
    /// Items of a block decoded but not yet taken, from `pos` on.
    pending: Vec<u8>,
    pos: usize,
}

impl ChunkRows {
    /// Check the header of `enc`, a chunk of `items` items of `item` bytes.
    pub fn new(enc: Bytes, items: usize, item: usize) -> Result<Self, String> {
        let mut nbytes = 0usize;
        // SAFETY: reads at most `enc.len()` bytes of `enc`.
        let ok = unsafe {
            blosc_src::blosc_cbuffer_validate(enc.as_ptr().cast(), enc.len(), &mut nbytes)
        };
        if ok != 0 || enc.len() < 16 {
            return Err("not a valid blosc chunk".into());
        }
        let (version, typesize) = (enc[0], enc[3] as usize);
        let block = u32::from_le_bytes([enc[8], enc[9], enc[10], enc[11]]) as usize;
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
        Ok(ChunkRows {
            enc,
            item,
            nbytes,
            block,
            decoded: 0,
            pending: vec![],
            pos: 0,
        })
    }

    /// Decode bytes `[decoded, decoded + len)` into `dst` (`len` bytes).
    fn decode_into(&mut self, dst: *mut u8, len: usize) -> Result<(), String> {
        let (start, n) = (self.decoded / self.item, len / self.item);
        let (start, n) = (
            i32::try_from(start).map_err(|e| e.to_string())?,
            i32::try_from(n).map_err(|e| e.to_string())?,
        );
        // SAFETY: the header was validated in `new`, `start + n` items lie
        // inside the chunk and `dst` has room for `len` bytes.
        let got =
            unsafe { blosc_src::blosc_getitem(self.enc.as_ptr().cast(), start, n, dst.cast()) };
        if got < 0 || got as usize != len {
            return Err(format!("blosc block decoding failed ({got})"));
        }
        self.decoded += len;
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
        while filled < want {
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
            if direct > 0 {
                self.decode_into(dst[filled..].as_mut_ptr(), direct)?;
                filled += direct;
                continue;
            }
            let len = self.block.min(avail);
            let mut buf = std::mem::take(&mut self.pending);
            buf.resize(len, 0);
            self.decode_into(buf.as_mut_ptr(), len)?;
            dst[filled..].copy_from_slice(&buf[..rem]);
            self.pending = buf;
            self.pos = rem;
            filled = want;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(data: &[u16], blocksize: usize) -> Bytes {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = vec![0u8; bytes.len() + 16];
        // SAFETY: `out` has room for the worst case (input + 16-byte header).
        let n = unsafe {
            blosc_src::blosc_compress_ctx(
                3,
                1,
                2,
                bytes.len(),
                bytes.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                out.len(),
                c"zstd".as_ptr(),
                blocksize,
                1,
            )
        };
        assert!(n > 0);
        out.truncate(n as usize);
        Bytes::from(out)
    }

    #[test]
    fn windows_of_any_size_give_the_chunk_back() {
        let data: Vec<u16> = (0..10_007u32).map(|i| (i * 7919 % 4099) as u16).collect();
        let enc = compress(&data, 1024);
        for step in [1, 7, 512, 513, 1500, 10_007] {
            let mut rows = ChunkRows::new(enc.clone(), data.len(), 2).unwrap();
            let mut got = vec![];
            let mut at = 0;
            while at < data.len() {
                let n = step.min(data.len() - at);
                let mut w = vec![0u16; n];
                rows.take(&mut w).unwrap();
                got.extend(w);
                at += n;
            }
            assert_eq!(got, data, "step {step}");
            assert!(rows.take(&mut [0u16; 1]).is_err());
        }
    }

    #[test]
    fn rejects_wrong_sizes_and_garbage() {
        let enc = compress(&[1, 2, 3, 4], 0);
        assert!(ChunkRows::new(enc.clone(), 5, 2).is_err());
        assert!(ChunkRows::new(enc, 2, 4).is_err());
        assert!(ChunkRows::new(Bytes::from(vec![7u8; 40]), 4, 2).is_err());
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
