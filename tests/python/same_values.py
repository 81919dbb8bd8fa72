"""Assert two Zarr v3 stores hold the same arrays with the same values
(zarr-python reads both, whatever their codecs: e.g. sharded vs not).

usage: same_values.py A B     prints "same values: N arrays (M sharded in B)"
"""

import sys

import numpy as np
import zarr
from zarr.codecs import ShardingCodec


def main():
    a, b = (zarr.open_group(p, mode="r") for p in sys.argv[1:3])
    n = sharded = 0

    def walk(ga, gb, path):
        nonlocal n, sharded
        assert sorted(ga.array_keys()) == sorted(gb.array_keys()), path
        for k, x in ga.arrays():
            y = gb[k]
            assert x.shape == y.shape and x.dtype == y.dtype, (path + k, x.shape, y.shape)
            np.testing.assert_array_equal(x[...], y[...], err_msg=path + k)
            n += 1
            sharded += any(isinstance(c, ShardingCodec) for c in y.metadata.codecs)
        for k, g in ga.groups():
            walk(g, gb[k], path + k + "/")

    walk(a, b, "")
    print(f"same values: {n} arrays ({sharded} sharded in B)")


if __name__ == "__main__":
    main()
