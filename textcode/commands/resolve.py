"""Resolve the configs of some stages for one domain into JSON files (rewritten only on change).

Make depends on these files, so an edit to a YAML layer reruns exactly the stages whose
resolved settings it changes (which inputs a run reads is `textcode plan`'s part).
"""
from __future__ import annotations

import argparse

from textcode.core import artifacts
from textcode.core.config import parse_overrides
from textcode.core.settings import STAGES, layers_for, resolve, split_job


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode resolve", description=__doc__)
    p.add_argument("--domain", default="", help="domain name, or empty for domain-free stages")
    p.add_argument("--stages", nargs="+", default=list(STAGES), metavar="STAGE[.RUN]",
                   help="stages to resolve; STAGE.RUN adds the layer configs/runs/STAGE/RUN.yaml")
    p.add_argument("--configs", default="configs")
    p.add_argument("--outdir", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    for job in args.stages:
        stage, run = split_job(job)
        layers = layers_for(args.configs, job, args.domain or None)
        layers.append(parse_overrides(args.set))
        _, sections = resolve(layers, job)
        resolved = {"stage": stage, "run": run or "", "domain": args.domain, **sections}
        if artifacts.write_json_if_changed(f"{args.outdir}/{job}.json", resolved):
            print(f"resolve: {args.outdir}/{job}.json updated")
    return 0
