"""Resolve the configs of some stages for one domain into JSON files (rewritten only on change).

Make depends on these files, so an edit to a YAML layer reruns exactly the stages whose
resolved settings it changes.
"""
from __future__ import annotations

import argparse
import sys

from pipeline import artifacts
from pipeline.config import ConfigError, parse_overrides
from pipeline.settings import STAGES, layers_for, resolve, split_job


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stages.resolve", description=__doc__)
    p.add_argument("--domain", default="", help="domain name, or empty for domain-free stages")
    p.add_argument("--stages", nargs="+", default=list(STAGES), metavar="STAGE[.RUN]",
                   help="stages to resolve; STAGE.RUN adds the layer configs/runs/STAGE/RUN.yaml")
    p.add_argument("--configs", default="configs")
    p.add_argument("--outdir", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        for job in args.stages:
            stage, run = split_job(job)
            layers = layers_for(args.configs, job, args.domain or None)
            layers.append(parse_overrides(args.set))
            _, sections = resolve(layers, job)
            resolved = {"stage": stage, "run": run or "", "domain": args.domain, **sections}
            if artifacts.write_json_if_changed(f"{args.outdir}/{job}.json", resolved):
                print(f"resolve: {args.outdir}/{job}.json updated")
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
