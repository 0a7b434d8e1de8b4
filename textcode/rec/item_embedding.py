"""Item-embedding modules: how an item id becomes a vector.

The sequence model receives one of these from outside; this is the seam between
pre-training and fine-tuning (VQ-Rec swaps the item->code map and keeps the code tables).
Every module offers `forward(items (...)) -> (..., H)` and `all_items() -> (I, H)`, and, for the
registry (`ITEM_EMBEDDINGS`, the kind names `finetune.item_embedding` takes): `reads`, the tuple of
domain artifacts it is built from (each a folder of the domain and a `DomainInputs` field: "codes",
"text"; empty for none); `item_buffers`, its per-item buffers (what it holds about its domain's
items, left out of a shipped model); `for_domain(n_items, dim, inputs)` to build it for a domain;
`describe()` and `from_description(desc, n_items, dim, tensors)` to save and rebuild it with a model
folder. Kinds that transfer from a pre-trained model (code, fused, text) also offer `retarget(inputs)`, which
points the module at a new domain's items and keeps its learned weights. A new kind is one class here
plus one registry line (docs/extending.md).
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

    def vectors_with_codes(self, items: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(N,) items, (N, D) code tuples -> (N, H): the items' vectors with these codes in place of their own
        (pre-training's semi-synthetic negative). Here the codes are all there is; `FusedItemEmbedding` keeps
        the items' own text part."""
        return self.embed_codes(codes)

    def embed_new(self, codes: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """(N, D) code tuples of items the module does not hold -> (N, H) (serving: items added later)."""
        if text is not None:
            raise ValueError("code item embeddings are built from codes alone; no text is taken")
        return self.embed_codes(codes.to(self.table.device))

    reads: tuple[str, ...] = ("codes",)
    item_buffers: tuple[str, ...] = ("codes",)

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

    def retarget(self, inputs: DomainInputs) -> None:
        """Fine-tuning on a new domain: its own codes, the pre-trained code tables kept."""
        self.replace_codes(torch.as_tensor(_required(inputs.codes, "codes").astype(np.int64)))


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

    reads: tuple[str, ...] = ()
    item_buffers: tuple[str, ...] = ()

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
    (UniSRec's parametric whitening: (x - b) W), so items are represented by text alone. Pre-trained, the
    projection is what transfers (`retarget` swaps in the new domain's text vectors, from the same encoder)."""

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

    @property
    def text_dim(self) -> int:
        return self.text.shape[1]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(self.text[items] - self.bias))

    def all_items(self) -> torch.Tensor:
        return self.proj(self.text - self.bias)

    reads: tuple[str, ...] = ("text",)
    item_buffers: tuple[str, ...] = ("text",)

    @classmethod
    def for_domain(cls, n_items: int, dim: int, inputs: DomainInputs) -> "TextItemEmbedding":
        return cls(torch.as_tensor(_required(inputs.text, "text")), dim)

    def describe(self) -> dict[str, Any]:
        return {"text_dim": self.text.shape[1]}

    @classmethod
    def from_description(cls, desc: Mapping[str, Any], n_items: int, dim: int,
                         tensors: Mapping[str, np.ndarray]) -> "TextItemEmbedding":
        return cls(torch.as_tensor(tensors["items.text"]), dim)

    def retarget(self, inputs: DomainInputs) -> None:
        """A new domain's text vectors; the projection kept."""
        self.text = _text_of(inputs, self.text_dim).to(self.bias.device)


class FusedItemEmbedding(CodeItemEmbedding):
    """Codes and text together: an item's vector is the mean of its code embeddings (exactly as
    `CodeItemEmbedding`) plus its frozen text vector through a learned whitening projection (exactly as
    `TextItemEmbedding`: (x - b) W, no dropout).

    Buffers `codes` (I, D) and `text` (I, d_text) describe the domain's items; parameters `table`
    (D, M, H), `bias` (d_text,) and `proj` (H x d_text) are what transfers. Being a `CodeItemEmbedding`,
    it takes new codes and a permutation of its code tables the same way (the `weight` argument mixes
    the code part only); `retarget` also swaps in the new domain's text vectors, which must come from the
    encoder the model was trained with (their dimension is checked; `textcode finetune` checks the
    encoder's name too).
    """

    def __init__(self, codes: torch.Tensor, n_codes: int, text: torch.Tensor, dim: int):
        super().__init__(codes, n_codes, dim)
        if text.dim() != 2 or text.shape[0] != codes.shape[0]:
            raise ValueError(f"text must be (n_items, d_text) with the {codes.shape[0]} items of the codes, "
                             f"got {tuple(text.shape)}")
        self.register_buffer("text", text.float())  # (I, d_text)
        self.bias = nn.Parameter(torch.zeros(text.shape[1]))
        self.proj = nn.Linear(text.shape[1], dim, bias=False)
        nn.init.normal_(self.proj.weight, 0.0, 0.02)

    @property
    def text_dim(self) -> int:
        return self.text.shape[1]

    def project_text(self, text: torch.Tensor) -> torch.Tensor:
        """(..., d_text) text vectors -> (..., H): the text part, (x - b) W."""
        return self.proj(text - self.bias)

    def text_part(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """The text part of `items` (...,) -> (..., H); of every item (I, H) when None."""
        return self.project_text(self.text if items is None else self.text[items])

    def forward(self, items: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(items, weight) + self.text_part(items)

    def all_items(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        return super().all_items(weight) + self.text_part()  # (I, H)

    def vectors_with_codes(self, items: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Other codes, the items' own text part: a negative that differs from the item only in its codes."""
        return self.embed_codes(codes) + self.text_part(items)

    def embed_new(self, codes: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        if text is None:
            raise ValueError("fused item embeddings are built from codes and text: give the new items' text vectors")
        if text.dim() != 2 or text.shape != (codes.shape[0], self.text_dim):
            raise ValueError(f"text must be ({codes.shape[0]}, {self.text_dim}), got {tuple(text.shape)}")
        return self.embed_codes(codes.to(self.table.device)) + self.project_text(text.float().to(self.bias.device))

    reads: tuple[str, ...] = ("codes", "text")
    item_buffers: tuple[str, ...] = ("codes", "text")

    @classmethod
    def for_domain(cls, n_items: int, dim: int, inputs: DomainInputs) -> "FusedItemEmbedding":
        return cls(torch.as_tensor(_required(inputs.codes, "codes").astype(np.int64)), inputs.n_codes,
                   torch.as_tensor(_required(inputs.text, "text")), dim)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "text_dim": self.text_dim}

    @classmethod
    def from_description(cls, desc: Mapping[str, Any], n_items: int, dim: int,
                         tensors: Mapping[str, np.ndarray]) -> "FusedItemEmbedding":
        return cls(torch.as_tensor(tensors["items.codes"]), desc["n_codes"], torch.as_tensor(tensors["items.text"]), dim)

    def retarget(self, inputs: DomainInputs) -> None:
        """A new domain's codes and text vectors; code tables and text projection kept."""
        text = _text_of(inputs, self.text_dim)
        codes = _required(inputs.codes, "codes")
        if len(text) != len(codes):
            raise ValueError(f"{len(codes)} code tuples but {len(text)} text vectors")
        super().retarget(inputs)
        self.text = text.to(self.bias.device)


def _required(array: np.ndarray | None, name: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"this item embedding is built from the domain's {name}, which were not given")
    return array


def _text_of(inputs: DomainInputs, text_dim: int) -> torch.Tensor:
    """A new domain's (I, d_text) float32 text vectors, checked against a projection taking `text_dim`."""
    text = torch.as_tensor(_required(inputs.text, "text"))
    if text.dim() != 2 or text.shape[1] != text_dim:
        raise ValueError(f"the domain's text vectors are {tuple(text.shape)}, the model's text projection "
                         f"takes {text_dim} dimensions")
    return text.float()


# kind name (finetune.item_embedding, model.json's item_embedding.kind) -> class
ITEM_EMBEDDINGS: dict[str, type[nn.Module]] = {
    "code": CodeItemEmbedding,
    "id": IDItemEmbedding,
    "text": TextItemEmbedding,
    "fused": FusedItemEmbedding,
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
