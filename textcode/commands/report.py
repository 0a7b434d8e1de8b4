"""Command `report`: compare evaluated runs (`--eval name=<eval folder>`, repeated) against a reference run.

Writes `report.md` (tables per protocol with 95% CIs, published reference rows, paired-bootstrap
significance against `--reference`), `metrics.png` (test metrics with CI error bars), `summary.json`
(run -> test metrics in both protocols, wall seconds and the paired test against the reference,
textcode.eval.report.run_summary), and with
`--results <json>` the headline JSON (history_kept means and CIs, cost, history_removed test).
"""
from __future__ import annotations

import logging

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.settings import section
from textcode.eval.config import ReportConfig
from textcode.eval.report import (
    bar_chart,
    check_comparable,
    headline,
    load_run,
    markdown,
    published_rows,
    run_summary,
    significance,
)

log = logging.getLogger("report")


def main(argv: list[str] | None = None) -> int:
    p = common.parser("report", (), __doc__)
    # not --run: every stage's parser has --run for named config runs (configs/runs/<stage>/)
    p.add_argument("--eval", action="append", required=True, metavar="NAME=EVAL_FOLDER",
                   help="a run to report: its name and eval folder (repeat; rows keep this order)")
    p.add_argument("--reference", required=True, help="run name the others are tested against")
    p.add_argument("--results", help="also write the headline JSON here")
    p.add_argument("--published", help="published reference figures to show beside ours (e.g. configs/published.yaml)")
    args = p.parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "report")
    report_cfg = section(cfg, "report", ReportConfig)
    pairs = []
    for item in args.eval:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            p.error(f"--eval {item!r} is not of the form NAME=EVAL_FOLDER")
        pairs.append((name, folder))
    runs = [load_run(name, folder) for name, folder in pairs]
    check_comparable(runs)
    sig = significance(runs, args.reference, report_cfg.n_boot, cfg["seed"])
    published = published_rows(runs[0].domain, args.published) if args.published else []
    inputs = {f"run:{r.name}": r.eval_dir for r in runs}
    with artifacts.OutputFolder(args.out, "report", {**cfg, "runs": dict(pairs), "reference": args.reference}, inputs) as out:
        out.path("report.md").write_text(markdown(runs, sig, args.reference, report_cfg.n_boot, published), encoding="utf-8")
        bar_chart(runs, out.path("metrics.png"))
        artifacts.write_json(out.path("summary.json"), run_summary(runs, sig, args.reference))
        out.summary.update(domain=runs[0].domain, runs=[r.name for r in runs], reference=args.reference)
    if args.results:
        artifacts.write_json(args.results, headline(runs))
        log.info("headline results -> %s", args.results)
    log.info("report of %d runs -> %s", len(runs), args.out)
    return 0

