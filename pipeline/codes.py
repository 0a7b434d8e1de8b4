"""OPQ product quantization of item embeddings into discrete code tuples.

The only module that imports faiss, and only to *fit* the codec. The fitted codec is
exported as plain arrays (rotation, coarse centre, sub-space centroids), so encoding,
decoding and every later stage work with numpy/torch alone.

The index is faiss' `OPQ{D},IVF1,PQ{D}x{log2 M}` as in VQ-Rec: an orthonormal rotation, one
coarse centroid (the data's centre, subtracted as a residual), then D sub-quantizers of M
centroids each.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

from pipeline import artifacts


@dataclasses.dataclass(frozen=True)
class CodesConfig:
    n_subspaces: int = 32  # D
    n_centroids: int = 256  # M (a power of two, at most 256: codes are stored as uint8)
    opq: bool = True  # learn a rotation first (OPQ); False = plain PQ
    opq_iterations: int = 50  # faiss' default; fewer trade a little error for speed (the demo uses 10)
    train_on: Literal["strict", "all"] = "strict"  # strict: only items seen in training sequences (no leakage)
    reuse_from: str = ""  # another domain's codes folder whose codec to reuse ("" = fit this domain's own)


@dataclasses.dataclass(frozen=True)
class Codec:
    rotation: np.ndarray  # (d, d) float32: y = rotation @ x
    center: np.ndarray  # (d,) float32: subtracted after rotation (IVF1 coarse centroid)
    centroids: np.ndarray  # (D, M, d // D) float32

    @property
    def n_subspaces(self) -> int:
        return self.centroids.shape[0]

    @property
    def n_centroids(self) -> int:
        return self.centroids.shape[1]

    @property
    def dim(self) -> int:
        return self.rotation.shape[1]

    def encode(self, x: np.ndarray, batch: int = 8192) -> np.ndarray:
        """(N, d) float -> (N, D) uint8 codes: nearest centroid per sub-space."""
        D, M, dsub = self.centroids.shape
        out = np.empty((len(x), D), dtype=np.uint8)
        c_sq = (self.centroids ** 2).sum(-1)  # (D, M)
        for lo in range(0, len(x), batch):
            y = self._project(x[lo:lo + batch]).reshape(-1, D, dsub)  # (B, D, dsub)
            # argmin ||y - c||^2 = argmin (||c||^2 - 2 y.c)
            dots = np.einsum("bds,dms->bdm", y, self.centroids)  # (B, D, M)
            out[lo:lo + batch] = np.argmin(c_sq[None] - 2.0 * dots, axis=-1)
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, D) codes -> (N, d) reconstructions in the input space."""
        D = self.n_subspaces
        y = self.centroids[np.arange(D)[None, :], codes.astype(np.int64)]  # (N, D, dsub)
        y = y.reshape(len(codes), -1) + self.center
        return (y @ self.rotation).astype(np.float32)  # rotation is orthonormal: inverse = transpose

    def _project(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32) @ self.rotation.T - self.center

    def save(self, path) -> None:
        artifacts.save_tensors(path, {"rotation": self.rotation, "center": self.center, "centroids": self.centroids},
                               {"format": "opq-ivf1-pq", "n_subspaces": str(self.n_subspaces),
                                "n_centroids": str(self.n_centroids), "dim": str(self.dim)})

    @classmethod
    def load(cls, path) -> "Codec":
        arrays, _ = artifacts.load_tensors(path)
        missing = {"rotation", "center", "centroids"} - set(arrays)
        if missing:
            raise artifacts.ArtifactError(f"{path}: codec is missing {', '.join(sorted(missing))}")
        return cls(arrays["rotation"], arrays["center"], arrays["centroids"])


def fit_codec(x: np.ndarray, cfg: CodesConfig, seed: int = 0) -> Codec:
    """Fit OPQ + IVF1 + PQ with faiss on `x` (the training items' embeddings)."""
    import faiss

    n, d = x.shape
    D, M = cfg.n_subspaces, cfg.n_centroids
    if d % D:
        raise ValueError(f"embedding dim {d} is not divisible by n_subspaces={D}")
    bits = int(math.log2(M))
    if 2 ** bits != M or M > 256:
        raise ValueError(f"n_centroids={M} must be a power of two <= 256")
    if n < M:
        raise ValueError(f"{n} training vectors cannot fit {M} centroids per sub-space")
    x = np.ascontiguousarray(x, dtype=np.float32)
    key = f"OPQ{D},IVF1,PQ{D}x{bits}" if cfg.opq else f"IVF1,PQ{D}x{bits}"
    index = faiss.index_factory(d, key)
    if cfg.opq:
        pre = faiss.downcast_index(index)
        opq = faiss.downcast_VectorTransform(pre.chain.at(0))
        # OPQ trains its own PQ internally; give it one we can quiet and seed
        opq_pq = faiss.ProductQuantizer(d, D, bits)
        _quiet_seeded(opq_pq.cp, seed)
        opq.pq = opq_pq
        opq.niter = cfg.opq_iterations
        ivf = faiss.downcast_index(pre.index)
    else:
        ivf = faiss.downcast_index(index)
    _quiet_seeded(ivf.pq.cp, seed)
    # polysemous training only reorders centroids so that Hamming distance between codes means
    # something for search; code ids are table rows here, so skip its (slow) annealing
    ivf.do_polysemous_training = False
    index.train(x)
    if cfg.opq:
        rotation = faiss.vector_to_array(opq.A).reshape(opq.d_out, opq.d_in)
    else:
        rotation = np.eye(d, dtype=np.float32)
    center = faiss.downcast_index(ivf.quantizer).reconstruct(0)
    centroids = faiss.vector_to_array(ivf.pq.centroids).reshape(D, M, d // D)
    return Codec(rotation.astype(np.float32), center.astype(np.float32), centroids.astype(np.float32))


def _quiet_seeded(cp, seed: int) -> None:
    """faiss warns on every k-means run with under 39 points per centroid, which is the normal
    case here (a few thousand items, 256 centroids); the fit is still fine, so silence it."""
    cp.min_points_per_centroid = 1
    cp.seed = seed


def code_stats(codec: Codec, x: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    """Collisions and reconstruction error of `codes` for embeddings `x`."""
    recon = codec.decode(codes)
    err = ((x - recon) ** 2).sum(1)
    norm = (x ** 2).sum(1)
    distinct = len(np.unique(codes, axis=0))
    return {
        "items": int(len(codes)),
        "distinct_codes": int(distinct),
        "collision_rate": float(1 - distinct / max(len(codes), 1)),
        "recon_mse": float(err.mean()),
        "recon_error": float(err.sum() / norm.sum()),  # relative squared error
        "recon_cosine": float(np.mean((x * recon).sum(1) / np.sqrt(norm * (recon ** 2).sum(1) + 1e-12))),
    }
