"""Command `ship`: package a pre-training run as a model shipped in the project (pretrained/<name>/).

A fresh clone fine-tunes from the shipped folder without the pre-training corpus. It holds the model
(model.json + model.safetensors: the transformer and the code-embedding tables, and for a fused model the
text projection; the corpus items' per-item buffers, their codes and for a fused model their text vectors,
are left out, since a fine-tune points the model at its own domain's items) and a manifest naming what
it was made from: the corpus (domains and their counts), the text encoder, the pre-training config and
its validation figures. Pin the new manifest's SHA-256 in textcode/rec/pretrained.py (SHIPPED), which
fine-tunes check before they start.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.core.config import ConfigError
from textcode.rec.item_embedding import embedding_class

log = logging.getLogger("ship")

MAX_MB = 15.0  # kept in git: beyond this, store the weights in a smaller precision instead


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode ship", description=__doc__)
    p.add_argument("--pretrained", required=True, help="a pre-training run's folder, e.g. artifacts/pretrain/default")
    p.add_argument("--name", required=True, help="the shipped model's name (finetune.pretrained: <name>)")
    p.add_argument("--out", required=True, help="output folder, e.g. pretrained/<name>")
    args = p.parse_args(argv)
    common.setup_logging()
    src = Path(args.pretrained)
    artifacts.verify_folder(src)
    manifest = artifacts.read_manifest(src)
    if manifest.get("stage") != "pretrain":
        raise ConfigError(f"--pretrained {src}: written by stage {manifest.get('stage')!r}, not 'pretrain'")
    meta = model_folder.load_meta(src)
    tensors, _ = artifacts.load_tensors(src / model_folder.WEIGHTS)
    item_kind = meta["config"]["item_embedding"]["kind"]
    n_corpus_items = int(meta["config"]["n_items"])
    for name in embedding_class(item_kind, f"{src / model_folder.META} item_embedding.kind").item_buffers:
        key = f"items.{name}"
        tensors[key] = tensors[key][:0]  # (0, ...): the corpus items are not the user's
    config = {**meta["config"], "n_items": 0}
    size_mb = sum(a.nbytes for a in tensors.values()) / 2**20
    if size_mb > MAX_MB:
        raise ConfigError(f"{src}: {size_mb:.1f} MB of weights in float32, more than the {MAX_MB:g} MB a shipped "
                          "model may take; ship a smaller model")
    corpus = {}
    for key, entry in manifest["inputs"].items():
        domain, _, kind = key.rpartition("/")
        summary = artifacts.read_manifest(entry["path"])["summary"]
        if kind == "prepared":
            corpus[domain] = {k: summary[k] for k in ("users", "items", "interactions")}
        elif kind == "text":
            encoder = artifacts.read_manifest(entry["path"])["config"]["encode"]
    run_summary = manifest["summary"]
    facts = {
        "name": args.name,
        "made_from": {"path": str(src), "run": manifest["config"].get("run"),
                      "manifest_sha256": artifacts.sha256_file(src / artifacts.MANIFEST)},
        "corpus": corpus,
        "item_embedding": item_kind,
        "corpus_items_dropped": n_corpus_items,
        "encoder": encoder,
        "pretrain_config": {k: manifest["config"][k] for k in ("seed", "codes", "model", "train", "pretrain")},
        "validation": {k: run_summary.get(k) for k in ("best_valid_ndcg@10", "best_epoch", "epochs", "stopped",
                                                         "train_wall_s")},
    }
    with artifacts.OutputFolder(args.out, "ship", {"stage": "ship", "name": args.name}, {"pretrained": src}) as out:
        model_folder.save_model(out, meta["kind"], config, tensors)
        out.summary.update(facts, weights_mb=round(size_mb, 2))
    log.info("shipped %s (%.1f MB; corpus %s; valid NDCG@10 %s) -> %s; pin the SHA-256 of %s/manifest.json in "
             "textcode/rec/pretrained.py", args.name, size_mb, ", ".join(corpus), facts["validation"]["best_valid_ndcg@10"],
             args.out, args.out)
    return 0
