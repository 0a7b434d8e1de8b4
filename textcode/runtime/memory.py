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

Trimming between phases still leaves the peak of training itself: glibc raises its mmap threshold each
time a mapped block is freed (up to 32 MB), so after the first steps a fine-tune's 16-32 MB activations
come from the heap and stay resident there between steps while other sizes are carved out beside them.
`fix_mmap_threshold` pins the threshold: blocks above it get their own mapping, unmapped when freed.
On the Scientific fine-tune benchmark a fixed 16 MB lowered the training peak from 982-1,023 MB to
931-950 MB for 5.05-5.19 s per epoch against 4.84 s (8 MB: 939 MB; a fixed 32 MB: 1,003 MB).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


M_MMAP_THRESHOLD = -3  # mallopt parameter number (glibc malloc.h)


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library if it is glibc (it has malloc_trim and mallopt's M_MMAP_THRESHOLD), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # glibc only; musl and others lack malloc_trim
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; True if the platform's allocator supports it
    (glibc). Elsewhere it does nothing: other allocators manage their own release."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def fix_mmap_threshold(nbytes: int) -> bool:
    """Serve every allocation of at least `nbytes` from its own mapping, returned to the OS when freed,
    and stop glibc from raising that threshold; for the whole process. True if it took effect (glibc,
    which accepts up to 32 MB on 64-bit systems); False on other allocators, which have no such knob."""
    if nbytes < 1:
        raise ValueError(f"nbytes must be positive, got {nbytes}")
    libc = _glibc()
    if libc is None:
        return False
    if libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(nbytes)) != 1:
        raise ValueError(f"glibc refused an mmap threshold of {nbytes} bytes (at most 32 MB on 64-bit systems)")
    return True


def bound_kernel_cache(capacity: int) -> str:
    """Cap oneDNN's kernel cache at `capacity` kernels unless the user set it; returns the value in force.

    Effective only before the process runs its first oneDNN kernel (the cache is sized then), so
    training calls it before its first step; a value the user exported always wins.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be positive, got {capacity}")
    return os.environ.setdefault(ONEDNN_CACHE_ENV, str(capacity))
