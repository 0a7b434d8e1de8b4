"""Resolve the configs of some stages for one domain into JSON files (rewritten only on change).

Make depends on these files, so an edit to a YAML layer reruns exactly the stages whose
resolved settings it changes (which inputs a run reads is `textcode plan`'s part).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from textcode.core import artifacts
from textcode.core.config import ConfigError
from textcode.core.settings import STAGES, layers_for, overrides_for, resolve, split_job


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode resolve", description=__doc__)
    p.add_argument("--domain", default="", help="domain name, or empty for domain-free stages")
    p.add_argument("--stages", nargs="+", default=list(STAGES), metavar="STAGE[.RUN]",
                   help="stages to resolve; STAGE.RUN adds the layer configs/runs/STAGE/RUN.yaml")
    p.add_argument("--configs", default="configs")
    p.add_argument("--outdir", required=True)
    p.add_argument("--set", action="append", default=[], metavar="[SCOPE:]KEY=VALUE",
                   help="override; SCOPE (a stage or stage.run) limits it to those configs, and is required when the key's section is read by more than one stage")
    args = p.parse_args(argv)
    for item in args.set:  # a scope naming a run that does not exist would silently apply to nothing
        scope, colon, _ = item.partition(":")
        stage, run = split_job(scope) if colon and "=" not in scope else ("", None)
        if run and not (Path(args.configs) / "runs" / stage / f"{run}.yaml").exists():
            raise ConfigError(f"override {item!r}: no run {scope!r} ({args.configs}/runs/{stage}/{run}.yaml)")
    for job in args.stages:
        stage, run = split_job(job)
        layers = layers_for(args.configs, job, args.domain or None)
        layers.append(overrides_for(args.set, job, require_scope=True))
        _, sections = resolve(layers, job)
        resolved = {"stage": stage, "run": run or "", "domain": args.domain, **sections}
        if artifacts.write_json_if_changed(f"{args.outdir}/{job}.json", resolved):
            print(f"resolve: {args.outdir}/{job}.json updated")
    return 0
