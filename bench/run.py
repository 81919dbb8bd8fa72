#!/usr/bin/env python3
"""Benchmark: our converter vs. the transcode floor vs. the Python tool.

One run, one machine, side by side, on a synthetic full-size Sentinel-2 L2A
product (`eopf-geozarr synth --scale 1`). Every command is timed for wall
time, CPU time (user+sys of the whole process tree) and peak RSS (sum over
the process tree, sampled every 50 ms). Results go to stdout as a table and
to bench/results/<UTC time>.json.

A second copy of the product whose blosc frames carry typesize 1 (as
zarr-python 3 + numcodecs writes them) is converted too, to show that such
input streams as fast and as small as the default.

Also the distributed engine's own figures: the pure scheduler state machine
(events/s) and no-op tasks through a real scheduler and 2 worker processes
over gRPC on loopback (tasks/s).

The `conventions` profile is measured too: on the same reflectance groups
(against geozarr-0.4), with and without --shard, and on every multiscale
group side by side with the Python tool 0.12.0 `convert-s2-optimized` (and
its --enable-sharding) in a Python 3.12 venv (bench/py012-venv.sh).

Sentinel-1 GRD (issue 17): a full-size synthetic S1A IW GRDH product (both
polarisations, 16677 × 26068 uint16 each) converted to calibrated σ⁰ on
UTM 10 m with overviews (`convert`, and `--local-workers 2`), next to
`gdalwarp -multi -wo NUM_THREADS=ALL_CPUS` warping only the DN of both
polarisations from the same Zarr input with the same GCPs (order 1,
bilinear) to a GeoTIFF. `--s1-only` runs just this part; `--no-s1` skips it.

The Python package (`eopf_geozarr_rs.convert`, wheel built by
bench/pyapi-venv.sh) runs the same conversion as `ours`, to show the API
costs nothing over the CLI.

Usage: bench/run [--scale 1] [--python-cap 600] [--no-python] [--no-py012]
                 [--no-pyapi] [--no-scaling] [--no-engine] [--engine-only]
                 [--no-s1] [--s1-only]
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
GROUPS = [f"/measurements/reflectance/r{r}m" for r in (10, 20, 60)]


def tree_rss(pid):
    """Resident bytes of `pid` and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def measure(name, cmd, out=None, cap=None, env=None):
    """Run `cmd`, sampling the process tree; return a result dict."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    print(f"== {name}: {' '.join(map(str, cmd))}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    log = open(BENCH / "work" / f"{name}.log", "w")
    proc = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    peak, timed_out = 0, False
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        if cap and time.monotonic() - t0 > cap:
            timed_out = True
            os.killpg(proc.pid, 9)
            proc.wait()
            break
        time.sleep(0.05)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r = {
        "name": name,
        "command": [str(c) for c in cmd],
        "exit": proc.returncode,
        "timed_out": timed_out,
        "cap_s": cap,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak / 1e6),
        "output_bytes": du(out) if out is not None and not timed_out else None,
    }
    state = "> cap" if timed_out else ("ok" if proc.returncode == 0 else f"FAILED ({proc.returncode})")
    print(f"   {state}: wall {r['wall_s']} s, cpu {r['cpu_s']} s, peak RSS {r['peak_rss_mb']} MB", flush=True)
    return r


def python_tool():
    """The pinned venv with eopf-geozarr 0.8.0 (made once)."""
    venv = BENCH / ".venv-python"
    req = BENCH / "python-tool-requirements.txt"
    stamp = venv / "requirements.txt"
    if not (stamp.exists() and stamp.read_text() == req.read_text()):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(req)], check=True)
        shutil.copy(req, stamp)
    return venv / "bin/eopf-geozarr"


def grpc_noop(tls_dir=None, tasks=200000):
    """No-op tasks/s through a real scheduler and 2 workers on loopback;
    over TLS when `tls_dir` holds ca.pem, cert.pem and key.pem."""
    b = ROOT / "target/release"
    env = dict(os.environ, GEOZARR_TOKEN=f"bench-{os.getpid()}")
    sched_tls, worker_tls, scheme = [], [], "http"
    if tls_dir:
        sched_tls = ["--tls-cert", tls_dir / "cert.pem", "--tls-key", tls_dir / "key.pem"]
        worker_tls = ["--tls-ca", tls_dir / "ca.pem"]
        env["GEOZARR_TLS_CA"] = str(tls_dir / "ca.pem")
        scheme = "https"
    sched = subprocess.Popen([b / "geozarr-scheduler", "--listen", "127.0.0.1:0", *sched_tls],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    procs = [sched]
    try:
        addr = sched.stdout.readline().strip().removeprefix("listening on ")
        url = f"{scheme}://{addr}"
        for _ in range(2):
            procs.append(subprocess.Popen([b / "geozarr-worker", "--scheduler", url, "--slots", "64",
                                           "--reconnect-wait", "0", *worker_tls], env=env,
                                          stderr=subprocess.DEVNULL))
        out = subprocess.run([b / "geozarr-engine-bench", "grpc", url, str(tasks)], capture_output=True,
                             text=True, check=True, env=env).stdout
        return float(re.search(r"= ([0-9.]+) tasks/s", out).group(1))
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()


def test_pki(d):
    """A CA and a certificate for 127.0.0.1 it signed (openssl), in `d`."""
    ssl = ["openssl"]
    q = dict(capture_output=True, check=True, cwd=d)
    subprocess.run([*ssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bench-ca"], **q)
    subprocess.run([*ssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=127.0.0.1"], **q)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run([*ssl, "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "cert.pem", "-days", "1", "-extfile", "ext"], **q)
    return d


def engine_figures():
    """State-machine events/s and gRPC no-op tasks/s (2 local workers),
    plaintext and over TLS: five interleaved pairs of 1M-task runs, medians
    (a single short run swings by ±20 % on a shared machine)."""
    import tempfile
    bench = ROOT / "target/release/geozarr-engine-bench"
    out = subprocess.run([bench, "state", "1000000"], capture_output=True, text=True, check=True).stdout
    state = float(re.search(r"= ([0-9.]+) M events/s", out).group(1))
    plains, tlss = [], []
    with tempfile.TemporaryDirectory() as t:
        pki = test_pki(Path(t))
        for _ in range(5):
            plains.append(grpc_noop(tasks=1000000))
            tlss.append(grpc_noop(pki, tasks=1000000))
    plain, tls = statistics.median(plains), statistics.median(tlss)
    return {"state_machine_m_events_per_s": state,
            "grpc_noop_tasks_per_s_2_workers": round(plain),
            "grpc_noop_tasks_per_s_2_workers_tls": round(tls),
            "tls_over_plaintext": round(tls / plain, 2)}


S1_SCHEMA = ROOT / "synth/schemas/S1A_IW_GRDH_1SDV_20241218T180252_20241218T180317_057050_0702F2_0BC2.json"


def mdim_values(inp, array):
    """The values of a small input array, read by GDAL's Zarr driver."""
    out = subprocess.run(["gdalmdiminfo", "-detailed", "-array", array, str(inp)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["values"]


def s1_gdal_vrt(inp, pols, path):
    """A VRT over the DN of every polarisation (GDAL's Zarr driver) with the
    product's GCP grid (GDAL's pixel-corner convention: centre + 0.5)."""
    g = f"/{pols[0]}/conditions/gcp"
    lines = mdim_values(inp, f"{g}/line")
    pixels = mdim_values(inp, f"{g}/pixel")
    lat = mdim_values(inp, f"{g}/latitude")
    lon = mdim_values(inp, f"{g}/longitude")
    info = subprocess.run(["gdalinfo", "-json", f'ZARR:"{inp}":/{pols[0]}/measurements/grd'],
                          capture_output=True, text=True, check=True).stdout
    w, h = json.loads(info)["size"]
    gcps = "".join(
        f'<GCP Id="{i}_{j}" Pixel="{float(p) + 0.5!r}" Line="{float(l) + 0.5!r}" '
        f'X="{lon[i][j]!r}" Y="{lat[i][j]!r}"/>'
        for i, l in enumerate(lines) for j, p in enumerate(pixels))
    bands = "".join(
        f'<VRTRasterBand dataType="UInt16" band="{k + 1}"><NoDataValue>0</NoDataValue><SimpleSource>'
        f'<SourceFilename>ZARR:"{inp}":/{pol}/measurements/grd</SourceFilename><SourceBand>1</SourceBand>'
        f'</SimpleSource></VRTRasterBand>'
        for k, pol in enumerate(pols))
    path.write_text(f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">'
                    f'<GCPList Projection="EPSG:4326">{gcps}</GCPList>{bands}</VRTDataset>\n')


def s1_runs(exe, work, scale):
    """Sentinel-1 GRD: ours (σ⁰, UTM 10 m, overviews) against gdalwarp of the DN."""
    inp = work / f"s1-grd-scale{scale}.zarr"
    if not (inp / ".zmetadata").exists():
        shutil.rmtree(inp, ignore_errors=True)
        subprocess.run([exe, "synth", inp, "--scale", str(scale), "--schema", S1_SCHEMA], check=True)
    pols = sorted(p.name for p in inp.iterdir() if (p / "measurements/grd").is_dir())
    in_bytes = du(inp)
    runs = []
    out = work / "out-s1"
    runs.append(measure("s1-ours-sigma0", [exe, "convert", inp, out, "--overwrite"], out))
    # the output grid of ours, for GDAL's extent
    sr = json.loads((out / pols[0] / "measurements/0/spatial_ref/zarr.json").read_text())
    band = json.loads((out / pols[0] / "measurements/0/sigma0/zarr.json").read_text())
    gt = [float(v) for v in sr["attributes"]["GeoTransform"].split()]
    h, w = band["shape"]
    epsg = sr["attributes"]["crs_wkt"].rsplit('AUTHORITY["EPSG","', 1)[1].split('"')[0]
    shutil.rmtree(out, ignore_errors=True)
    out = work / "out-s1-lw2"
    runs.append(measure("s1-ours-sigma0-local-workers-2",
                        [exe, "convert", inp, out, "--overwrite", "--local-workers", "2"], out))
    shutil.rmtree(out, ignore_errors=True)
    vrt = work / "s1-dn-gcps.vrt"
    s1_gdal_vrt(inp, pols, vrt)
    tif = work / "out-s1-gdal.tif"
    if tif.exists():
        tif.unlink()
    te = [gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3]]
    runs.append(measure("s1-gdalwarp-dn-order1",
                        ["gdalwarp", "-q", "-multi", "-wo", "NUM_THREADS=ALL_CPUS", "-order", "1",
                         "-r", "bilinear", "-t_srs", f"EPSG:{epsg}", "-te", *map(repr, te),
                         "-tr", repr(gt[1]), repr(-gt[5]), "-srcnodata", "0", "-dstnodata", "0",
                         "-co", "TILED=YES", "-co", "BIGTIFF=YES", vrt, tif]))
    runs[-1]["output_bytes"] = tif.stat().st_size if tif.exists() else None
    if tif.exists():
        tif.unlink()
    for r in runs:
        r["input_bytes"] = in_bytes
        r["input_mb_per_s"] = round(in_bytes / 1e6 / r["wall_s"], 1)
    by = {r["name"]: r for r in runs}
    ratios = {
        "s1_ours_over_gdalwarp_wall": round(by["s1-ours-sigma0"]["wall_s"] / by["s1-gdalwarp-dn-order1"]["wall_s"], 2),
        "s1_ours_peak_rss_mb": by["s1-ours-sigma0"]["peak_rss_mb"],
        "s1_output_grid": [h, w],
    }
    return runs, ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=1, help="synthetic product scale (1 = full size)")
    ap.add_argument("--python-cap", type=int, default=600, help="seconds before a Python tool run is stopped")
    ap.add_argument("--no-python", action="store_true", help="skip the Python tool 0.8.0 (geozarr-0.4 peer)")
    ap.add_argument("--no-py012", action="store_true",
                    help="skip the Python tool 0.12.0 (conventions peer: convert-s2-optimized)")
    ap.add_argument("--no-pyapi", action="store_true",
                    help="skip the Python package run (eopf_geozarr_rs.convert, same as `ours`)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scale 4/2/1 run")
    ap.add_argument("--no-engine", action="store_true", help="skip the state-machine and gRPC figures")
    ap.add_argument("--no-s1", action="store_true", help="skip the Sentinel-1 GRD runs")
    ap.add_argument("--s1-only", action="store_true", help="only the Sentinel-1 GRD runs")
    ap.add_argument("--engine-only", action="store_true",
                    help="only the state-machine and gRPC figures, printed (bench/engine.sh uses it)")
    a = ap.parse_args()
    if a.engine_only:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
        for k, v in engine_figures().items():
            print(f"{k}: {v}")
        return

    work = BENCH / "work"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
    exe = ROOT / "target/release/eopf-geozarr"
    floor = ROOT / "target/release/transcode-floor"
    if a.s1_only:
        runs, ratios = s1_runs(exe, work, a.scale)
        result = {
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip(),
            "scale": a.scale, "runs": runs, "ratios": ratios,
        }
        report(result, runs, ratios)
        return

    def product(scale, encoding="default"):
        p = work / (f"s2a-l2a-scale{scale}" + ("" if encoding == "default" else f"-{encoding}"))
        if not (p / ".zmetadata").exists():
            shutil.rmtree(p, ignore_errors=True)
            subprocess.run([exe, "synth", "--scale", str(scale), "--encoding", encoding, p], check=True)
        return p

    inp = product(a.scale)
    in_bytes = du(inp)
    groups = ["--groups", *GROUPS]
    runs = [measure("floor", [floor, inp, work / "out-floor", *GROUPS], work / "out-floor"),
            measure("ours", [exe, "convert", inp, work / "out-ours", *groups], work / "out-ours")]
    # the same product as zarr-python 3 + numcodecs may write it (blosc
    # typesize 1: larger input, so its own floor too)
    ts1 = product(a.scale, "blosc-typesize1")
    runs.append(measure("floor-typesize1-input", [floor, ts1, work / "out-floor-ts1", *GROUPS],
                        work / "out-floor-ts1"))
    runs.append(measure("ours-typesize1-input", [exe, "convert", ts1, work / "out-ours-ts1", *groups],
                        work / "out-ours-ts1"))
    for r in runs[-2:]:
        r["input_bytes"] = du(ts1)
    helptext = subprocess.run([exe, "convert", "--help"], capture_output=True, text=True).stdout
    # the Python package: the same conversion through eopf_geozarr_rs.convert
    if not a.no_pyapi:
        py = subprocess.run([BENCH / "pyapi-venv.sh"], capture_output=True, text=True,
                            check=True).stdout.strip()
        code = ("import sys, eopf_geozarr_rs as eg; "
                "eg.convert(sys.argv[1], sys.argv[2], groups=sys.argv[3:])")
        runs.append(measure("ours-python-api", [py, "-c", code, inp, work / "out-pyapi", *GROUPS],
                            work / "out-pyapi"))
    if "--local-workers" in helptext:
        runs.append(measure("ours-local-workers-2",
                            [exe, "convert", inp, work / "out-ours-lw2", *groups, "--local-workers", "2"],
                            work / "out-ours-lw2"))
    # the conventions profile: the same reflectance groups (vs. geozarr-0.4),
    # then every multiscale group (vs. the Python tool 0.12.0)
    refl = ["--groups", "/measurements/reflectance"]
    runs.append(measure("ours-conventions", [exe, "convert", inp, work / "out-conv", *refl,
                                             "--profile", "conventions"], work / "out-conv"))
    runs.append(measure("ours-conventions-shard", [exe, "convert", inp, work / "out-conv-shard", *refl,
                                                   "--profile", "conventions", "--shard"],
                        work / "out-conv-shard"))
    runs.append(measure("ours-conventions-all", [exe, "convert", inp, work / "out-conv-all",
                                                 "--profile", "conventions"], work / "out-conv-all"))
    runs.append(measure("ours-conventions-all-shard", [exe, "convert", inp, work / "out-conv-all-shard",
                                                       "--profile", "conventions", "--shard"],
                        work / "out-conv-all-shard"))
    if not a.no_py012:
        tool012 = subprocess.run([BENCH / "py012-venv.sh"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        runs.append(measure("python-0.12", [tool012, "convert-s2-optimized", inp, work / "out-py012"],
                            work / "out-py012", a.python_cap, env))
        runs.append(measure("python-0.12-shard", [tool012, "convert-s2-optimized", inp,
                                                  work / "out-py012-shard", "--enable-sharding"],
                            work / "out-py012-shard", a.python_cap, env))
    if not a.no_python:
        tool = python_tool()
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        runs.append(measure("python", [tool, "convert", inp, work / "out-python", *groups],
                            work / "out-python", a.python_cap, env))
        runs.append(measure("python-dask-cluster",
                            [tool, "convert", inp, work / "out-python-dask", *groups, "--dask-cluster"],
                            work / "out-python-dask", a.python_cap, env))
    for r in runs:
        r["input_mb_per_s"] = round(r.get("input_bytes", in_bytes) / 1e6 / r["wall_s"], 1)
    by = {r["name"]: r for r in runs}

    def ratio(x, y, key="wall_s"):
        if x in by and y in by and by[x][key] and by[y][key] and not by[x]["timed_out"]:
            return round(by[x][key] / by[y][key], 2)
        return None

    ratios = {
        "ours_over_floor": ratio("ours", "floor"),
        "python_over_ours": ratio("python", "ours"),
        "python_dask_over_ours": ratio("python-dask-cluster", "ours"),
        "local_workers_2_over_ours": ratio("ours-local-workers-2", "ours"),
        "python_api_over_ours": ratio("ours-python-api", "ours"),
        "typesize1_input_over_ours": ratio("ours-typesize1-input", "ours"),
        "typesize1_ours_over_its_floor": ratio("ours-typesize1-input", "floor-typesize1-input"),
        "typesize1_input_over_ours_peak_rss": ratio("ours-typesize1-input", "ours", "peak_rss_mb"),
        "output_bytes_ours_over_python": ratio("ours", "python", "output_bytes"),
        "conventions_over_ours": ratio("ours-conventions", "ours"),
        "conventions_shard_over_ours": ratio("ours-conventions-shard", "ours"),
        "python012_over_ours_conventions_all": ratio("python-0.12", "ours-conventions-all"),
        "python012_shard_over_ours_conventions_all_shard":
            ratio("python-0.12-shard", "ours-conventions-all-shard"),
        "output_bytes_conventions_all_over_python012":
            ratio("ours-conventions-all", "python-0.12", "output_bytes"),
        "output_bytes_conventions_all_shard_over_python012_shard":
            ratio("ours-conventions-all-shard", "python-0.12-shard", "output_bytes"),
    }
    if not a.no_s1:
        s1, s1_ratios = s1_runs(exe, work, a.scale)
        runs += s1
        ratios.update(s1_ratios)
    scaling = []
    if not a.no_scaling:
        for s in (4, 2, 1):
            r = measure(f"ours-scale{s}", [exe, "convert", product(s), work / f"out-scale{s}", *groups],
                        work / f"out-scale{s}")
            r["scale"] = s
            r["input_bytes"] = du(product(s))
            scaling.append(r)
    result = {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip(),
        "scale": a.scale,
        "input_bytes": in_bytes,
        "groups": GROUPS,
        "runs": runs,
        "ratios": ratios,
        "scaling": scaling,
        "engine": None if a.no_engine else engine_figures(),
    }
    report(result, runs + scaling, ratios)


def report(result, rows, ratios):
    """Print the table and ratios, write bench/results/<time>.json."""
    print()
    print(f"{'run':<24}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}{'output MB':>11}{'in MB/s':>9}")
    for r in rows:
        wall = f"> {r['cap_s']}" if r["timed_out"] else f"{r['wall_s']:.1f}"
        outmb = "-" if r["output_bytes"] is None else f"{r['output_bytes'] / 1e6:.0f}"
        fail = "" if r["exit"] == 0 or r["timed_out"] else "  FAILED"
        print(f"{r['name']:<24}{wall:>9}{r['cpu_s']:>9.1f}{r['peak_rss_mb']:>13}{outmb:>11}"
              f"{r['input_mb_per_s']:>9}{fail}" if "input_mb_per_s" in r else
              f"{r['name']:<24}{wall:>9}{r['cpu_s']:>9.1f}{r['peak_rss_mb']:>13}{outmb:>11}{'':>9}{fail}")
    print()
    for k, v in ratios.items():
        if v is not None and k != "s1_output_grid":
            print(f"{k}: {v}")
    for k, v in (result.get("engine") or {}).items():
        print(f"{k}: {v}")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    name = results / (result["time_utc"].replace(":", "").replace("+0000", "Z") + ".json")
    name.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {name.relative_to(ROOT)}")
    if any(r["exit"] != 0 and not r["timed_out"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
