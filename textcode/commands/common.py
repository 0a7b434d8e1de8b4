"""What every stage shares: its command line, its resolved config, logging."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from textcode.core import artifacts
from textcode.core.config import ConfigError
from textcode.core.settings import layers_for, overrides_for, resolve


def parser(stage: str, inputs: tuple[str, ...], doc: str | None, optional: tuple[str, ...] = (),
           prog: str = "textcode") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{prog} {stage}", description=doc)
    src = p.add_argument_group("configuration (either a resolved file, or a domain to resolve now)")
    src.add_argument("--config", help="resolved config JSON written by `python -m textcode.commands.resolve`")
    src.add_argument("--domain", help="domain name (configs/domains/<name>.yaml)")
    src.add_argument("--run", help="named run of this stage (configs/runs/<stage>/<run>.yaml)")
    src.add_argument("--configs", default="configs", help="config folder (default: configs)")
    src.add_argument("--set", action="append", default=[], metavar="[SCOPE:]KEY=VALUE",
                     help="override a setting (a SCOPE other than this stage or stage.run skips it)")
    p.add_argument("--out", required=True, help="output folder (written as <out>.partial, renamed when complete)")
    for name in inputs:
        p.add_argument(f"--{name}", required=True, help=f"input folder: {name} (must hold a manifest.json)")
    for name in optional:
        p.add_argument(f"--{name}", help=f"input folder: {name} (when the config needs it)")
    return p


def resolved_config(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    """The stage's resolved config: read from --config, or resolved now from --domain/--set."""
    if args.config:
        if args.set:
            raise ConfigError("--set cannot be combined with --config (resolve again instead)")
        cfg = artifacts.read_json(args.config)
        if cfg.get("stage") != stage:
            raise ConfigError(f"{args.config}: resolved for stage {cfg.get('stage')!r}, not {stage!r}")
        return cfg
    job = f"{stage}.{args.run}" if args.run else stage
    layers = layers_for(args.configs, job, args.domain)
    layers.append(overrides_for(args.set, job, require_scope=False))
    _, sections = resolve(layers, job)
    return {"stage": stage, "run": args.run or "", "domain": args.domain or "", **sections}


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which SIMD build loaded is not news


def input_path(args: argparse.Namespace, name: str, why: str = "") -> Path:
    """A declared input folder, checked to be a finished stage output whose files all match its manifest
    (sizes, and SHA-256 unless TEXTCODE_VERIFY=sizes; once per file per process), before any work starts."""
    value = getattr(args, name.replace("-", "_"))
    if value is None:
        raise ConfigError(f"--{name} is required{' ' + why if why else ''}")
    path = Path(value)
    artifacts.verify_folder(path)  # fail now if the upstream stage never finished or a file changed since
    return path
