"""Sampling-temperature sweep: the validation users choose each sampler's temperature; the report shows every point."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import artifacts
from pipeline.sweepreport import Point, summary
from stages import report_sweep


def utility(folder: Path, ndcg: float) -> None:
    artifacts.write_json(folder / "metrics.json", {"test": {"history_kept": {"ndcg@10": ndcg}, "history_removed": {"ndcg@10": 1.0}},
                                                   "ci95": {"history_kept": {"ndcg@10": [ndcg - 0.01, ndcg + 0.01]}}})


def point(folder: Path, js: float, valid: float, test: float) -> Path:
    artifacts.write_json(folder / "eval" / "metrics.json", {"generated": {
        "popularity_js": js, "bigram_precision": 0.1, "repeat_rate": 0.05, "items_covered": 100, "copied_windows": 0.0}})
    utility(folder / "valid", valid)
    utility(folder / "test", test)
    return folder


def test_the_temperature_is_chosen_on_validation_users_not_on_test_users(tmp_path):
    # rsvq: 0.8 is best on validation, 0.6 would be best on test; vae: 1.0 is best on validation
    folders = {("rsvq", 1.0): (0.02, 0.030, 0.020), ("rsvq", 0.8): (0.04, 0.040, 0.030), ("rsvq", 0.6): (0.10, 0.035, 0.045),
               ("vae", 1.0): (0.06, 0.020, 0.010), ("vae", 0.8): (0.09, 0.015, 0.012)}
    args = [f"--point={run}@{t}={point(tmp_path / f'{run}@{t}', *v)}" for (run, t), v in folders.items()]
    utility(tmp_path / "real-valid", 0.080)
    utility(tmp_path / "real-test", 0.050)
    out, results = tmp_path / "report", tmp_path / "sweep.json"
    assert report_sweep.main(["--cell", "demo/L20", *args, "--real-valid", str(tmp_path / "real-valid"),
                              "--real-test", str(tmp_path / "real-test"), "--out", str(out), "--results", str(results)]) == 0
    doc = artifacts.read_json(results)
    assert doc["chosen"]["rsvq"]["temperature"] == 0.8 and doc["chosen"]["rsvq"]["test_ndcg@10"] == 0.030
    assert doc["chosen"]["rsvq"]["test_over_real"] == pytest.approx(0.6)
    assert doc["chosen"]["vae"]["temperature"] == 1.0
    assert len(doc["points"]) == 5 and doc["real"]["valid_ndcg@10"] == 0.080 and doc["real"]["test_ndcg@10"] == 0.050
    assert doc["chosen"]["rsvq"]["test_ci95"] == pytest.approx([0.020, 0.040])
    text = (out / "README.md").read_text()
    assert "| RSVQ-AE | 0.8* |" in text and "0.0200-0.0400" in text and "| RSVQ-AE | 0.6 |" in text and "| VAE | 1* |" in text
    assert (out / "sweep.png").stat().st_size > 0


def test_a_malformed_point_is_refused_by_name(tmp_path):
    with pytest.raises(SystemExit):
        report_sweep.main(["--cell", "x", "--point", "rsvq=somewhere", "--real-valid", "a", "--real-test", "b",
                           "--out", str(tmp_path / "o"), "--results", str(tmp_path / "r.json")])
    with pytest.raises(ValueError, match="at least one point"):
        summary([], {"valid": 1.0, "test": 1.0}, "x")
    assert summary([Point("rsvq", 1.0, {"popularity_js": 0.1}, 0.0, 0.0)], {"valid": 0.0, "test": 0.0}, "x")["chosen"]["rsvq"][
        "test_over_real"] is None
