"""Re-write the (y, x) bands of an EOPF product (Zarr v2) in place with the
encodings real writers produce, using zarr-python 3 + numcodecs: every
numcodecs compressor, blosc with each inner codec and shuffle, blosc frames
of typesize 1 (numcodecs' Blosc given plain bytes, as zarr-python's v2
codec pipeline does in some versions), Fortran order, "/" chunk keys and
chunks left out where they hold only the fill value. Values are unchanged,
so a converter must write the same output as for the original.

usage: rewrite_encodings.py PRODUCT.zarr [--all-2d]
Prints one line per band: path and encoding. By default the bands are the
(y, x) arrays under measurements/ (Sentinel-2); with --all-2d every numeric
2-D array (Sentinel-1: the GRD images, GCP grids, calibration and noise
tables).
"""
import json
import sys

import numcodecs
import numpy as np
import zarr
from numcodecs import GZip, LZ4, Blosc, Zlib, Zstd

# (name, zarr.create_array settings, frames of typesize 1 written chunk by chunk)
ENCODINGS = [
    ("blosc zstd bitshuffle typesize 1", dict(compressors=Blosc("zstd", 3, Blosc.BITSHUFFLE)), True),
    ("zstd", dict(compressors=Zstd(level=3)), False),
    ("zlib", dict(compressors=Zlib(level=5)), False),
    ("lz4", dict(compressors=LZ4(acceleration=1)), False),
    ("gzip", dict(compressors=GZip(level=5)), False),
    ("no compressor", dict(compressors=None), False),
    ("blosc lz4 noshuffle, order F", dict(compressors=Blosc("lz4", 5, Blosc.NOSHUFFLE), order="F"), False),
    ("blosc blosclz byteshuffle, '/' keys", dict(compressors=Blosc("blosclz", 5, Blosc.SHUFFLE),
                                                  chunk_key_encoding={"name": "v2", "separator": "/"}), False),
    ("blosc zlib shuffle typesize 1, 16 KiB blocks", dict(compressors=Blosc("zlib", 4, Blosc.SHUFFLE, blocksize=16384)), True),
    ("blosc lz4hc bitshuffle", dict(compressors=Blosc("lz4hc", 5, Blosc.BITSHUFFLE)), False),
    ("blosc zstd clevel 0 (stored raw) typesize 1", dict(compressors=Blosc("zstd", 0, Blosc.BITSHUFFLE)), True),
]


def bands(root, all_2d):
    for gpath, g in root.groups():
        yield from (f"{gpath}/{p}" for p in _bands(g, all_2d))


def _bands(g, all_2d, prefix=""):
    for name, item in g.members():
        if isinstance(item, zarr.Group):
            yield from _bands(item, all_2d, f"{prefix}{name}/")
        elif item.ndim != 2:
            continue
        elif all_2d:
            if np.dtype(item.dtype).kind in "iuf":
                yield f"{prefix}{name}"
        elif item.metadata.attributes.get("_ARRAY_DIMENSIONS") == ["y", "x"]:
            yield f"{prefix}{name}"


def main():
    path, all_2d = sys.argv[1], "--all-2d" in sys.argv[2:]
    root = zarr.open_group(path, mode="r", zarr_format=2)
    todo = sorted(p for p in bands(root, all_2d) if all_2d or p.startswith("measurements/"))
    assert todo, "no bands found"
    for i, p in enumerate(todo):
        name, kw, as_bytes = ENCODINGS[i % len(ENCODINGS)]
        old = zarr.open_array(path, path=p, mode="r", zarr_format=2)
        values = old[...]
        attrs = dict(old.attrs)
        fill = old.metadata.fill_value
        new = zarr.create_array(
            path, name=p, shape=old.shape, chunks=old.chunks, dtype=old.dtype, zarr_format=2,
            fill_value=fill, attributes=attrs, overwrite=True, **kw)
        if as_bytes:
            # numcodecs' Blosc on plain bytes: frames of typesize 1
            comp = kw["compressors"]
            ch, cw = old.chunks
            for r in range(-(-old.shape[0] // ch)):
                for c in range(-(-old.shape[1] // cw)):
                    block = np.full((ch, cw), 0 if fill is None else fill, dtype=old.dtype)
                    part = values[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw]
                    block[:part.shape[0], :part.shape[1]] = part
                    frame = comp.encode(block.tobytes())
                    assert frame[3] == 1, "expected a typesize-1 frame"
                    with open(f"{path}/{p}/{r}.{c}", "wb") as f:
                        f.write(frame)
        else:
            new[...] = values
        back = zarr.open_array(path, path=p, mode="r", zarr_format=2)[...]
        np.testing.assert_array_equal(back, values)
        print(f"{p}: {name}")
    zarr.consolidate_metadata(path, zarr_format=2)
    print(f"numcodecs {numcodecs.__version__}, zarr {zarr.__version__}")


if __name__ == "__main__":
    main()
