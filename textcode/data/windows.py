"""Fixed-length windows of item sequences, with a held-out split of users (or sessions).

The split is made on users first (seeded), then each side is cut into windows, so no window
and no interaction crosses it. Evaluation windows are non-overlapping chunks of length L
(every held-out interaction is counted once); training windows may overlap (`train_stride`).
A window shorter than L (a user's tail, a short session) is left-aligned and padded with -1;
its true length travels beside it, and models never see or predict the padding.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.gen.config import WindowConfig

PAD = -1


@dataclasses.dataclass(frozen=True)
class Windows:
    items: np.ndarray  # (W, L) int64, PAD after each window's length
    lengths: np.ndarray  # (W,) int64, in [min_length, L]
    users: np.ndarray  # (W,) int64: the source user (or session) of each window

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def length(self) -> int:
        return self.items.shape[1]

    def window(self, i: int) -> np.ndarray:
        return self.items[i, :self.lengths[i]]

    def sequences(self) -> list[np.ndarray]:
        return [self.window(i) for i in range(len(self))]

    def flat_items(self) -> np.ndarray:
        """Every non-padding item, window by window."""
        return self.items[self.items != PAD]

    def subset(self, rows: np.ndarray) -> "Windows":
        return Windows(self.items[rows], self.lengths[rows], self.users[rows])


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


def cut(domain: Domain, users: np.ndarray, length: int, stride: int, min_length: int, drop_last: int = 0) -> Windows:
    """Windows of `length` starting every `stride` items of each user's sequence (minus its last `drop_last`).

    A user's windows stop at the first one that reaches the end of the sequence, so with
    stride == length they are disjoint chunks whose last one may be short.
    """
    rows, lens, owners = [], [], []
    for u in users:
        seq = domain.sequence(int(u))
        seq = seq[:max(len(seq) - drop_last, 0)]
        start = 0
        while start < len(seq):
            piece = seq[start:start + length]
            if len(piece) >= min_length:
                rows.append(piece)
                lens.append(len(piece))
                owners.append(u)
            if start + length >= len(seq):
                break
            start += stride
    items = np.full((len(rows), length), PAD, dtype=np.int64)
    for i, piece in enumerate(rows):
        items[i, :len(piece)] = piece
    return Windows(items, np.asarray(lens, dtype=np.int64), np.asarray(owners, dtype=np.int64))


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
            out[side] = {"users": int(len(getattr(self.users, side))), "windows": len(w),
                         "items": int(w.lengths.sum()), "full_windows": int((w.lengths == w.length).sum()),
                         "mean_length": float(w.lengths.mean()) if len(w) else 0.0}
        return out


def make_windows(domain: Domain, cfg: WindowConfig, seed: int) -> WindowSplit:
    split = split_users(domain, cfg, seed)
    stride = cfg.train_stride or cfg.length
    drop = 2 if cfg.holdout == "train_part" else 0  # leave-one-out keeps s[-2] and s[-1] for validation and test
    return WindowSplit(
        train=cut(domain, split.train, cfg.length, stride, cfg.min_length, drop),
        valid=cut(domain, split.valid, cfg.length, cfg.length, cfg.min_length, drop),
        test=cut(domain, split.test, cfg.length, cfg.length, cfg.min_length, drop),
        users=split,
    )
