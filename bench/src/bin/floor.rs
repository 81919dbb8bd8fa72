//! The transcode floor: the least work any converter must do for the
//! reflectance bands of a product — decode every input chunk once, build
//! each overview level by 2×2 averaging, encode every output chunk once with
//! our output codecs, on all cores. No streaming, no metadata, no resume,
//! no carry-over: whole bands are held in memory. Our converter's wall time
//! is reported as a ratio of this one.
//!
//! Usage: `transcode-floor INPUT OUTPUT_DIR [GROUP…]` (default: the three
//! `measurements/reflectance/r{10,20,60}m` groups).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use zarrs::array::{ArraySubset, CodecOptions};

use geozarr_core::convert::plan::{self, GroupPlan, Plan};
use geozarr_core::convert::task::{input_array, output_array, Stores};
use geozarr_core::geo::downsample::downsample;
use geozarr_core::product::Product;
use geozarr_core::store::{self, Location};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn band(plan: &Plan, gp: &GroupPlan, b: usize, stores: &Stores) -> Result<u64> {
    let bp = &gp.bands[b];
    let copts = CodecOptions::default().with_store_empty_chunks(true);
    let input = input_array(&bp.input_meta, stores, &bp.input)?;
    let shape = input.shape().to_vec();
    // decode every input chunk once, in parallel, into one array
    let mut data: Vec<u16> = input
        .retrieve_array_subset_opt(
            &ArraySubset::new_with_shape(shape.clone()),
            &copts.with_concurrent_target(rayon::current_num_threads()),
        )
        .with_context(|| format!("decoding {}", bp.input))?;
    let (mut h, mut w) = (shape[0] as usize, shape[1] as usize);
    let fill = bp.input_meta["fill_value"].as_f64().map(|f| f as u16);
    let mut chunks = 0;
    for (l, lv) in gp.levels.iter().enumerate() {
        if l > 0 {
            data = downsample(&data, h, w, fill);
            (h, w) = (h.div_ceil(2), w.div_ceil(2));
        }
        assert_eq!((h as u64, w as u64), (lv.grid.height, lv.grid.width));
        let out = output_array(plan, stores, &gp.band_path(b, l))?;
        let c = lv.chunk as usize;
        let (rows, cols) = gp.chunk_grid(l);
        let idx: Vec<(u64, u64)> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .collect();
        idx.par_iter().try_for_each(|&(r, cc)| -> Result<()> {
            // copy the chunk out (padding edges), then encode it in place
            let mut chunk = Vec::with_capacity(c * c);
            let (r0, c0) = (r as usize * c, cc as usize * c);
            let n = c.min(w - c0);
            for y in 0..c.min(h - r0) {
                chunk.extend_from_slice(&data[(r0 + y) * w + c0..(r0 + y) * w + c0 + n]);
                chunk.resize((y + 1) * c, 0);
            }
            chunk.resize(c * c, 0);
            out.store_chunk_opt(&[r, cc], &chunk, &copts)?;
            Ok(())
        })?;
        chunks += rows * cols;
    }
    Ok(chunks)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        bail!("usage: transcode-floor INPUT OUTPUT_DIR [GROUP…]");
    }
    let groups = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        ["r10m", "r20m", "r60m"]
            .map(|r| format!("/measurements/reflectance/{r}"))
            .to_vec()
    };
    let t0 = Instant::now();
    let input = store::open_input(&Location::parse(&args[0])?)?;
    let output = store::open_output(&Location::parse(&args[1])?)?;
    let product = Product::open(&input, &args[0])?;
    let opts = plan::Options {
        groups: Some(groups),
        ..Default::default()
    };
    let plan =
        geozarr_core::convert::build::build(&product, &|p| product.read_1d(&input, p), &opts)?;
    let stores = Stores {
        input,
        output,
        input_name: args[0].clone(),
        output_name: args[1].clone(),
        progress: None,
        cancel: Default::default(),
        cache: None,
        direct: Default::default(),
    };
    let jobs: Vec<(usize, usize)> = plan
        .groups
        .iter()
        .enumerate()
        .flat_map(|(g, gp)| (0..gp.bands.len()).map(move |b| (g, b)))
        .collect();
    let chunks: u64 = jobs
        .par_iter()
        .map(|&(g, b)| band(&plan, &plan.groups[g], b, &stores))
        .sum::<Result<u64>>()?;
    println!(
        "transcode floor: {} bands, {chunks} chunks in {:.2} s",
        jobs.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
