"""Intervals of the utility experiments: events of one user resampled together, and shares of train-on-real.

Window events (experiments.utility_data.window_events) give a held-out user several test events, which are
not independent, so every interval here resamples users (groups) with all their events. Kept apart
from experiments.utility_data so that a change here re-scores the utility models without rebuilding their
training data (mk/generate.mk: CODE_utility vs CODE_utility_eval).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textcode.core import artifacts
from textcode.eval.evaluation import per_user_file, users_file

GROUPS_FILE = "per_user/test_groups.npy"  # in an evaluate-utility folder: the resampling group of each event


def _resampled_groups(groups: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap over groups: (n_boot, G) how often each group is drawn, and each value's group index (N,)."""
    labels, index = np.unique(np.asarray(groups), return_inverse=True)
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(n_boot, len(labels)))
    weights = np.stack([np.bincount(d, minlength=len(labels)) for d in draws]).astype(np.float64)
    return weights, index


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def cluster_ci(values: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0,
               level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over events, resampling groups (users) with all their events."""
    values = np.asarray(values, dtype=np.float64)
    weights, index = _resampled_groups(groups, n_boot, seed)
    sums = np.bincount(index, weights=values, minlength=weights.shape[1])
    counts = np.bincount(index, minlength=weights.shape[1])
    return _interval((weights @ sums) / (weights @ counts), level)


def share_ci(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0,
             level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(a) / mean(b): two models scored on the same events, resampled together by group."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.shape != np.shape(groups):
        raise ValueError(f"paired arrays differ in shape: {a.shape}, {b.shape}, groups {np.shape(groups)}")
    weights, index = _resampled_groups(groups, n_boot, seed)
    G = weights.shape[1]
    num, den = weights @ np.bincount(index, weights=a, minlength=G), weights @ np.bincount(index, weights=b, minlength=G)
    if not (den > 0).all():
        raise ValueError("the reference model scores 0 on a resample: its share is undefined")
    return _interval(num / den, level)


def event_metric(folder: str | Path, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(events, values, groups) of one evaluate-utility folder: its test events' metric and their groups."""
    folder = Path(folder)
    return tuple(artifacts.load_npy(folder / rel, mmap=False)
                 for rel in (users_file("test"), per_user_file("test", protocol, metric), GROUPS_FILE))


def paired_event_metric(folder: str | Path, reference: str | Path, protocol: str,
                        metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(events, folder's values, reference's values, groups) of two models scored on the same test events."""
    events, a, groups = event_metric(folder, protocol, metric)
    ref_events, b, ref_groups = event_metric(reference, protocol, metric)
    if not (np.array_equal(events, ref_events) and np.array_equal(groups, ref_groups)):
        raise artifacts.ArtifactError(f"{folder} and {reference} were not scored on the same test events")
    return events, a, b, groups


def share_between(folder: str | Path, reference: str | Path, protocol: str, metric: str, n_boot: int = 1000,
                  seed: int = 0) -> tuple[float, float]:
    """95% interval of `folder`'s mean metric over `reference`'s, both scored on the same test events."""
    _, a, b, groups = paired_event_metric(folder, reference, protocol, metric)
    return share_ci(a, b, groups, n_boot, seed)
