"""What every recommender offers the evaluator: scores over all items for some histories."""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch


class Recommender(Protocol):
    """Models may also have `max_history` (int): the most recent items of a history they read; the
    evaluator then sizes its batches by the truncated lengths."""

    n_items: int

    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """(B, n_items) float scores for B item-index histories (oldest first, untruncated).

        Higher is better. Each model applies its own truncation (e.g. the last 50 items).
        Scores for items in the history are *not* masked here: the evaluator owns that choice.
        """
        ...
