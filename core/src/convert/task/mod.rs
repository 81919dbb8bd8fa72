//! Running one task. The in-process executor and distributed workers call
//! [`run`] with the same plan, so both write byte-identical chunks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, CodecOptions};
use zarrs::storage::ReadableWritableListableStorageTraits;

use crate::convert::cache::CacheRef;
use crate::convert::plan::{GroupPlan, Plan, Task};
use crate::store::{Location, Store};
use crate::{Error, Result};

mod band;
mod carry;
mod coords;

type Arr = Array<dyn ReadableWritableListableStorageTraits>;

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
    /// Set to stop the conversion: checked before each task and by a
    /// streamed band between row windows.
    pub cancel: Cancel,
}

/// A cancellation flag shared by a conversion's tasks (a Python caller's
/// Ctrl-C). Tasks stop between units of work, so whatever they wrote stays
/// whole and a later run resumes the output.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Option<Arc<std::sync::atomic::AtomicBool>>);

impl Cancel {
    /// A flag that `flag.store(true)` sets.
    pub fn new(flag: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Cancel(Some(flag))
    }
    /// Has cancellation been asked for?
    pub fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }
    /// `Err(Error::Cancelled)` once cancellation has been asked for.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
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
    /// The output holds an earlier run's work (resume): skip encoding
    /// chunks that already exist (chunks are written atomically, so an
    /// existing chunk is a whole one) and compare stored metadata with the
    /// plan. Unset, the output was empty: nothing is read back.
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
    /// CPU time of the thread that ran the task, in nanoseconds (the
    /// core-seconds `convert-many` reports; same on a worker).
    pub cpu_ns: u64,
}

impl std::ops::AddAssign for TaskStats {
    fn add_assign(&mut self, o: Self) {
        self.chunks_written += o.chunks_written;
        self.chunks_skipped += o.chunks_skipped;
        self.input_chunks_whole += o.input_chunks_whole;
        self.cpu_ns += o.cpu_ns;
    }
}

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Run one task.
pub fn run(plan: &Plan, task: &Task, stores: &Stores, ro: RunOptions) -> Result<TaskStats> {
    let cpu0 = thread_cpu_ns();
    let mut stats = run_inner(plan, task, stores, ro)?;
    stats.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    Ok(stats)
}

fn run_inner(plan: &Plan, task: &Task, stores: &Stores, ro: RunOptions) -> Result<TaskStats> {
    match task {
        Task::Metadata => {
            crate::convert::metadata::write_metadata(plan, &stores.output, !ro.skip_existing)
                .map(|_| TaskStats::default())
        }
        Task::Consolidate => crate::convert::metadata::consolidate(plan, &stores.output)
            .map(|_| TaskStats::default()),
        Task::Coords { group } => coords::coords(plan, &plan.groups[*group], stores, ro),
        Task::Band { group, band } => band::dispatch(plan, *group, *band, stores, ro, None),
        Task::Chunk {
            group,
            band,
            level,
            row,
            col,
        } => band::dispatch(plan, *group, *band, stores, ro, Some((*level, *row, *col))),
        Task::Carry { index } => carry::carry(plan, *index, stores, ro),
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

/// Zarr v3 key of a chunk with the default encoding (`path/c/i/j`, `path/c` for a scalar).
pub fn v3_chunk_key(path: &str, idx: &[u64]) -> String {
    std::iter::once(format!("{path}/c"))
        .chain(idx.iter().map(u64::to_string))
        .collect::<Vec<_>>()
        .join("/")
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
