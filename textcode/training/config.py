"""Settings of the training loop (kept torch-free for the settings schema)."""
from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 256  # windows per process per step
    max_batch_tokens: int = 0  # and at most this many padded positions per step (0 = no limit); bounds memory
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10  # epochs without validation improvement before stopping (0 = never stop early)
    max_minutes: float = 0.0  # wall-time budget; training stops after the epoch that exceeds it (0 = none)
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # forward pass; auto: bf16 only on native bf16 hardware
    mmap_threshold_mb: int = 0  # >0: glibc maps blocks this large on their own, freed at once (textcode/runtime/memory.py);
    # 0 = the allocator's own behaviour. Process-wide, set when training starts.
