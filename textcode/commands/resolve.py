"""Resolve the configs of some stages for one domain into JSON files (rewritten only on change).

Make depends on these files, so an edit to a YAML layer reruns exactly the stages whose
resolved settings it changes. With `--mk`, also write a Make fragment naming the input domains
of jobs that read other domains' artifacts (pre-training), so Make's prerequisites come from
the same YAML as the stage's settings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textcode.core import artifacts
from textcode.core.config import ConfigError, parse_overrides
from textcode.core.settings import STAGES, layers_for, resolve, split_job


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode resolve", description=__doc__)
    p.add_argument("--domain", default="", help="domain name, or empty for domain-free stages")
    p.add_argument("--stages", nargs="+", default=list(STAGES), metavar="STAGE[.RUN]",
                   help="stages to resolve; STAGE.RUN adds the layer configs/runs/STAGE/RUN.yaml")
    p.add_argument("--configs", default="configs")
    p.add_argument("--outdir", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--mk", help="write INPUT_DOMAINS.<job> := ... for jobs with pretrain.domains into this file")
    args = p.parse_args(argv)
    mk_lines = []
    try:
        for job in args.stages:
            stage, run = split_job(job)
            layers = layers_for(args.configs, job, args.domain or None)
            layers.append(parse_overrides(args.set))
            _, sections = resolve(layers, job)
            resolved = {"stage": stage, "run": run or "", "domain": args.domain, **sections}
            if artifacts.write_json_if_changed(f"{args.outdir}/{job}.json", resolved):
                print(f"resolve: {args.outdir}/{job}.json updated")
            if "pretrain" in sections:
                mk_lines.append(f"INPUT_DOMAINS.{job} := {' '.join(sections['pretrain']['domains'])}\n")
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.mk:
        _write_if_changed(Path(args.mk), "# written by textcode.commands.resolve from the YAML configs\n" + "".join(mk_lines))
    return 0


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)

