//! Arrays carried over unchanged: chunk bytes copied (file to file when
//! both stores are local), or decoded and re-encoded (strings, codecs the
//! output does not keep).

use std::sync::atomic::Ordering;

use zarrs::array::ArrayBytes;

use super::coords::write_spatial_ref;
use super::{
    codec_options, input_array, output_array, v3_chunk_key, RunOptions, Stores, TaskStats,
};
use crate::convert::plan::{CarryMode, Plan};
use crate::product::u64_list;
use crate::store;
use crate::{Error, Result};

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

pub(super) fn carry(
    plan: &Plan,
    index: usize,
    stores: &Stores,
    ro: RunOptions,
) -> Result<TaskStats> {
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
            // chunk by chunk, up to 16 in flight: a remote store answers
            // each small request after a round trip
            let copied = store::par_io(&indices(), |idx| -> Result<Option<bool>> {
                let ok = out_key(idx);
                if ro.skip_existing && store::size(&stores.output, &ok)?.is_some() {
                    return Ok(None);
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
                    }
                    Ok(Some(copied.is_some()))
                } else if let Some(bytes) = store::get(&stores.input, &ik)? {
                    store::put(&stores.output, &ok, bytes)?;
                    Ok(Some(true))
                } else {
                    Ok(Some(false))
                }
            })?;
            for c in copied {
                match c {
                    None => stats.chunks_skipped += 1,
                    Some(true) => stats.chunks_written += 1,
                    Some(false) => {}
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
