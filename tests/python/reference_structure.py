"""Compare the structure of our `conventions` store with what the Python tool
(>= 0.10, `convert-s2-optimized`) wrote for the same product: group paths,
arrays per group, attribute names of groups and band arrays, multiscale
layout assets.

usage: reference_structure.py OURS REF.json.gz

REF is the Python tool's output as pydantic-zarr GroupSpec JSON (metadata
only). Prints one line per difference, generalised (band names -> <band>,
r{N}m level names kept) and de-duplicated, sorted; nothing when identical.
"""

import gzip
import json
import re
import sys

import zarr


MS_GROUPS = []  # multiscale groups of either store (set in main)


def norm(path):
    """Generalise: band names -> <band>, level names -> <level>, and the
    multiscale groups other than reflectance -> <other multiscale group>."""
    for g in MS_GROUPS:
        if path == g or path.startswith(g + "/"):
            head = g if g == "measurements/reflectance" else "<other multiscale group>"
            path = head + path[len(g):]
            break
    path = re.sub(r"\b(b\d\d|b8a|scl|aot|wvp|cld|snw)\b", "<band>", path)
    return re.sub(r"\br\d+m\b", "<level>", path)


def inside_ms(path):
    return any(path == g or path.startswith(g + "/") for g in MS_GROUPS)


def ref_tree(spec):
    """path -> (kind, attribute names) from a GroupSpec."""
    out = {}

    def walk(node, path):
        out[path] = (node["node_type"], set(node.get("attributes", {})))
        for k, v in (node.get("members") or {}).items():
            walk(v, f"{path}/{k}" if path else k)

    walk(spec, "")
    return out


def our_tree(root):
    out = {"": ("group", set(root.attrs))}

    def walk(g, path):
        for k, a in g.arrays():
            out[f"{path}/{k}" if path else k] = ("array", set(a.attrs))
        for k, c in g.groups():
            p = f"{path}/{k}" if path else k
            out[p] = ("group", set(c.attrs))
            walk(c, p)

    walk(root, "")
    return out


def layout(tree_attrs):
    return [e["asset"] for e in tree_attrs["multiscales"]["layout"]]


def main():
    ours_path, ref_path = sys.argv[1:3]
    spec = json.load(gzip.open(ref_path))
    ref = ref_tree(spec)
    ours = our_tree(zarr.open_group(ours_path, mode="r"))
    # groups with r{N}m children in either store
    for t in (ref, ours):
        for p in t:
            parent, _, name = p.rpartition("/")
            if re.fullmatch(r"r\d+m", name) and parent not in MS_GROUPS:
                MS_GROUPS.append(parent)
    diff = set()
    for p in sorted(set(ref) | set(ours)):
        if p not in ours:
            diff.add(f"only in the Python tool's: {ref[p][0]} {norm(p)}")
            continue
        if p not in ref:
            diff.add(f"only in ours: {ours[p][0]} {norm(p)}")
            continue
        (rk, ra), (ok, oa) = ref[p], ours[p]
        if rk != ok:
            diff.add(f"node kind differs: {norm(p)} ({rk} vs ours {ok})")
        # attributes: the root, and groups and bands of the multiscale
        # groups (carried-over arrays keep their input's, by design)
        if p and not inside_ms(p):
            continue
        if p.rsplit("/", 1)[-1] in ("x", "y", "spatial_ref", "band"):
            continue
        for a in sorted(ra - oa):
            diff.add(f"attribute only in the Python tool's: {norm(p)} @ {a}")
        for a in sorted(oa - ra):
            diff.add(f"attribute only in ours: {norm(p)} @ {a}")
    # multiscale layouts: same assets in the same order
    def node(spec, p):
        n = spec
        for k in p.split("/"):
            n = n["members"][k]
        return n

    root = zarr.open_group(ours_path, mode="r")
    for p, (kind, attrs) in ref.items():
        if "multiscales" in attrs:
            ra = layout(node(spec, p)["attributes"])
            oa = layout(root[p].attrs) if p in ours else None
            if ra != oa:
                diff.add(f"layout differs: {p} ({ra} vs ours {oa})")
    for line in sorted(diff):
        print(line)


if __name__ == "__main__":
    main()
