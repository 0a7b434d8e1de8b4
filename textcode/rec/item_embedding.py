"""Item-embedding modules: how an item id becomes a vector.

The sequence model receives one of these from outside; this is the seam between
pre-training and fine-tuning (VQ-Rec swaps the item->code map and keeps the code tables).
Every module offers `forward(items (...)) -> (..., H)` and `all_items() -> (I, H)`, and, for the
registry (`ITEM_EMBEDDINGS`, the kind names `finetune.item_embedding` takes): `reads`, the domain
artifact it is built from ("codes", "text" or None); `for_domain(n_items, dim, inputs)` to build it
for a domain; `describe()` and `from_description(desc, n_items, dim, tensors)` to save and rebuild
it with a model folder. A new kind is one class here plus one registry line (docs/extending.md).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class DomainInputs:
    """What a domain offers an item-embedding kind: its codes (with codes per sub-space) and text vectors."""

    codes: np.ndarray | None = None  # (I, D) ints
    n_codes: int = 0
    text: np.ndarray | None = None  # (I, d_text) float32


class CodeItemEmbedding(nn.Module):
    """VQ-Rec: an item's vector is the mean of the embeddings of its D discrete codes.

    `codes` (I, D) maps items to code tuples (a buffer saved with the model, because it is
    what makes the model usable for these items). `table` (D, M, H) holds one block of M code
    embeddings per sub-space. Methods take an optional `weight` (D*M, H) to use instead of
    the table, e.g. `mixed_weight(S)` under a soft permutation during fine-tuning.
    """

    def __init__(self, codes: torch.Tensor, n_codes: int, dim: int):
        super().__init__()
        if codes.dim() != 2:
            raise ValueError(f"codes must be (n_items, n_subspaces), got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.max()) >= n_codes or int(codes.min()) < 0):  # no items: a shipped model
            raise ValueError(f"codes must lie in [0, {n_codes})")
        self.n_subspaces, self.n_codes, self.dim = codes.shape[1], n_codes, dim
        self.register_buffer("codes", _compact(codes, n_codes))  # (I, D); uint8 when M <= 256 (8x smaller than int64)
        self.table = nn.Parameter(torch.empty(self.n_subspaces, n_codes, dim).normal_(0.0, 0.02))  # (D, M, H)
        self.register_buffer("offsets", torch.arange(self.n_subspaces) * n_codes, persistent=False)  # (D,)

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    def mixed_weight(self, mixing: torch.Tensor) -> torch.Tensor:
        """(D, M, M) soft permutations -> (D*M, H) weight: new row i of sub-space d is
        sum_j mixing[d, i, j] * table[d, j]."""
        return torch.einsum("dij,djh->dih", mixing, self.table).reshape(-1, self.dim)

    def embed_codes(self, codes: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """(..., D) code tuples -> (..., H) mean of their code embeddings."""
        w = self.table.reshape(-1, self.dim) if weight is None else weight
        flat = (codes.long() + self.offsets).reshape(-1, self.n_subspaces)  # (N, D)
        return F.embedding_bag(flat, w, mode="mean").reshape(*codes.shape[:-1], self.dim)

    def forward(self, items: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.embed_codes(self.codes[items].long(), weight)

    def all_items(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.embed_codes(self.codes.long(), weight)  # (I, H)

    @torch.no_grad()
    def apply_permutation(self, perm: torch.Tensor) -> None:
        """Make new code c of sub-space d use the row perm[d, c] of the current table."""
        if perm.shape != (self.n_subspaces, self.n_codes):
            raise ValueError(f"permutation must be ({self.n_subspaces}, {self.n_codes}), got {tuple(perm.shape)}")
        self.table.copy_(torch.stack([self.table[d, perm[d]] for d in range(self.n_subspaces)]))

    reads = "codes"

    @classmethod
    def for_domain(cls, n_items: int, dim: int, inputs: DomainInputs) -> "CodeItemEmbedding":
        return cls(torch.as_tensor(_required(inputs.codes, "codes").astype(np.int64)), inputs.n_codes, dim)

    def describe(self) -> dict[str, Any]:
        return {"n_codes": self.n_codes, "n_subspaces": self.n_subspaces}

    @classmethod
    def from_description(cls, desc: Mapping[str, Any], n_items: int, dim: int,
                         tensors: Mapping[str, np.ndarray]) -> "CodeItemEmbedding":
        return cls(torch.as_tensor(tensors["items.codes"]), desc["n_codes"], dim)

    def replace_codes(self, codes: torch.Tensor) -> None:
        """Point the model at another item set (fine-tuning on a new domain keeps the tables)."""
        if codes.shape[1] != self.n_subspaces or int(codes.max()) >= self.n_codes:
            raise ValueError(f"new codes {tuple(codes.shape)} do not fit {self.n_subspaces} sub-spaces of {self.n_codes} codes")
        self.codes = _compact(codes, self.n_codes).to(self.table.device)


def _compact(codes: torch.Tensor, n_codes: int) -> torch.Tensor:
    return codes.to(torch.uint8 if n_codes <= 256 else torch.int32)


class IDItemEmbedding(nn.Module):
    """SASRec-ID: one free vector per item (no transfer possible)."""

    def __init__(self, n_items: int, dim: int):
        super().__init__()
        self.table = nn.Embedding(n_items, dim)
        nn.init.normal_(self.table.weight, 0.0, 0.02)

    @property
    def n_items(self) -> int:
        return self.table.num_embeddings

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.table(items)

    reads = None

    @classmethod
    def for_domain(cls, n_items: int, dim: int, inputs: DomainInputs) -> "IDItemEmbedding":
        return cls(n_items, dim)

    def describe(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_description(cls, desc: Mapping[str, Any], n_items: int, dim: int,
                         tensors: Mapping[str, np.ndarray]) -> "IDItemEmbedding":
        return cls(n_items, dim)

    def all_items(self) -> torch.Tensor:
        return self.table.weight


class TextItemEmbedding(nn.Module):
    """Text-only baseline: a frozen text embedding per item through a learned whitening projection
    (UniSRec's parametric whitening: (x - b) W), so items are represented by text alone."""

    def __init__(self, text: torch.Tensor, dim: int, dropout: float = 0.0):
        super().__init__()
        self.register_buffer("text", text.float())  # (I, d_text)
        self.bias = nn.Parameter(torch.zeros(text.shape[1]))
        self.proj = nn.Linear(text.shape[1], dim, bias=False)
        nn.init.normal_(self.proj.weight, 0.0, 0.02)
        self.dropout = nn.Dropout(dropout)

    @property
    def n_items(self) -> int:
        return self.text.shape[0]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(self.text[items] - self.bias))

    def all_items(self) -> torch.Tensor:
        return self.proj(self.text - self.bias)

    reads = "text"

    @classmethod
    def for_domain(cls, n_items: int, dim: int, inputs: DomainInputs) -> "TextItemEmbedding":
        return cls(torch.as_tensor(_required(inputs.text, "text")), dim)

    def describe(self) -> dict[str, Any]:
        return {"text_dim": self.text.shape[1]}

    @classmethod
    def from_description(cls, desc: Mapping[str, Any], n_items: int, dim: int,
                         tensors: Mapping[str, np.ndarray]) -> "TextItemEmbedding":
        return cls(torch.as_tensor(tensors["items.text"]), dim)


def _required(array: np.ndarray | None, name: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"this item embedding is built from the domain's {name}, which were not given")
    return array


# kind name (finetune.item_embedding, model.json's item_embedding.kind) -> class
ITEM_EMBEDDINGS: dict[str, type[nn.Module]] = {
    "code": CodeItemEmbedding,
    "id": IDItemEmbedding,
    "text": TextItemEmbedding,
}


def kind_of(items: nn.Module) -> str:
    """The registered kind name of an item-embedding module."""
    for name, cls in ITEM_EMBEDDINGS.items():
        if type(items) is cls:
            return name
    raise TypeError(f"unregistered item embedding {type(items).__name__} (known: {', '.join(ITEM_EMBEDDINGS)})")


def embedding_class(kind: str, key: str = "item_embedding") -> type[nn.Module]:
    if kind not in ITEM_EMBEDDINGS:
        raise KeyError(f"{key}: unknown item embedding {kind!r} (known: {', '.join(ITEM_EMBEDDINGS)})")
    return ITEM_EMBEDDINGS[kind]
