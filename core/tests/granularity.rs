//! The same plan run as streamed band tasks and as single-chunk tasks (level
//! L read back from level L-1, as distributed workers will do) writes
//! byte-identical stores; the DAG orders every chunk after its parents.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use geozarr_core::convert::plan::{Granularity, Options, Task};
use geozarr_core::convert::{convert, ConvertOptions, NoProgress};
use geozarr_synth::{synthesize, SynthOptions, DEFAULT_SCHEMA};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn band_and_chunk_tasks_write_identical_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synthesize(
        DEFAULT_SCHEMA,
        &input,
        &SynthOptions {
            scale: 8,
            ..Default::default()
        },
    )
    .unwrap();
    // small chunks so every level has several chunks and odd edges
    let plan = Options {
        spatial_chunk: 200,
        min_dimension: 64,
        ..Default::default()
    };
    let mut outs = vec![];
    for (name, granularity, threads) in [
        ("band", Granularity::Band, 2),
        ("chunk", Granularity::Chunk, 2),
        ("chunk1", Granularity::Chunk, 1),
    ] {
        let out = tmp.path().join(name);
        let opts = ConvertOptions {
            plan: plan.clone(),
            granularity,
            threads,
            ..Default::default()
        };
        let s = convert(
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            &opts,
            Arc::new(NoProgress),
        )
        .unwrap();
        // every band chunk written (plus coordinates and carried-over chunks), none skipped
        assert!(
            s.stats.chunks_written > s.band_chunks,
            "{name}: {:?}",
            s.stats
        );
        assert_eq!(s.stats.chunks_skipped, 0);
        outs.push(files(&out));
    }
    let band_chunks = outs[0]
        .keys()
        .filter(|k| k.starts_with("measurements/") && k.contains("/c/"))
        .count();
    assert!(
        band_chunks > 100,
        "expected many band chunks, got {band_chunks}"
    );
    assert_eq!(
        outs[0].keys().collect::<Vec<_>>(),
        outs[1].keys().collect::<Vec<_>>()
    );
    for (k, v) in &outs[0] {
        assert!(v == &outs[1][k], "{k} differs between band and chunk tasks");
        assert!(v == &outs[2][k], "{k} differs between 2 threads and 1");
    }
}

#[test]
fn chunk_dag_orders_levels() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synthesize(
        DEFAULT_SCHEMA,
        &input,
        &SynthOptions {
            scale: 16,
            ..Default::default()
        },
    )
    .unwrap();
    let store = geozarr_core::store::open_input(
        &geozarr_core::store::Location::parse(input.to_str().unwrap()).unwrap(),
    )
    .unwrap();
    let product = geozarr_core::product::Product::open(&store, "in").unwrap();
    let plan = geozarr_core::convert::build::build(
        &product,
        &|p| product.read_1d(&store, p),
        &Options {
            spatial_chunk: 100,
            min_dimension: 32,
            ..Default::default()
        },
    )
    .unwrap();
    let tasks = plan.tasks(Granularity::Chunk);
    assert_eq!(tasks[0].task, Task::Metadata);
    assert_eq!(tasks.last().unwrap().task, Task::Consolidate);
    assert_eq!(tasks.last().unwrap().deps.len(), tasks.len() - 1);
    let mut n = 0;
    for (i, t) in tasks.iter().enumerate() {
        assert!(
            t.deps.iter().all(|&d| d < i),
            "task {i} depends on a later task"
        );
        if let Task::Chunk {
            group,
            band,
            level,
            row,
            col,
        } = t.task
        {
            n += 1;
            if level == 0 {
                assert_eq!(t.deps, vec![0]);
                continue;
            }
            // parents: chunks of level-1, same band, covering rows/cols 2x this chunk
            let g = &plan.groups[group];
            let (c, pc) = (g.levels[level].chunk, g.levels[level - 1].chunk);
            assert!(!t.deps.is_empty() && t.deps.len() <= 9);
            for &d in &t.deps {
                let Task::Chunk {
                    group: g2,
                    band: b2,
                    level: l2,
                    row: r2,
                    col: c2,
                } = tasks[d].task
                else {
                    panic!("parent is not a chunk")
                };
                assert_eq!((g2, b2, l2), (group, band, level - 1));
                assert!(r2 * pc < 2 * (row + 1) * c && (r2 + 1) * pc > 2 * row * c);
                assert!(c2 * pc < 2 * (col + 1) * c && (c2 + 1) * pc > 2 * col * c);
            }
        }
    }
    let expected = plan.band_chunks();
    assert_eq!(n as u64, expected);
}

/// Chunk tasks run in one process with a shared cache decode every input
/// chunk exactly once, although input and output chunk grids differ, and
/// read every level back from memory, not from the store.
#[test]
fn chunk_tasks_with_a_cache_decode_each_input_chunk_once() {
    use geozarr_core::convert::cache::{CacheRef, ChunkCache};
    use geozarr_core::convert::task::{run, RunOptions, Stores};
    use geozarr_core::product::u64_list;
    use geozarr_core::store::{open_input, Location, Store};

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synthesize(
        DEFAULT_SCHEMA,
        &input,
        &SynthOptions {
            scale: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let store = open_input(&Location::parse(input.to_str().unwrap()).unwrap()).unwrap();
    let product = geozarr_core::product::Product::open(&store, "in").unwrap();
    let plan = geozarr_core::convert::build::build(
        &product,
        &|p| product.read_1d(&store, p),
        &Options {
            spatial_chunk: 200,
            min_dimension: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output: Store = Arc::new(geozarr_core::store::local::LocalStore::new(&out_dir).unwrap());
    let cache = Arc::new(ChunkCache::new(1 << 30));
    let stores = Stores {
        input: store,
        output,
        input_name: "in".into(),
        output_name: "out".into(),
        progress: None,
        cancel: Default::default(),
        cache: Some(CacheRef {
            cache: cache.clone(),
            scope: 1,
        }),
        direct: Default::default(),
    };
    let mut input_chunks = 0;
    let mut straddling = false;
    for gp in &plan.groups {
        for b in &gp.bands {
            let (shape, chunks) = (
                u64_list(&b.input_meta["shape"]),
                u64_list(&b.input_meta["chunks"]),
            );
            input_chunks += shape[0].div_ceil(chunks[0]) * shape[1].div_ceil(chunks[1]);
            straddling |= chunks[0] % gp.levels[0].chunk != 0;
        }
    }
    assert!(
        straddling,
        "the test needs input chunks that output chunks straddle"
    );
    for t in plan.tasks(Granularity::Chunk) {
        if t.task != Task::Consolidate {
            run(&plan, &t.task, &stores, RunOptions::default()).unwrap();
        }
    }
    assert_eq!(cache.decodes(), input_chunks, "one decode per input chunk");
    assert!(
        cache.hits() > input_chunks,
        "shared reads: {}",
        cache.hits()
    );
    assert_eq!(
        cache.held_bytes(),
        0,
        "every chunk released after its last read"
    );
}
