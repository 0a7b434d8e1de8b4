"""Your own category end to end: a domain YAML and `make transfer` take small fixture files (two CSV files,
and raw Amazon Reviews 2023 files) through prepare, encode, codes, the six runs (the shipped pre-trained
model among them), evaluation, the report and the serving export, without ../shared (the copy of the project has none beside it); then `textcode
recommend` answers from the export.

Runs in a copy of the project's code with temporary configs, artifacts and reports (as tests/test_make.py),
with short fine-tunes (SET) so that it fits in the test suite; the chain and its outputs are the real ones.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textcode.core import artifacts
from textcode.rec import pretrained

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "transfer"
RUNS = ["vqrec_pretrained", "vqrec_zero_shot", "vqrec_scratch", "sasrec_id", "text_only", "ease", "popularity"]
METRICS = {"recall@10", "ndcg@10", "recall@50", "ndcg@50"}

DOMAINS = {
    # two CSV files as a user would export them (tests/fixtures/transfer/README.md)
    "my-games-table": f"""
source:
  format: table
  interactions: {FIXTURES}/table/interactions.csv
  items: {FIXTURES}/table/items.csv
  columns: {{user: user_id, item: item_id, time: timestamp}}
  text_columns: [title, categories]
""",
    # a raw Amazon Reviews 2023 category download (reviews + meta), no expect counts
    "my-games-amazon": f"""
source:
  format: amazon2023
  path: {FIXTURES}/amazon2023
  reviews: Video_Games.jsonl.gz
  meta: meta_Video_Games.jsonl.gz
""",
}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    code = tmp / "project"
    code.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, code / name)
    for name in ("mk", "textcode", "experiments", "bench", "pretrained"):
        shutil.copytree(ROOT / name, code / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", tmp / "configs")
    for name, text in DOMAINS.items():
        (tmp / "configs" / "domains" / f"{name}.yaml").write_text(text)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "TEXTCODE_VERIFY": "sizes"}
    base = ["make", "--no-print-directory", "-o", str(Path(sys.prefix) / ".textcode-installed"),
            f"ART={tmp / 'art'}", f"CONFIGS={tmp / 'configs'}", f"REPORTS={tmp / 'reports'}",
            # short fine-tunes and few resamples: the test checks the chain, not the numbers
            "SET=finetune:train.epochs=2 finetune:finetune.permutation_epochs=1 evaluate:evaluate.n_boot=20 "
            "report:report.n_boot=20 codes:codes.opq_iterations=3"]

    def make(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], cwd=code, env=env, capture_output=True, text=True, timeout=900)

    make.code, make.tmp = code, tmp
    return make


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_make_transfer_writes_the_report_the_summary_and_a_servable_model(project, domain):
    done = project("transfer", f"DOMAIN={domain}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = project.tmp / "reports" / domain
    summary = json.loads((report / "summary.json").read_text())
    assert list(summary) == RUNS
    for run, row in summary.items():
        assert set(row["test"]) >= METRICS and set(row["test_history_removed"]) >= METRICS, run
        assert all(0.0 <= v <= 1.0 for v in [*row["test"].values(), *row["test_history_removed"].values()]), run
        assert row["wall_s"] > 0, run
    assert (report / "report.md").read_text().startswith(f"# Evaluation report: {domain}")
    assert (report / "metrics.png").stat().st_size > 10_000
    # the pre-trained run started from the shipped model, the scratch run from nothing
    art = project.tmp / "art" / domain
    ft = artifacts.read_manifest(art / "models" / "vqrec_pretrained")
    name = ft["config"]["finetune"]["pretrained"]
    assert name in pretrained.SHIPPED and Path(ft["inputs"]["pretrained"]["path"]) == pretrained.SHIPPED_DIR / name
    assert "pretrained" not in artifacts.read_manifest(art / "models" / "vqrec_scratch")["inputs"]
    # expect counts are optional: the counts are recorded
    counts = artifacts.read_manifest(art / "prepared")["summary"]
    assert counts["users"] == 300 and counts["interactions"] > 3000
    # the closing table: every run, and where the outputs are
    for run in RUNS:
        assert f"\n{run} " in done.stdout
    for label in ("report:", "chart:", "serving:"):
        assert label in done.stdout
    assert "(not made)" not in done.stdout and "next:          textcode recommend --serving" in done.stdout
    # recommendations for a user of the domain, from the serving export
    user = artifacts.load_table(art / "prepared" / "users.parquet")["user_id"][0]
    rec = subprocess.run([sys.executable, "-m", "textcode", "recommend", "--serving", str(art / "serving"), "--prepared",
                          str(art / "prepared"), "--user", str(user), "--k", "5"], cwd=project.code,
                         capture_output=True, text=True, timeout=300)
    assert rec.returncode == 0, rec.stderr
    assert f"user {user}" in rec.stdout and rec.stdout.count("\n") >= 6, rec.stdout
