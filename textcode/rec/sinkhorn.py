"""Gumbel-Sinkhorn relaxation of permutation matrices, and hardening to a true permutation.

The public VQ-Rec code hardens with a ceil of a top-1 softmax: its gradient is exactly zero,
so the permutation logits never learn, and the result is usually not a bijection. Here the
relaxed matrix is differentiable in the logits (log-space Sinkhorn of noisy logits over a
temperature), and hardening solves the assignment problem (Hungarian), which always yields
a bijection.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def log_sinkhorn(log_alpha: torch.Tensor, n_iters: int) -> torch.Tensor:
    """Alternately normalise rows and columns in log space. (..., M, M) -> (..., M, M)."""
    for _ in range(n_iters):
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=-1, keepdim=True)  # rows sum to 1
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=-2, keepdim=True)  # columns sum to 1
    return log_alpha


def gumbel_sinkhorn(log_alpha: torch.Tensor, tau: float, n_iters: int, noise: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A doubly-stochastic (..., M, M) matrix near the permutation that log_alpha favours.

    Gumbel noise makes the relaxation explore (and, as tau -> 0, samples permutations).
    """
    if noise:
        u = torch.rand(log_alpha.shape, generator=generator, device=log_alpha.device).clamp_(1e-10, 1.0)
        log_alpha = log_alpha - torch.log(-torch.log(u))
    return torch.exp(log_sinkhorn(log_alpha / tau, n_iters))


def harden(log_alpha: torch.Tensor, n_iters: int = 50) -> torch.Tensor:
    """(D, M, M) logits -> (D, M) permutations: perm[d, i] = the column row i is assigned to.

    Maximises the total log-probability of the (noise-free) Sinkhorn matrix per sub-space.
    """
    # imported here: scipy adds ~37 MB to every training process, and only hardening needs it
    from scipy.optimize import linear_sum_assignment

    log_p = log_sinkhorn(log_alpha.detach().double(), n_iters).cpu().numpy()
    perms = []
    for d in range(log_p.shape[0]):
        rows, cols = linear_sum_assignment(-log_p[d])
        perm = np.empty_like(cols)
        perm[rows] = cols
        perms.append(perm)
    return torch.as_tensor(np.stack(perms), dtype=torch.long)


class GumbelSinkhornPermutation(nn.Module):
    """Learnable soft permutations, one per sub-space: `forward()` -> (D, M, M).

    The temperature can be annealed from `tau` to `tau_final` (`anneal(progress)`): a warm start
    lets every row explore many columns, a cold end makes the soft matrix close to the hard
    permutation it will be rounded to, so the relaxation gap at hardening is small.
    """

    def __init__(self, n_subspaces: int, n_codes: int, tau: float = 0.7, n_iters: int = 20, init_identity: float = 0.0,
                 tau_final: float | None = None):
        super().__init__()
        self.tau_start, self.tau_final = tau, tau if tau_final is None else tau_final
        self.tau, self.n_iters = tau, n_iters
        # identity-biased logits start near "no permutation"; 0 starts from the uniform matrix
        self.log_alpha = nn.Parameter(torch.eye(n_codes).repeat(n_subspaces, 1, 1) * init_identity
                                      + torch.randn(n_subspaces, n_codes, n_codes) * 0.01)

    def anneal(self, progress: float) -> None:
        """Set the temperature for `progress` in [0, 1] (geometric from tau to tau_final)."""
        self.tau = self.tau_start * (self.tau_final / self.tau_start) ** min(max(progress, 0.0), 1.0)

    def forward(self) -> torch.Tensor:
        return gumbel_sinkhorn(self.log_alpha, self.tau, self.n_iters, noise=self.training)

    def hard(self) -> torch.Tensor:
        return harden(self.log_alpha)
