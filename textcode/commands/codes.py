"""Command `codes`: OPQ product quantization of item embeddings into uint8 code tuples.

The codec is fitted on the training-split items only (`train_on: strict`) and applied to all
items, including those with no interactions. Outputs: `codes.npy` (n_items, D) uint8,
`codec.safetensors` (rotation, center, centroids as plain arrays), `stats.json`. With
`resolve_collisions` (default) no two items share a tuple (see textcode/rec/opq.py).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.data.split import leave_one_out
from textcode.rec.config import CodesConfig
from textcode.rec.opq import (
    Codec,
    code_stats,
    fit_codec,
    fit_to_domain,
    resolve_collisions,
)

log = logging.getLogger("codes")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("codes", ("prepared", "text"), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "codes")
    codes_cfg = section(cfg, "codes", CodesConfig)
    prepared, text = common.input_path(args, "prepared"), common.input_path(args, "text")
    domain = Domain.load(prepared)
    emb = artifacts.load_npy(text / "embeddings.npy", mmap=False)
    # NaN or huge values would abort inside faiss; load_npy checked them when the manifest says `encode`
    artifacts.check_embeddings(emb, text / "embeddings.npy", f"; rerun encode (delete {text} and make it again)")
    if len(emb) != domain.n_items:
        raise artifacts.ArtifactError(f"{text}: {len(emb)} embeddings for {domain.n_items} items in {prepared}")
    train_items = leave_one_out(domain).training_item_set() if codes_cfg.train_on == "strict" else np.arange(domain.n_items)
    inputs = {"prepared": prepared, "text": text}
    start = time.perf_counter()
    if codes_cfg.reuse_from:
        reuse = Path(codes_cfg.reuse_from)
        inputs["reused_codec"] = reuse
        codec = Codec.load(reuse / "codec.safetensors")
        if codec.dim != emb.shape[1]:
            raise artifacts.ArtifactError(f"{reuse}: codec is for {codec.dim}-d embeddings, ours are {emb.shape[1]}-d")
        log.info("reusing the codec of %s", reuse)
        fitted_to_domain = ""
        fitted_opq = bool(np.abs(codec.rotation - np.eye(codec.dim, dtype=codec.rotation.dtype)).max() > 0)
    else:
        if len(train_items) < 2:
            raise DataError(prepared, f"{len(train_items)} training item(s): a codec needs at least 2 "
                                      f"(codes.train_on={codes_cfg.train_on})")
        fitted_cfg, fitted_to_domain = fit_to_domain(codes_cfg, len(train_items), emb.shape[1])
        fitted_opq = fitted_cfg.opq
        if fitted_to_domain:
            log.warning("codes fitted to the domain: requested %s, fitting %s: %s%s", describe(codes_cfg),
                        describe(fitted_cfg), fitted_to_domain, pretrained_note(codes_cfg, fitted_cfg))
        log.info("fitting %s%s on %d training items (%s)", describe(fitted_cfg), plain_pq_why(codes_cfg, fitted_cfg),
                 len(train_items), codes_cfg.train_on)
        codec = fit_codec(emb[train_items], fitted_cfg, seed=cfg["seed"])
    fit_s = time.perf_counter() - start
    codes = codec.encode(emb)
    # the codec's own collisions, before resolving them (comparable with VQ-Rec's published indexes)
    nearest_stats = {"all": code_stats(codec, emb, codes),
                     "train": code_stats(codec, emb[train_items], codes[train_items])}
    moved = 0
    if codes_cfg.resolve_collisions:
        codes, moved = resolve_collisions(codec, emb, codes)
        log.info("collisions resolved: %d of %d items moved one sub-space to a free tuple", moved, len(codes))
    with artifacts.OutputFolder(args.out, "codes", cfg, inputs) as out:
        artifacts.save_npy(out.path("codes.npy"), codes)
        codec.save(out.path("codec.safetensors"))
        stats = {
            "domain": domain.name,
            "n_subspaces": codec.n_subspaces,
            "n_centroids_requested": codes_cfg.n_centroids,
            "n_centroids": codec.n_centroids,
            "opq_requested": codes_cfg.opq,
            "opq": fitted_opq,
            "fitted_to_domain": fitted_to_domain,  # why the codec differs from the request; "" when it does not
            "dim": codec.dim,
            "opq_train_s": round(fit_s, 3),
            "train_items": int(len(train_items)),
            "all": code_stats(codec, emb, codes),
            "nearest": nearest_stats,  # every item at its nearest centroids
            "moved_to_resolve_collisions": moved,
            "train": code_stats(codec, emb[train_items], codes[train_items]),
        }
        artifacts.write_json(out.path("stats.json"), stats)
        out.summary.update(stats)
    log.info("%s: %d distinct codes for %d training items, %d for all %d items; relative recon error %.4f",
             domain.name, stats["train"]["distinct_codes"], len(train_items), stats["all"]["distinct_codes"],
             domain.n_items, stats["all"]["recon_error"])
    return 0


def describe(cfg: CodesConfig) -> str:
    """`OPQ32 x 256` or `PQ32 x 128`: the codec kind, sub-spaces and centroids per sub-space."""
    return f"{'OPQ' if cfg.opq else 'PQ'}{cfg.n_subspaces} x {cfg.n_centroids}"


def plain_pq_why(requested: CodesConfig, fitted: CodesConfig) -> str:
    """Why a codec is plain PQ, for the log line that names it ("" for OPQ)."""
    if fitted.opq:
        return ""
    if not requested.opq:
        return " (plain PQ: codes.opq is false)"
    return " (plain PQ: fewer training items than embedding dimensions, too few for OPQ's rotation)"


def pretrained_note(requested: CodesConfig, fitted: CodesConfig) -> str:
    """What fewer centroids than requested mean downstream."""
    if fitted.n_centroids == requested.n_centroids:
        return ""
    return (f". A model pretrained with {requested.n_centroids} codes per sub-space cannot be fine-tuned on these "
            "codes: fine-tune from scratch (finetune.init=scratch) or add items to the domain")
