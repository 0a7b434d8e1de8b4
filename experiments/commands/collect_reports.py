"""Command `collect-baselines`: the baseline reports of several domains -> results/baselines.json.

`--report <domain>=<folder>` (repeated): a `textcode report` folder of that domain's baseline runs (its
summary.json: run -> test metrics in both protocols, 95% intervals, training seconds, epochs, peak memory).
The JSON: {domain: {model: {"test", "test_history_removed", "ci95", "train_wall_s", "epochs", "stopped",
"peak_rss_mb", "cpu", "notes"}}}: `cpu` is the processor that trained the model, since seconds depend on it.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from textcode.commands import common
from textcode.core import artifacts

log = logging.getLogger("collect-baselines")
KEYS = ("test", "test_history_removed", "ci95", "train_wall_s", "epochs", "stopped", "peak_rss_mb", "cpu", "notes")


def collect(reports: dict[str, Path]) -> dict:
    out: dict = {}
    for domain, folder in reports.items():
        summary = artifacts.read_json(folder / "summary.json")
        rows = {}
        for model, row in summary.items():
            missing = [k for k in KEYS if k not in row]
            if missing:
                raise artifacts.ArtifactError(f"{folder / 'summary.json'}: run {model!r} lacks {', '.join(missing)} "
                                              "(a report made before these were recorded: run the report again)")
            rows[model] = {k: row[k] for k in KEYS}
        out[domain] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments collect-baselines", description=__doc__)
    p.add_argument("--report", action="append", required=True, metavar="DOMAIN=FOLDER")
    p.add_argument("--out", required=True, help="the JSON to write")
    args = p.parse_args(argv)
    common.setup_logging()
    reports = {}
    for item in args.report:
        domain, eq, folder = item.partition("=")
        if not eq or not domain or not folder:
            p.error(f"--report {item!r} is not of the form DOMAIN=FOLDER")
        reports[domain] = Path(folder)
    artifacts.write_json(args.out, collect(reports))
    log.info("%d domains -> %s", len(reports), args.out)
    return 0
