"""Settings of the evaluate and report commands (torch-free, for the settings schema)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    ks: tuple[int, ...] = (10, 50)  # cut-offs of Recall@K and NDCG@K
    batch_size: int = 512  # users scored at once; (batch, n_items) float scores live in memory
    max_positions: int = 4096  # padded history positions per batch: bounds a sequence model's activations, and fewer
                              # padded positions per batch pad less (Scientific validation: 2.1 s at 4,096, 2.9 s at 16,384)
    n_boot: int = 1000  # bootstrap resamples of users for the 95% confidence intervals
    device: str = "auto"  # where the model scores: "auto" = cuda when available, else cpu


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    n_boot: int = 1000  # resamples of users for the paired bootstrap of each run against the reference
