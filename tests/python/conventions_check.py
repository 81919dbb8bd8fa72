"""Check a `--profile conventions` store with the real readers.

usage: conventions_check.py OUT --input IN

- every multiscale group (found by the multiscales convention's uuid) is
  consistent: layout assets exist, derived_from precedes, scale x parent
  pixel = child pixel exactly, spatial:shape = the bands' shapes,
  spatial:transform agrees with x/y and spatial:bbox;
- native bands equal the input's values (zarr-python reads the v2 input);
  derived bands equal an independent numpy computation of their
  `resampling_method` from their `derived_from` array;
- xarray `open_datatree` + rioxarray give every level the CRS of
  `proj:code` and the affine of `spatial:transform`;
- the root's EPSG:4326 `spatial:bbox` equals pyproj's transform_bounds
  (densify 21).
Prints "conventions ok: ..." on success; raises on the first failure.
"""

import argparse
import json
import warnings

import numpy as np
import pyproj
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
import zarr

MULTISCALES = "d35379db-88df-4056-af3a-620245f8e347"
SPATIAL = "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4"
PROJ = "f17cb550-5864-4468-aeb7-f3180cfb622f"


def uuids(attrs):
    return {c.get("uuid") for c in attrs.get("zarr_conventions", [])}


def fill_of(arr):
    f = arr.attrs.get("_FillValue")
    if f is None:
        return None
    if isinstance(f, str):  # base64 float fill: NaN
        return np.nan
    return f


def resample(src, k, shape, rule, fill):
    """k x k blocks of src -> shape, edge blocks from the pixels present."""
    h, w = shape
    out = np.empty(shape, dtype=src.dtype)
    for j in range(h):
        for i in range(w):
            blk = src[j * k : (j + 1) * k, i * k : (i + 1) * k].ravel()
            valid = blk[~np.isnan(blk)] if blk.dtype.kind == "f" else blk
            if fill is not None and not (isinstance(fill, float) and np.isnan(fill)):
                valid = valid[valid != fill]
            if valid.size == 0:
                out[j, i] = fill if fill is not None else (np.nan if src.dtype.kind == "f" else 0)
            elif rule == "average":
                if src.dtype.kind == "f":
                    out[j, i] = valid.astype(np.float64).mean()
                else:
                    m = valid.astype(np.float64).mean()
                    out[j, i] = np.sign(m) * np.floor(abs(m) + 0.5)
            elif rule == "mode":
                vals, counts = np.unique(valid, return_counts=True)
                out[j, i] = vals[np.argmax(counts)]  # unique sorts: ties -> smallest
            elif rule == "bitwise_or":
                out[j, i] = np.bitwise_or.reduce(valid)
            else:
                raise AssertionError(f"unknown resampling_method {rule}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--input", required=True)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    out = zarr.open_group(a.out, mode="r")
    inp = zarr.open_group(a.input, mode="r")
    groups = []

    def walk(g, path):
        for name, child in g.groups():
            p = f"{path}/{name}" if path else name
            if MULTISCALES in uuids(child.attrs):
                groups.append(p)
            walk(child, p)

    walk(out, "")
    assert groups, "no multiscale group"
    dt = xr.open_datatree(a.out, engine="zarr", decode_coords="all")
    n_native = n_derived = n_levels = 0
    bboxes = []
    for m in groups:
        g = out[m]
        assert {SPATIAL, PROJ} <= uuids(g.attrs), (m, "spatial:/proj: conventions missing")
        layout = g.attrs["multiscales"]["layout"]
        crs = pyproj.CRS.from_user_input(g.attrs["proj:code"])
        seen = {}
        for e in layout:
            lv = e["asset"]
            assert lv in g, (m, lv, "layout asset missing")
            lg = g[lv]
            la = lg.attrs
            assert {SPATIAL, PROJ} <= uuids(la), (m, lv)
            t = la["spatial:transform"]
            assert t == e["spatial:transform"], (m, lv, "layout and level transforms differ")
            h, w = la["spatial:shape"]
            assert [h, w] == e["spatial:shape"], (m, lv)
            if "derived_from" in e:
                p = e["derived_from"]
                assert p in seen, (m, lv, "derived_from must precede", p)
                pt = seen[p]
                sy, sx = e["transform"]["scale"]
                assert sx * pt[0] == t[0] and sy * pt[4] == t[4], (m, lv, "inexact scale", sx, pt[0], t[0])
            seen[lv] = t
            x, y = lg["x"][:], lg["y"][:]
            assert len(x) == w and len(y) == h, (m, lv)
            np.testing.assert_allclose(x, t[2] + (np.arange(w) + 0.5) * t[0], rtol=0, atol=1e-6)
            np.testing.assert_allclose(y, t[5] + (np.arange(h) + 0.5) * t[4], rtol=0, atol=1e-6)
            bb = la["spatial:bbox"]
            assert bb == [t[2], t[5] + h * t[4], t[2] + w * t[0], t[5]], (m, lv, bb)
            assert la["proj:code"] == g.attrs["proj:code"]
            ds = dt[f"{m}/{lv}"].to_dataset()
            for name, arr in lg.arrays():
                if name in ("x", "y", "spatial_ref") or arr.ndim != 2:
                    continue
                assert arr.shape == (h, w), (m, lv, name, arr.shape)
                assert arr.attrs["grid_mapping"] == "spatial_ref"
                rule = arr.attrs["resampling_method"]
                assert not any(k.startswith("proj:") for k in arr.attrs), (m, lv, name, "stale proj:*")
                da = ds[name]
                assert da.rio.crs == crs, (m, lv, name, da.rio.crs)
                assert list(da.rio.transform())[:6] == [t[0], t[1], t[2], t[3], t[4], t[5]], (m, lv, name, da.rio.transform())
                have = arr[:]
                if "derived_from" in arr.attrs:
                    src_path = arr.attrs["derived_from"]
                    src = g[src_path]
                    k = round(t[0] / seen[src_path.split("/")[0]][0])
                    want = resample(src[:], k, (h, w), rule, fill_of(arr))
                    np.testing.assert_array_equal(have, want, err_msg=f"{m}/{lv}/{name} ({rule} of {src_path})")
                    n_derived += 1
                else:
                    src = inp[f"{m}/{lv}/{name}"]
                    want = src[:]
                    if have.dtype == np.float32 and want.dtype.kind in "iu":
                        # --dtype float32: CF-decoded, stored fill -> NaN
                        sa = src.attrs
                        dec = want * sa.get("scale_factor", 1.0) + sa.get("add_offset", 0.0)
                        if src.fill_value is not None:
                            dec = np.where(want == src.fill_value, np.nan, dec)
                        want = dec.astype(np.float32)
                        assert "scale_factor" not in arr.attrs, (m, lv, name)
                    np.testing.assert_array_equal(have, want, err_msg=f"{m}/{lv}/{name} != input")
                    n_native += 1
            n_levels += 1
        first = out[f"{m}/{layout[0]['asset']}"].attrs["spatial:bbox"]
        bboxes.append(pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(*first, densify_pts=21))
    root = out.attrs
    assert root.get("proj:code") == "EPSG:4326", root.get("proj:code")
    want = [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
    np.testing.assert_allclose(root["spatial:bbox"], want, rtol=0, atol=1e-9)
    print(f"conventions ok: {len(groups)} multiscale groups, {n_levels} levels, {n_native} native and {n_derived} derived arrays checked; root bbox {json.dumps(root['spatial:bbox'])}")


if __name__ == "__main__":
    main()
