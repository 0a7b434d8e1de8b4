"""Data for the utility experiments: does a recommender trained on generated windows work on real users?

Everything here builds Domains over the *source's* item table (same ids, same order), so a model
trained on one of them scores the items of another: train on real or on synthetic windows, test
on real held-out users; or train on real + synthetic, test on the real users only.

Held-out users are tested once per window (`window_events`), not once per user: a user's
last item alone left the MovieLens-1M comparison at 604 test events and 95% intervals of about
+-17% of train-on-real. The intervals over those events live in experiments.utility_stats.
"""
from __future__ import annotations

import numpy as np

from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.windows import Windows


def same_items(a: Domain, b: Domain, where: str) -> None:
    if a.n_items != b.n_items or not np.array_equal(a.item_ids, b.item_ids):
        raise DataError(where, f"{a.name!r} and {b.name!r} do not share one item table ({a.n_items} vs {b.n_items} items)")


EVENT_USERS = "event_users.npy"  # beside a window-events domain: the source user index of each pseudo-user


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
    with its full history). Windows must be the disjoint chunks of `cut_chunks` with stride = length, which
    is checked against the source sequence. Returns the domain (ids `<user>#w<chunk>`) and the
    source user index of each pseudo-user, for intervals that resample users.
    """
    chunk: dict[int, int] = {}
    seqs, names, owners = [], [], []
    for i in range(len(windows)):
        u = int(windows.users[i])
        k = chunk[u] = chunk.get(u, -1) + 1
        seq, window = source.sequence(u), windows.window(i)
        start = k * windows.length
        end = start + len(window)
        if not np.array_equal(seq[start:end], window):
            raise DataError(name, f"window {i} is not chunk {k} of user {source.user_ids[u]}'s sequence "
                                  f"(window events need disjoint chunks of length {windows.length})")
        if end >= min_length:
            seqs.append(seq[:end])
            names.append(f"{source.user_ids[u]}#w{k}")
            owners.append(u)
    return (from_sequences(name, source.item_ids, source.item_text, names, seqs),
            np.asarray(owners, dtype=np.int64))


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
