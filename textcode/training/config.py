"""Settings of the training loop (kept torch-free for the settings schema).

`LoopConfig` holds what the loop itself reads (textcode/training/loop.py); every training section extends
it: `train` (TrainConfig: pre-training, fine-tuning, the utility SASRec-IDs) and the generation family's
`generator.train` and `prior.train` (textcode/gen/config.py), which set their own defaults. None of them has a
seed: the top-level `seed` is the one seed setting, passed to the loop by the command (textcode/runtime/seeding.py).
"""
from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    epochs: int = 100  # at most; early stopping and the time budget may end training sooner
    batch_size: int = 256  # windows per process per step
    lr: float = 1e-3  # the base rate; a schedule may scale it per step (the generators': warmup + cosine)
    weight_decay: float = 0.0
    patience: int = 10  # epochs without validation improvement before stopping (0 = never stop early)
    # an epoch resets the patience count only when it beats the epoch that last reset it by more than this
    # share of that value (0 = any improvement); the best weights still follow every improvement. Validation
    # NDCG wanders on a plateau by less than its sampling error, and each such wiggle bought `patience` epochs.
    min_delta: float = 0.0
    max_minutes: float = 0.0  # wall-time budget of the whole loop, validation included (0 = none); see Loop
    checkpoint_every: int = 0  # optimizer steps between mid-epoch checkpoints (0 = at epoch ends only)


@dataclasses.dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """`train`: the recommenders' training (an objective module, Adam at a constant rate; training.loop.fit)."""

    max_batch_tokens: int = 0  # and at most this many padded positions per step (0 = no limit); bounds memory
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # forward pass; auto: bf16 only on native bf16 hardware
    mmap_threshold_mb: int = 0  # >0: glibc maps blocks this large on their own, freed at once (textcode/runtime/memory.py);
    # 0 = the allocator's own behaviour. Process-wide, set when training starts.
