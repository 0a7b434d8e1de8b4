"""AutoRec (Sedhain, Menon, Sanner and Xie, "AutoRec: Autoencoders Meet Collaborative Filtering", WWW 2015
companion). What it shares with the other autoencoder baselines is in textcode/baselines/training.py.

    h(r) = f(W g(V r + mu) + b),   min  sum_rows ||r - h(r)||^2 + l2/2 (||W||^2 + ||V||^2)

I-AutoRec (`variant: item`, the paper's better variant) reconstructs each item's vector over the training
users (r in {0,1}^U); U-AutoRec (`variant: user`) each user's vector over the items (r in {0,1}^I).
Defaults are the paper's: k = 500 hidden units, g = sigmoid, f = identity (its best I-AutoRec).

Choices where the paper is silent, or where it assumes explicit ratings:
- Implicit data. The paper sums errors over observed ratings only; on a binary matrix every observed entry is
  1 and that loss has the trivial minimiser h = 1. The loss here is over every entry (unobserved = 0).
- Scoring a history with I-AutoRec. A prediction r_ui = h(r_i)_u reads user u's output unit (row u of W and
  b_u), which exists only for training users, and the evaluator gives histories, not users. A history x is
  therefore folded in: with the trained item codes z_i = g(V r_i + mu), its user's output row is fitted by the
  training objective itself restricted to that row, min_w,b sum_i (x_i - w.z_i - b)^2 + l2/2 ||w||^2, a ridge
  regression with an unpenalised intercept (the paper does not penalise b), and scores = w.z_i (b is the same
  for every item of a user, so it does not change the ranking). For a training user's own history this is
  the row the training would give with the codes fixed. It needs f = identity (the paper's best); the item
  variant with f = sigmoid is refused. U-AutoRec scores h(x) directly.
- Optimisation. The paper uses L-BFGS / RProp over the whole matrix; here Adam at a constant rate on
  minibatches of rows (the project's training loop), the objective divided by the number of rows (the same
  minimiser), early stopping on validation NDCG@10 (the `selection` protocol). l2 is tuned by the paper over
  {0.001, 0.01, 0.1, 1, 100, 1000} with no single default; 1 is this module's choice: tune it per domain.
- Initialisation (not given): Xavier-uniform weights, zero biases, from a generator derived from the seed.
- V r is read from the row's nonzeros, not the dense r (training.sparse_linear: r is ~0.2% dense), in training,
  U-AutoRec's scoring and the item codes of the fold-in alike.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from textcode.baselines import Fitted
from textcode.baselines.ease import bag_pairs
from textcode.baselines.training import (
    DenseScorer,
    Rows,
    activation,
    binary_matrix,
    check_positive,
    config_of,
    expect_shapes,
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

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Config:
    variant: Literal["item", "user"] = "item"  # I-AutoRec (the paper's best) or U-AutoRec
    hidden: int = 500  # k, the paper's size
    hidden_activation: Literal["sigmoid", "identity"] = "sigmoid"  # g; the paper's best: sigmoid
    output_activation: Literal["identity", "sigmoid"] = "identity"  # f; the paper's best: identity (item: required)
    l2: float = 1.0  # lambda of lambda/2 (||W||^2 + ||V||^2); the paper tunes it (0.001 .. 1000), no default given
    epochs: int = 100  # at most; early stopping on validation NDCG@10 ends it sooner
    batch_size: int = 256  # rows (items for the item variant, users for the user variant) per step
    lr: float = 1e-3  # Adam (the paper: L-BFGS / RProp)
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping (0: never)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 1024  # users per scoring batch in validation


class AutoRecNet(nn.Module):
    """h(r) = f(decoder(g(encoder(r)))): one hidden layer, input and output of the same width."""

    def __init__(self, width: int, hidden: int, hidden_activation: str, output_activation: str):
        super().__init__()
        self.encoder = nn.Linear(width, hidden)  # V, mu
        self.decoder = nn.Linear(hidden, width)  # W, b
        self.hidden_activation, self.output_activation = hidden_activation, output_activation

    def code(self, r: Rows) -> torch.Tensor:
        return activation(self.hidden_activation)(sparse_linear(self.encoder, r))

    def forward(self, r: Rows) -> torch.Tensor:
        return activation(self.output_activation)(self.decoder(self.code(r)))

    def score(self, x: Rows) -> torch.Tensor:
        """U-AutoRec: the reconstruction of a user's bag is the score of every item."""
        return self(x)


class Reconstruction(nn.Module):
    """The AutoRec objective per row: squared error over every entry + l2/(2 n_rows) (||W||^2 + ||V||^2)."""

    def __init__(self, net: AutoRecNet, l2: float, n_rows: int):
        super().__init__()
        self.net, self.l2, self.n_rows = net, l2, n_rows

    def forward(self, batch: "Rows") -> tuple[torch.Tensor, torch.Tensor]:
        err = (batch.dense() - self.net(batch)).square().sum(1).mean()
        reg = self.net.encoder.weight.square().sum() + self.net.decoder.weight.square().sum()
        loss = err + self.l2 / (2 * self.n_rows) * reg
        return loss, loss.detach()


class ItemFoldIn:
    """I-AutoRec as a Recommender: a history's output row fitted against the trained item codes (module doc).

    scores = x Zc (Zc^T Zc + l2/2 I)^+ Zc^T, Zc the item codes centred over items (the unpenalised intercept).
    """

    def __init__(self, codes: np.ndarray | torch.Tensor, l2: float, device: str = "cpu"):
        z = torch.as_tensor(codes).detach().to("cpu", torch.float64)  # (I, k)
        if z.ndim != 2:
            raise ValueError(f"item codes must be (n_items, hidden), got shape {tuple(z.shape)}")
        self.n_items = int(z.shape[0])
        self.l2 = float(l2)
        self.codes = z.float()  # what the model folder keeps
        zc = z - z.mean(0, keepdim=True)
        inverse = torch.linalg.pinv(zc.T @ zc + 0.5 * self.l2 * torch.eye(z.shape[1], dtype=z.dtype), hermitian=True)
        self.left = (zc @ inverse).float().to(device)  # (I, k): a bag's sum of these rows is the fitted output row
        self.right = zc.float().to(device)  # (I, k)

    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        with torch.no_grad():
            rows, cols = bag_pairs(histories, self.n_items)
            w = torch.zeros((len(histories), self.left.shape[1]), device=self.left.device)
            w.index_add_(0, torch.from_numpy(rows).to(w.device), self.left[torch.from_numpy(cols).to(w.device)])
            return w @ self.right.T  # (B, I)

    def tensors(self) -> dict[str, Any]:
        return {"item_codes": self.codes.numpy()}


def item_codes(net: AutoRecNet, item_rows, batch_size: int, device: str) -> torch.Tensor:
    """(I, k) codes g(V r_i + mu) of every item's training vector (`item_rows`: the (I, U) CSR matrix)."""
    out = []
    with torch.no_grad():
        for lo in range(0, item_rows.shape[0], batch_size):
            out.append(net.code(Rows.of(item_rows, np.arange(lo, min(lo + batch_size, item_rows.shape[0])))
                                .to(device)).cpu())
    return torch.cat(out)


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    if cfg.variant == "item" and cfg.output_activation != "identity":
        raise ConfigError("baseline.output_activation: the item variant scores histories by a ridge fold-in "
                          "(textcode/baselines/autorec.py), which needs 'identity'")
    check_positive(cfg, ("hidden",), ("l2",))
    device = resolve_device(device)
    users = binary_matrix(split)  # (U, I)
    rows = users.T.tocsr() if cfg.variant == "item" else users
    net = AutoRecNet(rows.shape[1], cfg.hidden, cfg.hidden_activation, cfg.output_activation)
    init_linears(net, seed)
    objective = Reconstruction(net, cfg.l2, rows.shape[0]).to(device)

    def scorer():
        if cfg.variant == "item":
            return ItemFoldIn(item_codes(net, rows, cfg.batch_size, device), cfg.l2, device)
        return DenseScorer(net, split.n_items)

    result = run_loop(objective, cfg, lambda epoch: row_batches(rows, cfg.batch_size, seed, epoch), scorer, split.valid,
                      seed=seed, device=device, desc=f"autorec-{cfg.variant}", ckpt_dir=work)
    net.eval()
    return scorer(), result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    return Fitted(model.tensors(), {"n_items": split.n_items, "variant": cfg.variant}, loop_summary(result),
                  {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str):
    """The model-kind entry (textcode.core.model_kinds) of kind "autorec"."""
    cfg, n = config_of(Config, meta, "autorec")
    if cfg.variant == "item":
        expect_shapes("autorec", tensors, {"item_codes": (n, cfg.hidden)})
        return ItemFoldIn(tensors["item_codes"], cfg.l2, device)
    net = AutoRecNet(n, cfg.hidden, cfg.hidden_activation, cfg.output_activation)
    return DenseScorer(load_state(net, tensors, "autorec", device), n)
