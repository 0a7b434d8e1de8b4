"""Iterative k-core filtering: keep users and items with at least k interactions."""
from __future__ import annotations

import numpy as np

from textcode.core.config import ConfigError
from textcode.data.domain import Domain, from_sequences


def core_mask(user_of: np.ndarray, item_of: np.ndarray, n_users: int, n_items: int, user_min: int, item_min: int,
              keep: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the interactions (user_of[n], item_of[n]) left after repeatedly dropping those of users with
    fewer than `user_min` and of items with fewer than `item_min` kept interactions (from `keep`, else all)."""
    keep = np.ones(len(user_of), dtype=bool) if keep is None else keep.copy()
    while True:
        u_count = np.bincount(user_of[keep], minlength=n_users)
        i_count = np.bincount(item_of[keep], minlength=n_items)
        drop = keep & ((u_count[user_of] < user_min) | (i_count[item_of] < item_min))
        if not drop.any():
            return keep
        keep &= ~drop


def k_core(domain: Domain, k: int) -> Domain:
    """Repeatedly drop users and items with fewer than `k` interactions until none are left.

    Order within each user is preserved; items are re-indexed in their previous order. k = 0 or 1
    keeps the domain as it is; a negative k is a ConfigError (it comes from `source.k_core`).
    The result may be empty: `sources.read_source` reports that.
    """
    if k < 0:
        raise ConfigError(f"source.k_core must be 0 (no filtering) or at least 2, got {k}")
    if k <= 1:
        return domain
    user_of = np.repeat(np.arange(domain.n_users), domain.lengths())
    keep = core_mask(user_of, domain.items, domain.n_users, domain.n_items, k, k)
    users = np.unique(user_of[keep])
    items = np.unique(domain.items[keep])
    remap = np.full(domain.n_items, -1, dtype=np.int64)
    remap[items] = np.arange(len(items))
    seqs, times = [], []
    for u in users:
        lo, hi = domain.offsets[u], domain.offsets[u + 1]
        m = keep[lo:hi]
        seqs.append(remap[domain.items[lo:hi][m]])
        if domain.times is not None:
            times.append(domain.times[lo:hi][m])
    return from_sequences(
        domain.name,
        domain.item_ids[items],
        None if domain.item_text is None else domain.item_text[items],
        domain.user_ids[users],
        seqs,
        times if domain.times is not None else None,
        None if domain.holdout is None else domain.holdout[users],
    )
