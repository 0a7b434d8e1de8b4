"""Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
Filtering", WWW 2018): autoencoders of each user's item bag with a multinomial likelihood. Two model kinds:
`multvae` and `multdae`, one module; `variant` (vae or dae) is required, recorded in model.json, and must match
the kind.

    x~ = dropout_0.5(x / ||x||_2);   Mult-VAE: [I -> 600 -> 200] (mu, log var), z = mu + eps sigma, [200 -> 600 -> I]
                                     Mult-DAE: [I -> 200 -> I]
    tanh on every hidden layer (the DAE's code too; not on the VAE's mu / log var, nor the output)
    log p(x | z) = sum_i x_i log softmax(f(z))_i = sum over the bag's items i of f(z)_i - logsumexp(f(z))
    Mult-VAE loss: -log p + beta KL(q(z|x) || N(0, I)),  beta = min(beta_max, step / total_anneal_steps)
    plus lam sum ||W||^2 over the weight matrices (the authors' code; biases not penalised)

Defaults are the paper's and its released code's: the layer sizes above, input dropout 0.5, beta_max 0.2 reached
by linear annealing over total_anneal_steps = 200,000 updates, Adam at 1e-3, batches of 500 users, 200 epochs
at most, lam = 0 (VAE) and 0.01 / 500 (DAE), Xavier-uniform weights and biases drawn from a normal of standard
deviation 0.001 (truncated at two), the model of the best validation epoch kept; scores are the logits of the
mean code mu (no sampling, no dropout).

Choices where the paper is silent, or that differ from it here:
- Selection on validation NDCG@10 (the `selection` protocol, history kept by default; the paper: NDCG@100 on
  held-out users' 80/20 split) and early stopping after `patience` epochs without a better one.
- The anneal counter counts optimizer steps from the start of training, as the authors' code does. On a small
  domain (few users per epoch) beta stays far below beta_max within the epoch budget; the summary records the
  final beta. The cap is reached at update beta_max x total_anneal_steps: to reach it after N updates, set
  total_anneal_steps to N / beta_max.
- The anneal counter is a buffer of the objective (`step`), so it is checkpointed with the weights: a run
  resumed from its work folder (textcode/baselines/training.py, "Resuming") anneals exactly as an uninterrupted one.
- The first layer reads the bag's items, not the dense x (training.sparse_linear: x is ~0.2% dense): x / ||x||_2
  is 1/sqrt(n) at each of a bag's n items, dropout draws its mask over those n values (zeros stay zero), and
  log p sums over the same items.
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
from textcode.core import artifacts
from textcode.core.config import ConfigError

if TYPE_CHECKING:
    from textcode.data.split import LeaveOneOut

# the paper's sizes and its code's penalty, per variant (a Config's () / None stand for these)
PAPER_HIDDEN = {"vae": (600, 200), "dae": (200,)}
PAPER_L2 = {"vae": 0.0, "dae": 0.01 / 500}


@dataclasses.dataclass(frozen=True)
class Config:
    variant: Literal["vae", "dae"]  # required: Mult-VAE (kind multvae) or Mult-DAE (kind multdae)
    hidden: tuple[int, ...] = ()  # encoder widths down to the code; (): the paper's, vae (600, 200), dae (200,)
    dropout: float = 0.5  # on the normalised input (the paper's)
    l2: float | None = None  # lam of lam sum ||W||^2; None: the authors' code's, vae 0, dae 0.01/500
    beta_max: float = 0.2  # the anneal cap (the paper's); vae only
    total_anneal_steps: int = 200000  # steps of the linear ramp of beta from 0 to 1, capped at beta_max (the code's)
    epochs: int = 200  # at most (the paper's)
    batch_size: int = 500  # users per step (the paper's)
    lr: float = 1e-3  # Adam (the paper's)
    patience: int = 20  # epochs without a better validation NDCG@10 before stopping (0: never, as the paper)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 1024  # users per scoring batch in validation


def resolved(cfg: Config) -> tuple[tuple[int, ...], float]:
    """(encoder widths, lam) with the paper's values where the config leaves them open."""
    return cfg.hidden or PAPER_HIDDEN[cfg.variant], PAPER_L2[cfg.variant] if cfg.l2 is None else cfg.l2


class MultNet(nn.Module):
    """Encoder I -> hidden[0] -> ... -> hidden[-1] (doubled for the VAE's mu and log var), decoder the mirror."""

    def __init__(self, n_items: int, hidden: tuple[int, ...], variant: str, dropout: float):
        super().__init__()
        self.variant, self.latent = variant, hidden[-1]
        widths = [n_items, *hidden]
        outs = widths[1:-1] + [2 * hidden[-1] if variant == "vae" else hidden[-1]]
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], outs))
        back = widths[::-1]
        self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(back[:-1], back[1:]))
        self.drop = nn.Dropout(dropout)

    def encode(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, log var) for the VAE, (code, None) for the DAE of the bags x; dropout applies in training only."""
        n = torch.bincount(x.rows, minlength=len(x)).float()  # each bag's items (Rows holds each pair once)
        h = sparse_linear(self.encoder[0], x, self.drop(n.rsqrt()[x.rows]))
        for layer in self.encoder[1:]:
            h = layer(torch.tanh(h))
        if self.variant == "dae":
            return torch.tanh(h), None  # the DAE's code is a hidden layer of [I -> 200 -> I]: tanh on it
        return h[:, :self.latent], h[:, self.latent:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.decoder):
            z = layer(z)
            if i < len(self.decoder) - 1:
                z = torch.tanh(z)
        return z

    def score(self, x: Rows) -> torch.Tensor:
        return self.decode(self.encode(x)[0])  # the mean code: no sampling at scoring


class MultinomialELBO(nn.Module):
    def __init__(self, net: MultNet, l2: float, beta_max: float, total_anneal_steps: int):
        super().__init__()
        self.net, self.l2, self.beta_max, self.total = net, l2, beta_max, total_anneal_steps
        # updates taken; beta of an update = min(beta_max, steps before it / total). A buffer, so a checkpoint
        # keeps it and a resumed run goes on annealing where the killed one was
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def beta(self) -> torch.Tensor:
        """The KL weight of the next update, a 0-dim float32 tensor on the counter's device (no host sync):
        anneal_beta of the counter, computed in float64 as the Python float it equals."""
        if self.total <= 0:
            return torch.tensor(self.beta_max, dtype=torch.float32, device=self.step.device)
        return (self.step.double() / self.total).clamp(max=self.beta_max).float()

    def forward(self, batch: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net.encode(batch)
        if logvar is None:
            z, kl = mu, None
        else:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl = 0.5 * (-logvar + logvar.exp() + mu.square() - 1.0).sum(1).mean()
        logits = self.net.decode(z)
        loss = (logits.logsumexp(1)[batch.rows] - logits[batch.rows, batch.cols]).sum() / len(batch)
        if kl is not None:
            loss = loss + self.beta() * kl
        if self.l2:
            loss = loss + self.l2 * sum(m.weight.square().sum() for m in self.net.modules() if isinstance(m, nn.Linear))
        if self.training:
            self.step.add_(1)
        return loss, loss.detach()


def anneal_beta(beta_max: float, total_anneal_steps: int, step: int) -> float:
    """beta of update `step` (0-based): min(beta_max, step / total_anneal_steps); beta_max without a ramp."""
    return min(beta_max, step / total_anneal_steps) if total_anneal_steps > 0 else beta_max


def anneal(cfg: Config, step: int) -> float:
    return anneal_beta(cfg.beta_max, cfg.total_anneal_steps, max(0, step))


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    hidden, l2 = resolved(cfg)
    check_positive(cfg, non_negative=("beta_max", "total_anneal_steps"))
    if min(hidden) <= 0 or l2 < 0:
        raise ConfigError(f"baseline.hidden must be positive and baseline.l2 >= 0, got {list(hidden)} and {l2}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"baseline.dropout must be in [0, 1), got {cfg.dropout}")
    device = resolve_device(device)
    users = binary_matrix(split)
    net = MultNet(split.n_items, hidden, cfg.variant, cfg.dropout)
    init_linears(net, seed, bias_std=0.001)
    objective = MultinomialELBO(net, l2, cfg.beta_max, cfg.total_anneal_steps)
    model = DenseScorer(net, split.n_items)
    result = run_loop(objective, cfg, lambda epoch: row_batches(users, cfg.batch_size, seed, epoch), lambda: model,
                      split.valid, seed=seed, device=device, desc=f"mult{cfg.variant}", ckpt_dir=work)
    net.eval()
    return model, result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    hidden, l2 = resolved(cfg)
    summary = loop_summary(result)
    if cfg.variant == "vae":
        summary["final_beta"] = anneal(cfg, result.steps - 1)  # the last update's
        if result.best_epoch:  # the beta of the best epoch's last update
            summary["best_epoch_beta"] = anneal(cfg, result.history[result.best_epoch - 1]["steps"] - 1)
        if summary["final_beta"] < cfg.beta_max:
            summary["notes"].append(f"beta reached {summary['final_beta']:.3g} of its cap {cfg.beta_max:g} "
                                    f"(total_anneal_steps={cfg.total_anneal_steps})")
    return Fitted(model.tensors(), {"n_items": split.n_items, "variant": cfg.variant, "hidden": list(hidden),
                                            "l2": l2}, summary, {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> DenseScorer:
    """The model-kind entry (textcode.core.model_kinds) of kinds "multvae" and "multdae"."""
    kind = meta.get("kind", "multvae")
    cfg, n = config_of(Config, meta, kind)
    if kind in ("multvae", "multdae") and kind != f"mult{cfg.variant}":
        raise artifacts.ArtifactError(f"{kind} model.json: its config's variant is {cfg.variant!r}; "
                                      f"kind {kind!r} needs variant {kind[4:]!r}")
    hidden, _ = resolved(cfg)
    return DenseScorer(load_state(MultNet(n, hidden, cfg.variant, cfg.dropout), tensors, kind, device), n)
