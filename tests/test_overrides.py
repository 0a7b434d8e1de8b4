"""Command-line overrides are scoped: make's SET reaches every config resolved in one call, so a key that
several stages read must say which stage (or run) it is for."""
from __future__ import annotations

import json

import pytest

from textcode.commands import resolve
from textcode.core.config import ConfigError
from textcode.core.settings import overrides_for


def resolved(tmp_path, *sets: str, stages=("finetune.vqrec_scratch", "finetune.sasrec_id", "codes")) -> dict:
    out = tmp_path / "config"
    assert resolve.main(["--domain", "demo-scientific", "--outdir", str(out), "--stages", *stages,
                         *[a for s in sets for a in ("--set", s)]]) == 0
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def test_a_run_scope_changes_that_run_only_and_a_stage_scope_every_run_of_the_stage(tmp_path):
    cfg = resolved(tmp_path, "finetune.vqrec_scratch:train.epochs=3", "codes:codes.opq=false")
    assert cfg["finetune.vqrec_scratch"]["train"]["epochs"] == 3
    assert cfg["finetune.sasrec_id"]["train"]["epochs"] == 40  # demo-scientific.yaml's value, untouched
    assert cfg["codes"]["codes"]["opq"] is False
    cfg = resolved(tmp_path / "b", "finetune:train.epochs=4")
    assert cfg["finetune.vqrec_scratch"]["train"]["epochs"] == cfg["finetune.sasrec_id"]["train"]["epochs"] == 4


def test_pretraining_overrides_leave_the_fine_tune_configs_alone(tmp_path):
    before = resolved(tmp_path / "a")
    after = resolved(tmp_path / "b", "pretrain:train.epochs=3", "pretrain.demo:model.dropout=0.1")
    assert after == before


def test_an_unscoped_key_of_a_shared_section_is_refused_naming_the_stages(tmp_path):
    with pytest.raises(ConfigError, match=r"'train' is read by the stages pretrain, finetune.*finetune:train.epochs=3"):
        resolved(tmp_path, "train.epochs=3")
    cfg = resolved(tmp_path / "ok", "encode.max_length=32", stages=("encode",))  # encode alone reads encode
    assert cfg["encode"]["encode"]["max_length"] == 32


def test_unknown_scopes_and_runs_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown scope 'fintune'"):
        resolved(tmp_path, "fintune:train.epochs=3")
    with pytest.raises(ConfigError, match="no run 'finetune.vqrec_scrach'"):
        resolved(tmp_path, "finetune.vqrec_scrach:train.epochs=3")


def test_one_stage_command_line_is_its_own_scope():
    assert overrides_for(["train.epochs=2", "pretrain:train.lr=1", "finetune:model.hidden=8"], "finetune.x",
                         require_scope=False).data == {"train": {"epochs": 2}, "model": {"hidden": 8}}
