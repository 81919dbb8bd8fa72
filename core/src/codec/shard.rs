//! Writing a Zarr v3 `sharding_indexed` shard as its rows arrive (profile
//! "Chunks and shards"; the codec metadata is
//! [`crate::convert::attrs::sharding_codec`]).
//!
//! A shard is its inner chunks, each encoded as an unsharded band chunk is
//! (little-endian bytes, then one blosc frame: [`blosc_frame::encode`], so
//! an inner chunk's bytes equal those of an unsharded chunk of the same
//! pixels), one after another, then the index: `offset, nbytes` (`u64`
//! little-endian) for every inner chunk in C order, offsets from the start
//! of the shard, and the index's `crc32c` (`u32` little-endian) —
//! `index_location: "end"`.
//!
//! Rows come in one at a time, as a [`blosc_frame::FrameWriter`] gets them;
//! only one row of inner chunks (`inner[0]` rows of the shard's width) is
//! held raw. When it is complete its inner chunks are encoded, in parallel,
//! and appended in order to the shard — to memory, or to a sink the caller
//! opens (a local chunk file), so memory stays bounded to that row.
//!
//! Empty inner chunks, every pixel of which is the fill value (compared
//! byte for byte, so one NaN payload is not another), are not written:
//! their index entry is `u64::MAX, u64::MAX`, the marker of the sharding
//! specification, which readers decode as the fill value (zarr-python does
//! the same with `write_empty_chunks=False`; so does zarrs). A shard whose
//! inner chunks are all empty is still written, as its index alone: the
//! unsharded bands store every chunk, fill or not, and a resumed run or a
//! check of the output finds every shard's key.
//!
//! The inner chunk shape must divide the shard shape (the sharding
//! specification requires it, and zarrs refuses other shapes): at the
//! array's edge the shard is padded to full size by the caller, and inner
//! chunks wholly in the padding are empty, so cost nothing.

use std::io::Write;

use rayon::prelude::*;

use super::blosc_frame::{self, Encoded, OpenSink};

/// Index `offset` and `nbytes` of an inner chunk not written (all fill).
pub(crate) const EMPTY: u64 = u64::MAX;

/// Bytes of a shard's index (`offset, nbytes` per inner chunk) with its
/// `crc32c`, for a shard of `n` inner chunks.
pub(crate) fn index_size(n: usize) -> usize {
    16 * n + 4
}

/// One shard, fed its raw bytes row by row (see the module docs).
pub(crate) struct ShardWriter<W> {
    /// Shard shape in pixels (rows, columns).
    shard: [usize; 2],
    /// Inner chunk shape in pixels; divides `shard`.
    inner: [usize; 2],
    typesize: usize,
    /// One row of an inner chunk that is all fill: `inner[1]` fill pixels.
    fill_line: Vec<u8>,
    /// Bytes of the shard (raw) and bytes pushed so far.
    total: usize,
    fed: usize,
    /// The row of inner chunks being received, raw.
    row: Vec<u8>,
    /// Rows of inner chunks written so far.
    rows_done: usize,
    /// `offset, nbytes` of each inner chunk, in C order.
    index: Vec<u64>,
    /// Bytes of inner chunks written so far (the next one's offset).
    body: u64,
    /// Where the inner chunks go: a sink (`open`ed with the first one
    /// written), or memory (`data`).
    open: Option<OpenSink<W>>,
    sink: Option<W>,
    data: Vec<u8>,
}

impl<W: Write> ShardWriter<W> {
    /// A shard of `shard` pixels (rows, columns) of `typesize` bytes each,
    /// in inner chunks of `inner` pixels, which must divide `shard`; `fill`
    /// is one pixel of the fill value (its `typesize` little-endian bytes).
    /// Kept in memory, or, with `open`, written to the sink it opens with
    /// the first inner chunk that is not empty (a shard of empty inner
    /// chunks only never opens it: it comes back as [`Encoded::Bytes`]).
    pub(crate) fn new(
        shard: [usize; 2],
        inner: [usize; 2],
        typesize: usize,
        fill: Vec<u8>,
        open: Option<OpenSink<W>>,
    ) -> Result<Self, String> {
        if shard.contains(&0) || inner.contains(&0) || typesize == 0 {
            return Err(format!(
                "shard {shard:?} of inner chunks {inner:?} and {typesize}-byte items is empty"
            ));
        }
        if !shard[0].is_multiple_of(inner[0]) || !shard[1].is_multiple_of(inner[1]) {
            return Err(format!(
                "inner chunk shape {inner:?} does not divide the shard shape {shard:?}"
            ));
        }
        if fill.len() != typesize {
            return Err(format!(
                "fill value of {} bytes for {typesize}-byte items",
                fill.len()
            ));
        }
        let n = (shard[0] / inner[0]) * (shard[1] / inner[1]);
        Ok(ShardWriter {
            shard,
            inner,
            typesize,
            fill_line: fill.repeat(inner[1]),
            total: shard[0] * shard[1] * typesize,
            fed: 0,
            row: Vec::with_capacity(inner[0] * shard[1] * typesize),
            rows_done: 0,
            index: vec![EMPTY; 2 * n],
            body: 0,
            open,
            sink: None,
            data: Vec::new(),
        })
    }

    /// Append the shard's next raw bytes (rows of the shard's width, in
    /// order, in pieces of any length).
    pub(crate) fn push(&mut self, mut raw: &[u8]) -> Result<(), String> {
        self.fed += raw.len();
        if self.fed > self.total {
            return Err(format!("shard fed {} of {} bytes", self.fed, self.total));
        }
        let whole = self.inner[0] * self.shard[1] * self.typesize;
        while !raw.is_empty() {
            if self.row.is_empty() && raw.len() >= whole {
                // a whole row of inner chunks: encoded where it lies
                self.encode_row(&raw[..whole])?;
                raw = &raw[whole..];
                continue;
            }
            let take = (whole - self.row.len()).min(raw.len());
            self.row.extend_from_slice(&raw[..take]);
            raw = &raw[take..];
            if self.row.len() == whole {
                let row = std::mem::take(&mut self.row);
                let done = self.encode_row(&row);
                self.row = row;
                self.row.clear();
                done?;
            }
        }
        Ok(())
    }

    /// Encode a complete row of inner chunks (`inner[0]` raw rows of the
    /// shard's width), inner chunks in parallel, and append those not empty
    /// to the shard in order.
    fn encode_row(&mut self, rows: &[u8]) -> Result<(), String> {
        let ts = self.typesize;
        let width = self.shard[1] * ts;
        let piece = self.inner[1] * ts;
        let cols = self.shard[1] / self.inner[1];
        let (lines, fill) = (self.inner[0], &self.fill_line);
        let chunks = (0..cols)
            .into_par_iter()
            .map(|j| {
                let line = |r: usize| &rows[r * width + j * piece..][..piece];
                if (0..lines).all(|r| line(r) == fill.as_slice()) {
                    return Ok(None);
                }
                let mut raw = Vec::with_capacity(lines * piece);
                for r in 0..lines {
                    raw.extend_from_slice(line(r));
                }
                blosc_frame::encode(&raw, ts).map(Some)
            })
            .collect::<Result<Vec<_>, String>>()?;
        for (j, chunk) in chunks.into_iter().enumerate() {
            let Some(chunk) = chunk else { continue };
            let k = 2 * (self.rows_done * cols + j);
            self.index[k] = self.body;
            self.index[k + 1] = chunk.len() as u64;
            self.append(&chunk)?;
            self.body += chunk.len() as u64;
        }
        self.rows_done += 1;
        Ok(())
    }

    /// Append bytes to the shard, opening the sink first if there is one.
    fn append(&mut self, bytes: &[u8]) -> Result<(), String> {
        if let Some(open) = self.open.take() {
            self.sink = Some(open().map_err(|e| e.to_string())?);
        }
        match &mut self.sink {
            Some(w) => w.write_all(bytes).map_err(|e| e.to_string()),
            None => {
                self.data.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The encoded shard, once all its bytes were pushed: the inner chunks
    /// followed by the index and its checksum.
    pub(crate) fn finish(mut self) -> Result<Encoded<W>, String> {
        if self.fed != self.total {
            return Err(format!("shard fed {} of {} bytes", self.fed, self.total));
        }
        let mut tail = Vec::with_capacity(index_size(self.index.len() / 2));
        for v in &self.index {
            tail.extend_from_slice(&v.to_le_bytes());
        }
        let crc = crc32c::crc32c(&tail);
        tail.extend_from_slice(&crc.to_le_bytes());
        match self.sink.take() {
            Some(mut w) => {
                w.write_all(&tail)
                    .and_then(|()| w.flush())
                    .map_err(|e| e.to_string())?;
                Ok(Encoded::Written(w, self.body as usize + tail.len()))
            }
            None => {
                self.data.extend_from_slice(&tail);
                Ok(Encoded::Bytes(self.data))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // tests only: the shards are read back under the metadata the
    // conversion writes
    use crate::convert::attrs::{array_meta, sharding_codec};
    use std::io::Cursor;
    use std::sync::Arc;
    use zarrs::array::{Array, ArrayBytes, ArraySubset};

    /// An array data type: name, item size, fill value (bytes and JSON),
    /// and a pixel that is never the fill value.
    struct Ty {
        name: &'static str,
        size: usize,
        fill: Vec<u8>,
        fill_json: serde_json::Value,
        px: fn(usize, usize) -> Vec<u8>,
    }

    fn u8_ty() -> Ty {
        Ty {
            name: "uint8",
            size: 1,
            fill: vec![0],
            fill_json: 0.into(),
            px: |y, x| vec![1 + ((y * 3 + x * 5 + (y * x) % 7) % 250) as u8],
        }
    }

    fn u16_ty() -> Ty {
        Ty {
            name: "uint16",
            size: 2,
            fill: 65535u16.to_le_bytes().to_vec(),
            fill_json: 65535.into(),
            px: |y, x| {
                (((y * 131 + x * 17) ^ (x / 3)) as u16 % 60000)
                    .to_le_bytes()
                    .to_vec()
            },
        }
    }

    fn f32_ty() -> Ty {
        Ty {
            name: "float32",
            size: 4,
            fill: f32::NAN.to_le_bytes().to_vec(),
            fill_json: "NaN".into(),
            px: |y, x| {
                ((y as f32) * 0.25 - (x as f32).sqrt())
                    .to_le_bytes()
                    .to_vec()
            },
        }
    }

    /// The array's pixels, row-major: fill where `is_fill(y, x)`.
    fn pixels(ty: &Ty, h: usize, w: usize, is_fill: &dyn Fn(usize, usize) -> bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(h * w * ty.size);
        for y in 0..h {
            for x in 0..w {
                if is_fill(y, x) {
                    out.extend_from_slice(&ty.fill);
                } else {
                    out.extend((ty.px)(y, x));
                }
            }
        }
        out
    }

    /// The raw bytes of shard `(i, j)` of an array of `w` columns and `h`
    /// rows, padded with the fill value to the full shard, as the band task
    /// pushes them: each row's pixels, then its padding, then padding rows.
    fn shard_rows(
        ty: &Ty,
        data: &[u8],
        (h, w): (usize, usize),
        shard: [usize; 2],
        (i, j): (usize, usize),
    ) -> Vec<Vec<u8>> {
        let ts = ty.size;
        let (y0, x0) = (i * shard[0], j * shard[1]);
        let cols = (w - x0).min(shard[1]);
        let pad = ty.fill.repeat(shard[1]);
        let mut pushes = vec![];
        for y in y0..(y0 + shard[0]).min(h) {
            pushes.push(data[(y * w + x0) * ts..(y * w + x0 + cols) * ts].to_vec());
            pushes.push(pad[cols * ts..].to_vec());
        }
        for _ in h.min(y0 + shard[0])..y0 + shard[0] {
            pushes.push(pad.clone());
        }
        pushes
    }

    /// Write one shard from the band task's pushes, regrouped into pieces
    /// of uneven lengths (a few bytes, most of a row, several rows), in
    /// memory or to a sink.
    fn write(
        ty: &Ty,
        shard: [usize; 2],
        inner: [usize; 2],
        pushes: &[Vec<u8>],
        uneven: bool,
        to_sink: bool,
    ) -> Vec<u8> {
        let open =
            to_sink.then(|| -> OpenSink<Cursor<Vec<u8>>> { Box::new(|| Ok(Cursor::new(vec![]))) });
        let mut sw = ShardWriter::new(shard, inner, ty.size, ty.fill.clone(), open).unwrap();
        if uneven {
            let all = pushes.concat();
            let row = shard[1] * ty.size;
            let lens = [3, row - 5, 3 * row + 7, ty.size, 2 * row - 1, 1];
            let mut at = 0;
            for k in 0.. {
                if at == all.len() {
                    break;
                }
                let n = lens[k % lens.len()].min(all.len() - at);
                sw.push(&all[at..at + n]).unwrap();
                at += n;
            }
        } else {
            for p in pushes {
                sw.push(p).unwrap();
            }
        }
        match sw.finish().unwrap() {
            Encoded::Bytes(b) => b,
            Encoded::Written(c, n) => {
                let b = c.into_inner();
                assert_eq!(b.len(), n);
                b
            }
        }
    }

    /// Check a shard's layout without zarrs: the index's checksum, inner
    /// chunks one after another from offset 0 in C order, each the blosc
    /// frame of its pixels, empty ones exactly those all fill. The number
    /// of empty inner chunks.
    fn check_layout(ty: &Ty, shard: [usize; 2], inner: [usize; 2], raw: &[u8], b: &[u8]) -> usize {
        let (rows, cols) = (shard[0] / inner[0], shard[1] / inner[1]);
        let n = rows * cols;
        let ix = b.len() - index_size(n);
        let index = &b[ix..b.len() - 4];
        let crc = u32::from_le_bytes(b[b.len() - 4..].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(index), "index checksum");
        let entry = |k: usize| u64::from_le_bytes(index[8 * k..8 * k + 8].try_into().unwrap());
        let (mut next, mut empty) = (0u64, 0);
        for r in 0..rows {
            for c in 0..cols {
                let k = r * cols + c;
                let mut px = vec![];
                for y in r * inner[0]..(r + 1) * inner[0] {
                    let at = (y * shard[1] + c * inner[1]) * ty.size;
                    px.extend_from_slice(&raw[at..at + inner[1] * ty.size]);
                }
                let all_fill = px.chunks(ty.size).all(|p| p == ty.fill.as_slice());
                let (off, len) = (entry(2 * k), entry(2 * k + 1));
                if all_fill {
                    assert_eq!((off, len), (EMPTY, EMPTY), "inner chunk {r},{c}");
                    empty += 1;
                } else {
                    assert_eq!(off, next, "inner chunk {r},{c} offset");
                    let got = &b[off as usize..(off + len) as usize];
                    assert!(
                        got == blosc_frame::encode(&px, ty.size).unwrap(),
                        "inner chunk {r},{c}: not the unsharded frame"
                    );
                    next += len;
                }
            }
        }
        assert_eq!(
            next as usize, ix,
            "bytes between the inner chunks and the index"
        );
        empty
    }

    /// The zarr.json of a sharded array.
    fn meta(ty: &Ty, (h, w): (usize, usize), shard: [usize; 2], inner: [usize; 2]) -> Vec<u8> {
        let m = array_meta(
            &[h as u64, w as u64],
            ty.name.into(),
            &[shard[0] as u64, shard[1] as u64],
            ty.fill_json.clone(),
            vec![sharding_codec(ty.size, [inner[0] as u64, inner[1] as u64])],
            serde_json::Map::new(),
            Some(vec!["y".into(), "x".into()]),
        );
        serde_json::to_vec_pretty(&m).unwrap()
    }

    /// Write a whole array of shards into `dir/a` and read it back with
    /// zarrs; the shards' empty inner chunks counted.
    fn roundtrip(
        dir: &std::path::Path,
        ty: &Ty,
        (h, w): (usize, usize),
        shard: [usize; 2],
        inner: [usize; 2],
        is_fill: &dyn Fn(usize, usize) -> bool,
    ) -> (usize, usize) {
        let data = pixels(ty, h, w, is_fill);
        let a = dir.join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("zarr.json"), meta(ty, (h, w), shard, inner)).unwrap();
        let (mut empty, mut all) = (0, 0);
        for i in 0..h.div_ceil(shard[0]) {
            for j in 0..w.div_ceil(shard[1]) {
                let pushes = shard_rows(ty, &data, (h, w), shard, (i, j));
                let raw = pushes.concat();
                let b = write(ty, shard, inner, &pushes, false, false);
                for (uneven, to_sink) in [(true, false), (false, true), (true, true)] {
                    let other = write(ty, shard, inner, &pushes, uneven, to_sink);
                    assert!(other == b, "uneven {uneven} sink {to_sink}");
                }
                empty += check_layout(ty, shard, inner, &raw, &b);
                all += (shard[0] / inner[0]) * (shard[1] / inner[1]);
                let d = a.join(format!("c/{i}"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(j.to_string()), &b).unwrap();
            }
        }
        let store = Arc::new(zarrs::filesystem::FilesystemStore::new(dir).unwrap());
        let arr = Array::open(store, "/a").unwrap();
        let got = arr
            .retrieve_array_subset::<ArrayBytes<'static>>(&ArraySubset::new_with_ranges(&[
                0..h as u64,
                0..w as u64,
            ]))
            .unwrap();
        let got = got.into_fixed().unwrap();
        assert!(
            got.as_ref() == data.as_slice(),
            "{} {h}x{w} pixels",
            ty.name
        );
        (empty, all)
    }

    #[test]
    fn shards_read_back_through_zarrs() {
        let corner = |h: usize, w: usize| move |y: usize, x: usize| y < h && x < w;
        type Case = (Ty, (usize, usize), [usize; 2], [usize; 2]);
        let cases: Vec<Case> = vec![
            // several shards, partial at the right and bottom edges
            (u8_ty(), (100, 130), [64, 64], [16, 32]),
            (u16_ty(), (70, 90), [32, 48], [8, 16]),
            (f32_ty(), (45, 37), [40, 40], [10, 20]),
            // one inner chunk per shard; inner chunks one row high
            (u16_ty(), (50, 50), [16, 16], [16, 16]),
            (u8_ty(), (33, 20), [8, 20], [1, 5]),
        ];
        for (ty, (h, w), shard, inner) in cases {
            let dir = tempfile::tempdir().unwrap();
            let (empty, all) =
                roundtrip(dir.path(), &ty, (h, w), shard, inner, &corner(h / 3, w / 2));
            assert!(
                empty > 0 && empty < all,
                "{} {h}x{w}: {empty} of {all} empty",
                ty.name
            );
        }
    }

    #[test]
    fn an_all_fill_shard_is_its_index_alone() {
        for ty in [u8_ty(), f32_ty()] {
            let dir = tempfile::tempdir().unwrap();
            let (empty, all) =
                roundtrip(dir.path(), &ty, (30, 20), [32, 32], [8, 16], &|_, _| true);
            assert_eq!(empty, all);
            let b = std::fs::read(dir.path().join("a/c/0/0")).unwrap();
            assert_eq!(b.len(), index_size(all));
            // never opens the sink
            let open: OpenSink<Cursor<Vec<u8>>> = Box::new(|| panic!("opened"));
            let mut sw =
                ShardWriter::new([8, 8], [4, 4], ty.size, ty.fill.clone(), Some(open)).unwrap();
            sw.push(&ty.fill.repeat(64)).unwrap();
            assert!(matches!(sw.finish().unwrap(), Encoded::Bytes(b) if b.len() == index_size(4)));
        }
    }

    #[test]
    fn zarrs_checks_the_index_checksum() {
        let ty = u16_ty();
        let dir = tempfile::tempdir().unwrap();
        roundtrip(dir.path(), &ty, (20, 20), [20, 20], [10, 10], &|_, _| false);
        let key = dir.path().join("a/c/0/0");
        let mut b = std::fs::read(&key).unwrap();
        let n = b.len();
        b[n - 1] ^= 1;
        std::fs::write(&key, &b).unwrap();
        let store = Arc::new(zarrs::filesystem::FilesystemStore::new(dir.path()).unwrap());
        let arr = Array::open(store, "/a").unwrap();
        assert!(arr.retrieve_chunk::<ArrayBytes<'static>>(&[0, 0]).is_err());
        // the crc32c (Castagnoli) check value
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn bytes_do_not_depend_on_the_thread_count() {
        let ty = u16_ty();
        let (h, w, shard, inner) = (256, 512, [256, 512], [64, 64]);
        let data = pixels(&ty, h, w, &|y, x| y < 70 && x < 200);
        let pushes = shard_rows(&ty, &data, (h, w), shard, (0, 0));
        let with = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| write(&ty, shard, inner, &pushes, true, false))
        };
        let one = with(1);
        assert!(one == with(4));
        assert!(one == with(3));
    }

    #[test]
    fn wrong_shapes_and_lengths_are_errors() {
        type Sw = ShardWriter<Cursor<Vec<u8>>>;
        // inner chunks must divide the shard
        assert!(Sw::new([10, 10], [4, 5], 1, vec![0], None).is_err());
        assert!(Sw::new([10, 10], [5, 3], 1, vec![0], None).is_err());
        assert!(Sw::new([10, 10], [0, 5], 1, vec![0], None).is_err());
        assert!(Sw::new([10, 10], [5, 5], 2, vec![0], None).is_err());
        let mut sw = Sw::new([4, 4], [2, 2], 2, vec![0, 0], None).unwrap();
        sw.push(&[1; 30]).unwrap();
        assert!(sw.finish().is_err());
        let mut sw = Sw::new([4, 4], [2, 2], 2, vec![0, 0], None).unwrap();
        assert!(sw.push(&[1; 34]).is_err());
    }
}
