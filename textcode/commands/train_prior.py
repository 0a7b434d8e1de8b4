"""Command `train-prior`: fit the autoregressive code prior of a trained RSVQ-AE / VQ-VAE.

The prior learns the codes (and lengths) the generator's encoder assigns to the training
windows and is selected on the validation windows' NLL. Windows, split and seed are read from
the generator's manifest, so the two can never disagree. Outputs: model.safetensors +
model.json, history.json. Resumes after a kill.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil

import torch

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import build
from textcode.core.settings import section
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.windows import split_windows
from textcode.gen.config import PriorSettings
from textcode.gen.prior import CodePrior, SlotLayout, save_prior
from textcode.gen.rsvq import load_autoencoder
from textcode.gen.train import CodeData, encode_codes, prior_nll, train_prior
from textcode.runtime.seeding import seed_everything

log = logging.getLogger("train-prior")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("train-prior", ("prepared", "generator"), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "train-prior")
    prior_cfg = section(cfg, "prior", PriorSettings)
    seed_everything(cfg["seed"])  # before any model or parameter is built
    prepared, generator = common.input_path(args, "prepared"), common.input_path(args, "generator")
    gen_manifest = artifacts.read_manifest(generator)
    model = load_autoencoder(generator)
    if not model.cfg.can_sample or model.cfg.bottleneck != "vq":
        raise artifacts.ArtifactError(f"{generator}: this generator has no discrete latents to fit a prior on "
                                      f"(bottleneck={model.cfg.bottleneck}, skips={model.cfg.skips})")
    win_cfg = build(WindowConfig, gen_manifest["config"]["windows"], prefix="windows.")
    seed = gen_manifest["config"]["seed"]
    domain = Domain.load(prepared)
    split = split_windows(domain, win_cfg, seed)
    eval_bs = prior_cfg.train.eval_batch_size
    data = {side: CodeData(getattr(split, side).lengths(), encode_codes(model, getattr(split, side), eval_bs))
            for side in ("train", "valid")}
    q = model.cfg.quantizer
    prior = CodePrior(prior_cfg.model, SlotLayout(win_cfg.length, model.cfg.quantized_levels), q.n_codebooks, q.codebook_size)
    prior.set_length_distribution(torch.from_numpy(split.train.lengths()))
    log.info("prior over %d slots x %d codes (+ length), %d training windows", prior.layout.max_slots, q.n_codebooks,
             len(split.train))
    with artifacts.OutputFolder(args.out, "train-prior", cfg, {"prepared": prepared, "generator": generator},
                                resume=True) as out:
        result = train_prior(prior, data["train"], data["valid"], prior_cfg.train, out.path("ckpt"), cfg["seed"])
        save_prior(out, prior)
        artifacts.write_json(out.path("history.json"), dataclasses.asdict(result))
        shutil.rmtree(out.path("ckpt"))
        valid = prior_nll(prior, data["valid"], eval_bs)
        out.summary.update(domain=domain.name, length=win_cfg.length, parameters=sum(p.numel() for p in prior.parameters()),
                           slots=prior.layout.max_slots, best_epoch=result.best_epoch, steps=result.steps,
                           train_seconds=round(result.wall_s, 1), stopped=result.stopped,
                           valid_nll_per_window=valid["nll_per_window"], valid_nll_per_token=valid["nll_per_token"])
    log.info("%s: prior valid NLL %.3f nats/window (%s) -> %s", domain.name, valid["nll_per_window"], result.stopped, args.out)
    return 0

