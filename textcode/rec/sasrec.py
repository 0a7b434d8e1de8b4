"""SASRec-style causal Transformer over item vectors from an item-embedding module passed in.

Post-LayerNorm blocks, GELU, learned positions, as in SASRec/UniSRec/VQ-Rec. Sequences are
left-aligned, so with a causal mask a real position never attends to padding and no key
padding mask is needed. Scores are cosine(sequence, item) / temperature over all items.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcode.data.batching import pad_histories
from textcode.rec.config import SASRecConfig
from textcode.rec.dropout import Dropout, replace_dropouts
from textcode.rec.item_embedding import embedding_class, kind_of


class SequenceEncoder(nn.Module):
    def __init__(self, cfg: SASRecConfig, items: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.items = items
        self.pos = nn.Embedding(cfg.max_len, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.n_heads, cfg.ffn, cfg.dropout, activation="gelu",
                                           layer_norm_eps=cfg.layer_norm_eps, batch_first=True, norm_first=False)
        self.blocks = replace_dropouts(nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False))
        for module in (self.pos, self.blocks):
            for name, p in module.named_parameters():
                if p.dim() > 1:
                    nn.init.normal_(p, 0.0, cfg.init_std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)
        self.history_weight: nn.Parameter | None = None
        if cfg.history_term == "learned":
            self.add_history_term()
        self.id_embedding: nn.Embedding | None = None
        if cfg.id_embedding:
            self.add_id_embedding()

    def add_history_term(self) -> None:
        """The learned score term of items in the input sequence, starting at 0 (no effect); a fine-tune adds
        it to a pre-trained model that has none (it belongs to the domain, as the codes do)."""
        if self.history_weight is None:
            self.history_weight = nn.Parameter(torch.zeros((), device=self.pos.weight.device))

    def add_id_embedding(self) -> None:
        """A per-item ID embedding of the current items, added to their vectors and starting at 0 (no effect);
        a fine-tune adds it after pointing the item embedding at its domain (IDs never transfer)."""
        if self.id_embedding is None:
            self.id_embedding = nn.Embedding(self.items.n_items, self.cfg.hidden, device=self.pos.weight.device)
            nn.init.zeros_(self.id_embedding.weight)

    @property
    def n_items(self) -> int:
        return self.items.n_items

    def forward(self, inputs: torch.Tensor, item_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) item ids -> (B, T, H) hidden states; position t sees items 0..t only.

        `item_vectors` (I, H), when given, replaces the item-embedding lookup (used when the
        whole table is computed once per step anyway, e.g. for a full softmax).
        """
        if item_vectors is not None:
            return self.encode(item_vectors[inputs])
        x = self.items(inputs)  # (B, T, H)
        return self.encode(x if self.id_embedding is None else x + self.id_embedding(inputs))

    def _block_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H) input item vectors -> (the first block's input (B, T, H), causal mask (T, T))."""
        T = x.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.cfg.max_len}")
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu_(1)
        return self.drop(self.norm(x + self.pos.weight[:T])), causal

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H) input item vectors -> (B, T, H) hidden states (causal)."""
        x, causal = self._block_inputs(x)
        return self.blocks(x, mask=causal, is_causal=True)  # (B, T, H)

    def item_vectors(self) -> torch.Tensor:
        v = self.items.all_items()  # (I, H)
        return v if self.id_embedding is None else v + self.id_embedding.weight

    def logits(self, h: torch.Tensor, item_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """(..., H) sequence vectors -> (..., I) scores against every item."""
        v = self.item_vectors() if item_vectors is None else item_vectors
        if self.cfg.score == "cosine":
            # scaling the (B, H) side, not the (B, I) product, saves a pass over all scores
            return (F.normalize(h, dim=-1) / self.cfg.temperature) @ F.normalize(v, dim=-1).T
        return h @ v.T

    def history_logits(self, h: torch.Tensor, item_vectors: torch.Tensor, histories: torch.Tensor) -> torch.Tensor:
        """(n, H) sequence vectors, (I, H) items, (n, T) each row's history items (a row may repeat an item:
        it counts once) -> (n, I) scores with the history term added to the history's items."""
        logits = self.logits(h, item_vectors)
        in_history = torch.zeros_like(logits).scatter_(1, histories, 1.0)  # (n, I) 0/1
        return logits + self.history_weight * in_history

    def last_hidden(self, inputs: torch.Tensor, lengths: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """(B, T) left-aligned item ids, (B,) lengths, (I, H) item vectors -> (B, H): the output of
        forward(inputs, item_vectors) at each sequence's last position.

        Scoring needs one position per sequence, so the last block computes queries, attention
        output and feed-forward only there (keys and values still at every position); with a mean
        history of ~6 items that is about a third of the evaluation's Transformer work.
        """
        if self.training:
            raise RuntimeError("last_hidden skips the last block's dropout; call it in eval mode")
        x, causal = self._block_inputs(item_vectors[inputs])  # (B, T, H), (T, T)
        T = x.shape[1]
        *body, top = self.blocks.layers
        for layer in body:
            x = layer(x, src_mask=causal, is_causal=True)  # (B, T, H)
        last = lengths - 1  # (B,)
        q = x[torch.arange(len(x), device=x.device), last].unsqueeze(1)  # (B, 1, H)
        # the last position sees every real item; keys after it are padding
        after = torch.arange(T, device=x.device)[None, :] > last[:, None]  # (B, T)
        a = top.self_attn(q, x, x, key_padding_mask=after, need_weights=False)[0]  # (B, 1, H)
        h = top.norm1(q + a)  # post-LayerNorm, as nn.TransformerEncoderLayer(norm_first=False)
        h = top.norm2(h + top.linear2(top.activation(top.linear1(h))))
        return h[:, 0]  # (B, H)

    @torch.no_grad()
    def score_histories(self, histories: Sequence[np.ndarray], item_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """The Recommender protocol: (B, I) scores for each history's next item.

        `item_vectors` (I', H), when given, stands in for the whole item table: histories index into
        it and the scores are against its rows (one pre-training domain's slice of the corpus).
        """
        device = self.pos.weight.device
        items, mask = pad_histories(histories, self.cfg.max_len)
        items, mask = items.to(device), mask.to(device)
        v = self.item_vectors() if item_vectors is None else item_vectors  # (I, H), for inputs and scores
        h = self.last_hidden(items, mask.sum(1), v)  # (B, H)
        if self.history_weight is None:
            return self.logits(h, v)  # (B, I)
        return self.history_logits(h, v, torch.where(mask, items, items[:, :1]))  # padding repeats the first item

    @property
    def max_history(self) -> int:
        """Items of a history the model reads (the evaluator sizes its batches by it)."""
        return self.cfg.max_len


def causal_prefixes(inputs: torch.Tensor) -> torch.Tensor:
    """(B, T) left-aligned inputs -> (B, T, T): row [b, t] holds the items at positions 0..t of sequence b,
    the positions after t filled with the item at t (so each row's set of items is its prefix)."""
    T = inputs.shape[1]
    later = torch.arange(T, device=inputs.device)[None, :] > torch.arange(T, device=inputs.device)[:, None]  # (T, T)
    full = inputs[:, None, :].expand(-1, T, -1)  # (B, T, T)
    return torch.where(later[None], inputs[:, :, None].expand(-1, -1, T), full)


# ----------------------------------------------------------------------------- persistence

def describe(model: SequenceEncoder) -> dict[str, Any]:
    """The facts `model.json` needs to rebuild this model."""
    emb = {"kind": kind_of(model.items), **model.items.describe()}
    return {"model": dataclasses.asdict(model.cfg), "item_embedding": emb, "n_items": model.n_items}


def build(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> SequenceEncoder:
    """Rebuild a SequenceEncoder from `describe()` output and a state dict (shapes from the tensors)."""
    cfg = SASRecConfig(**meta["model"])
    emb = meta["item_embedding"]
    items = embedding_class(emb["kind"], "model.json item_embedding.kind").from_description(emb, meta["n_items"], cfg.hidden, tensors)
    model = SequenceEncoder(cfg, items)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()}, strict=True)
    return model


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str = "cpu") -> SequenceEncoder:
    """The model-kind entry (textcode.core.model_kinds) of kind "sasrec": meta["config"] is `describe()` output;
    an eval-mode model ready to score."""
    return build(meta["config"], tensors).to(device).eval()
