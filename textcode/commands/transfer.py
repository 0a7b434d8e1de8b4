"""Command `transfer`: the whole chain for one domain, as `make transfer DOMAIN=<name>` does it.

prepare -> encode -> codes -> the runs of TRANSFER_RUNS (the shipped or named pre-trained model, fine-tuned and
zero-shot; codes from scratch, SASRec-ID, text-only, EASE, popularity) -> evaluate (both protocols, CIs) -> report -> serving
export; ends with the runs x metrics table and the paths of the outputs. It runs make in the project
folder (the one build graph: a rerun redoes only what changed, a killed run resumes), so it needs a
checkout of the project, and GNU make.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from textcode.core.errors import ProjectError

PROJECT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode transfer", description=__doc__)
    p.add_argument("domain", help="the domain: configs/domains/<domain>.yaml")
    p.add_argument("--set", action="append", default=[], metavar="[SCOPE:]KEY=VALUE",
                   help="override, as make's SET (e.g. finetune:train.epochs=20)")
    p.add_argument("--runs", nargs="+", metavar="RUN", help="the runs to train and report (default: make's TRANSFER_RUNS)")
    p.add_argument("--jobs", "-j", type=int, help="stages run at once, each on its share of the cores (default: make's "
                   "TRANSFER_JOBS, 2)")
    args = p.parse_args(argv)
    if not (PROJECT / "Makefile").exists() or not (PROJECT / "mk" / "transfer.mk").exists():
        raise ProjectError(f"{PROJECT}: not a checkout of textcode-rec (no Makefile); `transfer` runs its make graph")
    if shutil.which("make") is None:
        raise ProjectError("GNU make is not installed; it runs the transfer chain")
    domain_file = PROJECT / "configs" / "domains" / f"{args.domain}.yaml"
    if not domain_file.exists():
        raise ProjectError(f"{domain_file}: no such domain config (write it first; see docs/own-data.md)")
    cmd = ["make", "--no-print-directory", "transfer", f"DOMAIN={args.domain}"]
    if args.jobs:
        cmd.append(f"TRANSFER_JOBS={args.jobs}")
    if args.set:
        cmd.append("SET=" + " ".join(args.set))
    if args.runs:
        cmd.append("TRANSFER_RUNS=" + " ".join(args.runs))
    env = {**os.environ, "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV", sys.prefix)}  # this interpreter's environment
    return subprocess.run(cmd, cwd=PROJECT, env=env).returncode
