"""EASE (Steck, WWW 2019): a closed-form item-item linear autoencoder, the strong non-sequential baseline.

    P = (X^T X + l2 I)^-1,   B = I - P diag(1 / diag(P))   (so diag(B) = 0),   score = x_u B

X is the binary user x item matrix of the training sequences (s[:-2] of every user, see
textcode.data.split), x_u the binary bag of a user's whole history (EASE ignores order, so
no truncation). The weight matrix is dense (n_items^2): float64 while solving, float32 stored.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from textcode.baselines import Fitted
from textcode.core import artifacts

if TYPE_CHECKING:  # torch is imported where it is used, so settings (which reads configs) stays torch-free
    from pathlib import Path

    import torch

    from textcode.data.split import LeaveOneOut

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Config:
    # l2 candidates, picked on validation NDCG@10. A wide log range: the best l2 grows with the data (about 100
    # on a few thousand users, thousands on large domains), and a grid that bottoms out picks a poor model.
    l2_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
    extend_at_edge: int = 4  # when the best l2 is the grid's smallest or largest, try up to this many more values
                             # beyond it (continuing the grid's ratio); a best still at the edge is flagged
    batch_size: int = 1024  # users per scoring batch during the validation search


def binary_interactions(offsets: np.ndarray, items: np.ndarray, n_items: int):
    """(U, n_items) scipy CSR matrix with 1 where a user's sequence contains the item (repeats count once)."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    x = sp.csr_matrix((np.ones(len(items), np.float64), (rows, np.asarray(items, np.int64))),
                      shape=(len(offsets) - 1, n_items))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def bag_pairs(histories: Sequence[np.ndarray], n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the binary bags of `histories`: each (history, item) pair once, repeats dropped."""
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    flat = np.concatenate([np.asarray(h, np.int64) for h in histories]) if lengths.sum() else np.zeros(0, np.int64)
    pairs = np.unique(np.repeat(np.arange(len(histories)), lengths) * n_items + flat)
    return pairs // n_items, pairs % n_items


def gram(x) -> np.ndarray:
    """Dense (I, I) float64 X^T X of a sparse binary matrix."""
    return np.asarray((x.T @ x).todense(), dtype=np.float64)


def ease_weights(gram_matrix: np.ndarray, l2: float) -> np.ndarray:
    """(I, I) float64 EASE weights for one l2, via a Cholesky inverse (G + l2 I is positive definite)."""
    from scipy.linalg import lapack

    if l2 <= 0:
        raise ValueError(f"EASE needs l2 > 0, got {l2}")
    a = gram_matrix + l2 * np.eye(len(gram_matrix))
    chol, info = lapack.dpotrf(a, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info}) for l2={l2}")
    p, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (info={info}) for l2={l2}")
    p = np.triu(p) + np.triu(p, 1).T  # potri fills only the upper triangle
    weights = -p / np.diag(p)[None, :]  # B_ij = -P_ij / P_jj for i != j
    np.fill_diagonal(weights, 0.0)
    return weights


class EASE:
    """A Recommender (textcode.eval.recommender) over fixed EASE weights."""

    def __init__(self, weights: np.ndarray, l2: float, device: str = "cpu"):
        import torch

        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"EASE weights must be square, got shape {weights.shape}")
        self.n_items = int(weights.shape[0])
        self.l2 = float(l2)
        self.weights = torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device)  # (I, I)

    def score_histories(self, histories: Sequence[np.ndarray]) -> "torch.Tensor":
        import torch

        # binary bag: a repeated item counts once, as in the training matrix X
        rows, cols = (torch.from_numpy(a).to(self.weights.device) for a in bag_pairs(histories, self.n_items))
        scores = torch.zeros((len(histories), self.n_items), dtype=self.weights.dtype, device=self.weights.device)  # (B, I)
        # x_u B as a sum of the rows of B for the user's items: the bags are far too sparse for a dense matmul
        return scores.index_add_(0, rows, self.weights[cols])

    def tensors(self) -> dict[str, Any]:
        return {"weights": self.weights}


def select_and_fit(split: "LeaveOneOut", cfg: Config) -> tuple[EASE, list[dict[str, float]]]:
    """Fit EASE on the training sequences for each l2 of the grid; keep the best on validation NDCG@10
    (in the protocol `split.valid.selection` names: history_kept by default, the published protocol). Returns
    (model, validation curve)."""
    from textcode.eval.evaluation import evaluate

    if not cfg.l2_grid or min(cfg.l2_grid) <= 0:
        raise ValueError(f"baseline.l2_grid must be non-empty and positive, got {list(cfg.l2_grid)}")
    x = binary_interactions(split.train_offsets, split.train_items, split.n_items)
    g = gram(x)
    best, best_ndcg = None, -1.0
    curve = []
    pending = sorted(set(cfg.l2_grid))
    extensions = 0
    while pending:
        l2 = pending.pop(0)
        start = time.perf_counter()
        model = EASE(ease_weights(g, l2), l2)
        fit_s = time.perf_counter() - start
        result = evaluate(model, split.valid, ks=(10,), batch_size=cfg.batch_size)
        means = result.means()[split.valid.selection]
        curve.append({"l2": float(l2), "valid_ndcg@10": means["ndcg@10"], "valid_recall@10": means["recall@10"],
                      "fit_s": round(fit_s, 3), "eval_s": round(result.wall_s, 3)})
        log.info("EASE l2=%g: valid NDCG@10 %.4f, R@10 %.4f (fit %.1fs)", l2, means["ndcg@10"], means["recall@10"], fit_s)
        if means["ndcg@10"] > best_ndcg:  # strict: on a tie the earlier l2 wins
            best, best_ndcg = model, means["ndcg@10"]
        if not pending and extensions < cfg.extend_at_edge and len(cfg.l2_grid) > 1:  # one value: pinned by the user
            beyond = _beyond_edge(sorted(c["l2"] for c in curve), best.l2)
            if beyond is not None:
                log.info("EASE: best l2=%g is at the edge of the values tried; trying l2=%g", best.l2, beyond)
                pending.append(beyond)
                extensions += 1
    return best, curve


def _beyond_edge(tried: list[float], best: float) -> float | None:
    """The next l2 past the searched range (at least two values) on the side where the best sits, continuing
    the ratio of its last step; None when the best is inside the range."""
    if tried[0] < best < tried[-1]:
        return None
    if best == tried[0]:
        return tried[0] / (tried[1] / tried[0])
    return tried[-1] * (tried[-1] / tried[-2])


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines): the grid search, its curve in validation.json. Closed form on
    the CPU: `device` and `work` (no checkpoint: a rerun solves again) are accepted and ignored.

    `train_wall_s` (set by the command) is the whole search, the honest cost of the model;
    `final_fit_s` is one fit alone."""
    model, curve = select_and_fit(split, cfg)
    grid = sorted(c["l2"] for c in curve)
    at_edge = len(grid) > 1 and model.l2 in (grid[0], grid[-1])
    notes = []
    if at_edge:
        notes.append(f"l2={model.l2:g} at the edge of the values tried ({grid[0]:g}..{grid[-1]:g})")
        log.warning("EASE: best %s: widen baseline.l2_grid or baseline.extend_at_edge", notes[-1])
    best = next(c for c in curve if c["l2"] == model.l2)
    return Fitted(model.tensors(), {"n_items": model.n_items, "l2": model.l2},
                  {"l2": model.l2, "l2_at_grid_edge": at_edge, "notes": notes, "final_fit_s": best["fit_s"],
                   "valid_ndcg10": best["valid_ndcg@10"], "valid_curve": curve},
                  {"validation.json": curve})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> EASE:
    """The model-kind entry (textcode.core.model_kinds) of kind "ease"."""
    missing = [k for k in ("n_items", "l2") if k not in meta]
    if missing:
        raise artifacts.ArtifactError(f"ease model.json: missing key(s) {', '.join(missing)}")
    n = meta["n_items"]
    if set(tensors) != {"weights"} or tensors["weights"].shape != (n, n):
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        raise artifacts.ArtifactError(f"ease model: expected tensor 'weights' of shape ({n}, {n}), found {shapes}")
    return EASE(tensors["weights"], meta["l2"], device)
