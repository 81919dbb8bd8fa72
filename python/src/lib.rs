//! `eopf_geozarr_rs._native`: the Rust half of the Python package (PyO3).
//! The Python half (`eopf_geozarr_rs/__init__.py`) wraps it into the
//! Python tool's API. Conversions run on a thread of their own with the
//! GIL released; the calling thread polls for Ctrl-C, forwards progress
//! and log records, and cancels the conversion on KeyboardInterrupt.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use geozarr_client::{Cluster, Launcher};
use geozarr_core::convert::plan;
use geozarr_core::convert::task::Cancel;
use geozarr_core::convert::{convert as core_convert, convert_with, ConvertOptions, Progress};
use geozarr_core::Error;
use numpy::{PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _native,
    GeoZarrError,
    PyException,
    "Base class of every eopf_geozarr_rs error."
);
create_exception!(
    _native,
    InputError,
    GeoZarrError,
    "The input is missing, unreadable or not a convertible product."
);
create_exception!(
    _native,
    OutputError,
    GeoZarrError,
    "The output cannot be written (exists and is foreign, permission denied, disk full…)."
);
create_exception!(
    _native,
    CredentialsError,
    GeoZarrError,
    "S3 credentials are missing, inconsistent or rejected."
);
create_exception!(
    _native,
    ValidationError,
    GeoZarrError,
    "A store is not valid GeoZarr (validate(..., strict=True))."
);

/// Is this message about S3 credentials?
fn about_credentials(msg: &str) -> bool {
    msg.contains("rejected the credentials")
        || msg.contains("AWS_ACCESS_KEY_ID")
        || msg.contains("AWS_SECRET_ACCESS_KEY")
        || msg.contains("AWS_PROFILE")
        || msg.contains("no credentials")
}

/// A core error as a Python exception carrying the CLI's one-line message.
fn to_py(e: Error, input: &str) -> PyErr {
    let msg = e.to_string();
    if about_credentials(&msg) {
        return CredentialsError::new_err(msg);
    }
    match e {
        Error::Input { .. } => InputError::new_err(msg),
        Error::Output { .. } => OutputError::new_err(msg),
        Error::Storage { ref path, .. } => {
            if !input.is_empty() && path.starts_with(input) {
                InputError::new_err(msg)
            } else {
                OutputError::new_err(msg)
            }
        }
        Error::Cancelled => PyKeyboardInterrupt::new_err(msg),
        Error::Usage(_) | Error::Task(_) => GeoZarrError::new_err(msg),
    }
}

// ---------------------------------------------------------------- logging

/// Log records waiting for the Python thread: (level, target, message).
static LOG_QUEUE: Mutex<VecDeque<(u8, String, String)>> = Mutex::new(VecDeque::new());
static LOG_INIT: OnceLock<()> = OnceLock::new();

struct QueueLayer;

struct Fields(String);
impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(
                self.0,
                "{}{value:?}",
                if self.0.is_empty() { "" } else { " " }
            );
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QueueLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        // Python logging levels
        let level = match *meta.level() {
            tracing::Level::ERROR => 40,
            tracing::Level::WARN => 30,
            tracing::Level::INFO => 20,
            _ => 10,
        };
        let mut f = Fields(String::new());
        event.record(&mut f);
        if let Ok(mut q) = LOG_QUEUE.lock() {
            if q.len() < 10_000 {
                q.push_back((level, meta.target().to_string(), f.0));
            }
        }
    }
}

/// Route `tracing` into the queue that [`drain_logs`] empties into Python's
/// `logging` (logger `eopf_geozarr_rs`). `RUST_LOG` filters when set.
fn init_logging() {
    LOG_INIT.get_or_init(|| {
        use tracing_subscriber::prelude::*;
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,geozarr_core=info"));
        let _ = tracing_subscriber::registry()
            .with(QueueLayer.with_filter(filter))
            .try_init();
    });
}

/// Hand queued log records to `logging.getLogger("eopf_geozarr_rs")`.
fn drain_logs(py: Python<'_>) -> PyResult<()> {
    let records: Vec<_> = match LOG_QUEUE.lock() {
        Ok(mut q) => q.drain(..).collect(),
        Err(_) => return Ok(()),
    };
    if records.is_empty() {
        return Ok(());
    }
    let logger = py
        .import("logging")?
        .call_method1("getLogger", ("eopf_geozarr_rs",))?;
    for (level, target, msg) in records {
        let _ = target;
        logger.call_method1("log", (level, msg))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- convert

#[derive(Default)]
struct Shared {
    done: AtomicU64,
    total: AtomicU64,
    messages: Mutex<Vec<String>>,
}

struct PyProgress(Arc<Shared>);

impl Progress for PyProgress {
    fn start(&self, total: u64) {
        self.0.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }
    fn message(&self, msg: &str) {
        if let Ok(mut m) = self.0.messages.lock() {
            m.push(msg.to_string());
        }
    }
}

fn summary_dict<'py>(
    py: Python<'py>,
    s: &geozarr_core::convert::Summary,
    output: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("output", output)?;
    d.set_item("groups", s.groups)?;
    d.set_item("bands", s.bands)?;
    d.set_item("bands_skipped", s.bands_skipped)?;
    d.set_item("band_chunks", s.band_chunks)?;
    d.set_item("chunks_written", s.stats.chunks_written)?;
    d.set_item("chunks_skipped", s.stats.chunks_skipped)?;
    d.set_item("carried", s.carried)?;
    d.set_item("not_carried", s.not_carried.clone())?;
    d.set_item("bytes_read", s.bytes_read)?;
    d.set_item("bytes_written", s.bytes_written)?;
    d.set_item("seconds", s.seconds)?;
    d.set_item("resumed", s.resumed)?;
    d.set_item("retries", s.retries)?;
    Ok(d)
}

/// Where a cluster conversion runs.
enum ClusterSpec {
    /// A local cluster of `workers` processes started by `launcher` (a
    /// program and its first arguments; `GEOZARR_BIN_DIR` overrides it with
    /// the `geozarr-scheduler`/`geozarr-worker` executables there).
    Local {
        workers: usize,
        launcher: Vec<String>,
        dashboard: Option<std::net::SocketAddr>,
    },
    /// A running scheduler (`GEOZARR_TOKEN` is sent when set).
    Remote(String),
}

impl ClusterSpec {
    /// Start (local) or reach (remote) the cluster; `threads` (0 = all cores)
    /// are shared out among local workers as slots.
    fn connect(self, threads: usize, max_attempts: u32) -> geozarr_core::Result<Cluster> {
        match self {
            ClusterSpec::Remote(url) => {
                let tls = geozarr_proto::tls::ClientTls::from_env();
                Cluster::connect(&url, geozarr_proto::client::env_token(), tls, max_attempts)
            }
            ClusterSpec::Local {
                workers,
                launcher,
                dashboard,
            } => {
                let launcher = match std::env::var_os("GEOZARR_BIN_DIR") {
                    Some(d) => Launcher::Binaries(d.into()),
                    None => Launcher::Command(launcher.into_iter().map(Into::into).collect()),
                };
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let threads = if threads > 0 { threads } else { cores };
                let slots = (threads / workers).max(1) as u32;
                Cluster::local(&launcher, workers, slots, max_attempts, dashboard)
            }
        }
    }
}

/// What a conversion of `input` would write, as JSON: `bands` (each band's
/// input path, output path and native level group) and `nodes` (every output
/// node's attributes by path).
#[pyfunction]
#[pyo3(signature = (input, groups, profile, dtype))]
fn plan_json(
    py: Python<'_>,
    input: String,
    groups: Option<Vec<String>>,
    profile: &str,
    dtype: &str,
) -> PyResult<String> {
    let opts = ConvertOptions {
        plan: plan::Options {
            groups: groups.filter(|g| !g.is_empty()),
            profile: parse_profile(profile)?,
            float32: parse_dtype(dtype)?,
            ..Default::default()
        },
        ..Default::default()
    };
    let plan = py
        .allow_threads(|| geozarr_core::convert::plan_for(&input, &opts))
        .map_err(|e| to_py(e, &input))?;
    let bands: Vec<_> = plan
        .groups
        .iter()
        .flat_map(|g| {
            g.bands.iter().enumerate().map(move |(b, band)| {
                serde_json::json!({
                    "input": band.input,
                    "path": g.band_path(b, 0),
                    "level": g.level_path(0),
                })
            })
        })
        .collect();
    let nodes: serde_json::Map<String, serde_json::Value> = plan
        .nodes
        .iter()
        .map(|(p, m)| (p.clone(), m["attributes"].clone()))
        .collect();
    Ok(serde_json::json!({"bands": bands, "nodes": nodes}).to_string())
}

fn parse_profile(p: &str) -> PyResult<plan::Profile> {
    match p {
        "geozarr-0.4" => Ok(plan::Profile::GeoZarr04),
        "conventions" => Ok(plan::Profile::Conventions),
        p => Err(PyValueError::new_err(format!(
            "profile={p:?}: expected 'geozarr-0.4' or 'conventions'"
        ))),
    }
}

fn parse_dtype(d: &str) -> PyResult<bool> {
    match d {
        "stored" => Ok(false),
        "float32" => Ok(true),
        d => Err(PyValueError::new_err(format!(
            "dtype={d:?}: expected 'stored' or 'float32'"
        ))),
    }
}

/// Run a local cluster's process: `argv[0]` is the role
/// (`geozarr-scheduler` or `geozarr-worker`), the rest its arguments;
/// returns the exit status (`python -m eopf_geozarr_rs._cluster`).
#[pyfunction]
fn cluster_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    let ok = match argv.first().map(String::as_str) {
        Some("geozarr-scheduler") => py.allow_threads(|| geozarr_scheduler::cli::main(&argv)),
        Some("geozarr-worker") => py.allow_threads(|| geozarr_worker::cli::main(&argv)),
        r => {
            return Err(PyValueError::new_err(format!(
                "cluster_main: unknown role {r:?} (expected geozarr-scheduler or geozarr-worker)"
            )))
        }
    };
    Ok(if ok == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    })
}

/// Convert `input` into `output` (see `eopf_geozarr_rs.convert`).
#[pyfunction]
#[pyo3(signature = (input, output, groups, profile, overwrite, progress, spatial_chunk,
    min_dimension, tile_width, max_retries, crs_groups, shard, inner_chunk, dtype, threads,
    local_workers, scheduler, cluster_tasks, launcher, priority, dashboard))]
#[allow(clippy::too_many_arguments)]
fn convert<'py>(
    py: Python<'py>,
    input: String,
    output: String,
    groups: Option<Vec<String>>,
    profile: &str,
    overwrite: bool,
    progress: Option<PyObject>,
    spatial_chunk: u64,
    min_dimension: u64,
    tile_width: u64,
    max_retries: u32,
    crs_groups: Option<Vec<String>>,
    shard: bool,
    inner_chunk: u64,
    dtype: &str,
    threads: usize,
    local_workers: Option<usize>,
    scheduler: Option<String>,
    cluster_tasks: &str,
    launcher: Vec<String>,
    priority: u32,
    dashboard: String,
) -> PyResult<Bound<'py, PyDict>> {
    init_logging();
    let profile = parse_profile(profile)?;
    let float32 = parse_dtype(dtype)?;
    if spatial_chunk == 0 || tile_width == 0 || inner_chunk == 0 {
        return Err(PyValueError::new_err(
            "spatial_chunk, tile_width and inner_chunk must be positive",
        ));
    }
    let granularity = match cluster_tasks {
        "chunk" => plan::Granularity::Chunk,
        "band" => plan::Granularity::Band,
        c => {
            return Err(PyValueError::new_err(format!(
                "cluster_tasks={c:?}: expected 'chunk' or 'band'"
            )))
        }
    };
    let cluster = match (local_workers, scheduler) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "local_workers and scheduler: give one or the other",
            ))
        }
        (Some(0), None) => return Err(PyValueError::new_err("local_workers must be at least 1")),
        (Some(n), None) => Some(ClusterSpec::Local {
            workers: n,
            launcher,
            dashboard: match dashboard.as_str() {
                "off" => None,
                d => Some(d.parse().map_err(|_| {
                    PyValueError::new_err(format!(
                        "dashboard={d:?}: expected an address such as '127.0.0.1:8787', or 'off'"
                    ))
                })?),
            },
        }),
        (None, Some(url)) => Some(ClusterSpec::Remote(url)),
        (None, None) => None,
    };
    let flag = Arc::new(AtomicBool::new(false));
    let mut opts = ConvertOptions {
        plan: plan::Options {
            groups: groups.filter(|g| !g.is_empty()),
            spatial_chunk,
            min_dimension,
            tile_width,
            crs_groups: crs_groups.unwrap_or_default(),
            shard: shard.then_some(inner_chunk),
            float32,
            profile,
        },
        max_retries,
        overwrite,
        threads,
        cancel: Cancel::new(flag.clone()),
        ..Default::default()
    };
    let shared = Arc::new(Shared::default());
    let prog = Arc::new(PyProgress(shared.clone()));
    let (inp, out) = (input.clone(), output.clone());
    if cluster.is_some() {
        opts.granularity = granularity;
    }
    let handle = std::thread::Builder::new()
        .name("eopf-geozarr-convert".into())
        .spawn(move || match cluster {
            None => core_convert(&inp, &out, &opts, prog),
            Some(c) => {
                let cluster = c
                    .connect(opts.threads, opts.max_retries)?
                    .with_priority(priority);
                if let Some(url) = cluster.dashboard() {
                    tracing::info!("local cluster dashboard: {url}");
                    prog.message(&format!("dashboard: {url}"));
                }
                convert_with(&inp, &out, &opts, prog, &cluster)
            }
        })
        .map_err(|e| GeoZarrError::new_err(format!("cannot start the conversion thread: {e}")))?;

    // poll: Ctrl-C, progress, logs; on a Python exception cancel and wait
    let mut last: Option<(u64, u64)> = None;
    let mut pending: Option<PyErr> = None;
    let report = |py: Python<'_>, last: &mut Option<(u64, u64)>| -> PyResult<()> {
        let msgs: Vec<String> = shared
            .messages
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        let now = (
            shared.done.load(Ordering::Relaxed),
            shared.total.load(Ordering::Relaxed),
        );
        if let Some(cb) = &progress {
            for m in msgs {
                cb.call1(py, (now.0, now.1, m))?;
            }
            if *last != Some(now) && now.1 > 0 {
                cb.call1(py, (now.0, now.1, ""))?;
            }
        }
        *last = Some(now);
        Ok(())
    };
    while !handle.is_finished() {
        py.allow_threads(|| {
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_millis(100) && !handle.is_finished() {
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        if pending.is_some() {
            continue;
        }
        let r = py
            .check_signals()
            .and_then(|_| drain_logs(py))
            .and_then(|_| report(py, &mut last));
        if let Err(e) = r {
            flag.store(true, Ordering::Relaxed);
            pending = Some(e);
        }
    }
    let result = handle
        .join()
        .map_err(|_| GeoZarrError::new_err("the conversion thread panicked"))?;
    drain_logs(py)?;
    if let Some(e) = pending {
        return Err(e);
    }
    match result {
        Ok(s) => {
            report(py, &mut last)?;
            summary_dict(py, &s, &output)
        }
        Err(e) => Err(to_py(e, &input)),
    }
}

// ---------------------------------------------------------------- info / validate

fn open_store(path: &str) -> Result<geozarr_core::store::Store, Error> {
    use geozarr_core::store::{open_input, Location};
    open_input(&Location::parse(path)?)
}

/// `eopf-geozarr info --json PATH`, as a JSON string.
#[pyfunction]
fn info_json(py: Python<'_>, path: String) -> PyResult<String> {
    init_logging();
    let r = py.allow_threads(|| -> Result<String, Error> {
        use geozarr_core::inspect::{info, Read, Tree};
        let store = open_store(&path)?;
        let tree = Tree::open(&store, &path, Read::Consolidated)?;
        if let Some((k, e)) = tree.broken.first() {
            return Err(Error::input(format!("{path}/{k}"), e));
        }
        let summary = info::build(&tree, &store);
        serde_json::to_string_pretty(&summary).map_err(|e| Error::Task(e.to_string()))
    });
    drain_logs(py)?;
    r.map_err(|e| to_py(e, ""))
}

/// `eopf-geozarr validate --json [--deep] PATH`, as (valid, JSON string).
#[pyfunction]
#[pyo3(signature = (path, deep=false))]
fn validate_json(py: Python<'_>, path: String, deep: bool) -> PyResult<(bool, String)> {
    init_logging();
    let r = py.allow_threads(|| -> Result<(bool, String), Error> {
        use geozarr_core::inspect::validate;
        let store = open_store(&path)?;
        let report = validate::validate(&store, &path, validate::Options { deep })?;
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Task(e.to_string()))?;
        Ok((report.valid, json))
    });
    drain_logs(py)?;
    r.map_err(|e| to_py(e, ""))
}

// ---------------------------------------------------------------- arrays

/// `geo::chunking::aligned_chunk_size`: the largest divisor of `n` not above
/// `target` (`n` itself when it fits).
#[pyfunction]
fn calculate_aligned_chunk_size(dimension_size: u64, target_chunk_size: u64) -> PyResult<u64> {
    if dimension_size == 0 || target_chunk_size == 0 {
        return Err(PyValueError::new_err(
            "dimension_size and target_chunk_size must be positive",
        ));
    }
    Ok(geozarr_core::geo::chunking::aligned_chunk_size(
        dimension_size,
        target_chunk_size,
    ))
}

fn down<'py, T>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    fill: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<T>>>
where
    T: geozarr_core::geo::downsample::Pixel + numpy::Element + for<'a> FromPyObject<'a> + Send,
{
    let arr: PyReadonlyArray2<T> = a.extract()?;
    let fill: Option<T> = fill.map(|f| f.extract()).transpose()?;
    let (h, w) = (arr.shape()[0], arr.shape()[1]);
    let slice = if arr.is_c_contiguous() {
        arr.as_slice().ok()
    } else {
        None
    };
    let out = match slice {
        // C-contiguous: read in place
        Some(s) => py.allow_threads(|| geozarr_core::geo::downsample::downsample(s, h, w, fill)),
        None => {
            // other layouts: one row-major copy
            let v: Vec<T> = arr.as_array().iter().copied().collect();
            py.allow_threads(|| geozarr_core::geo::downsample::downsample(&v, h, w, fill))
        }
    };
    let shape = (h.div_ceil(2), w.div_ceil(2));
    let out = numpy::ndarray::Array2::from_shape_vec(shape, out)
        .map_err(|e| GeoZarrError::new_err(e.to_string()))?;
    Ok(PyArray2::from_owned_array(py, out))
}

/// The nodata-aware 2×2 block mean of the pyramid (see the Python docs).
#[pyfunction]
#[pyo3(signature = (a, fill_value=None))]
fn downsample_2d<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    fill_value: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let dtype: String = a.getattr("dtype")?.getattr("name")?.extract()?;
    let r = match dtype.as_str() {
        "float32" => down::<f32>(py, a, fill_value)?.into_any(),
        "float64" => down::<f64>(py, a, fill_value)?.into_any(),
        "uint8" => down::<u8>(py, a, fill_value)?.into_any(),
        "uint16" => down::<u16>(py, a, fill_value)?.into_any(),
        "uint32" => down::<u32>(py, a, fill_value)?.into_any(),
        "uint64" => down::<u64>(py, a, fill_value)?.into_any(),
        "int8" => down::<i8>(py, a, fill_value)?.into_any(),
        "int16" => down::<i16>(py, a, fill_value)?.into_any(),
        "int32" => down::<i32>(py, a, fill_value)?.into_any(),
        "int64" => down::<i64>(py, a, fill_value)?.into_any(),
        d => {
            return Err(PyValueError::new_err(format!(
                "downsample_2d_array: unsupported dtype {d}"
            )))
        }
    };
    Ok(r)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("GeoZarrError", py.get_type::<GeoZarrError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    m.add("CredentialsError", py.get_type::<CredentialsError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(info_json, m)?)?;
    m.add_function(wrap_pyfunction!(validate_json, m)?)?;
    m.add_function(wrap_pyfunction!(calculate_aligned_chunk_size, m)?)?;
    m.add_function(wrap_pyfunction!(downsample_2d, m)?)?;
    m.add_function(wrap_pyfunction!(cluster_main, m)?)?;
    m.add_function(wrap_pyfunction!(plan_json, m)?)?;
    Ok(())
}
