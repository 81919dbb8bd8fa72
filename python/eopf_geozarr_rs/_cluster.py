"""A local cluster's scheduler or worker process, run from the extension.

``convert(..., local_workers=N)`` starts ``python -m eopf_geozarr_rs._cluster
geozarr-scheduler …`` and ``… geozarr-worker …``: the same programs as the
``geozarr-scheduler`` and ``geozarr-worker`` executables, so a ``pip install``
is all a local cluster needs.
"""

import sys

from ._native import cluster_main

if __name__ == "__main__":
    sys.exit(cluster_main(sys.argv[1:]))
