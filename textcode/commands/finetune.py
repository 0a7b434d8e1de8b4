"""Command `finetune`: train a sequence recommender on one domain, from a pretrained model or from scratch.

Inputs: --prepared (the domain); the domain artifacts its `finetune.item_embedding` kind reads
(textcode.rec.item_embedding: --codes for code, --text for text, both for fused, none for id);
--pretrained (init: pretrained: a pre-training run's folder or a shipped model, textcode.rec.pretrained).
Output: a model folder loadable by
`textcode.core.model_kinds.load_recommender`. Resumes from checkpoints after a kill.
Run with `torchrun --nproc_per_node N -m textcode.commands.finetune ...` for N processes.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.data.windows import cut_from_end
from textcode.rec import sasrec
from textcode.rec.config import FinetuneConfig, SASRecConfig
from textcode.rec.finetune import build_model, item_embedding_kind, run
from textcode.rec.item_embedding import DomainInputs
from textcode.rec.pretrained import check as check_pretrained
from textcode.rec.pretrained import check_encoder, check_held_out
from textcode.runtime import distributed as dist
from textcode.runtime.seeding import seed_everything
from textcode.training.config import TrainConfig

log = logging.getLogger("finetune")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("finetune", ("prepared",), __doc__, optional=("codes", "text", "pretrained")).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "finetune")
    ft = section(cfg, "finetune", FinetuneConfig)
    model_cfg = section(cfg, "model", SASRecConfig)
    train_cfg = section(cfg, "train", TrainConfig)
    seed_everything(cfg["seed"])  # before any model or parameter is built
    d = dist.setup()
    prepared = common.input_path(args, "prepared")
    inputs = {"prepared": prepared}
    domain = Domain.load(prepared)
    split = leave_one_out(domain, selection=cfg["selection"])
    pretrained = None
    arrays: dict[str, object] = {}
    for name in item_embedding_kind(ft).reads:  # in the kind's order: codes, then text
        inputs[name] = common.input_path(args, name, f"for finetune.item_embedding: {ft.item_embedding}")
        arrays.update(_read_input(name, inputs[name]))
    if ft.init == "pretrained":
        inputs["pretrained"] = common.input_path(args, "pretrained", "for finetune.init: pretrained")
        check_pretrained(inputs["pretrained"], ft.pretrained)
        check_held_out(inputs["pretrained"], ft.pretrained, domain.name)
        if "text" in inputs:  # a transferred text projection only fits vectors of its own encoder
            check_encoder(inputs["pretrained"], inputs["text"])
        meta = model_folder.load_meta(inputs["pretrained"])
        tensors, _ = artifacts.load_tensors(inputs["pretrained"] / model_folder.WEIGHTS)
        pretrained = (meta["config"], tensors)
    for name in ("codes", "text"):
        if name in arrays and len(arrays[name]) != domain.n_items:
            raise artifacts.ArtifactError(f"{inputs[name]}: {len(arrays[name])} rows for {domain.n_items} items of {prepared}")
    model = build_model(model_cfg, ft, domain.n_items, DomainInputs(**arrays), pretrained).to(d.device)
    windows = cut_from_end(split.train_offsets, split.train_items, model.cfg.max_len)
    log.info("%s: %d training windows, %d targets, %d items; %s", domain.name, len(windows), windows.n_targets(),
             domain.n_items, cfg.get("run") or "finetune")
    out = artifacts.OutputFolder(args.out, "finetune", cfg, inputs, resume=True)
    if d.is_main:
        out.__enter__()  # creates (or keeps, to resume) <out>.partial; only rank 0 writes
    dist.barrier(d)
    summary = run(model, windows, split.valid, ft, train_cfg, d, out.tmp, cfg["seed"])
    if d.is_main:
        for name in ("ckpt", "ckpt_permutation"):
            shutil.rmtree(out.tmp / name, ignore_errors=True)
        model_folder.save_model(out, "sasrec", sasrec.describe(model),
                              {k: v.detach().cpu() for k, v in model.state_dict().items()})
        out.summary.update(domain=domain.name, run=cfg.get("run", ""), selection=split.valid.selection, **summary)
        out.finish()
        log.info("%s: best valid NDCG@10 %.4f at epoch %d of %d, %.0f s -> %s", domain.name,
                 summary["best_valid_ndcg@10"] or float("nan"), summary["best_epoch"], summary["epochs"],
                 summary["train_wall_s"], args.out)
    dist.cleanup(d)
    return 0


def _read_input(name: str, folder: Path) -> dict[str, Any]:
    """The `DomainInputs` fields of one domain artifact folder ("codes" or "text")."""
    if name == "codes":
        return {"codes": artifacts.load_npy(folder / "codes.npy", mmap=False),
                "n_codes": artifacts.read_manifest(folder)["summary"]["n_centroids"]}
    if name == "text":
        return {"text": artifacts.load_npy(folder / "embeddings.npy", mmap=False)}
    raise ValueError(f"no reader for the domain artifact {name!r} an item embedding reads")
