"""Stage `report-generation`: collect evaluate-generation runs into the generation report.

`--eval <domain>/L<length>/<run>=<eval folder>` (repeated). Writes README.md (tables laid out like
the RSVQ-AE paper's, beside its figures), PNGs, and with `--results` the headline JSON.
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipeline import artifacts
from pipeline.genreport import headline, load_entries, markdown, plot_accuracy, plot_by_position, plot_generation
from stages import common

log = logging.getLogger("report-generation")
FIGURES = {"accuracy": "accuracy.png", "by_position": "accuracy_by_position.png", "generation": "generation.png"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stages.report_generation", description=__doc__)
    p.add_argument("--eval", action="append", required=True, metavar="NAME=EVAL_FOLDER")
    p.add_argument("--out", required=True)
    p.add_argument("--results", help="also write the headline JSON here")
    args = p.parse_args(argv)
    common.setup_logging()
    pairs = []
    for item in args.eval:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            p.error(f"--eval {item!r} is not of the form NAME=EVAL_FOLDER")
        pairs.append((name, folder))
    entries = load_entries(pairs)
    with artifacts.OutputFolder(args.out, "report-generation", {"runs": dict(pairs)}, dict(pairs)) as out:
        out.path("README.md").write_text(markdown(entries, FIGURES), encoding="utf-8")
        plot_accuracy(entries, out.path(FIGURES["accuracy"]))
        plot_by_position(entries, out.path(FIGURES["by_position"]))
        if any("generated" in e.metrics for e in entries):
            plot_generation(entries, out.path(FIGURES["generation"]))
        out.summary.update(runs=[name for name, _ in pairs])
    if args.results:
        artifacts.write_json(args.results, headline(entries))
        log.info("headline results -> %s", args.results)
    log.info("report of %d runs -> %s", len(entries), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
