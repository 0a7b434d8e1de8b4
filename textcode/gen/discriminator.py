"""Sequence-level critic: tells real windows from the decoder's reconstructions, in item-embedding space.

Real windows are looked up in the autoencoder's item table; reconstructions are the expected
embedding under the decoder's softmax (`SeqAutoencoder.soft_embeddings`). Both arrive detached
from the table, so the adversarial game moves the decoder's distributions, not the embeddings.
The critic pools its masked convolution features over real positions into one score per window.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from textcode.gen.blocks import ConvBlock
from textcode.gen.config import DiscriminatorConfig


class SequenceDiscriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig, d_item: int):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(d_item, cfg.d_model)
        self.blocks = nn.ModuleList(ConvBlock(cfg.d_model, cfg.kernel_size, 0.0) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, 1)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # emb (B, T, d_item) zero at padding, mask (B, T) -> (B,) scores
        x = self.inp(emb) * mask[..., None]
        for block in self.blocks:
            x = block(x, mask)
        pooled = x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)  # (B, D) mean over real positions
        return self.out(self.norm(pooled)).squeeze(-1)


def scatter_positions(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, d) values at the real positions of `mask` (B, T) -> (B, T, d), zero at padding."""
    out = values.new_zeros(*mask.shape, values.shape[-1])
    out[mask] = values
    return out


def critic_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss from its scores on real and (detached) fake windows."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """What the decoder minimises to fool the critic."""
    if kind == "hinge":
        return -fake.mean()
    return F.softplus(-fake).mean()
