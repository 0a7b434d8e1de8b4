"""Mixed-domain contrastive pre-training of a code-embedding sequence model (VQ-Rec).

Several domains are merged into one global item space (domain d's items are shifted by its
offset); one OPQ codec is fitted on the union of their training items (as VQ-Rec fits one
index on its merged pre-training corpus) and gives every item its codes. Batches are drawn
from the merged training windows, so in-batch negatives mix domains.

The item embedding is a code one (VQ-Rec) or a fused one (codes + a learned projection of the
item's frozen text vector, `FusedItemEmbedding`); the objective (`Contrastive`) takes either, and
its semi-synthetic negative for a fused item keeps the item's own text part. A text one (that projection
alone, UniSRec-style, `TextItemEmbedding`) needs no codec and trains without semi-synthetic negatives.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from textcode.data.batching import batch_order, iterate
from textcode.data.domain import Domain
from textcode.data.split import EvalSet, leave_one_out
from textcode.data.windows import Windows, concat_windows, cut_from_end
from textcode.rec.config import PretrainConfig
from textcode.rec.objectives import Contrastive
from textcode.rec.sasrec import SequenceEncoder
from textcode.runtime import distributed as dist
from textcode.runtime.memory import release_free_memory
from textcode.training.config import TrainConfig
from textcode.training.loop import fit

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Corpus:
    names: tuple[str, ...]
    item_offsets: np.ndarray  # (n_domains + 1,): domain d owns global items [offsets[d], offsets[d+1])
    train_items: np.ndarray  # global ids of items seen in some domain's training split
    windows: Windows  # merged training windows, global item ids
    valid: tuple[EvalSet, ...]  # per domain, sampled users, local item ids

    @property
    def n_items(self) -> int:
        return int(self.item_offsets[-1])


def build_corpus(domains: Sequence[Domain], max_len: int, valid_users: int, seed: int) -> Corpus:
    offsets = np.zeros(len(domains) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([d.n_items for d in domains])
    parts, train, valid = [], [], []
    rng = np.random.default_rng(seed)
    for dom, off in zip(domains, offsets):
        split = leave_one_out(dom)
        parts.append(cut_from_end(split.train_offsets, split.train_items, max_len))
        train.append(split.training_item_set() + off)
        keep = np.sort(rng.choice(dom.n_users, size=min(valid_users, dom.n_users), replace=False))
        valid.append(_subset(split.valid, keep))
    return Corpus(tuple(d.name for d in domains), offsets, np.concatenate(train), concat_windows(parts, offsets[:-1]),
                  tuple(valid))


def _subset(evalset: EvalSet, rows: np.ndarray) -> EvalSet:
    hist = [evalset.history(r) for r in rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(h) for h in hist])
    return EvalSet(evalset.users[rows], offsets, np.concatenate(hist), evalset.targets[rows])


class DomainSlice:
    """One pre-training domain seen as a Recommender over its own (local) item ids."""

    def __init__(self, model: SequenceEncoder, offset: int, n_items: int):
        self.model, self.offset, self.n_items = model, offset, n_items

    @property
    def max_history(self) -> int:
        return self.model.max_history

    @torch.no_grad()
    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        ids = torch.arange(self.offset, self.offset + self.n_items, device=self.model.pos.weight.device)
        return self.model.score_histories(histories, self.model.items(ids))  # local ids index the slice


def validate(model: SequenceEncoder, corpus: Corpus, batch_size: int) -> dict[str, float]:
    """Validation NDCG@10 (history kept) per domain on the sampled users."""
    from textcode.eval.evaluation import evaluate

    out = {}
    for name, evalset, lo, hi in zip(corpus.names, corpus.valid, corpus.item_offsets[:-1], corpus.item_offsets[1:]):
        res = evaluate(DomainSlice(model, int(lo), int(hi - lo)), evalset, ks=(10,), batch_size=batch_size)
        out[name] = res.means()["history_kept"]["ndcg@10"]
    return out


def pretrain(model: SequenceEncoder, corpus: Corpus, cfg: PretrainConfig, train_cfg: TrainConfig, d: dist.Dist,
             ckpt_dir: Path | None, seed: int) -> dict:
    """Train `model` (code, fused or text item embeddings over the corpus' global items) with the contrastive
    objective.

    `seed`: the run's top-level seed (batch orders, the loop's generators)."""
    objective = Contrastive(model, cfg.tau, cfg.rho, d)
    per_domain: list[dict[str, float]] = []

    def monitor() -> dict[str, float]:
        release_free_memory()  # what the epoch's steps freed, before the evaluation allocates its own
        scores = validate(model, corpus, cfg.eval_batch_size)
        per_domain.append(scores)
        return {"ndcg@10": float(np.mean(list(scores.values())))}

    result = fit(objective, train_cfg, lambda e: iterate(corpus.windows, train_cfg.batch_size, seed, e,
                                                         d.rank, d.world, train_cfg.max_batch_tokens), d,
                 seed=seed, validate=monitor, monitor="ndcg@10", ckpt_dir=ckpt_dir, desc="pretrain")
    batches = batch_order(corpus.windows, train_cfg.batch_size, seed, 1, max_tokens=train_cfg.max_batch_tokens)
    windows_per_epoch = sum(len(b) for b in batches[:len(batches) // d.world * d.world])
    train_s = [row["train_s"] for row in result.history]
    return {"epochs": result.epochs_run, "best_epoch": result.best_epoch, "best_valid_ndcg@10": result.best_metric,
            "stopped": result.stopped, "train_wall_s": result.wall_s, "history": result.history,
            "valid_per_domain_last": per_domain[-1] if per_domain else None,
            "sequences_per_s": windows_per_epoch / float(np.median(train_s)) if train_s else None,
            "windows": len(corpus.windows), "targets": corpus.windows.n_targets(), "items": corpus.n_items,
            "world": d.world, "precision": result.precision, "precision_reason": result.precision_reason}
