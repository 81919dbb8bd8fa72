"""Render web-mercator tiles of a `conventions`-profile store with
titiler-eopf's own reader and check every tile pixel against the values
stored at the multiscale level titiler chose.

usage: titiler_check.py STORE GROUP VARIABLE [--zooms LO,HI] [--json]
                        [--expected-from REF] [--self-test]

STORE is a local path (titiler-eopf's reader turns a path without a scheme
into a file:// URL and opens it with xarray.open_datatree over obstore,
exactly as it opens s3:// or https:// stores). GROUP is the multiscale group
(e.g. /measurements/reflectance), VARIABLE a band of it (e.g. b02).

For each of two zooms (default, see pick_zooms: the smallest zoom at which
titiler reads the finest level, and the largest at which it reads a level at
least halfway down the ladder) the tile with the largest part inside the data
is rendered by GeoZarrReader.tile(..., reproject_method="nearest",
resampling_method="nearest"); the level titiler picked is taken from its own
log line. Each tile pixel is then traced back: its sample position
(EPSG:3857) is projected (pyproj) into the level's CRS and through the
inverse of the level's `spatial:transform` (the level group's, else the
layout entry's, as titiler takes it; else derived from the level's x/y
pixel-centre coordinates) to a fractional (row, col), and compared with the
value stored there, read with zarr-python and CF-decoded (value *
scale_factor + add_offset; _FillValue and NaN are no-data), because titiler
opens the store with xarray's default mask_and_scale=True and renders decoded
floats.

The sample positions are those titiler really used: rio-tiler (9.4) warps
onto a grid of round(tile extent / level resolution) pixels of the level's
resolution anchored at the tile's top-left, which is not exactly the tile
(its pixels are off the tile's pixel centres by up to about half a level
pixel, more when it upsamples), then resizes that grid to the tile with
nearest. WarpSpy records that grid; the output reports how far it is from the
tile's pixel centres and how many pixels would differ there. If it cannot be
observed, a tolerance box covering that error is used instead.
Each tile pixel's candidates are the stored pixels within GDAL's approximate
transformer error (0.125 pixel, +0.01) of its sample position: one pixel for
about half of them, two or four near pixel edges ("with a single possible
value" counts those whose candidates all hold one value).
A tile pixel fails when
- its value is not the decoded value of any candidate (value mismatch), or
- titiler has no data there (masked or NaN) though every candidate has data,
- titiler has data though every candidate is no-data or outside the level.
titiler's tiles carry no-data as NaN *unmasked* (rio-tiler reprojects its
mask with dst_nodata=0 and GDAL turns masked 0 into 1), so NaN counts as
no-data here.

Also checked: the level's x/y coordinates are the pixel centres of the
transform titiler uses (else titiler and xarray users place the data
differently).

--expected-from REF reads the expected values from REF (same layout) instead
of STORE. --self-test proves the comparison can fail: STORE is copied, one
stored value read by a single-candidate pixel of the high-zoom tile is
changed in the copy (zarr-python), the tile is rendered from the copy and
checked against STORE; the self-test fails unless that is reported as a
mismatch.

Exit status: 0 all pixels match, 1 any mismatch or inconsistency (or a
self-test the check did not catch), 2 the reader fails (opening, listing,
or rendering the variable at a zoom within titiler's own zoom range).
"""
import argparse
import base64
import json
import logging
import math
import os
import re
import shutil
import struct
import sys
import tempfile
import traceback
import warnings

import numpy as np

warnings.filterwarnings("ignore")
logging.getLogger("rasterio").setLevel(logging.ERROR)

import zarr  # noqa: E402
from morecantile import Tile  # noqa: E402
from pyproj import CRS, Transformer  # noqa: E402

from titiler.eopf.reader import GeoZarrReader  # noqa: E402

try:  # observe the grid rio-tiler really warps onto (see WarpSpy)
    import rio_tiler._warp as _rt_warp
except ImportError:  # pragma: no cover
    _rt_warp = None

TILESIZE = 256
GDAL_APPROX = 0.125  # rasterio's default warp tolerance, in source pixels
SLACK = 0.01


# --- titiler's level choice, from its own log -------------------------------
class LevelLog(logging.Handler):
    pat = re.compile(r"Multiscale - selecting group (\S+) with scale (\S+) and variable (\S+)")

    def __init__(self):
        super().__init__(logging.INFO)
        self.levels = []

    def emit(self, record):
        m = self.pat.search(record.getMessage())
        if m:
            self.levels.append(m.group(2))


LOG = LevelLog()
_tlog = logging.getLogger("titiler.eopf.reader")
_tlog.setLevel(logging.INFO)
_tlog.addHandler(LOG)
_tlog.propagate = False


class WarpSpy:
    """Records the grids of rio-tiler's reproject calls (its warp reprojects the
    data, then the mask, onto an intermediate grid per output block, then
    resizes to the tile). That grid is not exactly the tile's: rio-tiler sizes
    it round(extent / native resolution) pixels of the native resolution from
    the tile's top-left, so it is up to half an intermediate pixel shorter or
    longer than the tile. The check maps the positions titiler really sampled."""

    def __init__(self):
        self.calls = []
        self.orig = getattr(_rt_warp, "reproject", None)
        if self.orig is not None:
            _rt_warp.reproject = self

    def __call__(self, source, destination, **kw):
        self.calls.append({"src_shape": source.shape, "src_transform": kw.get("src_transform"),
                           "dst_shape": destination.shape, "dst_transform": kw.get("dst_transform")})
        return self.orig(source, destination, **kw)

    def grid(self):
        """(dst_transform, (h, w), src_transform) of the data reprojection of the
        last render, or None."""
        if len(self.calls) != 2:  # one block: data, then mask (no alpha band here)
            return None
        c = self.calls[0]
        return c["dst_transform"], tuple(c["dst_shape"][-2:]), c["src_transform"]


SPY = WarpSpy()


# --- stored values ----------------------------------------------------------
def cf_fill(attrs, dtype):
    """The _FillValue as xarray reads it from a Zarr v3 array (base64 '<d' for floats)."""
    fv = attrs.get("_FillValue", attrs.get("missing_value"))
    if isinstance(fv, str):
        fv = struct.unpack("<d", base64.standard_b64decode(fv))[0]
    return fv


class Level:
    """One multiscale level of GROUP: its grid (as titiler sees it) and VARIABLE."""

    def __init__(self, root, group, entry, variable):
        g = root[group.strip("/")]
        self.name = entry["asset"]
        node = g[self.name]
        la = dict(node.attrs)
        ga = dict(g.attrs)
        if "spatial:transform" in la:
            t, self.transform_from = la["spatial:transform"], "level spatial:transform"
        elif "spatial:transform" in entry:
            t, self.transform_from = entry["spatial:transform"], "layout spatial:transform"
        else:
            t, self.transform_from = None, "x/y coordinates"
        self.coords = {}
        for d in ("x", "y"):
            if d in node and getattr(node[d], "ndim", 0) == 1:
                self.coords[d] = node[d][:].astype(np.float64)
        if t is None:
            x, y = self.coords["x"], self.coords["y"]
            ax, ey = x[1] - x[0], y[1] - y[0]
            t = [ax, 0.0, x[0] - ax / 2, 0.0, ey, y[0] - ey / 2]
        self.t = [float(v) for v in t[:6]]
        crs = next((s.get(k) for s in (la, ga) for k in ("proj:code", "proj:wkt2", "proj:projjson") if k in s), None)
        self.crs = CRS.from_user_input(crs)
        self.has_var = variable in node
        self.arr = node[variable] if self.has_var else None
        if self.has_var:
            a = dict(self.arr.attrs)
            self.scale = a.get("scale_factor")
            self.offset = a.get("add_offset")
            self.fill = cf_fill(a, self.arr.dtype)
            self.shape = self.arr.shape[-2:]
            self.dtype = str(self.arr.dtype)

    @property
    def res(self):
        return math.hypot(self.t[0], self.t[3]), math.hypot(self.t[1], self.t[4])

    def to_rowcol(self, X, Y):
        a, b, c, d, e, f = self.t
        det = a * e - b * d
        dx, dy = X - c, Y - f
        return (a * dy - d * dx) / det, (e * dx - b * dy) / det  # row, col

    def coord_issues(self):
        """x/y coordinates that are not the pixel centres of the transform."""
        out = []
        a, b, c, d, e, f = self.t
        for dim, v in self.coords.items():
            i = np.arange(len(v)) + 0.5
            want = c + a * i if dim == "x" else f + e * i
            n = self.shape[1] if dim == "x" else self.shape[0]
            step = abs(a) if dim == "x" else abs(e)
            err = float(np.abs(v - want).max() / step) if len(v) == n else float("inf")
            if not err < 1e-6:
                out.append(f"{self.name}/{dim}: {len(v)} values, up to {err:.4g} pixel from the "
                           f"{self.transform_from} centres (grid {self.shape})")
        return out

    def read(self, r0, r1, c0, c1):
        """Decoded values of rows r0:r1, cols c0:c1 (float64, NaN = no data), and raw."""
        raw = np.asarray(self.arr[..., r0:r1, c0:c1])
        while raw.ndim > 2:
            raw = raw[0]
        v = raw.astype(np.float64)
        nodata = np.zeros(v.shape, bool)
        if self.fill is not None:
            nodata |= (raw == self.fill) | (np.isnan(v) & bool(np.isnan(self.fill)))
        nodata |= np.isnan(v)
        if self.scale is not None:
            v = v * self.scale
        if self.offset is not None:
            v = v + self.offset
        v[nodata] = np.nan
        return v, raw


def open_levels(store, group, variable):
    root = zarr.open_group(store, mode="r")
    g = root[group.strip("/")]
    layout = dict(g.attrs)["multiscales"]["layout"]
    return {e["asset"]: Level(root, group, e, variable) for e in layout}, [e["asset"] for e in layout]


# --- tiles ------------------------------------------------------------------
def pixel_centres(tms, tile):
    w, s, e, n = tms.xy_bounds(tile)
    j = np.arange(TILESIZE) + 0.5
    X = w + j * (e - w) / TILESIZE
    Y = n - j * (n - s) / TILESIZE
    X, Y = np.meshgrid(X, Y)
    return X, Y, (e - w) / TILESIZE


def coverage(tms, tile, level, to_src):
    """Fraction of the tile inside the level's grid (32x32 sample)."""
    w, s, e, n = tms.xy_bounds(tile)
    j = (np.arange(32) + 0.5) / 32
    X, Y = np.meshgrid(w + j * (e - w), n - j * (n - s))
    x, y = to_src.transform(X, Y)
    r, c = level.to_rowcol(x, y)
    inside = (r >= 0) & (r < level.shape[0]) & (c >= 0) & (c < level.shape[1])
    return float(inside.mean())


def best_tile(tms, z, lon, lat, level, to_src):
    t0 = tms.tile(lon, lat, z)
    best = None
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            t = Tile(t0.x + dx, t0.y + dy, z)
            cov = coverage(tms, t, level, to_src)
            if best is None or cov > best[1] + 1e-9:
                best = (t, cov)
    return best


def resampling_model(tms, tile, level, to_src):
    """How rio-tiler warps this tile from this level: 'direct' when the level is
    at least as fine as the tile (reprojected straight onto a tile-sized grid),
    else 'upsampled' (reprojected onto a grid at the level's resolution, then a
    nearest resize to the tile). Returns (model, estimated grid pixels)."""
    X, Y, px = pixel_centres(tms, tile)
    x0, y0 = to_src.transform(X[0, 0], Y[0, 0])
    x1, y1 = to_src.transform(X[-1, -1], Y[-1, -1])
    tile_res_src = math.hypot(x1 - x0, y1 - y0) / math.hypot(TILESIZE - 1, TILESIZE - 1)
    native = tile_res_src * TILESIZE / min(level.res)
    if native >= TILESIZE * 1.05:  # margin for rio-tiler's own estimate
        return "direct", TILESIZE
    return "upsampled", max(1, round(native))


def sample_ranges(level, tms, tile, to_src, grid):
    """Per tile pixel: the range of fractional (row, col) positions in the level
    titiler may have sampled, from the warp grid it really used (grid, see
    WarpSpy) or, if not observed, a box covering rio-tiler's grid error.
    Also the (row, col) of the tile pixel centres, and a description."""
    X, Y, px = pixel_centres(tms, tile)
    x, y = to_src.transform(X, Y)
    r_c, c_c = level.to_rowcol(x, y)
    rs, cs = [], []
    if grid is not None:
        dt, (h, w), _ = grid
        k = np.arange(TILESIZE) + 0.5

        def idx(n):  # nearest resize n -> TILESIZE (GDAL: floor((k + 0.5) * n / size)); a tie may go either way
            v = k * n / TILESIZE
            return [np.clip(np.floor(v + e).astype(int), 0, n - 1) for e in (-1e-9, 1e-9)]

        for ri in idx(h):
            for ci in idx(w):
                CI, RI = np.meshgrid(ci + 0.5, ri + 0.5)
                xx, yy = to_src.transform(dt.c + CI * dt.a + RI * dt.b, dt.f + CI * dt.d + RI * dt.e)
                rr, cc = level.to_rowcol(xx, yy)
                rs.append(rr)
                cs.append(cc)
        how = f"observed warp grid {h}x{w}" + (" then nearest resize" if (h, w) != (TILESIZE, TILESIZE) else "")
    else:
        model, n = resampling_model(tms, tile, level, to_src)
        ipx = TILESIZE * px / n  # its grid pixel, in 3857 units
        I, J = np.meshgrid(np.arange(TILESIZE) + 0.5, np.arange(TILESIZE) + 0.5, indexing="ij")
        hx = 1.05 * (0.5 * ipx * J / TILESIZE + (0.5 * ipx if model == "upsampled" else 0))
        hy = 1.05 * (0.5 * ipx * I / TILESIZE + (0.5 * ipx if model == "upsampled" else 0))
        for sx in (-1, 1):
            for sy in (-1, 1):
                xx, yy = to_src.transform(X + sx * hx, Y + sy * hy)
                rr, cc = level.to_rowcol(xx, yy)
                rs.append(rr)
                cs.append(cc)
        how = f"warp grid not observed: {model} tolerance box"
    rmin, rmax = np.minimum.reduce(rs), np.maximum.reduce(rs)
    cmin, cmax = np.minimum.reduce(cs), np.maximum.reduce(cs)
    return (rmin, rmax, cmin, cmax), (r_c, c_c), how


def evaluate(data, got_nodata, level, ranges, tol):
    """Tile pixels vs the decoded stored values of every level pixel within tol
    of the sampled range."""
    rmin, rmax, cmin, cmax = ranges
    r0, r1 = np.floor(rmin - tol).astype(int), np.floor(rmax + tol).astype(int)
    c0, c1 = np.floor(cmin - tol).astype(int), np.floor(cmax + tol).astype(int)
    H, W = level.shape
    rlo, rhi = max(0, int(r0.min())), min(H, int(r1.max()) + 1)
    clo, chi = max(0, int(c0.min())), min(W, int(c1.max()) + 1)
    if rlo < rhi and clo < chi:
        vals, raw = level.read(rlo, rhi, clo, chi)
    else:
        vals = raw = np.zeros((0, 0))
    span_r, span_c = int((r1 - r0).max()) + 1, int((c1 - c0).max()) + 1
    scaled = level.scale is not None or level.offset is not None
    z = np.zeros(data.shape, bool)
    any_nodata, any_valid, match, match_raw, distinct = z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
    ncand = np.zeros(data.shape, int)
    first = np.full(data.shape, np.nan)
    for dr in range(span_r):
        for dc in range(span_c):
            rr, cc = r0 + dr, c0 + dc
            use = (rr <= r1) & (cc <= c1)
            inside = use & (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
            v = np.full(data.shape, np.nan)
            rv = np.full(data.shape, np.nan)
            if vals.size:
                ri = np.clip(rr - rlo, 0, vals.shape[0] - 1)
                ci = np.clip(cc - clo, 0, vals.shape[1] - 1)
                v = np.where(inside, vals[ri, ci], np.nan)
                rv = np.where(inside, raw[ri, ci].astype(np.float64), np.nan)
            valid = use & ~np.isnan(v)
            any_nodata |= use & np.isnan(v)
            any_valid |= valid
            ok = np.abs(data - v) <= 1e-6 * np.maximum(1.0, np.abs(v)) if scaled else data == v
            match |= valid & ok
            match_raw |= valid & (data == rv)
            distinct |= valid & ~np.isnan(first) & (v != first)
            first = np.where(np.isnan(first) & valid, v, first)
            ncand += use.astype(int)
    value_bad = ~got_nodata & any_valid & ~match
    masked_bad = got_nodata & ~any_nodata
    valid_bad = ~got_nodata & ~any_valid
    compared = ~got_nodata & any_valid
    return {"bad": value_bad | masked_bad | valid_bad, "value_bad": value_bad, "masked_bad": masked_bad,
            "valid_bad": valid_bad, "compared": compared, "nodata_both": got_nodata & any_nodata,
            "single": compared & (ncand == 1), "strict": compared & ~distinct & ~any_nodata,
            "match_raw": compared & match_raw, "r0": r0, "r1": r1, "c0": c0, "c1": c1,
            "vals": vals, "rlo": rlo, "clo": clo}


def compare(img, level, tms, tile, to_src, grid, max_examples=5):
    """Tile pixels vs stored values; returns counts, examples and a strict pixel."""
    data = np.asarray(img.array.data[0], dtype=np.float64)
    got_nodata = np.asarray(np.ma.getmaskarray(img.array)[0]) | np.isnan(data)
    ranges, (r_c, c_c), how = sample_ranges(level, tms, tile, to_src, grid)
    tol = GDAL_APPROX + SLACK
    ev = evaluate(data, got_nodata, level, ranges, tol)
    naive = evaluate(data, got_nodata, level, (r_c, r_c, c_c, c_c), tol)
    rmin, rmax, cmin, cmax = ranges
    shift = np.hypot((rmin + rmax) / 2 - r_c, (cmin + cmax) / 2 - c_c)
    H, W = level.shape
    res = {
        "sampling": how,
        "pixels": int(data.size),
        "compared": int(ev["compared"].sum()),
        "compared_strict": int(ev["strict"].sum()),
        "compared_single_candidate": int(ev["single"].sum()),
        "nodata_both": int(ev["nodata_both"].sum()),
        "mismatches": int(ev["bad"].sum()),
        "value_mismatches": int(ev["value_bad"].sum()),
        "nodata_where_data": int(ev["masked_bad"].sum()),
        "data_where_nodata": int(ev["valid_bad"].sum()),
        "titiler_dtype": str(img.array.dtype),
        "matches_raw_stored_values": int(ev["match_raw"].sum()),
        "warp_grid_offset_px": round(float(shift.max()), 3),
        "mismatches_at_tile_pixel_centres": int(naive["bad"].sum()),
    }
    if grid is not None:
        st, lt = grid[2], level.t
        same = np.allclose([st.a, st.b, st.d, st.e], [lt[0], lt[1], lt[3], lt[4]], rtol=1e-9)
        oc, orow = (st.c - lt[2]) / lt[0], (st.f - lt[5]) / lt[4]
        res["titiler_source_transform_ok"] = bool(same and abs(oc - round(oc)) < 1e-6 and abs(orow - round(orow)) < 1e-6)
    ex = []
    r0, r1, c0, c1, vals, rlo, clo = (ev[k] for k in ("r0", "r1", "c0", "c1", "vals", "rlo", "clo"))
    for i, j in zip(*np.nonzero(ev["bad"])):
        if len(ex) >= max_examples:
            break
        cand = []
        for a in range(r0[i, j], r1[i, j] + 1):
            for b in range(c0[i, j], c1[i, j] + 1):
                if 0 <= a < H and 0 <= b < W:
                    v = vals[a - rlo, b - clo]
                    cand.append([a, b, None if np.isnan(v) else float(v)])
                else:
                    cand.append([a, b, "outside"])
        ex.append({"tile_px": [int(i), int(j)], "titiler": None if got_nodata[i, j] else float(data[i, j]),
                   "sampled_row_col": [round(float(rmin[i, j]), 3), round(float(cmin[i, j]), 3)],
                   "candidates": cand})
    res["examples"] = ex
    one = np.argwhere(ev["single"])  # a pixel with one candidate, for the self-test
    res["_strict_pixel"] = None
    if len(one):
        i, j = one[len(one) // 2]
        res["_strict_pixel"] = (int(r0[i, j]), int(c0[i, j]))
    return res


def render(store, group, variable, tile):
    """titiler's tile, the level it read (its log) and the warp grid it used."""
    LOG.levels.clear()
    SPY.calls.clear()
    with GeoZarrReader(store) as src:
        img = src.tile(tile.x, tile.y, tile.z, variables=[f"{group}:{variable}"], tilesize=TILESIZE,
                       reproject_method="nearest", resampling_method="nearest")
    chosen = LOG.levels[-1] if LOG.levels else None
    return img, chosen, SPY.grid()


def pick_zooms(reader, group, variable, levels, order, lon, lat, to_srcs):
    """hi: the smallest zoom at which titiler reads the finest level holding the
    variable (closest to its native resolution); lo: the largest zoom at which it
    reads a level at least halfway down the ladder (else its coarsest)."""
    tms = reader.tms
    zmin, zmax = reader.get_minzoom(group), reader.get_maxzoom(group)
    order = [n for n in order if levels[n].has_var]
    plan = []
    for z in range(zmax + 2, max(zmin - 1, 0), -1):
        t = tms.tile(lon, lat, z)
        LOG.levels.clear()
        try:
            reader._get_variable(group, variable, bounds=tuple(tms.xy_bounds(t)), height=TILESIZE,
                                 width=TILESIZE, dst_crs=tms.rasterio_crs)
        except Exception as e:  # e.g. it picks a level without the variable
            plan.append({"zoom": z, "level": LOG.levels[-1] if LOG.levels else None,
                         "error": f"{type(e).__name__}: {e}", "in_range": zmin <= z <= zmax})
            continue
        name = LOG.levels[-1]
        model, _ = resampling_model(tms, t, levels[name], to_srcs[name])
        plan.append({"zoom": z, "level": name, "model": model, "_i": order.index(name)})
    failed = [p for p in plan if "error" in p]
    plan = [p for p in plan if "error" not in p]
    finest = [p["zoom"] for p in plan if p["_i"] == 0]
    hi = min(finest) if finest else max(p["zoom"] for p in plan)
    below = [p for p in plan if p["zoom"] < hi]
    want = min(len(order) // 2, max((p["_i"] for p in below), default=0))
    lo = max((p["zoom"] for p in below if p["_i"] >= want), default=hi)
    for p in plan:
        del p["_i"]
    return lo, hi, sorted(plan + failed, key=lambda p: -p["zoom"])


def check_zoom(store, expect_levels, group, variable, z, lon, lat, tms, to_srcs, order):
    finest = next(n for n in order if expect_levels[n].has_var)
    tile, cov = best_tile(tms, z, lon, lat, expect_levels[finest], to_srcs[finest])
    img, chosen, grid = render(store, group, variable, tile)
    level = expect_levels[chosen]
    model, _ = resampling_model(tms, tile, level, to_srcs[chosen])
    res = compare(img, level, tms, tile, to_srcs[chosen], grid)
    return {"zoom": z, "tile": [tile.x, tile.y, tile.z], "coverage": round(cov, 3), "level": chosen,
            "level_shape": list(level.shape), "level_transform": level.t,
            "transform_from": level.transform_from, "model": model, **res}, tile


def corrupt_copy(store, group, level_name, variable, rc, tmp):
    """Copy STORE into tmp and change one stored value of level/variable at (row, col)."""
    dst = os.path.join(tmp, "corrupt.zarr")
    shutil.copytree(store, dst, symlinks=True)
    a = zarr.open_array(dst, path=f"{group.strip('/')}/{level_name}/{variable}", mode="r+")
    r, c = rc
    idx = (0,) * (a.ndim - 2) + (r, c)
    old = a[idx]
    if np.issubdtype(a.dtype, np.floating):
        new = a.dtype.type(0.5 if np.isnan(old) else old + 0.5)
    else:
        info = np.iinfo(a.dtype)
        new = a.dtype.type(int(old) + 1000 if int(old) + 1000 <= info.max else int(old) - 1000)
    a[idx] = new
    return dst, old.item(), new.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("group")
    ap.add_argument("variable")
    ap.add_argument("--zooms", help="LO,HI web-mercator zooms (default: chosen, see pick_zooms)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--expected-from", metavar="REF", help="read the expected values from REF")
    ap.add_argument("--self-test", action="store_true",
                    help="also check that a value corrupted in a copy is caught")
    a = ap.parse_args()
    group = "/" + a.group.strip("/")
    out = {"store": a.store, "group": group, "variable": a.variable, "ok": False}

    def finish(code):
        out.pop("_strict", None)
        for z in out.get("zooms", []):
            z.pop("_strict_pixel", None)
        if a.json:
            print(json.dumps(out))
        else:
            human(out)
        sys.exit(code)

    try:
        with GeoZarrReader(a.store) as reader:
            out["groups"] = list(reader.groups)
            out["variables"] = [v.split(":", 1)[1] for v in reader.variables if v.split(":", 1)[0] == group]
            if group not in reader.groups:
                raise RuntimeError(f"titiler does not list {group} (groups: {reader.groups})")
            if a.variable not in out["variables"]:
                raise RuntimeError(f"titiler lists no {a.variable} in {group} ({out['variables']})")
            out["minzoom"], out["maxzoom"] = reader.get_minzoom(group), reader.get_maxzoom(group)
            levels, order = open_levels(a.store, group, a.variable)
            gattrs = reader.datatree[group].attrs
            gcrs = CRS.from_user_input(gattrs["proj:code"])
            bx = gattrs["spatial:bbox"]
            lon, lat = Transformer.from_crs(gcrs, 4326, always_xy=True).transform((bx[0] + bx[2]) / 2,
                                                                                (bx[1] + bx[3]) / 2)
            to_srcs = {n: Transformer.from_crs(3857, lv.crs, always_xy=True) for n, lv in levels.items()}
            if a.zooms:
                lo, hi = (int(v) for v in a.zooms.split(","))
                out["zoom_plan"] = None
            else:
                lo, hi, out["zoom_plan"] = pick_zooms(reader, group, a.variable, levels, order, lon, lat, to_srcs)
            tms = reader.tms
    except Exception as e:  # the reader fails: exit 2
        out["error"] = f"reader: {type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
        finish(2)

    out["levels"] = [{"level": n, "shape": list(levels[n].shape) if levels[n].has_var else None,
                      "dtype": levels[n].dtype if levels[n].has_var else None,
                      "transform_from": levels[n].transform_from,
                      "scale_factor": levels[n].scale if levels[n].has_var else None,
                      "add_offset": levels[n].offset if levels[n].has_var else None,
                      "fill": None if not levels[n].has_var or levels[n].fill is None else
                      (str(levels[n].fill) if isinstance(levels[n].fill, float) and math.isnan(levels[n].fill)
                       else levels[n].fill)}
                     for n in order]
    issues = [i for n in order if levels[n].has_var for i in levels[n].coord_issues()]
    out["coordinate_issues"] = issues
    expect = levels
    if a.expected_from:
        expect, _ = open_levels(a.expected_from, group, a.variable)
    out["zooms"] = []
    try:
        for z in (hi, lo):
            r, tile = check_zoom(a.store, expect, group, a.variable, z, lon, lat, tms, to_srcs, order)
            r["_tile"] = tile
            out["zooms"].append(r)
    except Exception as e:
        out["error"] = f"render: {type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
        finish(2)
    cf = []
    for r in out["zooms"]:
        lv = levels[r["level"]]
        if lv.scale is None and lv.offset is None:
            cf.append(f"z{r['zoom']} {r['level']}: {lv.dtype}, no scale_factor/add_offset; titiler returns {r['titiler_dtype']}")
        else:
            how = ("decoded" if r["compared"] and r["value_mismatches"] == 0 else "NOT decoded"
                   if r["matches_raw_stored_values"] else "neither decoded nor raw")
            cf.append(f"z{r['zoom']} {r['level']}: {lv.dtype} scale_factor {lv.scale} add_offset {lv.offset}; "
                      f"titiler returns {r['titiler_dtype']} values {how}")
    out["cf"] = cf
    ok = not issues and all(r["mismatches"] == 0 and r["compared"] > 0 and r.get("titiler_source_transform_ok", True)
                            for r in out["zooms"])

    if a.self_test:
        r = out["zooms"][0]
        st = {"ok": False}
        if r["_strict_pixel"] is None:
            st["error"] = "no strict pixel at the high zoom to corrupt"
        else:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    dst, old, new = corrupt_copy(a.store, group, r["level"], a.variable, r["_strict_pixel"], tmp)
                    st.update({"level": r["level"], "row_col": list(r["_strict_pixel"]), "old": old, "new": new})
                    img, chosen, grid = render(dst, group, a.variable, r["_tile"])
                    lv = levels[chosen]
                    res = compare(img, lv, tms, r["_tile"], to_srcs[chosen], grid, max_examples=2)
                    st.update({"level_chosen": chosen, "mismatches": res["mismatches"],
                               "examples": res["examples"]})
                    st["ok"] = res["mismatches"] > 0
                except Exception as e:
                    st["error"] = f"{type(e).__name__}: {e}"
        out["self_test"] = st
        ok = ok and st["ok"]
    for r in out["zooms"]:
        r.pop("_tile", None)
    fails = [p for p in out.get("zoom_plan") or [] if p.get("error") and p["in_range"]]
    if fails:
        out["error"] = (f"titiler fails to read {group}:{a.variable} at zoom(s) "
                        f"{', '.join(str(p['zoom']) for p in fails)} of its range "
                        f"{out['minzoom']}..{out['maxzoom']}: {fails[0]['error']}"
                        + (f" (levels without it: {', '.join(n for n in order if not levels[n].has_var)}; titiler "
                           f"picks a level by resolution among all levels)" if not all(levels[n].has_var for n in order) else ""))
    out["ok"] = ok and not fails
    finish(0 if out["ok"] else 2 if fails and ok else 1)


def human(out):
    p = print
    p(f"titiler-eopf check of {out['store']} {out['group']}:{out['variable']}")
    if "groups" in out:
        p(f"  groups ({len(out['groups'])}): {', '.join(out['groups'])}")
        p(f"  variables of {out['group']}: {', '.join(out.get('variables', []))}")
    if "minzoom" in out:
        p(f"  titiler zooms of the group: {out['minzoom']}..{out['maxzoom']}")
    if out.get("error") and not out.get("zooms"):
        p(f"  FAILED {out['error']}")
        p(out.get("traceback", ""))
        return
    for lv in out.get("levels", []):
        p(f"  level {lv['level']}: {lv['shape']} {lv['dtype']} transform from {lv['transform_from']}"
          + (f", scale_factor {lv['scale_factor']} add_offset {lv['add_offset']}" if lv["scale_factor"] is not None else "")
          + f", fill {lv['fill']}")
    for i in out.get("coordinate_issues", []):
        p(f"  INCONSISTENT {i}")
    for r in out.get("zooms", []):
        p(f"  zoom {r['zoom']} tile {r['tile']} ({r['coverage'] * 100:.0f}% inside): titiler read {r['level']} "
          f"{r['level_shape']} ({r['model']}; compared at the {r['sampling']})")
        p(f"    {r['compared']} pixels compared ({r['compared_strict']} with a single possible value), "
          f"{r['nodata_both']} no-data in both, {r['mismatches']} mismatches"
          + (f" ({r['value_mismatches']} values, {r['nodata_where_data']} no-data where data, "
             f"{r['data_where_nodata']} data where no-data)" if r["mismatches"] else ""))
        p(f"    titiler's warp grid is up to {r['warp_grid_offset_px']} level pixel off the tile's pixel centres "
          f"(at the tile's own pixel centres {r['mismatches_at_tile_pixel_centres']} pixels would differ)"
          + ("" if r.get("titiler_source_transform_ok", True) else "; titiler's source transform is NOT the level's"))
        for e in r["examples"]:
            p(f"      e.g. tile pixel {e['tile_px']}: titiler {e['titiler']}, sampled level (row, col) {e['sampled_row_col']}, stored: {e['candidates']}")
    for c in out.get("cf", []):
        p(f"  CF: {c}")
    st = out.get("self_test")
    if st:
        if st.get("error"):
            p(f"  self-test FAILED: {st['error']}")
        else:
            p(f"  self-test: {st['level']}[{st['row_col'][0]}, {st['row_col'][1]}] {st['old']} -> {st['new']} "
              f"in a copy: {st['mismatches']} mismatches found ({'caught' if st['ok'] else 'NOT CAUGHT'})")
    if out.get("error"):
        p(f"  FAILED {out['error']}")
    p("  ok" if out["ok"] else "  FAILED")


if __name__ == "__main__":
    main()
