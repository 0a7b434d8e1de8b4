"""Learning-rate schedules: the rate of optimizer step `step` (0-based) from the rate the optimizer was built with.

The loop (textcode/training/loop.py) sets every parameter group's rate to `schedule(base, step)` before
each step. The recommenders train at a constant rate; the generators warm up, then follow a cosine.
"""
from __future__ import annotations

import math
from typing import Callable

Schedule = Callable[[float, int], float]  # (base rate, step) -> the step's rate

WARMUP_STEPS = 200  # or a tenth of the run, whichever is shorter


def constant(base: float, step: int) -> float:
    return base


def warmup_cosine(total_steps: int) -> Schedule:
    """Linear warmup over min(WARMUP_STEPS, a tenth of `total_steps`), times a cosine from 1 at step 0 down
    to 0.1 at `total_steps` (and 0.1 after it)."""
    warmup = min(WARMUP_STEPS, max(total_steps // 10, 1))

    def rate(base: float, step: int) -> float:
        warm = min(1.0, (step + 1) / warmup)
        cos = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(total_steps, 1))))
        return base * warm * cos

    return rate
