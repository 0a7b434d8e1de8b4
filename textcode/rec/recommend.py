"""Recommendations for people: top-k items (id, score, text) for histories of item ids or for users.

Reads a serving folder (written by `textcode export`: the sequence model and the FAISS index of every
item's vector) and the prepared domain it was exported from (item ids and texts, user sequences).
Every item of the domain is in the index, so an item with no interactions at all is recommendable:
a code-embedding model's item vector comes from the item's codes, which come from its text.

    recs = TopK.load("artifacts/scientific/serving", "artifacts/scientific/prepared")
    recs.recommend([["B00A", "B00B"]], k=10)      # histories of item ids, oldest first
    recs.recommend_users(["A1B2C3"], k=10)        # a user's whole sequence as the history
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from textcode.core import artifacts
from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.rec import serving


@dataclasses.dataclass(frozen=True)
class Recommendation:
    rank: int  # 1-based
    item: str  # the item id, as in the domain
    score: float  # inner product of query and item vector (cosine when the model scores by cosine)
    text: str | None  # the item's text; None for text-free domains


class TopK:
    """Top-k items for histories, over an export's index and its domain's item table."""

    def __init__(self, retriever: serving.Retriever, domain: Domain, source: str | Path = "histories"):
        if retriever.index.ntotal != domain.n_items:
            raise artifacts.ArtifactError(
                f"the serving index holds {retriever.index.ntotal} items but domain {domain.name!r} has "
                f"{domain.n_items}; give the prepared folder the serving folder was exported from")
        self.retriever, self.domain, self.source = retriever, domain, str(source)
        self._item_index = {str(x): i for i, x in enumerate(domain.item_ids)}
        self._user_index = {str(x): u for u, x in enumerate(domain.user_ids)}

    @classmethod
    def load(cls, serving_folder: str | Path, prepared: str | Path) -> "TopK":
        """From an export folder and the prepared domain folder it was exported from (both verified)."""
        serving_folder, prepared = Path(serving_folder), Path(prepared)
        retriever = serving.load_retriever(serving_folder)
        domain = Domain.load(prepared)
        copy = serving_folder / "items.parquet"  # export's copy of the item table: the two must agree
        if copy.exists():
            exported = artifacts.load_table(copy, ["item_id"])["item_id"]
            if len(exported) != domain.n_items or any(str(a) != str(b) for a, b in zip(exported, domain.item_ids)):
                raise artifacts.ArtifactError(
                    f"{prepared}: its items differ from those {serving_folder} was exported with; "
                    f"give the prepared folder the serving folder was exported from (or export again)")
        return cls(retriever, domain, source=prepared)

    # ------------------------------------------------------------------ ids -> indices
    def item_indices(self, item_ids: Sequence[str]) -> np.ndarray:
        """Row indices of item ids; an unknown id is a DataError naming it."""
        out = np.empty(len(item_ids), np.int64)
        for n, item in enumerate(item_ids):
            i = self._item_index.get(str(item))
            if i is None:
                raise DataError(self.source, f"unknown item id (not in domain {self.domain.name!r})", key=str(item))
            out[n] = i
        return out

    def user_history(self, user_id: str) -> np.ndarray:
        """A user's whole time-ordered sequence (item indices); an unknown user is a DataError."""
        u = self._user_index.get(str(user_id))
        if u is None:
            raise DataError(self.source, f"unknown user id (not in domain {self.domain.name!r})", key=str(user_id))
        return np.asarray(self.domain.sequence(u), np.int64)

    # ------------------------------------------------------------------ top-k
    def top_k(self, histories: Sequence[np.ndarray], k: int = 10,
              exclude_history: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
        """(item indices, scores) of each history's top k, best first. With `exclude_history` no item of
        the history is returned (then fewer than k when the domain has fewer other items)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        for h in histories:
            if len(h) == 0:
                raise ValueError("a history must hold at least one item")
        if not histories:
            return []
        scores, items = self.retriever.recommend(histories, k, exclude_history)
        return [(i[i >= 0], s[i >= 0]) for s, i in zip(scores, items)]

    def _rows(self, top: tuple[np.ndarray, np.ndarray]) -> list[Recommendation]:
        texts = self.domain.item_text
        return [Recommendation(rank=r + 1, item=str(self.domain.item_ids[i]), score=float(s),
                               text=None if texts is None else str(texts[i]))
                for r, (i, s) in enumerate(zip(*top))]

    def recommend(self, histories: Sequence[Sequence[str]], k: int = 10,
                  exclude_history: bool = True) -> list[list[Recommendation]]:
        """Top-k for each history given as item ids (oldest first)."""
        idx = [self.item_indices(h) for h in histories]
        for h in idx:
            if len(h) == 0:
                raise DataError(self.source, "an empty history: give at least one item id")
        return [self._rows(t) for t in self.top_k(idx, k, exclude_history)]

    def recommend_users(self, user_ids: Sequence[str], k: int = 10,
                        exclude_history: bool = True) -> list[list[Recommendation]]:
        """Top-k for users of the domain, each user's whole sequence being the history."""
        idx = [self.user_history(u) for u in user_ids]
        for u, h in zip(user_ids, idx):
            if len(h) == 0:
                raise DataError(self.source, "the user has no interactions to recommend from", key=str(u))
        return [self._rows(t) for t in self.top_k(idx, k, exclude_history)]

    def all_users(self, k: int = 10, exclude_history: bool = True, batch: int = 1024) -> dict[str, np.ndarray]:
        """Top-k of every user with at least one interaction, as columns user, rank, item, score."""
        cols: dict[str, list] = {"user": [], "rank": [], "item": [], "score": []}
        for users, tops in self._batches(k, exclude_history, batch):
            for u, (items, scores) in zip(users, tops):
                cols["user"].append(np.full(len(items), str(self.domain.user_ids[u]), dtype=object))
                cols["rank"].append(np.arange(1, len(items) + 1, dtype=np.int32))
                cols["item"].append(self.domain.item_ids[items].astype(object))
                cols["score"].append(scores)
        empty = {"user": object, "rank": np.int32, "item": object, "score": np.float32}
        return {c: np.concatenate(v) if v else np.zeros(0, empty[c]) for c, v in cols.items()}

    def _batches(self, k: int, exclude_history: bool, batch: int) -> Iterator[tuple[np.ndarray, list]]:
        users = np.flatnonzero(self.domain.lengths() > 0)
        for start in range(0, len(users), batch):
            chunk = users[start:start + batch]
            yield chunk, self.top_k([np.asarray(self.domain.sequence(u), np.int64) for u in chunk], k, exclude_history)


def recommend(serving_folder: str | Path, prepared: str | Path, histories: Sequence[Sequence[str]], k: int = 10,
              exclude_history: bool = True) -> list[list[Recommendation]]:
    """Top-k (rank, item id, score, text) for each history of item ids, from an export folder."""
    return TopK.load(serving_folder, prepared).recommend(histories, k, exclude_history)
