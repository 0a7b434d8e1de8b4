"""Reduce an `encode` output folder to fewer dimensions by PCA, for probing how encoder width matters.

The PCA is fitted on the training-split items only (like the codec), and the result is an ordinary
`encode` folder that stages `codes` and `finetune` accept:

    python scripts/reduce_text.py --prepared artifacts/Scientific/prepared --text artifacts/Scientific/text \\
        --dim 192 --out artifacts/Scientific/probe/text192
    python -m textcode.commands.codes --domain Scientific --prepared artifacts/Scientific/prepared \\
        --text artifacts/Scientific/probe/text192 --out artifacts/Scientific/probe/codes192
    python -m textcode.commands.finetune --domain Scientific --run vqrec_scratch --set train.max_minutes=0 \\
        --prepared artifacts/Scientific/prepared --codes artifacts/Scientific/probe/codes192 \\
        --out artifacts/Scientific/probe/scratch192
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from textcode.core import artifacts
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out


def pca_reduce(emb: np.ndarray, fit_rows: np.ndarray, dim: int) -> tuple[np.ndarray, float]:
    """(N, d) -> (N, dim) float32 projections on the top `dim` principal axes of `emb[fit_rows]`, and the
    share of those rows' variance the axes keep."""
    if not 0 < dim <= emb.shape[1]:
        raise ValueError(f"--dim must be in 1..{emb.shape[1]}, got {dim}")
    x = emb.astype(np.float64)
    mean = x[fit_rows].mean(0)
    _, s, vt = np.linalg.svd(x[fit_rows] - mean, full_matrices=False)
    kept = float((s[:dim] ** 2).sum() / (s ** 2).sum())
    return ((x - mean) @ vt[:dim].T).astype(np.float32), kept


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepared", required=True, help="the domain's prepare folder (for the training split)")
    p.add_argument("--text", required=True, help="an encode folder (embeddings.npy, manifest.json)")
    p.add_argument("--dim", type=int, required=True, help="dimensions to keep")
    p.add_argument("--out", required=True, help="output encode folder")
    args = p.parse_args(argv)
    manifest = artifacts.read_manifest(args.text)
    emb = artifacts.load_npy(Path(args.text) / "embeddings.npy", mmap=False)
    domain = Domain.load(args.prepared)
    train = np.asarray(sorted(leave_one_out(domain).training_item_set()))
    reduced, kept = pca_reduce(emb, train, args.dim)
    config = dict(manifest["config"], run=f"pca{args.dim}")
    with artifacts.OutputFolder(args.out, "encode", config, {"prepared": args.prepared, "text": args.text}) as out:
        artifacts.save_npy(out.path("embeddings.npy"), reduced)
        out.summary.update({"domain": domain.name, "items": len(reduced), "dim": args.dim,
                            "pca_of": str(args.text), "variance_kept": kept})
    print(f"{args.text} -> {args.out}: {emb.shape[1]} -> {args.dim} dimensions, {kept:.1%} of the training items' variance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
