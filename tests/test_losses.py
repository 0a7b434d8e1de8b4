import math

import pytest
import torch
import torch.nn.functional as F

from textcode.rec.losses import (
    chunked_cross_entropy,
    contrastive_loss,
    semi_synthetic_codes,
)


def test_semi_synthetic_negatives_change_about_rho_of_the_codes():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 256, (4000, 32), generator=g)
    for rho in (0.0, 0.25, 0.75, 1.0):
        neg = semi_synthetic_codes(codes, rho, 256, generator=g)
        changed = (neg != codes).float().mean().item()
        expected = rho * (1 - 1 / 256)  # a replacement can draw the same code
        assert abs(changed - expected) < 0.01, (rho, changed)
        assert neg.min() >= 0 and neg.max() < 256


def test_duplicated_in_batch_targets_are_not_negatives():
    torch.manual_seed(0)
    seq, pos = torch.randn(4, 8), torch.randn(4, 8)
    pos[2] = pos[0]  # rows 0 and 2 share their target item
    ids = torch.tensor([5, 6, 5, 7])
    loss = contrastive_loss(seq, pos, ids, tau=0.1, reduction="none")
    q, k = F.normalize(seq, dim=-1), F.normalize(pos, dim=-1)
    logits = q @ k.T / 0.1
    # row 0: negatives are rows 1 and 3 only (row 2 is the same item)
    expected0 = -logits[0, 0] + torch.logsumexp(logits[0, [0, 1, 3]], 0)
    assert torch.allclose(loss[0], expected0, atol=1e-5)
    # a row without duplicates keeps every other target as a negative
    assert torch.allclose(loss[1], -logits[1, 1] + torch.logsumexp(logits[1], 0), atol=1e-5)


def test_semi_synthetic_negative_adds_one_logit_per_row():
    torch.manual_seed(0)
    seq, pos, neg = torch.randn(3, 8), torch.randn(3, 8), torch.randn(3, 8)
    ids = torch.arange(3)
    with_neg = contrastive_loss(seq, pos, ids, 0.1, extra_neg=neg, reduction="none")
    without = contrastive_loss(seq, pos, ids, 0.1, reduction="none")
    assert (with_neg > without).all()
    extra = (F.normalize(seq, dim=-1) * F.normalize(neg, dim=-1)).sum(-1) / 0.1
    q, k = F.normalize(seq, dim=-1), F.normalize(pos, dim=-1)
    logits = torch.cat([q @ k.T / 0.1, extra[:, None]], 1)
    assert torch.allclose(with_neg, F.cross_entropy(logits, ids, reduction="none"), atol=1e-5)


def test_uniform_scores_give_log_of_candidates():
    seq = torch.zeros(5, 4)
    seq[:, 0] = 1
    pos = seq.clone()  # every target identical in vector but distinct ids
    loss = contrastive_loss(seq, pos, torch.arange(5), tau=1.0)
    assert math.isclose(loss.item(), math.log(5), rel_tol=1e-5)


def test_chunked_cross_entropy_matches_the_plain_loss_and_gradients():
    torch.manual_seed(0)
    h = torch.randn(10, 6, requires_grad=True)
    v = torch.randn(7, 6, requires_grad=True)
    t = torch.randint(0, 7, (10,))

    def score(a, b):
        return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / 0.07

    plain = F.cross_entropy(score(h, v), t)
    gh, gv = torch.autograd.grad(plain, (h, v))
    for max_logits in (3 * 7 + 6, 10 * 7):  # blocks of 3, 3, 3, 1 rows (recomputed); all 10 rows at once
        chunked = chunked_cross_entropy(h, v, t, score, max_logits=max_logits)
        ch, cv = torch.autograd.grad(chunked, (h, v))
        assert torch.allclose(plain, chunked, atol=1e-6)
        assert torch.allclose(gh, ch, atol=1e-6) and torch.allclose(gv, cv, atol=1e-6)
    with pytest.raises(ValueError, match="max_logits must be positive"):
        chunked_cross_entropy(h, v, t, score, max_logits=0)
