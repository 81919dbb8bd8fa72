//! A band's pyramid: streamed whole (in-process), or one output chunk at a
//! time (cluster chunk tasks, through the worker's decoded-chunk cache).

use std::sync::atomic::Ordering;

use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::{ArraySubset, CodecOptions};
use zarrs::storage::byte_range::ByteRange;

use super::{codec_options, input_array, output_array, Arr, RunOptions, Stores, TaskStats};
use crate::codec::blosc_frame::{self, Encoded, FrameWriter, OpenSink};
use crate::codec::blosc_rows;
use crate::codec::shard::ShardWriter;
use crate::convert::attrs::DType;
use crate::convert::cache::readers;
use crate::convert::plan::{Decode, GroupPlan, Plan};
use crate::convert::s1::calib::Quantity;
use crate::convert::s1::geocode::geocode_block;
use crate::geo::downsample::{resample, Pixel};
use crate::store;
use crate::store::local::ChunkFile;
use crate::{Error, Result};

/// Input rows decoded at a time when a band streams by rows (about 8 MiB).
const WINDOW_BYTES: usize = 8 << 20;

fn parse_fill<T: Pixel>(v: &Value) -> Option<T> {
    match v {
        Value::Number(n) => n.as_f64().map(T::from_f64),
        Value::String(s) if s == "NaN" => Some(T::from_f64(f64::NAN)),
        Value::String(s) if s == "Infinity" => Some(T::from_f64(f64::INFINITY)),
        Value::String(s) if s == "-Infinity" => Some(T::from_f64(f64::NEG_INFINITY)),
        _ => None,
    }
}

pub(super) fn dispatch(
    plan: &Plan,
    g: usize,
    b: usize,
    stores: &Stores,
    ro: RunOptions,
    chunk: Option<(usize, u64, u64)>,
) -> Result<TaskStats> {
    macro_rules! go {
        ($s:ty, $t:ty) => {
            match chunk {
                None => BandJob::<$s, $t>::new(plan, g, b, stores, ro)?.run_streaming(),
                Some((l, r, c)) => {
                    BandJob::<$s, $t>::new(plan, g, b, stores, ro)?.run_chunk(l, r, c)
                }
            }
        };
    }
    let band = &plan.groups[g].bands[b];
    if band.s1.is_some() {
        // geocoded: read as uint16 DN, written as float32 (or uint16 for DN)
        let run = |l: usize, r: u64, c: u64| -> Result<TaskStats> {
            match band.dtype {
                DType::U16 => BandJob::<u16, u16>::new(plan, g, b, stores, ro)?.run_chunk(l, r, c),
                _ => BandJob::<u16, f32>::new(plan, g, b, stores, ro)?.run_chunk(l, r, c),
            }
        };
        return match chunk {
            Some((l, r, c)) => run(l, r, c),
            // a whole band asked for: its chunks, level by level
            None => {
                let gp = &plan.groups[g];
                let mut stats = TaskStats::default();
                for l in 0..gp.levels.len() {
                    let (rows, cols) = gp.chunk_grid(l);
                    for r in 0..rows {
                        for c in 0..cols {
                            stores.cancel.check()?;
                            stats += run(l, r, c)?;
                        }
                    }
                }
                Ok(stats)
            }
        };
    }
    if band.decode.is_some() {
        // CF-decoded float32 output (`--dtype float32`) from the stored type
        return match band.in_dtype {
            DType::U8 => go!(u8, f32),
            DType::U16 => go!(u16, f32),
            DType::U32 => go!(u32, f32),
            DType::U64 => go!(u64, f32),
            DType::I8 => go!(i8, f32),
            DType::I16 => go!(i16, f32),
            DType::I32 => go!(i32, f32),
            DType::I64 => go!(i64, f32),
            DType::F32 => go!(f32, f32),
            DType::F64 => go!(f64, f32),
        };
    }
    match band.dtype {
        DType::U8 => go!(u8, u8),
        DType::U16 => go!(u16, u16),
        DType::U32 => go!(u32, u32),
        DType::U64 => go!(u64, u64),
        DType::I8 => go!(i8, i8),
        DType::I16 => go!(i16, i16),
        DType::I32 => go!(i32, i32),
        DType::I64 => go!(i64, i64),
        DType::F32 => go!(f32, f32),
        DType::F64 => go!(f64, f64),
    }
}

/// Output pixels from stored input pixels: the same values, or (for
/// `--dtype float32`) CF-decoded `stored · scale + offset` with the
/// stored fill value as NaN.
trait FromStored<S>: Sized {
    fn from_stored(v: Vec<S>, decode: Option<Decode>, fill: Option<S>) -> Vec<Self>;
}

impl<T> FromStored<T> for T {
    fn from_stored(v: Vec<T>, _: Option<Decode>, _: Option<T>) -> Vec<T> {
        v
    }
}

macro_rules! decode_to_f32 {
    ($($s:ty),*) => {$(
        impl FromStored<$s> for f32 {
            fn from_stored(v: Vec<$s>, decode: Option<Decode>, fill: Option<$s>) -> Vec<f32> {
                let d = decode.unwrap_or(Decode { scale: 1.0, offset: 0.0 });
                v.into_iter()
                    .map(|x| {
                        if Some(x) == fill {
                            f32::NAN
                        } else {
                            (x as f64 * d.scale + d.offset) as f32
                        }
                    })
                    .collect()
            }
        }
    )*};
}
decode_to_f32!(u8, u16, u32, u64, i8, i16, i32, i64, f64);

/// The raw (little-endian) bytes of pixels, as the `bytes` codec stores them.
fn le_bytes<T: Pixel>(v: &[T]) -> &[u8] {
    const { assert!(cfg!(target_endian = "little")) };
    // SAFETY: pixels are plain numbers without padding; any byte is valid to read.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The encoder of one output chunk: a blosc frame, or a shard of them
/// (`--shard`); both take the chunk's rows as they arrive.
enum ChunkWriter {
    Frame(FrameWriter<ChunkFile>),
    Shard(ShardWriter<ChunkFile>),
}

impl ChunkWriter {
    fn push(&mut self, raw: &[u8]) -> Result<(), String> {
        match self {
            ChunkWriter::Frame(f) => f.push(raw),
            ChunkWriter::Shard(s) => s.push(raw),
        }
    }

    fn finish(self) -> Result<Encoded<ChunkFile>, String> {
        match self {
            ChunkWriter::Frame(f) => f.finish(),
            ChunkWriter::Shard(s) => s.finish(),
        }
    }
}

/// Per-level streaming state: the chunk row being encoded (one frame per
/// chunk column; `None` for a chunk already stored), how many of its rows
/// arrived, and an odd row waiting for its partner before averaging into
/// the next level.
struct LevelState<T> {
    frames: Vec<Option<ChunkWriter>>,
    rows_in: u64,
    next_row: u64,
    carry: Vec<T>,
}

struct BandJob<'a, S, T> {
    gp: &'a GroupPlan,
    b: usize,
    stores: &'a Stores,
    ro: RunOptions,
    outs: Vec<Arr>,
    fill_avg: Option<T>,
    /// The input's fill value, in its stored type.
    in_fill: Option<S>,
    pad: T,
    copts: CodecOptions,
}

impl<'a, S: Pixel, T: Pixel + FromStored<S>> BandJob<'a, S, T> {
    fn new(plan: &'a Plan, g: usize, b: usize, stores: &'a Stores, ro: RunOptions) -> Result<Self> {
        let gp = &plan.groups[g];
        let band = &gp.bands[b];
        let outs = (0..gp.levels.len())
            .map(|l| output_array(plan, stores, &gp.band_path(b, l)))
            .collect::<Result<Vec<_>>>()?;
        Ok(BandJob {
            gp,
            b,
            stores,
            ro,
            outs,
            // decoded output: the fill is NaN, which averaging skips anyway
            fill_avg: if band.decode.is_some() {
                None
            } else if band.s1.is_some() {
                parse_fill::<T>(&band.fill)
            } else {
                parse_fill::<T>(&band.input_meta["fill_value"])
            },
            in_fill: parse_fill::<S>(&band.input_meta["fill_value"]),
            pad: parse_fill::<T>(&band.fill).unwrap_or_default(),
            copts: codec_options(ro),
        })
    }

    /// Input pixels as output pixels (CF-decoded for `--dtype float32`).
    fn output_pixels(&self, v: Vec<S>) -> Vec<T> {
        T::from_stored(v, self.gp.bands[self.b].decode, self.in_fill)
    }

    /// The band's input array, named for messages and cache keys.
    fn in_name(&self) -> String {
        format!("{}/{}", self.stores.input_name, self.gp.bands[self.b].input)
    }

    /// The band's level-`l` output array, named for messages and cache keys.
    fn out_name(&self, l: usize) -> String {
        format!(
            "{}/{}",
            self.stores.output_name,
            self.gp.band_path(self.b, l)
        )
    }

    fn out_err(&self, l: usize, e: impl std::fmt::Display) -> Error {
        Error::storage(self.out_name(l), e)
    }

    /// Is chunk (row, col) of level `l` already stored (resume)?
    fn exists(&self, l: usize, row: u64, col: u64) -> Result<bool> {
        let key = self.outs[l].chunk_key(&[row, col]);
        Ok(self
            .stores
            .output
            .size_key(&key)
            .map_err(|e| self.out_err(l, e))?
            .is_some_and(|s| s > 0))
    }

    /// Chunk (row, col) of level `l` from the rows of `src` (`stride`
    /// pixels each, the chunk's first column at 0), padded with the fill
    /// value at the edges (built without a zero-fill first).
    fn assemble(&self, l: usize, col: u64, src: &[T], stride: usize) -> Vec<T> {
        let lv = &self.gp.levels[l];
        let c = lv.chunk as usize;
        let cols = (lv.grid.width as usize - col as usize * c).min(c);
        let mut chunk = Vec::with_capacity(c * c);
        for (y, row) in src.chunks(stride).enumerate() {
            chunk.extend_from_slice(&row[..cols]);
            chunk.resize((y + 1) * c, self.pad);
        }
        chunk.resize(c * c, self.pad);
        chunk
    }

    /// Store an encoded chunk, unless the frame writer already put it in
    /// the local output store.
    fn put(&self, l: usize, row: u64, col: u64, chunk: Encoded<ChunkFile>) -> Result<TaskStats> {
        match chunk {
            Encoded::Bytes(frame) => {
                let key = self.outs[l].chunk_key(&[row, col]);
                store::put(&self.stores.output, key.as_str(), frame)
                    .map_err(|e| self.out_err(l, e))?;
            }
            Encoded::Written(file, n) => {
                file.commit().map_err(|e| self.out_err(l, e))?;
                let n = n as u64;
                self.stores.direct.written.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.stores.tick(1);
        Ok(TaskStats {
            chunks_written: 1,
            ..Default::default()
        })
    }

    /// The encoder of a level-`l` chunk, writing into `open`'s sink or memory.
    fn writer(&self, l: usize, open: Option<OpenSink<ChunkFile>>) -> Result<ChunkWriter> {
        let c = self.gp.levels[l].chunk as usize;
        let size = std::mem::size_of::<T>();
        Ok(match self.gp.levels[l].inner {
            Some(i) => {
                let fill = le_bytes(&[self.pad]).to_vec();
                let i = i as usize;
                ChunkWriter::Shard(
                    ShardWriter::new([c, c], [i, i], size, fill, open)
                        .map_err(|e| self.out_err(l, e))?,
                )
            }
            None => ChunkWriter::Frame(FrameWriter::new(c * c * size, size, open)),
        })
    }

    /// Encode and store a whole chunk (the same bytes as streaming it).
    fn write(&self, l: usize, row: u64, col: u64, chunk: &[T]) -> Result<TaskStats> {
        let encoded = match self.gp.levels[l].inner {
            None => Encoded::Bytes(
                blosc_frame::encode(le_bytes(chunk), std::mem::size_of::<T>())
                    .map_err(|e| self.out_err(l, e))?,
            ),
            Some(_) => {
                let mut w = self.writer(l, None)?;
                w.push(le_bytes(chunk)).map_err(|e| self.out_err(l, e))?;
                w.finish().map_err(|e| self.out_err(l, e))?
            }
        };
        self.put(l, row, col, encoded)
    }

    fn skipped(&self) -> TaskStats {
        self.stores.tick(1);
        TaskStats {
            chunks_skipped: 1,
            ..Default::default()
        }
    }

    /// Feed full-width rows of level `l`, all in one chunk row, to that
    /// row's frames, chunk columns in parallel; `pad_rows` fill rows follow
    /// when the rows end the level.
    fn feed(
        &self,
        l: usize,
        frames: &mut [Option<ChunkWriter>],
        rows: &[T],
        pad_rows: usize,
    ) -> Result<()> {
        let lv = &self.gp.levels[l];
        let (w, c) = (lv.grid.width as usize, lv.chunk as usize);
        let pad = vec![self.pad; c];
        frames.par_iter_mut().enumerate().try_for_each(|(col, f)| {
            let Some(f) = f else { return Ok(()) };
            let x0 = col * c;
            let cols = (w - x0).min(c);
            let mut go = || -> Result<(), String> {
                for r in rows.chunks(w) {
                    f.push(le_bytes(&r[x0..x0 + cols]))?;
                    f.push(le_bytes(&pad[cols..]))?;
                }
                for _ in 0..pad_rows {
                    f.push(le_bytes(&pad))?;
                }
                Ok(())
            };
            go().map_err(|e| self.out_err(l, e))
        })
    }

    /// Feed `n` full-width rows into level `l`: encode them into the chunk
    /// row they belong to, store the chunks of each row they complete, and
    /// pass averaged rows on to level `l + 1`.
    fn push(
        &self,
        states: &mut [LevelState<T>],
        l: usize,
        rows: Vec<T>,
        n: u64,
        stats: &mut TaskStats,
    ) -> Result<()> {
        let lv = &self.gp.levels[l];
        let (w, h, c) = (lv.grid.width as usize, lv.grid.height, lv.chunk);
        // rows received so far, these included
        let seen = states[l].next_row + states[l].rows_in + n;
        let last = seen == h;
        // resample into the next level, completing a block from rows left
        // over by the previous push (no copy of the whole window)
        let next = if l + 1 < self.gp.levels.len() && n > 0 {
            let k = self.gp.levels[l + 1].factor as usize;
            let rule = self.gp.bands[self.b].rule;
            let fill = self.fill_avg;
            let st = &mut states[l];
            let mut down = vec![];
            let mut start = 0;
            let carried = st.carry.len() / w;
            if carried > 0 {
                let need = (k - carried).min(n as usize);
                let mut block = std::mem::take(&mut st.carry);
                block.extend_from_slice(&rows[..need * w]);
                if carried + need == k || last {
                    down = resample(&block, carried + need, w, k, fill, rule);
                } else {
                    st.carry = block;
                }
                start = need;
            }
            let avail = n as usize - start;
            let take = if last { avail } else { avail - avail % k };
            if take > 0 {
                down.extend(resample(
                    &rows[start * w..(start + take) * w],
                    take,
                    w,
                    k,
                    fill,
                    rule,
                ));
            }
            if take < avail {
                st.carry = rows[(start + take) * w..].to_vec();
            }
            let m = (down.len() / self.gp.levels[l + 1].grid.width as usize) as u64;
            (m > 0).then_some((down, m))
        } else {
            None
        };
        // encode the rows chunk row by chunk row, storing each one completed
        let ncols = lv.grid.width.div_ceil(c);
        let st = &mut states[l];
        let mut used = 0u64;
        while used < n {
            let row = st.next_row / c;
            if st.rows_in == 0 {
                st.frames = (0..ncols)
                    .map(|col| {
                        if self.ro.skip_existing && self.exists(l, row, col)? {
                            *stats += self.skipped();
                            return Ok(None);
                        }
                        // a local output: the chunk's file, written as it is made
                        let file = self.stores.direct.output_dir.as_ref().map(|d| {
                            let (root, key) = (d.clone(), self.outs[l].chunk_key(&[row, col]));
                            Box::new(move || ChunkFile::create(&root, key.as_str()))
                                as OpenSink<ChunkFile>
                        });
                        Ok(Some(self.writer(l, file)?))
                    })
                    .collect::<Result<_>>()?;
            }
            let take = (n - used).min(c - st.rows_in);
            let ends = st.rows_in + take == c || st.next_row + st.rows_in + take == h;
            let pad_rows = if ends { c - st.rows_in - take } else { 0 };
            let part = &rows[used as usize * w..(used + take) as usize * w];
            self.feed(l, &mut st.frames, part, pad_rows as usize)?;
            st.rows_in += take;
            used += take;
            if ends {
                let frames = std::mem::take(&mut st.frames);
                let written = frames
                    .into_par_iter()
                    .enumerate()
                    .filter_map(|(col, f)| f.map(|f| (col, f)))
                    .map(|(col, f)| {
                        let chunk = f.finish().map_err(|e| self.out_err(l, e))?;
                        self.put(l, row, col as u64, chunk)
                    })
                    .collect::<Result<Vec<_>>>()?;
                for s in written {
                    *stats += s;
                }
                st.next_row += st.rows_in;
                st.rows_in = 0;
            }
        }
        drop(rows);
        if let Some((down, m)) = next {
            self.push(states, l + 1, down, m, stats)?;
        }
        Ok(())
    }

    /// The whole pyramid of one band, streamed in windows of input rows
    /// (whole chunk rows when the input codec cannot be read by rows).
    fn run_streaming(&self) -> Result<TaskStats> {
        let band = &self.gp.bands[self.b];
        let input = input_array(&band.input_meta, self.stores, &band.input)?;
        let shape = input.shape().to_vec();
        let (h, w) = (shape[0], shape[1]);
        let cs = input
            .chunk_shape(&[0, 0])
            .map_err(|e| Error::input(&band.input, e))?;
        let ch = cs[0].get();
        let mut states: Vec<LevelState<T>> = self
            .gp
            .levels
            .iter()
            .map(|_| LevelState {
                frames: vec![],
                rows_in: 0,
                next_row: 0,
                carry: vec![],
            })
            .collect();
        let mut stats = TaskStats::default();
        let by_rows = blosc_rows::applies(&band.input_meta, std::mem::size_of::<S>());
        // other codecs: decode whole chunk rows, each straight into one
        // stripe (chunks in parallel)
        let stripe_opts = self
            .copts
            .with_concurrent_target(rayon::current_num_threads());
        for r in 0..h.div_ceil(ch) {
            self.stores.cancel.check()?;
            if by_rows {
                self.stream_chunk_row(&input, r, &mut states, &mut stats)?;
                continue;
            }
            let (r0, r1) = (r * ch, ((r + 1) * ch).min(h));
            let stripe = input
                .retrieve_array_subset_opt::<Vec<S>>(
                    &ArraySubset::new_with_ranges(&[r0..r1, 0..w]),
                    &stripe_opts,
                )
                .map_err(|e| Error::input(self.in_name(), e))?;
            let rows = self.output_pixels(stripe);
            self.push(&mut states, 0, rows, r1 - r0, &mut stats)?;
        }
        Ok(stats)
    }

    /// Feed chunk row `r` of `input` into level 0 a window of rows at a
    /// time: its chunks are fetched by byte ranges and decoded by blocks.
    fn stream_chunk_row(
        &self,
        input: &Arr,
        r: u64,
        states: &mut [LevelState<T>],
        stats: &mut TaskStats,
    ) -> Result<()> {
        let (h, w) = (input.shape()[0], input.shape()[1]);
        let cs = input
            .chunk_shape(&[0, 0])
            .map_err(|e| Error::input(self.in_name(), e))?;
        let (ch, cw) = (cs[0].get(), cs[1].get());
        let size = std::mem::size_of::<S>();
        let (r0, r1) = (r * ch, ((r + 1) * ch).min(h));
        let cols: Vec<u64> = (0..w.div_ceil(cw)).collect();
        let chunk_err = |c: u64, e: String| {
            Error::input(
                self.in_name(),
                format!("chunk {}: {e}", input.chunk_key(&[r, c])),
            )
        };
        let mut chunks = store::par_io(&cols, |&c| {
            let key = input.chunk_key(&[r, c]);
            let source = self.stores.input.clone();
            let fetch: blosc_rows::Fetch = Box::new(move |offset, len| {
                source
                    .get_partial(&key, ByteRange::FromStart(offset, Some(len)))
                    .map_err(|e| match source.size_key(&key) {
                        // a range past the end: a truncated chunk
                        Ok(Some(n)) if offset + len > n => {
                            format!("blosc chunk shorter than its header says ({n} bytes stored)")
                        }
                        _ => e.to_string(),
                    })
            });
            blosc_rows::ChunkRows::open(fetch, (ch * cw) as usize, size)
                .map_err(|e| chunk_err(c, e))
        })?;
        for (rd, &c) in chunks.iter().zip(&cols) {
            if rd.as_ref().is_some_and(|rd| rd.decoded_whole()) {
                stats.input_chunks_whole += 1;
                tracing::debug!(
                    array = %self.in_name(),
                    chunk = %input.chunk_key(&[r, c]),
                    "blosc frame not readable by blocks: decoded whole"
                );
            }
        }
        let fill = self.in_fill.unwrap_or_default();
        let window = (WINDOW_BYTES / (w as usize * size)).max(2) as u64;
        let mut y = r0;
        while y < r1 {
            self.stores.cancel.check()?;
            let n = window.min(r1 - y);
            let parts = chunks
                .par_iter_mut()
                .zip(&cols)
                .map(|(rd, &c)| {
                    let mut part = vec![fill; (n * cw) as usize];
                    if let Some(rd) = rd {
                        rd.take(&mut part).map_err(|e| chunk_err(c, e))?;
                    }
                    Ok(part)
                })
                .collect::<Result<Vec<_>>>()?;
            let mut rows = Vec::with_capacity((n * w) as usize);
            for i in 0..n as usize {
                for (c, part) in parts.iter().enumerate() {
                    let valid = (w - c as u64 * cw).min(cw) as usize;
                    let at = i * cw as usize;
                    rows.extend_from_slice(&part[at..at + valid]);
                }
            }
            drop(parts);
            self.push(states, 0, self.output_pixels(rows), n, stats)?;
            y += n;
        }
        Ok(())
    }

    /// One output chunk: level 0 from the input, level L from level L-1.
    /// Source chunks go through the worker's cache (when there is one), and
    /// the chunk written is kept there for level L+1.
    fn run_chunk(&self, l: usize, row: u64, col: u64) -> Result<TaskStats> {
        if self.ro.skip_existing && self.exists(l, row, col)? {
            return Ok(self.skipped());
        }
        let lv = &self.gp.levels[l];
        let c = lv.chunk;
        let (r0, c0) = (row * c, col * c);
        let r1 = (r0 + c).min(lv.grid.height);
        let c1 = (c0 + c).min(lv.grid.width);
        let band = &self.gp.bands[self.b];
        let region: Vec<T> = if let (0, Some(s1)) = (l, &band.s1) {
            let input = input_array(&band.input_meta, self.stores, &band.input)?;
            let name = self.in_name();
            let vals = geocode_block(s1, &lv.grid, r0..r1, c0..c1, |ls, ps| {
                input
                    .retrieve_array_subset_opt::<Vec<u16>>(
                        &ArraySubset::new_with_ranges(&[ls, ps]),
                        &self.copts,
                    )
                    .map_err(|e| Error::input(&name, e))
            })?;
            let dn = s1.calibration.quantity == Quantity::Dn;
            vals.into_iter()
                .map(|v| {
                    let v = v as f64;
                    T::from_f64(match (dn, v.is_nan()) {
                        (true, true) => 0.0,
                        (true, false) => v.round().clamp(1.0, 65535.0),
                        _ => v,
                    })
                })
                .collect()
        } else if l == 0 {
            let input = input_array(&band.input_meta, self.stores, &band.input)?;
            let name = self.in_name();
            let stored = self
                .read_window::<S>(&input, &name, [r0..r1, c0..c1], c)
                .map_err(|e| Error::input(&name, e))?;
            self.output_pixels(stored)
        } else {
            let pg = &self.gp.levels[l - 1].grid;
            let k = lv.factor;
            let (pr0, pc0) = (k * r0, k * c0);
            let (pr1, pc1) = ((k * r1).min(pg.height), (k * c1).min(pg.width));
            let parent = self
                .read_window(
                    &self.outs[l - 1],
                    &self.out_name(l - 1),
                    [pr0..pr1, pc0..pc1],
                    k * c,
                )
                .map_err(|e| self.out_err(l - 1, e))?;
            resample(
                &parent,
                (pr1 - pr0) as usize,
                (pc1 - pc0) as usize,
                k as usize,
                self.fill_avg,
                self.gp.bands[self.b].rule,
            )
        };
        let chunk = self.assemble(l, col, &region, (c1 - c0) as usize);
        drop(region);
        let stats = self.write(l, row, col, &chunk)?;
        if let (Some(cr), Some(next)) = (&self.stores.cache, self.gp.levels.get(l + 1)) {
            let reads = readers(
                [row, col],
                [c, c],
                [lv.grid.height, lv.grid.width],
                next.factor * next.chunk,
            );
            cr.cache
                .put(cr.scope, &self.out_name(l), &[row, col], reads, chunk);
        }
        Ok(stats)
    }

    /// The window `[rows, cols]` of a 2-D array, chunk by chunk: each source
    /// chunk comes from the cache or is decoded (whole) once. `step` is the
    /// width of the windows tasks read from this array, for counting how
    /// often the plan reads each chunk.
    fn read_window<E: Pixel>(
        &self,
        arr: &Arr,
        name: &str,
        [rows, cols]: [std::ops::Range<u64>; 2],
        step: u64,
    ) -> Result<Vec<E>, String> {
        let shape = arr.shape();
        let (h, w) = (shape[0], shape[1]);
        let cs = arr.chunk_shape(&[0, 0]).map_err(|e| e.to_string())?;
        let (ch, cw) = (cs[0].get(), cs[1].get());
        let ncols = (cols.end - cols.start) as usize;
        let mut out = vec![E::default(); (rows.end - rows.start) as usize * ncols];
        for ci in rows.start / ch..rows.end.div_ceil(ch) {
            for cj in cols.start / cw..cols.end.div_ceil(cw) {
                let decode = || -> Result<Vec<E>> {
                    arr.retrieve_chunk_opt::<Vec<E>>(&[ci, cj], &self.copts)
                        .map_err(|e| Error::Task(e.to_string()))
                };
                let data = match &self.stores.cache {
                    Some(cr) => {
                        let reads = readers([ci, cj], [ch, cw], [h, w], step);
                        cr.cache.get(cr.scope, name, &[ci, cj], reads, decode)
                    }
                    None => decode().map(std::sync::Arc::new),
                }
                .map_err(|e| e.to_string())?;
                let (y0, y1) = (rows.start.max(ci * ch), rows.end.min((ci + 1) * ch));
                let (x0, x1) = (cols.start.max(cj * cw), cols.end.min((cj + 1) * cw));
                let n = (x1 - x0) as usize;
                for y in y0..y1 {
                    let src = ((y - ci * ch) * cw + (x0 - cj * cw)) as usize;
                    let dst = (y - rows.start) as usize * ncols + (x0 - cols.start) as usize;
                    out[dst..dst + n].copy_from_slice(&data[src..src + n]);
                }
            }
        }
        Ok(out)
    }
}
