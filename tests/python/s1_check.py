"""Independent checks of a converted Sentinel-1 GRD store (tests/s1.rs).

    s1_check.py targets IN OUT LEVELPATH  point targets vs their true positions
    s1_check.py calib IN OUT LEVELPATH    sigma0 at sample pixels vs numpy
    s1_check.py open OUT EPSG             xarray + rioxarray open every level
    s1_check.py gdal IN OUT LEVELPATH TMP gdalwarp (order 1, -tps) geolocation
    s1_check.py strip IN WHAT             remove conditions/gcp or quality/calibration

LEVELPATH is the level-0 group of one polarisation, e.g.
`S01..._VV/measurements/0`. Prints one JSON line of numbers.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import zarr


def pol_of(level):
    return level.split("/")[0]


def out_grid(out, level, band):
    g = zarr.open_group(out, mode="r", path=level)
    arr = g[band][...]
    sr = g["spatial_ref"].attrs
    gt = [float(v) for v in sr["GeoTransform"].split()]
    return arr, gt, sr["crs_wkt"]


def gcp_projected(inp, pol, crs_wkt):
    from pyproj import CRS, Transformer

    g = zarr.open_group(inp, mode="r", path=f"{pol}/conditions/gcp")
    lines = g["line"][...].astype(float)
    pixels = g["pixel"][...].astype(float)
    lat, lon = g["latitude"][...], g["longitude"][...]
    t = Transformer.from_crs("EPSG:4326", CRS.from_wkt(crs_wkt), always_xy=True)
    x, y = t.transform(lon, lat)
    return lines, pixels, np.asarray(x), np.asarray(y), lat, lon


def bilinear_forward(lines, pixels, X, Y, l, p):
    """Bilinear GCP interpolation (edge cells extrapolate), vectorised."""
    i = np.clip(np.searchsorted(lines, l, side="right") - 1, 0, len(lines) - 2)
    j = np.clip(np.searchsorted(pixels, p, side="right") - 1, 0, len(pixels) - 2)
    dl = lines[i + 1] - lines[i]
    dp = pixels[j + 1] - pixels[j]
    u = (l - lines[i]) / dl
    v = (p - pixels[j]) / dp
    out = []
    for A in (X, Y):
        a00, a01, a10, a11 = A[i, j], A[i, j + 1], A[i + 1, j], A[i + 1, j + 1]
        top = a00 + (a01 - a00) * v
        bot = a10 + (a11 - a10) * v
        val = top + (bot - top) * u
        dval_l = (bot - top) / dl
        dval_p = ((a01 - a00) + ((a11 - a10) - (a01 - a00)) * u) / dp
        out.append((val, dval_l, dval_p))
    return out


def invert(lines, pixels, X, Y, x, y):
    """(line, pixel) of map points by Newton's method on the bilinear grid."""
    l = np.full(np.shape(x), (lines[0] + lines[-1]) / 2)
    p = np.full(np.shape(x), (pixels[0] + pixels[-1]) / 2)
    for _ in range(30):
        (fx, xl, xp), (fy, yl, yp) = bilinear_forward(lines, pixels, X, Y, l, p)
        det = xl * yp - xp * yl
        rx, ry = x - fx, y - fy
        dl = (yp * rx - xp * ry) / det
        dp = (-yl * rx + xl * ry) / det
        l, p = l + dl, p + dp
        if np.nanmax(np.abs(dl) + np.abs(dp)) < 1e-11:
            break
    return l, p


def interp_row(xs, ys, x):
    return np.interp(x, xs, ys)


def lut_at(lines, pixels_rows, values_rows, l, p):
    """Bilinear LUT value at scalar (l, p): rows along pixel, then along line."""
    if l <= lines[0]:
        a = b = 0
        t = 0.0
    elif l >= lines[-1]:
        a = b = len(lines) - 1
        t = 0.0
    else:
        a = int(np.searchsorted(lines, l, side="right") - 1)
        b = a + 1
        t = (l - lines[a]) / (lines[b] - lines[a])
    va = interp_row(pixels_rows[a], values_rows[a], p)
    vb = interp_row(pixels_rows[b], values_rows[b], p)
    return va + (vb - va) * t


def calibrator(inp, pol, lutname="sigma_nought"):
    q = zarr.open_group(inp, mode="r", path=f"{pol}/quality")
    cal = q["calibration"]
    cl = cal["line"][...].astype(float)
    cp = cal["pixel"][...].astype(float)
    cv = cal[lutname][...].astype(float)
    nr = q["noise_range"]
    nl = nr["line"][...].astype(float)
    npx = nr["pixel"][...].astype(float)
    nv = nr["noise_range_lut"][...].astype(float)
    az = q["noise_azimuth"]
    blocks = []
    for k in range(az["line"].shape[0]):
        blocks.append(
            (
                float(az["first_azimuth_time"][k]),
                float(az["last_azimuth_time"][k]),
                float(az["first_range_sample"][k]),
                float(az["last_range_sample"][k]),
                az["line"][k].astype(float),
                az["noise_azimuth_lut"][k].astype(float),
            )
        )

    def value(dn, l, p):
        if dn == 0:
            return np.nan
        A = lut_at(cl, [cp] * len(cl), cv, l, p)
        N = lut_at(nl, npx, nv, l, p)
        a = 1.0
        for fl, ll, fp, lp, bl, bv in blocks:
            if fl <= l <= ll and fp <= p <= lp:
                a = np.interp(l, bl, bv)
                break
        return max((float(dn) ** 2 - N * a) / A**2, 0.0)

    return value


def cmd_targets(inp, out, level):
    from pyproj import CRS, Transformer

    pol = pol_of(level)
    band = os.environ.get("S1_BAND", "sigma0")
    arr, gt, wkt = out_grid(out, level, band)
    arr = arr.astype(float)
    targets = zarr.open_group(inp, mode="r", path=pol).attrs["synthetic:point_targets"]
    t = Transformer.from_crs("EPSG:4326", CRS.from_wkt(wkt), always_xy=True)
    errs = []
    for tg in targets:
        x, y = t.transform(tg["longitude"], tg["latitude"])
        col = (x - gt[0]) / gt[1] - 0.5
        row = (y - gt[3]) / gt[5] - 0.5
        r0, c0 = int(round(row)), int(round(col))
        R = 6
        win = arr[r0 - R : r0 + R + 1, c0 - R : c0 + R + 1]
        bg = np.nanmedian(win)
        w = np.nan_to_num(win - bg, nan=0.0)
        w[w < 0] = 0
        rr, cc = np.mgrid[r0 - R : r0 + R + 1, c0 - R : c0 + R + 1]
        cr = (w * rr).sum() / w.sum()
        ccc = (w * cc).sum() / w.sum()
        errs.append(float(np.hypot(cr - row, ccc - col)))
    print(json.dumps({"n": len(errs), "mean_px": float(np.mean(errs)), "max_px": float(np.max(errs))}))


def cmd_calib(inp, out, level):
    pol = pol_of(level)
    arr, gt, wkt = out_grid(out, level, "sigma0")
    lines, pixels, X, Y, _, _ = gcp_projected(inp, pol, wkt)
    dn = zarr.open_array(inp, mode="r", path=f"{pol}/measurements/grd")
    H, W = dn.shape
    value = calibrator(inp, pol)
    rng = np.random.default_rng(17)
    valid = np.argwhere(np.isfinite(arr))
    picks = valid[rng.choice(len(valid), size=min(300, len(valid)), replace=False)]
    worst, n = 0.0, 0
    for r, c in picks:
        x = gt[0] + (c + 0.5) * gt[1]
        y = gt[3] + (r + 0.5) * gt[5]
        l, p = invert(lines, pixels, X, Y, np.array([x]), np.array([y]))
        l, p = float(l[0]), float(p[0])
        i, j = min(int(np.floor(l)), H - 2), min(int(np.floor(p)), W - 2)
        block = dn[i : i + 2, j : j + 2]
        if (block == 0).any():
            continue
        fy, fx = l - i, p - j
        v = [value(block[a, b], i + a, j + b) for a in (0, 1) for b in (0, 1)]
        want = (1 - fy) * (1 - fx) * v[0] + (1 - fy) * fx * v[1] + fy * (1 - fx) * v[2] + fy * fx * v[3]
        got = float(arr[r, c])
        rel = abs(got - want) / max(abs(want), 1e-12)
        worst = max(worst, rel)
        n += 1
    print(json.dumps({"n": n, "max_rel_err": worst}))


def cmd_open(out, epsg):
    import rioxarray  # noqa: F401
    import xarray as xr

    root = zarr.open_group(out, mode="r")
    levels = 0
    for pol in root.group_keys():
        meas = root[pol]["measurements"]
        if "multiscales" not in meas.attrs:
            continue
        for name in meas.group_keys():
            ds = xr.open_dataset(out, group=f"{pol}/measurements/{name}", engine="zarr", decode_coords="all")
            crs = ds.rio.crs
            assert crs is not None and crs.to_epsg() == int(epsg), (pol, name, crs)
            var = [v for v in ds.data_vars][0]
            assert ds[var].rio.crs.to_epsg() == int(epsg)
            assert ds[var].shape == (ds.sizes["y"], ds.sizes["x"])
            levels += 1
    dt = xr.open_datatree(out, engine="zarr")
    assert len(dt.children) >= 2
    print(json.dumps({"levels": levels}))


def cmd_gdal(inp, out, level, tmp):
    import rasterio

    pol = pol_of(level)
    band = os.environ.get("S1_BAND", "sigma0")
    arr, gt, wkt = out_grid(out, level, band)
    lines, pixels, X, Y, lat, lon = gcp_projected(inp, pol, wkt)
    height = zarr.open_array(inp, mode="r", path=f"{pol}/conditions/gcp/height")[...]
    dn = zarr.open_array(inp, mode="r", path=f"{pol}/measurements/grd")
    H, W = dn.shape
    os.makedirs(tmp, exist_ok=True)
    ll, pp = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    ll.tofile(f"{tmp}/line.bin")
    pp.tofile(f"{tmp}/pixel.bin")
    dn[...].astype("<u2").tofile(f"{tmp}/dn.bin")
    gcps = "".join(
        f'<GCP Id="{i}_{j}" Pixel="{float(pixels[j]) + 0.5!r}" Line="{float(lines[i]) + 0.5!r}" X="{float(lon[i, j])!r}" Y="{float(lat[i, j])!r}" Z="{float(height[i, j])!r}"/>'
        for i in range(len(lines))
        for j in range(len(pixels))
    )

    def vrt(name, files, dtype, size):
        bands = "".join(
            f'<VRTRasterBand dataType="{dtype}" band="{k + 1}" subClass="VRTRawRasterBand">'
            f'<SourceFilename relativetoVRT="1">{f}</SourceFilename><ImageOffset>0</ImageOffset>'
            f"<PixelOffset>{size}</PixelOffset><LineOffset>{size * W}</LineOffset><ByteOrder>LSB</ByteOrder></VRTRasterBand>"
            for k, f in enumerate(files)
        )
        with open(f"{tmp}/{name}", "w") as fh:
            fh.write(
                f'<VRTDataset rasterXSize="{W}" rasterYSize="{H}"><GCPList Projection="EPSG:4326">{gcps}</GCPList>{bands}</VRTDataset>'
            )

    vrt("pos.vrt", ["line.bin", "pixel.bin"], "Float32", 4)
    vrt("dn.vrt", ["dn.bin"], "UInt16", 2)
    h, w = arr.shape
    te = [gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3]]
    epsg = rasterio.crs.CRS.from_wkt(wkt).to_epsg()
    res = {}
    # our mapping: the exact inverse of the bilinear GCP grid at every pixel centre
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    x = gt[0] + (cols + 0.5) * gt[1]
    y = gt[3] + (rows + 0.5) * gt[5]
    ml, mp = invert(lines, pixels, X, Y, x, y)
    inside = (ml >= 0) & (ml <= H - 1) & (mp >= 0) & (mp <= W - 1)
    for method, flag in (("order1", ["-order", "1"]), ("tps", ["-tps"])):
        dst = f"{tmp}/pos_{method}.tif"
        subprocess.run(
            ["gdalwarp", "-q", "-overwrite", *flag, "-r", "bilinear", "-t_srs", f"EPSG:{epsg}", "-te", *[repr(float(v)) for v in te],
             "-tr", repr(float(gt[1])), repr(float(-gt[5])), "-dstnodata", "nan", "-ot", "Float32", f"{tmp}/pos.vrt", dst],
            check=True,
        )
        with rasterio.open(dst) as ds:
            # band values are the (line, pixel) of the sample: no half-pixel shift
            gl, gp = ds.read(1).astype(float), ds.read(2).astype(float)
        ok = inside & np.isfinite(gl) & np.isfinite(gp) & (gl > 1) & (gl < H - 2) & (gp > 1) & (gp < W - 2)
        d = np.hypot(gl[ok] - ml[ok], gp[ok] - mp[ok])
        res[method] = {"pixels": int(ok.sum()), "mean_px": float(d.mean()), "max_px": float(d.max()),
                       "p99_px": float(np.percentile(d, 99))}
    # the point targets in GDAL's warp of the DN (-tps) against ours
    dst = f"{tmp}/dn_tps.tif"
    subprocess.run(
        ["gdalwarp", "-q", "-overwrite", "-tps", "-r", "bilinear", "-t_srs", f"EPSG:{epsg}", "-te", *[repr(float(v)) for v in te],
         "-tr", repr(float(gt[1])), repr(float(-gt[5])), "-srcnodata", "0", "-dstnodata", "0", "-ot", "Float32", f"{tmp}/dn.vrt", dst],
        check=True,
    )
    with rasterio.open(dst) as ds:
        g = ds.read(1).astype(float) ** 2
    ours = arr.astype(float)
    targets = zarr.open_group(inp, mode="r", path=pol).attrs["synthetic:point_targets"]
    diffs = []
    for tg in targets:
        (fx, _, _), (fy, _, _) = bilinear_forward(lines, pixels, X, Y, np.array([tg["line"]]), np.array([tg["pixel"]]))
        col = (fx[0] - gt[0]) / gt[1] - 0.5
        row = (fy[0] - gt[3]) / gt[5] - 0.5
        r0, c0, R = int(round(row)), int(round(col)), 6
        cents = []
        for im in (ours, g):
            win = im[r0 - R : r0 + R + 1, c0 - R : c0 + R + 1]
            wgt = np.nan_to_num(win - np.nanmedian(win), nan=0.0)
            wgt[wgt < 0] = 0
            rr, cc = np.mgrid[r0 - R : r0 + R + 1, c0 - R : c0 + R + 1]
            cents.append(((wgt * rr).sum() / wgt.sum(), (wgt * cc).sum() / wgt.sum()))
        diffs.append(float(np.hypot(cents[0][0] - cents[1][0], cents[0][1] - cents[1][1])))
    res["targets_ours_vs_gdal_tps"] = {"mean_px": float(np.mean(diffs)), "max_px": float(np.max(diffs))}
    print(json.dumps(res))


def cmd_strip(inp, what):
    meta_path = os.path.join(inp, ".zmetadata")
    meta = json.load(open(meta_path))
    pols = sorted({k.split("/")[0] for k in meta["metadata"] if k.endswith("measurements/grd/.zarray")})
    for pol in pols:
        shutil.rmtree(os.path.join(inp, pol, what))
        prefix = f"{pol}/{what}/"
        meta["metadata"] = {k: v for k, v in meta["metadata"].items() if not k.startswith(prefix)}
    json.dump(meta, open(meta_path, "w"), indent=4, sort_keys=True)
    print(json.dumps({"stripped": what, "pols": pols}))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"targets": cmd_targets, "calib": cmd_calib, "open": cmd_open, "gdal": cmd_gdal, "strip": cmd_strip}[cmd](*args)
