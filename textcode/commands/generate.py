"""Command `generate`: sample synthetic item windows from a trained generator, as a dataset.

RSVQ-AE / VQ-VAE need `--prior` (codes and lengths come from it); a VAE samples N(0, I) with
lengths drawn from its training windows. The output is a `prepared`-style folder that
`Domain.load` reads (domain `<source domain>-synthetic`, the source's item table, one user per
generated window), so any stage can train on it.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import build
from textcode.core.settings import section
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.windows import split_windows
from textcode.gen.config import GenerateConfig
from textcode.gen.prior import load_prior
from textcode.gen.rsvq import load_autoencoder
from textcode.gen.sampling import (
    sample_from_gaussian,
    sample_from_prior,
    synthetic_domain,
)
from textcode.runtime.seeding import seed_everything

log = logging.getLogger("generate")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("generate", ("prepared", "generator"), __doc__, optional=("prior",)).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "generate")
    gen_cfg = section(cfg, "generate", GenerateConfig)
    seed_everything(cfg["seed"])  # sampling draws from its own generators; this covers the rest
    prepared, generator = common.input_path(args, "prepared"), common.input_path(args, "generator")
    model = load_autoencoder(generator)
    gen_manifest = artifacts.read_manifest(generator)
    win_cfg = build(WindowConfig, gen_manifest["config"]["windows"], prefix="windows.")
    domain = Domain.load(prepared)
    split = split_windows(domain, win_cfg, gen_manifest["config"]["seed"])
    n = gen_cfg.n_sequences or len(split.test)
    inputs = {"prepared": prepared, "generator": generator}
    start = time.perf_counter()
    if model.cfg.bottleneck == "gauss":
        seqs = sample_from_gaussian(model, split.train.lengths(), n, gen_cfg, cfg["seed"])
    else:
        prior_path = common.input_path(args, "prior", "to sample an autoencoder with discrete codes")
        inputs["prior"] = prior_path
        seqs = sample_from_prior(model, load_prior(prior_path), n, gen_cfg, cfg["seed"])
    seconds = time.perf_counter() - start
    name = f"{domain.name}-synthetic"
    with artifacts.OutputFolder(args.out, "generate", cfg, inputs) as out:
        synthetic_domain(seqs, domain, name).save(out)
        lengths = np.array([len(s) for s in seqs])
        out.summary.update(domain=name, source_domain=domain.name, users=len(seqs), items=domain.n_items,
                           interactions=int(lengths.sum()), mean_length=float(lengths.mean()), window_length=win_cfg.length,
                           sample_seconds=round(seconds, 2), sequences_per_s=round(len(seqs) / seconds, 1))
    log.info("%s: %d windows (mean length %.1f) in %.1f s -> %s", name, len(seqs), lengths.mean(), seconds, args.out)
    return 0

