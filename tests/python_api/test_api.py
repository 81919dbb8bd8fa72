"""The Python package eopf_geozarr_rs against the CLI (run by scripts/python-api-tests.sh).

EOPF_GEOZARR_BIN names the CLI binary (target/release/eopf-geozarr)."""

import _thread
import json
import logging
import os
import shutil
import socket
import subprocess
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import eopf_geozarr_rs as eg

CLI_SECONDS = []
BIN = os.environ.get("EOPF_GEOZARR_BIN", "target/release/eopf-geozarr")
GROUPS = [
    "/measurements/reflectance/r10m",
    "/measurements/reflectance/r20m",
    "/measurements/reflectance/r60m",
]


def cli(*args):
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def files(root: Path) -> dict:
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def assert_same_store(a: Path, b: Path):
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    diff = [k for k in fa if fa[k] != fb[k]]
    assert not diff, diff[:10]
    assert len(fa) > 50


@pytest.fixture(scope="session")
def product(tmp_path_factory):
    d = tmp_path_factory.mktemp("p") / "S2A_synthetic_scale20.zarr"
    cli("synth", d, "--scale", 20)
    return d


@pytest.fixture(scope="session")
def cli_out(product, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out.zarr"
    cli("convert", product, out, "--groups", *GROUPS)
    return out


@pytest.fixture(scope="session")
def big_product(tmp_path_factory):
    """Large enough that a conversion takes a couple of seconds."""
    d = tmp_path_factory.mktemp("big") / "S2A_synthetic_scale3.zarr"
    cli("synth", d, "--scale", 3)
    return d


@pytest.fixture(scope="session")
def big_cli_out(big_product, tmp_path_factory):
    out = tmp_path_factory.mktemp("bigcli") / "out.zarr"
    t = time.perf_counter()
    cli("convert", big_product, out)
    CLI_SECONDS.append(time.perf_counter() - t)
    return out


# ---- the Python tool README's example, local output


def test_readme_example_datatree_local(product, cli_out, tmp_path):
    import xarray as xr  # in the test venv: a missing xarray is a failure
    dt = xr.open_datatree(str(product), engine="zarr")
    out = tmp_path / "geozarr.zarr"
    dt_geozarr = eg.create_geozarr_dataset(
        dt_input=dt,
        groups=GROUPS,
        output_path=str(out),
        spatial_chunk=4096,
        min_dimension=256,
        tile_width=256,
        max_retries=3,
    )
    assert isinstance(dt_geozarr, xr.DataTree)
    for g in GROUPS:
        assert g in dt_geozarr.groups
        assert f"{g}/0" in dt_geozarr.groups
    assert "b02" in dt_geozarr["/measurements/reflectance/r10m/0"].data_vars
    dt_geozarr.close()
    assert_same_store(out, cli_out)


def test_create_with_path(product, cli_out, tmp_path):
    out = tmp_path / "o.zarr"
    r = eg.create_geozarr_dataset(str(product), GROUPS, out)
    groups = r.groups if not isinstance(r, str) else ()
    assert "/measurements/reflectance/r10m/1" in groups and "/measurements/reflectance/r20m/0" in groups
    assert_same_store(out, cli_out)


def test_datatree_in_memory_or_modified_is_value_error(product, tmp_path):
    import xarray as xr  # in the test venv: a missing xarray is a failure
    mem = xr.DataTree.from_dict({"/a": xr.Dataset({"v": ("x", np.arange(3))})})
    with pytest.raises(ValueError, match="pass the product's path"):
        eg.create_geozarr_dataset(mem, GROUPS, tmp_path / "x.zarr")
    dt = xr.open_datatree(str(product), engine="zarr")
    dt["/measurements/reflectance/r10m"].attrs["changed"] = 1
    with pytest.raises(ValueError, match="modified in memory"):
        eg.create_geozarr_dataset(dt, GROUPS, tmp_path / "y.zarr")
    dt = xr.open_datatree(str(product), engine="zarr")
    x = dt["/measurements/reflectance/r10m"]["x"]
    dt["/measurements/reflectance/r10m"] = dt["/measurements/reflectance/r10m"].to_dataset().assign_coords(x=x.values + 1)
    with pytest.raises(ValueError, match="modified in memory"):
        eg.create_geozarr_dataset(dt, GROUPS, tmp_path / "z.zarr")
    assert not (tmp_path / "y.zarr").exists() and not (tmp_path / "z.zarr").exists()


# ---- the README's S3 example against s3s-fs


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def s3(tmp_path, monkeypatch):
    exe = os.environ.get("S3S_FS") or str(Path.home() / ".cargo/bin/s3s-fs")
    assert Path(exe).exists(), f"{exe}: s3s-fs 0.14.1 missing (scripts/test.sh installs it)"
    root = tmp_path / "s3"
    (root / "bucket").mkdir(parents=True)
    port = free_port()
    key, secret = "pyapi-test-key", "pyapi-test-secret-NEVER-SHOWN"
    p = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "--port", str(port), "--access-key", key, "--secret-key", secret, str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield root, secret
    p.kill()
    p.wait()


def test_readme_example_s3(product, cli_out, s3, monkeypatch):
    root, secret = s3
    import xarray as xr  # in the test venv: a missing xarray is a failure
    dt = xr.open_datatree(str(product), engine="zarr")
    monkeypatch.setitem(os.environ, "AWS_DEFAULT_REGION", "us-east-1")
    s = eg.convert(str(product), "s3://bucket/out/geozarr.zarr", groups=GROUPS)
    assert s["bands"] > 0
    assert_same_store(root / "bucket/out/geozarr.zarr", cli_out)
    # and through create_geozarr_dataset with a DataTree: the S3 output
    # comes back opened by xarray (s3fs, the same AWS variables)
    got = eg.create_geozarr_dataset(dt, GROUPS, "s3://bucket/out2/geozarr.zarr")
    assert_same_store(root / "bucket/out2/geozarr.zarr", cli_out)
    assert isinstance(got, xr.DataTree)
    ref = xr.open_datatree(str(cli_out), engine="zarr")
    for g in GROUPS:
        band = f"{g}/0/" + ("b02" if g.endswith("10m") else "b05")
        np.testing.assert_array_equal(got[band].values, ref[band].values)
    # wrong secret: CredentialsError, and the secret never appears
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + secret)
    with pytest.raises(eg.CredentialsError) as ei:
        eg.convert(str(product), "s3://bucket/out3/geozarr.zarr", groups=GROUPS)
    assert secret not in str(ei.value)


# ---- numpy functions


def ref_downsample(a, fill=None):
    h, w = a.shape
    oh, ow = (h + 1) // 2, (w + 1) // 2
    out = np.empty((oh, ow), dtype=a.dtype)
    for i in range(oh):
        for j in range(ow):
            blk = a[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel()
            ok = np.ones(blk.shape, bool)
            if a.dtype.kind == "f":
                ok &= ~np.isnan(blk)
            if fill is not None:
                ok &= blk != fill
            v = blk[ok]
            if v.size == 0:
                out[i, j] = fill if fill is not None else np.nan
            elif a.dtype.kind == "f":
                out[i, j] = v.astype(np.float64).mean()
            else:
                s, n = int(v.astype(np.int64).sum()), v.size
                out[i, j] = (2 * s + n) // (2 * n) if s >= 0 else -((-2 * s + n) // (2 * n))
    return out


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 2), (9, 11), (16, 13)])
def test_downsample_float_nan(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.random(shape, dtype=np.float32)
    a[rng.random(shape) < 0.3] = np.nan
    got = eg.downsample_2d_array(a)
    assert got.dtype == np.float32 and got.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    np.testing.assert_allclose(got, ref_downsample(a), rtol=1e-6, equal_nan=True)
    # non-contiguous input: same result
    b = np.asfortranarray(a)
    np.testing.assert_allclose(eg.downsample_2d_array(b), got, equal_nan=True)


@pytest.mark.parametrize("shape", [(5, 7), (10, 3), (13, 13)])
def test_downsample_uint16_fill(shape):
    rng = np.random.default_rng(shape[0])
    a = rng.integers(1, 20000, shape, dtype=np.uint16)
    a[rng.random(shape) < 0.4] = 0
    a[:2, :2] = 0  # a block of nodata only
    got = eg.downsample_2d_array(a, fill_value=0)
    assert got.dtype == np.uint16 and got[0, 0] == 0
    np.testing.assert_array_equal(got, ref_downsample(a, 0))
    # the Python tool's positional form
    np.testing.assert_array_equal(
        eg.downsample_2d_array(a, (shape[0] + 1) // 2, (shape[1] + 1) // 2, 0), got
    )
    with pytest.raises(ValueError):
        eg.downsample_2d_array(a, 1, 1)


@pytest.mark.parametrize(
    "n,target,want",
    [(5490, 3660, 2745), (10980, 4096, 3660), (1830, 4096, 1830), (10980, 1024, 915), (97, 10, 1), (4096, 4096, 4096), (20, 7, 5)],
)
def test_aligned_chunk_size(n, target, want):
    assert eg.calculate_aligned_chunk_size(n, target) == want


def test_grid_mapping_and_band_check(cli_out):
    import xarray as xr  # in the test venv: a missing xarray is a failure
    ds = xr.open_dataset(cli_out, group="measurements/reflectance/r10m/0", engine="zarr")
    assert eg.is_grid_mapping_variable(ds, "spatial_ref")
    assert not eg.is_grid_mapping_variable(ds, "b02")
    assert eg.validate_existing_band_data(ds, "b02", ds)
    assert not eg.validate_existing_band_data(ds, "b99", ds)
    small = ds.isel(x=slice(0, 10))
    assert not eg.validate_existing_band_data(small, "b02", ds)


# ---- info / validate: the CLI's JSON


def test_info_validate_same_json_as_cli(cli_out, product):
    assert eg.info(cli_out) == json.loads(cli("info", "--json", cli_out))
    assert eg.validate(cli_out) == json.loads(cli("validate", "--json", cli_out))
    assert eg.validate(cli_out, deep=True)["deep"] is True
    assert eg.validate(cli_out)["valid"] is True
    assert eg.info(product) == json.loads(cli("info", "--json", product))


# ---- errors


def test_error_classes(product, cli_out, tmp_path, monkeypatch):
    with pytest.raises(eg.InputError, match="does not exist"):
        eg.convert(tmp_path / "missing.zarr", tmp_path / "o.zarr")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    with pytest.raises(eg.OutputError, match="not a GeoZarr store"):
        eg.convert(product, foreign)
    (tmp_path / "afile").write_text("")
    with pytest.raises(eg.OutputError):
        eg.convert(product, tmp_path / "afile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(eg.CredentialsError, match="AWS_SECRET_ACCESS_KEY"):
        eg.convert(product, "s3://bucket/x.zarr")
    broken = tmp_path / "broken.zarr"
    shutil.copytree(cli_out, broken)
    meta = broken / "measurements/reflectance/r10m/0/b02/zarr.json"
    doc = json.loads(meta.read_text())
    doc["shape"] = [doc["shape"][0] + 1, doc["shape"][1]]
    meta.write_text(json.dumps(doc))
    (broken / "zarr.json").write_text(
        json.dumps({k: v for k, v in json.loads((broken / "zarr.json").read_text()).items() if k != "consolidated_metadata"})
    )
    assert eg.validate(broken)["valid"] is False
    with pytest.raises(eg.ValidationError, match="failed"):
        eg.validate(broken, strict=True)
    for c in (eg.InputError, eg.OutputError, eg.CredentialsError, eg.ValidationError):
        assert issubclass(c, eg.GeoZarrError)
    with pytest.raises(ValueError):
        eg.convert(product, tmp_path / "p.zarr", profile="nope")


# ---- progress, logging, GIL, Ctrl-C


def test_progress_logging_and_gil(big_product, big_cli_out, tmp_path, caplog):
    calls = []
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0.002)

    th = threading.Thread(target=counter)
    caplog.set_level(logging.INFO, logger="eopf_geozarr_rs")
    out = tmp_path / "o.zarr"
    th.start()
    t = time.perf_counter()
    s = eg.convert(big_product, out, progress=lambda d, n, m: calls.append((d, n, m)))
    dt = time.perf_counter() - t
    stop.set()
    th.join()
    # another Python thread kept running during the conversion
    assert count[0] > 0.3 * dt / 0.002, (count[0], dt)
    assert calls and calls[-1][0] == calls[-1][1] == s["band_chunks"] > 0
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert any("planned" in r.getMessage() for r in caplog.records if r.name == "eopf_geozarr_rs")
    assert_same_store(out, big_cli_out)
    print(f"python API {dt:.2f} s, CLI {CLI_SECONDS[0]:.2f} s (scale 3)")


@pytest.mark.parametrize("local_workers", [None, 2], ids=["in-process", "local-cluster"])
def test_keyboard_interrupt_then_resume(big_product, big_cli_out, tmp_path, monkeypatch, local_workers):
    # the local cluster runs `python -m eopf_geozarr_rs._cluster` processes
    monkeypatch.delenv("GEOZARR_BIN_DIR", raising=False)
    out = tmp_path / "o.zarr"
    started = threading.Event()
    seen = []

    # interrupt once the conversion is under way (a fixed delay raced a fast
    # machine: the conversion could finish first)
    def interrupt():
        started.wait(120)
        seen.append(time.perf_counter())
        _thread.interrupt_main()

    def progress(done, total, msg):
        if 0 < done < total:
            started.set()

    # a test run started in the background (nohup, `&`) inherits SIGINT
    # ignored, and then interrupt_main() does nothing: Python's own handler
    # here, as in an interactive session
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            eg.convert(big_product, out, progress=progress, local_workers=local_workers)
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped = time.perf_counter()
    assert seen and stopped - seen[0] < 1.0, stopped - seen[0]
    # no cluster process left; unfinished (no consolidated metadata yet)
    assert our_cluster_children() == []
    root = json.loads((out / "zarr.json").read_text())
    assert "consolidated_metadata" not in root
    if local_workers is None:
        # cancelled cooperatively: nothing half-written (killed workers may
        # leave temporary files, which the resume removes)
        assert not [p for p in out.rglob("*.tmp")]
    s = eg.convert(big_product, out, local_workers=local_workers)
    assert s["resumed"] is True
    assert not [p for p in out.rglob("*.tmp")]
    assert_same_store(out, big_cli_out)


def test_progress_exception_stops_the_conversion(big_product, big_cli_out, tmp_path):
    out = tmp_path / "o.zarr"

    def boom(done, total, msg):
        if done > 0:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        eg.convert(big_product, out, progress=boom)
    assert "consolidated_metadata" not in json.loads((out / "zarr.json").read_text())
    eg.convert(big_product, out)
    assert_same_store(out, big_cli_out)


def our_cluster_children():
    """Processes of a local cluster started by this test process."""
    me, out = str(os.getpid()), []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if ppid == me and ("eopf_geozarr_rs._cluster" in cmd or "geozarr-worker" in cmd):
            out.append(cmd)
    return out


def test_local_workers_run_python_processes_same_output(product, cli_out, tmp_path, monkeypatch):
    # no GEOZARR_BIN_DIR: the workers are `python -m eopf_geozarr_rs._cluster`
    monkeypatch.delenv("GEOZARR_BIN_DIR", raising=False)
    seen = []
    s = eg.convert(
        product, tmp_path / "o.zarr", groups=GROUPS, local_workers=2,
        progress=lambda d, t, m: seen.append(our_cluster_children()),
    )
    assert s["band_chunks"] > 0
    assert_same_store(tmp_path / "o.zarr", cli_out)
    # the cluster ran as Python processes of the package, and is gone now
    assert any(any("_cluster geozarr-worker" in c for c in kids) for kids in seen), seen[:3]
    assert our_cluster_children() == []
    # band tasks too, and dask_cluster= (one worker per core) as an alias
    eg.convert(product, tmp_path / "b.zarr", groups=GROUPS, dask_cluster=True, cluster_tasks="band")
    assert_same_store(tmp_path / "b.zarr", cli_out)


@pytest.fixture
def scheduler(monkeypatch):
    """A real geozarr-scheduler and one geozarr-worker (the binaries next to
    the CLI), sharing a token; yields the scheduler URL."""
    bindir = Path(BIN).resolve().parent
    token = "s3cr3t-" + os.urandom(8).hex()
    env = {**os.environ, "GEOZARR_TOKEN": token}
    sched = subprocess.Popen(
        [bindir / "geozarr-scheduler", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    line = sched.stdout.readline()
    assert line.startswith("listening on "), line
    url = "http://" + line.split()[-1]
    worker = subprocess.Popen(
        [bindir / "geozarr-worker", "--scheduler", url, "--slots", "2"], env=env,
    )
    monkeypatch.setenv("GEOZARR_TOKEN", token)
    try:
        yield url, token
    finally:
        for p in (worker, sched):
            p.kill()
            p.wait()


def test_scheduler_url_same_output(product, cli_out, tmp_path, scheduler, monkeypatch):
    url, token = scheduler
    eg.convert(product, tmp_path / "o.zarr", groups=GROUPS, scheduler=url)
    assert_same_store(tmp_path / "o.zarr", cli_out)
    # a wrong token: a GeoZarrError that names the problem, not the token
    monkeypatch.setenv("GEOZARR_TOKEN", "wrong-" + token)
    with pytest.raises(eg.GeoZarrError) as e:
        eg.convert(product, tmp_path / "w.zarr", groups=GROUPS, scheduler=url)
    assert "token" in str(e.value).lower(), str(e.value)
    assert token not in str(e.value)


def test_cluster_option_errors(product, tmp_path):
    with pytest.raises(ValueError, match="one or the other"):
        eg.convert(product, tmp_path / "o.zarr", local_workers=2, scheduler="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="at least 1"):
        eg.convert(product, tmp_path / "o.zarr", local_workers=0)
    with pytest.raises(ValueError, match="cluster_tasks"):
        eg.convert(product, tmp_path / "o.zarr", local_workers=1, cluster_tasks="tile")
    assert not (tmp_path / "o.zarr").exists()
    # nobody listening: a clear error naming the scheduler, no output
    with pytest.raises(eg.GeoZarrError, match="127.0.0.1:1"):
        eg.convert(product, tmp_path / "o.zarr", scheduler="http://127.0.0.1:1")


# ---- setup_datatree_metadata_geozarr_spec_compliant


def test_setup_metadata_is_what_convert_writes(product, cli_out):
    import xarray as xr

    dt = xr.open_datatree(str(product), engine="zarr")
    got = eg.setup_datatree_metadata_geozarr_spec_compliant(
        dt, GROUPS + ["/measurements/reflectance/r999m"]
    )
    assert list(got) == GROUPS  # absent groups are skipped, as the Python tool does
    ours = xr.open_datatree(str(cli_out), engine="zarr")
    for g, ds in got.items():
        written = ours[g + "/0"].to_dataset()  # geozarr-0.4: the native level is 0
        assert ds.attrs == written.attrs, g
        assert set(ds.data_vars) == set(dt[g].data_vars)
        for name in ds.data_vars:
            assert ds[name].attrs == written[name].attrs, (g, name)
            assert ds[name].attrs.get("grid_mapping") == "spatial_ref"
            assert ds[name].encoding.get("scale_factor") == written[name].encoding.get("scale_factor")
            # the data is the input's, untouched
            np.testing.assert_array_equal(ds[name].values[:5, :5], dt[g][name].values[:5, :5])
        assert ds["spatial_ref"].attrs == written["spatial_ref"].attrs
        assert "crs_wkt" in ds["spatial_ref"].attrs
        for c in ("x", "y"):
            assert ds[c].attrs == written[c].attrs, (g, c)
    # a DataTree built in memory has no store to plan from
    with pytest.raises(ValueError, match="path"):
        eg.setup_datatree_metadata_geozarr_spec_compliant(xr.DataTree(), GROUPS)
