"""Each recipe of docs/extending.md followed once with a toy (tests/toys/): a source format, a baseline
model, a text encoder and a command, each one file plus one registry entry plus (where it has settings)
one config file, run through the project's own commands."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from textcode import cli
from textcode.commands import baseline, encode, evaluate, prepare
from textcode.core import artifacts, model_kinds
from textcode.data import readers
from textcode.rec import encoders

ROOT = Path(__file__).resolve().parents[1]
TOYS = Path(__file__).resolve().parent / "toys"


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A copy of the configs with a toy domain, and the toys importable."""
    monkeypatch.syspath_prepend(str(TOYS))
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    lines = [f"u{u} i{int(i)}" for u in range(40) for i in rng.integers(0, 30, size=6)]
    (data / "events.txt").write_text("\n".join(lines) + "\n")
    (configs / "domains" / "toy.yaml").write_text(f"source: {{format: toy, path: {data}}}\n")
    return tmp_path


def run(module, tmp: Path, *args: str) -> None:
    assert module.main(["--domain", "toy", "--configs", str(tmp / "configs"), *args]) == 0


def test_a_new_source_format_is_one_reader_file_and_one_registry_line(project, monkeypatch):
    monkeypatch.setitem(readers.READERS, "toy", "toy_reader:from_source")
    run(prepare, project, "--out", str(project / "art/prepared"))
    summary = artifacts.read_manifest(project / "art/prepared")["summary"]
    assert (summary["users"], summary["interactions"]) == (40, 240)


def test_a_new_baseline_is_one_model_file_one_registry_line_and_one_run_file(project, monkeypatch):
    monkeypatch.setitem(readers.READERS, "toy", "toy_reader:from_source")
    monkeypatch.setitem(model_kinds.MODEL_KINDS, "toy", "toy_baseline")
    (project / "configs/runs/baseline/toy.yaml").write_text("baseline: {kind: toy, power: 2.0}\n")
    run(prepare, project, "--out", str(project / "art/prepared"))
    prepared = ["--prepared", str(project / "art/prepared")]
    run(baseline, project, "--run", "toy", *prepared, "--out", str(project / "art/models/toy"))
    assert artifacts.read_manifest(project / "art/models/toy")["summary"]["power"] == 2.0
    run(evaluate, project, *prepared, "--set", "evaluate.n_boot=10", "--model", str(project / "art/models/toy"),
        "--out", str(project / "art/eval/toy"))
    assert "test" in artifacts.read_json(project / "art/eval/toy/metrics.json")
    # its settings are checked strictly against its Config
    with pytest.raises(Exception, match="baseline.powr"):
        run(baseline, project, "--run", "toy", "--set", "baseline.powr=1", *prepared, "--out", str(project / "art/x"))


def test_a_new_text_encoder_is_one_class_and_one_registry_line(project, monkeypatch):
    monkeypatch.setitem(readers.READERS, "toy", "toy_reader:from_source")
    monkeypatch.setitem(encoders.ENCODERS, "toy-hash", "toy_encoder:HashEncoder")
    run(prepare, project, "--out", str(project / "art/prepared"))
    run(encode, project, "--set", "encode.model=toy-hash", "--prepared", str(project / "art/prepared"),
        "--out", str(project / "art/text"))
    emb = artifacts.load_npy(project / "art/text/embeddings.npy")
    assert emb.shape == (30, 16) and (emb.sum(1) > 0).all()


def test_a_new_command_is_one_module(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(TOYS))
    assert cli.main(["--help"], package="toycommands") == 0
    assert "hello  Greet, following" in capsys.readouterr().out
    assert cli.main(["hello", "world"], package="toycommands") == 0
    assert capsys.readouterr().out == "hello world\n"
    # the project's own errors: one line, exit 2
    assert cli.main(["hello", "w0rld"], package="toycommands") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: name: 'w0rld' is not a word" in err
