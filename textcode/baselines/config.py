"""Settings of the baselines (torch-free, for the settings schema)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EaseConfig:
    l2_grid: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0)  # l2 candidates, picked on validation NDCG@10
    batch_size: int = 1024  # users per scoring batch during the validation search
