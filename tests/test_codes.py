"""OPQ codec: round trips, agreement with faiss, export without faiss, collision statistics."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from textcode.rec.config import CodesConfig
from textcode.rec.opq import (
    Codec,
    code_stats,
    codec_from_index,
    fit_codec,
    index_codes,
    resolve_collisions,
    train_index,
)

CFG = CodesConfig(n_subspaces=8, n_centroids=256, opq_iterations=5, threads=1)


def structured(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    """Low-rank data plus noise, like sentence embeddings: PQ has structure to find."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 8)) @ rng.normal(size=(8, d)) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    x = structured(2000)[:1500]  # the rest is `held_out`
    index = train_index(x, CFG)
    return x, index, codec_from_index(index)


def test_round_trip_error_is_small_and_far_below_random_codes(fitted):
    x, _, codec = fitted
    codes = codec.encode(x)
    assert codes.shape == (len(x), CFG.n_subspaces) and codes.dtype == np.uint8
    fitted_err = code_stats(codec, x, codes)["recon_error"]
    rng = np.random.default_rng(1)
    random_err = code_stats(codec, x, rng.integers(0, CFG.n_centroids, size=codes.shape).astype(np.uint8))["recon_error"]
    assert fitted_err < 0.1
    assert random_err > 10 * fitted_err
    # held-out points from the same distribution quantize nearly as well
    held_out = structured(2000)[1500:]
    assert code_stats(codec, held_out, codec.encode(held_out))["recon_error"] < 3 * fitted_err


def test_encode_of_decode_returns_the_codes(fitted):
    x, _, codec = fitted
    codes = codec.encode(x)
    np.testing.assert_array_equal(codec.encode(codec.decode(codes)), codes)
    rng = np.random.default_rng(3)
    arbitrary = rng.integers(0, CFG.n_centroids, size=(200, CFG.n_subspaces)).astype(np.uint8)
    np.testing.assert_array_equal(codec.encode(codec.decode(arbitrary)), arbitrary)


def test_exported_arrays_reproduce_faiss(fitted):
    x, index, codec = fitted
    np.testing.assert_array_equal(codec.encode(x), index.sa_encode(x))
    codes = codec.encode(x)
    np.testing.assert_allclose(codec.decode(codes), index.sa_decode(codes), atol=1e-4)
    rotation = codec.rotation.astype(np.float64)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(codec.dim), atol=1e-4)


def test_fit_is_deterministic_for_a_seed(fitted):
    x, _, codec = fitted
    again = fit_codec(x, CFG)
    np.testing.assert_array_equal(again.centroids, codec.centroids)
    np.testing.assert_array_equal(again.rotation, codec.rotation)


def test_fit_leaves_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # faiss shares torch's OpenMP runtime: a fit with 1 thread must not keep it at 1
    try:
        fit_codec(structured(600), CodesConfig(n_subspaces=8, n_centroids=16, opq_iterations=2, threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_plain_pq_has_identity_rotation():
    x = structured(600)
    codec = fit_codec(x, CodesConfig(n_subspaces=8, n_centroids=16, opq=False, threads=1))
    np.testing.assert_array_equal(codec.rotation, np.eye(x.shape[1], dtype=np.float32))
    assert code_stats(codec, x, codec.encode(x))["recon_error"] < 0.5  # 16 centroids, no rotation: coarse


def test_codec_save_and_load_work_without_faiss(fitted, tmp_path, monkeypatch):
    x, _, codec = fitted
    codec.save(tmp_path / "codec.safetensors")
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    with pytest.raises(ImportError):
        import faiss  # noqa: F401
    loaded = Codec.load(tmp_path / "codec.safetensors")
    for name in ("rotation", "center", "centroids"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(codec, name))
    np.testing.assert_array_equal(loaded.encode(x), codec.encode(x))


def test_load_names_missing_arrays(tmp_path):
    from textcode.core import artifacts

    artifacts.save_tensors(tmp_path / "bad.safetensors", {"rotation": np.eye(4, dtype=np.float32)})
    with pytest.raises(artifacts.ArtifactError, match="bad.safetensors.*center, centroids"):
        Codec.load(tmp_path / "bad.safetensors")


def test_collision_statistics_on_a_hand_made_example():
    # d=4, D=2 sub-spaces of 2 dims, M=2 centroids each; identity rotation, zero centre
    centroids = np.array([[[0, 0], [1, 0]], [[0, 0], [0, 1]]], dtype=np.float32)
    codec = Codec(np.eye(4, dtype=np.float32), np.zeros(4, np.float32), centroids)
    codes = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [0, 0], [1, 1]], dtype=np.uint8)
    x = codec.decode(codes)
    x[0, 0] += 0.5  # one item off its reconstruction by 0.5
    stats = code_stats(codec, x, codes)
    assert stats["items"] == 6
    assert stats["distinct_codes"] == 3  # (0,0) x3, (1,0) x1, (1,1) x2
    assert stats["collision_rate"] == pytest.approx(0.5)
    assert stats["items_in_collisions"] == 5
    assert stats["largest_collision"] == 3
    assert stats["recon_mse"] == pytest.approx(0.25 / 6)
    assert stats["recon_error"] == pytest.approx(0.25 / (x ** 2).sum())
    np.testing.assert_array_equal(codec.encode(codec.decode(codes)), codes)


def test_distances_match_a_direct_computation(fitted):
    x, _, codec = fitted
    dists = codec.distances(x[:20])  # (20, D, M)
    y = codec._project(x[:20]).reshape(20, codec.n_subspaces, -1)
    direct = ((y[:, :, None, :] - codec.centroids[None]) ** 2).sum(-1)
    np.testing.assert_allclose(dists, direct, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(dists.argmin(-1), codec.encode(x[:20]))


def test_resolving_collisions_on_a_hand_made_example():
    # D=2 sub-spaces of 1 dim, M=4 centroids at 0, 1, 2, 3; identity rotation, zero centre
    centroids = np.tile(np.arange(4, dtype=np.float32)[None, :, None], (2, 1, 1))
    codec = Codec(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), centroids)
    x = np.array([[0.2, 0.0],    # code (0, 0), error 0.04
                  [0.0, 0.1],    # code (0, 0), error 0.01: nearest of the group, keeps (0, 0)
                  [0.0, 0.45],   # code (0, 0): the cheapest move is sub-space 1 to centroid 1 (+0.1)
                  [3.0, 3.0],    # alone: untouched
                  [0.2, 0.0]], dtype=np.float32)  # identical to item 0: must still get its own tuple
    codes = codec.encode(x)
    np.testing.assert_array_equal(codes[:3], 0)
    new, moved = resolve_collisions(codec, x, codes)
    assert moved == 3 and code_stats(codec, x, new)["distinct_codes"] == 5
    np.testing.assert_array_equal(new[1], [0, 0])
    np.testing.assert_array_equal(new[2], [0, 1])
    np.testing.assert_array_equal(new[3], [3, 3])
    # item 0: the cheapest change is sub-space 0 to centroid 1 (+0.6); item 4 (the same point) finds
    # it and sub-space 1 to centroid 1 (+1.0, item 2's) taken; changing both (+1.6) beats any other
    # single change (sub-space 0 to centroid 2: +3.2)
    np.testing.assert_array_equal(new[0], [1, 0])
    np.testing.assert_array_equal(new[4], [1, 1])
    np.testing.assert_array_equal(codes[:3], 0)  # the input is not modified


def test_a_group_larger_than_the_one_change_tuples_still_gets_distinct_codes():
    # D=2, M=4: from (0, 0) only 6 tuples are one change away; 12 identical items need two changes
    centroids = np.tile(np.arange(4, dtype=np.float32)[None, :, None], (2, 1, 1))
    codec = Codec(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), centroids)
    x = np.zeros((12, 2), dtype=np.float32)
    new, moved = resolve_collisions(codec, x, codec.encode(x))
    assert moved == 11 and len({tuple(r) for r in new}) == 12
    # the cost of a tuple is its squared distance from (0, 0): the 12 items hold the 12 cheapest tuples
    costs = sorted((new.astype(float) ** 2).sum(1))
    assert costs == sorted((np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2) ** 2).sum(1))[:12]
    with pytest.raises(ValueError, match="no free code tuple"):
        resolve_collisions(codec, np.zeros((17, 2), dtype=np.float32), np.zeros((17, 2), dtype=np.uint8))


def test_resolving_collisions_moves_only_colliding_items_and_adds_little_error(fitted):
    x, _, codec = fitted
    dup = np.concatenate([x, x[:50]])  # 50 exact duplicates on top of any natural collisions
    codes = codec.encode(dup)
    new, moved = resolve_collisions(codec, dup, codes)
    before, after = code_stats(codec, dup, codes), code_stats(codec, dup, new)
    assert before["items_in_collisions"] >= 100
    assert after["distinct_codes"] == len(dup) and moved == len(dup) - before["distinct_codes"]
    changed = (new != codes).sum(1)
    assert set(np.unique(changed)) <= {0, 1}  # a moved item changes exactly one sub-space
    assert changed.sum() == moved
    assert after["recon_mse"] < before["recon_mse"] * 1.05


@pytest.mark.parametrize("cfg, n, d, message", [
    (CodesConfig(n_subspaces=7), 300, 64, "not divisible"),
    (CodesConfig(n_subspaces=8, n_centroids=100), 300, 64, "power of two"),
    (CodesConfig(n_subspaces=8, n_centroids=256), 100, 64, "cannot fit"),
    (CodesConfig(n_subspaces=8, n_centroids=16), 40, 64, "too few for OPQ"),  # faiss would crash
])
def test_bad_codec_settings_are_rejected(cfg, n, d, message):
    with pytest.raises(ValueError, match=message):
        fit_codec(structured(n, d), cfg)


@pytest.mark.shared
def test_official_vqrec_scientific_index(shared_data):
    """VQ-Rec's published strict index: 4,373 training items, 4,223 distinct code tuples.

    Reading it through our export and re-encoding its own reconstructions gives back its codes,
    so our encode/decode follow faiss' conventions (rotation direction, residual centre)."""
    import faiss

    index = faiss.read_index(str(shared_data / "amazon/Scientific/Scientific.OPQ32,IVF1,PQ32x8.strict.index"))
    ids, codes = index_codes(index)
    assert codes.shape == (4373, 32) and len(np.unique(ids)) == 4373
    assert len(np.unique(codes, axis=0)) == 4223
    codec = codec_from_index(index)
    assert (codec.dim, codec.n_subspaces, codec.n_centroids) == (768, 32, 256)
    recon = codec.decode(codes)
    np.testing.assert_allclose(recon, index.sa_decode(codes), atol=1e-4)
    np.testing.assert_array_equal(codec.encode(recon), codes)
