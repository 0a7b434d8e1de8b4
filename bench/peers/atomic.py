"""Our leave-one-out split as RecBole atomic files, and back; numpy only, so both virtual environments import it.

A domain's sequences become one `.inter` file whose timestamp is each interaction's position in its user's
sequence (0, 1, 2, ...). RecBole's leave-one-out (`eval_args: {split: {LS: valid_and_test}, order: TO,
group_by: user}`) sorts each user's interactions by that timestamp and holds out the last two, which is our
split (textcode/data/split.py): training s[:-2], validation target s[-2], test target s[-1]. Positions are
distinct within a user, so no tie can reorder a sequence. Tokens are our own indices (user u is "u", item i
is "i"), so a RecBole id maps back through its token alone. An `.item` file lists every item, so items that
occur in no interaction keep a RecBole id too and both sides score the same item set.

`split.npz` (plain arrays, no pickle) carries what the RecBole worker needs of our split: the sequences,
and the validation and test histories exactly as our evaluator gives them to every model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

FIELDS = "user_id:token\titem_id:token\ttimestamp:float"


@dataclasses.dataclass(frozen=True)
class Split:
    """A leave-one-out split in plain arrays (the fields of textcode.data.split.LeaveOneOut that matter here)."""

    n_items: int
    train_offsets: np.ndarray  # (U+1,) CSR over train_items: each user's s[:-2]
    train_items: np.ndarray
    valid_targets: np.ndarray  # (U,) s[-2]
    test_targets: np.ndarray  # (U,) s[-1]

    @property
    def n_users(self) -> int:
        return len(self.train_offsets) - 1

    def valid_history(self, user: int) -> np.ndarray:
        return self.train_items[self.train_offsets[user]:self.train_offsets[user + 1]]

    def test_history(self, user: int) -> np.ndarray:
        return np.append(self.valid_history(user), self.valid_targets[user])


def leave_one_out(offsets: np.ndarray, items: np.ndarray, n_items: int) -> Split:
    """The split of CSR sequences (every user has at least 3 items), as textcode.data.split.leave_one_out."""
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    if len(lengths) and lengths.min() < 3:
        raise ValueError("leave-one-out needs at least 3 interactions per user")
    last = offsets[1:] - 1
    keep = np.ones(len(items), bool)
    keep[last] = keep[last - 1] = False
    train_offsets = np.concatenate([[0], np.cumsum(lengths - 2)])
    items = np.asarray(items, np.int64)
    return Split(int(n_items), train_offsets, items[keep], items[last - 1], items[last])


def write_atomic(folder: str | Path, name: str, offsets: np.ndarray, items: np.ndarray, n_items: int) -> Path:
    """<folder>/<name>/<name>.inter and .item (RecBole's `data_path` is <folder>, its `dataset` <name>)."""
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    users = np.repeat(np.arange(len(lengths)), lengths)
    positions = np.arange(len(items)) - np.repeat(offsets[:-1], lengths)
    rows = np.stack([users, np.asarray(items, np.int64), positions], 1)
    with open(out / f"{name}.inter", "w", encoding="utf-8") as f:
        f.write(FIELDS + "\n")
        np.savetxt(f, rows, fmt="%d", delimiter="\t")
    with open(out / f"{name}.item", "w", encoding="utf-8") as f:
        f.write("item_id:token\n")
        np.savetxt(f, np.arange(n_items)[:, None], fmt="%d")
    return out


def read_atomic(folder: str | Path, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(offsets, items, n_items) read back from the atomic files: each user's items ordered by timestamp."""
    base = Path(folder) / name
    with open(base / f"{name}.inter", encoding="utf-8") as f:
        if f.readline().rstrip("\n") != FIELDS:
            raise ValueError(f"{base}/{name}.inter: unexpected header")
        rows = np.loadtxt(f, dtype=np.int64, delimiter="\t", ndmin=2)
    n_items = len(np.loadtxt(base / f"{name}.item", dtype=np.int64, skiprows=1, ndmin=1))
    users, items, times = rows.T
    order = np.lexsort((times, users))  # by user, then time: RecBole's 'TO' order grouped by user
    n_users = int(users.max()) + 1 if len(users) else 0
    offsets = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))])
    return offsets, items[order], n_items


def save_split(path: str | Path, split: Split) -> None:
    np.savez(path, n_items=split.n_items, train_offsets=split.train_offsets, train_items=split.train_items,
             valid_targets=split.valid_targets, test_targets=split.test_targets)


def load_split(path: str | Path) -> Split:
    with np.load(path, allow_pickle=False) as z:
        return Split(int(z["n_items"]), z["train_offsets"], z["train_items"], z["valid_targets"], z["test_targets"])


def same_split(a: Split, b: Split) -> list[str]:
    """What differs between two splits (empty when they are the same)."""
    diffs = [f"{k}: {getattr(a, k)} vs {getattr(b, k)}" for k in ("n_items",) if getattr(a, k) != getattr(b, k)]
    for k in ("train_offsets", "train_items", "valid_targets", "test_targets"):
        x, y = getattr(a, k), getattr(b, k)
        if x.shape != y.shape or not np.array_equal(x, y):
            diffs.append(f"{k} differs")
    return diffs
