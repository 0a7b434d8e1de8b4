"""Training losses: contrastive with in-batch and semi-synthetic negatives; full cross-entropy."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def semi_synthetic_codes(codes: torch.Tensor, rho: float, n_codes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each code, with probability rho, by a uniformly random code of the same sub-space.

    (N, D) -> (N, D). A replacement can draw the original code, so the expected fraction of
    codes that actually change is rho * (1 - 1/M).
    """
    replace = torch.rand(codes.shape, generator=generator, device=codes.device) < rho
    random = torch.randint(0, n_codes, codes.shape, generator=generator, device=codes.device)
    return torch.where(replace, random, codes)


def contrastive_loss(seq: torch.Tensor, pos: torch.Tensor, pos_ids: torch.Tensor, tau: float,
                     extra_neg: torch.Tensor | None = None, all_pos: torch.Tensor | None = None,
                     all_ids: torch.Tensor | None = None, row_offset: int = 0, reduction: str = "mean") -> torch.Tensor:
    """InfoNCE of each sequence vector against its target, with the batch's other targets as negatives.

    seq, pos: (N, H); pos_ids: (N,) global item ids. A column whose item equals the row's
    target is the positive itself or a duplicate of it: duplicates are removed from the
    negatives (the public VQ-Rec code counts them as extra exp(0) terms instead).
    extra_neg: (N, H) one extra negative per row (the semi-synthetic negative).
    all_pos/all_ids: the targets of the *global* batch when several processes train together
    (gathered from every rank); this rank's rows start at `row_offset` in it.
    """
    if all_pos is None:
        all_pos, all_ids = pos, pos_ids
    q = F.normalize(seq, dim=-1)
    k = F.normalize(all_pos, dim=-1)
    logits = q @ k.T / tau  # (N, G)
    rows = torch.arange(len(q), device=q.device)
    labels = rows + row_offset
    dup = (pos_ids[:, None] == all_ids[None, :])
    dup[rows, labels] = False
    logits = logits.masked_fill(dup, float("-inf"))
    if extra_neg is not None:
        neg = (q * F.normalize(extra_neg, dim=-1)).sum(-1, keepdim=True) / tau  # (N, 1)
        logits = torch.cat([logits, neg], dim=1)
    return F.cross_entropy(logits, labels, reduction=reduction)


def chunked_cross_entropy(h: torch.Tensor, item_vectors: torch.Tensor, targets: torch.Tensor,
                          score: Callable[..., torch.Tensor], max_logits: int = 2**25,
                          per_row: tuple[torch.Tensor, ...] = ()) -> torch.Tensor:
    """Mean softmax cross-entropy of (N, H) vectors over all (I, H) items.

    `score(h, item_vectors, *per_row)` gives (n, I) logits; `per_row` are (N, ...) tensors cut into the
    same blocks as `h` (e.g. each position's history). While the (N, I) logits stay within `max_logits`
    elements (128 MB in fp32) they are computed once, as in F.cross_entropy. Past that, rows go in blocks
    of at most `max_logits` logits whose logits are recomputed in the backward pass instead of kept: several
    (N, I) tensors (logits, log-softmax, their gradients) would otherwise be alive at once. Recomputing
    costs one more (n, I) product per block, a sixth of a Scientific fine-tune epoch (17.6 s instead of
    14.4 s on one core), which is why it is kept for the large steps only. Same value and gradients either way.
    """
    if max_logits < 1:
        raise ValueError(f"max_logits must be positive, got {max_logits}")
    rows = max(1, max_logits // max(1, len(item_vectors)))
    if len(h) <= rows:
        return F.cross_entropy(score(h, item_vectors, *per_row), targets)

    def block_sum(hb: torch.Tensor, v: torch.Tensor, tb: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(score(hb, v, *extra), tb, reduction="sum")

    total = sum(checkpoint(block_sum, h[lo:lo + rows], item_vectors, targets[lo:lo + rows],
                           *(x[lo:lo + rows] for x in per_row), use_reentrant=False)
                for lo in range(0, len(h), rows))
    return total / len(h)
