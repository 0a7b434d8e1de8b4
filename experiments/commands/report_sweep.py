"""Command `report-sweep`: collect a sampling-temperature sweep into a report and a headline JSON.

`--point <cell>/<run>@<temperature>=<folder>` (repeated; a cell is `<domain>/L<length>`; the temperature
one number, or one per code level joined by "-", finest first: 0.6-1.0-1.0): a folder
holding eval/ (evaluate-generation of the samples), valid/ and test/ (evaluate-utility of the
SASRec-ID trained on them, on the validation and test windows). `--real <cell>=<folder>`: the utility
folder of the SASRec-ID trained on real windows, with eval-valid/ and eval/ (the same events).
"""
from __future__ import annotations

import argparse
import logging
import math

from experiments.sweep_report import (
    load_point,
    load_real,
    markdown,
    plot,
    setting_text,
    summary,
)
from textcode.commands import common
from textcode.core import artifacts

log = logging.getLogger("report-sweep")
FIGURE = "sweep.png"


def parse_setting(text: str) -> float | tuple[float, ...] | None:
    """0.8 -> 0.8; 0.6-1.0-1.0 -> (0.6, 1.0, 1.0) (per code level, finest first); anything else -> None."""
    try:
        values = tuple(float(t) for t in text.split("-"))
    except ValueError:
        return None
    if not all(0 < v < math.inf for v in values):
        return None
    return values[0] if len(values) == 1 else values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments report-sweep", description=__doc__)
    p.add_argument("--point", action="append", required=True, metavar="CELL/RUN@TEMPERATURE=FOLDER")
    p.add_argument("--real", action="append", required=True, metavar="CELL=FOLDER")
    p.add_argument("--out", required=True)
    p.add_argument("--results", required=True, help="the headline JSON")
    args = p.parse_args(argv)
    common.setup_logging()
    inputs, real_folders = {}, {}
    for item in args.real:
        cell, sep, folder = item.partition("=")
        if not sep or not cell or not folder:
            p.error(f"--real {item!r} is not of the form CELL=FOLDER")
        real_folders[cell] = folder
        inputs[f"real:{cell}"] = folder
    points: dict[str, list] = {}
    for item in args.point:
        name, sep, folder = item.partition("=")
        cell, slash, run_t = name.rpartition("/")
        run, at, temperature = run_t.partition("@")
        t = parse_setting(temperature)
        if not sep or not slash or not at or not run or not folder or t is None:
            p.error(f"--point {item!r} is not of the form CELL/RUN@TEMPERATURE=FOLDER (TEMPERATURE: 0.8, or one per "
                    "code level, finest first: 0.6-1.0-1.0)")
        if cell not in real_folders:
            p.error(f"--point {item!r}: no --real {cell}=FOLDER names the model trained on real windows of its cell")
        points.setdefault(cell, []).append(load_point(run, t, folder, real_folders[cell]))
        inputs[name] = folder
    if set(real_folders) != set(points):
        p.error(f"--real names cells {sorted(real_folders)}, --point names {sorted(points)}: each cell needs both")
    real = {cell: load_real(folder) for cell, folder in real_folders.items()}
    cells = {cell: summary(pts, real[cell], cell) for cell, pts in points.items()}
    with artifacts.OutputFolder(args.out, "report-sweep", {"cells": list(cells)}, inputs) as out:
        out.path("README.md").write_text(markdown(cells, FIGURE, args.results), encoding="utf-8")
        plot(cells, out.path(FIGURE))
        out.summary.update(points=sum(map(len, points.values())), chosen={c: d["chosen"] for c, d in cells.items()})
    artifacts.write_json(args.results, cells)
    for cell, doc in cells.items():
        for run, c in doc["chosen"].items():
            log.info("%s %s: temperature %s chosen on validation windows; test NDCG@10 %.4f (%.0f%% of real)", cell, run,
                     setting_text(c["temperature"]), c["test_ndcg@10"], 100 * (c["test_over_real"] or 0))
    return 0

