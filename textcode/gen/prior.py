"""Autoregressive prior over an RSVQ-AE's discrete latents: the window length, then every code.

A window of length l has ceil(l / 2**v) positions ("slots") at level v; slots are ordered
coarse to fine (top level first, then each finer level left to right), and each slot holds K
codes, one per stack depth. As in RQ-Transformer, a causal Transformer runs over slots (its
input at a slot is the sum of the previous slot's code embeddings plus an embedding of the slot
about to be predicted), and a small depth head predicts the slot's K codes one after another,
each conditioned on the ones before it. That keeps the sequence at the number of slots instead
of slots x K. The window length comes first: its distribution is the training windows' length
frequencies (not learned), and every code is conditioned on it, so padding is never modelled or sampled.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from textcode.core import artifacts
from textcode.core.config import build, to_dict
from textcode.core.model_folder import WEIGHTS, load_meta, save_model
from textcode.gen.config import PriorConfig


class SlotLayout:
    """Where each slot of a length-l window sits: (level index, position), for every l in 1..L."""

    def __init__(self, length: int, levels: tuple[int, ...]):
        self.length = length
        self.levels = tuple(sorted(levels, reverse=True))  # coarse to fine
        self.full = [-(-length // 2 ** v) for v in self.levels]  # slots per level at l = L
        self.offsets = [sum(self.full[:i]) for i in range(len(self.levels))]
        self.max_slots = sum(self.full)
        lvl = torch.zeros(length + 1, self.max_slots, dtype=torch.long)
        pos = torch.zeros(length + 1, self.max_slots, dtype=torch.long)
        count = torch.zeros(length + 1, dtype=torch.long)
        for l in range(1, length + 1):
            s = 0
            for i, v in enumerate(self.levels):
                n = -(-l // 2 ** v)
                lvl[l, s:s + n] = i
                pos[l, s:s + n] = torch.arange(n)
                s += n
            count[l] = s
        self.lvl, self.pos, self.count = lvl, pos, count  # (L+1, S), (L+1, S), (L+1,)

    def slots(self, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(level index, position, real) of each slot, each (B, S) with S = the batch's longest layout."""
        S = int(self.count[lengths].max())
        lvl, pos = self.lvl[lengths][:, :S], self.pos[lengths][:, :S]
        real = torch.arange(S)[None, :] < self.count[lengths][:, None]
        return lvl, pos, real

    def where_ids(self, lvl: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.offsets)[lvl] + pos

    def gather(self, codes: dict[int, torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        """Per-level codes {v: (B, T_v, K)} -> slot codes (B, S, K), -1 beyond each window's layout."""
        lvl, pos, real = self.slots(lengths)
        B, S = lvl.shape
        K = next(iter(codes.values())).shape[-1]
        out = torch.full((B, S, K), -1, dtype=torch.long)
        for i, v in enumerate(self.levels):
            sel = (lvl == i) & real
            b = torch.arange(B)[:, None].expand(B, S)[sel]
            out[sel] = codes[v][b, pos[sel]]
        return out

    def scatter(self, slot_codes: torch.Tensor, lengths: torch.Tensor, K: int) -> dict[int, torch.Tensor]:
        """Inverse of `gather`: slot codes (B, S, K) -> {v: (B, T_v at l=L, K)}, -1 at padding."""
        lvl, pos, real = self.slots(lengths)
        B = lvl.shape[0]
        out = {}
        for i, v in enumerate(self.levels):
            full = torch.full((B, self.full[i], K), -1, dtype=torch.long)
            sel = (lvl == i) & real
            b = torch.arange(B)[:, None].expand_as(lvl)[sel]
            full[b, pos[sel]] = slot_codes[sel]
            out[v] = full
        return out


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
        if cache is not None:  # incremental sampling: one new step attends to everything before it
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), cache))
        return x + self.drop(self.mlp(self.ln2(x)))


class CodePrior(nn.Module):
    def __init__(self, cfg: PriorConfig, layout: SlotLayout, n_codebooks: int, codebook_size: int):
        super().__init__()
        self.cfg, self.layout, self.K, self.M = cfg, layout, n_codebooks, codebook_size
        D, V = cfg.d_model, len(layout.levels)
        self.bos = nn.Parameter(torch.randn(D) * 0.02)
        # log P(length): the training windows' length frequencies (set_length_distribution), not learned.
        # A learned head saw length-bucketed batches and drifted to the most common length (P(L)=0.99 vs 0.90).
        self.register_buffer("length_logprob", torch.full((layout.length + 1,), -math.log(layout.length)))
        self.length_logprob[0] = -math.inf
        self.len_emb = nn.Embedding(layout.length + 1, D)
        self.where_emb = nn.Embedding(layout.max_slots, D)
        self.code_emb = nn.Embedding(V * n_codebooks * codebook_size, D)  # (level, depth, code) -> input vector
        self.depth_emb = nn.Embedding(V * n_codebooks * codebook_size, D)  # same, for the depth head
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(D)
        self.depth_ln = nn.ModuleList(nn.LayerNorm(D) for _ in range(n_codebooks))
        self.depth_mlp = nn.ModuleList(nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, D)) for _ in range(n_codebooks))
        self.code_head = nn.ModuleList(nn.Linear(D, V * codebook_size) for _ in range(n_codebooks))  # one (M, D) block per level
        self.apply(_init)

    @torch.no_grad()
    def set_length_distribution(self, lengths: torch.Tensor) -> None:
        """Length frequencies of the training windows, add-one smoothed over 1..L (an unseen length stays possible)."""
        counts = torch.bincount(lengths, minlength=self.layout.length + 1).double()[:self.layout.length + 1] + 1
        counts[0] = 0
        self.length_logprob.copy_((counts / counts.sum()).log().float())

    def _code_ids(self, lvl: torch.Tensor, depth: int, codes: torch.Tensor) -> torch.Tensor:
        return (lvl * self.K + depth) * self.M + codes.clamp(min=0)

    def _content(self, lvl: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Sum over depths of the input embeddings of each slot's codes: (B, S, K) -> (B, S, D)."""
        return sum(self.code_emb(self._code_ids(lvl, k, codes[..., k])) for k in range(self.K))

    def _depth_logits(self, h: torch.Tensor, lvl: torch.Tensor, depth: int) -> torch.Tensor:
        """Depth-head logits of code `depth`: h (N, D) of slots at level indices lvl (N,) -> (N, M).

        Each level has its own output block; slots are grouped by level so no logits are computed
        for codebooks a slot does not use.
        """
        u = h + self.depth_mlp[depth](self.depth_ln[depth](h))
        head = self.code_head[depth]
        weight = head.weight.view(len(self.layout.levels), self.M, -1)  # (V, M, D)
        bias = head.bias.view(len(self.layout.levels), self.M)
        out = u.new_empty(len(u), self.M)
        for i in range(len(self.layout.levels)):
            sel = lvl == i
            if bool(sel.any()):
                out[sel] = u[sel] @ weight[i].t() + bias[i]
        return out

    def forward(self, lengths: torch.Tensor, slot_codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced (length NLL (B,), code NLL (B,)) in nats, summed over each window's codes."""
        lvl, pos, real = self.layout.slots(lengths)  # (B, S)
        B, S = lvl.shape
        where = self.where_emb(self.layout.where_ids(lvl, pos))  # (B, S, D)
        prev = torch.cat([self.len_emb(lengths)[:, None], self._content(lvl[:, :-1], slot_codes[:, :-1])], 1)  # (B, S, D)
        x = torch.cat([self.bos.expand(B, 1, -1), prev + where], 1)  # (B, 1+S, D)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        h = self.ln_f(x)
        len_nll = -self.length_logprob[lengths]  # (B,)
        hs, lv, codes = h[:, 1:][real], lvl[real], slot_codes[real]  # (N, D), (N,), (N, K): real slots only
        owner = torch.arange(B)[:, None].expand(B, S)[real]
        code_nll = torch.zeros(B)
        for k in range(self.K):
            nll = F.cross_entropy(self._depth_logits(hs, lv, k), codes[:, k], reduction="none")  # (N,)
            code_nll = code_nll.index_add(0, owner, nll)
            hs = hs + self.depth_emb(self._code_ids(lv, k, codes[:, k]))
        return len_nll, code_nll

    def level_temperatures(self, temperature: float | Sequence[float]) -> torch.Tensor:
        """Temperature per layout level index (coarse to fine): one value for all, or one per level given finest first."""
        if isinstance(temperature, (int, float)):
            return torch.full((len(self.layout.levels),), float(temperature))
        finest_first = sorted(self.layout.levels)
        if len(temperature) != len(finest_first):
            raise ValueError(f"{len(temperature)} level temperatures given; this prior's codes have "
                             f"{len(finest_first)} levels {finest_first} (finest first)")
        return torch.tensor([float(temperature[finest_first.index(v)]) for v in self.layout.levels])

    @torch.no_grad()
    def sample(self, n: int, temperature: float | Sequence[float] = 1.0, top_k: int = 0,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(lengths (n,), slot codes (n, S, K)) drawn step by step with a key/value cache.

        temperature (one, or one per level, finest first) and top_k shape the codes; lengths always
        follow the training frequencies.
        """
        level_t = self.level_temperatures(temperature)  # (V,) by layout level index
        caches = [dict() for _ in self.blocks]

        def step(x: torch.Tensor) -> torch.Tensor:  # (n, 1, D) -> (n, D)
            for block, cache in zip(self.blocks, caches):
                x = block(x, cache)
            return self.ln_f(x)[:, 0]

        step(self.bos.expand(n, 1, -1))
        lengths = _draw(self.length_logprob.expand(n, -1), torch.ones(n), 0, generator)  # the data's own length frequencies
        lvl, pos, _ = self.layout.slots(lengths)
        where = self.where_emb(self.layout.where_ids(lvl, pos))  # (n, S, D)
        S = lvl.shape[1]
        codes = torch.zeros(n, S, self.K, dtype=torch.long)
        prev = self.len_emb(lengths)
        for s in range(S):
            hs = step((prev + where[:, s])[:, None])
            for k in range(self.K):
                codes[:, s, k] = _draw(self._depth_logits(hs, lvl[:, s], k), level_t[lvl[:, s]], top_k, generator)
                hs = hs + self.depth_emb(self._code_ids(lvl[:, s], k, codes[:, s, k]))
            prev = self._content(lvl[:, s:s + 1], codes[:, s:s + 1])[:, 0]
        _, _, real = self.layout.slots(lengths)
        return lengths, codes.masked_fill(~real[..., None], -1)


def _draw(logits: torch.Tensor, temperature: torch.Tensor, top_k: int, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row of logits (n, M), each row at its own temperature (n,)."""
    logits = logits / temperature.clamp(min=1e-6)[:, None]
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


KIND = "code-prior"


def save_prior(out: artifacts.OutputFolder | Path, prior: CodePrior) -> None:
    save_model(out, KIND, to_dict(prior.cfg), prior.state_dict(), length=prior.layout.length,
               levels=list(prior.layout.levels), n_codebooks=prior.K, codebook_size=prior.M)


def load_prior(folder: str | Path) -> CodePrior:
    folder = Path(folder)
    meta = load_meta(folder)
    if meta.get("kind") != KIND:
        raise artifacts.ArtifactError(f"{folder}/model.json: kind {meta.get('kind')!r}, expected {KIND!r}")
    layout = SlotLayout(meta["length"], tuple(meta["levels"]))
    prior = CodePrior(build(PriorConfig, meta["config"], prefix="config."), layout, meta["n_codebooks"], meta["codebook_size"])
    tensors, _ = artifacts.load_tensors(folder / WEIGHTS)
    prior.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return prior.eval()
