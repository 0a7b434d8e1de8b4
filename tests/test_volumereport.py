"""Synthetic volume: real and RSVQ-AE models at k times the utility test's size, against the 1x real model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pipeline import artifacts
from pipeline.volumereport import VolumeError, summary
from stages import report_volume
from tests.test_sweepreport import utility


def trained_on(folder: Path, windows: int) -> None:
    artifacts.write_json(folder / "train" / artifacts.MANIFEST, {"summary": {"users": windows}})


def real(folder: Path, windows: int, ndcg: float) -> Path:
    trained_on(folder, windows)
    utility(folder / "eval", ndcg)
    return folder


def rsvq(folder: Path, windows: int, ndcg: float, temperature: float = 0.8, js: float = 0.04) -> Path:
    artifacts.write_json(folder / "samples" / artifacts.MANIFEST, {"config": {"generate": {"temperature": temperature}}})
    artifacts.write_json(folder / "eval" / "metrics.json", {"generated": {
        "popularity_js": js, "bigram_precision": 0.15, "repeat_rate": 0.07, "items_covered": 100}})
    trained_on(folder, windows)
    utility(folder / "test", ndcg)
    return folder


def run_report(tmp_path: Path, args: list[str]) -> int:
    return report_volume.main([*args, "--out", str(tmp_path / "report"), "--results", str(tmp_path / "volume.json")])


def test_every_size_is_reported_against_the_1x_real_model_and_the_real_model_of_its_size(tmp_path):
    args = [f"--real=demo/L20x1={real(tmp_path / 'r1', 100, 0.050)}", f"--real=demo/L20x4={real(tmp_path / 'r4', 400, 0.060)}",
            f"--rsvq=demo/L20x1={rsvq(tmp_path / 's1', 99, 0.030, js=0.045)}",
            f"--rsvq=demo/L20x4={rsvq(tmp_path / 's4', 398, 0.042, js=0.040)}"]
    assert run_report(tmp_path, args) == 0
    doc = artifacts.read_json(tmp_path / "volume.json")["demo/L20"]
    assert doc["temperature"] == 0.8 and doc["base_windows"] == 100 and [p["factor"] for p in doc["points"]] == [1, 4]
    one, four = doc["points"]
    assert one["real"]["over_real_1x"]["share"] == pytest.approx(1.0)
    assert four["real"]["windows"] == 400 and four["real"]["over_real_1x"]["share"] == pytest.approx(1.2)
    s = four["rsvq"]
    assert s["windows"] == 398 and s["test_ndcg@10"] == 0.042 and s["popularity_js"] == 0.040
    assert s["over_real_1x"]["share"] == pytest.approx(0.84) and s["over_real_1x"]["share_ci95"] == pytest.approx([0.84, 0.84])
    assert s["over_real_same_size"]["share"] == pytest.approx(0.7)
    assert one["rsvq"]["over_real_1x"]["share"] == pytest.approx(0.6)
    text = (tmp_path / "report/README.md").read_text()
    assert "## demo/L20" in text and "1x = 100 windows; RSVQ-AE sampled at temperature 0.8." in text
    assert "| 4x | 400 | 0.0600 (0.0500-0.0700) | 120% (120-120%) | 398 | 0.0420 (0.0320-0.0520) | 84% (84-84%) | 70% (70-70%) |" in text
    assert (tmp_path / "report/volume.png").stat().st_size > 0


def test_the_readme_table_is_made_from_the_results_json(tmp_path, monkeypatch):
    args = [f"--real=demo/L20x1={real(tmp_path / 'r1', 100, 0.050)}", f"--real=demo/L20x2={real(tmp_path / 'r2', 200, 0.055)}",
            f"--rsvq=demo/L20x2={rsvq(tmp_path / 's2', 199, 0.040)}"]
    assert report_volume.main([*args, "--out", str(tmp_path / "report"), "--results", str(tmp_path / "synthetic_volume.json")]) == 0
    spec = importlib.util.spec_from_file_location("readme_tables", Path(__file__).resolve().parents[1] / "scripts/readme_tables.py")
    readme_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_tables)
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    rows = readme_tables.synthetic_volume_table().splitlines()
    assert "| demo/L20 | 1x | 100 | 0.0500 | 100% (100-100%) | – | – | – | – | – |" in rows
    assert "| demo/L20 | 2x | 200 | 0.0550 | 110% (110-110%) | 199 (0.8) | 0.0400 | 80% (80-80%) | 73% (73-73%) | 0.0400 |" in rows


def test_a_size_of_one_kind_alone_is_reported_and_a_missing_reference_refused(tmp_path):
    r1, r2 = real(tmp_path / "r1", 100, 0.05), real(tmp_path / "r2", 200, 0.06)
    s1, s4 = rsvq(tmp_path / "s1", 100, 0.03), rsvq(tmp_path / "s4", 400, 0.04)
    # generated windows do not run out, real ones do: 4x RSVQ-AE without a 4x real model, 2x real alone
    assert run_report(tmp_path, [f"--real=demo/L20x1={r1}", f"--real=demo/L20x2={r2}", f"--rsvq=demo/L20x4={s4}"]) == 0
    points = artifacts.read_json(tmp_path / "volume.json")["demo/L20"]["points"]
    assert [(p["factor"], sorted(k for k in p if k != "factor")) for p in points] == [(1, ["real"]), (2, ["real"]), (4, ["rsvq"])]
    assert points[2]["rsvq"]["over_real_same_size"] is None and points[2]["rsvq"]["over_real_1x"]["share"] == pytest.approx(0.8)
    assert "| 4x | – | – | – | 400 | 0.0400 (0.0300-0.0500) | 80% (80-80%) | – |" in (tmp_path / "report/README.md").read_text()
    for args in ([f"--real=demo/L20x2={r2}", f"--rsvq=demo/L20x2={s1}"],  # no 1x reference
                 [f"--real=demo/L20x1={r1}", f"--real=demo/L20x1={r2}"],  # named twice
                 [f"--real=demo/L20={r1}"],  # no factor
                 [f"--real=L20x1={r1}"]):  # no domain
        with pytest.raises(SystemExit):
            run_report(tmp_path, args)
    hot = rsvq(tmp_path / "hot", 200, 0.03, temperature=1.0)
    with pytest.raises(VolumeError, match="different temperatures"):
        summary({1: r1, 2: r2}, {1: s1, 2: hot}, "demo/L20")
    other = real(tmp_path / "other", 100, 0.05)
    utility(other / "eval", 0.05, events=6)
    with pytest.raises(artifacts.ArtifactError, match="not scored on the same test events"):
        summary({1: r1, 2: other}, {}, "demo/L20")


def test_real_models_alone_make_a_report(tmp_path):
    assert run_report(tmp_path, [f"--real=demo/L20x1={real(tmp_path / 'r1', 100, 0.05)}",
                                 f"--real=demo/L20x2={real(tmp_path / 'r2', 200, 0.055)}"]) == 0
    doc = artifacts.read_json(tmp_path / "volume.json")["demo/L20"]
    assert doc["temperature"] is None and all("rsvq" not in p for p in doc["points"])
    assert "1x = 100 windows.\n" in (tmp_path / "report/README.md").read_text()
