"""The text encoder: packaged weights, precision choice, row order under length sorting, pooling, shards."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from textcode.core import artifacts
from textcode.rec.config import EncodeConfig
from textcode.rec.encoders import (
    DEFAULT_MODEL_SHA256,
    TransformersEncoder,
    encode_texts,
    model_path,
)
from textcode.runtime.device import cpu_flags, resolve_precision

TEXTS = [
    "Digital caliper, stainless steel, 150 mm, with LCD display and fractional readout for machinists",
    "Nitrile gloves",
    "3D printer filament PLA 1.75mm 1kg spool, dimensional accuracy +/- 0.02 mm, vacuum sealed with desiccant",
    "Lab beaker set",
    "Safety glasses with anti-fog coating",
    "Soldering iron kit 60W adjustable temperature with five tips, stand, solder wire and desoldering pump",
    "Pipette",
    "Heat shrink tubing assortment, 2:1 ratio, 560 pieces in eight sizes and five colours",
]
CFG = EncodeConfig(max_length=32, batch_size=3, precision="fp32", threads=0)


@pytest.fixture(scope="module")
def encoder() -> TransformersEncoder:
    return TransformersEncoder(CFG)


def one_by_one(encoder: TransformersEncoder, texts: list[str]) -> np.ndarray:
    """Reference: each text alone, so nothing is padded or reordered."""
    return np.concatenate([encoder([t]) for t in texts])


def test_packaged_minilm_weights_are_the_pinned_ones():
    weights = Path(model_path("default")) / "model.safetensors"
    assert artifacts.sha256_file(weights) == DEFAULT_MODEL_SHA256


def test_auto_precision_on_this_machine_is_recorded(encoder):
    auto = dataclasses.replace(CFG, precision="auto")
    chosen, why = resolve_precision(auto.precision, encoder.device)
    assert encoder.describe()["precision"] == "fp32"  # CFG asks for fp32 explicitly
    if encoder.device == "cpu" and not (cpu_flags() or set()) & {"amx_bf16", "avx512_bf16", "bf16"}:
        assert chosen == "fp32" and "no native bf16" in why


def test_rows_follow_input_order_despite_length_sorting(encoder):
    emb, report = encode_texts(TEXTS, encoder)
    ref = one_by_one(encoder, TEXTS)
    assert emb.shape == (len(TEXTS), encoder.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, ref, atol=2e-5)
    # the texts differ, so a row permutation would not pass: rows are far apart from each other
    off_diagonal = np.linalg.norm(ref[:, None] - ref[None], axis=-1)[~np.eye(len(TEXTS), dtype=bool)]
    assert off_diagonal.min() > 0.1
    assert report.computed_shards == 1 and report.loaded_shards == 0
    assert report.padded_tokens >= report.tokens > len(TEXTS)


def test_mean_and_cls_pooling_match_the_hidden_states(encoder):
    import torch

    text = TEXTS[0]
    batch = encoder.tokenizer([text], return_tensors="pt", truncation=True, max_length=CFG.max_length)
    with torch.inference_mode():
        hidden = encoder.model(**batch).last_hidden_state[0].numpy()  # (T, H)
    np.testing.assert_allclose(encoder([text])[0], hidden.mean(0), atol=1e-5)
    cls = TransformersEncoder(dataclasses.replace(CFG, pooling="cls"))
    np.testing.assert_allclose(cls([text])[0], hidden[0], atol=1e-5)
    assert np.abs(hidden[0] - hidden.mean(0)).max() > 0.1


def test_explicit_model_path_equals_default(encoder):
    by_path = TransformersEncoder(dataclasses.replace(CFG, model=model_path("default")))
    np.testing.assert_array_equal(encode_texts(TEXTS, by_path)[0], encode_texts(TEXTS, encoder)[0])


def test_max_length_truncates(encoder):
    ids = encoder.tokenize(TEXTS)
    assert max(len(t) for t in ids) == CFG.max_length
    assert min(len(t) for t in ids) < CFG.max_length


def test_bf16_runs_and_stays_close_to_fp32(encoder):
    bf16 = TransformersEncoder(dataclasses.replace(CFG, precision="bf16"))
    assert bf16.precision == "bf16"
    a, b = bf16(TEXTS[:2]), encoder(TEXTS[:2])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99


def test_shards_are_written_then_reused(encoder, tmp_path, caplog):
    cfg = dataclasses.replace(CFG, shard_size=3)
    sharded = TransformersEncoder(cfg)
    shard_dir = tmp_path / "shards"
    first, report = encode_texts(TEXTS, sharded, shard_dir)
    files = sorted(shard_dir.glob("shard_*.npy"))
    assert [f.name for f in files] == ["shard_00000.npy", "shard_00001.npy", "shard_00002.npy"]
    assert (report.loaded_shards, report.computed_shards) == (0, 3)
    # a shard holds items of the length-sorted order: the 3 shortest texts first
    shortest = np.argsort([len(t) for t in sharded.tokenize(TEXTS)], kind="stable")[:3]
    np.testing.assert_array_equal(np.load(files[0]), first[shortest])

    mtimes = [f.stat().st_mtime_ns for f in files]
    again, report = encode_texts(TEXTS, sharded, shard_dir)
    assert (report.loaded_shards, report.computed_shards) == (3, 0)
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    np.testing.assert_array_equal(again, first)

    # other texts: the old shards must not be reused
    with caplog.at_level(logging.WARNING, logger="textcode.rec.encoders"):
        other, report = encode_texts(TEXTS[::-1], sharded, shard_dir)
    assert report.loaded_shards == 0 and "other texts or settings" in caplog.text
    np.testing.assert_allclose(other, first[::-1], atol=2e-5)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="batch_size"):
        TransformersEncoder(dataclasses.replace(CFG, batch_size=0))
