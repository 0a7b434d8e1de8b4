"""SVAE (Sachdeva, Manco, Ritacco and Pudi, "Sequential Variational Autoencoders for Collaborative Filtering",
WSDM 2019): a GRU over the time-ordered history, a variational latent at every step, and a multinomial over
all items for the next items at every step.

    e_t = Embedding(s_t) (256);  h_t = GRU(e_1..e_t) (200);  (mu_t, log var_t) = Linear(tanh(Linear(h_t)) (150)) (2 x 64)
    z_t = mu_t + eps sigma_t;    logits_t = Linear(tanh(Linear(z_t)) (150)) (I)
    loss per sequence: sum_t [ -1/|N_t| sum_{j in N_t} log softmax(logits_t)_j + beta KL(q(z_t) || N(0, I)) ]
    N_t: the next k = 4 distinct items after step t (the paper's best loss, "next-k")
    beta = min(0.2, sequences trained on / 200,000)

Defaults are the paper's and its released code's: the sizes above, next-k with k = 4, Adam with weight decay
5e-3 at torch's default rate 1e-3 (the code's configured 0.01 reaches only its AdaGrad option), at most 25
epochs, beta capped at 0.2 over 200,000 training sequences. Scoring a history = the last step's logits, from the
mean code mu (no sampling).

Choices where the paper is silent, or that differ from its code:
- Batches. The authors train one user per step (no padding); here `batch_size` sequences per step, left-aligned
  and masked (a GRU step never reads a later position, so padding changes nothing), the loss averaged over the
  batch's sequences. The anneal counter counts sequences, so it ramps as the authors' one-user steps did.
- The anneal counter runs over the whole training; the authors' code restarts it at every epoch (so there
  beta stays below users-per-epoch / 200,000). It is a buffer of the objective (`seen`), so a run resumed from
  its checkpoint (textcode/baselines/training.py, "Resuming") anneals exactly as an uninterrupted one.
- With a work folder, checkpoints every `checkpoint_every` steps besides each epoch end (long epochs on a CPU
  lose at most that many steps to a kill); a checkpoint is the weights twice (last and best) and Adam's moments.
- KL is summed over the steps, each step a full ELBO term, as the paper writes the objective (the code takes
  the mean over a sequence's steps, a weaker prior term on long sequences).
- Long sequences are cut from the end into windows of `max_len` + 1 items (textcode.data.windows.cut_from_end),
  the GRU starting afresh in each; a step's next-k targets are the next items of the whole training sequence,
  past its window's end too. Scoring reads the last `max_len` items of a history. max_len = 200 is this
  module's choice (the paper keeps whole sequences of users with at most 1,000 items).
- Selection on validation NDCG@10 (the `selection` protocol) with early stopping (`patience`), no gradient
  clipping (the authors' code has it commented out).
- Initialisation as torch's defaults in the authors' code (item embeddings N(0, 1), the GRU uniform in
  +-1/sqrt(200), linear biases uniform in +-1/sqrt(fan in)) with Xavier-normal linear weights (their explicit
  init), from a generator derived from the seed.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from textcode.baselines import Fitted
from textcode.baselines.training import (
    check_positive,
    config_of,
    init_generator,
    load_state,
    loop_summary,
    resolve_device,
    run_loop,
    state_arrays,
)
from textcode.data.batching import batch_order, pad_histories
from textcode.data.windows import Windows, cut_from_end

if TYPE_CHECKING:
    from textcode.data.split import LeaveOneOut


@dataclasses.dataclass(frozen=True)
class Config:
    item_embed: int = 256  # item embedding width (the code's)
    rnn: int = 200  # GRU width (the code's)
    hidden: int = 150  # the encoder's and the decoder's hidden layer (the code's)
    latent: int = 64  # z (the code's)
    next_k: int = 4  # items after each step that are its targets (the paper's best, "next-k")
    max_len: int = 200  # the most steps a training window or a scored history holds (our choice, see the module doc)
    beta_max: float = 0.2  # the anneal cap (the paper's)
    total_anneal_sequences: int = 200000  # training sequences over which beta ramps from 0 towards 1 (the code's)
    epochs: int = 25  # at most (the code's)
    batch_size: int = 32  # sequences per step (the authors': 1; see the module doc)
    max_batch_tokens: int = 0  # and at most this many padded steps per batch (0: no limit); bounds the logits' memory
    lr: float = 1e-3  # Adam (the code's effective rate)
    weight_decay: float = 5e-3  # Adam's weight decay (the code's)
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping (0: never)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 256  # users per scoring batch in validation
    checkpoint_every: int = 100  # steps between mid-epoch checkpoints when fit has a work folder (0: epoch ends only)


class SVAENet(nn.Module):
    def __init__(self, n_items: int, cfg: Config):
        super().__init__()
        self.items = nn.Embedding(n_items, cfg.item_embed)
        self.gru = nn.GRU(cfg.item_embed, cfg.rnn, batch_first=True)
        self.encoder = nn.Linear(cfg.rnn, cfg.hidden)
        self.posterior = nn.Linear(cfg.hidden, 2 * cfg.latent)
        self.decoder_hidden = nn.Linear(cfg.latent, cfg.hidden)
        self.decoder_out = nn.Linear(cfg.hidden, n_items)
        self.latent = cfg.latent

    def init(self, seed: int) -> None:
        g = init_generator(seed)
        with torch.no_grad():
            self.items.weight.normal_(0.0, 1.0, generator=g)
            bound = 1.0 / math.sqrt(self.gru.hidden_size)
            for p in self.gru.parameters():
                p.uniform_(-bound, bound, generator=g)
            for m in (self.encoder, self.posterior, self.decoder_hidden, self.decoder_out):
                nn.init.xavier_normal_(m.weight, generator=g)
                b = 1.0 / math.sqrt(m.in_features)
                m.bias.uniform_(-b, b, generator=g)

    def states(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, T, rnn) GRU outputs of left-aligned inputs (B, T)."""
        return self.gru(self.items(inputs))[0]

    def q(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.posterior(torch.tanh(self.encoder(h)))
        return out[..., :self.latent], out[..., self.latent:]  # mu, log var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(torch.tanh(self.decoder_hidden(z)))


@dataclasses.dataclass
class Steps:
    """A batch of training windows: inputs at every step and each step's next-k targets."""

    inputs: torch.Tensor  # (B, T) long, 0 where padded
    mask: torch.Tensor  # (B, T) bool: steps with at least one target
    targets: torch.Tensor  # (B, T, k) long
    target_mask: torch.Tensor  # (B, T, k) bool: a real, first occurrence of an item among the step's next k

    def to(self, device) -> "Steps":
        return Steps(self.inputs.to(device), self.mask.to(device), self.targets.to(device), self.target_mask.to(device))


def collate(windows: Windows, seq_end: np.ndarray, idx: np.ndarray, k: int) -> Steps:
    """Steps of windows `idx`; `seq_end[w]`: where window w's training sequence ends in `windows.items`."""
    n = len(windows.items)
    lengths = windows.lengths()[idx] - 1  # steps with a next item
    T = int(lengths.max())
    src = windows.starts[idx][:, None] + np.arange(T)[None, :]  # (B, T)
    valid = np.arange(T)[None, :] < lengths[:, None]
    inputs = np.where(valid, windows.items[np.minimum(src, n - 1)], 0)
    tpos = src[:, :, None] + np.arange(1, k + 1)[None, None, :]  # (B, T, k)
    tvalid = valid[:, :, None] & (tpos < seq_end[idx][:, None, None])
    targets = np.where(tvalid, windows.items[np.minimum(tpos, n - 1)], 0)
    for j in range(1, k):  # a repeated item among the next k is one target, as the authors' multi-hot vector
        tvalid[:, :, j] &= ~((targets[:, :, :j] == targets[:, :, j:j + 1]) & tvalid[:, :, :j]).any(-1)
    return Steps(torch.from_numpy(inputs.astype(np.int64)), torch.from_numpy(valid),
                 torch.from_numpy(targets.astype(np.int64)), torch.from_numpy(tvalid))


class NextKELBO(nn.Module):
    def __init__(self, net: SVAENet, beta_max: float, total_anneal_sequences: int):
        super().__init__()
        self.net, self.beta_max, self.total = net, beta_max, total_anneal_sequences
        # sequences trained on before the current batch; a buffer, so a checkpoint keeps it (a resumed run goes on
        # annealing where the killed one was)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    def beta_at(self, seen: int) -> float:
        """beta after `seen` training sequences: min(beta_max, seen / total); beta_max without a ramp."""
        return min(self.beta_max, seen / self.total) if self.total > 0 else self.beta_max

    def beta(self) -> torch.Tensor:
        """The KL weight of the next batch, a 0-dim float32 tensor on the counter's device (no host sync), computed
        in float64 as beta_at's Python float."""
        if self.total <= 0:
            return torch.tensor(self.beta_max, dtype=torch.float32, device=self.seen.device)
        return (self.seen.double() / self.total).clamp(max=self.beta_max).float()

    def forward(self, batch: Steps) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net.states(batch.inputs)[batch.mask]  # (P, rnn): the real steps only
        mu, logvar = self.net.q(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logp = F.log_softmax(self.net.decode(z), dim=-1)  # (P, I)
        tm = batch.target_mask[batch.mask].float()  # (P, k)
        nll = -(logp.gather(1, batch.targets[batch.mask]) * tm).sum(1) / tm.sum(1).clamp_min(1.0)
        kl = 0.5 * (-logvar + logvar.exp() + mu.square() - 1.0).sum(1)
        n_seq = batch.inputs.shape[0]
        loss = (nll + self.beta() * kl).sum() / n_seq
        if self.training:
            self.seen.add_(n_seq)
        return loss, loss.detach()


class SVAE:
    """A Recommender over a trained SVAENet: a history's score is its last step's logits from mu."""

    def __init__(self, net: SVAENet, n_items: int, max_len: int):
        self.net, self.n_items, self.max_history = net, int(n_items), int(max_len)
        self.final_beta: float | None = None  # set by `train`

    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        device = self.net.decoder_out.weight.device
        items, mask = pad_histories(histories, self.max_history)
        items, mask = items.to(device), mask.to(device)
        with torch.no_grad():
            h = self.net.states(items)  # (B, T, rnn)
            last = (mask.sum(1) - 1).clamp_min(0)
            mu, _ = self.net.q(h[torch.arange(len(last), device=device), last])
            return self.net.decode(mu)

    def tensors(self) -> dict[str, np.ndarray]:
        return state_arrays(self.net)


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    check_positive(cfg, ("item_embed", "rnn", "hidden", "latent", "next_k", "max_len"),
                   ("beta_max", "total_anneal_sequences", "max_batch_tokens", "weight_decay", "checkpoint_every"))
    device = resolve_device(device)
    windows = cut_from_end(split.train_offsets, split.train_items, cfg.max_len)
    if not len(windows):
        raise ValueError("svae: no training sequence has two items; nothing to train on")
    seq_end = np.asarray(split.train_offsets)[windows.users + 1]
    net = SVAENet(split.n_items, cfg)
    net.init(seed)
    objective = NextKELBO(net, cfg.beta_max, cfg.total_anneal_sequences)
    model = SVAE(net, split.n_items, cfg.max_len)

    def batches(epoch: int):
        for idx in batch_order(windows, cfg.batch_size, seed, epoch, max_tokens=cfg.max_batch_tokens):
            yield collate(windows, seq_end, idx, cfg.next_k)

    result = run_loop(objective, cfg, batches, lambda: model, split.valid, seed=seed, device=device, desc="svae",
                      ckpt_dir=work)
    net.eval()
    # where the ramp ended (the next update's beta): every epoch trains every window once. Not the counter, which
    # the best epoch's state (restored at the end, buffers included) has set back
    model.final_beta = objective.beta_at(len(windows) * result.epochs_run)
    return model, result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    summary = loop_summary(result)
    summary["final_beta"] = model.final_beta
    if model.final_beta < cfg.beta_max:
        summary["notes"].append(f"beta reached {model.final_beta:.3g} of its cap {cfg.beta_max:g} "
                                f"(total_anneal_sequences={cfg.total_anneal_sequences})")
    return Fitted(model.tensors(), {"n_items": split.n_items}, summary, {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> SVAE:
    """The model-kind entry (textcode.core.model_kinds) of kind "svae"."""
    cfg, n = config_of(Config, meta, "svae")
    return SVAE(load_state(SVAENet(n, cfg), tensors, "svae", device), n, cfg.max_len)
