"""Masked sequence blocks shared by the autoencoder levels and the discriminator.

Every block zeroes padded positions on the way out (and conv blocks also between their two
convolutions), so a padded position never leaks into a real one. That makes a window's output
independent of how much padding its batch carries: batches can be cut to their longest window.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class SeqConv(nn.Module):
    """1-D convolution with 'same' zero padding, as one matrix product over shifted copies.

    On CPU this im2col form runs about 1.5x faster than nn.Conv1d (oneDNN) for these sizes,
    forward and backward, and it keeps the (B, T, D) layout.
    """

    def __init__(self, d_in: int, d_out: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv kernel_size must be odd (same-length output), got {kernel_size}")
        self.k = kernel_size
        self.proj = nn.Linear(kernel_size * d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x (B, T, D_in) -> (B, T, D_out)
        T, r = x.shape[1], self.k // 2
        padded = F.pad(x, (0, 0, r, r))  # (B, T + 2r, D_in)
        return self.proj(torch.cat([padded[:, i:i + T] for i in range(self.k)], -1))


class ConvBlock(nn.Module):
    """Pre-norm residual block of two 1-D convolutions."""

    def __init__(self, d: int, kernel_size: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.conv1 = SeqConv(d, d, kernel_size)
        self.conv2 = SeqConv(d, d, kernel_size)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B, T, D), mask (B, T) bool
        m = mask[..., None].to(x.dtype)  # (B, T, 1)
        h = self.norm(x) * m
        h = F.gelu(self.conv1(h)) * m
        h = self.drop(self.conv2(h)) * m
        return (x + h) * m


class TransformerBlock(nn.Module):
    """Pre-norm bidirectional self-attention + MLP; padded keys are masked out."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(dropout)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, T): every query sees only real keys
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(B, T, D)))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x * mask[..., None]


def make_block(kind: str, d: int, kernel_size: int, n_heads: int, dropout: float) -> nn.Module:
    if kind == "conv":
        return ConvBlock(d, kernel_size, dropout)
    if kind == "transformer":
        return TransformerBlock(d, n_heads, dropout)
    raise ValueError(f"unknown block kind {kind!r}")


def downsample(x: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, T/2, 2D): each coarse position sees its two children side by side."""
    return x.reshape(x.shape[0], x.shape[1] // 2, 2 * x.shape[2])


def coarser_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, T/2): a coarse position is real when either of its two children is."""
    return mask.view(mask.shape[0], -1, 2).any(-1)
