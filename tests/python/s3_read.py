"""Read a GeoZarr store from S3 (s3fs against a local endpoint) with
xarray and zarr-python, and check it equals a local copy node by node.

usage: s3_read.py S3URL LOCAL_REFERENCE
Credentials and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL. Exits non-zero (AssertionError) on the first difference.
"""
import os
import sys

import numpy as np
import xarray as xr
import zarr


def main():
    url, ref = sys.argv[1], sys.argv[2]
    opts = {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {
            "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "region_name": "us-east-1",
        },
    }
    # zarr-python: consolidated metadata at the root, every array readable
    remote = zarr.open_group(url, mode="r", storage_options=opts)
    local = zarr.open_group(ref, mode="r")
    r_arrays = {
        k: v for k, v in remote.members(max_depth=None) if isinstance(v, zarr.Array)
    }
    l_arrays = {
        k: v for k, v in local.members(max_depth=None) if isinstance(v, zarr.Array)
    }
    assert sorted(r_arrays) == sorted(l_arrays), (sorted(r_arrays), sorted(l_arrays))
    assert len(r_arrays) > 10, len(r_arrays)
    for k, a in r_arrays.items():
        b = l_arrays[k]
        assert a.shape == b.shape and a.dtype == b.dtype, k
        assert dict(a.attrs) == dict(b.attrs), k
        x, y = a[...], b[...]
        if np.issubdtype(x.dtype, np.floating):
            assert np.array_equal(x, y, equal_nan=True), k
        else:
            assert np.array_equal(x, y), k

    # xarray: the whole tree opens and equals the local one
    t_remote = xr.open_datatree(url, engine="zarr", storage_options=opts)
    t_local = xr.open_datatree(ref, engine="zarr")
    xr.testing.assert_identical(t_remote, t_local)
    n = sum(len(node.data_vars) for node in t_remote.subtree)
    print(f"s3 read ok: {len(r_arrays)} arrays, {n} data variables")


if __name__ == "__main__":
    main()
