"""Command `evaluate-generation`: held-out metrics of one generator (and its samples) -> metrics.json.

Always: reconstruction cross-entropy and token accuracy on the held-out *test* windows (real
positions only), per position, and codebook usage per level and stack depth. With `--samples`:
item-popularity JS divergence, length and repeat statistics, bigram overlap and memorisation of
the generated windows, each beside the same metric for real held-out validation windows (the
floor set by sample size). With `--prior`: the prior's test NLL.
"""
from __future__ import annotations

import logging

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import build
from textcode.core.settings import section
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.windows import split_windows
from textcode.gen.config import GenEvalConfig
from textcode.gen.metrics import (
    codebook_usage,
    reconstruction_summary,
    reference_metrics,
    sequence_metrics,
)
from textcode.gen.prior import load_prior
from textcode.gen.rsvq import load_autoencoder
from textcode.gen.train import CodeData, encode_codes, prior_nll, reconstruct
from textcode.runtime.seeding import seed_everything

log = logging.getLogger("evaluate-generation")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("evaluate-generation", ("prepared", "generator"), __doc__,
                         optional=("samples", "prior")).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "evaluate-generation")
    ev = section(cfg, "gen_eval", GenEvalConfig)
    seed_everything(cfg["seed"])  # before any model is built
    prepared, generator = common.input_path(args, "prepared"), common.input_path(args, "generator")
    gen_manifest = artifacts.read_manifest(generator)
    win_cfg = build(WindowConfig, gen_manifest["config"]["windows"], prefix="windows.")
    domain = Domain.load(prepared)
    split = split_windows(domain, win_cfg, gen_manifest["config"]["seed"])
    model = load_autoencoder(generator)
    inputs = {"prepared": prepared, "generator": generator}

    metrics = {"domain": domain.name, "length": win_cfg.length, "generator": gen_manifest["config"].get("run", ""),
               "model": gen_manifest["config"]["generator"]["model"], "windows": split.summary(),
               "train": {k: gen_manifest["summary"][k] for k in ("best_epoch", "steps", "train_seconds", "stopped",
                                                                  "valid_accuracy", "parameters")}}
    log.info("reconstructing %d test windows", len(split.test))
    metrics["reconstruction"] = reconstruction_summary(reconstruct(model, split.test, ev.batch_size), win_cfg.length)
    if model.cfg.quantized_levels:
        test_codes = encode_codes(model, split.test, ev.batch_size)
        metrics["codebooks"] = codebook_usage(test_codes)
        if args.prior:
            prior_path = common.input_path(args, "prior")
            inputs["prior"] = prior_path
            metrics["prior"] = {"test": prior_nll(load_prior(prior_path), CodeData(split.test.lengths(), test_codes), ev.batch_size)}
    if args.samples:
        samples_path = common.input_path(args, "samples")
        inputs["samples"] = samples_path
        synthetic = Domain.load(samples_path)
        if synthetic.n_items != domain.n_items:
            raise artifacts.ArtifactError(f"{samples_path}: {synthetic.n_items} items, {prepared} has {domain.n_items}")
        seqs = [synthetic.sequence(u) for u in range(synthetic.n_users)]
        log.info("scoring %d generated windows against %d test windows", len(seqs), len(split.test))
        metrics["generated"] = sequence_metrics(seqs, split.test, split.train, domain.n_items)
        metrics["reference_real"] = reference_metrics(split.valid, split.test, split.train, domain.n_items, len(seqs),
                                                      ev.n_reference_draws, cfg["seed"])
        metrics["sampling"] = {k: artifacts.read_manifest(samples_path)["summary"][k] for k in ("sequences_per_s", "sample_seconds")}
    with artifacts.OutputFolder(args.out, "evaluate-generation", cfg, inputs) as out:
        artifacts.write_json(out.path("metrics.json"), metrics)
        rec = metrics["reconstruction"]
        out.summary.update(domain=domain.name, length=win_cfg.length, ce=rec["ce"], accuracy=rec["accuracy"])
        if "generated" in metrics:
            out.summary.update(popularity_js=metrics["generated"]["popularity_js"],
                               reference_popularity_js=metrics["reference_real"]["popularity_js"])
    log.info("%s L=%d: test CE %.4f, accuracy %.4f%s", domain.name, win_cfg.length, rec["ce"], rec["accuracy"],
             f", popularity JS {metrics['generated']['popularity_js']:.4f} (real {metrics['reference_real']['popularity_js']:.4f})"
             if "generated" in metrics else "")
    return 0

