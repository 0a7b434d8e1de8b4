"""CDAE (Wu, DuBois, Zheng and Ester, "Collaborative Denoising Auto-Encoders for Top-N Recommender Systems",
WSDM 2016): a denoising autoencoder of each user's item vector with a per-user input node.

    x~ = dropout_q(x) (kept entries scaled by 1/(1-q));  z_u = h(W x~ + V_u + b);  y_u = f(W' z_u + b')
    loss: logistic (f = sigmoid) or squared (f = identity), over the observed items and sampled unobserved ones;
    regularisation lambda/2 (||W||^2 + ||W'||^2 + ||V||^2 + ||b||^2 + ||b'||^2).

Defaults: K = 50 hidden units and a sigmoid hidden layer (the sizes and activation the paper's comparisons use),
the logistic loss with negative sampling (the paper's recommended setting for implicit data); the paper tunes the
corruption level q, the number of negatives and lambda per data set and gives no single value: this module's
choices are q = 0.5, 5 sampled negatives per observed item, lambda = 0.01.

Choices where the paper is silent:
- Users at scoring time. The user node V_u exists only for training users, and `score_histories` receives
  histories, not users (a validation or test history is scored as a new user's would be). Such a history gets
  the mean of the trained user vectors (`unseen_user: mean`, the default: the average user offset the decoder
  was trained with) or a zero vector (`unseen_user: zero`, the node switched off). Validation scores the same
  way, so selection sees what the test sees. The model folder keeps that one vector, not the user table.
- Negatives are drawn per user and epoch, uniformly over all items (`negatives` x the user's observed items),
  by the batch generator of (seed, epoch); a draw that hits an observed item adds no negative. `negatives: 0`
  trains on every unobserved item instead (no sampling).
- Scores are the output pre-activations (f is monotone, so the ranking is the same).
- Optimiser: Adam at 1e-3 on minibatches of users (the paper: AdaGrad), the objective divided by the number of
  users (the same minimiser; a batch regularises its own users' vectors, the shared weights by 1/U each step),
  early stopping on validation NDCG@10 (the `selection` protocol).
- Initialisation: Xavier-uniform weights, zero biases, zero user vectors (a user starts with no offset), from a
  generator derived from the seed.
- W x~ is read from the user's items, not the dense x (training.sparse_linear: x is ~0.2% dense); the corruption
  draws its mask over those entries only, as a zero stays zero under dropout. With sampled negatives the loss
  reads the observed and sampled entries only, so only their outputs are computed (not the user x item product).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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
    hidden: int = 50  # K (the paper's comparisons)
    corruption: float = 0.5  # q: probability of dropping each input entry (tuned in the paper; our choice)
    hidden_activation: Literal["sigmoid", "identity", "tanh", "relu"] = "sigmoid"  # h (the paper's default)
    loss: Literal["logistic", "squared"] = "logistic"  # logistic: f = sigmoid; squared: f = identity
    negatives: int = 5  # sampled unobserved items per observed item, per user and epoch; 0: every unobserved item
    l2: float = 0.01  # lambda (tuned in the paper; our choice)
    unseen_user: Literal["mean", "zero"] = "mean"  # the user vector of a scored history (see the module doc)
    epochs: int = 100  # at most; early stopping on validation NDCG@10 ends it sooner
    batch_size: int = 256  # users per step
    lr: float = 1e-3  # Adam (the paper: AdaGrad)
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping (0: never)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 1024  # users per scoring batch in validation


class CDAENet(nn.Module):
    """The shared part of CDAE (what scoring needs) plus `user_vector`, the node value of a scored history."""

    def __init__(self, n_items: int, hidden: int, hidden_activation: str):
        super().__init__()
        self.encoder = nn.Linear(n_items, hidden)  # W, b
        self.decoder = nn.Linear(hidden, n_items)  # W', b'
        self.act = activation(hidden_activation)
        self.register_buffer("user_vector", torch.zeros(hidden))

    def hidden(self, x: Rows, users: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K) hidden layer z for the bags x, holding `values` at their items (None: 1), and user vectors (B, K)
        or (K,)."""
        return self.act(sparse_linear(self.encoder, x, values) + users)

    def score(self, x: Rows) -> torch.Tensor:
        return self.decoder(self.hidden(x, self.user_vector))  # (B, I) output pre-activations


class DenoisingLoss(nn.Module):
    def __init__(self, net: CDAENet, n_users: int, cfg: Config):
        super().__init__()
        self.net = net
        self.users = nn.Embedding(n_users, net.encoder.out_features)  # V
        nn.init.zeros_(self.users.weight)
        self.corruption, self.loss, self.negatives, self.l2 = cfg.corruption, cfg.loss, cfg.negatives, cfg.l2
        self.n_users = n_users

    def forward(self, batch: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.users(batch.ids)  # (B, K)
        kept = F.dropout(torch.ones(batch.rows.shape, device=v.device), self.corruption, training=True)
        z = self.net.hidden(batch, v, kept)
        if self.negatives:
            # the loss reads the observed and the sampled entries only, so only their outputs are computed
            # (each entry once, as the 0/1 mask counts it), not the (B, I) product: the same loss, ~1% of the work
            width = batch.width
            observed = batch.rows * width + batch.cols
            entries = torch.unique(torch.cat([observed, batch.sampled_rows * width + batch.sampled_cols]))
            rows, cols = entries // width, entries % width
            target = torch.isin(entries, observed).float()
            logits = (z[rows] * self.net.decoder.weight[cols]).sum(1) + self.net.decoder.bias[cols]  # (entries,)
        else:
            target, logits = batch.dense(), self.net.decoder(z)  # (B, I): every unobserved item counts
        if self.loss == "logistic":
            err = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            err = (logits - target).square()
        shared = sum(p.square().sum() for p in self.net.parameters())
        loss = err.sum() / len(batch) + 0.5 * self.l2 * (v.square().sum(1).mean() + shared / self.n_users)
        return loss, loss.detach()

    def set_unseen_user(self, how: str) -> None:
        """The scoring user vector (module doc) from the current user table."""
        with torch.no_grad():
            value = self.users.weight.mean(0) if how == "mean" else torch.zeros_like(self.net.user_vector)
            self.net.user_vector.copy_(value)


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    check_positive(cfg, ("hidden",), ("negatives", "l2"))
    if not 0.0 <= cfg.corruption < 1.0:
        raise ConfigError(f"baseline.corruption must be in [0, 1), got {cfg.corruption}")
    device = resolve_device(device)
    users = binary_matrix(split)
    net = CDAENet(split.n_items, cfg.hidden, cfg.hidden_activation)
    init_linears(net, seed)
    objective = DenoisingLoss(net, users.shape[0], cfg)
    model = DenseScorer(net, split.n_items)

    def scorer() -> DenseScorer:
        objective.set_unseen_user(cfg.unseen_user)
        return model

    result = run_loop(objective, cfg, lambda epoch: row_batches(users, cfg.batch_size, seed, epoch, cfg.negatives),
                      scorer, split.valid, seed=seed, device=device, desc="cdae", ckpt_dir=work)
    net.eval()
    return scorer(), result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    return Fitted(model.tensors(), {"n_items": split.n_items}, loop_summary(result),
                  {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> DenseScorer:
    """The model-kind entry (textcode.core.model_kinds) of kind "cdae"."""
    cfg, n = config_of(Config, meta, "cdae")
    return DenseScorer(load_state(CDAENet(n, cfg.hidden, cfg.hidden_activation), tensors, "cdae", device), n)
