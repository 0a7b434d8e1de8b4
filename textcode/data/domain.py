"""One internal representation per domain: items (id, text) and time-ordered user sequences.

Sequences are stored CSR-style: user u's items are `items[offsets[u]:offsets[u+1]]`, in time
order. Item indices are 0-based (row i of every per-item array is item i); there is no
padding item in the data, models handle padding with masks.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from textcode.core import artifacts
from textcode.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class ExpectedCounts:
    """Counts a source must produce; checked after reading (e.g. the canonical Scientific)."""

    users: int | None = None
    items: int | None = None
    interactions: int | None = None


@dataclasses.dataclass(frozen=True)
class Domain:
    name: str
    item_ids: np.ndarray  # (I,) object: raw item ids
    item_text: np.ndarray | None  # (I,) object: item text, None for text-free sources (Retail Rocket)
    user_ids: np.ndarray  # (U,) object: raw user (or session) ids
    offsets: np.ndarray  # (U+1,) int64
    items: np.ndarray  # (N,) int32, time-ordered within each user
    times: np.ndarray | None = None  # (N,) int64 unix seconds, when the source has them
    holdout: np.ndarray | None = None  # (U,) bool: users/sessions the source itself holds out

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user]:self.offsets[user + 1]]

    def counts(self) -> dict[str, int]:
        return {"users": self.n_users, "items": self.n_items, "interactions": self.n_interactions}

    def check_counts(self, expected: ExpectedCounts, source: str) -> None:
        """Raise when the data differs from the counts the source is known to have."""
        got = self.counts()
        wrong = {k: (v, got[k]) for k, v in dataclasses.asdict(expected).items() if v is not None and got[k] != v}
        if wrong:
            detail = ", ".join(f"{k}: expected {e:,}, got {g:,}" for k, (e, g) in wrong.items())
            raise DataError(source, f"domain {self.name!r} does not have the expected counts ({detail})")

    def validate(self, source: str) -> None:
        """Structural checks; `source` names the input in error messages."""
        n_users, n_items = self.n_users, self.n_items
        if len(self.offsets) != n_users + 1 or self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0):
            raise DataError(source, "sequence offsets are not a valid CSR index")
        if self.offsets[-1] != len(self.items):
            raise DataError(source, "sequence offsets do not cover the item array")
        if len(self.items) and (self.items.min() < 0 or self.items.max() >= n_items):
            raise DataError(source, "an interaction refers to an item outside the item table")
        if self.item_text is not None:
            if len(self.item_text) != n_items:
                raise DataError(source, "item text and item ids differ in length")
            empty = [i for i, t in enumerate(self.item_text) if not isinstance(t, str) or not t.strip()]
            if empty:
                raise DataError(source, f"empty text for {len(empty)} item(s)", key=str(self.item_ids[empty[0]]))
        if self.times is not None:
            if len(self.times) != len(self.items):
                raise DataError(source, "timestamps and items differ in length")
            backwards = np.diff(self.times) < 0
            backwards[self.offsets[1:-1] - 1] = False  # user boundaries may go back in time
            if np.any(backwards):
                pos = int(np.argmax(backwards))
                user = int(np.searchsorted(self.offsets, pos, side="right") - 1)
                raise DataError(source, "a user's interactions are not in time order", key=str(self.user_ids[user]))
        if self.holdout is not None and len(self.holdout) != n_users:
            raise DataError(source, "holdout flags and users differ in length")

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path | artifacts.OutputFolder) -> None:
        path = folder.path if isinstance(folder, artifacts.OutputFolder) else (lambda n: Path(folder) / n)
        items = {"item_id": [str(x) for x in self.item_ids]}
        if self.item_text is not None:
            items["text"] = [str(x) for x in self.item_text]
        artifacts.save_table(path("items.parquet"), items)
        artifacts.save_table(path("users.parquet"), {"user_id": [str(x) for x in self.user_ids]})
        artifacts.save_npy(path("offsets.npy"), self.offsets.astype(np.int64))
        artifacts.save_npy(path("items.npy"), self.items.astype(np.int32))
        if self.times is not None:
            artifacts.save_npy(path("times.npy"), self.times.astype(np.int64))
        if self.holdout is not None:
            artifacts.save_npy(path("holdout.npy"), self.holdout.astype(np.bool_))

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> "Domain":
        folder = Path(folder)
        manifest = artifacts.read_manifest(folder)
        items = artifacts.load_table(folder / "items.parquet")
        users = artifacts.load_table(folder / "users.parquet")
        optional = {n: artifacts.load_npy(folder / f"{n}.npy", mmap=False) for n in ("times", "holdout") if (folder / f"{n}.npy").exists()}
        return cls(
            name=name or manifest["summary"]["domain"],
            item_ids=items["item_id"],
            item_text=items.get("text"),
            user_ids=users["user_id"],
            offsets=artifacts.load_npy(folder / "offsets.npy", mmap=False),
            items=artifacts.load_npy(folder / "items.npy", mmap=False),
            **optional,
        )


def from_sequences(name: str, item_ids: Sequence[str], item_text: Sequence[str] | None, user_ids: Sequence[str],
                   sequences: Iterable[Sequence[int]], times: Iterable[Sequence[int]] | None = None,
                   holdout: Sequence[bool] | None = None) -> Domain:
    """Build a Domain from per-user item-index lists already in time order."""
    seqs = [np.asarray(s, dtype=np.int32) for s in sequences]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in seqs])
    flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int32)
    flat_times = None
    if times is not None:
        ts = [np.asarray(t, dtype=np.int64) for t in times]
        flat_times = np.concatenate(ts) if ts else np.zeros(0, np.int64)
    return Domain(
        name=name,
        item_ids=np.asarray(list(item_ids), dtype=object),
        item_text=None if item_text is None else np.asarray(list(item_text), dtype=object),
        user_ids=np.asarray(list(user_ids), dtype=object),
        offsets=offsets,
        items=flat,
        times=flat_times,
        holdout=None if holdout is None else np.asarray(holdout, dtype=bool),
    )


def subset(domain: Domain, users: np.ndarray, name: str | None = None) -> Domain:
    """The domain restricted to `users` (indices), with unused items dropped and re-indexed."""
    users = np.asarray(users, dtype=np.int64)
    seqs = [domain.sequence(u) for u in users]
    used = np.unique(np.concatenate(seqs)) if seqs else np.zeros(0, np.int64)
    remap = np.full(domain.n_items, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    times = None
    if domain.times is not None:
        times = [domain.times[domain.offsets[u]:domain.offsets[u + 1]] for u in users]
    return from_sequences(
        name or domain.name,
        domain.item_ids[used],
        None if domain.item_text is None else domain.item_text[used],
        domain.user_ids[users],
        [remap[s] for s in seqs],
        times,
        None if domain.holdout is None else domain.holdout[users],
    )
