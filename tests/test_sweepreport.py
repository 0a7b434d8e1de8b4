"""Sampling-temperature sweep: the validation users choose each sampler's temperature; the report shows every point."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from experiments.commands import report_sweep
from experiments.sweep_report import Point, summary
from experiments.utility_stats import GROUPS_FILE
from textcode.core import artifacts
from textcode.eval.evaluation import per_user_file, users_file


def utility(folder: Path, ndcg: float, events: int = 4) -> Path:
    """An evaluate-utility folder: metrics.json and per-event arrays (every event scores `ndcg`, two per user)."""
    artifacts.write_json(folder / "metrics.json", {"test": {"history_kept": {"ndcg@10": ndcg}, "history_removed": {"ndcg@10": 1.0}},
                                                   "ci95": {"history_kept": {"ndcg@10": [ndcg - 0.01, ndcg + 0.01]}}})
    (folder / "per_user").mkdir(exist_ok=True)
    artifacts.save_npy(folder / users_file("test"), np.arange(events))
    artifacts.save_npy(folder / per_user_file("test", "history_kept", "ndcg@10"), np.full(events, ndcg))
    artifacts.save_npy(folder / GROUPS_FILE, np.arange(events) // 2)
    return folder


def point(folder: Path, js: float, valid: float, test: float) -> Path:
    artifacts.write_json(folder / "eval" / "metrics.json", {"generated": {
        "popularity_js": js, "bigram_precision": 0.1, "repeat_rate": 0.05, "items_covered": 100, "copied_windows": 0.0}})
    utility(folder / "valid", valid)
    utility(folder / "test", test)
    return folder


def real(folder: Path, valid: float, test: float) -> Path:
    utility(folder / "eval-valid", valid)
    utility(folder / "eval", test)
    return folder


def run_report(tmp_path: Path, extra: list[str]) -> int:
    return report_sweep.main([*extra, "--out", str(tmp_path / "report"), "--results", str(tmp_path / "sweep.json")])


def test_the_temperature_is_chosen_on_validation_users_not_on_test_users(tmp_path):
    # demo/L20 rsvq: 0.8 is best on validation, 0.6 would be best on test; vae: 1.0 is best on validation
    folders = {("demo/L20", "rsvq", 1.0): (0.02, 0.030, 0.020), ("demo/L20", "rsvq", 0.8): (0.04, 0.040, 0.030),
               ("demo/L20", "rsvq", 0.6): (0.10, 0.035, 0.045), ("demo/L20", "vae", 1.0): (0.06, 0.020, 0.010),
               ("demo/L20", "vae", 0.8): (0.09, 0.015, 0.012), ("demo/L100", "rsvq", 1.0): (0.05, 0.010, 0.010),
               ("demo/L100", "rsvq", 0.7): (0.08, 0.020, 0.005)}
    args = [f"--point={cell}/{run}@{t}={point(tmp_path / cell / f'{run}@{t}', *v)}" for (cell, run, t), v in folders.items()]
    args += [f"--real=demo/L20={real(tmp_path / 'real20', 0.080, 0.050)}", f"--real=demo/L100={real(tmp_path / 'real100', 0.04, 0.02)}"]
    assert run_report(tmp_path, args) == 0
    doc = artifacts.read_json(tmp_path / "sweep.json")
    l20, l100 = doc["demo/L20"], doc["demo/L100"]
    assert l20["chosen"]["rsvq"]["temperature"] == 0.8 and l20["chosen"]["rsvq"]["test_ndcg@10"] == 0.030
    assert l20["chosen"]["rsvq"]["test_over_real"] == pytest.approx(0.6)
    assert l20["chosen"]["rsvq"]["test_ci95"] == pytest.approx([0.020, 0.040])
    assert l20["chosen"]["rsvq"]["test_over_real_ci95"] == pytest.approx([0.6, 0.6])  # every event: .030 vs .050
    assert l20["chosen"]["vae"]["temperature"] == 1.0 and l100["chosen"]["rsvq"]["temperature"] == 0.7
    assert len(l20["points"]) == 5 and len(l100["points"]) == 2
    assert l20["real"]["valid_ndcg@10"] == 0.080 and l100["real"]["test_ndcg@10"] == 0.02
    text = (tmp_path / "report/README.md").read_text()
    assert "## demo/L20" in text and "## demo/L100" in text
    assert "| RSVQ-AE | 0.8* |" in text and "| RSVQ-AE | 0.6 |" in text and "| VAE | 1* |" in text
    assert "0.0200-0.0400" in text and "| 60% (60-60%) |" in text
    assert (tmp_path / "report/sweep.png").stat().st_size > 0


def test_malformed_or_unmatched_arguments_are_refused(tmp_path):
    for args in (["--point", "demo/L20/rsvq=somewhere", "--real", "demo/L20=x"],  # no temperature
                 ["--point", "rsvq@1.0=somewhere", "--real", "demo/L20=x"]):  # no cell
        with pytest.raises(SystemExit):
            run_report(tmp_path, args)
    p = point(tmp_path / "p", 0.1, 0.02, 0.02)
    with pytest.raises(SystemExit):  # a cell without its real-data model
        run_report(tmp_path, ["--point", f"demo/L20/rsvq@1.0={p}", "--real", f"demo/L100={real(tmp_path / 'r', 0.1, 0.1)}"])
    other = point(tmp_path / "q", 0.1, 0.02, 0.02)
    utility(other / "test", 0.02, events=6)
    with pytest.raises(artifacts.ArtifactError, match="not scored on the same test events"):
        run_report(tmp_path, ["--point", f"demo/L20/rsvq@1.0={other}", "--real", f"demo/L20={real(tmp_path / 'r20', 0.1, 0.1)}"])
    with pytest.raises(ValueError, match="at least one point"):
        summary([], {"valid": 1.0, "test": 1.0}, "x")
    assert summary([Point("rsvq", 1.0, {"popularity_js": 0.1}, 0.0, 0.0)], {"valid": 0.0, "test": 0.0}, "x")["chosen"]["rsvq"][
        "test_over_real"] is None


def test_per_level_settings_are_points_of_their_own_and_can_be_chosen(tmp_path, monkeypatch):
    folders = {"0.8": (0.04, 0.040, 0.030), "0.6-1.0-1.0": (0.06, 0.045, 0.040), "0.7-1.0-1.0": (0.05, 0.042, 0.035)}
    args = [f"--point=demo/L20/rsvq@{t}={point(tmp_path / t, *v)}" for t, v in folders.items()]
    args.append(f"--real=demo/L20={real(tmp_path / 'real', 0.080, 0.050)}")
    assert report_sweep.main([*args, "--out", str(tmp_path / "report"), "--results", str(tmp_path / "level_temperature.json")]) == 0
    doc = artifacts.read_json(tmp_path / "level_temperature.json")["demo/L20"]
    assert doc["chosen"]["rsvq"]["temperature"] == [0.6, 1.0, 1.0]
    assert [p["temperature"] for p in doc["points"]] == [0.8, [0.6, 1.0, 1.0], [0.7, 1.0, 1.0]]
    text = (tmp_path / "report/README.md").read_text()
    assert "| RSVQ-AE | 0.6 / 1 / 1* |" in text and "| RSVQ-AE | 0.8 |" in text
    assert f"Generated by `make {tmp_path / 'level_temperature.json'}`" in text
    assert (tmp_path / "report/sweep.png").stat().st_size > 0
    spec = importlib.util.spec_from_file_location("readme_tables", Path(__file__).resolve().parents[1] / "experiments/readme_tables.py")
    readme_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_tables)
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    rows = readme_tables.TABLES["level_temperature"]().splitlines()
    assert any(r.startswith("| demo/L20 | RSVQ-AE | 0.6 / 1 / 1* | 0.0600 |") for r in rows)
    assert any(r.startswith("| demo/L20 | RSVQ-AE | 0.8 | 0.0400 |") for r in rows)
    for bad in ("0.6-x-1.0", "0.6-0-1.0", "0.6--1.0"):
        with pytest.raises(SystemExit):
            run_report(tmp_path, [f"--point=demo/L20/rsvq@{bad}={tmp_path / '0.8'}", f"--real=demo/L20={tmp_path / 'real'}"])


def test_plot_lines_put_per_level_points_against_the_finest_temperature():
    from experiments.sweep_report import _series

    pts = [{"temperature": t} for t in (0.8, [0.7, 1.0, 1.0], 1.0, [0.6, 1.0, 1.0], [0.6, 0.9, 0.9])]
    lines = {suffix: x for suffix, x, _ in _series(pts)}
    assert lines == {"": [0.8, 1.0], ", finest level only (coarser at 1 / 1)": [0.6, 0.7],
                     ", finest level only (coarser at 0.9 / 0.9)": [0.6]}
