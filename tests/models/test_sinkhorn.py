"""Gumbel-Sinkhorn: doubly stochastic, differentiable, and hardened to a true permutation."""
import torch

from textcode.rec.sinkhorn import (
    GumbelSinkhornPermutation,
    gumbel_sinkhorn,
    harden,
    log_sinkhorn,
)


def test_sinkhorn_output_is_doubly_stochastic():
    torch.manual_seed(0)
    # Sinkhorn converges geometrically; peaked (noisy, low-temperature) logits need more iterations
    s = gumbel_sinkhorn(torch.randn(4, 16, 16), tau=0.7, n_iters=200)
    assert torch.allclose(s.sum(-1), torch.ones(4, 16), atol=1e-3)
    assert torch.allclose(s.sum(-2), torch.ones(4, 16), atol=1e-3)
    assert (s >= 0).all()


def test_few_iterations_are_only_approximately_doubly_stochastic():
    # the published setting (3 iterations) leaves rows off by more than 20 iterations do
    logits = torch.randn(2, 32, 32) * 5
    err = {n: (torch.exp(log_sinkhorn(logits, n)).sum(-1) - 1).abs().max().item() for n in (3, 20)}
    assert err[20] < err[3]


def test_permutation_logits_receive_nonzero_gradients():
    torch.manual_seed(0)
    perm = GumbelSinkhornPermutation(n_subspaces=3, n_codes=8, tau=0.7, n_iters=20)
    table = torch.randn(3, 8, 5)
    target = torch.randn(3, 8, 5)
    mixed = torch.einsum("dij,djh->dih", perm(), table)
    ((mixed - target) ** 2).sum().backward()
    g = perm.log_alpha.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    assert (g.abs().sum(dim=(1, 2)) > 0).all()  # every sub-space learns


def test_public_code_hardening_has_zero_gradient():
    """What the public VQ-Rec code does (ceil of a top-1-normalised softmax): the gradient
    through it is identically zero, which is why we do not harden that way during training."""
    logits = torch.randn(8, 8, requires_grad=True)
    soft = torch.softmax(logits, dim=-1)
    hard = torch.ceil(soft - soft.max(dim=-1, keepdim=True).values + 1e-12)
    (hard @ torch.randn(8, 3)).sum().backward()
    assert logits.grad.abs().sum() == 0


def test_hardened_result_is_a_bijection_and_recovers_a_planted_permutation():
    torch.manual_seed(0)
    D, M = 4, 64
    planted = torch.stack([torch.randperm(M) for _ in range(D)])
    logits = torch.randn(D, M, M)
    logits[torch.arange(D)[:, None], torch.arange(M)[None, :], planted] += 6.0
    perm = harden(logits)
    assert perm.shape == (D, M)
    for d in range(D):
        assert sorted(perm[d].tolist()) == list(range(M))  # bijection
    assert torch.equal(perm, planted)


def test_hardening_is_a_bijection_even_when_rows_prefer_the_same_column():
    # every row's favourite column is 0: a row-wise argmax would map all codes to one row
    logits = torch.zeros(1, 10, 10)
    logits[0, :, 0] = 5.0
    assert sorted(harden(logits)[0].tolist()) == list(range(10))
