"""Stages encode and codes end to end: resume after SIGKILL, strict codec fitting on the demo sample."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from textcode.commands import codes as codes_stage
from textcode.commands import encode as encode_stage
from textcode.commands import prepare as prepare_stage
from textcode.core import artifacts
from textcode.data.domain import Domain, subset
from textcode.data.split import leave_one_out
from textcode.rec.opq import Codec, resolve_collisions

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["--domain", "demo-scientific", "--configs", str(ROOT / "configs")]
# small and fast: ~160 items in 8-item shards. One thread: with cores shared by other work, two
# spinning OpenMP threads can be several times slower than one.
ENCODE_SETS = ["--set", "encode.shard_size=8", "--set", "encode.batch_size=8", "--set", "encode.max_length=32",
               "--set", "encode.precision=fp32", "--set", "encode.threads=1"]
CODES_SETS = ["--set", "codes.n_subspaces=8", "--set", "codes.n_centroids=16", "--set", "codes.opq_iterations=3",
              "--set", "codes.threads=1"]
SHARD = re.compile(r"shard_\d{5}\.npy")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    art = tmp_path_factory.mktemp("art")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the demo source path is relative to the project
        assert prepare_stage.main([*DOMAIN, "--out", str(art / "prepared")]) == 0
    return art / "prepared"


@pytest.fixture(scope="module")
def small(prepared, tmp_path_factory) -> Path:
    """The first 20 demo users and their 163 items, as a prepared folder."""
    domain = subset(Domain.load(prepared), np.arange(20), name="demo-small")
    folder = tmp_path_factory.mktemp("small") / "prepared"
    with artifacts.OutputFolder(folder, "prepare", {"domain": "demo-small"}) as out:
        domain.save(out)
        out.summary.update(domain=domain.name, **domain.counts())
    return folder


def finished_shards(shard_dir: Path) -> dict[str, tuple[int, bytes]]:
    """Complete shard files (not their .tmp.npy precursors): name -> (mtime, content)."""
    if not shard_dir.is_dir():
        return {}
    out = {}
    for p in shard_dir.iterdir():
        if SHARD.fullmatch(p.name):
            try:
                out[p.name] = (p.stat().st_mtime_ns, p.read_bytes())
            except FileNotFoundError:  # the stage may be replacing it right now
                continue
    return out


def kill_when(cmd: list[str], shard_dir: Path, more_than: int) -> int:
    """Start the stage, SIGKILL it once more than `more_than` shards are finished; its return code."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if len(finished_shards(shard_dir)) > more_than:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the stage was not killed mid-run (rc {proc.returncode}):\n{err.decode()[-2000:]}"
    return proc.returncode


def test_encode_resumes_after_sigkill_without_recomputing(small, tmp_path):
    out = tmp_path / "text"
    shard_dir = tmp_path / "text.partial" / "shards"
    cmd = [sys.executable, "-m", "textcode", "encode", *DOMAIN, *ENCODE_SETS, "--prepared", str(small), "--out", str(out)]
    n_items = Domain.load(small).n_items
    n_shards = -(-n_items // 8)

    kill_when(cmd, shard_dir, more_than=0)
    first = finished_shards(shard_dir)
    assert 1 <= len(first) < n_shards and not out.exists()

    kill_when(cmd, shard_dir, more_than=len(first))  # resumed, then killed again after new work
    second = finished_shards(shard_dir)
    assert len(second) > len(first)
    assert {name: second[name] for name in first} == first  # same mtime and bytes: loaded, not rewritten

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = artifacts.read_manifest(out)["summary"]
    assert summary["resumed_shards"] == len(second)
    assert summary["computed_shards"] == n_shards - len(second)
    assert summary["items_per_s"] is None  # a resumed run's speed would be meaningless
    assert not (tmp_path / "text.partial").exists()
    assert not any(p.name.startswith("shard") for p in out.rglob("*"))

    fresh = tmp_path / "fresh"
    assert encode_stage.main([*DOMAIN, *ENCODE_SETS, "--prepared", str(small), "--out", str(fresh)]) == 0
    resumed, uninterrupted = artifacts.load_npy(out / "embeddings.npy"), artifacts.load_npy(fresh / "embeddings.npy")
    assert resumed.shape == (n_items, 384)
    np.testing.assert_allclose(resumed, uninterrupted, rtol=0, atol=1e-5)
    fresh_summary = artifacts.read_manifest(fresh)["summary"]
    assert fresh_summary["resumed_shards"] == 0 and fresh_summary["items_per_s"] > 0
    assert fresh_summary["precision"] == "fp32" and fresh_summary["precision_reason"] == "fp32 set explicitly"


def fake_text(folder: Path, emb: np.ndarray) -> Path:
    """A text-stage output folder holding `emb`, without running the encoder."""
    with artifacts.OutputFolder(folder, "encode", {"stage": "encode", "fake": True}) as out:
        artifacts.save_npy(out.path("embeddings.npy"), emb.astype(np.float32))
        out.summary.update(items=len(emb), dim=emb.shape[1])
    return folder


def structured(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)) @ rng.normal(size=(8, d)) + 0.3 * rng.normal(size=(n, d))


def run_codes(prepared: Path, text: Path, out: Path, *sets: str) -> dict:
    assert codes_stage.main([*DOMAIN, *CODES_SETS, *sets, "--prepared", str(prepared), "--text", str(text),
                             "--out", str(out)]) == 0
    return artifacts.read_manifest(out)["summary"]


def test_codes_fit_only_on_training_items(prepared, tmp_path):
    domain = Domain.load(prepared)
    train = leave_one_out(domain).training_item_set()
    held_out = np.setdiff1d(np.arange(domain.n_items), train)
    assert len(held_out) > 100  # the demo has items seen only as validation/test targets
    emb = structured(domain.n_items)
    summary = run_codes(prepared, fake_text(tmp_path / "text", emb), tmp_path / "codes")
    assert summary["train_items"] == len(train) == summary["train"]["items"]
    assert summary["all"]["items"] == domain.n_items
    codec = Codec.load(tmp_path / "codes" / "codec.safetensors")
    codes = artifacts.load_npy(tmp_path / "codes" / "codes.npy")
    assert codes.shape == (domain.n_items, 8) and codes.dtype == np.uint8
    nearest = codec.encode(emb)
    np.testing.assert_array_equal(codes, resolve_collisions(codec, emb, nearest)[0])
    assert summary["all"]["distinct_codes"] == domain.n_items  # resolve_collisions is on by default
    assert (codes != nearest).any(1).sum() == summary["moved_to_resolve_collisions"]

    # held-out items far away from everything: a strict fit must not notice them
    wild = emb.copy()
    wild[held_out] = 1000.0 * np.random.default_rng(1).normal(size=(len(held_out), emb.shape[1]))
    wild_text = fake_text(tmp_path / "wild", wild)
    run_codes(prepared, wild_text, tmp_path / "codes-wild")
    wild_codec = Codec.load(tmp_path / "codes-wild" / "codec.safetensors")
    for name in ("rotation", "center", "centroids"):
        np.testing.assert_array_equal(getattr(wild_codec, name), getattr(codec, name))
    np.testing.assert_array_equal(artifacts.load_npy(tmp_path / "codes-wild" / "codes.npy")[train], codes[train])

    # control: fitting on all items does see them, so the check above can fail
    run_codes(prepared, wild_text, tmp_path / "codes-all", "--set", "codes.train_on=all")
    leaky = Codec.load(tmp_path / "codes-all" / "codec.safetensors")
    assert np.abs(leaky.center - codec.center).max() > 1.0
