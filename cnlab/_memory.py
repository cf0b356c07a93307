"""Hand memory that was freed back to the system.

Two allocators keep what a stage frees for reuse, where it still counts as the process's resident
memory: Arrow's pool (mimalloc or jemalloc: the buffers of parsed or read-back tables) and the C
heap (glibc: numpy's mid-sized temporaries below its mmap threshold, which moves up after each
large free). At 206M ratings this was the difference between a frame read back from a spill file
(6.6 GiB) and the process's growth while reading it (13.1 GiB). Called where a stage has just
released a large structure, not in inner loops (each call walks the heap: milliseconds).
"""

from __future__ import annotations

import functools
import sys

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """Release Arrow's unused pool memory and trim the C heap (``malloc_trim``; glibc only)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (absent outside glibc, e.g. musl)
    except (OSError, AttributeError):
        return None
    return libc
