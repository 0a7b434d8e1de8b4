"""Command `pretrain`: mixed-domain contrastive pre-training of the code-embedding model (VQ-Rec).

Reads `<art>/<domain>/prepared` and `<art>/<domain>/text` for every domain in
`pretrain.domains`, fits one OPQ codec on the union of their training items, and trains the item
embedding `pretrain.item_embedding` names: `code` (VQ-Rec: items are their codes), `fused` (codes
plus a learned projection of each item's text vector, which the model then holds for every corpus item) or
`text` (that projection alone; no codec is fitted).
Output: a model folder (model.json + model.safetensors) with `codes/` (codes.npy,
codec.safetensors, stats.json; not for `text`) and `domains.json` (the global item space).
One code path for 1 or N processes: `torchrun --nproc_per_node N -m textcode.commands.pretrain ...`.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.core.config import ConfigError
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.rec import sasrec
from textcode.rec.config import CodesConfig, PretrainConfig, SASRecConfig
from textcode.rec.item_embedding import DomainInputs, embedding_class
from textcode.rec.opq import code_stats, fit_codec, resolve_collisions
from textcode.rec.pretrain import build_corpus, pretrain
from textcode.rec.sasrec import SequenceEncoder
from textcode.runtime import distributed as dist
from textcode.runtime.seeding import seed_everything
from textcode.training.config import TrainConfig

log = logging.getLogger("pretrain")


def main(argv: list[str] | None = None) -> int:
    p = common.parser("pretrain", (), __doc__)
    p.add_argument("--art", default="artifacts", help="artifact root holding <domain>/prepared and <domain>/text")
    args = p.parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "pretrain")
    pre = section(cfg, "pretrain", PretrainConfig)
    codes_cfg = section(cfg, "codes", CodesConfig)
    model_cfg = section(cfg, "model", SASRecConfig)
    if model_cfg.id_embedding:  # a table of one corpus's item ids is what never transfers to a new domain
        raise ConfigError("model.id_embedding: item IDs do not transfer; it is a fine-tuning option (pre-train "
                          "without it, fine-tune with it)")
    train_cfg = section(cfg, "train", TrainConfig)
    if pre.item_embedding == "text" and pre.rho > 0:
        raise ConfigError(f"pretrain.rho: {pre.rho} asks for semi-synthetic negatives, which resample an item's "
                          "codes; a text model has none (set pretrain.rho: 0)")
    if not pre.domains:
        raise ConfigError("pretrain.domains is empty")
    seed_everything(cfg["seed"])  # before any model or parameter is built
    d = dist.setup()
    inputs, domains, embeddings = {}, [], []
    for name in pre.domains:
        for kind in ("prepared", "text"):
            inputs[f"{name}/{kind}"] = Path(args.art) / name / kind
            artifacts.read_manifest(inputs[f"{name}/{kind}"])
        dom = Domain.load(inputs[f"{name}/prepared"], name)
        emb = artifacts.load_npy(inputs[f"{name}/text"] / "embeddings.npy")
        if len(emb) != dom.n_items:
            raise artifacts.ArtifactError(f"{inputs[f'{name}/text']}: {len(emb)} embeddings for {dom.n_items} items")
        domains.append(dom)
        embeddings.append(emb)
    corpus = build_corpus(domains, model_cfg.max_len, pre.valid_users, cfg["seed"])
    log.info("corpus: %d domains, %d items, %d windows, %d targets", len(domains), corpus.n_items,
             len(corpus.windows), corpus.windows.n_targets())

    out = artifacts.OutputFolder(args.out, "pretrain", cfg, inputs, resume=True)
    kind = embedding_class(pre.item_embedding, "pretrain.item_embedding")
    with_codes = "codes" in kind.reads  # a text model has none: no codec
    # every corpus item's text vector: the codec is fitted on it (rank 0), and a fused or text model holds it
    # (every rank)
    text = np.concatenate(embeddings) if (d.is_main and with_codes) or "text" in kind.reads else None
    codes, stats = None, None
    if d.is_main:
        out.__enter__()  # creates (or keeps, to resume) <out>.partial; only rank 0 writes
        if with_codes:
            codes, stats = _codes(out.tmp / "codes", text, corpus.train_items, codes_cfg, cfg["seed"])
    codes = dist.broadcast_object(d, codes)
    del embeddings
    items = kind.for_domain(corpus.n_items, model_cfg.hidden, DomainInputs(
        codes=codes, n_codes=codes_cfg.n_centroids, text=text if "text" in kind.reads else None))
    del text  # a fused model keeps its own float32 copy (a view when the vectors are float32 already)
    model = SequenceEncoder(model_cfg, items).to(d.device)
    summary = pretrain(model, corpus, pre, train_cfg, d, out.tmp, cfg["seed"])
    if d.is_main:
        shutil.rmtree(out.tmp / "ckpt", ignore_errors=True)
        model_folder.save_model(out, "sasrec", sasrec.describe(model),
                              {k: v.detach().cpu() for k, v in model.state_dict().items()})
        artifacts.write_json(out.path("domains.json"), {"names": list(corpus.names),
                                                         "item_offsets": corpus.item_offsets.tolist()})
        out.summary.update(codes=stats, item_embedding=pre.item_embedding, rho=pre.rho, **summary)
        out.finish()
        log.info("pretrained %s item embeddings %d epochs (best %d, valid NDCG@10 %.4f), %.0f s, %.0f sequences/s -> %s",
                 pre.item_embedding, summary["epochs"], summary["best_epoch"], summary["best_valid_ndcg@10"] or float("nan"),
                 summary["train_wall_s"], summary["sequences_per_s"] or 0, args.out)
    dist.cleanup(d)
    return 0


def _codes(folder: Path, emb: np.ndarray, train_items: np.ndarray, cfg: CodesConfig, seed: int):
    """Fit (or, when resuming, reload) the pre-training codec and the codes of every item."""
    if (folder / "stats.json").exists():
        log.info("reusing the codes in %s", folder)
        return artifacts.load_npy(folder / "codes.npy", mmap=False), artifacts.read_json(folder / "stats.json")
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    codec = fit_codec(emb[train_items], cfg, seed)
    fit_s = time.perf_counter() - start
    codes = codec.encode(emb)
    stats = {"opq_train_s": round(fit_s, 3), "train_items": int(len(train_items)), "nearest": code_stats(codec, emb, codes)}
    if cfg.resolve_collisions:
        codes, stats["moved_to_resolve_collisions"] = resolve_collisions(codec, emb, codes)
    stats["all"] = code_stats(codec, emb, codes)
    codec.save(folder / "codec.safetensors")
    artifacts.save_npy(folder / "codes.npy", codes)
    artifacts.write_json(folder / "stats.json", stats)  # written last: marks the folder complete
    log.info("codec fitted on %d items in %.0f s: %d distinct codes for %d items", len(train_items), fit_s,
             stats["all"]["distinct_codes"], len(codes))
    return codes, stats

