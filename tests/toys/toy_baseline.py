"""A toy baseline, following docs/extending.md "A new baseline model": item scores = training counts ** power."""
from __future__ import annotations

import dataclasses

import numpy as np

from textcode.baselines import Fitted
from textcode.baselines.popularity import Popularity


@dataclasses.dataclass(frozen=True)
class Config:
    power: float = 1.0


def fit(split, cfg: Config, *, seed: int = 0) -> Fitted:
    counts = np.bincount(np.asarray(split.train_items, np.int64), minlength=split.n_items) ** cfg.power
    return Fitted({"counts": counts.astype(np.float32)}, {"n_items": split.n_items}, {"power": cfg.power})


def load(meta, tensors, device):
    return Popularity(tensors["counts"], device)
