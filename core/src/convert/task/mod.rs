//! Running one task. The in-process executor and distributed workers call
//! [`run`] with the same plan, so both write byte-identical chunks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::{
    Array, ArrayBytes, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, ArraySubset, CodecOptions,
};
use zarrs::storage::{byte_range::ByteRange, ReadableWritableListableStorageTraits};

use crate::codec::blosc_frame::{self, Encoded, FrameWriter, OpenSink};
use crate::codec::blosc_rows;
use crate::convert::attrs::DType;
use crate::convert::cache::{readers, CacheRef};
use crate::convert::plan::{CarryMode, GroupPlan, Plan, Task};
use crate::geo::downsample::{downsample, Pixel};
use crate::product::u64_list;
use crate::store::local::ChunkFile;
use crate::store::{self, Location, Store};
use crate::{Error, Result};

type Arr = Array<dyn ReadableWritableListableStorageTraits>;

/// Input rows decoded at a time when a band streams by rows (about 8 MiB).
const WINDOW_BYTES: usize = 8 << 20;

/// The stores a task reads and writes.
#[derive(Clone)]
pub struct Stores {
    /// Input product.
    pub input: Store,
    /// Output GeoZarr store.
    pub output: Store,
    /// Input name for messages.
    pub input_name: String,
    /// Output name for messages.
    pub output_name: String,
    /// Called with the number of band chunks finished (written or skipped).
    pub progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
    /// Decoded chunks shared by chunk tasks (a worker's; `None`: decode per task).
    pub cache: Option<CacheRef>,
    /// Local directories, for moving bytes without holding them.
    pub direct: Direct,
}

/// The input's and output's directories when they are local, so bytes can
/// move without being held: streamed band chunks are written to their file
/// block by block, and carried chunks are copied file to file. Counts the
/// bytes moved that way (the stores' own counters do not see them).
#[derive(Debug, Clone, Default)]
pub struct Direct {
    /// Local input directory.
    pub input_dir: Option<PathBuf>,
    /// Local output directory.
    pub output_dir: Option<PathBuf>,
    /// Bytes read outside `Stores::input`.
    pub read: Arc<AtomicU64>,
    /// Bytes written outside `Stores::output`.
    pub written: Arc<AtomicU64>,
}

impl Direct {
    /// The local directories of `input` and `output` (if they are local).
    pub fn new(input: &Location, output: &Location) -> Self {
        Direct {
            input_dir: input.local_path().map(Path::to_path_buf),
            output_dir: output.local_path().map(Path::to_path_buf),
            ..Default::default()
        }
    }

    /// Bytes (read, written) outside the stores so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
        )
    }
}

impl Stores {
    fn tick(&self, n: u64) {
        if let Some(p) = &self.progress {
            p(n);
        }
    }
}

/// How tasks run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Skip encoding chunks that already exist (resume). Chunks are written
    /// atomically, so an existing chunk is a whole one.
    pub skip_existing: bool,
    /// Codec threads per chunk (see zarrs `CodecOptions::concurrent_target`).
    pub codec_threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            skip_existing: false,
            codec_threads: 1,
        }
    }
}

/// What a task did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Chunks encoded and written.
    pub chunks_written: u64,
    /// Chunks found complete and left alone.
    pub chunks_skipped: u64,
    /// Input chunks decoded whole because their blosc frames cannot be
    /// read block by block (more memory for that chunk, same values).
    pub input_chunks_whole: u64,
}

impl std::ops::AddAssign for TaskStats {
    fn add_assign(&mut self, o: Self) {
        self.chunks_written += o.chunks_written;
        self.chunks_skipped += o.chunks_skipped;
        self.input_chunks_whole += o.input_chunks_whole;
    }
}

/// Run one task.
pub fn run(plan: &Plan, task: &Task, stores: &Stores, ro: RunOptions) -> Result<TaskStats> {
    match task {
        Task::Metadata => crate::convert::metadata::write_metadata(plan, &stores.output)
            .map(|_| TaskStats::default()),
        Task::Consolidate => crate::convert::metadata::consolidate(plan, &stores.output)
            .map(|_| TaskStats::default()),
        Task::Coords { group } => coords(plan, &plan.groups[*group], stores, ro),
        Task::Band { group, band } => dispatch(plan, *group, *band, stores, ro, None),
        Task::Chunk {
            group,
            band,
            level,
            row,
            col,
        } => dispatch(plan, *group, *band, stores, ro, Some((*level, *row, *col))),
        Task::Carry { index } => carry(plan, *index, stores, ro),
    }
}

fn codec_options(ro: RunOptions) -> CodecOptions {
    CodecOptions::default()
        .with_store_empty_chunks(true)
        .with_concurrent_target(ro.codec_threads.max(1))
}

/// Open an output array from its planned metadata.
pub fn output_array(plan: &Plan, stores: &Stores, path: &str) -> Result<Arr> {
    let meta = plan
        .node(path)
        .ok_or_else(|| Error::Task(format!("{path}: not in the plan")))?;
    let v3: ArrayMetadataV3 =
        serde_json::from_value(meta.clone()).map_err(|e| Error::output(path, e))?;
    Array::new_with_metadata(
        stores.output.clone(),
        &format!("/{path}"),
        ArrayMetadata::V3(v3),
    )
    .map_err(|e| Error::output(format!("{}/{path}", stores.output_name), e))
}

/// Open an input array from its (patched) v2 metadata.
pub fn input_array(meta: &Value, stores: &Stores, path: &str) -> Result<Arr> {
    let v2: ArrayMetadataV2 =
        serde_json::from_value(meta.clone()).map_err(|e| Error::input(path, e))?;
    Array::new_with_metadata(
        stores.input.clone(),
        &format!("/{path}"),
        ArrayMetadata::V2(v2),
    )
    .map_err(|e| Error::input(format!("{}/{path}", stores.input_name), e))
}

fn parse_fill<T: Pixel>(v: &Value) -> Option<T> {
    match v {
        Value::Number(n) => n.as_f64().map(T::from_f64),
        Value::String(s) if s == "NaN" => Some(T::from_f64(f64::NAN)),
        Value::String(s) if s == "Infinity" => Some(T::from_f64(f64::INFINITY)),
        Value::String(s) if s == "-Infinity" => Some(T::from_f64(f64::NEG_INFINITY)),
        _ => None,
    }
}

fn dispatch(
    plan: &Plan,
    g: usize,
    b: usize,
    stores: &Stores,
    ro: RunOptions,
    chunk: Option<(usize, u64, u64)>,
) -> Result<TaskStats> {
    macro_rules! go {
        ($t:ty) => {
            match chunk {
                None => BandJob::<$t>::new(plan, g, b, stores, ro)?.run_streaming(),
                Some((l, r, c)) => BandJob::<$t>::new(plan, g, b, stores, ro)?.run_chunk(l, r, c),
            }
        };
    }
    match plan.groups[g].bands[b].dtype {
        DType::U8 => go!(u8),
        DType::U16 => go!(u16),
        DType::U32 => go!(u32),
        DType::U64 => go!(u64),
        DType::I8 => go!(i8),
        DType::I16 => go!(i16),
        DType::I32 => go!(i32),
        DType::I64 => go!(i64),
        DType::F32 => go!(f32),
        DType::F64 => go!(f64),
    }
}

/// The raw (little-endian) bytes of pixels, as the `bytes` codec stores them.
fn le_bytes<T: Pixel>(v: &[T]) -> &[u8] {
    const { assert!(cfg!(target_endian = "little")) };
    // SAFETY: pixels are plain numbers without padding; any byte is valid to read.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Per-level streaming state: the chunk row being encoded (one frame per
/// chunk column; `None` for a chunk already stored), how many of its rows
/// arrived, and an odd row waiting for its partner before averaging into
/// the next level.
struct LevelState<T> {
    frames: Vec<Option<FrameWriter<ChunkFile>>>,
    rows_in: u64,
    next_row: u64,
    carry: Vec<T>,
}

struct BandJob<'a, T> {
    gp: &'a GroupPlan,
    b: usize,
    stores: &'a Stores,
    ro: RunOptions,
    outs: Vec<Arr>,
    fill_avg: Option<T>,
    pad: T,
    copts: CodecOptions,
}

impl<'a, T: Pixel> BandJob<'a, T> {
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
            fill_avg: parse_fill::<T>(&band.input_meta["fill_value"]),
            pad: parse_fill::<T>(&band.fill).unwrap_or_default(),
            copts: codec_options(ro),
        })
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

    /// Encode and store a whole chunk (the same bytes as streaming it).
    fn write(&self, l: usize, row: u64, col: u64, chunk: &[T]) -> Result<TaskStats> {
        let frame = blosc_frame::encode(le_bytes(chunk), std::mem::size_of::<T>())
            .map_err(|e| self.out_err(l, e))?;
        self.put(l, row, col, Encoded::Bytes(frame))
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
        frames: &mut [Option<FrameWriter<ChunkFile>>],
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
        // average into the next level, pairing a row left over from the
        // previous push with the first new row (no copy of the whole window)
        let next = if l + 1 < self.gp.levels.len() && n > 0 {
            let st = &mut states[l];
            let mut down = vec![];
            let mut start = 0;
            if !st.carry.is_empty() {
                let mut two = std::mem::take(&mut st.carry);
                two.extend_from_slice(&rows[..w]);
                down = downsample(&two, 2, w, self.fill_avg);
                start = 1;
            }
            let avail = n as usize - start;
            let take = if last { avail } else { avail - avail % 2 };
            if take > 0 {
                down.extend(downsample(
                    &rows[start * w..(start + take) * w],
                    take,
                    w,
                    self.fill_avg,
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
                        let size = std::mem::size_of::<T>();
                        // a local output: the chunk's file, written as it is made
                        let file = self.stores.direct.output_dir.as_ref().map(|d| {
                            let (root, key) = (d.clone(), self.outs[l].chunk_key(&[row, col]));
                            Box::new(move || ChunkFile::create(&root, key.as_str()))
                                as OpenSink<ChunkFile>
                        });
                        Ok(Some(FrameWriter::new((c * c) as usize * size, size, file)))
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
        let by_rows = blosc_rows::applies(&band.input_meta, std::mem::size_of::<T>());
        // other codecs: decode whole chunk rows, each straight into one
        // stripe (chunks in parallel)
        let stripe_opts = self
            .copts
            .with_concurrent_target(rayon::current_num_threads());
        for r in 0..h.div_ceil(ch) {
            if by_rows {
                self.stream_chunk_row(&input, r, &mut states, &mut stats)?;
                continue;
            }
            let (r0, r1) = (r * ch, ((r + 1) * ch).min(h));
            let stripe = input
                .retrieve_array_subset_opt::<Vec<T>>(
                    &ArraySubset::new_with_ranges(&[r0..r1, 0..w]),
                    &stripe_opts,
                )
                .map_err(|e| Error::input(self.in_name(), e))?;
            self.push(&mut states, 0, stripe, r1 - r0, &mut stats)?;
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
        let size = std::mem::size_of::<T>();
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
        let fill = self.fill_avg.unwrap_or_default();
        let window = (WINDOW_BYTES / (w as usize * size)).max(2) as u64;
        let mut y = r0;
        while y < r1 {
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
            self.push(states, 0, rows, n, stats)?;
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
        let region: Vec<T> = if l == 0 {
            let band = &self.gp.bands[self.b];
            let input = input_array(&band.input_meta, self.stores, &band.input)?;
            let name = self.in_name();
            self.read_window(&input, &name, [r0..r1, c0..c1], c)
                .map_err(|e| Error::input(&name, e))?
        } else {
            let pg = &self.gp.levels[l - 1].grid;
            let (pr0, pc0) = (2 * r0, 2 * c0);
            let (pr1, pc1) = ((2 * r1).min(pg.height), (2 * c1).min(pg.width));
            let parent = self
                .read_window(
                    &self.outs[l - 1],
                    &self.out_name(l - 1),
                    [pr0..pr1, pc0..pc1],
                    2 * c,
                )
                .map_err(|e| self.out_err(l - 1, e))?;
            downsample(
                &parent,
                (pr1 - pr0) as usize,
                (pc1 - pc0) as usize,
                self.fill_avg,
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
                2 * next.chunk,
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
    fn read_window(
        &self,
        arr: &Arr,
        name: &str,
        [rows, cols]: [std::ops::Range<u64>; 2],
        step: u64,
    ) -> Result<Vec<T>, String> {
        let shape = arr.shape();
        let (h, w) = (shape[0], shape[1]);
        let cs = arr.chunk_shape(&[0, 0]).map_err(|e| e.to_string())?;
        let (ch, cw) = (cs[0].get(), cs[1].get());
        let ncols = (cols.end - cols.start) as usize;
        let mut out = vec![T::default(); (rows.end - rows.start) as usize * ncols];
        for ci in rows.start / ch..rows.end.div_ceil(ch) {
            for cj in cols.start / cw..cols.end.div_ceil(cw) {
                let decode = || -> Result<Vec<T>> {
                    arr.retrieve_chunk_opt::<Vec<T>>(&[ci, cj], &self.copts)
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

fn coords(plan: &Plan, gp: &GroupPlan, stores: &Stores, ro: RunOptions) -> Result<TaskStats> {
    let copts = codec_options(ro);
    let mut stats = TaskStats::default();
    let put =
        |path: &str, f: &dyn Fn(&Arr) -> Result<(), zarrs::array::ArrayError>| -> Result<()> {
            let a = output_array(plan, stores, path)?;
            f(&a).map_err(|e| Error::storage(format!("{}/{path}", stores.output_name), e))
        };
    for (l, lv) in gp.levels.iter().enumerate() {
        let lp = gp.level_path(l);
        for (axis, input) in [("x", &gp.x_input), ("y", &gp.y_input)] {
            let path = format!("{lp}/{axis}");
            if l == 0 {
                // copy the input values in their own type
                let src = input_array(&input.1, stores, &input.0)?;
                let all = ArraySubset::new_with_shape(src.shape().to_vec());
                let bytes = src
                    .retrieve_array_subset_opt::<ArrayBytes<'static>>(&all, &copts)
                    .map_err(|e| Error::input(format!("{}/{}", stores.input_name, input.0), e))?;
                put(&path, &|a| a.store_chunk_opt(&[0], bytes.clone(), &copts))?;
            } else {
                let vals = if axis == "x" {
                    lv.grid.xs()
                } else {
                    lv.grid.ys()
                };
                put(&path, &|a| a.store_chunk_opt(&[0], vals.clone(), &copts))?;
            }
            stats.chunks_written += 1;
        }
        write_spatial_ref(plan, stores, &format!("{lp}/spatial_ref"), &copts)?;
        stats.chunks_written += 1;
    }
    Ok(stats)
}

/// Store the value (0) of a `spatial_ref` grid-mapping scalar.
fn write_spatial_ref(plan: &Plan, stores: &Stores, path: &str, copts: &CodecOptions) -> Result<()> {
    output_array(plan, stores, path)?
        .store_chunk_opt(&[], vec![0i64], copts)
        .map_err(|e| Error::storage(format!("{}/{path}", stores.output_name), e))
}

/// Zarr v3 key of a chunk with the default encoding (`path/c/i/j`, `path/c` for a scalar).
pub fn v3_chunk_key(path: &str, idx: &[u64]) -> String {
    std::iter::once(format!("{path}/c"))
        .chain(idx.iter().map(u64::to_string))
        .collect::<Vec<_>>()
        .join("/")
}

/// Chunk indices of a regular grid, row-major.
fn chunk_indices(shape: &[u64], chunks: &[u64]) -> Vec<Vec<u64>> {
    let grid: Vec<u64> = shape
        .iter()
        .zip(chunks)
        .map(|(s, c)| if *c == 0 { 0 } else { s.div_ceil(*c) })
        .collect();
    let mut out = vec![vec![]];
    for n in grid {
        out = out
            .into_iter()
            .flat_map(|p| (0..n).map(move |i| [p.clone(), vec![i]].concat()))
            .collect();
    }
    out
}

fn carry(plan: &Plan, index: usize, stores: &Stores, ro: RunOptions) -> Result<TaskStats> {
    let cp = &plan.carried[index];
    let meta = &cp.input_meta;
    let indices = || chunk_indices(&u64_list(&meta["shape"]), &u64_list(&meta["chunks"]));
    let sep = meta["dimension_separator"].as_str().unwrap_or(".");
    let mut stats = TaskStats::default();
    let out_key = |idx: &[u64]| v3_chunk_key(&cp.path, idx);
    match cp.mode {
        CarryMode::GridMapping => {
            write_spatial_ref(plan, stores, &cp.path, &codec_options(ro))?;
            stats.chunks_written += 1;
        }
        CarryMode::Bytes => {
            for idx in indices() {
                let ok = out_key(&idx);
                if ro.skip_existing && store::size(&stores.output, &ok)?.is_some() {
                    stats.chunks_skipped += 1;
                    continue;
                }
                let ik = if idx.is_empty() {
                    format!("{}/0", cp.path)
                } else {
                    format!(
                        "{}/{}",
                        cp.path,
                        idx.iter().map(u64::to_string).collect::<Vec<_>>().join(sep)
                    )
                };
                let d = &stores.direct;
                if let (Some(src), Some(dst)) = (&d.input_dir, &d.output_dir) {
                    // file to file, never through memory
                    let copied = crate::store::local::copy_in(dst, &ok, &src.join(&ik))
                        .map_err(|e| Error::storage(format!("{}/{ok}", stores.output_name), e))?;
                    if let Some(n) = copied {
                        d.read.fetch_add(n, Ordering::Relaxed);
                        d.written.fetch_add(n, Ordering::Relaxed);
                        stats.chunks_written += 1;
                    }
                } else if let Some(bytes) = store::get(&stores.input, &ik)? {
                    store::put(&stores.output, &ok, bytes)?;
                    stats.chunks_written += 1;
                }
            }
        }
        CarryMode::Reencode => {
            let copts = codec_options(ro);
            let src = input_array(&crate::codec::patched_v2_meta(meta), stores, &cp.path)?;
            let dst = output_array(plan, stores, &cp.path)?;
            let dtype = meta["dtype"].as_str().unwrap_or("");
            let in_err = |e: &dyn std::fmt::Display| {
                Error::input(format!("{}/{}", stores.input_name, cp.path), e)
            };
            let out_err = |e: &dyn std::fmt::Display| {
                Error::storage(format!("{}/{}", stores.output_name, cp.path), e)
            };
            let chars: Option<usize> = dtype
                .trim_start_matches(['<', '>', '|'])
                .strip_prefix('U')
                .and_then(|n| n.parse().ok());
            for idx in indices() {
                if ro.skip_existing && store::size(&stores.output, &out_key(&idx))?.is_some() {
                    stats.chunks_skipped += 1;
                    continue;
                }
                let bytes = src
                    .retrieve_chunk_opt::<ArrayBytes<'static>>(&idx, &copts)
                    .map_err(|e| in_err(&e))?;
                if let Some(n) = chars {
                    let raw = bytes.into_fixed().map_err(|e| in_err(&e))?;
                    let big = dtype.starts_with('>');
                    let strings: Vec<String> = raw
                        .chunks(4 * n.max(1))
                        .map(|el| {
                            el.chunks(4)
                                .map(|c| {
                                    let a = [c[0], c[1], c[2], c[3]];
                                    if big {
                                        u32::from_be_bytes(a)
                                    } else {
                                        u32::from_le_bytes(a)
                                    }
                                })
                                .take_while(|cp| *cp != 0)
                                .filter_map(char::from_u32)
                                .collect()
                        })
                        .collect();
                    dst.store_chunk_opt(&idx, strings, &copts)
                        .map_err(|e| out_err(&e))?;
                } else {
                    dst.store_chunk_opt(&idx, bytes, &copts)
                        .map_err(|e| out_err(&e))?;
                }
                stats.chunks_written += 1;
            }
        }
    }
    Ok(stats)
}

/// Every chunk key a band should have at level `l` (for verification and resume).
pub fn band_chunk_keys(gp: &GroupPlan, b: usize, l: usize) -> Vec<String> {
    let (rows, cols) = gp.chunk_grid(l);
    let p = gp.band_path(b, l);
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .map(|(r, c)| v3_chunk_key(&p, &[r, c]))
        .collect()
}
