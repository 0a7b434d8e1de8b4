"""Serving: item vectors in a FAISS inner-product index, and top-k for a user's history.

Sequence vectors and item vectors are exported separately (users asked for exactly this on the
public VQ-Rec code): the sequence encoder embeds a history; the index holds every item's
vector. With cosine scoring both sides are L2-normalised, so inner product = cosine.

Items need no interactions to be recommendable: a code-embedding item's vector comes from its
codes, which come from its text (a fused item's from its codes and its text vector, both held by
the model for every item of its domain). `add_items` appends new items (their codes computed from
text with the domain's codec; for a fused model their text vectors too) without retraining.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from textcode.core import artifacts
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.sasrec import SequenceEncoder

INDEX = "items.faiss"
VECTORS = "item_vectors.npy"


def item_vectors(model: SequenceEncoder) -> np.ndarray:
    """(I, H) float32 vectors to index; normalised when the model scores by cosine."""
    with torch.no_grad():
        v = model.item_vectors()
        if model.cfg.score == "cosine":
            v = F.normalize(v, dim=-1)
    return v.cpu().numpy().astype(np.float32)


def build_index(vectors: np.ndarray):
    """An exact inner-product index (items are few; exact search keeps evaluation honest)."""
    import faiss

    finite = np.isfinite(vectors).all(1)
    if not finite.all():  # faiss would abort the process, or rank by NaN
        raise ValueError(f"item vectors: row {int(np.flatnonzero(~finite)[0])} holds a non-finite value "
                         f"({int((~finite).sum())} row(s) in all); the model's weights are corrupt or diverged")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def write_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def read_index(path: Path):
    """A FAISS index file, checked against its folder's manifest first (see artifacts.verify_file)."""
    import faiss

    path = Path(path)
    if not path.exists():
        raise artifacts.ArtifactError(f"{path}: file not found")
    artifacts.verify_file(path)
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise artifacts.ArtifactError(f"{path}: unreadable FAISS index, truncated or corrupt ({exc})") from exc


def load_model(folder: str | Path):
    """The sequence model of a finished model (or export) folder, its files checked against the manifest;
    a model whose code table lies outside [0, n_codes) is refused naming the weights file."""
    from textcode.core.model_folder import WEIGHTS
    from textcode.core.model_kinds import load_recommender

    folder = Path(folder)
    artifacts.verify_folder(folder)
    try:
        model = load_recommender(folder)
    except ValueError as exc:  # e.g. CodeItemEmbedding: "codes must lie in [0, n)"
        raise artifacts.ArtifactError(f"{folder / WEIGHTS}: {exc}; retrain or re-export this model") from exc
    items = getattr(model, "items", None)
    if isinstance(items, CodeItemEmbedding):
        artifacts.check_codes(items.codes.cpu().numpy(), items.n_codes, f"{folder / WEIGHTS} (items.codes)")
    return model


class Retriever:
    """Top-k retrieval for histories: the sequence encoder + the item index."""

    def __init__(self, model: SequenceEncoder, index):
        self.model = model.eval()
        self.index = index

    @torch.no_grad()
    def embed_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(B, H) query vectors, normalised like the item vectors."""
        from textcode.data.batching import pad_histories

        items, mask = pad_histories(histories, self.model.cfg.max_len)
        h = self.model(items)[torch.arange(len(items)), mask.sum(1) - 1]  # (B, H)
        if self.model.cfg.score == "cosine":
            h = F.normalize(h, dim=-1)
        return h.cpu().numpy().astype(np.float32)

    def recommend(self, histories: Sequence[np.ndarray], k: int = 10, exclude_history: bool = False):
        """(scores (B, k), items (B, k)) best first for each history; optionally never the history's own items.
        Where fewer than k items are left (a small index, or exclusion), a row ends in items -1, scores -inf."""
        queries = self.embed_histories(histories)
        bonus = self.history_bonus()
        extra = max((len(np.unique(h)) for h in histories), default=0) if exclude_history or bonus else 0
        scores, items = self.index.search(queries, min(self.index.ntotal, k + extra))
        out_s = np.full((len(histories), k), -np.inf, np.float32)
        out_i = np.full((len(histories), k), -1, np.int64)
        for r, h in enumerate(histories):
            keep = items[r] >= 0  # faiss pads with -1 when asked for more than it holds
            if exclude_history:
                keep &= ~np.isin(items[r], h)
            s, i = scores[r][keep], items[r][keep]
            if bonus and not exclude_history:
                # the model's learned history term: every history item's exact score plus the term, merged
                # with the other candidates (a history item may rise into the top k or fall out of it)
                hist = np.unique(np.asarray(h, np.int64))
                others = ~np.isin(i, hist)
                hist_s = self.index.reconstruct_batch(hist) @ queries[r] + bonus
                s, i = np.concatenate([s[others], hist_s]), np.concatenate([i[others], hist])
                order = np.argsort(-s, kind="stable")
                s, i = s[order], i[order]
            s, i = s[:k], i[:k]
            out_s[r, :len(s)], out_i[r, :len(i)] = s, i
        return out_s, out_i

    def history_bonus(self) -> float:
        """The model's learned history term in the index's units (cosine, without the temperature); 0 if none."""
        w = self.model.history_weight
        if w is None:
            return 0.0
        return w.item() * (self.model.cfg.temperature if self.model.cfg.score == "cosine" else 1.0)

    def add_items(self, codes: np.ndarray, text: np.ndarray | None = None) -> np.ndarray:
        """Append items given their code tuples (from their text via the domain's codec) and, for a fused
        model, their (n, d_text) text vectors (the domain's encoder): they become recommendable at once.
        Returns the new items' ids in the index."""
        items = self.model.items
        if not isinstance(items, CodeItemEmbedding):  # code or fused
            raise TypeError("only code-embedding (code or fused) models can embed unseen items")
        with torch.no_grad():
            v = items.embed_new(torch.as_tensor(codes.astype(np.int64)),
                                None if text is None else torch.as_tensor(np.asarray(text, np.float32)))
            if self.model.cfg.score == "cosine":
                v = F.normalize(v, dim=-1)
        start = self.index.ntotal
        self.index.add(v.cpu().numpy().astype(np.float32))
        return np.arange(start, self.index.ntotal)


def cold_item_report(retriever: Retriever, histories: Sequence[np.ndarray], targets: np.ndarray,
                     cold: np.ndarray, ks: Sequence[int] = (10, 50)) -> dict:
    """How the index serves items never seen in training: hit rate of test users whose target is
    cold, and how many cold items appear in anyone's top-k."""
    cold_set = np.zeros(retriever.index.ntotal, dtype=bool)
    cold_set[cold] = True
    k_max = max(ks)
    _, top = retriever.recommend(histories, k_max)
    rows = np.flatnonzero(cold_set[targets])
    out = {"cold_items": int(cold_set.sum()), "users_with_cold_target": int(len(rows))}
    for k in ks:
        hits = (top[rows, :k] == targets[rows, None]).any(1) if len(rows) else np.zeros(0, bool)
        out[f"cold_target_hit@{k}"] = float(hits.mean()) if len(rows) else None
        out[f"cold_items_retrieved@{k}"] = int(len(np.intersect1d(top[:, :k], cold)))
        all_hits = (top[:, :k] == targets[:, None]).any(1)
        out[f"all_target_hit@{k}"] = float(all_hits.mean())
    return out


def load_retriever(folder: str | Path) -> Retriever:
    """A Retriever from an export folder (written by stage `export`)."""
    folder = Path(folder)
    return Retriever(load_model(folder), read_index(folder / INDEX))
