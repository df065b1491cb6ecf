"""Pausing Python's cyclic garbage collector while a bulk job builds millions of objects.

An import reads and plans hundreds of thousands of rows into objects that all live until it ends.
The collector, triggered every few hundred allocations, walks them again and again: about a fifth
of an S import's reading and planning time here. They are freed by reference counting anyway.
While any job holds `collections_paused()`, the collector is off for the whole process (other
threads' cyclic garbage waits until the last job ends); it is back on as soon as they are done.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = True  # whether the collector was on when the first holder paused it


@contextmanager
def collections_paused() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
