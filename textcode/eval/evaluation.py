"""Offline evaluation of a Recommender on one leave-one-out EvalSet, under both history protocols.

The model scores every item for batches of untruncated histories; ranks, metrics and masks are
computed here (textcode.eval.metrics), never inside the model, so every model is judged the same way.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Iterator, Sequence

import numpy as np

from textcode.data.split import EvalSet
from textcode.eval import metrics


@dataclasses.dataclass(frozen=True)
class EvalResult:
    users: np.ndarray  # (E,) user indices, row order of every per-user array
    n_items: int
    ks: tuple[int, ...]
    per_user: dict[str, dict[str, np.ndarray]]  # protocol -> metric -> (E,) float64
    better: dict[str, np.ndarray]  # protocol -> (E,) int64: items scored strictly above the target
    tied: dict[str, np.ndarray]  # protocol -> (E,) int64: other items scored exactly like the target
    wall_s: float  # scoring plus metrics, seconds
    rank_s: float  # the metric part alone (ranks of the targets, both protocols), seconds

    def means(self) -> dict[str, dict[str, float]]:
        return {p: {m: float(v.mean()) for m, v in per.items()} for p, per in self.per_user.items()}

    def tie_rate(self) -> dict[str, float]:
        """Fraction of users whose target shares its score with at least one competing item."""
        return {p: float((t > 0).mean()) for p, t in self.tied.items()}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Ranking is a few memory-bound passes over the scores: on this project's shared 2-core machine one
    thread took 0.2 s for Scientific where two took 0.6-2.4 s (threads waiting on each other while the
    other core is busy). The model's own scoring keeps every thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def length_batches(lengths: np.ndarray, batch_size: int, max_positions: int) -> list[np.ndarray]:
    """Row indices in batches of similar lengths: at most `batch_size` rows, and at most `max_positions`
    padded positions (rows x the batch's longest length) unless one row alone is longer."""
    order = np.argsort(lengths, kind="stable")
    longest = np.maximum(np.asarray(lengths)[order], 1)  # ascending: a batch's longest row is its last
    batches, lo = [], 0
    while lo < len(order):
        k = np.arange(1, min(batch_size, len(order) - lo) + 1)  # candidate batch sizes
        fits = k * longest[lo:lo + len(k)] <= max_positions  # non-increasing: a prefix of True
        hi = lo + max(1, int(fits.sum()))
        batches.append(order[lo:hi])
        lo = hi
    return batches


def evaluate(model, evalset: EvalSet, ks: Sequence[int] = (10, 50), batch_size: int = 512,
             max_positions: int = 4096) -> EvalResult:
    """Score every user of `evalset` with `model` (a textcode.eval.recommender.Recommender) and rank its target.

    Users go in order of history length (capped at the model's `max_history` when it has one), so a
    batch pads only to its own longest history and holds at most `max_positions` padded positions.
    Returns per-user Recall@K / NDCG@K / MRR in both protocols (textcode.eval.metrics.PROTOCOLS).
    """
    import torch

    if batch_size < 1 or max_positions < 1:
        raise ValueError(f"batch_size and max_positions must be positive, got {batch_size} and {max_positions}")
    n_items = int(model.n_items)
    targets_all = np.asarray(evalset.targets, dtype=np.int64)
    if len(targets_all) and (targets_all.min() < 0 or targets_all.max() >= n_items):
        raise ValueError(f"evaluation targets go up to item {targets_all.max()}, but the model scores {n_items} items")
    better = {p: np.empty(len(evalset), np.int64) for p in metrics.PROTOCOLS}
    tied = {p: np.empty(len(evalset), np.int64) for p in metrics.PROTOCOLS}
    start = time.perf_counter()
    rank_s = 0.0
    # In user order nearly every Scientific batch held some 50-item history, so a sequence model ran
    # ~8x the positions; sorted batches of 2,048 users still padded 51k real positions to 72k.
    lengths = np.diff(np.asarray(evalset.offsets))
    if getattr(model, "max_history", None):
        lengths = np.minimum(lengths, model.max_history)
    with torch.inference_mode():
        for rows in length_batches(lengths, batch_size, max_positions):
            histories = [evalset.history(r) for r in rows]
            targets = targets_all[rows]
            scores = model.score_histories(histories)
            if tuple(scores.shape) != (len(rows), n_items):
                raise ValueError(f"{type(model).__name__}.score_histories returned shape {tuple(scores.shape)} "
                                 f"for {len(rows)} histories and {n_items} items")
            rank_start = time.perf_counter()
            t = torch.from_numpy(targets)
            with one_thread():
                g, e = metrics.target_ranks(scores, t)
                ranks = {"history_kept": (g, e),
                         "history_removed": metrics.without_history(scores, t, g, e,
                                                                    metrics.history_pairs(histories, targets))}
            for protocol, (g, e) in ranks.items():
                better[protocol][rows] = g.cpu().numpy()
                tied[protocol][rows] = e.cpu().numpy()
            rank_s += time.perf_counter() - rank_start
    rank_start = time.perf_counter()
    per_user = {p: metrics.rank_metrics(better[p], tied[p], ks, n_items) for p in metrics.PROTOCOLS}
    rank_s += time.perf_counter() - rank_start
    return EvalResult(np.asarray(evalset.users), n_items, tuple(ks), per_user, better, tied,
                      time.perf_counter() - start, rank_s)


# ----------------------------------------------------------------------------- the eval folder's contents

SPLITS = ("valid", "test")
METRICS_FILE = "metrics.json"


def per_user_file(split: str, protocol: str, name: str) -> str:
    """Relative path of one per-user array in an eval folder, e.g. per_user/test_history_kept_ndcg@10.npy.
    `name` is a metric, or `better` / `tied` (the rank counts every metric derives from)."""
    return f"per_user/{split}_{protocol}_{name}.npy"


def users_file(split: str) -> str:
    """Relative path of the user index of each row of a split's per-user arrays."""
    return f"per_user/{split}_users.npy"


def per_user_arrays(split: str, result: EvalResult) -> dict[str, np.ndarray]:
    """Every per-user array of one split's result, keyed by its file name in the eval folder."""
    arrays = {users_file(split): np.asarray(result.users, np.int64)}
    for protocol, per in result.per_user.items():
        for name, values in per.items():
            arrays[per_user_file(split, protocol, name)] = values
        arrays[per_user_file(split, protocol, "better")] = result.better[protocol]
        arrays[per_user_file(split, protocol, "tied")] = result.tied[protocol]
    return arrays


def metrics_document(results: dict[str, EvalResult], n_boot: int, seed: int) -> dict:
    """The content of metrics.json: means per split and protocol, 95% bootstrap intervals, timings."""
    from textcode.eval.bootstrap import bootstrap_ci

    missing = [s for s in SPLITS if s not in results]
    if missing:
        raise ValueError(f"metrics need results for {', '.join(SPLITS)}; missing {', '.join(missing)}")
    n_users = {len(r.users) for r in results.values()}
    if len(n_users) != 1:
        raise ValueError(f"splits have different numbers of users: {sorted(n_users)}")
    doc: dict = {split: results[split].means() for split in SPLITS}
    doc["ci95"] = {split: {p: {m: list(bootstrap_ci(v, n_boot, seed, 0.95)) for m, v in per.items()}
                           for p, per in results[split].per_user.items()} for split in SPLITS}
    doc["eval_s"] = {split: round(results[split].wall_s, 3) for split in SPLITS}
    doc["rank_s"] = {split: round(results[split].rank_s, 3) for split in SPLITS}
    doc["tied_targets"] = {split: results[split].tie_rate() for split in SPLITS}
    doc["n_users"] = n_users.pop()
    doc["n_items"] = results["test"].n_items
    doc["n_boot"] = n_boot
    return doc
