"""Interop checks of a GeoZarr store written by eopf-geozarr, with the
libraries users read it with (xarray, rioxarray, zarr-python).

usage: interop.py OUT [--input IN] [--epsg N]
Exits non-zero (AssertionError) on the first failed check.
"""
import argparse
import json
import os

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
import zarr


def block_mean(parent, fill):
    """Profile §4 on stored counts: mean of valid pixels, half away from zero."""
    h, w = parent.shape
    ph, pw = h + h % 2, w + w % 2
    p = np.full((ph, pw), fill if fill is not None else 0, dtype=np.float64)
    valid = np.zeros((ph, pw), dtype=bool)
    p[:h, :w] = parent
    valid[:h, :w] = True
    if fill is not None:
        valid[:h, :w] &= parent != fill
    if np.issubdtype(parent.dtype, np.floating):
        valid[:h, :w] &= ~np.isnan(parent)
    s = np.where(valid, p, 0).reshape(ph // 2, 2, pw // 2, 2).sum(axis=(1, 3))
    n = valid.reshape(ph // 2, 2, pw // 2, 2).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        if np.issubdtype(parent.dtype, np.integer):
            m = np.sign(s) * np.floor((2 * np.abs(s) + n) / (2 * n))
        else:
            m = s / n
    return np.where(n > 0, m, fill if fill is not None else np.nan)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--input")
    ap.add_argument("--epsg", type=int, default=32632)
    a = ap.parse_args()

    # zarr-python reads the consolidated metadata, and it lists every node
    nodes = []
    for d, _, files in os.walk(a.out):
        if "zarr.json" in files:
            rel = os.path.relpath(d, a.out)
            if rel != ".":
                nodes.append(rel.replace(os.sep, "/"))
    root = zarr.open_consolidated(a.out, zarr_format=3)
    cm = root.metadata.consolidated_metadata
    assert cm is not None, "no consolidated metadata at the root"
    assert sorted(cm.flattened_metadata.keys()) == sorted(nodes), "consolidated metadata != stored nodes"

    # xarray opens every group of the tree and loads it
    dt = xr.open_datatree(a.out, engine="zarr")
    n_groups = 0
    for node in dt.subtree:
        node.to_dataset().load()
        n_groups += 1
    assert n_groups == sum(1 for n in nodes if json.load(open(os.path.join(a.out, n, "zarr.json")))["node_type"] == "group") + 1

    checked_levels = 0
    for gpath in nodes:
        meta = json.load(open(os.path.join(a.out, gpath, "zarr.json")))
        ms = meta["attributes"].get("multiscales")
        if not ms:
            continue
        tms = ms["tile_matrix_set"]
        assert tms["crs"].endswith(f"/EPSG/0/{a.epsg}"), tms["crs"]
        prev = None
        for tm in tms["tileMatrices"]:
            level = tm["id"]
            ds = xr.open_dataset(a.out, group=f"{gpath}/{level}", engine="zarr", decode_coords="all")
            assert ds.rio.crs.to_epsg() == a.epsg, (gpath, level, ds.rio.crs)
            cell = tm["cellSize"]
            x0, y0 = tm["pointOfOrigin"]
            t = ds.rio.transform()
            assert np.allclose([t.a, t.b, t.c, t.d, t.e, t.f], [cell, 0, x0, 0, -cell, y0]), (gpath, level, t)
            gt = [float(v) for v in ds["spatial_ref"].attrs["GeoTransform"].split()]
            assert np.allclose(gt, [x0, cell, 0, y0, 0, -cell]), (gpath, level, gt)
            assert np.allclose(ds.x.values, x0 + (np.arange(ds.sizes["x"]) + 0.5) * cell)
            assert np.allclose(ds.y.values, y0 - (np.arange(ds.sizes["y"]) + 0.5) * cell)
            raw = xr.open_dataset(a.out, group=f"{gpath}/{level}", engine="zarr", mask_and_scale=False)
            bands = [v for v in raw.data_vars if raw[v].dims == ("y", "x")]
            assert bands, (gpath, level)
            for b in bands:
                assert ds[b].attrs.get("grid_mapping", ds[b].encoding.get("grid_mapping")) == "spatial_ref"
                assert "standard_name" in ds[b].attrs
            if prev is not None:
                for b in bands:
                    fill = raw[b].attrs.get("_FillValue")
                    exp = block_mean(prev[b].values, fill)
                    got = raw[b].values
                    assert got.dtype == prev[b].dtype, (b, got.dtype)
                    assert got.shape == exp.shape, (b, got.shape, exp.shape)
                    same = (got == exp) | (np.isnan(exp) & np.isnan(got.astype(np.float64)))
                    assert same.all(), f"{gpath}/{level}/{b}: {(~same).sum()} pixels differ from the 2x2 block mean"
                    # decoded values stay reflectances
                    dec = ds[b].values
                    if "scale_factor" in raw[b].attrs:
                        assert np.nanmax(dec) <= 6.6, np.nanmax(dec)
            prev = raw
            checked_levels += 1
        if a.input:
            ours0 = xr.open_dataset(a.out, group=f"{gpath}/0", engine="zarr")
            src = xr.open_dataset(a.input, group=gpath, engine="zarr", consolidated=True, zarr_format=2)
            for b in [v for v in ours0.data_vars if ours0[v].dims == ("y", "x")]:
                np.testing.assert_array_equal(ours0[b].values, src[b].values)
    assert checked_levels > 0, "no multiscale group found"

    if a.input:
        # carried-over arrays read back as the originals (strings, masks, floats)
        src_root = zarr.open_group(a.input, mode="r", zarr_format=2)
        carried = 0
        def walk(g, prefix=""):
            for name, item in g.members():
                p = f"{prefix}{name}"
                if isinstance(item, zarr.Group):
                    yield from walk(item, p + "/")
                else:
                    yield p, item
        out_root = zarr.open_group(a.out, mode="r", zarr_format=3)
        for p, arr in walk(src_root):
            if p.startswith("measurements/"):
                continue
            o = out_root[p]
            assert o.shape == arr.shape and o.chunks == arr.chunks, p
            sv, ov = arr[...], o[...]
            if sv.dtype.kind == "U":
                assert [str(s) for s in np.ravel(ov)] == [str(s) for s in np.ravel(sv)], p
            else:
                assert ov.dtype == sv.dtype.newbyteorder("<") or sv.dtype.kind == "M", (p, ov.dtype, sv.dtype)
                np.testing.assert_array_equal(ov.view(np.int64) if sv.dtype.kind == "M" else ov, sv.view(np.int64) if sv.dtype.kind == "M" else sv)
            carried += 1
        assert carried > 0
    print(f"interop ok: {len(nodes)} nodes, {checked_levels} levels checked")


if __name__ == "__main__":
    main()
