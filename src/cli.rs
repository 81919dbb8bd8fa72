//! Command-line interface (clap): `convert`, `info`, `validate`, `synth`, `demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `println!` to stdout that ends the program quietly when the reader has
/// gone (`eopf-geozarr info … | head`), as command-line tools do; SIGPIPE
/// itself stays ignored, so a closed network connection is an error to
/// report, not a silent death.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            $crate::cli::stdout_failed(e)
        }
    }};
}

/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            $crate::cli::stdout_failed(e)
        }
    }};
}

/// Stdout cannot be written: a reader gone ends the program quietly, any
/// other failure is one line on stderr.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
    std::process::exit(0)
}

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use geozarr_core::convert::plan;
use geozarr_core::convert::s1::{calib::Quantity, S1Options};
use geozarr_core::convert::{convert, convert_with, ConvertOptions, Progress, Summary};
use indicatif::{ProgressBar, ProgressStyle};

/// Convert Copernicus EOPF Zarr products (Sentinel-2 L1C/L2A) into
/// cloud-optimised GeoZarr 0.4 stores (Zarr v3, native CRS, overview pyramids).
#[derive(Parser)]
#[command(
    name = "eopf-geozarr",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an EOPF product into a GeoZarr store.
    ///
    /// Every resolution group under /measurements is converted into a
    /// multiscale pyramid (level 0 = native, each next level a 2×2 average);
    /// all other groups are carried over unchanged. Re-running into an
    /// unfinished output resumes it; a finished store has consolidated
    /// metadata at its root.
    Convert(Box<ConvertArgs>),
    /// Convert many products: every product of a list file, directory or
    /// s3:// prefix into PREFIX/<product name>.
    ///
    /// One conversion per product, --concurrency at a time, in process or on
    /// a cluster (--local-workers, --scheduler: one job per product); a
    /// progress bar across products; complete outputs are skipped, unfinished
    /// ones resumed. Ends with a table (product, status, seconds,
    /// core-seconds, MB written), also written as JSON (--report), and a
    /// non-zero exit naming the failed products (the others still finish).
    ConvertMany(Box<crate::many::ManyArgs>),
    /// Show what a store holds: groups, arrays, CRS, resolution, extent, levels.
    ///
    /// Works on EOPF products (Zarr v2) and GeoZarr stores (Zarr v3), local
    /// or remote; reads metadata only (consolidated when present).
    Info(InfoArgs),
    /// Check that a store is valid GeoZarr 0.4: one PASS/WARN/FAIL line per
    /// check, then a summary. Exits 0 only when no check fails.
    Validate(ValidateArgs),
    /// Write a synthetic EOPF product (Zarr v2) from a product schema.
    Synth(SynthArgs),
    /// Build a realistic synthetic product and convert it (the quick tour).
    Demo(DemoArgs),
}

#[derive(Args)]
pub(crate) struct ConvertArgs {
    /// Input EOPF product (Zarr v2 directory).
    input: String,
    /// Output GeoZarr store (created; an unfinished one is resumed).
    output: String,
    #[command(flatten)]
    opts: ConvertOpts,
}

/// The options of `convert` (also those of `convert-many`).
#[derive(Args)]
pub(crate) struct ConvertOpts {
    /// Groups to convert. geozarr-0.4: resolution groups, e.g.
    /// /measurements/reflectance/r10m [default: every group under
    /// /measurements with (y, x) bands]. conventions: groups of r{N}m
    /// resolution groups, e.g. /measurements/reflectance (or one of its
    /// r{N}m) [default: every such group, measurements, quality and masks].
    #[arg(long, num_args = 1..)]
    groups: Vec<String>,
    /// Output layout: `geozarr-0.4` (`{group}/{level}` pyramids with a
    /// tile-matrix-set `multiscales`, the seed's format) or `conventions`
    /// (sibling r10m…r720m levels with zarr-conventions `multiscales` v1,
    /// `spatial:` and `proj:`, as the Python tool ≥ 0.10 writes and
    /// titiler-eopf serves; see docs/conventions-profile.md).
    #[arg(long, default_value = "geozarr-0.4", value_parser = ["geozarr-0.4", "conventions"])]
    profile: String,
    /// Write every band chunk as one Zarr v3 `sharding_indexed` shard of
    /// inner chunks (fewer, larger objects; readers fetch inner chunks by
    /// byte range). Shards keep the chunk grid of --spatial-chunk.
    #[arg(long)]
    shard: bool,
    /// Inner chunk edge of shards: the largest divisor of the shard edge not
    /// above this (a shard holds whole inner chunks; 244 for 3660).
    #[arg(long, value_name = "N", default_value_t = 256, requires = "shard")]
    inner_chunk: u64,
    /// Data type of CF-packed bands (reflectance): `stored` keeps their
    /// integer counts with scale_factor/add_offset/_FillValue (lossless,
    /// half the bytes of float32); `float32` writes the decoded values with
    /// NaN fill, as the Python tool does, for readers that ignore CF packing.
    #[arg(long, default_value = "stored", value_parser = ["stored", "float32"])]
    dtype: String,
    /// Target chunk edge for band arrays (aligned to the array size).
    #[arg(long, default_value_t = plan::Options::default().spatial_chunk)]
    spatial_chunk: u64,
    /// Keep adding overview levels while the smaller side is at least this.
    #[arg(long, default_value_t = plan::Options::default().min_dimension)]
    min_dimension: u64,
    /// Tile width and height of the tile matrix set in `multiscales`.
    #[arg(long, default_value_t = plan::Options::default().tile_width)]
    tile_width: u64,
    /// Attempts per band before the conversion fails.
    #[arg(long, default_value_t = ConvertOptions::default().max_retries)]
    max_retries: u32,
    /// Carried-over groups that also get a spatial_ref grid mapping.
    #[arg(long, num_args = 1..)]
    crs_groups: Vec<String>,
    /// Delete an existing output first instead of resuming it.
    #[arg(long)]
    overwrite: bool,
    /// Tasks run at once [default: cores + 1, so that no core idles while a
    /// task waits on I/O; codecs use every core either way].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub(crate) threads: usize,
    /// Run on a local cluster with one worker process per core (the Python
    /// tool's flag; same as --local-workers <cores>).
    #[arg(long, conflicts_with_all = ["local_workers", "scheduler"])]
    dask_cluster: bool,
    /// Where a local cluster serves its live dashboard: ADDR (the next free
    /// port after it when taken, as Dask does) or `off`. Its link is printed
    /// at the start.
    #[arg(long, value_name = "ADDR|off", default_value = geozarr_client::DASHBOARD)]
    dashboard: String,
    /// Run on a local cluster: a scheduler and N worker processes on this
    /// machine, stopped when the conversion ends.
    #[arg(long, value_name = "N", conflicts_with = "scheduler")]
    local_workers: Option<usize>,
    /// Run on a running cluster: submit to the scheduler at URL and follow
    /// the job (GEOZARR_TOKEN is sent when set). https://HOST:PORT for a
    /// scheduler serving TLS.
    #[arg(long, value_name = "URL")]
    scheduler: Option<String>,
    /// CA certificate (PEM) that signed an https:// scheduler's certificate
    /// [default: GEOZARR_TLS_CA, else the system roots].
    #[arg(long, value_name = "PEM", requires = "scheduler")]
    tls_ca: Option<std::path::PathBuf>,
    /// Own certificate (PEM) for a scheduler requiring mutual TLS
    /// [default: GEOZARR_TLS_CERT].
    #[arg(long, value_name = "PEM", requires_all = ["scheduler", "tls_key"])]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert [default: GEOZARR_TLS_KEY].
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Share of a busy cluster's slots for this job: running jobs get
    /// slots in proportion to their priority (a job of 2 twice those of a
    /// job of 1), round-robin between equals.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    priority: u32,
    /// Task size on a cluster: `chunk` (one task per output chunk and level;
    /// a band's tasks stay on one worker, which keeps decoded chunks for the
    /// next task, so each input chunk is decoded once; an idle worker helps
    /// another's band) or `band` (one streaming task per band pyramid, as
    /// in-process).
    #[arg(long, value_name = "SIZE", default_value = "chunk", value_parser = ["chunk", "band"])]
    cluster_tasks: String,
    /// Sentinel-1 GRD: what the bands hold: `sigma0`, `gamma0`, `beta0`
    /// (float32 linear power, calibrated and thermal-noise corrected) or
    /// `dn` (the uint16 digital numbers, uncalibrated). See docs/s1.md.
    #[arg(long, value_name = "Q", value_enum, default_value = "sigma0")]
    s1_quantity: S1Quantity,
    /// Sentinel-1 GRD: output CRS, `EPSG:326zz`/`EPSG:327zz` (WGS 84 / UTM)
    /// or `EPSG:4326` [default: the UTM zone of the scene centre].
    #[arg(long, value_name = "EPSG:CODE", value_parser = parse_epsg)]
    crs: Option<u32>,
    /// Sentinel-1 GRD: output pixel size in CRS units [default: 10 m; 1e-4° for EPSG:4326].
    #[arg(long, value_name = "M")]
    resolution: Option<f64>,
    /// Detailed logs (tracing) on stderr.
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

#[derive(Args)]
struct InfoArgs {
    /// Store path or URL.
    path: String,
    /// Print one JSON document instead of the tree (fields: see README).
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page of the tree to FILE.
    #[arg(long, value_name = "FILE")]
    html_output: Option<PathBuf>,
}

#[derive(Args)]
struct ValidateArgs {
    /// Store path or URL.
    path: String,
    /// Print one JSON document instead of the lines (fields: see README).
    #[arg(long)]
    json: bool,
    /// Also read every chunk (exists, decodes) and recompute every overview.
    #[arg(long)]
    deep: bool,
}

#[derive(Args)]
struct SynthArgs {
    /// Output directory for the product (must not exist or be empty).
    out: PathBuf,
    /// Product schema (pydantic-zarr GroupSpec JSON) [default: embedded S2A L2A].
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Divide shapes and chunks by this factor (1 = full size, 10980² at 10 m).
    #[arg(long, default_value_t = 10)]
    scale: u64,
    /// Encode the numeric arrays another way (same values): parts joined with `+`.
    ///
    /// At most one compressor:
    ///   default          the schema's compressor (the default)
    ///   none             "compressor": null
    ///   zstd | zlib | gzip | lz4
    ///                    numcodecs Zstd level 3, Zlib level 5, GZip level 5, LZ4
    ///   blosc[:KEY=VALUE,…]
    ///                    c-blosc frames from the schema's blosc settings; keys:
    ///                    cname=blosclz|lz4|lz4hc|zlib|zstd, clevel=0..9 (0: stored
    ///                    uncompressed), shuffle=none|byte|bit, typesize=1..255
    ///                    (in the frame header), blocksize=BYTES (0: blosc's choice),
    ///                    threads=N (>1: blocks may be stored out of order)
    ///   blosc-typesize1  = blosc:typesize=1 (zarr-python 3 + numcodecs)
    /// Any of:
    ///   slash            "dimension_separator": "/" (chunk keys 0/1)
    ///   order-f          "order": "F" (Fortran-order chunks, 2+ dimensions)
    ///   sparse           chunks holding only the fill value are not written
    ///   fill-null        "fill_value": null on numeric arrays
    ///   fill-nan         "fill_value": "NaN" on float arrays
    /// Strings and datetimes keep the schema's encoding.
    ///
    /// Examples: --encoding blosc-typesize1, --encoding zstd+slash+order-f
    #[arg(
        long,
        value_name = "VARIANT",
        default_value = "default",
        verbatim_doc_comment
    )]
    encoding: geozarr_synth::Encoding,
}

#[derive(Args)]
struct DemoArgs {
    /// Working directory [default: ./eopf-geozarr-demo].
    dir: Option<PathBuf>,
    /// Scale of the synthetic product (1 = full size: ~1 GB, about 35 s on 2 cores).
    #[arg(long, default_value_t = 1)]
    scale: u64,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, msg: &str) {
        self.0.println(msg);
    }
}

fn progress_bar() -> Arc<Bar> {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks ({eta})",
        )
        .expect("valid template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    Arc::new(Bar(pb))
}

pub(crate) fn init_logging(verbose: bool) {
    let filter = if verbose {
        "info,geozarr_core=debug,eopf_geozarr=debug"
    } else {
        "warn"
    };
    geozarr_proto::logging::init(filter);
}

fn print_summary(s: &Summary, output: &str) {
    let mb = |b: u64| b as f64 / 1e6;
    outln!(
        "converted {} groups, {} bands ({} chunks) into {output}",
        s.groups,
        s.bands,
        s.band_chunks
    );
    if s.resumed {
        outln!(
            "resumed: {} bands and {} chunks already complete were skipped",
            s.bands_skipped,
            s.stats.chunks_skipped
        );
    }
    outln!("carried over {} arrays unchanged", s.carried);
    if s.stats.input_chunks_whole > 0 {
        outln!(
            "{} input chunks were decoded whole (their blosc frames cannot be read block by block)",
            s.stats.input_chunks_whole
        );
    }
    if !s.not_carried.is_empty() {
        outln!(
            "not carried over (no Zarr v3 data type): {}",
            s.not_carried.join(", ")
        );
    }
    outln!(
        "read {:.1} MB, wrote {:.1} MB in {:.2} s ({:.1} MB/s of input)",
        mb(s.bytes_read),
        mb(s.bytes_written),
        s.seconds,
        mb(s.bytes_read) / s.seconds.max(1e-9)
    );
}

impl ConvertOpts {
    /// The conversion options these flags give.
    pub(crate) fn options(&self) -> ConvertOptions {
        let a = self;
        ConvertOptions {
            plan: plan::Options {
                groups: (!a.groups.is_empty()).then(|| a.groups.clone()),
                spatial_chunk: a.spatial_chunk,
                min_dimension: a.min_dimension,
                tile_width: a.tile_width,
                crs_groups: a.crs_groups.clone(),
                shard: a.shard.then_some(a.inner_chunk),
                float32: a.dtype == "float32",
                profile: if a.profile == "conventions" {
                    plan::Profile::Conventions
                } else {
                    plan::Profile::GeoZarr04
                },
            },
            max_retries: a.max_retries,
            overwrite: a.overwrite,
            threads: a.threads,
            s1: S1Options {
                quantity: match a.s1_quantity {
                    S1Quantity::Sigma0 => Quantity::Sigma0,
                    S1Quantity::Gamma0 => Quantity::Gamma0,
                    S1Quantity::Beta0 => Quantity::Beta0,
                    S1Quantity::Dn => Quantity::Dn,
                },
                epsg: a.crs,
                resolution: a.resolution,
            },
            ..Default::default()
        }
    }
}

/// `--s1-quantity` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum S1Quantity {
    Sigma0,
    Gamma0,
    Beta0,
    Dn,
}

/// `EPSG:32632` (or `32632`) → 32632.
fn parse_epsg(s: &str) -> Result<u32, String> {
    let code = s
        .strip_prefix("EPSG:")
        .or_else(|| s.strip_prefix("epsg:"))
        .unwrap_or(s);
    code.parse()
        .map_err(|_| format!("{s:?}: expected EPSG:<code>, e.g. EPSG:32632"))
}

fn run_convert(input: &str, output: &str, opts: &ConvertOptions, verbose: bool) -> Result<Summary> {
    init_logging(verbose);
    let bar = progress_bar();
    let r = convert(input, output, opts, bar.clone());
    bar.0.finish_and_clear();
    Ok(r?)
}

fn open(path: &str) -> Result<geozarr_core::store::Store> {
    use geozarr_core::store::{open_input, Location};
    Ok(open_input(&Location::parse(path)?)?)
}

fn run_info(a: &InfoArgs) -> Result<()> {
    use geozarr_core::inspect::{html, info, Read, Tree};
    let store = open(&a.path)?;
    let tree = Tree::open(&store, &a.path, Read::Consolidated)?;
    if let Some((k, e)) = tree.broken.first() {
        anyhow::bail!("{}/{k}: {e}", a.path);
    }
    let summary = info::build(&tree, &store);
    if let Some(f) = &a.html_output {
        std::fs::write(f, html::render(&summary))
            .with_context(|| format!("{}: cannot write the HTML page", f.display()))?;
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        out!("{}", info::render_text(&summary));
        if let Some(f) = &a.html_output {
            outln!("HTML page written to {}", f.display());
        }
    }
    Ok(())
}

fn run_validate(a: &ValidateArgs) -> Result<ExitCode> {
    use geozarr_core::inspect::validate;
    let store = open(&a.path)?;
    let report = validate::validate(&store, &a.path, validate::Options { deep: a.deep })?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", validate::render_text(&report));
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl ConvertOpts {
    /// The cluster these flags ask for — a local one (`--local-workers`,
    /// `--dask-cluster`, started now) or a running scheduler
    /// (`--scheduler`) — with the options to convert on it; `None`: run in
    /// process. Ctrl-C then cancels the cluster's jobs and exits.
    pub(crate) fn cluster(&self) -> Result<Option<(geozarr_client::Cluster, ConvertOptions)>> {
        use geozarr_client::{bin_dir, Cluster, Launcher};
        let a = self;
        let local = match (a.dask_cluster, a.local_workers) {
            (true, _) => Some(cores()),
            (false, Some(n)) => Some(n.max(1)),
            (false, None) => None,
        };
        if local.is_none() && a.scheduler.is_none() {
            return Ok(None);
        }
        let mut opts = a.options();
        opts.granularity = if a.cluster_tasks == "band" {
            geozarr_core::convert::plan::Granularity::Band
        } else {
            geozarr_core::convert::plan::Granularity::Chunk
        };
        let max_attempts = opts.max_retries;
        let cluster = match (local, &a.scheduler) {
            (Some(n), _) => {
                let threads = if a.threads > 0 { a.threads } else { cores() };
                let slots = (threads / n).max(1) as u32;
                let dashboard = match a.dashboard.as_str() {
                    "off" => None,
                    d => Some(d.parse().map_err(|_| {
                        anyhow::anyhow!(
                            "--dashboard {d}: expected an address such as 127.0.0.1:8787, or off"
                        )
                    })?),
                };
                let c = Cluster::local(
                    &Launcher::Binaries(bin_dir()?),
                    n,
                    slots,
                    max_attempts,
                    dashboard,
                )?;
                if let Some(url) = c.dashboard() {
                    eprintln!("dashboard: {url}");
                }
                c
            }
            (None, Some(url)) => {
                let tls = geozarr_proto::tls::ClientTls {
                    ca: a.tls_ca.clone(),
                    cert: a.tls_cert.clone(),
                    key: a.tls_key.clone(),
                }
                .or_env();
                Cluster::connect(url, geozarr_proto::client::env_token(), tls, max_attempts)?
            }
            (None, None) => unreachable!("checked above"),
        };
        let cluster = cluster.with_priority(a.priority);
        cluster.exit_on_signal();
        Ok(Some((cluster, opts)))
    }
}

/// `convert` on a cluster (see [`ConvertOpts::cluster`]); `None`: no
/// cluster asked for.
fn run_convert_cluster(a: &ConvertArgs) -> Result<Option<Summary>> {
    init_logging(a.opts.verbose);
    let Some((cluster, opts)) = a.opts.cluster()? else {
        return Ok(None);
    };
    let bar = progress_bar();
    let r = convert_with(&a.input, &a.output, &opts, bar.clone(), &cluster);
    bar.0.finish_and_clear();
    drop(cluster);
    Ok(Some(r?))
}

/// Parse the command line and run it.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Convert(a) => {
            let s = match run_convert_cluster(&a)? {
                Some(s) => s,
                None => run_convert(&a.input, &a.output, &a.opts.options(), a.opts.verbose)?,
            };
            print_summary(&s, &a.output);
        }
        Command::ConvertMany(a) => return crate::many::run(&a),
        Command::Info(a) => run_info(&a)?,
        Command::Validate(a) => return run_validate(&a),
        Command::Synth(a) => {
            let schema = match &a.schema {
                Some(p) => std::fs::read_to_string(p)
                    .with_context(|| format!("{}: cannot read schema", p.display()))?,
                None => geozarr_synth::DEFAULT_SCHEMA.to_string(),
            };
            let t = std::time::Instant::now();
            let s = geozarr_synth::synthesize(
                &schema,
                &a.out,
                &geozarr_synth::SynthOptions {
                    scale: a.scale,
                    encoding: a.encoding,
                },
            )?;
            let encoding = if a.encoding.is_default() {
                String::new()
            } else {
                format!(", encoding {}", a.encoding)
            };
            outln!(
                "wrote {} groups, {} arrays ({:.1} MB{encoding}) to {} in {:.2} s",
                s.groups,
                s.arrays,
                s.bytes_written as f64 / 1e6,
                a.out.display(),
                t.elapsed().as_secs_f64()
            );
        }
        Command::Demo(a) => {
            let dir = a.dir.unwrap_or_else(|| PathBuf::from("eopf-geozarr-demo"));
            let input = dir.join(format!("S2A_MSIL2A_synthetic_scale{}.zarr", a.scale));
            let output = dir.join(format!(
                "S2A_MSIL2A_synthetic_scale{}_geozarr.zarr",
                a.scale
            ));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            if !input.join(".zmetadata").exists() {
                if input.exists() {
                    geozarr_core::store::local::remove_tree(&input)
                        .with_context(|| format!("{}: cannot remove", input.display()))?;
                }
                let t = std::time::Instant::now();
                let s = geozarr_synth::synthesize(
                    geozarr_synth::DEFAULT_SCHEMA,
                    &input,
                    &geozarr_synth::SynthOptions {
                        scale: a.scale,
                        ..Default::default()
                    },
                )?;
                outln!(
                    "synthetic S2A L2A product (scale {}): {} arrays, {:.1} MB in {:.1} s → {}",
                    a.scale,
                    s.arrays,
                    s.bytes_written as f64 / 1e6,
                    t.elapsed().as_secs_f64(),
                    input.display()
                );
            }
            let input = input.display().to_string();
            let conventions = dir.join(format!(
                "S2A_MSIL2A_synthetic_scale{}_conventions.zarr",
                a.scale
            ));
            let mut valid = true;
            // both output profiles, each checked by our own validator
            for (profile, output) in [
                (plan::Profile::GeoZarr04, output.display().to_string()),
                (
                    plan::Profile::Conventions,
                    conventions.display().to_string(),
                ),
            ] {
                let mut opts = ConvertOptions {
                    overwrite: true,
                    ..Default::default()
                };
                opts.plan.profile = profile;
                outln!("--profile {}:", profile.name());
                let s = run_convert(&input, &output, &opts, false)?;
                print_summary(&s, &output);
                use geozarr_core::inspect::validate;
                let report =
                    validate::validate(&open(&output)?, &output, validate::Options::default())?;
                let text = validate::render_text(&report);
                outln!("validate: {}", text.lines().last().unwrap_or_default());
                outln!("look inside: eopf-geozarr info {output}\n");
                if !report.valid {
                    out!("{text}");
                    valid = false;
                }
            }
            if !valid {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
