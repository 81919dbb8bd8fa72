"""eopf_geozarr_rs: the eopf-geozarr Python tool's API, backed by the Rust engine.

Switching from the Python tool is an import change::

    from eopf_geozarr_rs import create_geozarr_dataset

Conversions run in Rust with the GIL released; Ctrl-C (KeyboardInterrupt)
stops them within a second and leaves a resumable output. Log records go to
the ``logging`` logger ``"eopf_geozarr_rs"``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from . import _native
from ._native import (
    CredentialsError,
    GeoZarrError,
    InputError,
    OutputError,
    ValidationError,
)

__all__ = [
    "GeoZarrError",
    "InputError",
    "OutputError",
    "CredentialsError",
    "ValidationError",
    "convert",
    "info",
    "validate",
    "create_geozarr_dataset",
    "setup_datatree_metadata_geozarr_spec_compliant",
    "downsample_2d_array",
    "calculate_aligned_chunk_size",
    "is_grid_mapping_variable",
    "validate_existing_band_data",
]


def convert(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    groups: Sequence[str] | None = None,
    profile: str = "geozarr-0.4",
    overwrite: bool = False,
    local_workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, str], Any] | None = None,
    spatial_chunk: int = 4096,
    min_dimension: int = 256,
    tile_width: int = 256,
    max_retries: int = 3,
    crs_groups: Sequence[str] | None = None,
    shard: bool = False,
    inner_chunk: int = 256,
    dtype: str = "stored",
    threads: int = 0,
    cluster_tasks: str = "chunk",
    dask_cluster: bool = False,
    priority: int = 1,
    dashboard: str = "127.0.0.1:8787",
) -> dict[str, Any]:
    """Convert an EOPF product into a GeoZarr store (``eopf-geozarr convert``).

    Every keyword is the CLI flag of the same name. ``progress`` is called on
    the calling thread, at most every ~100 ms, with ``(done, total, message)``
    (band chunks; ``message`` is ``""`` or a status line such as a resume
    notice). Returns the summary as a dict. Re-running into an unfinished
    output resumes it.

    ``local_workers=N`` runs the conversion on a local cluster: a scheduler
    and N worker processes (``python -m eopf_geozarr_rs._cluster``, or the
    ``geozarr-scheduler``/``geozarr-worker`` executables in
    ``$GEOZARR_BIN_DIR``), stopped at the end, on error and on Ctrl-C;
    ``dask_cluster=True`` is one worker per core. A local cluster serves its
    live dashboard on ``dashboard`` (the next free port when taken, as
    Dask's LocalCluster does; ``"off"``: none) and logs its link. ``scheduler="http://HOST:PORT"``
    submits to a running cluster (``GEOZARR_TOKEN`` and the
    ``GEOZARR_TLS_CA/CERT/KEY`` files are used when set; ``https://`` URLs
    for TLS); ``priority`` weighs this job's share of a busy cluster.
    The output is byte-identical to an in-process run.
    """
    if dask_cluster and local_workers is None and scheduler is None:
        local_workers = os.cpu_count() or 1
    return _native.convert(
        os.fspath(input),
        os.fspath(output),
        list(groups) if groups else None,
        profile,
        bool(overwrite),
        progress,
        int(spatial_chunk),
        int(min_dimension),
        int(tile_width),
        int(max_retries),
        list(crs_groups) if crs_groups else None,
        bool(shard),
        int(inner_chunk),
        dtype,
        int(threads),
        None if local_workers is None else int(local_workers),
        scheduler,
        cluster_tasks,
        [sys.executable, "-m", "eopf_geozarr_rs._cluster"],
        int(priority),
        str(dashboard),
    )


def info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a store holds: the same document as ``eopf-geozarr info --json``."""
    return json.loads(_native.info_json(os.fspath(path)))


def validate(
    path: str | os.PathLike[str], deep: bool = False, *, strict: bool = False
) -> dict[str, Any]:
    """Check a store: the same document as ``eopf-geozarr validate --json``.

    With ``strict=True`` an invalid store raises :class:`ValidationError`
    naming the failed checks instead of returning the report.
    """
    valid, text = _native.validate_json(os.fspath(path), bool(deep))
    report = json.loads(text)
    if strict and not valid:
        fails = [c for c in report["checks"] if c["status"] == "FAIL"]
        first = "; ".join(f"{c['path']}: {c['check']}: {c['message']}" for c in fails[:3])
        more = f" (and {len(fails) - 3} more)" if len(fails) > 3 else ""
        raise ValidationError(f"{report['location']}: {len(fails)} check(s) failed: {first}{more}")
    return report


def _source_of(dt: Any) -> str:
    """The store an ``xarray.DataTree`` was opened from (``ValueError`` if none)."""
    src = None
    enc = getattr(dt, "encoding", None) or {}
    src = enc.get("source")
    if src is None:
        close = getattr(dt, "_close", None)
        store = getattr(close, "__self__", None)
        zg = getattr(store, "zarr_group", None)
        path = getattr(getattr(zg, "store", None), "root", None)
        if path is not None:
            src = str(path)
    if src is None:
        raise ValueError(
            "dt_input has no backing store (it was built or loaded in memory): "
            "pass the product's path or URL instead"
        )
    return str(src)


def _store_of(dt: Any) -> str:
    """The store an ``xarray.DataTree`` was opened from, if it is unchanged."""
    src = _source_of(dt)
    import xarray as xr

    fresh = xr.open_datatree(src, engine="zarr")
    try:
        if _differs(dt, fresh):
            raise ValueError(
                f"dt_input was modified in memory since it was opened from {src}: the "
                "conversion reads the store, not the DataTree; pass a path to the product "
                "(write your changes to a store first)"
            )
    finally:
        fresh.close()
    return str(src)


def _differs(dt: Any, fresh: Any) -> bool:
    """Does ``dt`` differ from a fresh open of its store (structure, attrs,
    in-memory values)?"""
    a, b = dict(dt.subtree_with_keys), dict(fresh.subtree_with_keys)
    if a.keys() != b.keys():
        return True
    for k, n in a.items():
        m = b[k]
        if dict(n.attrs) != dict(m.attrs):
            return True
        va, vb = n.variables, m.variables
        if set(va) != set(vb):
            return True
        for name, v in va.items():
            w = vb[name]
            if v.dims != w.dims or v.shape != w.shape or v.dtype != w.dtype:
                return True
            if dict(v.attrs) != dict(w.attrs):
                return True
            # values held in memory (assigned, or loaded and maybe changed):
            # compare them with the store's
            if getattr(v, "_in_memory", isinstance(getattr(v, "_data", None), np.ndarray)):
                x, y = np.asarray(v.values), np.asarray(w.values)
                try:
                    same = np.array_equal(x, y, equal_nan=True)
                except TypeError:  # strings, objects: no NaN
                    same = np.array_equal(x, y)
                if not same:
                    return True
    return False


def create_geozarr_dataset(
    dt_input: Any,
    groups: Sequence[str] | None,
    output_path: str | os.PathLike[str],
    spatial_chunk: int = 4096,
    min_dimension: int = 256,
    tile_width: int = 256,
    max_retries: int = 3,
    **kwargs: Any,
) -> Any:
    """The Python tool's entry point: convert ``dt_input`` into GeoZarr 0.4.

    ``dt_input`` is a path or URL, or an ``xarray.DataTree`` opened from a
    store (``xr.open_datatree(path, engine="zarr")``): its store is
    converted. A DataTree with no backing store, or one modified in memory,
    raises ``ValueError``. Other keywords go to :func:`convert`
    (``overwrite``, ``progress``, ``crs_groups``…). Returns the output opened
    lazily with ``xr.open_datatree(..., engine="zarr")`` when xarray is
    installed, else the output path.
    """
    if isinstance(dt_input, (str, os.PathLike)):
        source = os.fspath(dt_input)
    else:
        source = _store_of(dt_input)
    out = os.fspath(output_path)
    convert(
        source,
        out,
        groups=groups,
        spatial_chunk=spatial_chunk,
        min_dimension=min_dimension,
        tile_width=tile_width,
        max_retries=max_retries,
        **kwargs,
    )
    try:
        import xarray as xr
    except ImportError:
        return out
    return xr.open_datatree(out, engine="zarr", storage_options=_storage_options(out))


def _storage_options(url: str) -> dict[str, Any] | None:
    """fsspec options that reach ``url`` as the engine did: for ``s3://``, the
    endpoint from ``AWS_ENDPOINT_URL(_S3)`` (s3fs reads the credentials,
    region and profile from the same AWS variables itself)."""
    if not url.startswith("s3://"):
        return None
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


# CF encoding keys: xarray keeps them in ``.encoding`` of a decoded variable
_ENCODING_KEYS = ("_FillValue", "missing_value", "scale_factor", "add_offset")


def setup_datatree_metadata_geozarr_spec_compliant(
    dt: Any,
    groups: Sequence[str],
    gcp_group: str | None = None,
    *,
    profile: str = "geozarr-0.4",
    dtype: str = "stored",
) -> dict[str, Any]:
    """The Python tool's metadata step: for each group of ``groups`` in ``dt``
    (skipped when absent or without data variables), a copy of its dataset
    carrying the metadata :func:`convert` writes at the native level —
    each band's attributes (CF standard name, units, ``grid_mapping``…),
    the ``spatial_ref`` grid-mapping variable (CRS WKT, GeoTransform), the
    ``x``/``y`` attributes and the group's attributes — keyed by group.

    The metadata is planned by the engine from the store ``dt`` was opened
    from (``ValueError`` if it has none); the data stays ``dt``'s, lazily.
    CF encoding keys (``_FillValue``, ``scale_factor``…) go to each
    variable's ``encoding``, as xarray keeps them. ``gcp_group`` is accepted
    for compatibility: Sentinel-2 products have none.
    """
    import xarray as xr

    source = _source_of(dt)
    present = {}
    for key in groups:
        try:
            node = dt["/" + key.strip("/")]
        except KeyError:
            continue
        if node.data_vars:
            present[key] = node
    if not present:
        return {}
    keys = [k.strip("/") for k in present]
    plan = json.loads(_native.plan_json(source, keys, profile, dtype))
    nodes = plan["nodes"]
    by_input = {b["input"].strip("/"): b for b in plan["bands"]}
    out: dict[str, Any] = {}
    for key, node in present.items():
        norm = key.strip("/")
        ds = node.to_dataset().copy()
        level = None
        for name in list(ds.data_vars):
            band = by_input.get(f"{norm}/{name}")
            if band is None:
                continue
            level = band["level"]
            attrs = dict(nodes.get(band["path"], {}))
            enc = {k: attrs.pop(k) for k in _ENCODING_KEYS if k in attrs}
            ds[name].attrs = attrs
            # a float band's fill is NaN, written base64 (xarray's form): skip it
            if isinstance(enc.get("_FillValue"), str):
                del enc["_FillValue"]
            ds[name].encoding.update(enc)
        if level is None:
            continue
        for coord in ("x", "y"):
            if coord in ds.variables and f"{level}/{coord}" in nodes:
                ds[coord].attrs = dict(nodes[f"{level}/{coord}"])
        sref = nodes.get(f"{level}/spatial_ref")
        if sref is not None:
            ds = ds.assign_coords(spatial_ref=xr.Variable((), np.int64(0), dict(sref)))
        ds.attrs = dict(nodes.get(level, {}))
        out[key] = ds
    return out


def downsample_2d_array(
    source_data: np.ndarray,
    target_height: int | None = None,
    target_width: int | None = None,
    nodata_value: float | int | None = None,
    *,
    fill_value: float | int | None = None,
) -> np.ndarray:
    """The pyramid's 2×2 block mean, on a 2-D numpy array (Rust; GIL released).

    Output shape ``(ceil(h/2), ceil(w/2))``, same dtype. Each output pixel
    is the mean of the *valid* pixels of its block (edge blocks of odd
    shapes have 1 or 2 pixels). Valid means: not NaN (floats), and not equal
    to ``fill_value`` when one is given. A block without a valid pixel gets
    ``fill_value``, or NaN for floats without one. Integer means are rounded
    half away from zero; without ``fill_value`` every integer is valid.
    ``nodata_value`` is the Python tool's name for ``fill_value``;
    ``target_height``/``target_width``, if given, must be the halved shape.
    C-contiguous input is read in place (no copy).
    """
    a = np.asarray(source_data)
    if a.ndim != 2:
        raise ValueError(f"downsample_2d_array: expected a 2-D array, got {a.ndim}-D")
    h, w = a.shape
    want = ((h + 1) // 2, (w + 1) // 2)
    if target_height is not None and target_height != want[0] or (
        target_width is not None and target_width != want[1]
    ):
        raise ValueError(
            f"downsample_2d_array halves each side: target shape must be {want}, "
            f"got ({target_height}, {target_width})"
        )
    if fill_value is None:
        fill_value = nodata_value
    if fill_value is not None and isinstance(fill_value, float) and np.isnan(fill_value):
        fill_value = None  # NaN is nodata for floats anyway
    return _native.downsample_2d(a, fill_value)


def calculate_aligned_chunk_size(dimension_size: int, target_chunk_size: int) -> int:
    """Largest divisor of ``dimension_size`` not above ``target_chunk_size``
    (``dimension_size`` itself when it fits): 5490, 3660 → 2745."""
    return _native.calculate_aligned_chunk_size(int(dimension_size), int(target_chunk_size))


def is_grid_mapping_variable(ds: Any, var_name: str) -> bool:
    """Is ``var_name`` named by another data variable's ``grid_mapping`` attribute?"""
    for v in ds.data_vars:
        if v != var_name:
            gm = ds[v].attrs.get("grid_mapping", ds[v].encoding.get("grid_mapping"))
            if gm == var_name:
                return True
    return False


def _crs_of(ds: Any) -> Any:
    for v in ds.variables:
        gm = ds[v].attrs.get("grid_mapping", ds[v].encoding.get("grid_mapping"))
        if gm and gm in ds.variables:
            a = ds[gm].attrs
            return a.get("crs_wkt") or a.get("spatial_ref") or a.get("epsg")
    return None


def validate_existing_band_data(existing_group: Any, var_name: str, reference_ds: Any) -> bool:
    """Is band ``var_name`` present and complete in ``existing_group``?

    As the Python tool: the variable exists, has the reference's shape, a
    data variable has ``standard_name`` (and dimension names), the CRS of its
    grid mapping equals the reference's, and its first pixel reads as a
    number (not NaN). Errors count as ``False``.
    """
    try:
        if var_name not in existing_group.data_vars and var_name not in existing_group.coords:
            return False
        if var_name in reference_ds.data_vars:
            if reference_ds[var_name].shape != existing_group[var_name].shape:
                return False
            if not is_grid_mapping_variable(reference_ds, var_name):
                if "standard_name" not in existing_group[var_name].attrs:
                    return False
                if not existing_group[var_name].dims:
                    return False
        if _crs_of(existing_group) != _crs_of(reference_ds):
            return False
        if var_name in existing_group.data_vars and not is_grid_mapping_variable(
            existing_group, var_name
        ):
            arr = existing_group[var_name]
            if arr.size == 0:
                return False
            first = np.asarray(arr.isel(dict.fromkeys(arr.dims, 0)).values, dtype="float64")
            if np.isnan(first).any():
                return False
    except Exception:
        return False
    return True
