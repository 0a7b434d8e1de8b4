"""Command `train-generator`: train one item-window autoencoder of the RSVQ-AE family.

Which family member (RSVQ-AE, an ablation, plain AE, VAE, VQ-VAE) is decided by the
`generator.model` settings; named presets are configs/runs/train-generator/*.yaml. Windows and
the held-out split come from `windows` and `seed`; the test side is never looked at here
(checkpoints are selected on validation accuracy). Outputs: model.safetensors + model.json,
history.json (per-epoch validation), windows.json (split summary). Resumes after a kill.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.settings import section
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.windows import split_windows
from textcode.gen.config import GeneratorSettings
from textcode.gen.discriminator import SequenceDiscriminator
from textcode.gen.rsvq import SeqAutoencoder, save_autoencoder
from textcode.gen.train import train_autoencoder
from textcode.runtime.seeding import seed_everything

log = logging.getLogger("train-generator")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("train-generator", ("prepared",), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "train-generator")
    win_cfg = section(cfg, "windows", WindowConfig)
    gen = section(cfg, "generator", GeneratorSettings)
    seed_everything(cfg["seed"])  # before any model or parameter is built
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    split = split_windows(domain, win_cfg, cfg["seed"])
    log.info("%s: windows of %d: %s", domain.name, win_cfg.length, split.summary())
    model = SeqAutoencoder(gen.model, domain.n_items, win_cfg.length)
    disc = SequenceDiscriminator(gen.discriminator, gen.model.d_item) if gen.train.adversary else None
    with artifacts.OutputFolder(args.out, "train-generator", cfg, {"prepared": prepared}, resume=True) as out:
        result = train_autoencoder(model, disc, split, gen.train, gen.discriminator, out.path("ckpt"), cfg["seed"])
        save_autoencoder(out, model)
        artifacts.write_json(out.path("history.json"), dataclasses.asdict(result))
        artifacts.write_json(out.path("windows.json"), split.summary())
        shutil.rmtree(out.path("ckpt"))
        best = result.history[result.best_epoch - 1]["valid"]
        out.summary.update(domain=domain.name, length=win_cfg.length, n_items=domain.n_items,
                           parameters=sum(p.numel() for p in model.parameters()),
                           can_sample=gen.model.can_sample, quantized_levels=list(gen.model.quantized_levels),
                           best_epoch=result.best_epoch, valid_accuracy=best["accuracy"], valid_ce=best["ce"],
                           steps=result.steps, train_seconds=round(result.wall_s, 1), stopped=result.stopped,
                           train_windows=len(split.train))
    log.info("%s: valid accuracy %.4f (epoch %d, %s) -> %s", domain.name, best["accuracy"], result.best_epoch,
             result.stopped, args.out)
    return 0

