//! A group's coordinates and grid mappings at every level.

use zarrs::array::{ArrayBytes, ArraySubset, CodecOptions};

use super::{codec_options, input_array, output_array, Arr, RunOptions, Stores, TaskStats};
use crate::convert::plan::{GroupPlan, Plan};
use crate::{Error, Result};

pub(super) fn coords(
    plan: &Plan,
    gp: &GroupPlan,
    stores: &Stores,
    ro: RunOptions,
) -> Result<TaskStats> {
    let copts = codec_options(ro);
    let mut stats = TaskStats::default();
    let put =
        |path: &str, f: &dyn Fn(&Arr) -> Result<(), zarrs::array::ArrayError>| -> Result<()> {
            let a = output_array(plan, stores, path)?;
            f(&a).map_err(|e| Error::storage(format!("{}/{path}", stores.output_name), e))
        };
    for (l, lv) in gp.levels.iter().enumerate() {
        if !lv.coords {
            continue;
        }
        let lp = gp.level_path(l);
        for (axis, input) in [("x", &gp.x_input), ("y", &gp.y_input)] {
            let path = format!("{lp}/{axis}");
            if l == 0 && !input.0.is_empty() {
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
pub(super) fn write_spatial_ref(
    plan: &Plan,
    stores: &Stores,
    path: &str,
    copts: &CodecOptions,
) -> Result<()> {
    output_array(plan, stores, path)?
        .store_chunk_opt(&[], vec![0i64], copts)
        .map_err(|e| Error::storage(format!("{}/{path}", stores.output_name), e))
}
