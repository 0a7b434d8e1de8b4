"""Bootstrap intervals, the project's one implementation: every 95% interval and paired test is made here.

The sampling unit is a user: either each value is one user (stage evaluate: one test target per user), or
values are events grouped by user (the utility experiments: a held-out user has several test events, which
are not independent), and a resample draws groups with all their events. Paired statistics (a difference
or a ratio of two models scored on the same users) resample both models' values together.

`resample` is the only place draws are made: `n_boot` rows of `n_units` unit indices, drawn row after row
from `numpy.random.default_rng(seed)`, so a seed gives the same resamples whatever the statistic, and in
chunks or in one piece alike. `percentile_interval` is the only interval: the (1 - level) / 2 and
(1 + level) / 2 quantiles of the resampled statistic (numpy's default, linear interpolation).

The two kinds of unit keep the arithmetic they were first computed with, so recorded results are
reproduced to the bit: one value per user takes the mean of the drawn values (`unit_means`); groups take
drawn-count-weighted sums (`group_ratios`). On the same draws the two agree but for the last bits.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

CHUNK = 100  # resamples drawn at once: keeps the (rows, units) index matrix small for large domains


def resample(n_units: int, n_boot: int, seed: int, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """The bootstrap's draws: `n_boot` resamples of `n_units` units with replacement, as (rows, n_units)
    arrays of unit indices of at most `chunk` rows each, in order."""
    if n_units < 1:
        raise ValueError(f"bootstrap needs at least one unit, got {n_units}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    rng = np.random.default_rng(seed)  # made here, so a bad argument fails at the call, not at the first draw
    return (rng.integers(0, n_units, size=(min(chunk, n_boot - lo), n_units)) for lo in range(0, n_boot, chunk))


def percentile_interval(stats: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of resampled statistics."""
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _vector(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-D array, got shape {values.shape}")
    return values


def unit_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot,) means of resamples of `values`, each value one unit (a user)."""
    values = _vector(values)
    draws = resample(len(values), n_boot, seed)
    means = np.empty(n_boot)
    lo = 0
    for idx in draws:
        means[lo:lo + len(idx)] = values[idx].mean(1)
        lo += len(idx)
    return means


def group_counts(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_groups) float64: how often each group is drawn in each resample."""
    draws = resample(n_groups, n_boot, seed)
    counts = np.empty((n_boot, n_groups))
    lo = 0
    for idx in draws:
        rows = len(idx)
        flat = (idx + n_groups * np.arange(rows)[:, None]).ravel()
        counts[lo:lo + rows] = np.bincount(flat, minlength=rows * n_groups).reshape(rows, n_groups)
        lo += rows
    return counts


def group_ratios(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot,) sum(a) / sum(b) over resamples of the groups (each with all its values); a and b are paired,
    one value each per event. With b = 1 this is the mean of a over events."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.shape != np.shape(groups):
        raise ValueError(f"paired arrays differ in shape: {a.shape}, {b.shape}, groups {np.shape(groups)}")
    labels, index = np.unique(np.asarray(groups), return_inverse=True)
    G = len(labels)
    weights = group_counts(G, n_boot, seed)
    num = weights @ np.bincount(index, weights=a, minlength=G)  # each group's sum, times its draws
    den = weights @ np.bincount(index, weights=b, minlength=G)
    if not (den > 0).all():
        raise ValueError("the denominator is 0 on a resample (the reference model scores 0): the ratio is undefined")
    return num / den


def bootstrap_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 groups: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile interval of the mean: over users (each value one user), or, given each value's group,
    over events, resampling groups (users) with all their events."""
    if groups is None:
        return percentile_interval(unit_means(values, n_boot, seed), level)
    values = np.asarray(values, dtype=np.float64)
    return percentile_interval(group_ratios(values, np.ones_like(values), groups, n_boot, seed), level)


def share_ci(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0,
             level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(a) / mean(b): two models scored on the same events, resampled together by group."""
    return percentile_interval(group_ratios(a, b, groups, n_boot, seed), level)


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    diff: float  # mean over users of a - b
    ci: tuple[float, float]  # percentile interval of the mean difference
    p_value: float  # two-sided, against "no mean difference"; never below 1 / (n_boot + 1)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> PairedComparison:
    """Compare two models on the same users by resampling users (pairs stay together).

    The p-value shifts the bootstrap distribution of the mean difference to the null (mean 0)
    and counts resamples at least as extreme as the observed difference (Efron & Tibshirani
    1993, 16.4); the +1 terms keep it a valid p-value with a finite number of resamples.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    observed = float(d.mean())
    means = unit_means(d, n_boot, seed)
    # with floating-point sums, a resample of a constant array may differ from `observed` in the last bits
    tol = 1e-12 * max(1.0, abs(observed))
    extreme = np.abs(means - observed) >= abs(observed) - tol
    p = (1 + int(extreme.sum())) / (n_boot + 1)
    return PairedComparison(observed, percentile_interval(means, level), float(min(1.0, p)))
