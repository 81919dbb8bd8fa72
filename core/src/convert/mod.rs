//! The conversion: open, plan, write metadata, run the band and carry-over
//! tasks, verify and retry bands, consolidate last. `plan` is the output
//! layout and a DAG of small serialisable tasks, made by `build` (the
//! geozarr-0.4 layout) or `conventions` (the conventions profile's) from
//! what `native` reads of the input; `task`
//! runs one of them (in-process and on cluster workers alike); `s1`
//! plans Sentinel-1 GRD products (calibration, geocoding); `executor`
//! runs a plan's tasks on a thread pool; `cache` is a worker's
//! decoded-chunk cache; `attrs` and `metadata` make and write the output's
//! node documents.
//!
//! May import: `error`, `path`, `jsonfmt`, `store`, `codec`, `geo`, `tree`,
//! `product` (never `inspect`).

pub(crate) mod attrs;
pub mod build;
pub mod cache;
pub(crate) mod conventions;
pub mod executor;
pub(crate) mod metadata;
pub(crate) mod native;
pub mod plan;
pub mod s1;
pub mod task;

use std::sync::Arc;
use std::time::{Duration, Instant};

use zarrs::storage::storage_adapter::performance_metrics::PerformanceMetricsStorageAdapter;

use crate::convert::cache::{CacheRef, ChunkCache};
use crate::convert::executor::{Executor, ThreadPool};
use crate::convert::plan::{Granularity, Plan, Task, TaskSpec};
use crate::convert::task::{band_chunk_keys, Cancel, Direct, RunOptions, Stores, TaskStats};
use crate::product::Product;
use crate::store::{self, Location, StoreOptions};
use crate::{Error, Result};

/// Budget of the decoded-chunk cache that in-process chunk tasks share.
pub const CHUNK_CACHE_BYTES: usize = 1 << 30;

/// Options of `convert`.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Layout options.
    pub plan: plan::Options,
    /// Attempts per band (and per other task) before giving up.
    pub max_retries: u32,
    /// Delete an existing output first.
    pub overwrite: bool,
    /// Tasks run at once (0 = cores + 1).
    pub threads: usize,
    /// Task granularity (bands streamed, or single chunks).
    pub granularity: Granularity,
    /// Pause between attempts.
    pub retry_delay: Duration,
    /// Stops the conversion when set (checked before each task and between
    /// a streamed band's row windows); `convert` then returns
    /// [`Error::Cancelled`] and the output resumes on a re-run.
    pub cancel: Cancel,
    /// Sentinel-1 GRD options (quantity, output CRS and resolution).
    pub s1: s1::S1Options,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            plan: plan::Options::default(),
            max_retries: 3,
            overwrite: false,
            threads: 0,
            granularity: Granularity::Band,
            retry_delay: Duration::from_secs(2),
            cancel: Cancel::default(),
            s1: s1::S1Options::default(),
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Converted groups (multiscale groups in the conventions profile).
    pub groups: usize,
    /// Band pyramids converted (all levels; in the conventions profile a
    /// band native at several levels counts once per native level).
    pub bands: usize,
    /// Bands found complete in an existing output and skipped.
    pub bands_skipped: usize,
    /// Arrays carried over.
    pub carried: usize,
    /// Arrays not carried over (no Zarr v3 data type).
    pub not_carried: Vec<String>,
    /// Chunk counts.
    pub stats: TaskStats,
    /// Band chunks in the output (all levels).
    pub band_chunks: u64,
    /// Bytes read from the input.
    pub bytes_read: u64,
    /// Bytes written to the output.
    pub bytes_written: u64,
    /// Wall time.
    pub seconds: f64,
    /// The output existed and was resumed.
    pub resumed: bool,
    /// Band attempts that failed and were retried.
    pub retries: u32,
}

/// Progress callbacks (a terminal bar in the CLI).
pub trait Progress: Send + Sync {
    /// Total band chunks to produce.
    fn start(&self, total: u64);
    /// `n` more band chunks done.
    fn advance(&self, n: u64);
    /// A status line.
    fn message(&self, msg: &str);
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn message(&self, _: &str) {}
}

/// Tasks at once: one more than the cores by default, so that a core is
/// not left idle while a band task waits on I/O or on the shared codec pool
/// (measured at full size on 2 cores: 6.5 s against 7.0 s, for about 40 MB).
fn threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            + 1
    }
}

/// Check the output location: refuse foreign non-empty stores, clear it on
/// `--overwrite`. Returns whether an earlier output of ours is resumed. Works
/// the same on every backend (local directory, S3 prefix).
fn prepare_output(
    input: &Location,
    output: &Location,
    overwrite: bool,
    sopts: &StoreOptions,
) -> Result<bool> {
    if input.contains(output) {
        return Err(Error::output(output, "output is the input or inside it"));
    }
    if let Some(out) = output.local_path() {
        if out.exists() && !out.is_dir() {
            return Err(Error::output(
                out.display(),
                "exists and is a file, not a directory",
            ));
        }
    }
    let Some(out) = store::open_existing(output, sopts)? else {
        return Ok(false);
    };
    let at = |e: Error| relocate(e, output);
    if store::is_empty(&out).map_err(at)? {
        return Ok(false);
    }
    if overwrite {
        match output.local_path() {
            Some(p) => crate::store::local::remove_tree(p).map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::DirectoryNotEmpty {
                    " while removing it for --overwrite: is another conversion writing \
                     into it? Stop it, or re-run without --overwrite to resume"
                } else {
                    " (removing it for --overwrite)"
                };
                Error::storage(p.display(), format!("{e}{hint}"))
            })?,
            None => store::erase_prefix(&out, "").map_err(at)?,
        }
        return Ok(false);
    }
    let ours = store::get_json(&out, "zarr.json")
        .ok()
        .flatten()
        .is_some_and(|v| v["zarr_format"] == 3 && v["node_type"] == "group");
    if !ours {
        return Err(Error::output(
            output,
            "exists and is not a GeoZarr store; choose another path or pass --overwrite",
        ));
    }
    Ok(true)
}

/// Prefix a storage error's path with the store it happened in.
fn relocate(e: Error, loc: &Location) -> Error {
    match e {
        Error::Storage { path, msg } => Error::Storage {
            path: format!("{loc}/{path}"),
            msg,
        },
        e => e,
    }
}

/// Is band `b` of group `g` complete in the output (every chunk at every level)?
fn band_complete(plan: &Plan, g: usize, b: usize, out: &store::Store) -> Result<bool> {
    let gp = &plan.groups[g];
    for l in 0..gp.levels.len() {
        for k in band_chunk_keys(gp, b, l) {
            if store::size(out, &k)?.is_none_or(|s| s == 0) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn chunks_missing(plan: &Plan, g: usize, b: usize) -> Error {
    Error::Task(format!(
        "{}: chunks missing after writing",
        plan.groups[g].bands[b].input
    ))
}

/// Delete a band's chunks at every level and put its metadata back.
fn reset_band(plan: &Plan, g: usize, b: usize, out: &store::Store) -> Result<()> {
    let gp = &plan.groups[g];
    for l in 0..gp.levels.len() {
        let p = gp.band_path(b, l);
        store::erase_prefix(out, &p)?;
        if let Some(meta) = plan.node(&p) {
            store::put_json(out, &crate::path::join(&p, "zarr.json"), meta)?;
        }
    }
    Ok(())
}

/// The plan a conversion of `input` follows, without touching any output:
/// every output node's metadata and where each band goes (the Python
/// package's `setup_datatree_metadata_geozarr_spec_compliant`).
pub fn plan_for(input: &str, opts: &ConvertOptions) -> Result<Plan> {
    let in_loc = Location::parse(input)?;
    let sopts = StoreOptions {
        max_retries: opts.max_retries,
    };
    let in_store = store::open_input_with(&in_loc, &sopts)?;
    let product = Product::open(&in_store, &in_loc.to_string())?;
    build::build(&product, &|p| product.read_1d(&in_store, p), &opts.plan)
}

/// Convert `input` into `output` on this machine's threads.
pub fn convert(
    input: &str,
    output: &str,
    opts: &ConvertOptions,
    progress: Arc<dyn Progress>,
) -> Result<Summary> {
    convert_with(
        input,
        output,
        opts,
        progress,
        &ThreadPool(threads(opts.threads)),
    )
}

/// Convert `input` into `output`, running the band and carry-over tasks on
/// `executor`; output preparation, resume, verification and consolidation
/// stay here, the same for every executor.
pub fn convert_with(
    input: &str,
    output: &str,
    opts: &ConvertOptions,
    progress: Arc<dyn Progress>,
    executor: &dyn Executor,
) -> Result<Summary> {
    let t0 = Instant::now();
    let remote0 = executor.remote_bytes();
    let in_loc = Location::parse(input)?;
    let out_loc = Location::parse(output)?;
    // names for messages and logs: never credentials (URL user info, queries)
    let (input, output) = (&in_loc.to_string(), &out_loc.to_string());
    let sopts = StoreOptions {
        max_retries: opts.max_retries,
    };
    let in_store = store::open_input_with(&in_loc, &sopts)?;
    // before any work: the output is writable (S3: credentials, bucket, probe)
    store::check_output(&out_loc, &sopts)?;
    let product = Product::open(&in_store, input)?;
    let plan = build::build_with(
        &product,
        &|p| product.read_1d(&in_store, p),
        &opts.plan,
        &opts.s1,
    )?;
    let bands: usize = plan.groups.iter().map(|g| g.bands.len()).sum();
    tracing::info!(
        groups = ?plan.groups.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(),
        bands,
        carried = plan.carried.len(),
        "planned {input}"
    );
    let resumed = prepare_output(&in_loc, &out_loc, opts.overwrite, &sopts)?;
    tracing::info!(resumed, "output {output}");
    if let (true, Some(root)) = (resumed, out_loc.local_path()) {
        let n = store::local::remove_stale_temps(root).map_err(|e| Error::storage(output, e))?;
        if n > 0 {
            tracing::info!("removed {n} temporary files an interrupted writer left");
        }
    }
    let out_store = store::open_output_with(&out_loc, &sopts)?;

    let in_metrics = Arc::new(PerformanceMetricsStorageAdapter::new(in_store));
    let out_metrics = Arc::new(PerformanceMetricsStorageAdapter::new(out_store));
    let p2 = progress.clone();
    let stores = Stores {
        input: in_metrics.clone(),
        output: out_metrics.clone(),
        input_name: input.to_string(),
        output_name: output.to_string(),
        progress: Some(Arc::new(move |n| p2.advance(n))),
        // chunk tasks share decoded source chunks (band tasks stream instead)
        cache: (opts.granularity == Granularity::Chunk).then(|| CacheRef {
            cache: Arc::new(ChunkCache::new(CHUNK_CACHE_BYTES)),
            scope: 0,
        }),
        direct: Direct::new(&in_loc, &out_loc),
        cancel: opts.cancel.clone(),
    };
    let ro = RunOptions {
        skip_existing: resumed,
        codec_threads: 1,
    };
    let tasks = plan.tasks(opts.granularity);
    let mut summary = Summary {
        // distinct output groups (conventions: band chains share their multiscale group)
        groups: plan
            .groups
            .iter()
            .map(|g| g.path.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        bands,
        carried: plan.carried.len(),
        not_carried: plan.skipped.clone(),
        resumed,
        ..Default::default()
    };
    summary.band_chunks = plan.band_chunks();

    // 1. metadata (resets arrays whose metadata changed)
    task::run(&plan, &Task::Metadata, &stores, ro).map_err(|e| relocate(e, &out_loc))?;

    // 2. which bands are already complete
    let band_of = |t: &TaskSpec| match t.task {
        Task::Band { group, band } | Task::Chunk { group, band, .. } => Some((group, band)),
        _ => None,
    };
    let mut complete = std::collections::HashSet::new();
    if resumed {
        // many small requests (one per chunk): overlapped, for object stores
        let all: Vec<(usize, usize)> = plan
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, gp)| (0..gp.bands.len()).map(move |b| (g, b)))
            .collect();
        let done = store::par_io(&all, |&(g, b)| band_complete(&plan, g, b, &stores.output))
            .map_err(|e| relocate(e, &out_loc))?;
        complete.extend(all.iter().zip(done).filter(|(_, d)| *d).map(|(gb, _)| *gb));
        summary.bands_skipped = complete.len();
        if !complete.is_empty() {
            progress.message(&format!(
                "resuming: {} of {} bands already complete, skipped",
                complete.len(),
                summary.bands
            ));
        }
    }
    let skipped_chunks: u64 = complete
        .iter()
        .map(|&(g, _)| plan.groups[g].chunks_per_band())
        .sum();
    progress.start(summary.band_chunks);
    progress.advance(skipped_chunks);
    summary.stats.chunks_skipped += skipped_chunks;

    // 3. everything between metadata and consolidation, with retries
    let last = tasks.len() - 1;
    let mut selected: Vec<bool> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| i != 0 && i != last && band_of(t).is_none_or(|gb| !complete.contains(&gb)))
        .collect();
    let mut attempt = 1;
    loop {
        opts.cancel.check()?;
        let results = executor.run(&plan, &tasks, &selected, &stores, ro)?;
        // cancelled: stop here, without resetting the bands that stopped
        // part-way (their whole chunks are kept; a re-run resumes them)
        opts.cancel.check()?;
        let mut failed: Vec<(usize, Error)> = vec![];
        let mut ran = vec![false; tasks.len()];
        for r in results {
            ran[r.index] = true;
            match r.result {
                Ok(s) => summary.stats += s,
                Err(e) => failed.push((r.index, e)),
            }
        }
        // verify every streamed band that ran: all chunks present
        // (chunk-task bands are verified once all their tasks have run, below)
        let verify: Vec<(usize, usize, usize)> = (0..tasks.len())
            .filter(|&i| selected[i] && ran[i] && !failed.iter().any(|(f, _)| *f == i))
            .filter_map(|i| match tasks[i].task {
                Task::Band { group, band } => Some((i, group, band)),
                _ => None,
            })
            .collect();
        // one request per chunk: overlapped, for object stores
        let complete = store::par_io(&verify, |&(_, g, b)| {
            band_complete(&plan, g, b, &stores.output)
        })
        .map_err(|e| relocate(e, &out_loc))?;
        for (&(i, g, b), ok) in verify.iter().zip(complete) {
            if !ok {
                failed.push((i, chunks_missing(&plan, g, b)));
            }
        }
        // tasks that never ran (stopped after a failure) are simply pending
        let pending: Vec<usize> = (0..tasks.len())
            .filter(|&i| selected[i] && !ran[i])
            .collect();
        if failed.is_empty() && pending.is_empty() {
            break;
        }
        if executor.retries_itself() && !failed.is_empty() {
            let msgs: Vec<String> = failed.iter().map(|(_, e)| e.to_string()).collect();
            return Err(Error::Task(msgs.join("; ")));
        }
        if attempt >= opts.max_retries.max(1) && !failed.is_empty() {
            let msgs: Vec<String> = failed.iter().map(|(_, e)| e.to_string()).collect();
            return Err(Error::Task(format!(
                "failed after {attempt} attempt(s): {}",
                msgs.join("; ")
            )));
        }
        for (i, e) in &failed {
            progress.message(&format!(
                "attempt {attempt} failed: {e}; retrying in {:?}",
                opts.retry_delay
            ));
            // a streamed band restarts from scratch; a chunk task rewrites its
            // own chunk whole, so its band's other chunks stay
            if let Task::Band { group, band } = tasks[*i].task {
                reset_band(&plan, group, band, &stores.output)
                    .map_err(|e| relocate(e, &out_loc))?;
            }
        }
        if !failed.is_empty() {
            attempt += 1;
            summary.retries += failed.len() as u32;
            std::thread::sleep(opts.retry_delay);
        }
        selected = vec![false; tasks.len()];
        for i in failed.iter().map(|(i, _)| *i).chain(pending) {
            selected[i] = true;
        }
    }
    // chunk-task bands: verified once all their tasks have run
    let verify: Vec<(usize, usize)> = plan
        .groups
        .iter()
        .enumerate()
        .filter(|(_, gp)| opts.granularity == Granularity::Chunk || gp.geocoded())
        .flat_map(|(g, gp)| (0..gp.bands.len()).map(move |b| (g, b)))
        .collect();
    let complete = store::par_io(&verify, |&(g, b)| {
        band_complete(&plan, g, b, &stores.output)
    })
    .map_err(|e| relocate(e, &out_loc))?;
    if let Some((&(g, b), _)) = verify.iter().zip(complete).find(|(_, ok)| !ok) {
        return Err(chunks_missing(&plan, g, b));
    }

    opts.cancel.check()?;
    // 4. consolidated metadata last: the store is complete from here on
    tracing::info!("all bands verified; writing consolidated metadata");
    task::run(&plan, &Task::Consolidate, &stores, ro).map_err(|e| relocate(e, &out_loc))?;
    let (remote_read, remote_written) = {
        // the executor counts over its life: this conversion's share
        let (r, w) = executor.remote_bytes();
        (r - remote0.0, w - remote0.1)
    };
    let (direct_read, direct_written) = stores.direct.bytes();
    summary.bytes_read = in_metrics.bytes_read() as u64 + direct_read + remote_read;
    summary.bytes_written = out_metrics.bytes_written() as u64 + direct_written + remote_written;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}
