"""Full-ranking metrics per user with fair tie handling, two history protocols.

Ties are real in this project: items whose code tuples collide get identical vectors, and
EASE or popularity give many items the same score. Ranking the target first (or last) among
its ties would flatter (or punish) such models, so the target's position is taken as uniform
over its tie block under random tie-breaking, and every metric is its exact expectation:
with g items scoring strictly higher and e other items scoring equal, pos ~ U{g, ..., g+e} and

    Recall@K = P(pos < K),   NDCG@K = E[1{pos < K} / log2(pos + 2)],   MRR = E[1 / (pos + 1)].

One target per user, so Recall@K is the hit rate and the ideal DCG is 1.

Protocols (which items compete with the target):
- `history_kept`: every item of the domain; the published VQ-Rec/RecBole protocol, which masks
  only padding, so items already in the user's history stay rankable.
- `history_removed`: the user's history items are excluded, except the target itself when the
  user bought it before (a repeat purchase is a legitimate target).

Per-user arrays are the primary output; means and bootstrap intervals (textcode.eval.bootstrap)
summarise them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used, so settings (which reads configs) stays torch-free
    import torch

PROTOCOLS = ("history_kept", "history_removed")


def metric_names(ks: Sequence[int]) -> tuple[str, ...]:
    """Metric keys in report order, e.g. recall@10, ndcg@10, recall@50, ndcg@50, mrr."""
    return tuple(name for k in ks for name in (f"recall@{k}", f"ndcg@{k}")) + ("mrr",)


def history_pairs(histories: Sequence[np.ndarray], targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, items): the distinct (row, item) pairs that `history_removed` excludes, i.e. every item of
    row r's history except its target (a repeated item appears once)."""
    targets = np.asarray(targets, dtype=np.int64)
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    if not lengths.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(histories), dtype=np.int64), lengths)
    items = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
    keep = items != targets[rows]
    n = int(max(items.max(), targets.max())) + 1
    pairs = np.unique(rows[keep] * n + items[keep])
    return pairs // n, pairs % n


_BLOCK_SCORES = 1 << 20  # scores per block of rows in target_ranks (4 MiB of float32)


def target_ranks(scores: "torch.Tensor", targets: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """(better, tied), both (B,) int64: items scoring strictly above the target, and other items
    scoring exactly the same, over all items (the `history_kept` protocol).

    NaN scores are an error: every comparison with NaN is false, which would silently rank the
    target above them.
    """
    import torch

    if scores.ndim != 2 or tuple(targets.shape) != (scores.shape[0],):
        raise ValueError(f"scores must be (B, I) and targets (B,), got {tuple(scores.shape)} and {tuple(targets.shape)}")
    targets = targets.to(device=scores.device, dtype=torch.int64)
    better = torch.empty(len(scores), dtype=torch.int64, device=scores.device)
    tied = torch.empty_like(better)
    # three passes over each block of rows (NaN check, >, ==): a block of ~1M scores stays in cache
    # between them; whole (2048, 4385) Scientific batches ran 6x slower, bound by memory traffic
    step = max(1, _BLOCK_SCORES // max(1, scores.shape[1]))
    for lo in range(0, len(scores), step):
        block, t = scores[lo:lo + step], targets[lo:lo + step]
        nan_rows = torch.isnan(block.amax(1))  # amax propagates NaN
        if nan_rows.any():
            raise ValueError(f"{int(nan_rows.sum())} score rows (of {len(scores)}) contain NaN")
        target_score = block.gather(1, t[:, None])  # (b, 1)
        better[lo:lo + step] = torch.count_nonzero(block > target_score, dim=1)
        tied[lo:lo + step] = torch.count_nonzero(block == target_score, dim=1) - 1  # minus the target itself
    return better, tied


def without_history(scores: "torch.Tensor", targets: "torch.Tensor", better: "torch.Tensor", tied: "torch.Tensor",
                    pairs: tuple[np.ndarray, np.ndarray]) -> tuple["torch.Tensor", "torch.Tensor"]:
    """`target_ranks` output turned into the `history_removed` protocol: the excluded items of
    `history_pairs` no longer count as better or tied. Touches only the (few) history entries
    instead of a second pass over all items."""
    import torch

    rows = torch.as_tensor(pairs[0], device=scores.device)
    items = torch.as_tensor(pairs[1], device=scores.device)
    targets = targets.to(device=scores.device, dtype=torch.int64)
    hist_scores = scores[rows, items]  # (P,)
    target_scores = scores[rows, targets[rows]]  # (P,)
    n = len(scores)
    drop_better = torch.bincount(rows, weights=(hist_scores > target_scores).double(), minlength=n)
    drop_tied = torch.bincount(rows, weights=(hist_scores == target_scores).double(), minlength=n)
    return better - drop_better.long(), tied - drop_tied.long()


def rank_metrics(better: np.ndarray, tied: np.ndarray, ks: Sequence[int], n_items: int) -> dict[str, np.ndarray]:
    """Per-user expected Recall@K, NDCG@K (for each K) and MRR from `target_ranks` output."""
    g = np.asarray(better, dtype=np.int64)
    e = np.asarray(tied, dtype=np.int64)
    if any(k < 1 for k in ks):
        raise ValueError(f"cut-offs must be positive, got {tuple(ks)}")
    if np.any(g < 0) or np.any(e < 0) or np.any(g + e >= n_items):
        raise ValueError(f"ranks out of range for {n_items} items")
    positions = np.arange(n_items, dtype=np.float64)
    # prefix sums over positions 0..n-1, so a sum over a tie block is a difference of two entries
    discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(positions + 2.0))])
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / (positions + 1.0))])
    block = (e + 1).astype(np.float64)
    end = g + e + 1  # one past the last position of the tie block
    out: dict[str, np.ndarray] = {}
    for k in ks:
        lo, hi = np.minimum(g, k), np.minimum(end, k)
        out[f"recall@{k}"] = (hi - lo) / block
        out[f"ndcg@{k}"] = (discount[hi] - discount[lo]) / block
    out["mrr"] = (harmonic[end] - harmonic[g]) / block
    return {name: out[name] for name in metric_names(ks)}
