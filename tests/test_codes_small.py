"""Small domains: codes fit the centroids and OPQ to the training items there are, and say so.

A domain with fewer training items than `codes.n_centroids` gets the largest power of two that fits
(faiss' k-means needs one vector per centroid); one with fewer than the embedding dimension gets plain
PQ (faiss' OPQ rotation needs at least d vectors). Full-size domains are fitted exactly as asked.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from textcode.commands import codes as codes_stage
from textcode.core import artifacts
from textcode.core.config import ConfigError
from textcode.data.domain import Domain, from_sequences
from textcode.data.split import leave_one_out
from textcode.rec.config import CodesConfig
from textcode.rec.opq import Codec, fit_codec, fit_to_domain, resolve_collisions

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["--domain", "demo-scientific", "--configs", str(ROOT / "configs")]
SETS = ["--set", "codes.n_subspaces=8", "--set", "codes.opq_iterations=3", "--set", "codes.threads=1"]
D_EMB = 64


def structured(n: int, d: int = D_EMB, seed: int = 0) -> np.ndarray:
    """Low-rank data plus noise, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 8)) @ rng.normal(size=(8, d)) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def prepared_domain(folder: Path, n_train: int, n_held_out: int = 20) -> Path:
    """A prepared folder whose training split holds exactly items 0..n_train-1; the last
    `n_held_out` items are only validation/test targets."""
    n_items = n_train + n_held_out
    seqs = [[i, n_train + i % n_held_out, n_train + (i + 1) % n_held_out] for i in range(n_train)]
    domain = from_sequences("tiny", [f"i{i}" for i in range(n_items)], [f"item {i}" for i in range(n_items)],
                            [f"u{u}" for u in range(len(seqs))], seqs)
    assert np.array_equal(leave_one_out(domain).training_item_set(), np.arange(n_train))
    with artifacts.OutputFolder(folder, "prepare", {"domain": "tiny"}) as out:
        domain.save(out)
        out.summary.update(domain=domain.name, **domain.counts())
    return folder


def fake_text(folder: Path, emb: np.ndarray) -> Path:
    with artifacts.OutputFolder(folder, "encode", {"stage": "encode", "fake": True}) as out:
        artifacts.save_npy(out.path("embeddings.npy"), emb.astype(np.float32))
        out.summary.update(items=len(emb), dim=emb.shape[1])
    return folder


def run_codes(tmp: Path, n_train: int, *sets: str) -> tuple[dict, Codec, np.ndarray, np.ndarray, Path]:
    prepared = prepared_domain(tmp / "prepared", n_train)
    emb = structured(Domain.load(prepared).n_items)
    text = fake_text(tmp / "text", emb)
    out = tmp / "codes"
    assert codes_stage.main([*DOMAIN, *SETS, *sets, "--prepared", str(prepared), "--text", str(text),
                             "--out", str(out)]) == 0
    summary = artifacts.read_manifest(out)["summary"]
    return summary, Codec.load(out / "codec.safetensors"), artifacts.load_npy(out / "codes.npy"), emb, out


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "codes"]


# --- choosing the settings -------------------------------------------------------------------------

def test_the_gift_cards_domain_gets_128_centroids_and_plain_pq():
    fitted, why = fit_to_domain(CodesConfig(), n=146, d=384)
    assert (fitted.n_centroids, fitted.opq, fitted.n_subspaces) == (128, False, 32)
    assert "146 training vectors cannot fit 256 centroids" in why and "largest power of two <= 146" in why
    assert "fewer than the 384 dimensions" in why and "plain PQ" in why


@pytest.mark.parametrize("n, d, centroids, opq", [
    (150, 64, 128, True),  # enough for OPQ's rotation, too few for 256 centroids
    (256, 64, 256, True),  # exactly enough
    (255, 300, 128, False),
    (40, 64, 32, False),
    (2, 64, 2, False),  # the fewest that can fit anything
])
def test_centroids_are_the_largest_power_of_two_that_fits(n, d, centroids, opq):
    fitted, why = fit_to_domain(CodesConfig(n_subspaces=8), n, d)
    assert (fitted.n_centroids, fitted.opq) == (centroids, opq)
    changed = (centroids, opq) != (256, True)
    assert bool(why) == changed  # never silently, and only when something changed


def test_full_size_settings_are_returned_as_they_are():
    cfg = CodesConfig()
    assert fit_to_domain(cfg, n=5000, d=384) == (cfg, "")
    assert fit_to_domain(cfg, n=5000, d=384)[0] is cfg
    plain = CodesConfig(opq=False, n_centroids=64)
    assert fit_to_domain(plain, n=100, d=384) == (plain, "")  # plain PQ asked for: nothing to fit around


def test_settings_that_are_wrong_anyway_are_still_errors():
    with pytest.raises(ValueError, match="power of two"):
        fit_to_domain(CodesConfig(n_centroids=100), n=50, d=64)
    with pytest.raises(ValueError, match="at least 2"):
        fit_to_domain(CodesConfig(), n=1, d=64)


# --- fitting ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, centroids, opq", [(150, 128, True), (40, 32, False)])
def test_fitted_settings_give_a_working_codec(n, centroids, opq):
    x = structured(n)
    cfg = CodesConfig(n_subspaces=8, opq_iterations=3, threads=1)
    with pytest.raises(ValueError, match="cannot fit 256 centroids"):
        fit_codec(x, cfg)  # as asked: refused
    fitted, _ = fit_to_domain(cfg, n, D_EMB)
    codec = fit_codec(x, fitted)
    assert codec.centroids.shape == (8, centroids, D_EMB // 8)
    assert np.allclose(codec.rotation, np.eye(D_EMB)) != opq
    codes = codec.encode(x)
    assert codes.max() < centroids
    np.testing.assert_array_equal(codec.encode(codec.decode(codes)), codes)  # round trip
    err = ((x - codec.decode(codes)) ** 2).sum() / (x ** 2).sum()
    assert err < 0.2


# --- the codes command -----------------------------------------------------------------------------

def test_codes_command_fits_a_small_domain_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, codec, codes, emb, out = run_codes(tmp_path, 150)
    assert summary["train_items"] == 150
    assert (summary["n_centroids_requested"], summary["n_centroids"]) == (256, 128)
    assert (summary["opq_requested"], summary["opq"]) == (True, True)
    assert "150 training vectors cannot fit 256 centroids" in summary["fitted_to_domain"]
    assert codec.n_centroids == 128 and codes.shape == (170, 8) and codes.max() < 128
    assert summary["all"]["distinct_codes"] == 170
    np.testing.assert_array_equal(codes, resolve_collisions(codec, emb, codec.encode(emb))[0])
    logged = messages(caplog)
    warning = next(m for m in logged if m.startswith("codes fitted to the domain"))
    assert "requested OPQ8 x 256, fitting OPQ8 x 128" in warning and "finetune.init=scratch" in warning
    assert "fitting OPQ8 x 128 on 150 training items (strict)" in logged


def test_codes_command_fits_plain_pq_when_items_are_fewer_than_dimensions(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, codec, codes, emb, out = run_codes(tmp_path, 40)
    assert (summary["n_centroids_requested"], summary["n_centroids"]) == (256, 32)
    assert (summary["opq_requested"], summary["opq"]) == (True, False)
    assert "fewer than the 64 dimensions" in summary["fitted_to_domain"]
    np.testing.assert_array_equal(codec.rotation, np.eye(D_EMB, dtype=np.float32))
    assert codes.max() < 32 and summary["all"]["distinct_codes"] == 60
    logged = messages(caplog)
    assert not any("OPQ8 x 32" in m for m in logged)
    assert any(m.startswith("fitting PQ8 x 32 (plain PQ: fewer training items than embedding dimensions")
               for m in logged)


def test_codes_command_leaves_a_full_size_fit_as_asked(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, codec, codes, emb, out = run_codes(tmp_path, 150, "--set", "codes.n_centroids=16")
    assert summary["fitted_to_domain"] == ""
    assert (summary["n_centroids_requested"], summary["n_centroids"], summary["opq_requested"], summary["opq"]) \
        == (16, 16, True, True)
    # the very codec fit_codec makes from the settings as asked
    direct = fit_codec(emb[:150], CodesConfig(n_subspaces=8, n_centroids=16, opq_iterations=3, threads=1), seed=0)
    for name in ("rotation", "center", "centroids"):
        np.testing.assert_array_equal(getattr(codec, name), getattr(direct, name))
    np.testing.assert_array_equal(codes, resolve_collisions(direct, emb, direct.encode(emb))[0])
    logged = messages(caplog)
    assert "fitting OPQ8 x 16 on 150 training items (strict)" in logged
    assert not any(m.startswith("codes fitted to the domain") for m in logged)


def test_the_log_says_plain_pq_when_opq_is_off(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, codec, *_ = run_codes(tmp_path, 150, "--set", "codes.n_centroids=16", "--set", "codes.opq=false")
    assert (summary["opq_requested"], summary["opq"], summary["fitted_to_domain"]) == (False, False, "")
    assert "fitting PQ8 x 16 (plain PQ: codes.opq is false) on 150 training items (strict)" in messages(caplog)
    assert not any("OPQ" in m for m in messages(caplog))


def test_a_pretrained_model_refuses_codes_with_fewer_centroids():
    import torch

    from textcode.rec import sasrec
    from textcode.rec.config import FinetuneConfig, SASRecConfig
    from textcode.rec.finetune import build_model
    from textcode.rec.item_embedding import CodeItemEmbedding, DomainInputs

    cfg = SASRecConfig(n_layers=1, n_heads=1, hidden=16, ffn=16, max_len=5)
    pre = sasrec.SequenceEncoder(cfg, CodeItemEmbedding(torch.randint(0, 256, (300, 4)), 256, 16))
    pretrained = (sasrec.describe(pre), {k: v.numpy() for k, v in pre.state_dict().items()})
    small = DomainInputs(codes=np.random.default_rng(0).integers(0, 128, (170, 4)), n_codes=128)
    with pytest.raises(ConfigError, match="codes.n_centroids: the domain has 128 codes per sub-space, "
                                          "the pretrained model 256"):
        build_model(cfg, FinetuneConfig(), 170, small, pretrained)
