"""Training of the sequence-generation family: the autoencoder (with its critic) and the code prior.

Both train through the one training loop (textcode/training/loop.py): length-bucketed shuffled batches
(each epoch's order a function of the seed and the epoch), a warmup + cosine learning rate, validation after
every epoch with early stopping on it (never on test), a wall-clock budget that cuts the epoch in progress,
and a resumable checkpoint every `checkpoint_every` steps and at each epoch end.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from textcode.data.windows import Windows, WindowSplit
from textcode.gen.config import DiscriminatorConfig, GenTrainConfig, PriorTrainConfig
from textcode.gen.discriminator import (
    SequenceDiscriminator,
    critic_loss,
    generator_loss,
    scatter_positions,
)
from textcode.gen.prior import CodePrior, SlotLayout
from textcode.gen.rsvq import SeqAutoencoder, level_masks, pad_to_level_multiple
from textcode.training.loop import Loop, Result
from textcode.training.schedule import warmup_cosine

LOGIT_CHUNK = 4096  # real positions scored at once when evaluating


# ----------------------------------------------------------------------------- batching

def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Shuffled batches of windows of similar length (less padding), reproducible per (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(perm), pool):
        chunk = perm[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int) -> Callable[[int], list[np.ndarray]]:
    """The loop's `batches(epoch)`: its epochs count from 1, batch_order's from 0 (the orders trained so far)."""
    return lambda epoch: batch_order(lengths, batch_size, seed, epoch - 1)


def eval_order(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def window_batch(w: Windows, rows: np.ndarray, n_levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(items (B, T), lengths (B,)) with T the batch's longest window rounded up for the levels."""
    lengths = torch.from_numpy(w.lengths()[rows])
    items = pad_to_level_multiple(torch.from_numpy(w.padded(rows)), lengths, n_levels)
    return items, lengths


def real_targets(items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Items at real positions, row-major: the order of the autoencoder's logits."""
    return items[level_masks(lengths, items.shape[1], 1)[0]]


def sample_candidates(targets: torch.Tensor, n_items: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled softmax: (candidates, target index into them) = the batch's items plus uniform negatives."""
    negatives = torch.randint(n_items, (max(size - len(targets), 0),))
    candidates = torch.unique(torch.cat([targets, negatives]))  # sorted
    return candidates, torch.searchsorted(candidates, targets)


# ----------------------------------------------------------------------------- autoencoder

def kl_weight(cfg: GenTrainConfig, step: int, total_steps: int) -> float:
    """KL annealing: linear from 0 to kl_weight over the first kl_warmup of the planned steps."""
    return cfg.kl_weight * min(1.0, step / max(cfg.kl_warmup * total_steps, 1))


def adaptive_weight(rec: torch.Tensor, adv: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """VQGAN's balance: scale the adversarial loss so its gradient at the last layer matches reconstruction's."""
    g_rec = torch.autograd.grad(rec, last, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv, last, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, 1e4).detach()


@torch.no_grad()
def reconstruct(model: SeqAutoencoder, w: Windows, batch_size: int) -> dict[str, np.ndarray]:
    """Per real position of every window: the true item, its NLL and the argmax item (window-major order)."""
    model.eval()
    n_levels = model.cfg.n_levels
    window_lengths = w.lengths()
    nll = np.zeros(int(window_lengths.sum()), np.float64)
    pred = np.zeros(len(nll), np.int64)
    starts = np.concatenate([[0], np.cumsum(window_lengths)])
    for rows in eval_order(window_lengths, batch_size):
        items, lengths = window_batch(w, rows, n_levels)
        enc = model.encode(items, lengths)
        h = model.real_positions(model.decode_inputs(enc.inputs, lengths), lengths)  # (N, D)
        targets = real_targets(items, lengths)
        batch_nll, batch_pred = np.zeros(len(h)), np.zeros(len(h), np.int64)
        for start in range(0, len(h), LOGIT_CHUNK):  # (chunk, n_items) logits at a time: 37k items fill memory fast
            logits = model.logits(h[start:start + LOGIT_CHUNK])
            batch_nll[start:start + LOGIT_CHUNK] = F.cross_entropy(logits, targets[start:start + LOGIT_CHUNK], reduction="none").numpy()
            batch_pred[start:start + LOGIT_CHUNK] = logits.argmax(-1).numpy()
        offset = 0
        for r, n in zip(rows, window_lengths[rows]):  # logits are row-major over the batch's real positions
            nll[starts[r]:starts[r] + n] = batch_nll[offset:offset + n]
            pred[starts[r]:starts[r] + n] = batch_pred[offset:offset + n]
            offset += n
    return {"target": w.flat_items(), "nll": nll, "pred": pred,
            "position": np.concatenate([np.arange(n) for n in window_lengths]) if len(w) else np.zeros(0, np.int64)}


@torch.no_grad()
def encode_codes(model: SeqAutoencoder, w: Windows, batch_size: int) -> dict[int, np.ndarray]:
    """Codes of every quantized level for each window: {level: (W, ceil(L / 2**level), K)}, -1 at padding."""
    model.eval()
    K = model.cfg.quantizer.n_codebooks
    out = {l: np.full((len(w), w.length // 2 ** l, K), -1, np.int64) for l in model.cfg.quantized_levels}
    for rows in eval_order(w.lengths(), batch_size):
        items, lengths = window_batch(w, rows, model.cfg.n_levels)
        _, codes, _ = model(items, lengths)
        for l, c in codes.items():
            out[l][rows, :c.shape[1]] = c.numpy()
    return out


def train_autoencoder(model: SeqAutoencoder, disc: SequenceDiscriminator | None, windows: WindowSplit,
                      cfg: GenTrainConfig, disc_cfg: DiscriminatorConfig, ckpt_dir: Path, seed: int) -> Result:
    train = windows.train
    n_levels = model.cfg.n_levels
    modules: dict[str, nn.Module] = {"model": model}
    optimizers: dict[str, torch.optim.Optimizer] = {
        "model": torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)}
    if disc is not None:
        modules["disc"] = disc
        optimizers["disc"] = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.9))
    total_steps = math.ceil(len(train) / cfg.batch_size) * cfg.epochs  # planned: the schedules run over them
    loop = Loop(modules, optimizers, cfg, seed=seed, ckpt_dir=ckpt_dir,
                schedule=warmup_cosine(total_steps), cut_within_epoch=True, desc="autoencoder")

    def step(rows: np.ndarray) -> dict[str, torch.Tensor]:
        items, lengths = window_batch(train, rows, n_levels)
        true_items = targets = real_targets(items, lengths)
        candidates = None
        if cfg.sampled_softmax:
            candidates, targets = sample_candidates(true_items, model.n_items, cfg.sampled_softmax)
        logits, _, losses = model(items, lengths, candidates)
        rec = F.cross_entropy(logits, targets)
        loss = rec + losses["vq"]
        logged = {"rec": rec, "acc": (logits.argmax(-1) == targets).float().mean()}
        if "kl" in losses:
            loss = loss + kl_weight(cfg, loop.state.step, total_steps) * losses["kl"]
            logged["kl"] = losses["kl"]
        use_adv = disc is not None and loop.state.step >= cfg.adversary_start * total_steps
        if use_adv:
            mask = level_masks(lengths, items.shape[1], 1)[0]
            fake = scatter_positions(model.soft_embeddings(logits, candidates), mask)  # (B, T, d_item)
            g_adv = generator_loss(disc(fake, mask), disc_cfg.loss)
            weight = cfg.adversary_factor * adaptive_weight(rec, g_adv, model.last_layer())
            loss = loss + weight * g_adv
            logged.update(g_adv=g_adv, adv_w=weight)
        optimizers["model"].zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizers["model"].step()
        if use_adv:
            real = scatter_positions(model.item_emb.weight.detach()[true_items], mask)
            d_loss = critic_loss(disc(real, mask), disc(fake.detach(), mask), disc_cfg.loss)
            optimizers["disc"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["disc"].step()
            logged["d_loss"] = d_loss
        return logged

    def validate() -> dict[str, float]:
        r = reconstruct(model, windows.valid, cfg.eval_batch_size)
        return {"accuracy": float((r["pred"] == r["target"]).mean()), "ce": float(r["nll"].mean())}

    result = loop.run(epoch_batches(train.lengths(), cfg.batch_size, seed), step, validate, monitor="accuracy")
    model.eval()
    return result


# ----------------------------------------------------------------------------- prior

@dataclasses.dataclass(frozen=True)
class CodeData:
    """Windows as the prior sees them: lengths and their slot codes."""

    lengths: np.ndarray  # (W,)
    codes: dict[int, np.ndarray]  # level -> (W, T_level, K)

    def batch(self, rows: np.ndarray, layout: SlotLayout) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.from_numpy(self.lengths[rows])
        codes = {l: torch.from_numpy(c[rows]) for l, c in self.codes.items()}
        return lengths, layout.gather(codes, lengths)


@torch.no_grad()
def prior_nll(prior: CodePrior, data: CodeData, batch_size: int) -> dict[str, float]:
    """Held-out NLL: nats per window, and per token (the length plus each code)."""
    prior.eval()
    total, tokens = 0.0, 0
    for rows in eval_order(data.lengths, batch_size):
        lengths, slot_codes = data.batch(rows, prior.layout)
        len_nll, code_nll = prior(lengths, slot_codes)
        total += float((len_nll + code_nll).sum())
        tokens += int(len(rows) + prior.layout.count[lengths].sum() * prior.K)
    return {"nll_per_window": total / len(data.lengths), "nll_per_token": total / tokens}


def train_prior(prior: CodePrior, train: CodeData, valid: CodeData, cfg: PriorTrainConfig, ckpt_dir: Path,
                seed: int) -> Result:
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    total_steps = math.ceil(len(train.lengths) / cfg.batch_size) * cfg.epochs
    loop = Loop({"prior": prior}, {"prior": opt}, cfg, seed=seed, ckpt_dir=ckpt_dir,
                schedule=warmup_cosine(total_steps), cut_within_epoch=True, desc="prior")

    def step(rows: np.ndarray) -> dict[str, torch.Tensor]:
        lengths, slot_codes = train.batch(rows, prior.layout)
        len_nll, code_nll = prior(lengths, slot_codes)
        codes = int(prior.layout.count[lengths].sum()) * prior.K
        # mean per code plus mean per window for the length: averaged in with ~700 codes per window (L=100)
        # the length would get almost no gradient and come out visibly wrong (measured: mean 56 vs 76 at L=100)
        loss = code_nll.sum() / codes + len_nll.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(prior.parameters(), cfg.grad_clip)
        opt.step()
        return {"code_nll": code_nll.sum() / codes, "length_nll": len_nll.mean()}

    def validate() -> dict[str, float]:
        m = prior_nll(prior, valid, cfg.eval_batch_size)
        return {"neg_nll_per_token": -m["nll_per_token"], **m}

    result = loop.run(epoch_batches(train.lengths, cfg.batch_size, seed), step, validate, monitor="neg_nll_per_token")
    prior.eval()
    return result
