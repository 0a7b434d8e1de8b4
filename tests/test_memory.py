"""release_free_memory hands the heap's free pages back to the OS (glibc) or reports that it cannot;
fix_mmap_threshold makes large blocks leave at once when freed."""
import ctypes
import ctypes.util
import os
import sys

import pytest

from textcode.runtime.memory import (
    ONEDNN_CACHE_ENV,
    bound_kernel_cache,
    fix_mmap_threshold,
    release_free_memory,
)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap behaviour")
def test_free_heap_pages_return_to_the_os():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "malloc_trim"):
        pytest.skip("not glibc")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunk = 64 * 1024  # below glibc's mmap threshold: served from the heap, like a training step's tensors
    blocks = [libc.malloc(chunk) for _ in range(3200)]  # 200 MB
    for b in blocks:
        ctypes.memset(b, 1, chunk)  # touch every page so it is resident
    keep = libc.malloc(chunk)  # an allocation above the freed ones pins the heap's top
    for b in blocks:
        libc.free(b)
    before = _rss_mb()
    assert release_free_memory() is True
    after = _rss_mb()
    libc.free(keep)
    assert before - after > 150, f"RSS {before:.0f} -> {after:.0f} MB"


# A child process (the threshold is process-wide): 4 MB blocks, freed while a later small block pins
# the heap. glibc first raises its threshold past 4 MB (one mapped 4 MB block freed), as a training
# loop's first steps do; then 200 MB of blocks are freed. Prints the resident MB those frees left.
_MMAP_PROBE = """
import ctypes, ctypes.util, sys
from textcode.runtime.memory import fix_mmap_threshold
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
if sys.argv[1] != "0":
    assert fix_mmap_threshold(int(sys.argv[1]) * 2**20)
size = 4 * 2**20
libc.free(libc.malloc(size))
base = rss()
blocks = [libc.malloc(size) for _ in range(50)]
for b in blocks:
    ctypes.memset(b, 1, size)
keep = libc.malloc(2**20)  # from the top of the heap, above the blocks
for b in blocks:
    libc.free(b)
print(rss() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap behaviour")
def test_fixed_mmap_threshold_returns_large_blocks_when_freed():
    import subprocess

    from textcode.runtime.memory import _glibc

    if _glibc() is None:
        pytest.skip("not glibc")

    def left_resident(threshold_mb: int) -> float:
        out = subprocess.run([sys.executable, "-c", _MMAP_PROBE, str(threshold_mb)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return float(out.stdout)

    assert left_resident(0) > 150  # glibc's default: the raised threshold keeps freed 4 MB blocks in the heap
    assert left_resident(2) < 20  # fixed at 2 MB: each block was its own mapping, gone when freed
    with pytest.raises(ValueError, match="positive"):
        fix_mmap_threshold(0)


def test_kernel_cache_is_bounded_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv(ONEDNN_CACHE_ENV, raising=False)
    assert bound_kernel_cache(16) == "16" and os.environ[ONEDNN_CACHE_ENV] == "16"
    monkeypatch.setenv(ONEDNN_CACHE_ENV, "512")
    assert bound_kernel_cache(16) == "512" and os.environ[ONEDNN_CACHE_ENV] == "512"
    with pytest.raises(ValueError, match="positive"):
        bound_kernel_cache(0)


def test_training_does_not_load_scipy():
    """scipy costs every training process ~37 MB resident; only hardening a permutation needs it."""
    import subprocess

    code = ("import sys; import textcode.training.loop, textcode.rec.objectives, textcode.rec.finetune, textcode.rec.pretrain; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
