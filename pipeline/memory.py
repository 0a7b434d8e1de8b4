"""Handing memory the process no longer uses back to the operating system.

Training steps of different sizes leave glibc's heap full of free chunks it keeps for reuse (its
mmap threshold grows to 32 MB, so even large activation tensors come from the heap): after a
Scientific fine-tune epoch 550 MB of a 730 MB arena was free but still resident, and the
evaluation that followed stacked its own allocations on top. `malloc_trim(0)` returns the free
pages. Called between phases (before each validation), not per step: per step it costs about 40%
of the epoch time in page faults for little gain, because the peak is then the step itself.

bf16 products on a CPU run in oneDNN, which compiles and caches one kernel per input shape (1,024 by
default, each with its own scratch memory). Our batches change shape every step, so bf16 pre-training
grew to 4.3 GB in one epoch and about 9 GB in eight, where fp32 stays near 1.4 GB. The cache is sized
from an environment variable when oneDNN first runs; `bound_kernel_cache` sets it before that.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # glibc only; musl and others lack it
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; True if the platform's allocator supports it
    (glibc). Elsewhere it does nothing: other allocators manage their own release."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def bound_kernel_cache(capacity: int) -> str:
    """Cap oneDNN's kernel cache at `capacity` kernels unless the user set it; returns the value in force.

    Effective only before the process runs its first oneDNN kernel (the cache is sized then), so
    training calls it before its first step; a value the user exported always wins.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be positive, got {capacity}")
    return os.environ.setdefault(ONEDNN_CACHE_ENV, str(capacity))
