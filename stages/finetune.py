"""Stage `finetune`: train a sequence recommender on one domain, from a pretrained model or from scratch.

Inputs: --prepared (the domain), --codes (code item embeddings), --text (text-only
baseline), --pretrained (init: pretrained). Output: a model folder loadable by
`pipeline.models.checkpoint.load_recommender`. Resumes from checkpoints after a kill.
Run with `torchrun --nproc_per_node N -m stages.finetune ...` for N processes.
"""
from __future__ import annotations

import logging
import shutil
import sys

from pipeline import artifacts, dist
from pipeline.data.batching import make_windows
from pipeline.data.domain import Domain
from pipeline.data.split import leave_one_out
from pipeline.finetune import FinetuneConfig, build_model, run
from pipeline.models import checkpoint, sasrec
from pipeline.models.sasrec import SASRecConfig
from pipeline.settings import section
from pipeline.train import TrainConfig
from stages import common

log = logging.getLogger("finetune")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("finetune", ("prepared",), __doc__, optional=("codes", "text", "pretrained")).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "finetune")
    ft = section(cfg, "finetune", FinetuneConfig)
    model_cfg = section(cfg, "model", SASRecConfig)
    train_cfg = section(cfg, "train", TrainConfig)
    d = dist.setup()
    prepared = common.input_path(args, "prepared")
    inputs = {"prepared": prepared}
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    codes = text = pretrained = None
    n_codes = 0
    if ft.item_embedding == "code":
        inputs["codes"] = common.input_path(args, "codes", "for code item embeddings")
        codes = artifacts.load_npy(inputs["codes"] / "codes.npy", mmap=False)
        n_codes = artifacts.read_manifest(inputs["codes"])["summary"]["n_centroids"]
    if ft.item_embedding == "text":
        inputs["text"] = common.input_path(args, "text", "for text item embeddings")
        text = artifacts.load_npy(inputs["text"] / "embeddings.npy", mmap=False)
    if ft.init == "pretrained":
        inputs["pretrained"] = common.input_path(args, "pretrained", "for finetune.init: pretrained")
        meta = checkpoint.load_meta(inputs["pretrained"])
        tensors, _ = artifacts.load_tensors(inputs["pretrained"] / checkpoint.WEIGHTS)
        pretrained = (meta["config"], tensors)
    for name, arr in (("codes", codes), ("text", text)):
        if arr is not None and len(arr) != domain.n_items:
            raise artifacts.ArtifactError(f"{inputs[name]}: {len(arr)} rows for {domain.n_items} items of {prepared}")
    model = build_model(model_cfg, ft, domain.n_items, codes, n_codes, text, pretrained).to(d.device)
    windows = make_windows(split.train_offsets, split.train_items, model.cfg.max_len)
    log.info("%s: %d training windows, %d targets, %d items; %s", domain.name, len(windows), windows.n_targets(),
             domain.n_items, cfg.get("run") or "finetune")
    out = artifacts.OutputFolder(args.out, "finetune", cfg, inputs, resume=True)
    if d.is_main:
        out.__enter__()  # creates (or keeps, to resume) <out>.partial; only rank 0 writes
    dist.barrier(d)
    summary = run(model, windows, split.valid, ft, train_cfg, d, out.tmp)
    if d.is_main:
        for name in ("ckpt", "ckpt_permutation"):
            shutil.rmtree(out.tmp / name, ignore_errors=True)
        checkpoint.save_model(out, "sasrec", sasrec.describe(model),
                              {k: v.detach().cpu() for k, v in model.state_dict().items()})
        out.summary.update(domain=domain.name, run=cfg.get("run", ""), **summary)
        out.finish()
        log.info("%s: best valid NDCG@10 %.4f at epoch %d of %d, %.0f s -> %s", domain.name,
                 summary["best_valid_ndcg@10"] or float("nan"), summary["best_epoch"], summary["epochs"],
                 summary["train_wall_s"], args.out)
    dist.cleanup(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
