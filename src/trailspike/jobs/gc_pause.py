"""Python's cyclic garbage collector held back while jobs run.

A job run allocates millions of small containers (scored results, pending records, the
models' per-category state), so CPython's collector runs thousands of times, and each full
collection walks every live object, the models included: on the benchmark's 2M events it
was about 8 % of the five jobs' CPU (16.8 -> 15.5 s) and 10 % of the user job's, for 26-36
unreachable objects left over after the whole run. Reference counting frees everything else
as before, so results and model state are unchanged; only cycles wait for the collector's next
run after the jobs.

Implementation decision: the collector is one per process, so the pause nests and may be
entered from several threads at once (a caller may run jobs in a thread beside other work):
it is disabled on the first entry, if it was enabled, and enabled again when the last one
leaves, so one caller's exit never turns it back on under another, nor leaves it off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the body with automatic garbage collection off (see the module's docstring).

    >>> import gc
    >>> with gc_paused():
    ...     with gc_paused():
    ...         inner = gc.isenabled()
    ...     outer = gc.isenabled()
    >>> inner, outer, gc.isenabled()
    (False, False, True)
    """
    global _depth, _was_enabled
    with _LOCK:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
