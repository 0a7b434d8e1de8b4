"""Collect per-domain encode and codes statistics into results/codes.json."""
from __future__ import annotations

import argparse
from pathlib import Path

from textcode.core import artifacts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode collect-codes", description=__doc__)
    p.add_argument("--art", default="artifacts")
    p.add_argument("--domains", nargs="+", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    rows = {}
    for name in args.domains:
        text = artifacts.read_manifest(Path(args.art) / name / "text")["summary"]
        codes = artifacts.read_manifest(Path(args.art) / name / "codes")["summary"]
        rows[name] = {
            "items": codes["all"]["items"],
            "encode_items_per_s": text["items_per_s"],
            "encode_threads": text["threads"],  # speeds at different thread counts do not compare
            "encode_precision": text["precision"],
            "opq_train_s": codes["opq_train_s"],
            # the codec's own collisions (each item at its nearest centroids), then what the codes hold
            # after resolving them (codes.resolve_collisions)
            "nearest_distinct_codes": codes["nearest"]["all"]["distinct_codes"],
            "train_items": codes["train_items"],
            "nearest_train_distinct_codes": codes["nearest"]["train"]["distinct_codes"],
            "moved_to_resolve_collisions": codes["moved_to_resolve_collisions"],
            "distinct_codes": codes["all"]["distinct_codes"],
            "recon_error": round(codes["all"]["recon_error"], 5),
            "nearest_recon_error": round(codes["nearest"]["all"]["recon_error"], 5),
            "encoder": text["model"],
            "device": text["device"],
        }
    artifacts.write_json(args.out, rows)
    print(f"wrote {args.out} ({len(rows)} domains)")
    return 0

