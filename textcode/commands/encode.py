"""Command `encode`: item texts -> float32 embeddings (`embeddings.npy`, row i = item i).

Resumable: shards of finished items stay in `<out>.partial/shards/` when the stage is killed,
and a rerun with the same config and texts continues from them.
"""
from __future__ import annotations

import logging
import shutil
import time

import numpy as np
from tqdm import tqdm

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.rec.config import EncodeConfig
from textcode.rec.encoders import build_encoder, encode_texts

log = logging.getLogger("encode")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("encode", ("prepared",), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "encode")
    enc_cfg = section(cfg, "encode", EncodeConfig)
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    if domain.item_text is None:
        log.error("%s: domain %s has no item text to encode", prepared, domain.name)
        return 1
    encoder = build_encoder(enc_cfg)
    log.info("encoder: %s", ", ".join(f"{k}={v}" for k, v in encoder.describe().items()))
    with artifacts.OutputFolder(args.out, "encode", cfg, {"prepared": prepared}, resume=True) as out:
        shard_dir = out.tmp / "shards"
        start = time.perf_counter()
        emb, report = encode_texts(list(domain.item_text), encoder, shard_dir, progress=tqdm)
        wall = time.perf_counter() - start
        if report.loaded_shards:
            log.info("resumed: %d shard(s) loaded from %s, %d computed", report.loaded_shards, shard_dir,
                     report.computed_shards)
        # never write NaN/inf (codes would abort inside faiss); shards of a killed run are part of `emb`
        artifacts.check_embeddings(emb, out.path("embeddings.npy"),
                                   f"; the encoder produced it (or a resumed shard holds it): not written. "
                                   f"Check encode.model / encode.precision; delete {out.tmp} to encode from scratch")
        artifacts.save_npy(out.path("embeddings.npy"), emb)
        shutil.rmtree(shard_dir)
        out.summary.update(
            domain=domain.name, items=domain.n_items, dim=encoder.dim, **encoder.describe(), wall_s=round(wall, 3),
            resumed_shards=report.loaded_shards, computed_shards=report.computed_shards,
            # a resumed run's speed would count items it did not encode
            items_per_s=round(domain.n_items / wall, 2) if not report.loaded_shards else None,
            padding_overhead=round(report.padded_tokens / max(report.tokens, 1) - 1, 4),
            mean_norm=float(np.linalg.norm(emb, axis=1).mean()))
    log.info("%s: %d items x %d dims in %.1f s -> %s", domain.name, domain.n_items, encoder.dim, wall, args.out)
    return 0

