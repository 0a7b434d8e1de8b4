"""Stage `report-sweep`: collect a sampling-temperature sweep into a report and a headline JSON.

`--point <run>@<temperature>=<folder>` (repeated): a folder holding eval/ (evaluate-generation of the
samples), valid/ and test/ (evaluate-utility of the SASRec-ID trained on them, on the validation and
test users). `--real-valid` and `--real-test`: the SASRec-ID trained on real windows, on the same users.
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipeline import artifacts
from pipeline.sweepreport import load_point, load_real, markdown, plot, summary
from stages import common

log = logging.getLogger("report-sweep")
FIGURE = "sweep.png"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stages.report_sweep", description=__doc__)
    p.add_argument("--cell", required=True, help="what was swept, e.g. movielens-1m/L20")
    p.add_argument("--point", action="append", required=True, metavar="RUN@TEMPERATURE=FOLDER")
    p.add_argument("--real-valid", required=True)
    p.add_argument("--real-test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--results", required=True, help="the headline JSON")
    args = p.parse_args(argv)
    common.setup_logging()
    points, inputs = [], {"real-valid": args.real_valid, "real-test": args.real_test}
    for item in args.point:
        name, sep, folder = item.partition("=")
        run, at, temperature = name.partition("@")
        try:
            t = float(temperature)
        except ValueError:
            t = None
        if not sep or not at or not run or not folder or t is None:
            p.error(f"--point {item!r} is not of the form RUN@TEMPERATURE=FOLDER")
        points.append(load_point(run, t, folder))
        inputs[name] = folder
    doc = summary(points, load_real(args.real_valid, args.real_test), args.cell)
    with artifacts.OutputFolder(args.out, "report-sweep", {"cell": args.cell}, inputs) as out:
        out.path("README.md").write_text(markdown(doc, FIGURE), encoding="utf-8")
        plot(doc, out.path(FIGURE))
        out.summary.update(points=len(points), chosen=doc["chosen"])
    artifacts.write_json(args.results, doc)
    for run, c in doc["chosen"].items():
        log.info("%s: temperature %g chosen on validation users; test NDCG@10 %.4f (%.0f%% of real)", run,
                 c["temperature"], c["test_ndcg@10"], 100 * (c["test_over_real"] or 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
