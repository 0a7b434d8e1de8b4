"""Training objectives as modules: forward(batch) -> (loss to backpropagate, loss value to log).

Each wraps a SequenceEncoder, so DistributedDataParallel can wrap the objective and every
gradient-carrying computation happens inside one forward call.
"""
from __future__ import annotations

import torch
from torch import nn

from textcode.data.batching import Batch
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.losses import (
    chunked_cross_entropy,
    contrastive_loss,
    semi_synthetic_codes,
)
from textcode.rec.sasrec import SequenceEncoder, causal_prefixes
from textcode.rec.sinkhorn import GumbelSinkhornPermutation
from textcode.runtime import distributed as dist


class NextItemCE(nn.Module):
    """Softmax cross-entropy of every position's next item over all items of the domain."""

    def __init__(self, model: SequenceEncoder):
        super().__init__()
        self.model = model

    def item_vectors(self) -> torch.Tensor:
        return self.model.item_vectors()  # (I, H)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        vecs = self.item_vectors()  # (I, H), computed once per step
        h = self.model(batch.inputs, item_vectors=vecs)[batch.mask]  # (N, H) real positions only
        targets = batch.targets[batch.mask]
        if self.model.history_weight is None:
            loss = chunked_cross_entropy(h, vecs, targets, self.model.logits)
        else:  # each position's input so far is its history (causal: items 0..t)
            prefixes = causal_prefixes(batch.inputs)[batch.mask]  # (N, T)
            loss = chunked_cross_entropy(h, vecs, targets, self.model.history_logits, per_row=(prefixes,))
        return loss, loss.detach()


class PermutedNextItemCE(NextItemCE):
    """NextItemCE with each sub-space's code table mixed by a learned Gumbel-Sinkhorn matrix.

    Phase 1 of VQ-Rec fine-tuning: only the permutation logits are trained; the pretrained
    code tables and Transformer stay frozen (the caller passes only `permuter` parameters).
    """

    def __init__(self, model: SequenceEncoder, permuter: GumbelSinkhornPermutation):
        super().__init__(model)
        if not isinstance(model.items, CodeItemEmbedding):  # code or fused: the weight mixes the code part
            raise TypeError("permutation learning needs code (or fused) item embeddings")
        self.permuter = permuter

    def item_vectors(self) -> torch.Tensor:
        items = self.model.items
        return items.all_items(items.mixed_weight(self.permuter()))


class Contrastive(nn.Module):
    """VQ-Rec pre-training: each position's sequence vector against its next item, with the
    (global) batch's other targets and one semi-synthetic negative per position.

    The semi-synthetic negative is the target with a share rho of its codes resampled
    (`semi_synthetic_codes`); for a fused model it keeps the target's own text part
    (`FusedItemEmbedding.vectors_with_codes`), so it is a hard negative that differs from the
    target in its codes only. A text model (no codes) trains with in-batch negatives alone (rho 0).

    The loss is the mean over all real positions of the global batch; with N processes each
    returns its share scaled by N, so DDP's gradient averaging yields the global-batch gradient.
    """

    def __init__(self, model: SequenceEncoder, tau: float, rho: float, d: dist.Dist):
        super().__init__()
        if rho > 0 and not isinstance(model.items, CodeItemEmbedding):
            raise TypeError("semi-synthetic negatives need code (or fused) item embeddings; use rho 0")
        self.model, self.tau, self.rho, self.d = model, tau, rho, d

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.model.items
        # embed only the items this batch touches
        uniq, inv = torch.unique(torch.cat([batch.inputs.flatten(), batch.targets.flatten()]), return_inverse=True)
        vecs = items(uniq)  # (U, H)
        n_in = batch.inputs.numel()
        x = vecs[inv[:n_in]].view(*batch.inputs.shape, -1)  # (B, T, H)
        h = self.model.encode(x)[batch.mask]  # (N, H)
        targets = batch.targets[batch.mask]  # (N,)
        pos = vecs[inv[n_in:].view_as(batch.targets)[batch.mask]]  # (N, H)
        neg = None
        if self.rho > 0:
            neg = items.vectors_with_codes(targets, semi_synthetic_codes(items.codes[targets], self.rho, items.n_codes))
        all_pos, offset = dist.all_gather_cat(self.d, pos)
        all_ids, _ = dist.all_gather_cat(self.d, targets)
        total = dist.all_reduce_sum(self.d, torch.tensor(float(len(targets))))
        loss_sum = contrastive_loss(h, pos, targets, self.tau, neg, all_pos, all_ids, offset, reduction="sum")
        scaled = loss_sum * self.d.world / total
        return scaled, scaled.detach()

