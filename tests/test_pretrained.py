"""The shipped pre-trained model: its files match its manifest, its manifest matches the pinned hash, it
loads strictly and fine-tunes; `finetune.pretrained` names a pre-training run or a shipped model, and a
folder that is not the one named is refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from textcode.core import artifacts, model_folder
from textcode.core.config import ConfigError
from textcode.rec import pretrained, sasrec
from textcode.rec.config import FinetuneConfig, SASRecConfig
from textcode.rec.finetune import build_model
from textcode.rec.item_embedding import DomainInputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=sorted(pretrained.SHIPPED))
def shipped(request) -> Path:
    return ROOT / pretrained.SHIPPED_DIR / request.param


def test_every_shipped_model_is_pinned_complete_and_small(shipped):
    artifacts.verify_folder(shipped)  # every file's size and SHA-256 against the manifest
    pretrained.check(shipped, shipped.name)  # the manifest's SHA-256 against the pin in the code
    manifest = artifacts.read_manifest(shipped)
    assert manifest["stage"] == "ship" and manifest["config"]["name"] == shipped.name
    summary = manifest["summary"]
    assert set(summary) >= {"corpus", "encoder", "pretrain_config", "validation", "weights_mb"}
    assert summary["validation"]["best_valid_ndcg@10"] > 0
    assert sum(f.stat().st_size for f in shipped.iterdir()) < 15 * 2**20  # kept in git


def test_a_shipped_model_loads_strictly_and_takes_a_new_domains_codes(shipped):
    meta = model_folder.load_meta(shipped)
    tensors, _ = artifacts.load_tensors(shipped / model_folder.WEIGHTS)
    model = sasrec.build(meta["config"], tensors)  # strict: every tensor has its parameter
    assert model.n_items == 0
    cfg = SASRecConfig(**meta["config"]["model"])
    codes = np.random.default_rng(0).integers(0, model.items.n_codes, (40, model.items.n_subspaces))
    ft = build_model(cfg, FinetuneConfig(pretrained=shipped.name), 40,
                     DomainInputs(codes=codes, n_codes=model.items.n_codes), (meta["config"], tensors))
    assert ft.n_items == 40
    scores = ft.eval().score_histories([np.array([1, 2, 3])])
    assert scores.shape == (1, 40) and torch.isfinite(scores).all()
    np.testing.assert_array_equal(ft.items.table.detach().numpy(), tensors["items.table"])


def test_a_changed_shipped_folder_is_refused(shipped, tmp_path):
    copy = tmp_path / shipped.name
    shutil.copytree(shipped, copy)
    manifest = json.loads((copy / artifacts.MANIFEST).read_text())
    manifest["summary"]["weights_mb"] = 0.0
    (copy / artifacts.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match="not the one pinned"):
        pretrained.check(copy, shipped.name)
    with pytest.raises(ConfigError, match="asks for 'other'"):
        pretrained.check(shipped, "other")


def test_finetune_pretrained_names_a_run_or_a_shipped_model(tmp_path):
    configs = tmp_path / "configs"
    (configs / "runs" / "pretrain").mkdir(parents=True)
    (configs / "runs" / "pretrain" / "mine.yaml").write_text("{}\n")
    assert pretrained.folder("mine", configs, art="art") == "art/pretrain/mine"
    for name in pretrained.SHIPPED:
        assert pretrained.folder(name, configs) == str(pretrained.SHIPPED_DIR / name)
        (configs / "runs" / "pretrain" / f"{name}.yaml").write_text("{}\n")
        with pytest.raises(ConfigError, match="both a pre-training run"):
            pretrained.folder(name, configs)
    with pytest.raises(ConfigError, match=r"'nope' is neither a pre-training run \(mine"):
        pretrained.folder("nope", configs)
