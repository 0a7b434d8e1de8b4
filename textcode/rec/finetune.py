"""Fine-tuning a sequence recommender on one domain (and training the baselines from scratch).

VQ-Rec transfer, as published and done properly:
1. point the pretrained model at the target domain's own codes (its own OPQ codec);
2. learn, per sub-space, a permutation of the pretrained code-embedding rows by Gumbel-Sinkhorn
   with everything else frozen, then harden it to a true permutation (Hungarian) and apply it;
3. train the code embeddings (and, by `train_scope`, more) with cross-entropy over all items,
   early-stopped on validation NDCG@10.
A fused model (codes + projected text, `FusedItemEmbedding`) transfers the same way: its text
projection comes along with the code tables, stays frozen in step 2 (the permutation mixes the code
tables only) and belongs to the item embedding that step 3 trains (`train_scope: codes` = code tables
and text projection; `codes_norm` adds the input LayerNorm). A pre-trained text model (`TextItemEmbedding`,
UniSRec-style) has no codes: it takes the domain's text vectors and goes straight to step 3.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from textcode.core.config import ConfigError
from textcode.data.batching import iterate
from textcode.data.split import EvalSet
from textcode.data.windows import Windows
from textcode.rec import sasrec
from textcode.rec.config import FinetuneConfig, SASRecConfig
from textcode.rec.item_embedding import (
    ITEM_EMBEDDINGS,
    CodeItemEmbedding,
    DomainInputs,
    embedding_class,
)
from textcode.rec.objectives import NextItemCE, PermutedNextItemCE
from textcode.rec.sasrec import SequenceEncoder
from textcode.rec.sinkhorn import GumbelSinkhornPermutation
from textcode.runtime import distributed as dist
from textcode.runtime.memory import release_free_memory
from textcode.training.config import TrainConfig
from textcode.training.loop import fit

log = logging.getLogger(__name__)

# fields that define the architecture: a pretrained model fixes them
ARCHITECTURE = ("n_layers", "n_heads", "hidden", "ffn", "max_len", "layer_norm_eps")


def build_model(model_cfg: SASRecConfig, ft: FinetuneConfig, n_items: int, inputs: DomainInputs,
                pretrained: tuple[Mapping, Mapping] | None) -> SequenceEncoder:
    """A model for the target domain, from a pretrained checkpoint (meta, tensors) or from scratch."""
    kind = item_embedding_kind(ft)
    if model_cfg.id_embedding and ft.item_embedding == "id":
        raise ConfigError("model.id_embedding: the items are ID embeddings already (finetune.item_embedding: id)")
    if ft.init == "pretrained":
        if pretrained is None:
            raise ConfigError("finetune.init is 'pretrained' but no pretrained model was given")
        if not hasattr(kind, "retarget"):
            transferable = ", ".join(k for k, c in ITEM_EMBEDDINGS.items() if hasattr(c, "retarget"))
            raise ConfigError(f"finetune.item_embedding: {ft.item_embedding!r} item embeddings do not transfer from a "
                              f"pretrained model (those that do: {transferable}); use finetune.init: scratch")
        meta, tensors = pretrained
        made_as = meta["item_embedding"]["kind"]
        if made_as != ft.item_embedding:
            raise ConfigError(f"finetune.item_embedding: the run asks for {ft.item_embedding!r} item embeddings but the "
                              f"pretrained model ({ft.pretrained}) was pre-trained with {made_as!r} ones")
        model = sasrec.build(meta, tensors)
        if model.id_embedding is not None:
            raise ConfigError(f"finetune.pretrained: {ft.pretrained} has ID embeddings of the items it was trained "
                              "on, which do not transfer; start from a model pre-trained without them")
        base = model.cfg
        diff = [f for f in ARCHITECTURE if getattr(base, f) != getattr(model_cfg, f)]
        if diff:
            raise ConfigError(f"model.{diff[0]}: run asks for {getattr(model_cfg, diff[0])!r} but the pretrained "
                              f"model has {getattr(base, diff[0])!r}")
        model.cfg = model_cfg  # dropout/temperature/history term may differ from pre-training
        _set_dropout(model, model_cfg.dropout)
        if model_cfg.history_term == "learned":
            model.add_history_term()
        _check_inputs(ft, kind, inputs)
        if isinstance(model.items, CodeItemEmbedding) and inputs.n_codes != model.items.n_codes:
            raise ConfigError(f"codes.n_centroids: the domain has {inputs.n_codes} codes per sub-space, "
                              f"the pretrained model {model.items.n_codes}; fine-tune from scratch "
                              "(finetune.init=scratch) or give the domain more items")
        if "text" in kind.reads and inputs.text.shape[1] != model.items.text_dim:
            raise ConfigError(f"encode.model: the domain's text vectors have {inputs.text.shape[1]} dimensions, the "
                              f"pretrained model's text projection takes {model.items.text_dim}; encode the domain "
                              "with the encoder the model was pre-trained with")
        model.items.retarget(inputs)
        if model_cfg.id_embedding:  # after retarget: one row per item of this domain
            model.add_id_embedding()
        return model
    _check_inputs(ft, kind, inputs)
    return SequenceEncoder(model_cfg, kind.for_domain(n_items, model_cfg.hidden, inputs))


def _check_inputs(ft: FinetuneConfig, kind: type[nn.Module], inputs: DomainInputs) -> None:
    """Every domain artifact the kind is built from (`reads`) was given."""
    missing = [name for name in kind.reads if getattr(inputs, name) is None]
    if missing:
        raise ConfigError(f"finetune.item_embedding: {ft.item_embedding!r} is built from the domain's "
                          f"{' and '.join(kind.reads)}; {' and '.join(missing)} not given")


def item_embedding_kind(ft: FinetuneConfig) -> type[nn.Module]:
    """The registered item-embedding class that `finetune.item_embedding` names."""
    try:
        return embedding_class(ft.item_embedding, "finetune.item_embedding")
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None


def _set_dropout(model: nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
        elif isinstance(m, nn.MultiheadAttention):
            m.dropout = p


def trainable(model: SequenceEncoder, scope: str) -> list[nn.Parameter]:
    """Freeze everything outside `scope` and return the parameters to train.

    "codes": the item-embedding module's parameters (the code tables; for a fused model the text projection's
    bias and matrix too), and the domain's own history term and ID embeddings where the model has them;
    "codes_norm": those and the input LayerNorm; "all": everything."""
    for p in model.parameters():
        p.requires_grad_(False)
    if scope == "all":
        chosen = list(model.parameters())
    else:
        chosen = list(model.items.parameters())
        if scope == "codes_norm":
            chosen += list(model.norm.parameters())
        if model.history_weight is not None:  # the domain's own, as its code embeddings
            chosen.append(model.history_weight)
        if model.id_embedding is not None:
            chosen += list(model.id_embedding.parameters())
    for p in chosen:
        p.requires_grad_(True)
    return chosen


def learn_permutation(model: SequenceEncoder, windows: Windows, ft: FinetuneConfig, train_cfg: TrainConfig,
                      d: dist.Dist, ckpt_dir: Path | None, seed: int) -> dict:
    """Phase 1: Gumbel-Sinkhorn permutations of the code tables, model frozen; applies the result.

    `seed` (the run's top-level seed) orders the batches and seeds the loop; the Sinkhorn logits are drawn
    here from torch's default generator, which the command seeded before building anything."""
    items = model.items
    if not isinstance(items, CodeItemEmbedding):  # code or fused (whose text part stays as it is here)
        raise ConfigError("permutation learning needs code (or fused) item embeddings")
    for p in model.parameters():
        p.requires_grad_(False)
    permuter = GumbelSinkhornPermutation(items.n_subspaces, items.n_codes, ft.sinkhorn_tau, ft.sinkhorn_iters,
                                         ft.permutation_init_identity, ft.sinkhorn_tau_final).to(items.table.device)
    objective = PermutedNextItemCE(model, permuter)
    cfg = dataclasses.replace(train_cfg, epochs=ft.permutation_epochs, lr=ft.permutation_lr, patience=0, max_minutes=0.0,
                              batch_size=ft.permutation_batch_size)

    def batches(epoch: int):
        permuter.anneal((epoch - 1) / max(1, cfg.epochs - 1))
        return iterate(windows, cfg.batch_size, seed, epoch, d.rank, d.world, cfg.max_batch_tokens)

    result = fit(objective, cfg, batches, d, seed=seed, ckpt_dir=ckpt_dir, desc="permutation",
                 params=permuter.parameters())
    perm = permuter.hard()  # (D, M)
    bijective = all(len(torch.unique(p)) == items.n_codes for p in perm)
    if not bijective:  # linear_sum_assignment always returns one; this guards the contract
        raise RuntimeError("hardened permutation is not a bijection")
    items.apply_permutation(perm)
    identity = float((perm == torch.arange(items.n_codes)).float().mean())
    log.info("permutation: %d epochs, %.1f%% of codes kept their row", result.epochs_run, 100 * identity)
    return {"epochs": result.epochs_run, "wall_s": result.wall_s, "history": result.history,
            "fixed_points": identity, "bijective": bijective}


def train_model(model: SequenceEncoder, windows: Windows, valid: EvalSet, ft: FinetuneConfig, train_cfg: TrainConfig,
                d: dist.Dist, ckpt_dir: Path | None, seed: int, max_minutes: float | None = None) -> dict:
    """Phase 2 (or scratch training): cross-entropy over all items, early stopping on valid NDCG@10."""
    from textcode.eval.evaluation import evaluate

    scope = "all" if ft.init == "scratch" else ft.train_scope
    params = trainable(model, scope)
    cfg = train_cfg if max_minutes is None else dataclasses.replace(train_cfg, max_minutes=max_minutes)

    def validate() -> dict[str, float]:
        release_free_memory()  # what the epoch's steps freed, before the evaluation allocates its own
        return {"ndcg@10": evaluate(model, valid, ks=(10,), batch_size=ft.eval_batch_size).means()[valid.selection]["ndcg@10"]}

    def batches(epoch: int):
        return iterate(windows, cfg.batch_size, seed, epoch, d.rank, d.world, cfg.max_batch_tokens)

    result = fit(NextItemCE(model), cfg, batches, d, seed=seed, validate=validate, monitor="ndcg@10", ckpt_dir=ckpt_dir,
                 desc="finetune", params=params)
    return {"epochs": result.epochs_run, "best_epoch": result.best_epoch, "best_valid_ndcg@10": result.best_metric,
            "wall_s": result.wall_s, "stopped": result.stopped, "history": result.history, "train_scope": scope,
            "trainable_parameters": int(sum(p.numel() for p in params)),
            "precision": result.precision, "precision_reason": result.precision_reason}


def run(model: SequenceEncoder, windows: Windows, valid: EvalSet, ft: FinetuneConfig, train_cfg: TrainConfig,
        d: dist.Dist, work: Path | None, seed: int) -> dict:
    """Both phases; returns the summary (wall time of the whole fine-tune, epochs of phase 2).

    `seed`: the run's top-level seed (batch orders, the loop's generators).

    Wall times come from the training loop, which carries them across a kill and resume.
    """
    if ft.zero_shot:
        if ft.init != "pretrained" or ft.permutation:
            raise ConfigError("finetune.zero_shot evaluates a pre-trained model untouched: it needs finetune.init: "
                              f"pretrained and finetune.permutation: false (got init: {ft.init}, "
                              f"permutation: {str(ft.permutation).lower()})")
        log.info("zero-shot: the pre-trained model on the domain's own codes, no permutation and no training")
        return {"epochs": 0, "best_epoch": 0, "best_valid_ndcg@10": None, "wall_s": 0.0, "train_wall_s": 0.0,
                "stopped": "zero_shot", "history": [], "train_scope": "none", "trainable_parameters": 0}
    summary: dict = {}
    perm_s = 0.0
    if ft.permutation and ft.init == "pretrained":
        summary["permutation"] = learn_permutation(model, windows, ft, train_cfg, d,
                                                   None if work is None else work / "ckpt_permutation", seed)
        perm_s = summary["permutation"]["wall_s"]
    elif ft.permutation:
        raise ConfigError("finetune.permutation needs finetune.init: pretrained (set permutation: false for scratch runs)")
    budget = None  # phase 2's share of the safety-net budget (0 = none); early stopping and epochs decide otherwise
    if train_cfg.max_minutes and perm_s:
        budget = max(0.1, train_cfg.max_minutes - perm_s / 60)  # phase 2 gets at least 6 s after the permutations
    phase2 = train_model(model, windows, valid, ft, train_cfg, d, None if work is None else work / "ckpt", seed, budget)
    summary.update(phase2)
    summary["train_wall_s"] = perm_s + phase2["wall_s"]
    if model.history_weight is not None:
        summary["history_weight"] = round(model.history_weight.item(), 4)
        log.info("learned history term: %+.3f added to the score of each history item", summary["history_weight"])
    return summary
