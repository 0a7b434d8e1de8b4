"""Resolve the configs of some stages for one domain into JSON files (rewritten only on change).

Make depends on these files, so an edit to a YAML layer reruns exactly the stages whose
resolved settings it changes.
"""
from __future__ import annotations

import argparse
import sys

from pipeline import artifacts
from pipeline.config import ConfigError, parse_overrides
from pipeline.settings import STAGES, layers_for, resolve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stages.resolve", description=__doc__)
    p.add_argument("--domain", default="", help="domain name, or empty for domain-free stages")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    p.add_argument("--configs", default="configs")
    p.add_argument("--outdir", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        for stage in args.stages:
            layers = layers_for(args.configs, stage, args.domain or None)
            layers.append(parse_overrides(args.set))
            _, sections = resolve(layers, stage)
            if artifacts.write_json_if_changed(f"{args.outdir}/{stage}.json", {"stage": stage, "domain": args.domain, **sections}):
                print(f"resolve: {args.outdir}/{stage}.json updated")
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
