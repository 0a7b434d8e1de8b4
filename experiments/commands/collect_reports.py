"""Command `collect-reports`: the `textcode report` folders of several domains -> one results JSON.

`--report <domain>=<folder>` (repeated): a report folder of that domain (its summary.json: run -> test metrics
in both protocols, 95% intervals, cost, and the paired test against the report's reference run).
`--set baselines` (results/baselines.json) or `--set transfer` (results/transfer.json) picks the keys kept:
{domain: {run: {key: ...}}}. `cpu` is the processor that trained the run, since seconds depend on it;
`paired` is the run minus the report's reference, per protocol and metric, with its p-value.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from textcode.commands import common
from textcode.core import artifacts

log = logging.getLogger("collect-reports")
KEYS = {
    "baselines": ("test", "test_history_removed", "ci95", "selection", "train_wall_s", "epochs", "stopped",
                  "peak_rss_mb", "cpu", "notes", "paired"),
    "transfer": ("test", "test_history_removed", "ci95", "valid_ndcg@10", "wall_s", "epochs", "stopped", "cpu", "notes",
                 "paired"),
}


def collect(reports: dict[str, Path], keys: tuple[str, ...]) -> dict:
    out: dict = {}
    for domain, folder in reports.items():
        path = folder / "summary.json"
        summary = artifacts.read_json(path)
        # the reference run is the one run a report does not test against itself
        references = {row["paired"]["reference"] for row in summary.values() if "paired" in row}
        rows = {}
        for model, row in summary.items():
            wanted = [k for k in keys if not (k == "paired" and model in references)]
            missing = [k for k in wanted if k not in row]
            if missing:
                raise artifacts.ArtifactError(f"{path}: run {model!r} lacks {', '.join(missing)} "
                                              "(a report made before these were recorded: run the report again)")
            rows[model] = {k: row[k] for k in wanted}
        out[domain] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments collect-reports", description=__doc__)
    p.add_argument("--report", action="append", required=True, metavar="DOMAIN=FOLDER")
    p.add_argument("--set", required=True, choices=sorted(KEYS), help="which results file's keys to keep")
    p.add_argument("--out", required=True, help="the JSON to write")
    args = p.parse_args(argv)
    common.setup_logging()
    reports = {}
    for item in args.report:
        domain, eq, folder = item.partition("=")
        if not eq or not domain or not folder:
            p.error(f"--report {item!r} is not of the form DOMAIN=FOLDER")
        reports[domain] = Path(folder)
    artifacts.write_json(args.out, collect(reports, KEYS[args.set]))
    log.info("%d domains -> %s", len(reports), args.out)
    return 0
