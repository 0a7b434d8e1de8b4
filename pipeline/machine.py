"""Which machine a measurement ran on, for the JSON that benchmarks write.

Timings from two machines of the same kind need not compare: this workplace has handed out both
an AVX2-only AMD EPYC and one with AVX-512 and native bf16 units under the same name, and
encoding ran 2-5x faster on the second. So every timing records the CPU's model, its core count,
the vector units that decide the speed of our kernels, and the load while it ran.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

from pipeline.text import cpu_flags

# flags that change the speed of fp32/bf16 matmuls (x86 AVX/AMX, Arm SVE/NEON)
SPEED_FLAGS = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                         "sve", "sve2", "asimd", "bf16"})


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The `model name` of the first CPU in cpuinfo, or None where there is none."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name":
            return value.strip()
    return None


def describe(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """{"cpu", "cores", "simd", "load_avg"} of this machine (simd: None where flags cannot be read)."""
    flags = cpu_flags(cpuinfo)
    return {
        "cpu": cpu_model(cpuinfo) or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "simd": None if flags is None else sorted(flags & SPEED_FLAGS),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
