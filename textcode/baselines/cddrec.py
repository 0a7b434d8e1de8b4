"""CDDRec (Wang, Liu, Yang and Yu, "Conditional Denoising Diffusion for Sequential Recommendation", PAKDD 2024,
arXiv:2304.11433): a sequence encoder, a cross-attentive conditional denoising decoder and a step-wise diffuser
over the next item's embedding, trained at every diffusion step with a cross-divergence and a contrastive loss.

    e_s = SASRec(s_1..s_p)                        the project's SequenceEncoder over ID item embeddings (causal)
    mu_theta(e_s, t) = CA(e_t [+ e_s[p]], e_s)    cross-attention: the query holds the step embedding e_t (a lookup
                                                  table), keys and values are e_s at positions <= p (paper Eq. 9)
    x^_t = mu_theta(e_s, t) + sqrt(beta_t) eps    the decoder's sample at step t (Eq. 10)
    x_t  = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps'   the diffused target item embedding (Eq. 11); x'_t a negative's
    L = sum_{t=0}^{T-1} 1/(t+1) [ L_cd^t + lambda (L_in^t + L_cross^t) ]                    (Eq. 16)
    L_cd^t    = -mean[ log sigma(<x^_t, x_t>) + log sigma(-<x^_t, x'_t>) ]        cross-divergence (Eq. 13)
    L_in^t    = InfoNCE(x^_t -> x_t), negatives the batch's other x_j and x^_j (cosine / tau) (Eq. 14)
    L_cross^t = InfoNCE(x^_t -> x~_t), x~_t the decoder's sample for an augmented view (crop, mask or reorder) (Eq. 15)
    score(history, item i) = cos(mu_theta(e_s, 0), e_i) over ALL items (no item is masked: the evaluator owns that)

Defaults are the authors' released code's (github.com/YuWang-1024/CDDRec, main.py / models.py / trainers.py):
hidden 128, one encoder layer with 4 heads, feed-forward 4 x hidden, max_seq_length 20, T = 20 steps with betas
linear from 1e-4 to 0.002, contrastive weight 0.3 and temperature 0.5, augmentation rates crop 0.6 / mask 0.3 /
reorder 0.6, Adam at 1e-3 without weight decay, 128 sequences per batch, at most 1,000 epochs, patience 50,
N(0, 0.02) initialisation with zero biases.

Equation numbers are the paper's as a public re-implementation quotes them (github.com/dw-michael/cddrec); the
paper's full text was not at hand.

Choices where the paper is silent, or that differ from the code (docs/baselines.md, "CDDRec"):
- Decoder. Eq. 9 makes mu_theta a cross-attention with the step embedding e_t as the query and the encoded
  history e_s as keys and values. Taken literally (`decoder_query: step`) the query is the same at every position,
  so it cannot single out the latest state: it averages the history (on a synthetic successor task, same tiny
  budget: hit@1 0.30, the default 0.52; a history item on top for 70% of users, the default 42%). The code instead
  feeds (e_s, time embedding) to nn.TransformerDecoderLayer, e_s as the residual stream, but without batch_first,
  so its self-attention mixes the users of a batch. Default (`decoder_query: state`): a post-LayerNorm
  cross-attention block whose query stream at position p is e_t + e_s[p], attending to e_s[0..p] (multi-head,
  output projection), then a GELU feed-forward of width hidden, as the code's decoder layer, without its
  self-attention over the batch.
- Reverse process and determinism. mu_theta reads e_s and t but not the previous sample, so the reverse chain from
  x^_T ~ N(0, I) ends in x^_0 = mu_theta(e_s, 0) + sqrt(beta_0) eps whatever it starts from (the code's inference
  also runs the t = 0 step only). Scoring takes that last step without its noise: x^_0 = mu_theta(e_s, 0).
  Scores are a function of the weights alone (no random draw at all).
- Cross-divergence. Eq. 13 writes sigma(-KL(q(x_t|x_0) || p_theta(x^_t|e_s, t))). With the code's variances
  (beta_t ~ 1e-4 .. 2e-3) the KL is ||.||^2 / (2 beta_t) + const, so the sigmoid saturates: the negative term gets
  no gradient and the positive one is an unbounded squared error. As the released code, the divergence is the
  negative inner product of the decoder's sample and the diffused embedding (the mean-dependent part of the
  equal-variance KL): a binary cross-entropy on <x^_t, x_t> and <x^_t, x'_t>. The negative is diffused at the
  same step (the paper's q(x'_t | x'_0); the code uses the clean negative). One negative per position, uniform
  over the items other than that position's target (the code excludes the user's whole sequence, its
  validation and test items included).
- Sampled steps (`sampled_steps` k > 0): each batch trains k steps drawn by Eq. 16's weights, each weighted so that
  the loss is an unbiased estimate of Eq. 16 (`step_weights`); the cost of a batch falls about T / k times.
- Noise of the decoder's sample: sqrt(beta_t) (Eq. 10); the code uses the DDPM posterior variance, about the same.
- Contrastive losses. Eq. 14/15 with cosine similarity and temperature tau, anchors the decoder's samples, over
  every target position of the batch (in-view) and over the batch's sequences (cross-view). A pair whose two
  positions have the same target item is not used as a negative (the code keeps such false negatives).
- Augmented view. One per training window, crop, mask or reorder drawn uniformly (the code means to draw one of
  the three but always reorders: it compares a one-element list with an integer); a masked item becomes a [mask]
  item (one extra row of the item table, never scored). The cross-view loss pairs the prediction after the whole
  window with the prediction after its augmented view (the code pairs padded positions index by index, padding and
  misaligned crops included); the augmented view gets no cross-divergence term (the code adds one, weighted by
  item ids through a bug).
- Data. Training sequences (s[:-2]) are cut from the end into windows of `max_len` + 1 items
  (textcode.data.windows.cut_from_end), so every training target is trained once per epoch (the code keeps only
  each user's last 20). Scoring reads a history's last `max_len` items.
- Dropout. One rate, 0.2, for the encoder (input, attention, hidden) and the decoder block (the code: 0.2 in its
  decoder layer and on the encoder's attention probabilities, 0 on the encoder's hidden states).
- Selection on validation NDCG@10 (the `selection` protocol) with early stopping (`patience`), the project's loop; with
  a work folder it checkpoints at every epoch end and every `checkpoint_every` steps (long epochs on a CPU lose at
  most that many steps to a kill), and a rerun resumes (textcode/baselines/training.py, "Resuming"). The objective keeps
  no state of its own: its negatives and views come from a generator keyed by [seed, epoch, 1], its noise from
  torch's, which the checkpoint restores.
- Scores are cosine similarities (the code's full ranking); `score: dot` ranks by the inner product that the
  cross-divergence trains.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

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
from textcode.core.config import ConfigError
from textcode.data.batching import iterate, pad_histories
from textcode.data.windows import cut_from_end
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import IDItemEmbedding
from textcode.rec.sasrec import SequenceEncoder

if TYPE_CHECKING:
    from textcode.data.batching import Batch
    from textcode.data.split import LeaveOneOut


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: int = 128  # item, position, step and decoder width (the code's hidden_size)
    n_layers: int = 1  # encoder blocks (the code's num_hidden_layers)
    n_heads: int = 4  # attention heads of the encoder and the decoder (the code's)
    ffn: int = 512  # encoder feed-forward width (the code's 4 x hidden)
    dropout: float = 0.2  # encoder and decoder dropout (the code's attention dropout; see the module doc)
    decoder_query: Literal["state", "step"] = "state"  # the decoder's query: e_t + e_s[p] or e_t alone (module doc)
    max_len: int = 20  # items a training window reads and a scored history keeps (the code's max_seq_length)
    steps: int = 20  # diffusion steps T (the code's)
    sampled_steps: int = 0  # steps trained per batch, drawn by weight 1/(t+1) (0: all T, Eq. 16 exactly; module doc)
    beta_start: float = 1e-4  # beta of the first step (the code's beta_1)
    beta_end: float = 0.002  # beta of the last step, linear in between (the code's beta_T)
    cl_weight: float = 0.3  # lambda on the in-view and cross-view contrastive losses (the code's 0.3; 0: none)
    cl_temperature: float = 0.5  # tau of both contrastive losses (the code's)
    crop: float = 0.6  # share of a window's items a crop keeps (the code's eta)
    mask: float = 0.3  # share of a window's items a mask replaces by [mask] (the code's gamma)
    reorder: float = 0.6  # share of a window's items a reorder shuffles (the code's beta)
    score: Literal["cosine", "dot"] = "cosine"  # similarity ranking all items (the code's: cosine)
    epochs: int = 1000  # at most (the code's)
    batch_size: int = 128  # training windows per step (the code's)
    lr: float = 1e-3  # Adam (the code's)
    weight_decay: float = 0.0  # Adam's (the code's)
    patience: int = 50  # epochs without a better validation NDCG@10 before stopping (the code's; 0: never)
    max_minutes: float = 0.0  # wall-clock budget of training, validation included (0: none)
    eval_batch_size: int = 256  # users per scoring batch in validation
    checkpoint_every: int = 100  # steps between mid-epoch checkpoints when fit has a work folder (0: epoch ends only)


def check(cfg: Config) -> None:
    check_positive(cfg, ("hidden", "n_layers", "n_heads", "ffn", "max_len", "steps", "beta_start", "beta_end",
                         "cl_temperature"),
                   ("dropout", "cl_weight", "weight_decay", "checkpoint_every", "sampled_steps"))
    for name, known in (("decoder_query", ("state", "step")), ("score", ("cosine", "dot"))):
        if getattr(cfg, name) not in known:
            raise ConfigError(f"baseline.{name} must be one of {', '.join(known)}, got {getattr(cfg, name)!r}")
    if cfg.hidden % cfg.n_heads:
        raise ConfigError(f"baseline.hidden ({cfg.hidden}) must be a multiple of baseline.n_heads ({cfg.n_heads})")
    if not cfg.beta_start <= cfg.beta_end < 1:
        raise ConfigError(f"baseline.beta_start <= beta_end < 1 needed, got {cfg.beta_start} and {cfg.beta_end}")
    for name in ("dropout", "crop", "mask", "reorder"):
        if not 0 <= getattr(cfg, name) <= 1:
            raise ConfigError(f"baseline.{name} must lie in [0, 1], got {getattr(cfg, name)!r}")


class CrossAttentiveDecoder(nn.Module):
    """mu_theta(e_s, t): a post-LayerNorm cross-attention block. Its query stream at position p is e_t + e_s[p]
    (`decoder_query: state`) or e_t alone (`step`, Eq. 9 literally); keys and values are e_s[0..p]; then a GELU
    feed-forward of width hidden (the code's decoder layer)."""

    def __init__(self, steps: int, hidden: int, n_heads: int, dropout: float, query: str):
        super().__init__()
        self.time = nn.Embedding(steps, hidden)
        self.query, self.key, self.value, self.out = (nn.Linear(hidden, hidden) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.norm1, self.norm2 = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.n_heads, self.head, self.with_state = n_heads, hidden // n_heads, query == "state"

    def forward(self, e_s: torch.Tensor, steps: torch.Tensor, positions: torch.Tensor,
                allowed: torch.Tensor) -> torch.Tensor:
        """(B, L, H) encoded history, (S,) steps, (B, P) the positions predicted from, (B, P, L) bool: the keys each
        of them reads -> (B, S, P, H)."""
        B, L, H = e_s.shape
        P = positions.shape[1]
        h = self.time(steps)[None, :, None, :]  # (1, S, 1, H)
        if self.with_state:
            h = h + e_s[torch.arange(B, device=e_s.device)[:, None], positions][:, None]  # (B, S, P, H)
        h = h.expand(B, -1, P, -1)
        q = self.query(h).view(B, -1, P, self.n_heads, self.head)  # (B, S, P, h, d)
        k = self.key(e_s).view(B, L, self.n_heads, self.head)  # (B, L, h, d)
        v = self.value(e_s).view(B, L, self.n_heads, self.head)
        logits = torch.einsum("bsphd,bjhd->bhspj", q, k) / math.sqrt(self.head)  # (B, h, S, P, L)
        weights = self.drop(torch.softmax(logits.masked_fill(~allowed[:, None, None], float("-inf")), dim=-1))
        attended = torch.einsum("bhspj,bjhd->bsphd", weights, v).reshape(B, -1, P, H)
        h = self.norm1(h + self.drop(self.out(attended)))
        return self.norm2(h + self.drop(self.ff2(self.drop(F.gelu(self.ff1(h))))))


class CDDRecNet(nn.Module):
    def __init__(self, n_items: int, cfg: Config):
        super().__init__()
        enc = SASRecConfig(n_layers=cfg.n_layers, n_heads=cfg.n_heads, hidden=cfg.hidden, ffn=cfg.ffn,
                           dropout=cfg.dropout, max_len=cfg.max_len)
        self.n_items = int(n_items)
        # one row more than the items: item n_items is the [mask] of the augmented views, never scored
        self.encoder = SequenceEncoder(enc, IDItemEmbedding(self.n_items + 1, cfg.hidden))
        self.decoder = CrossAttentiveDecoder(cfg.steps, cfg.hidden, cfg.n_heads, cfg.dropout, cfg.decoder_query)
        betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.steps, dtype=torch.float64)
        self.register_buffer("betas", betas.float(), persistent=False)  # (T,): step t = 0 .. T-1
        self.register_buffer("alphas_bar", torch.cumprod(1.0 - betas, 0).float(), persistent=False)

    def init(self, seed: int) -> None:
        """The code's initialisation (every weight matrix and embedding N(0, 0.02), biases zero, LayerNorms one and
        zero), drawn from a generator derived from the seed."""
        g = init_generator(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() > 1:
                    p.normal_(0.0, 0.02, generator=g)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)  # LayerNorm weights

    def table(self) -> torch.Tensor:
        """(n_items, H): the scored items (the [mask] row left out)."""
        return self.encoder.items.table.weight[:self.n_items]

    def mean_last(self, inputs: torch.Tensor, lengths: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """(B, T) left-aligned items, (B,) lengths >= 1 -> (B, S, H): mu_theta after each whole sequence."""
        e_s = self.encoder(inputs)
        allowed = (torch.arange(inputs.shape[1], device=inputs.device)[None, :] < lengths[:, None])[:, None, :]
        return self.decoder(e_s, steps, (lengths - 1)[:, None], allowed)[:, :, 0]


@dataclasses.dataclass
class Views:
    """A batch of training windows: inputs and next-item targets at every position, a negative per position, and
    an augmented view of each window's inputs."""

    inputs: torch.Tensor  # (B, L) long, 0 where padded
    targets: torch.Tensor  # (B, L) long
    mask: torch.Tensor  # (B, L) bool: positions with a target
    negatives: torch.Tensor  # (B, L) long
    aug_inputs: torch.Tensor  # (B, L') long
    aug_lengths: torch.Tensor  # (B,) long, >= 1

    def to(self, device) -> "Views":
        return Views(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))


def augment(seq: np.ndarray, cfg: Config, mask_item: int, rng: np.random.Generator) -> np.ndarray:
    """One augmented view of `seq`: crop, mask or reorder, drawn uniformly (CL4SRec's operators, the code's rates)."""
    n = len(seq)
    op = int(rng.integers(3))
    if op == 0:  # crop: a contiguous share of the items
        keep = max(1, int(cfg.crop * n))  # floor
        start = int(rng.integers(n - keep + 1))
        return seq[start:start + keep].copy()
    out = seq.copy()
    if op == 1:  # mask
        k = int(cfg.mask * n)
        out[rng.choice(n, size=k, replace=False)] = mask_item
        return out
    k = int(cfg.reorder * n)  # reorder: shuffle a contiguous stretch
    start = int(rng.integers(n - k + 1))
    out[start:start + k] = rng.permutation(out[start:start + k])
    return out


def views(batch: "Batch", cfg: Config, n_items: int, rng: np.random.Generator) -> Views:
    """A batch of windows with its negatives and augmented views ([mask] = item `n_items`), drawn by `rng`."""
    inputs = batch.inputs.numpy()
    targets = batch.targets.numpy()
    lengths = batch.mask.sum(1).numpy()
    negatives = rng.integers(0, n_items - 1, size=targets.shape)
    negatives += negatives >= targets  # uniform over the items other than the position's target
    if cfg.cl_weight:
        augs = [augment(inputs[r, :lengths[r]], cfg, n_items, rng) for r in range(len(inputs))]
    else:  # no contrastive term: no augmented view (a placeholder the objective never reads)
        augs = [inputs[r, :1] for r in range(len(inputs))]
    aug_lengths = np.array([len(a) for a in augs], dtype=np.int64)
    aug = np.zeros((len(augs), int(aug_lengths.max())), dtype=np.int64)
    for r, a in enumerate(augs):
        aug[r, :len(a)] = a
    return Views(batch.inputs, batch.targets, batch.mask, torch.from_numpy(negatives.astype(np.int64)),
                 torch.from_numpy(aug), torch.from_numpy(aug_lengths))


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, same: torch.Tensor, tau: float) -> torch.Tensor:
    """(S, N, H) anchors and their positives, (N, N) bool pairs that are not negatives of each other (same target
    item) -> (S,) mean over N of -log exp(a_i.p_i / tau) / (sum_j exp(a_i.p_j / tau) + sum_{j != i} exp(a_i.a_j / tau)),
    cosine similarities (Eq. 14 and 15)."""
    a, p = F.normalize(anchors, dim=-1), F.normalize(positives, dim=-1)
    eye = torch.eye(len(same), dtype=torch.bool, device=same.device)
    ap = (a @ p.transpose(1, 2) / tau).masked_fill(same & ~eye, float("-inf"))  # (S, N, N)
    aa = (a @ a.transpose(1, 2) / tau).masked_fill(same | eye, float("-inf"))
    return (torch.logsumexp(torch.cat([ap, aa], dim=-1), dim=-1) - ap.diagonal(dim1=1, dim2=2)).mean(1)


def step_weights(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """The steps a batch trains and each one's weight in the loss: all T steps weighted 1/(t+1) (Eq. 16), or, with
    `sampled_steps` k, k draws (with replacement, torch's generator) of step t with probability w_t / W, w_t =
    1/(t+1), each drawn step weighted W / k times its count: an unbiased estimate of Eq. 16's sum over the steps
    (importance sampling by the sum's own weights) -> (S,) distinct steps, (S,) weights."""
    w = 1.0 / torch.arange(1, cfg.steps + 1, dtype=torch.float64)
    if not cfg.sampled_steps:
        return torch.arange(cfg.steps), w.float()
    draws = torch.multinomial(w, cfg.sampled_steps, replacement=True)
    steps, counts = torch.unique(draws, return_counts=True)
    return steps, (w.sum() / cfg.sampled_steps * counts).float()


class Objective(nn.Module):
    """Eq. 16: the diffusion steps' cross-divergence and contrastive losses, weighted 1/(t+1) (every step, or an
    unbiased sample of them: `step_weights`)."""

    def __init__(self, net: CDDRecNet, cfg: Config):
        super().__init__()
        self.net, self.cfg = net, cfg

    def forward(self, batch: Views) -> tuple[torch.Tensor, torch.Tensor]:
        net, cfg = self.net, self.cfg
        device = batch.inputs.device
        B, L = batch.inputs.shape
        steps, weights = (x.to(device) for x in step_weights(cfg))  # (S,), (S,)
        beta = net.betas[steps][:, None, None]  # (S, 1, 1)
        abar = net.alphas_bar[steps][:, None, None]
        e_s = net.encoder(batch.inputs)  # (B, L, H)
        causal = torch.ones(L, L, dtype=torch.bool, device=device).tril().expand(B, L, L)  # p reads e_s[0..p]
        mu = net.decoder(e_s, steps, torch.arange(L, device=device).expand(B, L), causal)  # (B, S, L, H)
        x_hat_all = mu + beta.sqrt() * torch.randn_like(mu)  # Eq. 10
        x_hat = x_hat_all.transpose(0, 1)[:, batch.mask]  # (S, N, H): the target positions
        table = net.encoder.items.table.weight
        targets = batch.targets[batch.mask]  # (N,)
        x_0, neg_0 = table[targets], table[batch.negatives[batch.mask]]  # (N, H)
        x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * torch.randn_like(x_hat)  # Eq. 11, (S, N, H)
        neg_t = abar.sqrt() * neg_0 + (1 - abar).sqrt() * torch.randn_like(x_hat)
        pos, neg = (x_hat * x_t).sum(-1), (x_hat * neg_t).sum(-1)  # (S, N)
        per_step = (F.softplus(-pos) + F.softplus(neg)).mean(1)  # L_cd^t, (S,)
        if cfg.cl_weight:
            l_in = info_nce(x_hat, x_t, targets[:, None] == targets[None, :], cfg.cl_temperature)
            last = batch.mask.sum(1) - 1  # (B,): each window's last position
            rows = torch.arange(B, device=device)
            anchor = x_hat_all[rows, :, last].transpose(0, 1)  # (S, B, H)
            mu_aug = net.mean_last(batch.aug_inputs, batch.aug_lengths, steps).transpose(0, 1)  # (S, B, H)
            x_tilde = mu_aug + beta.sqrt() * torch.randn_like(mu_aug)
            final = batch.targets[rows, last]
            l_cross = info_nce(anchor, x_tilde, final[:, None] == final[None, :], cfg.cl_temperature)
            per_step = per_step + cfg.cl_weight * (l_in + l_cross)
        loss = (per_step * weights.to(per_step.dtype)).sum()
        return loss, loss.detach()


class CDDRec:
    """A Recommender over a trained CDDRecNet: a history's scores are the similarities of every item to the
    denoised x^_0 = mu_theta(e_s, 0) (no noise drawn: deterministic given the weights)."""

    def __init__(self, net: CDDRecNet, cfg: Config):
        self.net, self.cfg = net, cfg
        self.n_items, self.max_history = net.n_items, int(cfg.max_len)

    def score_histories(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        device = self.net.betas.device
        items, mask = pad_histories(histories, self.max_history)
        items, lengths = items.to(device), mask.sum(1).clamp_min(1).to(device)
        with torch.no_grad():
            x_0 = self.net.mean_last(items, lengths, torch.zeros(1, dtype=torch.long, device=device))[:, 0]  # (B, H)
            table = self.net.table()
            if self.cfg.score == "cosine":
                return F.normalize(x_0, dim=-1) @ F.normalize(table, dim=-1).T
            return x_0 @ table.T

    def tensors(self) -> dict[str, np.ndarray]:
        return state_arrays(self.net)


def train(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None):
    """(the trained Recommender, the training loop's Result); `work`: the checkpoint folder to resume from."""
    check(cfg)
    if split.n_items < 2:
        raise ValueError("cddrec: needs at least two items (a negative other than the target)")
    device = resolve_device(device)
    windows = cut_from_end(split.train_offsets, split.train_items, cfg.max_len)
    if not len(windows):
        raise ValueError("cddrec: no training sequence has two items; nothing to train on")
    net = CDDRecNet(split.n_items, cfg)
    net.init(seed)
    model = CDDRec(net, cfg)

    def batches(epoch: int):
        rng = np.random.default_rng([seed, epoch, 1])  # negatives and augmented views; the order draws [seed, epoch]
        for batch in iterate(windows, cfg.batch_size, seed, epoch):
            yield views(batch, cfg, split.n_items, rng)

    result = run_loop(Objective(net, cfg), cfg, batches, lambda: model, split.valid, seed=seed, device=device,
                      desc="cddrec", ckpt_dir=work)
    net.eval()
    return model, result


def fit(split: "LeaveOneOut", cfg: Config, *, seed: int = 0, device: str = "auto", work: Path | None = None) -> Fitted:
    """The baseline protocol (textcode.baselines); `work`: the checkpoint folder a killed fit resumes from."""
    model, result = train(split, cfg, seed=seed, device=device, work=work)
    return Fitted(model.tensors(), {"n_items": split.n_items}, loop_summary(result), {"history.json": result.history})


def load(meta: Mapping[str, Any], tensors: Mapping[str, np.ndarray], device: str) -> CDDRec:
    """The model-kind entry (textcode.core.model_kinds) of kind "cddrec"."""
    cfg, n = config_of(Config, meta, "cddrec")
    return CDDRec(load_state(CDDRecNet(n, cfg), tensors, "cddrec", device), cfg)
