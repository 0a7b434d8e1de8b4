"""The shipped pre-trained model: its files match its manifest, its manifest matches the pinned hash, it
loads strictly and fine-tunes; `finetune.pretrained` names a pre-training run or a shipped model, and a
folder that is not the one named is refused."""
from __future__ import annotations

import dataclasses
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


def test_a_model_is_never_fine_tuned_on_a_domain_of_its_own_corpus(shipped, tmp_path):
    corpus = pretrained.corpus(shipped)
    assert "amazon2014-beauty" in corpus and "Scientific" not in corpus
    pretrained.check_held_out(shipped, shipped.name, "Scientific")
    with pytest.raises(ConfigError, match="pre-trained on 'amazon2014-beauty' itself"):
        pretrained.check_held_out(shipped, shipped.name, "amazon2014-beauty")
    # a pre-training run's corpus is its config's pretrain.domains: the leave-one-domain-out runs leave theirs out
    run = tmp_path / "without_amazon2014-beauty"
    run.mkdir()
    (run / artifacts.MANIFEST).write_text(json.dumps({"stage": "pretrain", "config": {
        "run": run.name, "pretrain": {"domains": [d for d in corpus if d != "amazon2014-beauty"]}}}))
    pretrained.check_held_out(run, run.name, "amazon2014-beauty")
    with pytest.raises(ConfigError, match="'amazon2018-game' itself"):
        pretrained.check_held_out(run, run.name, "amazon2018-game")
    (run / artifacts.MANIFEST).write_text(json.dumps({"stage": "pretrain", "config": {"run": run.name}}))
    with pytest.raises(artifacts.ArtifactError, match="no record of the pre-training corpus"):
        pretrained.check_held_out(run, run.name, "amazon2018-game")


def test_zero_shot_is_the_pretrained_model_untouched_on_the_domains_own_codes(shipped):
    from textcode.data.windows import cut_from_end
    from textcode.rec.finetune import run
    from textcode.runtime import distributed as dist
    from textcode.training.config import TrainConfig

    meta = model_folder.load_meta(shipped)
    tensors, _ = artifacts.load_tensors(shipped / model_folder.WEIGHTS)
    cfg = SASRecConfig(**meta["config"]["model"])
    codes = np.random.default_rng(0).integers(0, 256, (40, 32))
    ft = FinetuneConfig(pretrained=shipped.name, permutation=False, zero_shot=True)
    model = build_model(cfg, ft, 40, DomainInputs(codes=codes, n_codes=256), (meta["config"], tensors))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    windows = cut_from_end(np.array([0, 4, 8]), np.array([1, 2, 3, 4, 5, 6, 7, 8]), cfg.max_len)
    # an override of the fine-tunes' epochs does not make it train
    summary = run(model, windows, None, ft, TrainConfig(epochs=3), dist.Dist(), None, seed=0)
    assert summary["epochs"] == 0 and summary["stopped"] == "zero_shot" and summary["trainable_parameters"] == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for wrong in ({"permutation": True}, {"init": "scratch"}):
        with pytest.raises(ConfigError, match="zero_shot .* needs finetune.init: pretrained"):
            run(model, windows, None, FinetuneConfig(**{**dataclasses.asdict(ft), **wrong}), TrainConfig(), dist.Dist(),
                None, seed=0)


def test_a_fine_tune_adds_zero_id_embeddings_of_its_own_items_and_trains_them(shipped):
    from textcode.rec.finetune import trainable

    meta = model_folder.load_meta(shipped)
    tensors, _ = artifacts.load_tensors(shipped / model_folder.WEIGHTS)
    cfg = dataclasses.replace(SASRecConfig(**meta["config"]["model"]), id_embedding=True)
    codes = np.random.default_rng(0).integers(0, 256, (40, 32))
    inputs = DomainInputs(codes=codes, n_codes=256)
    plain = build_model(SASRecConfig(**meta["config"]["model"]), FinetuneConfig(pretrained=shipped.name), 40, inputs,
                        (meta["config"], tensors)).eval()
    model = build_model(cfg, FinetuneConfig(pretrained=shipped.name), 40, inputs, (meta["config"], tensors)).eval()
    assert model.id_embedding.weight.shape == (40, cfg.hidden) and not model.id_embedding.weight.any()
    assert torch.equal(model.score_histories([np.array([1, 2, 3])]), plain.score_histories([np.array([1, 2, 3])]))
    assert model.id_embedding.weight.requires_grad and any(p is model.id_embedding.weight
                                                           for p in trainable(model, "codes_norm"))
    with torch.no_grad():
        model.id_embedding.weight.normal_()
    rebuilt = sasrec.build(sasrec.describe(model), {k: v.numpy() for k, v in model.state_dict().items()}).eval()
    assert torch.equal(rebuilt.score_histories([np.array([4, 5])]), model.score_histories([np.array([4, 5])]))
    # a model that has ID embeddings is not a starting point: its IDs are another domain's items
    with pytest.raises(ConfigError, match="ID embeddings of the items it was trained on"):
        build_model(cfg, FinetuneConfig(pretrained=shipped.name), 40, inputs,
                    (sasrec.describe(model), {k: v.numpy() for k, v in model.state_dict().items()}))
    with pytest.raises(ConfigError, match="model.id_embedding: the items are ID embeddings already"):
        build_model(cfg, FinetuneConfig(item_embedding="id", init="scratch"), 40, inputs, None)


def test_pre_training_refuses_id_embeddings(tmp_path):
    from textcode.commands import pretrain as pretrain_stage

    with pytest.raises(ConfigError, match="model.id_embedding: item IDs do not transfer"):
        pretrain_stage.main(["--run", "demo", "--set", "model.id_embedding=true", "--out", str(tmp_path / "m")])
    assert not (tmp_path / "m").exists()
