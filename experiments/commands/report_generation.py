"""Command `report-generation`: collect evaluate-generation runs into the generation report.

`--eval <domain>/L<length>/<run>=<eval folder>` (repeated). Writes README.md (tables laid out like
the RSVQ-AE paper's, beside its figures), PNGs, and with `--results` the headline JSON.
"""
from __future__ import annotations

import argparse
import logging

from experiments.generation_report import (
    headline,
    load_entries,
    load_utility,
    markdown,
    plot_accuracy,
    plot_by_position,
    plot_generation,
)
from textcode.commands import common
from textcode.core import artifacts

log = logging.getLogger("report-generation")
FIGURES = {"accuracy": "accuracy.png", "by_position": "accuracy_by_position.png", "generation": "generation.png"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments report-generation", description=__doc__)
    p.add_argument("--eval", action="append", required=True, metavar="NAME=EVAL_FOLDER")
    p.add_argument("--utility", action="append", default=[], metavar="CELL/TRAINED=EVAL_FOLDER",
                   help="an evaluate-utility folder, e.g. movielens-1m/L20/rsvq=... (trained on: real or a run)")
    p.add_argument("--augment", action="append", default=[], metavar="DOMAIN/TRAINED=EVAL_FOLDER",
                   help="an evaluate-utility folder of the augmentation experiment (trained on: real or augmented)")
    p.add_argument("--out", required=True)
    p.add_argument("--results", help="also write the headline JSON here")
    args = p.parse_args(argv)
    common.setup_logging()
    pairs, utility, augment = (_pairs(p, flag, getattr(args, flag)) for flag in ("eval", "utility", "augment"))
    entries = load_entries(pairs)
    util, aug = load_utility(utility), load_utility(augment)
    inputs = {**dict(pairs), **{f"utility:{k}": v for k, v in utility}, **{f"augment:{k}": v for k, v in augment}}
    with artifacts.OutputFolder(args.out, "report-generation", {"runs": dict(pairs)}, inputs) as out:
        out.path("README.md").write_text(markdown(entries, FIGURES, util, aug), encoding="utf-8")
        plot_accuracy(entries, out.path(FIGURES["accuracy"]))
        plot_by_position(entries, out.path(FIGURES["by_position"]))
        if any("generated" in e.metrics for e in entries):
            plot_generation(entries, out.path(FIGURES["generation"]))
        out.summary.update(runs=[name for name, _ in pairs])
    if args.results:
        artifacts.write_json(args.results, headline(entries, util, aug))
        log.info("headline results -> %s", args.results)
    log.info("report of %d runs -> %s", len(entries), args.out)
    return 0


def _pairs(p: argparse.ArgumentParser, flag: str, items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            p.error(f"--{flag} {item!r} is not of the form NAME=EVAL_FOLDER")
        pairs.append((name, folder))
    return pairs

