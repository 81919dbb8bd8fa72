//! The plan of a conversion: the output layout (groups, levels, bands,
//! carried arrays, every `zarr.json`) and its DAG of small, serialisable
//! tasks. Built by [`crate::convert::build`]; pure data.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::convert::attrs::DType;
use crate::geo::chunking::{band_chunk, inner_chunk};
use crate::geo::crs::Crs;
use crate::geo::downsample::Resampling;
use crate::geo::grid::Grid;
use crate::Result;

/// Conversion options (the CLI flags of `convert`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Groups to convert (absolute paths); `None` = every resolution group under `/measurements`.
    pub groups: Option<Vec<String>>,
    /// Target chunk edge of band arrays.
    pub spatial_chunk: u64,
    /// Keep adding overview levels while the smaller side is at least this.
    pub min_dimension: u64,
    /// Tile width/height of the tile matrix set.
    pub tile_width: u64,
    /// Carried-over groups that get a `spatial_ref` and `grid_mapping`.
    pub crs_groups: Vec<String>,
    /// Output layout and metadata.
    pub profile: Profile,
    /// Write each chunk as a `sharding_indexed` shard with inner chunks of
    /// about this edge (the largest divisor of the chunk edge not above it).
    pub shard: Option<u64>,
    /// Write CF-packed bands (`scale_factor`/`add_offset`) decoded as
    /// float32 with NaN fill, instead of their stored type.
    pub float32: bool,
}

/// The output profile: layout and metadata conventions of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// GeoZarr 0.4: `{group}/{level}` pyramids with a tile-matrix `multiscales`.
    #[default]
    GeoZarr04,
    /// zarr-conventions `multiscales` v1 + `spatial:` + `proj:`, sibling `r{N}m` levels.
    Conventions,
}

impl Profile {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::GeoZarr04 => "geozarr-0.4",
            Profile::Conventions => "conventions",
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            groups: None,
            spatial_chunk: 4096,
            min_dimension: 256,
            tile_width: 256,
            crs_groups: vec![],
            profile: Profile::GeoZarr04,
            shard: None,
            float32: false,
        }
    }
}

/// One overview level of a converted group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelPlan {
    /// Output group of the level (`measurements/reflectance/r10m/1`, `…/r120m`).
    pub path: String,
    /// Georeferenced grid of the level.
    pub grid: Grid,
    /// Square chunk edge of the level's bands.
    pub chunk: u64,
    /// Cell size relative to the previous level (1 for level 0, which is read from the input).
    pub factor: u64,
    /// Does this group write the level's `x`, `y` and `spatial_ref`? (Several
    /// groups may share a level group; one of them writes its coordinates.)
    pub coords: bool,
    /// Inner chunk edge when each chunk is written as a shard.
    pub inner: Option<u64>,
}

/// One band (data variable) of a converted group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BandPlan {
    /// Array name (`b02`).
    pub name: String,
    /// Input array path.
    pub input: String,
    /// Input `.zarray`, patched so zarrs opens it.
    pub input_meta: Value,
    /// Storage type (kept in the output).
    pub dtype: DType,
    /// Zarr v3 fill value.
    pub fill: Value,
    /// How its coarser levels are made.
    pub rule: Resampling,
    /// Storage type of the input (differs from `dtype` when decoding).
    pub in_dtype: DType,
    /// CF decoding of the input into float32 output (`--dtype float32`).
    pub decode: Option<Decode>,
    /// Sentinel-1: level 0 is the input calibrated and geocoded (chunk tasks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s1: Option<Box<crate::convert::s1::band::S1Band>>,
}

/// CF packing undone: `value = stored · scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decode {
    /// `scale_factor`.
    pub scale: f64,
    /// `add_offset`.
    pub offset: f64,
}

/// A converted (multiscale) group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupPlan {
    /// Path, no leading slash (`measurements/reflectance/r10m`).
    pub path: String,
    /// Native CRS.
    pub crs: Crs,
    /// Levels, 0 = native.
    pub levels: Vec<LevelPlan>,
    /// Bands.
    pub bands: Vec<BandPlan>,
    /// Input `x` / `y` paths and their `.zarray`s.
    pub x_input: (String, Value),
    /// See `x_input`.
    pub y_input: (String, Value),
}

impl LevelPlan {
    /// A level on `grid`, chunked (and sharded) as `opts` say.
    pub fn new(path: String, grid: Grid, factor: u64, coords: bool, opts: &Options) -> Self {
        let chunk = band_chunk(grid.width, grid.height, opts.spatial_chunk);
        LevelPlan {
            path,
            grid,
            chunk,
            factor,
            coords,
            inner: inner_chunk(chunk, opts.shard),
        }
    }
}

impl GroupPlan {
    /// Is this a geocoded (Sentinel-1) group? Its bands always run as chunk
    /// tasks: a level-0 chunk reads only the image block under it.
    pub fn geocoded(&self) -> bool {
        self.bands.iter().any(|b| b.s1.is_some())
    }
    /// Path of level `l`.
    pub fn level_path(&self, l: usize) -> String {
        self.levels[l].path.clone()
    }
    /// Output path of band `b` at level `l`.
    pub fn band_path(&self, b: usize, l: usize) -> String {
        format!("{}/{}", self.levels[l].path, self.bands[b].name)
    }
    /// Output chunks of one band, all levels together.
    pub fn chunks_per_band(&self) -> u64 {
        (0..self.levels.len())
            .map(|l| {
                let (r, c) = self.chunk_grid(l);
                r * c
            })
            .sum()
    }

    /// Chunk grid shape (rows, cols) of level `l`.
    pub fn chunk_grid(&self, l: usize) -> (u64, u64) {
        let lv = &self.levels[l];
        (
            lv.grid.height.div_ceil(lv.chunk),
            lv.grid.width.div_ceil(lv.chunk),
        )
    }
}

/// How a carried-over array is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CarryMode {
    /// Chunk bytes copied unchanged (same codec in v2 and v3).
    Bytes,
    /// Decoded and re-encoded (strings, unusual filters or compressors).
    Reencode,
    /// Not in the input: a `spatial_ref` grid-mapping scalar (value 0) added by `--crs-groups`.
    GridMapping,
}

/// An array carried over unchanged (profile §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarryPlan {
    /// Path (same in input and output).
    pub path: String,
    /// Input `.zarray` (as stored).
    pub input_meta: Value,
    /// How chunks are copied.
    pub mode: CarryMode,
}

/// The output layout of a conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Groups converted to multiscale pyramids.
    pub groups: Vec<GroupPlan>,
    /// Arrays carried over.
    pub carried: Vec<CarryPlan>,
    /// Every output node (path, `zarr.json`), parents first; "" is the root.
    pub nodes: Vec<(String, Value)>,
    /// Arrays skipped because their data type has no Zarr v3 equivalent.
    pub skipped: Vec<String>,
}

/// A unit of work. Tasks are small, serialisable and idempotent: running one
/// twice writes the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// Write every node's `zarr.json` (no consolidated metadata yet).
    Metadata,
    /// Write `x`, `y`, `spatial_ref` of every level of a group.
    Coords {
        /// Index into [`Plan::groups`].
        group: usize,
    },
    /// A whole band pyramid, streamed (each input chunk decoded once).
    Band {
        /// Index into [`Plan::groups`].
        group: usize,
        /// Index into the group's bands.
        band: usize,
    },
    /// One output chunk of one band and level (level 0 reads the input, level L reads level L-1).
    Chunk {
        /// Index into [`Plan::groups`].
        group: usize,
        /// Index into the group's bands.
        band: usize,
        /// Pyramid level (0 = full resolution).
        level: usize,
        /// Chunk row in the level's chunk grid.
        row: u64,
        /// Chunk column in the level's chunk grid.
        col: u64,
    },
    /// Copy one carried-over array.
    Carry {
        /// Index into [`Plan::carried`].
        index: usize,
    },
    /// Write consolidated metadata (the last task: marks the store complete).
    Consolidate,
}

impl Task {
    /// Tasks that read the same chunks share a non-zero affinity (one per
    /// band), so a scheduler can keep them on one worker; 0 for the rest.
    pub fn affinity(&self) -> u32 {
        match *self {
            Task::Band { group, band } | Task::Chunk { group, band, .. } => {
                1 + ((group as u32) << 16 | band as u32)
            }
            _ => 0,
        }
    }
}

/// A task and the tasks it waits for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The work.
    pub task: Task,
    /// Indices of the tasks that must finish first.
    pub deps: Vec<usize>,
}

/// How finely band work is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One streaming task per band (in-process default: decode once, bounded memory).
    Band,
    /// One task per output chunk and level (for spreading one band over many workers).
    Chunk,
}

/// The values of a 1-D coordinate array of the input, by path. Planning
/// reads nothing itself: the caller reads coordinates (from the store, see
/// [`crate::product::Product::read_1d`]) or, in tests, hands them in.
pub type Coords<'a> = dyn Fn(&str) -> Result<Vec<f64>> + 'a;

impl Plan {
    /// The `zarr.json` planned for `path`.
    pub fn node(&self, path: &str) -> Option<&Value> {
        self.nodes.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    /// Output chunks of every band at every level.
    pub fn band_chunks(&self) -> u64 {
        self.groups
            .iter()
            .map(|g| g.chunks_per_band() * g.bands.len() as u64)
            .sum()
    }

    /// The task DAG. Task 0 writes metadata; the last task consolidates.
    pub fn tasks(&self, granularity: Granularity) -> Vec<TaskSpec> {
        let mut t = vec![TaskSpec {
            task: Task::Metadata,
            deps: vec![],
        }];
        for g in 0..self.groups.len() {
            t.push(TaskSpec {
                task: Task::Coords { group: g },
                deps: vec![0],
            });
        }
        // carried arrays first: their copies (I/O) overlap the band work
        for i in 0..self.carried.len() {
            t.push(TaskSpec {
                task: Task::Carry { index: i },
                deps: vec![0],
            });
        }
        // biggest bands first so small ones fill the tail
        let mut bands: Vec<(usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, gp)| (0..gp.bands.len()).map(move |b| (g, b)))
            .collect();
        bands.sort_by_key(|&(g, _)| {
            std::cmp::Reverse(
                self.groups[g].levels[0].grid.width * self.groups[g].levels[0].grid.height,
            )
        });
        for (g, b) in bands {
            match granularity {
                _ if self.groups[g].geocoded() => self.chunk_tasks(g, b, &mut t),
                Granularity::Band => t.push(TaskSpec {
                    task: Task::Band { group: g, band: b },
                    deps: vec![0],
                }),
                Granularity::Chunk => self.chunk_tasks(g, b, &mut t),
            }
        }
        let all: Vec<usize> = (0..t.len()).collect();
        t.push(TaskSpec {
            task: Task::Consolidate,
            deps: all,
        });
        t
    }

    fn chunk_tasks(&self, g: usize, b: usize, t: &mut Vec<TaskSpec>) {
        let gp = &self.groups[g];
        let mut prev: Vec<Vec<usize>> = vec![];
        for (l, lv) in gp.levels.iter().enumerate() {
            let (rows, cols) = gp.chunk_grid(l);
            let mut ids = vec![vec![0usize; cols as usize]; rows as usize];
            for row in 0..rows {
                for col in 0..cols {
                    let deps = if l == 0 {
                        vec![0]
                    } else {
                        let pl = &gp.levels[l - 1];
                        let (prow_n, pcol_n) = gp.chunk_grid(l - 1);
                        let span = |i: u64, n_parent: u64, size_parent: u64| {
                            let k = lv.factor;
                            let a = (k * i * lv.chunk) / pl.chunk;
                            let end = (k * (i + 1) * lv.chunk).min(size_parent);
                            let b = end.div_ceil(pl.chunk).min(n_parent);
                            a..b
                        };
                        let mut d = vec![];
                        for pr in span(row, prow_n, pl.grid.height) {
                            for pc in span(col, pcol_n, pl.grid.width) {
                                d.push(prev[pr as usize][pc as usize]);
                            }
                        }
                        d
                    };
                    ids[row as usize][col as usize] = t.len();
                    t.push(TaskSpec {
                        task: Task::Chunk {
                            group: g,
                            band: b,
                            level: l,
                            row,
                            col,
                        },
                        deps,
                    });
                }
            }
            prev = ids;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::build::build;
    use crate::product::{ArrayNode, GroupNode, Node, Product};
    use crate::Error;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A product held in memory: one 10 m group of two bands, x and y.
    fn product() -> Product {
        let arr = |shape: Vec<u64>, dtype: &str, attrs: Value| {
            Node::Array(ArrayNode {
                meta: json!({"zarr_format": 2, "shape": shape, "chunks": shape, "dtype": dtype,
                    "fill_value": 0, "order": "C", "compressor": null, "filters": null}),
                attrs: attrs.as_object().cloned().unwrap_or_default(),
            })
        };
        let band = json!({"_ARRAY_DIMENSIONS": ["y", "x"], "proj:epsg": 32632});
        let mut nodes = BTreeMap::new();
        for g in ["", "measurements", "measurements/r10m"] {
            nodes.insert(g.to_string(), Node::Group(GroupNode::default()));
        }
        let g = "measurements/r10m";
        nodes.insert(format!("{g}/b02"), arr(vec![40, 60], "<u2", band.clone()));
        nodes.insert(format!("{g}/b03"), arr(vec![40, 60], "<u2", band));
        nodes.insert(
            format!("{g}/x"),
            arr(vec![60], "<f8", json!({"_ARRAY_DIMENSIONS": ["x"]})),
        );
        nodes.insert(
            format!("{g}/y"),
            arr(vec![40], "<f8", json!({"_ARRAY_DIMENSIONS": ["y"]})),
        );
        Product {
            location: "mem".into(),
            nodes,
        }
    }

    #[test]
    fn plans_from_coordinates_handed_in_without_a_store() {
        let asked = Mutex::new(vec![]);
        let coords = |p: &str| -> Result<Vec<f64>> {
            asked.lock().unwrap().push(p.to_string());
            Ok(if p.ends_with("/x") {
                (0..60)
                    .map(|i| 600_000.0 + 10.0 * (i as f64 + 0.5))
                    .collect()
            } else {
                (0..40)
                    .map(|j| 5_000_000.0 - 10.0 * (j as f64 + 0.5))
                    .collect()
            })
        };
        let opts = Options {
            spatial_chunk: 32,
            min_dimension: 10,
            ..Default::default()
        };
        let plan = build(&product(), &coords, &opts).unwrap();
        assert_eq!(
            *asked.lock().unwrap(),
            ["measurements/r10m/x", "measurements/r10m/y"]
        );
        let g = &plan.groups[0];
        assert_eq!(g.path, "measurements/r10m");
        assert_eq!(g.bands.len(), 2);
        // 60×40 → 30×20 → 15×10, then the smaller side would drop below 10
        let sizes: Vec<(u64, u64)> = g
            .levels
            .iter()
            .map(|l| (l.grid.width, l.grid.height))
            .collect();
        assert_eq!(sizes, [(60, 40), (30, 20), (15, 10)]);
        assert!(plan
            .nodes
            .iter()
            .any(|(p, _)| p == "measurements/r10m/2/b03"));
        let tasks = plan.tasks(Granularity::Band);
        assert_eq!(
            tasks
                .iter()
                .filter(|t| matches!(t.task, Task::Band { .. }))
                .count(),
            2
        );
        // coordinates that do not fit the bands are an input error, not a panic
        let short = |_: &str| -> Result<Vec<f64>> { Ok(vec![0.0; 3]) };
        assert!(build(&product(), &short, &opts).is_err());
        let failing = |p: &str| -> Result<Vec<f64>> { Err(Error::input(p, "unreadable")) };
        let e = build(&product(), &failing, &opts).unwrap_err().to_string();
        assert!(e.contains("measurements/r10m/x: unreadable"), "{e}");
    }
}
