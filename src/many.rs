//! `convert-many`: a whole archive — one conversion per product, a few at a
//! time, in process or on a cluster (one job per product) — ending with a
//! table of what happened to each, also written as JSON.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use geozarr_core::convert::{convert, convert_with, ConvertOptions, NoProgress, Summary};
use geozarr_core::store::{self, Location, StoreOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::ConvertOpts;

/// `eopf-geozarr convert-many LIST --output-prefix PREFIX`.
#[derive(Args)]
pub(crate) struct ManyArgs {
    /// The products: a file listing one input location per line (blank
    /// lines and `#` comments ignored), or a local directory or s3:// prefix
    /// whose child Zarr stores are the products.
    list: String,
    /// Where the outputs go: PREFIX/<product name> (a local directory or
    /// s3://bucket/prefix). Products whose output is complete are skipped;
    /// unfinished ones are resumed.
    #[arg(long, value_name = "PREFIX")]
    output_prefix: String,
    /// Products converted at once (in process, the cores are shared out
    /// among them; on a cluster, each is its own job).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// Also write the final table as JSON to FILE.
    #[arg(long, value_name = "FILE", default_value = "convert-many-report.json")]
    report: PathBuf,
    #[command(flatten)]
    opts: ConvertOpts,
}

/// What happened to one product.
struct Row {
    product: String,
    input: String,
    output: String,
    /// `converted`, `resumed`, `skipped` (already complete) or `failed`.
    status: &'static str,
    seconds: f64,
    core_seconds: f64,
    bytes_written: u64,
    error: Option<String>,
}

/// The product locations LIST names.
fn inputs(list: &str) -> Result<Vec<String>> {
    let path = Path::new(list);
    let found = if list.starts_with("s3://") || path.is_dir() {
        if path.is_dir()
            && [".zmetadata", ".zgroup", "zarr.json"]
                .iter()
                .any(|k| path.join(k).exists())
        {
            bail!("{list}: is a Zarr store itself, not a directory of products (use `convert`)");
        }
        store::list_products(&Location::parse(list)?, &StoreOptions::default())?
    } else if path.is_file() {
        std::fs::read_to_string(path)
            .with_context(|| format!("{list}: cannot read the list"))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    } else {
        bail!("{list}: no such file or directory (expected a file of product locations, a directory or an s3:// prefix)");
    };
    if found.is_empty() {
        bail!("{list}: no products found");
    }
    Ok(found)
}

/// A product's name: the last segment of its location (`S2A_….zarr`).
fn name_of(input: &str) -> String {
    input
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(input)
        .to_string()
}

/// Has `output` been converted completely (consolidated metadata at its root)?
fn complete(output: &str) -> bool {
    let Ok(loc) = Location::parse(output) else {
        return false;
    };
    let Ok(Some(s)) = store::open_existing(&loc, &StoreOptions::default()) else {
        return false;
    };
    matches!(store::get_json(&s, "zarr.json"), Ok(Some(v)) if v.get("consolidated_metadata").is_some())
}

fn row(
    name: &str,
    input: &str,
    output: &str,
    t0: Instant,
    r: std::result::Result<Summary, geozarr_core::Error>,
) -> Row {
    let mut row = Row {
        product: name.to_string(),
        input: input.to_string(),
        output: output.to_string(),
        status: "failed",
        seconds: t0.elapsed().as_secs_f64(),
        core_seconds: 0.0,
        bytes_written: 0,
        error: None,
    };
    match r {
        Ok(s) => {
            row.status = if s.resumed { "resumed" } else { "converted" };
            row.core_seconds = s.stats.cpu_ns as f64 / 1e9;
            row.bytes_written = s.bytes_written;
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

/// Run `convert-many`; the exit code says whether every product succeeded.
pub(crate) fn run(a: &ManyArgs) -> Result<std::process::ExitCode> {
    crate::cli::init_logging(a.opts.verbose);
    let products = inputs(&a.list)?;
    let prefix = a.output_prefix.trim_end_matches('/');
    let mut seen = std::collections::HashMap::new();
    for p in &products {
        if let Some(other) = seen.insert(name_of(p), p.clone()) {
            bail!("{p} and {other} have the same name: their outputs under {prefix} would collide");
        }
    }
    let n = (a.concurrency as usize).min(products.len());
    let cluster = a.opts.cluster()?;
    let (opts, clients): (ConvertOptions, Vec<Option<geozarr_client::Cluster>>) = match &cluster {
        Some((c, o)) => (
            o.clone(),
            (0..n)
                .map(|_| c.sibling().map(Some))
                .collect::<Result<_, _>>()?,
        ),
        None => {
            let mut o = a.opts.options();
            let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
            let threads = if a.opts.threads > 0 {
                a.opts.threads
            } else {
                cores
            };
            o.threads = (threads / n).max(1);
            (o, (0..n).map(|_| None).collect())
        }
    };
    let bar = ProgressBar::new(products.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} products {msg}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let running = Mutex::new(Vec::<String>::new());
    let show = |running: &Vec<String>| bar.set_message(running.join(", "));
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new((0..products.len()).map(|_| None).collect());
    let t_all = Instant::now();
    std::thread::scope(|sc| {
        for client in clients {
            let (products, next, rows, running, opts, bar) =
                (&products, &next, &rows, &running, &opts, &bar);
            sc.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = products.get(i) else { break };
                let name = name_of(input);
                let output = format!("{prefix}/{name}");
                let t0 = Instant::now();
                let r = if !opts.overwrite && complete(&output) {
                    Row {
                        status: "skipped",
                        ..row(&name, input, &output, t0, Ok(Summary::default()))
                    }
                } else {
                    {
                        let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
                        r.push(name.clone());
                        show(&r);
                    }
                    let progress = Arc::new(NoProgress);
                    let res = match &client {
                        Some(c) => convert_with(input, &output, opts, progress, c),
                        None => convert(input, &output, opts, progress),
                    };
                    let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
                    r.retain(|x| *x != name);
                    show(&r);
                    row(&name, input, &output, t0, res)
                };
                if r.status == "failed" {
                    bar.suspend(|| {
                        eprintln!("{name}: failed: {}", r.error.as_deref().unwrap_or(""))
                    });
                }
                rows.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    drop(cluster);
    let rows: Vec<Row> = rows
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    report(a, &rows, t_all.elapsed().as_secs_f64())
}

/// Print the table, write the JSON, and say which products failed.
fn report(a: &ManyArgs, rows: &[Row], seconds: f64) -> Result<std::process::ExitCode> {
    let w = rows
        .iter()
        .map(|r| r.product.len())
        .max()
        .unwrap_or(7)
        .max(7);
    outln!(
        "{:<w$}  {:<9} {:>9} {:>10} {:>11}",
        "product",
        "status",
        "seconds",
        "core-s",
        "MB written"
    );
    for r in rows {
        outln!(
            "{:<w$}  {:<9} {:>9.1} {:>10.1} {:>11.1}",
            r.product,
            r.status,
            r.seconds,
            r.core_seconds,
            r.bytes_written as f64 / 1e6
        );
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == "failed")
        .map(|r| r.product.as_str())
        .collect();
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    outln!(
        "{} products in {seconds:.1} s: {} converted, {} resumed, {} skipped (complete), {} failed",
        rows.len(),
        count("converted"),
        count("resumed"),
        count("skipped"),
        failed.len()
    );
    let doc = json!({
        "list": a.list,
        "output_prefix": a.output_prefix,
        "seconds": seconds,
        "products": rows.iter().map(|r| json!({
            "product": r.product,
            "input": r.input,
            "output": r.output,
            "status": r.status,
            "seconds": r.seconds,
            "core_seconds": r.core_seconds,
            "bytes_written": r.bytes_written,
            "error": if r.status == "failed" { json!(r.error) } else { json!(null) },
        })).collect::<Vec<_>>(),
    });
    std::fs::write(&a.report, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("{}: cannot write the report", a.report.display()))?;
    outln!("report: {}", a.report.display());
    if failed.is_empty() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} of {} products failed: {}",
            failed.len(),
            rows.len(),
            failed.join(", ")
        );
        Ok(std::process::ExitCode::FAILURE)
    }
}
