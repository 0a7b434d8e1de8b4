"""Command-line overrides are scoped: make's SET reaches every config resolved in one call, so a key that
several stages read must say which stage (or run) it is for. A domain's `runs` section is scoped the same way:
one run on one domain."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from textcode.commands import resolve
from textcode.core import settings
from textcode.core.config import ConfigError
from textcode.core.settings import layers_for, overrides_for


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


def domain_configs(tmp_path, runs) -> str:
    """A configs folder: the project's, with domain `mine` whose YAML has the `runs` section `runs`."""
    import shutil

    import yaml

    root = Path(__file__).resolve().parents[1] / "configs"
    configs = tmp_path / "configs"
    shutil.copytree(root, configs)
    text = (root / "domains" / "demo-scientific.yaml").read_text()
    (configs / "domains" / "mine.yaml").write_text(text + yaml.safe_dump({"runs": runs}))
    return str(configs)


def test_a_domain_runs_section_sets_one_run_on_that_domain_after_the_run_file(tmp_path):
    configs = domain_configs(tmp_path, {"baseline.cddrec": {"baseline": {"patience": 3, "max_minutes": 30}}})
    _, mine = settings.resolve(layers_for(configs, "baseline.cddrec", "mine"), "baseline.cddrec")
    assert (mine["baseline"]["patience"], mine["baseline"]["max_minutes"]) == (3, 30)  # over the run file's 20
    _, other_run = settings.resolve(layers_for(configs, "baseline.ease", "mine"), "baseline.ease")
    assert "patience" not in other_run["baseline"]
    _, other_domain = settings.resolve(layers_for(configs, "baseline.cddrec", "demo-scientific"), "baseline.cddrec")
    assert other_domain["baseline"]["patience"] == 20 and "max_minutes" not in other_domain["baseline"]


@pytest.mark.parametrize("runs, match", [
    ({"baseline.cdrec": {"baseline": {"patience": 3}}}, r"mine.yaml: runs.baseline.cdrec: no such run"),
    ({"cddrec": {"baseline": {"patience": 3}}}, r"runs.cddrec: no such run"),
    ({"baseline.cddrec": 3}, r"runs.baseline.cddrec must be a mapping"),
    (["baseline.cddrec"], r"runs must map STAGE.RUN to settings"),
])
def test_a_domain_runs_section_naming_no_run_is_an_error(tmp_path, runs, match):
    with pytest.raises(ConfigError, match=match):
        layers_for(domain_configs(tmp_path, runs), "prepare", "mine")
