"""Command `export`: a serving folder for a trained sequence model.

Writes the item vectors (`item_vectors.npy`) and an exact FAISS inner-product index of them
(`items.faiss`), the sequence model (model.json + model.safetensors), the item table and the
domain's codec (so new items can be embedded from their text), and `cold_items.json`: how often
test targets never seen in training are retrieved. Every item of the domain is indexed, those with
no training interactions too: a code model's item vector comes from the item's codes, a fused
model's from its codes and its text vector (both held in the model folder).
Use: `textcode.rec.serving.load_retriever(folder).recommend(histories, k)`.
"""
from __future__ import annotations

import logging

import numpy as np

from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.rec import serving

log = logging.getLogger("export")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("export", ("model", "prepared"), __doc__, optional=("codes",)).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "export")
    model_dir, prepared = common.input_path(args, "model"), common.input_path(args, "prepared")
    inputs = {"model": model_dir, "prepared": prepared}
    if args.codes:  # checked (files and code range) before any work, not after the index is built
        inputs["codes"] = common.input_path(args, "codes")
    model = serving.load_model(model_dir)
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    vectors = serving.item_vectors(model)
    index = serving.build_index(vectors)
    retriever = serving.Retriever(model, index)
    cold = np.setdiff1d(np.arange(domain.n_items), split.training_item_set())
    histories = [split.test.history(i) for i in range(len(split.test))]
    report = serving.cold_item_report(retriever, histories, split.test.targets, cold)
    with artifacts.OutputFolder(args.out, "export", cfg, inputs) as out:
        artifacts.save_npy(out.path(serving.VECTORS), vectors)
        serving.write_index(index, out.path(serving.INDEX))
        # copies are hashed while copying and kept only when they match their manifests
        for name in (model_folder.WEIGHTS, model_folder.META):
            artifacts.copy_verified(model_dir / name, out.path(name))
        artifacts.copy_verified(prepared / "items.parquet", out.path("items.parquet"))
        if args.codes:
            artifacts.copy_verified(inputs["codes"] / "codec.safetensors", out.path("codec.safetensors"))
        artifacts.write_json(out.path("cold_items.json"), report)
        out.summary.update(domain=domain.name, items=int(len(vectors)), dim=int(vectors.shape[1]), **report)
    log.info("%s: %d item vectors indexed; %d cold items, %d test users with a cold target, hit@10 %s -> %s",
             domain.name, len(vectors), report["cold_items"], report["users_with_cold_target"],
             report["cold_target_hit@10"], args.out)
    return 0

