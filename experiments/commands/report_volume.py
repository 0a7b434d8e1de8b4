"""Command `report-volume`: collect the synthetic-volume experiment into a report and a headline JSON.

`--real <cell>x<k>=<folder>` (repeated; a cell is `<domain>/L<length>`): a SASRec-ID trained on k times the
utility test's size of real windows, a folder with train/ and eval/ (its test-window scores); every cell
needs its 1x model, the reference. `--rsvq <cell>x<k>=<folder>`: the same for RSVQ-AE windows, a folder
with samples/, eval/ (evaluate-generation), train/ and test/ (its test-window scores).
"""
from __future__ import annotations

import argparse
import logging
import re

from experiments.volume_report import METRIC, VolumeError, markdown, plot, summary
from textcode.commands import common
from textcode.core import artifacts

log = logging.getLogger("report-volume")
FIGURE = "volume.png"
POINT = re.compile(r"^(?P<cell>[^=]+/L\d+)x(?P<factor>[1-9]\d*)=(?P<folder>.+)$")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments report-volume", description=__doc__)
    p.add_argument("--real", action="append", required=True, metavar="CELLxK=FOLDER")
    p.add_argument("--rsvq", action="append", default=[], metavar="CELLxK=FOLDER")
    p.add_argument("--out", required=True)
    p.add_argument("--results", required=True, help="the headline JSON")
    args = p.parse_args(argv)
    common.setup_logging()
    folders: dict[str, dict[str, dict[int, str]]] = {}
    inputs = {}
    for kind in ("real", "rsvq"):
        for item in getattr(args, kind):
            m = POINT.match(item)
            if m is None:
                p.error(f"--{kind} {item!r} is not of the form <domain>/L<length>x<k>=FOLDER")
            by_factor = folders.setdefault(m["cell"], {"real": {}, "rsvq": {}})[kind]
            if int(m["factor"]) in by_factor:
                p.error(f"--{kind} {item!r}: {m['cell']}x{m['factor']} is named twice")
            by_factor[int(m["factor"])] = m["folder"]
            inputs[f"{kind}:{m['cell']}x{m['factor']}"] = m["folder"]
    try:
        cells = {cell: summary(f["real"], f["rsvq"], cell) for cell, f in folders.items()}
    except VolumeError as e:
        p.error(str(e))
    with artifacts.OutputFolder(args.out, "report-volume", {"cells": list(cells)}, inputs) as out:
        out.path("README.md").write_text(markdown(cells, FIGURE, args.results), encoding="utf-8")
        plot(cells, out.path(FIGURE))
        out.summary.update(cells=len(cells), models=len(inputs))
    artifacts.write_json(args.results, cells)
    for cell, doc in cells.items():
        for point in doc["points"]:
            if "rsvq" in point:
                s = point["rsvq"]
                log.info("%s %dx: RSVQ-AE %d windows, test %s %.4f = %.0f%% of real 1x", cell, point["factor"],
                         s["windows"], METRIC, s[f"test_{METRIC}"], 100 * (s["over_real_1x"]["share"] or 0))
    return 0

