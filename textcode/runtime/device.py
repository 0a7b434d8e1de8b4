"""What this machine can do: the precision to compute in, and what a measurement ran on.

Timings from two machines of the same kind need not compare: this workplace has handed out both
an AVX2-only AMD EPYC and one with AVX-512 and native bf16 units under the same name, and
encoding ran 2-5x faster on the second. So every timing records the CPU's model, its core count,
the vector units that decide the speed of our kernels, and the load while it ran. The same flags
decide `precision: auto` for encoding and training: bf16 only where it runs on native units.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

# /proc/cpuinfo flags of CPU units that run bf16 matmuls natively (x86 AMX / AVX512-BF16, Arm BF16)
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})

# flags that change the speed of fp32/bf16 matmuls (x86 AVX/AMX, Arm SVE/NEON)
SPEED_FLAGS = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                         "sve", "sve2", "asimd", "bf16"})


def _cpuinfo_field(cpuinfo: str | Path, keys: tuple[str, ...]) -> str | None:
    """The value of the first cpuinfo line whose key is in `keys`; "" where none has one, None
    where the file cannot be read (e.g. not Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in keys:
            return value.strip()
    return ""


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The `model name` of the first CPU in cpuinfo, or None where there is none."""
    return _cpuinfo_field(cpuinfo, ("model name",)) or None


def describe(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """{"cpu", "cores", "simd", "load_avg"} of this machine (simd: None where flags cannot be read)."""
    flags = cpu_flags(cpuinfo)
    return {
        "cpu": cpu_model(cpuinfo) or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "simd": None if flags is None else sorted(flags & SPEED_FLAGS),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU feature flags (x86 `flags`, Arm `Features`), or None where there is no cpuinfo file."""
    value = _cpuinfo_field(cpuinfo, ("flags", "Features"))
    return None if value is None else frozenset(value.split())


def resolve_precision(precision: str, device: str, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """(fp32 or bf16, why). `auto` picks bf16 only where bf16 matmuls run on native units.

    `flags` defaults to this machine's `cpu_flags()`; passing them lets the choice be checked
    for other hardware.
    """
    if precision != "auto":
        return precision, f"{precision} set explicitly"
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(torch.device(device))
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {name} supports bf16"
        return "fp32", f"auto: {name} has no native bf16"
    if device != "cpu":
        return "fp32", f"auto: no bf16 rule for device {device!r}"
    if flags is None:
        flags = cpu_flags()
    if flags is None:
        return "fp32", f"auto: cannot read /proc/cpuinfo on {platform.system()} to check for native bf16 units"
    found = sorted(flags & NATIVE_BF16_FLAGS)
    if found:
        return "bf16", f"auto: CPU has native bf16 ({', '.join(found)})"
    simd = sorted(f for f in flags if f.startswith(("avx", "amx", "sve", "asimd")))
    return "fp32", (f"auto: CPU has no native bf16 unit (none of {', '.join(sorted(NATIVE_BF16_FLAGS))}; "
                    f"has {', '.join(simd) or 'no SIMD flags'}): bf16 would be emulated, slower than fp32")
