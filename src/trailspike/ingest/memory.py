"""Keep glibc's allocator from holding on to the large buffers ingest frees.

Ingest allocates and frees tens of megabytes at a time: a worker's result for one file (~21 MB
of Arrow buffers per 10k events, and its pickle), the pending batches, DuckDB's vectors.
glibc serves allocations over ``M_MMAP_THRESHOLD`` with ``mmap`` and returns them on ``free``,
but the threshold is dynamic: each freed mmapped block raises it to that block's size (up to
32 MB), after which such buffers come from the heap and are kept by the process when freed.
Fixing the threshold at 128 KiB keeps them mmapped.

Measured on 1M benchmark events (``benchmarks/ingest.py``), the ingesting process right after a
commit held 540-550 MB with the dynamic threshold and 250-350 MB with it fixed; the peak before
a commit fell from ~810 to ~720 MB. The CPU cost was not measurable (a page-fault per freshly
mapped page, against the JSON work per event).

Implementation decisions: ``mallopt`` through :mod:`ctypes`, only where the C library is glibc
(musl and macOS have no such setting, and the call is then skipped); it is process-wide and
stays set, which suits the one-shot CLI and is harmless to a long-lived process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameter numbers from glibc's malloc.h.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 128 KiB; False where that cannot be done.

    >>> isinstance(fix_mmap_threshold(), bool)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
