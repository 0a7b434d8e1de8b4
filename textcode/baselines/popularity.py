"""Popularity: every user gets the same scores, the item's interaction count in training.

The sanity floor of every report: a model that does not beat it has learnt nothing personal.
Many items share a count, so its numbers depend on fair tie handling (textcode.eval.metrics).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from textcode.baselines import Fitted
from textcode.core import artifacts

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from textcode.data.split import LeaveOneOut


@dataclasses.dataclass(frozen=True)
class Config:
    """Popularity has no settings."""


class Popularity:
    """A Recommender (textcode.eval.recommender) that ignores the history."""

    def __init__(self, counts: np.ndarray, device: str = "cpu"):
        import torch

        self.n_items = int(len(counts))
        self.counts = torch.as_tensor(np.asarray(counts, dtype=np.float32), device=device)  # (I,)

    def score_histories(self, histories: Sequence[np.ndarray]) -> "torch.Tensor":
        return self.counts.expand(len(histories), self.n_items)  # (B, I), a view: no copy per batch

    def tensors(self) -> dict[str, Any]:
        return {"counts": self.counts}


def count(train_items: np.ndarray, n_items: int) -> Popularity:
    """Count each item's interactions in the training sequences (repeats count every time)."""
    return Popularity(np.bincount(np.asarray(train_items, np.int64), minlength=n_items))


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines). Counting: `device` and `work` (no checkpoint) are ignored."""
    model = count(split.train_items, split.n_items)
    return Fitted(model.tensors(), {"n_items": model.n_items}, {"train_interactions": int(len(split.train_items))})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> Popularity:
    """The model-kind entry (textcode.core.model_kinds) of kind "popularity"."""
    if "n_items" not in meta:
        raise artifacts.ArtifactError("popularity model.json: missing key n_items")
    n = meta["n_items"]
    if set(tensors) != {"counts"} or tensors["counts"].shape != (n,):
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        raise artifacts.ArtifactError(f"popularity model: expected tensor 'counts' of shape ({n},), found {shapes}")
    return Popularity(tensors["counts"], device)
