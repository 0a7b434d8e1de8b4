"""OPQ product quantization of item embeddings into discrete code tuples.

The only module that imports faiss, and only to fit a codec or read a faiss index. The codec is
exported as plain arrays (rotation, coarse centre, sub-space centroids), so encoding,
decoding and every later stage work with numpy/torch alone.

The index is faiss' `OPQ{D},IVF1,PQ{D}x{log2 M}` as in VQ-Rec: an orthonormal rotation, one
coarse centroid (faiss' 1-means, i.e. the mean of a sample of up to 256 training points,
subtracted as a residual), then D sub-quantizers of M centroids each.
"""
from __future__ import annotations

import dataclasses
import heapq
import math

import numpy as np

from textcode.core import artifacts
from textcode.rec.config import CodesConfig


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

    def distances(self, x: np.ndarray) -> np.ndarray:
        """(N, d) -> (N, D, M) float32 squared distance of each sub-vector to each centroid."""
        D, M, dsub = self.centroids.shape
        y = self._project(x).reshape(-1, D, dsub)  # (N, D, dsub)
        dots = np.einsum("nds,dms->ndm", y, self.centroids)  # (N, D, M)
        sq = (y ** 2).sum(-1)[:, :, None] + (self.centroids ** 2).sum(-1)[None] - 2.0 * dots
        return np.maximum(sq, 0.0)  # rounding can dip below zero

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
        rotation, center, centroids = arrays["rotation"], arrays["center"], arrays["centroids"]
        d = rotation.shape[-1] if rotation.ndim == 2 else -1
        if (rotation.ndim != 2 or rotation.shape[0] != d or center.shape != (d,) or centroids.ndim != 3
                or centroids.shape[0] * centroids.shape[2] != d):
            raise artifacts.ArtifactError(f"{path}: inconsistent codec shapes: rotation {tuple(rotation.shape)}, "
                                          f"center {tuple(center.shape)}, centroids {tuple(centroids.shape)}")
        for name, value in (("rotation", rotation), ("center", center), ("centroids", centroids)):
            if not np.isfinite(value).all():
                raise artifacts.ArtifactError(f"{path}: the codec's {name} holds non-finite values; rerun codes")
        return cls(rotation, center, centroids)


def resolve_collisions(codec: Codec, x: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes in which no two items share a tuple, and how many items were moved.

    In each group of items with one tuple the item nearest to it keeps it; every other item moves
    to the tuple that adds the least squared error among those no item has yet: usually one
    sub-space changed, more only when a large group has used up the one-change tuples (items of
    identical text are told apart the same way, since they are distinct products). Items are
    visited in index order, so the result is deterministic. Only colliding items are touched, so
    the cost is small for any corpus size.
    """
    codes = np.array(codes, dtype=np.uint8, copy=True)
    _, group_of, group_size = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    group_of = group_of.reshape(-1)
    colliding = np.flatnonzero(group_size[group_of] > 1)
    if not len(colliding):
        return codes, 0
    dists = codec.distances(x[colliding])  # (C, D, M)
    own = np.take_along_axis(dists, codes[colliding].astype(np.int64)[:, :, None], axis=2)  # (C, D, 1)
    extra = dists - own  # (C, D, M): added squared error of moving one sub-space; 0 at the own code
    error = own[:, :, 0].sum(1)  # (C,)
    used = {row.tobytes() for row in codes}
    # the nearest member of each group keeps the tuple; the others move, in index order
    keeper = {}
    for i in np.lexsort((colliding, error)):
        keeper.setdefault(group_of[colliding[i]], i)
    moved = 0
    for i, item in enumerate(colliding):
        if keeper[group_of[item]] == i:
            continue
        codes[item] = _cheapest_free_tuple(codes[item], extra[i], used)
        used.add(codes[item].tobytes())
        moved += 1
    return codes, moved


def _cheapest_free_tuple(own: np.ndarray, extra: np.ndarray, used: set[bytes]) -> np.ndarray:
    """The tuple not in `used` that changes `own` at least cost (sum of `extra` (D, M) over changed codes).

    Sets of single changes are enumerated in increasing total cost with a heap (from a set ending in
    change i, the children replace i by i+1 or append i+1), so each set is seen once; sets that
    change one sub-space twice are skipped but still expanded.
    """
    D, M = extra.shape
    cost = extra.astype(np.float64)  # copy
    cost[np.arange(D), own] = np.inf  # a change must change the code
    order = np.argsort(cost, axis=None, kind="stable")[: D * (M - 1)]
    values = cost.reshape(-1)[order]
    heap = [(values[0], (0,))]
    while heap:
        total, chosen = heapq.heappop(heap)
        subspaces = [int(order[j]) // M for j in chosen]
        if len(set(subspaces)) == len(chosen):
            trial = own.copy()
            for j, d in zip(chosen, subspaces):
                trial[d] = int(order[j]) % M
            if trial.tobytes() not in used:
                return trial
        last = chosen[-1]
        if last + 1 < len(order):
            heapq.heappush(heap, (total - values[last] + values[last + 1], chosen[:-1] + (last + 1,)))
            heapq.heappush(heap, (total + values[last + 1], chosen + (last + 1,)))
    raise ValueError(f"no free code tuple left: {len(used)} tuples are taken")


def fit_codec(x: np.ndarray, cfg: CodesConfig, seed: int = 0) -> Codec:
    """Fit OPQ + IVF1 + PQ with faiss on `x` (the training items' embeddings), exactly as `cfg` says.

    Settings that `x` is too small for are errors here; `fit_to_domain` chooses ones that fit.
    """
    return codec_from_index(train_index(x, cfg, seed))


def fit_to_domain(cfg: CodesConfig, n: int, d: int) -> tuple[CodesConfig, str]:
    """The codes settings that `n` training vectors of dimension `d` can fit, and why they differ
    from `cfg` ("" when `cfg` fits as it is, and then `cfg` itself is returned).

    - faiss' k-means refuses fewer points than centroids (it only warns below 39 per centroid, a
      warning `_quiet_seeded` silences), so with `n < n_centroids` each sub-space gets the largest
      power of two <= n centroids instead;
    - faiss' OPQ rotation update writes a d x d matrix into a buffer of n x d floats
      (`OPQMatrix::train`), which corrupts the heap when n < d, so with `n < d` plain PQ (no
      rotation) is fitted instead.
    """
    _check_n_centroids(cfg.n_centroids)  # a bad request is an error, not something to fit around
    if n < 2:
        raise ValueError(f"{n} training vector(s) cannot fit a codec (at least 2 are needed)")
    reasons, changes = [], {}
    if n < cfg.n_centroids:
        fitted = 1 << (n.bit_length() - 1)
        changes["n_centroids"] = fitted
        reasons.append(f"{n} training vectors cannot fit {cfg.n_centroids} centroids per sub-space "
                       f"(k-means needs at least one vector per centroid), so {fitted}, the largest power "
                       f"of two <= {n}")
    if cfg.opq and n < d:
        changes["opq"] = False
        reasons.append(f"{n} training vectors are fewer than the {d} dimensions OPQ's rotation needs, so plain "
                       "PQ (no rotation)")
    if not changes:
        return cfg, ""
    return dataclasses.replace(cfg, **changes), "; ".join(reasons)


def _check_n_centroids(M: int) -> None:
    if M < 2 or M > 256 or M & (M - 1):
        raise ValueError(f"n_centroids={M} must be a power of two from 2 to 256")


def train_index(x: np.ndarray, cfg: CodesConfig, seed: int = 0):
    """A trained (empty) faiss `OPQ{D},IVF1,PQ{D}x{bits}` index for `x`."""
    import faiss

    n, d = x.shape
    D, M = cfg.n_subspaces, cfg.n_centroids
    if d % D:
        raise ValueError(f"embedding dim {d} is not divisible by n_subspaces={D}")
    _check_n_centroids(M)
    if n < M:
        raise ValueError(f"{n} training vectors cannot fit {M} centroids per sub-space")
    if cfg.opq and n < d:
        # faiss' OPQ training corrupts the heap (munmap_chunk / free(): invalid pointer) when n < d
        raise ValueError(f"{n} training vectors are too few for OPQ on {d}-d embeddings (needs >= {d}); "
                         "use codes.opq=false or more items")
    if cfg.threads < 0:
        raise ValueError(f"codes.threads must be >= 0, got {cfg.threads}")
    # faiss and torch share one OpenMP runtime: restore its thread count, or torch code that runs
    # after a fit in the same process would silently be limited to cfg.threads
    before = faiss.omp_get_max_threads()
    if cfg.threads:
        faiss.omp_set_num_threads(cfg.threads)
    try:
        return _train(faiss, np.ascontiguousarray(x, dtype=np.float32), cfg, seed)
    finally:
        faiss.omp_set_num_threads(before)


def _train(faiss, x: np.ndarray, cfg: CodesConfig, seed: int):
    n, d = x.shape
    D, M = cfg.n_subspaces, cfg.n_centroids
    bits = int(math.log2(M))
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
        opq.pq = None  # opq_pq is freed on return; leave no dangling pointer in the index
    return index


def codec_from_index(index) -> Codec:
    """Export a trained faiss `[OPQ,]IVF1,PQ` index (ours or e.g. VQ-Rec's published one) as plain arrays."""
    import faiss

    # a new name, not `index`: the caller's wrapper may be the only owner of the C++ object
    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexPreTransform):
        if top.chain.size() != 1:
            raise ValueError(f"expected one OPQ transform before the index, found {top.chain.size()}")
        opq = faiss.downcast_VectorTransform(top.chain.at(0))  # OPQMatrix, or LinearTransform when read from a file
        if not isinstance(opq, faiss.LinearTransform) or opq.d_in != opq.d_out or opq.have_bias:
            raise ValueError(f"expected a square OPQ rotation, found {type(opq).__name__} {opq.d_in}->{opq.d_out}")
        rotation = faiss.vector_to_array(opq.A).reshape(opq.d_out, opq.d_in)
        # decode inverts the rotation by its transpose, which is right only for an orthonormal one
        off = float(np.abs(rotation @ rotation.T - np.eye(opq.d_in)).max())
        if off > 1e-3:
            raise ValueError(f"the OPQ matrix is not orthonormal (max |A A^T - I| = {off:.3g})")
        ivf = faiss.downcast_index(top.index)
    else:
        ivf = top
        rotation = np.eye(top.d, dtype=np.float32)
    if not isinstance(ivf, faiss.IndexIVFPQ) or ivf.nlist != 1 or not ivf.by_residual:
        raise ValueError(f"expected IVF1,PQ encoding residuals, found {type(ivf).__name__}")
    D, dsub, M = ivf.pq.M, ivf.pq.dsub, ivf.pq.ksub
    center = faiss.downcast_index(ivf.quantizer).reconstruct(0)
    centroids = faiss.vector_to_array(ivf.pq.centroids).reshape(D, M, dsub)
    return Codec(rotation.astype(np.float32), center.astype(np.float32), centroids.astype(np.float32))


def index_codes(index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, codes) stored in a faiss IVF1,PQ index: (n,) int64 and (n, D) uint8."""
    import faiss

    ivf = faiss.downcast_index(index)
    if isinstance(ivf, faiss.IndexPreTransform):
        ivf = faiss.downcast_index(ivf.index)
    if ivf.nlist != 1 or ivf.pq.nbits != 8:
        raise ValueError(f"expected IVF1 with 8-bit PQ codes, found nlist={ivf.nlist}, nbits={ivf.pq.nbits}")
    n = ivf.invlists.list_size(0)
    codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(0), n * ivf.code_size).copy().reshape(n, ivf.code_size)
    ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(0), n).copy().astype(np.int64)
    return ids, codes


def _quiet_seeded(cp, seed: int) -> None:
    """faiss warns on every k-means run with under 39 points per centroid, which is the normal
    case here (a few thousand items, 256 centroids); the fit is still fine, so silence it."""
    cp.min_points_per_centroid = 1
    cp.seed = seed


def code_stats(codec: Codec, x: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    """Collisions and reconstruction error of `codes` for embeddings `x`.

    A collision is two or more items with the same code tuple: the sequence model cannot tell
    them apart.
    """
    recon = codec.decode(codes)
    err = ((x - recon) ** 2).sum(1)
    norm = (x ** 2).sum(1)
    _, group_of, group_size = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    distinct = len(group_size)
    return {
        "items": int(len(codes)),
        "distinct_codes": int(distinct),
        "collision_rate": float(1 - distinct / max(len(codes), 1)),
        "items_in_collisions": int((group_size[group_of.reshape(-1)] > 1).sum()),
        "largest_collision": int(group_size.max()) if distinct else 0,
        "recon_mse": float(err.mean()),
        "recon_error": float(err.sum() / norm.sum()),  # relative squared error
        "recon_cosine": float(np.mean((x * recon).sum(1) / np.sqrt(norm * (recon ** 2).sum(1) + 1e-12))),
    }
