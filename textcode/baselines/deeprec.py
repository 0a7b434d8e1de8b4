"""DeepRec (Kuchaiev and Ginsburg, "Training Deep AutoEncoders for Collaborative Filtering", arXiv:1708.01715,
2017): a deep autoencoder of each user's item vector, scoring a history by the reconstruction of its bag.

    encoder: I -> 512 -> 512 -> 1024 (the code), SELU;  dropout 0.8 on the code;  decoder: the mirror, 1024 -> 512
    -> 512 -> I, SELU on every layer, the output included (the authors' code default).
    loss: masked MSE, sum_i m_i (x_i - y_i)^2 / sum_i m_i over the batch;
    dense re-feeding: y = f(x) is a new, dense example: a second pass f(y) trained towards y (all entries).

Defaults are the paper's best Netflix model (layer sizes, SELU, code dropout 0.8, one re-feed, no weight decay,
batch 128, unconstrained decoder). Choices where the paper is silent or assumes explicit ratings:
- Implicit data. The paper's mask keeps the observed ratings only; on a binary vector every observed entry is 1,
  and that loss has the trivial minimiser y = 1. The mask here gives unobserved entries the weight
  `unobserved_weight` (default 1: the plain squared error over every entry); 0 is the paper's mask, kept for
  explicit data.
- Re-feeding in one step. The paper takes two optimizer updates per batch (one per pass); here the two losses
  are summed into one update (the project's loop takes one loss per step). The re-fed input y is detached:
  it is a new example, not a path for gradients.
- Optimiser: Adam at 1e-3 (the paper: SGD with momentum 0.9 at 0.005); early stopping on validation NDCG@10
  (the `selection` protocol), the epoch count an upper bound.
- Initialisation: Xavier-uniform weights, zero biases (as the authors' code), from a generator derived from the seed.
- The first layer reads a user's items, not the dense x (training.sparse_linear: x is ~0.2% dense); the re-fed y
  is dense, and goes through the same layer as a dense product.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

import numpy as np
import torch
from torch import nn

from textcode.baselines import Fitted
from textcode.baselines.training import (
    DenseScorer,
    Rows,
    activation,
    binary_matrix,
    check_positive,
    config_of,
    init_linears,
    load_state,
    loop_summary,
    resolve_device,
    row_batches,
    run_loop,
    sparse_linear,
)
from textcode.core.config import ConfigError

if TYPE_CHECKING:
    from textcode.data.split import LeaveOneOut


@dataclasses.dataclass(frozen=True)
class Config:
    layers: tuple[int, ...] = (512, 512, 1024)  # encoder widths after the input, the last is the code; the paper's best
    activation: Literal["selu", "elu", "relu", "tanh", "sigmoid"] = "selu"  # the paper's best: SELU
    dropout: float = 0.8  # on the code layer (the paper's best for this size)
    last_layer_activation: bool = True  # the activation on the output layer too (the authors' code default)
    refeed: bool = True  # dense re-feeding (one re-feed per batch, the paper's best)
    unobserved_weight: float = 1.0  # mask weight of unobserved entries (0 = the paper's mask, trivial on binary data)
    epochs: int = 100  # at most; early stopping on validation NDCG@10 ends it sooner
    batch_size: int = 128  # users per step (the paper's)
    lr: float = 1e-3  # Adam (the paper: SGD + momentum 0.9, lr 0.005)
    weight_decay: float = 0.0  # the paper's: none (dropout is the regulariser)
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping (0: never)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 1024  # users per scoring batch in validation


class DeepAutoencoder(nn.Module):
    def __init__(self, n_items: int, cfg: Config):
        super().__init__()
        widths = [n_items, *cfg.layers]
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        back = widths[::-1]
        self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(back[:-1], back[1:]))
        self.drop = nn.Dropout(cfg.dropout)
        self.act = activation(cfg.activation)
        self.last_layer_activation = cfg.last_layer_activation

    def forward(self, x: Rows) -> torch.Tensor:
        """f(x) of the bags x."""
        return self.after_input(sparse_linear(self.encoder[0], x))

    def refeed(self, y: torch.Tensor) -> torch.Tensor:
        """f(y) of a dense (B, I) input (dense re-feeding's)."""
        return self.after_input(self.encoder[0](y))

    def after_input(self, x: torch.Tensor) -> torch.Tensor:
        """The network from the first layer's pre-activation (B, layers[0]) on."""
        x = self.act(x)
        for layer in self.encoder[1:]:
            x = self.act(layer(x))
        x = self.drop(x)  # the code
        for i, layer in enumerate(self.decoder):
            x = layer(x)
            if i < len(self.decoder) - 1 or self.last_layer_activation:
                x = self.act(x)
        return x

    def score(self, x: Rows) -> torch.Tensor:
        return self(x)


class MaskedMSE(nn.Module):
    """The masked MSE of a batch, plus the dense re-feeding pass's MSE."""

    def __init__(self, net: DeepAutoencoder, unobserved_weight: float, refeed: bool):
        super().__init__()
        self.net, self.unobserved_weight, self.refeed = net, unobserved_weight, refeed

    def forward(self, batch: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch.dense()
        y = self.net(batch)
        m = x + self.unobserved_weight * (1.0 - x)
        loss = (m * (y - x).square()).sum() / m.sum().clamp_min(1.0)
        if self.refeed:
            dense = y.detach()
            loss = loss + (self.net.refeed(dense) - dense).square().mean()
        return loss, loss.detach()


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    check_positive(cfg, non_negative=("unobserved_weight", "weight_decay"))
    if not cfg.layers or min(cfg.layers) <= 0:
        raise ConfigError(f"baseline.layers must be non-empty and positive, got {list(cfg.layers)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"baseline.dropout must be in [0, 1), got {cfg.dropout}")
    device = resolve_device(device)
    users = binary_matrix(split)
    net = DeepAutoencoder(split.n_items, cfg)
    init_linears(net, seed)
    objective = MaskedMSE(net, cfg.unobserved_weight, cfg.refeed)
    model = DenseScorer(net, split.n_items)
    result = run_loop(objective, cfg, lambda epoch: row_batches(users, cfg.batch_size, seed, epoch), lambda: model,
                      split.valid, seed=seed, device=device, desc="deeprec", ckpt_dir=work)
    net.eval()
    return model, result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    return Fitted(model.tensors(), {"n_items": split.n_items}, loop_summary(result),
                  {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> DenseScorer:
    """The model-kind entry (textcode.core.model_kinds) of kind "deeprec"."""
    cfg, n = config_of(Config, meta, "deeprec")
    return DenseScorer(load_state(DeepAutoencoder(n, cfg), tensors, "deeprec", device), n)
