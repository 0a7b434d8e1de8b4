"""The one place a process seeds its random number generators.

Every command that builds, trains or samples a model calls `seed_everything(cfg["seed"])` (the top-level
`seed` key, the only seed setting) first, before any model or parameter exists: module initialisation
(`nn.Linear`, the Sinkhorn logits' `randn`, ...) draws from torch's default generator, and the torch used
here seeds that generator from the system at start-up, so without this two runs of the same command
started from different weights. The training loop then reseeds torch with `seed + rank` before its first
step (textcode/training/loop.py), and its checkpoints carry the generators' states across a resume.

Code that needs its own stream (batch orders, splits, sampling) takes the seed as an argument and makes its
own `numpy.random.default_rng` / `torch.Generator` from it; what is seeded here is only the global state
that library code draws from implicitly.

Same seed, same thread count and same kind of machine give bitwise identical weights and metrics; see
docs/design-notes.md ("Reproducibility") for what differs across thread counts and machines.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy's legacy global generator, and torch's CPU and CUDA default generators, and
    make torch pick its deterministic kernels.

    Seeds alone are not enough: with several threads, the backward of indexing with repeated indices
    (`vecs[inv]`, accumulated by `index_put_`) adds in whatever order the threads finish, so two pre-trainings
    with one seed drifted apart by ~1e-9 in the first epoch. torch's deterministic mode sorts those
    accumulations instead (measured: no slower on the CPU). `warn_only`: an op without a deterministic kernel
    (a few CUDA ones) warns instead of failing the run.
    """
    seed = int(seed)
    # cuBLAS is deterministic only with a fixed workspace; read when CUDA first starts, which is after this call
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False  # autotuning may pick different kernels run to run
    random.seed(seed)
    np.random.seed(seed % 2**32)  # the legacy global takes 32 bits
    torch.manual_seed(seed)  # seeds every CUDA device's default generator too
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)  # explicit: devices not yet initialised get it on first use
