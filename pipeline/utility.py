"""Data for the utility experiments: does a recommender trained on generated windows work on real users?

Everything here builds Domains over the *source's* item table (same ids, same order), so a model
trained on one of them scores the items of another: train on real or on synthetic windows, test
on real held-out users; or train on real + synthetic, test on the real users only.

Held-out users are tested once per window (`window_events`), not once per user: a user's
last item alone left the MovieLens-1M comparison at 604 test events and 95% intervals of about
+-17% of train-on-real. The events of one user are not independent, so the intervals here
resample users with all their events (`cluster_ci`, `share_ci`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import artifacts
from pipeline.data.domain import Domain, from_sequences
from pipeline.data.errors import DataError
from pipeline.data.windows import Windows
from pipeline.evaluation import per_user_file, users_file


def same_items(a: Domain, b: Domain, where: str) -> None:
    if a.n_items != b.n_items or not np.array_equal(a.item_ids, b.item_ids):
        raise DataError(where, f"{a.name!r} and {b.name!r} do not share one item table ({a.n_items} vs {b.n_items} items)")


EVENT_USERS = "event_users.npy"  # beside a window-events domain: the source user index of each pseudo-user
GROUPS_FILE = "per_user/test_groups.npy"  # in an evaluate-utility folder: the resampling group of each event


def _keep(seqs: list[np.ndarray], min_length: int) -> list[np.ndarray]:
    return [s for s in seqs if len(s) >= min_length]


def windows_domain(source: Domain, windows: Windows, name: str, n: int, min_length: int, seed: int) -> Domain:
    """n random windows (of at least min_length items) as users; n=0 keeps every one."""
    seqs = _keep(windows.sequences(), min_length)
    if n:
        if n > len(seqs):
            raise DataError(name, f"asked for {n} windows of at least {min_length} items, there are {len(seqs)}")
        rows = np.sort(np.random.default_rng(seed).choice(len(seqs), size=n, replace=False))
        seqs = [seqs[i] for i in rows]
    return from_sequences(name, source.item_ids, source.item_text, [f"win-{i}" for i in range(len(seqs))], seqs)


def window_events(source: Domain, windows: Windows, name: str, min_length: int) -> tuple[Domain, np.ndarray]:
    """One pseudo-user per held-out window: its user's sequence up to the window's last item.

    Leave-one-out on a pseudo-user tests that item with everything the user did before it, so the
    test scores every window's last item (as often as a generator's evaluation windows, each
    with its full history). Windows must be the disjoint chunks of `cut` with stride = length, which
    is checked against the source sequence. Returns the domain (ids `<user>#w<chunk>`) and the
    source user index of each pseudo-user, for intervals that resample users.
    """
    chunk: dict[int, int] = {}
    seqs, names, owners = [], [], []
    for i in range(len(windows)):
        u = int(windows.users[i])
        k = chunk[u] = chunk.get(u, -1) + 1
        seq = source.sequence(u)
        start = k * windows.length
        end = start + int(windows.lengths[i])
        if not np.array_equal(seq[start:end], windows.window(i)):
            raise DataError(name, f"window {i} is not chunk {k} of user {source.user_ids[u]}'s sequence "
                                  f"(window events need disjoint chunks of length {windows.length})")
        if end >= min_length:
            seqs.append(seq[:end])
            names.append(f"{source.user_ids[u]}#w{k}")
            owners.append(u)
    return (from_sequences(name, source.item_ids, source.item_text, names, seqs),
            np.asarray(owners, dtype=np.int64))


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


def filtered(domain: Domain, min_length: int, name: str) -> Domain:
    seqs = [domain.sequence(u) for u in range(domain.n_users)]
    keep = [u for u, s in enumerate(seqs) if len(s) >= min_length]
    return from_sequences(name, domain.item_ids, domain.item_text, domain.user_ids[keep], [seqs[u] for u in keep])


def augmented(real: Domain, synthetic: Domain, name: str, min_length: int) -> Domain:
    """Real users followed by synthetic ones (each at least min_length items), over one item table.

    Leave-one-out then trains on every user's s[:-2]; score the result on the real domain alone.
    """
    same_items(real, synthetic, name)
    syn = [s for s in (synthetic.sequence(u) for u in range(synthetic.n_users)) if len(s) >= min_length]
    seqs = [real.sequence(u) for u in range(real.n_users)] + syn
    users = list(real.user_ids) + [f"syn-{i}" for i in range(len(syn))]
    return from_sequences(name, real.item_ids, real.item_text, users, seqs)


def event_metric(folder: str | Path, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(events, values, groups) of one evaluate-utility folder: its test events' metric and their groups."""
    folder = Path(folder)
    return tuple(artifacts.load_npy(folder / rel, mmap=False)
                 for rel in (users_file("test"), per_user_file("test", protocol, metric), GROUPS_FILE))


def share_between(folder: str | Path, reference: str | Path, protocol: str, metric: str, n_boot: int = 1000,
                  seed: int = 0) -> tuple[float, float]:
    """95% interval of `folder`'s mean metric over `reference`'s, both scored on the same test events."""
    events, a, groups = event_metric(folder, protocol, metric)
    ref_events, b, ref_groups = event_metric(reference, protocol, metric)
    if not (np.array_equal(events, ref_events) and np.array_equal(groups, ref_groups)):
        raise artifacts.ArtifactError(f"{folder} and {reference} were not scored on the same test events")
    return share_ci(a, b, groups, n_boot, seed)
