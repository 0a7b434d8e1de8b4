"""Vector quantization: one codebook, and a stack of K residual codebooks (RQ-VAE).

Inputs are the vectors to quantize with any leading shape; callers pass only real (non-padding)
positions, so padding never moves a code. `forward` returns `(quantized, indices, loss)` with a
straight-through gradient; `decode(indices)` rebuilds `quantized` exactly (the round trip the
tests check). Codebooks learn by EMA k-means (default) or by gradient (codebook loss); codes
that fall out of use are restarted on random inputs of the current batch, which keeps usage up.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from textcode.gen.config import QuantizerConfig


class VectorQuantizer(nn.Module):
    def __init__(self, cfg: QuantizerConfig):
        super().__init__()
        self.cfg = cfg
        m, d = cfg.codebook_size, cfg.dim
        # the codebook is learned by EMA (a buffer) or by gradient (a parameter), never both
        if cfg.update == "ema":
            self.register_buffer("embed", torch.randn(m, d) * 0.1)
        else:
            self.embed = nn.Parameter(torch.randn(m, d) * 0.1)
        self.register_buffer("cluster_size", torch.ones(m))  # EMA usage count per code
        self.register_buffer("embed_avg", self.embed.detach().clone())  # EMA sum of assigned vectors
        self.register_buffer("initted", torch.zeros((), dtype=torch.bool))

    def _nearest(self, x: torch.Tensor) -> torch.Tensor:
        # squared distances without materialising differences: |x|^2 - 2 x.e + |e|^2
        embed = self.embed.detach()
        dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1)[None]  # (N, M)
        return dist.argmin(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, d)
        if self.training and len(flat):
            self._maybe_init(flat.detach())
        idx = self._nearest(flat.detach())  # (N,)
        q = F.embedding(idx, self.embed)  # (N, d)
        if self.training and len(flat):
            self._update(flat.detach(), idx)
            if self.cfg.update == "ema":
                q = F.embedding(idx, self.embed)  # the codes just moved; quantize to where they are now
        if len(flat):
            loss = self.cfg.commitment * F.mse_loss(flat, q.detach())
            if self.cfg.update == "grad":
                loss = loss + F.mse_loss(q, flat.detach())
        else:
            loss = flat.sum()
        q_st = flat + (q - flat).detach()  # straight-through: gradients skip the argmin
        return q_st.reshape(shape), idx.reshape(shape[:-1]), loss

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.embed)  # (..., d)

    @torch.no_grad()
    def _maybe_init(self, flat: torch.Tensor) -> None:
        """Data-dependent init: the first batch's vectors become the codes (random ones repeat if too few)."""
        if bool(self.initted):
            return
        pick = torch.randint(len(flat), (self.cfg.codebook_size,), device=flat.device)
        self.embed.data.copy_(flat[pick])
        self.embed_avg.copy_(flat[pick])
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        m = self.cfg.codebook_size
        counts = torch.bincount(idx, minlength=m).to(flat.dtype)  # (M,)
        decay = self.cfg.decay
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        if self.cfg.update == "ema":
            sums = torch.zeros_like(self.embed_avg).index_add_(0, idx, flat)  # (M, d)
            self.embed_avg.mul_(decay).add_(sums, alpha=1 - decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + 1e-5) / (n + m * 1e-5) * n  # Laplace smoothing keeps empty codes finite
            self.embed.copy_(self.embed_avg / smoothed[:, None])
        dead = self.cluster_size < self.cfg.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(len(flat), (n_dead,), device=flat.device)
            self.embed.data[dead] = flat[pick]
            self.embed_avg[dead] = flat[pick]
            self.cluster_size[dead] = 1.0


class ResidualVQ(nn.Module):
    """K codebooks in a stack: codebook k quantizes the residual left by codebooks 0..k-1."""

    def __init__(self, cfg: QuantizerConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(VectorQuantizer(cfg) for _ in range(cfg.n_codebooks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        residual = x
        total = torch.zeros_like(x)
        indices, loss = [], x.new_zeros(())
        for layer in self.layers:
            q, idx, l = layer(residual)
            residual = residual - q.detach()
            total = total + q.detach()
            indices.append(idx)
            loss = loss + l
        quantized = x + (total - x).detach()  # straight-through over the whole stack
        return quantized, torch.stack(indices, dim=-1), loss  # (..., d), (..., K), ()

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """(..., K) code indices -> (..., d) sum of the selected code vectors."""
        out = self.layers[0].decode(indices[..., 0])
        for k in range(1, len(self.layers)):
            out = out + self.layers[k].decode(indices[..., k])
        return out
