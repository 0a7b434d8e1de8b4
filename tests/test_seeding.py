"""One seed (the top-level `seed`) decides every random draw: the same seed gives bitwise identical weights and
numbers, another seed gives others. Covers finetune (code and ID item embeddings), pretrain, train-generator,
train-prior and generate, each run in-process on the embedded demo data at toy sizes. Also: a wall-clock budget
that cuts a run is a WARNING in the log, `stopped: time_budget` in the manifest and a column of the report."""
from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from textcode.commands import evaluate as evaluate_stage
from textcode.commands import (
    finetune,
    generate,
    prepare,
    pretrain,
    train_generator,
    train_prior,
)
from textcode.commands import report as report_stage
from textcode.core import artifacts
from textcode.runtime.seeding import seed_everything

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["--configs", str(ROOT / "configs")]
SCIENTIFIC = ["--domain", "demo-scientific", *CONFIGS]
MOVIELENS = ["--domain", "demo-movielens", *CONFIGS]
SMALL_MODEL = ["--set", "model.n_layers=1", "--set", "model.n_heads=1", "--set", "model.hidden=16",
               "--set", "model.ffn=16", "--set", "model.max_len=20"]
TINY_FT = [*SMALL_MODEL, "--set", "train.epochs=1"]
TINY_GEN = ["--set", "generator.model.d_model=16", "--set", "generator.model.d_item=16", "--set", "generator.model.quantizer.codebook_size=16",
            "--set", "generator.model.quantizer.n_codebooks=2", "--set", "generator.model.quantizer.dim=8",
            "--set", "generator.train.epochs=1", "--set", "generator.train.batch_size=256"]
TINY_PRIOR = ["--set", "prior.model.d_model=32", "--set", "prior.model.n_layers=1", "--set", "prior.train.epochs=1"]
N_CODES, N_SUBSPACES, TEXT_DIM = 16, 4, 16


def _fake_stage_output(folder: Path, stage: str, name: str, array: np.ndarray, **summary) -> Path:
    """A finished stage folder holding one array: stands in for encode/codes (a text encoder is too slow here)."""
    with artifacts.OutputFolder(folder, stage, {"stage": stage, "test": "seeding"}) as out:
        artifacts.save_npy(out.path(name), array)
        out.summary.update(**summary)
    return folder


@pytest.fixture(scope="module")
def art(tmp_path_factory) -> Path:
    """<art>/<domain>/prepared for the demo domains used here, fake codes (Scientific), fake text (beauty, game)."""
    art = tmp_path_factory.mktemp("art")
    rng = np.random.default_rng(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the demo source paths are relative to the project
        for domain in ("demo-scientific", "demo-beauty", "demo-game", "demo-movielens"):
            assert prepare.main(["--domain", domain, *CONFIGS, "--out", str(art / domain / "prepared")]) == 0
    n_items = {d: artifacts.read_manifest(art / d / "prepared")["summary"]["items"]
               for d in ("demo-scientific", "demo-beauty", "demo-game")}
    _fake_stage_output(art / "demo-scientific/codes", "codes", "codes.npy",
                       rng.integers(0, N_CODES, (n_items["demo-scientific"], N_SUBSPACES), dtype=np.uint8),
                       n_centroids=N_CODES)
    for domain in ("demo-beauty", "demo-game"):
        _fake_stage_output(art / domain / "text", "encode", "embeddings.npy",
                           rng.standard_normal((n_items[domain], TEXT_DIM)).astype(np.float32))
    return art


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _numbers(tree):
    """A summary without its timings (keys ending in `_s` or naming seconds): what must repeat exactly."""
    if isinstance(tree, dict):
        return {k: _numbers(v) for k, v in tree.items() if not (k.endswith("_s") or "seconds" in k)}
    if isinstance(tree, list):
        return [_numbers(v) for v in tree]
    return tree


def _three_runs(main, args: list[str], out: Path) -> tuple[Path, Path, Path]:
    """Runs `a` and `b` with seed 0, `c` with seed 1; each in this process, as the tests of the stages do."""
    folders = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert main([*args, "--set", f"seed={seed}", "--out", str(out / name)]) == 0
        folders.append(out / name)
    return tuple(folders)


def _assert_seed_decides(a: Path, b: Path, c: Path, weights: str, numbers=lambda s: _numbers(s)) -> None:
    """Same seed: the same weights file byte for byte and the same summary numbers; another seed: other weights."""
    summary = {p: artifacts.read_manifest(p)["summary"] for p in (a, b, c)}
    assert _sha256(a / weights) == _sha256(b / weights), f"{weights}: same seed, different bytes"
    assert numbers(summary[a]) == numbers(summary[b])
    assert _sha256(a / weights) != _sha256(c / weights), f"{weights}: another seed gave the same weights"
    assert numbers(summary[a]) != numbers(summary[c])


def test_seed_everything_seeds_every_global_generator():
    seed_everything(5)
    first = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(5)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])
    seed_everything(6)
    assert random.random() != first[0] and not torch.equal(torch.rand(3), first[2])


@pytest.mark.parametrize("run", ["vqrec_scratch", "sasrec_id"])
def test_finetune_is_a_function_of_the_seed(art, tmp_path, run):
    inputs = ["--prepared", str(art / "demo-scientific/prepared")]
    if run == "vqrec_scratch":
        inputs += ["--codes", str(art / "demo-scientific/codes")]
    a, b, c = _three_runs(finetune.main, [*SCIENTIFIC, "--run", run, *TINY_FT, *inputs], tmp_path)
    _assert_seed_decides(a, b, c, "model.safetensors")
    summary = artifacts.read_manifest(a)["summary"]
    assert summary["epochs"] == 1 and summary["stopped"] == "max_epochs"


def test_the_seed_is_one_top_level_key():
    with pytest.raises(Exception, match="train.seed"):
        finetune.main([*SCIENTIFIC, "--run", "sasrec_id", "--set", "train.seed=1", "--prepared", "x", "--out", "y"])


def test_pretrain_is_a_function_of_the_seed(art, tmp_path):
    args = ["--run", "demo", *CONFIGS, "--art", str(art), *SMALL_MODEL, "--set", "train.epochs=1",
            "--set", "pretrain.valid_users=50", "--set", f"codes.n_subspaces={N_SUBSPACES}",
            "--set", f"codes.n_centroids={N_CODES}", "--set", "codes.opq_iterations=2"]
    a, b, c = _three_runs(pretrain.main, args, tmp_path)
    _assert_seed_decides(a, b, c, "model.safetensors")
    assert _sha256(a / "codes/codes.npy") == _sha256(b / "codes/codes.npy")


@pytest.fixture(scope="module")
def generators(art, tmp_path_factory) -> tuple[Path, Path, Path]:
    out = tmp_path_factory.mktemp("generator")
    return _three_runs(train_generator.main, [*MOVIELENS, "--run", "rsvq", *TINY_GEN,
                                              "--prepared", str(art / "demo-movielens/prepared")], out)


def test_train_generator_is_a_function_of_the_seed(generators):
    _assert_seed_decides(*generators, "model.safetensors")
    history = [_numbers(artifacts.read_json(g / "history.json")) for g in generators]
    assert history[0] == history[1] != history[2]


@pytest.fixture(scope="module")
def priors(art, generators, tmp_path_factory) -> tuple[Path, Path, Path]:
    out = tmp_path_factory.mktemp("prior")
    return _three_runs(train_prior.main, [*MOVIELENS, *TINY_PRIOR, "--prepared", str(art / "demo-movielens/prepared"),
                                          "--generator", str(generators[0])], out)


def test_train_prior_is_a_function_of_the_seed(priors):
    _assert_seed_decides(*priors, "model.safetensors")


def test_generate_is_a_function_of_the_seed(art, generators, priors, tmp_path):
    a, b, c = _three_runs(generate.main, [*MOVIELENS, "--prepared", str(art / "demo-movielens/prepared"),
                                          "--generator", str(generators[0]), "--prior", str(priors[0]),
                                          "--set", "generate.n_sequences=30"], tmp_path)
    files = {p: {k: v for k, v in artifacts.read_manifest(p)["outputs"].items()} for p in (a, b, c)}
    assert files[a] == files[b]  # every generated file, with its hash
    assert files[a] != files[c]
    assert _numbers(artifacts.read_manifest(a)["summary"]) == _numbers(artifacts.read_manifest(b)["summary"])


def test_a_budget_cut_is_warned_recorded_and_reported(art, tmp_path, caplog):
    prepared = ["--prepared", str(art / "demo-scientific/prepared")]
    run = [*SCIENTIFIC, "--run", "sasrec_id", *SMALL_MODEL, *prepared]
    with caplog.at_level(logging.INFO):
        assert finetune.main([*run, "--set", "train.epochs=2", "--set", "train.max_minutes=0.0001",
                              "--out", str(tmp_path / "models/cut")]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("max_minutes=0.0001" in m and "after epoch 1 of at most 2" in m and "time_budget" in m
               for m in warnings), warnings
    summary = artifacts.read_manifest(tmp_path / "models/cut")["summary"]
    assert (summary["stopped"], summary["epochs"]) == ("time_budget", 1)
    assert finetune.main([*run, "--set", "train.epochs=1", "--out", str(tmp_path / "models/full")]) == 0
    for name in ("cut", "full"):
        assert evaluate_stage.main([*SCIENTIFIC, *prepared, "--set", "evaluate.n_boot=10", "--model",
                                    str(tmp_path / "models" / name), "--out", str(tmp_path / "eval" / name)]) == 0
    assert report_stage.main([*SCIENTIFIC, "--eval", f"full={tmp_path / 'eval/full'}", "--eval", f"cut={tmp_path / 'eval/cut'}",
                              "--reference", "full", "--set", "report.n_boot=10", "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report/report.md").read_text()
    assert "| run | selected on | stopped | notes | model folder | eval folder |" in text
    assert f"| cut | history kept | **time_budget** | – | `{tmp_path / 'models/cut'}` |" in text
    assert f"| full | history kept | max_epochs | – | `{tmp_path / 'models/full'}` |" in text
