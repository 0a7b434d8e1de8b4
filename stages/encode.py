"""Stage `encode`: item texts -> float32 embeddings (`embeddings.npy`, row i = item i).

Resumable: shards of finished items stay in `<out>.partial/shards/` when the stage is killed,
and a rerun with the same config continues from them.
"""
from __future__ import annotations

import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from pipeline import artifacts
from pipeline.data.domain import Domain
from pipeline.settings import section
from pipeline.text import EncodeConfig, TextEncoder, encode_texts
from stages import common

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
    encoder = TextEncoder(enc_cfg)
    with artifacts.OutputFolder(args.out, "encode", cfg, {"prepared": prepared}, resume=True) as out:
        shard_dir = out.path("shards/x").parent
        done = len(list(shard_dir.glob("shard_*.npy")))
        if done:
            log.info("resuming: %d finished shard(s) found in %s", done, shard_dir)
        start = time.perf_counter()
        emb = encode_texts(list(domain.item_text), encoder, shard_dir, progress=tqdm)
        wall = time.perf_counter() - start
        artifacts.save_npy(out.path("embeddings.npy"), emb)
        for shard in shard_dir.glob("*.npy"):
            shard.unlink()
        shard_dir.rmdir()
        out.summary.update(domain=domain.name, items=domain.n_items, dim=encoder.dim, model=enc_cfg.model,
                           device=encoder.device, wall_s=round(wall, 3), resumed_shards=done,
                           items_per_s=round(domain.n_items / wall, 2) if not done else None,
                           mean_norm=float(np.linalg.norm(emb, axis=1).mean()))
    log.info("%s: %d items x %d dims in %.1f s -> %s", domain.name, domain.n_items, encoder.dim, wall, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
