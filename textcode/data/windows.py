"""Windows of item sequences: the one type, and the two ways sequences are cut into it.

A `Windows` is a CSR view: window w is `items[starts[w]:ends[w]]` of a flat item array (a
domain's, or a split's training part), so cutting copies no items and windows may overlap.

- `cut_from_end` (next-item training of the recommenders): every position of a training sequence is
  a training example (input s[t], target s[t+1]), so one pass over a window trains on all its
  prefixes at once, instead of materialising one row per prefix padded to 50 as RecBole does.
  Sequences longer than `max_len + 1` are cut into windows from the end, so every target is trained
  exactly once per epoch.
- `cut_chunks` (the generators): fixed-length windows of L items from each sequence's start, with a
  stride. `split_windows` splits users (or sessions) first (seeded), then cuts each side, so no
  window and no interaction crosses the split. Evaluation windows are non-overlapping chunks of
  length L (every held-out interaction is counted once); training windows may overlap
  (`train_stride`). The generators see windows through `padded()`: a window shorter than L (a
  user's tail, a short session) is left-aligned and padded with -1; its true length travels beside
  it, and models never see or predict the padding.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.errors import DataError

PAD = -1


@dataclasses.dataclass(frozen=True)
class Windows:
    """Windows over a CSR of sequences; window w is items[starts[w]:ends[w]]."""

    items: np.ndarray  # (N,) int, the flat sequences
    starts: np.ndarray  # (W,) int64
    ends: np.ndarray  # (W,) int64, exclusive
    length: int  # the most items a window holds (L; max_len + 1 from the end): the width of `padded()`
    users: np.ndarray  # (W,) int64: the source user (or session, or sequence) of each window
    domain: np.ndarray | None = None  # (W,) int16: which domain a window belongs to (mixed-domain pretraining)

    def __len__(self) -> int:
        return len(self.starts)

    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def n_targets(self) -> int:
        return int((self.lengths() - 1).sum())

    def window(self, i: int) -> np.ndarray:
        return self.items[self.starts[i]:self.ends[i]]

    def sequences(self) -> list[np.ndarray]:
        return [self.window(i) for i in range(len(self))]

    def flat_items(self) -> np.ndarray:
        """Every window's items, window by window."""
        lengths = self.lengths()
        first = np.cumsum(lengths) - lengths  # where each window begins in the output
        return self.items[np.repeat(self.starts - first, lengths) + np.arange(int(lengths.sum()))]

    def padded(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), length) int64: the windows `rows` (all by default), left-aligned, PAD after each one's length."""
        rows = np.arange(len(self)) if rows is None else rows
        pos = np.arange(self.length)
        valid = pos[None, :] < self.lengths()[rows][:, None]  # (B, L)
        src = np.where(valid, self.starts[rows][:, None] + pos[None, :], 0)
        return np.where(valid, self.items[src], PAD).astype(np.int64)

    def subset(self, rows: np.ndarray) -> "Windows":
        return Windows(self.items, self.starts[rows], self.ends[rows], self.length, self.users[rows],
                       None if self.domain is None else self.domain[rows])


# ----------------------------------------------------------------------------- next-item training

def cut_from_end(offsets: np.ndarray, items: np.ndarray, max_len: int) -> Windows:
    """Cut each sequence (CSR `offsets` over `items`) into windows of at most max_len + 1 items.

    Window ends are counted back from the sequence end in steps of max_len, so consecutive
    windows share one item (the last input of one is the first of the next) and every
    position t >= 1 of a sequence is a target in exactly one window. Sequences of one item
    give no window.
    """
    starts, ends, owners = [], [], []
    for seq, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        end = int(hi)
        while end - lo >= 2:
            start = max(int(lo), end - max_len - 1)
            starts.append(start)
            ends.append(end)
            owners.append(seq)
            end = start + 1
    return Windows(items, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), max_len + 1,
                   np.asarray(owners, dtype=np.int64))


def concat_windows(parts: Sequence[Windows], item_offsets: Sequence[int]) -> Windows:
    """Merge windows of several domains into one global item space (item ids shifted by offset).

    `users` stay each domain's own indices; `domain` says which domain a window belongs to.
    """
    items, starts, ends, users, dom = [], [], [], [], []
    base = 0
    for d, (w, shift) in enumerate(zip(parts, item_offsets)):
        items.append(w.items.astype(np.int64) + shift)
        starts.append(w.starts + base)
        ends.append(w.ends + base)
        users.append(w.users)
        dom.append(np.full(len(w), d, dtype=np.int16))
        base += len(w.items)
    return Windows(np.concatenate(items), np.concatenate(starts), np.concatenate(ends), max(w.length for w in parts),
                   np.concatenate(users), np.concatenate(dom))


# ----------------------------------------------------------------------------- generation

@dataclasses.dataclass(frozen=True)
class UserSplit:
    train: np.ndarray  # user indices, sorted
    valid: np.ndarray
    test: np.ndarray


def split_users(domain: Domain, cfg: WindowConfig, seed: int) -> UserSplit:
    """Seeded split of users (sessions) into train/valid/test.

    `holdout: source` takes the source's own held-out sessions as the test side (Retail Rocket's
    last-week sessions) and draws validation from the rest; `random` ignores those flags.
    """
    rng = np.random.default_rng(seed)
    n = domain.n_users
    if cfg.holdout == "source":
        if domain.holdout is None:
            raise DataError(domain.name, "windows.holdout=source, but the domain has no holdout flags (holdout.npy)")
        test = np.flatnonzero(domain.holdout)
        rest = rng.permutation(np.flatnonzero(~domain.holdout))
        n_valid = int(round(cfg.valid_fraction * n))
        valid, train = rest[:n_valid], rest[n_valid:]
    else:
        order = rng.permutation(n)
        n_valid, n_test = int(round(cfg.valid_fraction * n)), int(round(cfg.test_fraction * n))
        valid, test, train = order[:n_valid], order[n_valid:n_valid + n_test], order[n_valid + n_test:]
    if min(len(train), len(valid), len(test)) == 0:
        raise DataError(domain.name, f"split of {n} users leaves an empty side (train {len(train)}, "
                        f"valid {len(valid)}, test {len(test)})")
    return UserSplit(np.sort(train), np.sort(valid), np.sort(test))


def cut_chunks(domain: Domain, users: np.ndarray, length: int, stride: int, min_length: int,
               drop_last: int = 0) -> Windows:
    """Windows of `length` starting every `stride` items of each user's sequence (minus its last `drop_last`).

    A user's windows stop at the first one that reaches the end of the sequence, so with
    stride == length they are disjoint chunks whose last one may be short.
    """
    starts, ends, owners = [], [], []
    for u in users:
        lo, hi = int(domain.offsets[u]), int(domain.offsets[u + 1])
        hi = max(hi - drop_last, lo)
        start = lo
        while start < hi:
            end = min(start + length, hi)
            if end - start >= min_length:
                starts.append(start)
                ends.append(end)
                owners.append(u)
            if start + length >= hi:
                break
            start += stride
    return Windows(domain.items, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), length,
                   np.asarray(owners, dtype=np.int64))


@dataclasses.dataclass(frozen=True)
class WindowSplit:
    train: Windows
    valid: Windows
    test: Windows
    users: UserSplit

    def summary(self) -> dict:
        out = {}
        for side in ("train", "valid", "test"):
            w: Windows = getattr(self, side)
            lengths = w.lengths()
            out[side] = {"users": int(len(getattr(self.users, side))), "windows": len(w),
                         "items": int(lengths.sum()), "full_windows": int((lengths == w.length).sum()),
                         "mean_length": float(lengths.mean()) if len(w) else 0.0}
        return out


def split_windows(domain: Domain, cfg: WindowConfig, seed: int) -> WindowSplit:
    """Users split by `split_users`, each side cut by `cut_chunks` (evaluation sides with stride = length)."""
    split = split_users(domain, cfg, seed)
    stride = cfg.train_stride or cfg.length
    drop = 2 if cfg.holdout == "train_part" else 0  # leave-one-out keeps s[-2] and s[-1] for validation and test
    return WindowSplit(
        train=cut_chunks(domain, split.train, cfg.length, stride, cfg.min_length, drop),
        valid=cut_chunks(domain, split.valid, cfg.length, cfg.length, cfg.min_length, drop),
        test=cut_chunks(domain, split.test, cfg.length, cfg.length, cfg.min_length, drop),
        users=split,
    )
