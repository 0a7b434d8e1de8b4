"""Print what the pipeline has produced for some domains: one line per finished stage."""
from __future__ import annotations

import argparse
from pathlib import Path

from textcode.core import artifacts

# stage folder -> the summary fields worth a glance
FIELDS = {
    "prepared": ("users", "items", "interactions", "mean_length"),
    "text": ("items", "dim", "items_per_s", "wall_s"),
    "codes": ("train_items", "opq_train_s"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode show", description=__doc__)
    p.add_argument("--art", default="artifacts")
    p.add_argument("--domains", nargs="+", required=True)
    args = p.parse_args(argv)
    print(f"{'domain':<22} {'stage':<10} summary")
    for name in args.domains:
        for folder, fields in FIELDS.items():
            path = Path(args.art) / name / folder
            if not (path / artifacts.MANIFEST).exists():
                continue
            summary = artifacts.read_manifest(path)["summary"]
            parts = [f"{k}={_fmt(summary[k])}" for k in fields if k in summary]
            if folder == "codes":
                parts.append(f"distinct_codes={summary['all']['distinct_codes']}/{summary['all']['items']}")
                parts.append(f"recon_error={summary['all']['recon_error']:.4f}")
            print(f"{name:<22} {folder:<10} {' '.join(parts)}")
    return 0


def _fmt(v):
    return f"{v:.2f}" if isinstance(v, float) else v

