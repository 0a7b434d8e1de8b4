"""Training of the sequence-generation family: the autoencoder (with its critic) and the code prior.

Both use one small loop (`Loop`): length-bucketed shuffled batches, a warmup + cosine learning
rate, validation after every epoch with early stopping on it (never on test), a wall-clock
budget, and a resumable checkpoint (weights, optimizer states and RNG in safetensors, loop
counters in JSON) written every `checkpoint_every` steps and at each epoch end. A killed run
continues from its last checkpoint and replays the same batch order (each epoch's order is a
function of the seed and the epoch).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from textcode.core import artifacts
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

log = logging.getLogger("gentrain")

WARMUP_STEPS = 200  # or a tenth of the run, whichever is shorter
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


def eval_order(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def window_batch(w: Windows, rows: np.ndarray, n_levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(items (B, T), lengths (B,)) with T the batch's longest window rounded up for the levels."""
    lengths = torch.from_numpy(w.lengths[rows])
    items = pad_to_level_multiple(torch.from_numpy(w.items[rows]), lengths, n_levels)
    return items, lengths


def real_targets(items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Items at real positions, row-major: the order of the autoencoder's logits."""
    return items[level_masks(lengths, items.shape[1], 1)[0]]


def sample_candidates(targets: torch.Tensor, n_items: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled softmax: (candidates, target index into them) = the batch's items plus uniform negatives."""
    negatives = torch.randint(n_items, (max(size - len(targets), 0),))
    candidates = torch.unique(torch.cat([targets, negatives]))  # sorted
    return candidates, torch.searchsorted(candidates, targets)


# ----------------------------------------------------------------------------- checkpointed loop

@dataclasses.dataclass
class LoopState:
    epoch: int = 0  # current epoch
    batch: int = 0  # batches of the current epoch already done
    step: int = 0  # optimizer steps so far
    best: float = -math.inf  # best validation score (higher is better)
    best_epoch: int = -1
    bad_epochs: int = 0
    seconds: float = 0.0  # training wall-clock, summed over resumed runs
    stopped: str = ""  # why training ended
    history: list = dataclasses.field(default_factory=list)


class Loop:
    """Optimizers, schedule, checkpoints and early stopping around a `step` and a `validate` function."""

    def __init__(self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], ckpt_dir: Path,
                 *, seed: int, batch_size: int, max_epochs: int, patience: int, max_minutes: float, checkpoint_every: int,
                 lr: dict[str, float], total_steps: int):
        self.modules, self.optimizers, self.dir = modules, optimizers, Path(ckpt_dir)
        self.seed, self.batch_size, self.max_epochs, self.patience = seed, batch_size, max_epochs, patience
        self.max_seconds, self.every, self.lr, self.total_steps = max_minutes * 60, checkpoint_every, lr, total_steps
        self.state = LoopState()

    # -------------------------------------------------------------- checkpoint
    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        groups = {}
        for name, module in self.modules.items():
            tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            for pid, st in sd["state"].items():
                tensors.update({f"opt.{name}.{pid}.{k}": torch.as_tensor(v) for k, v in st.items()})
            groups[name] = sd["param_groups"]
        tmp = self.dir / f".state.{os.getpid()}.safetensors"
        artifacts.save_tensors(tmp, tensors)
        os.replace(tmp, self.dir / "state.safetensors")
        # the JSON is written last: a state.json always describes a complete state.safetensors
        artifacts.write_json(self.dir / "state.json", {"loop": dataclasses.asdict(self.state), "param_groups": groups})

    def restore(self) -> bool:
        if not (self.dir / "state.json").exists():
            return False
        meta = artifacts.read_json(self.dir / "state.json")
        arrays, _ = artifacts.load_tensors(self.dir / "state.safetensors")
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
        for name, module in self.modules.items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True)
        for name, opt in self.optimizers.items():
            state: dict[int, dict] = {}
            prefix = f"opt.{name}."
            for key, v in tensors.items():
                if key.startswith(prefix):
                    pid, field = key[len(prefix):].split(".", 1)
                    state.setdefault(int(pid), {})[field] = v
            opt.load_state_dict({"state": state, "param_groups": meta["param_groups"][name]})
        torch.set_rng_state(tensors["rng.torch"])
        self.state = LoopState(**meta["loop"])
        return True

    def save_best(self, module: nn.Module) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".best.{os.getpid()}.safetensors"
        artifacts.save_tensors(tmp, module.state_dict())
        os.replace(tmp, self.dir / "best.safetensors")

    def load_best(self, module: nn.Module) -> None:
        arrays, _ = artifacts.load_tensors(self.dir / "best.safetensors")
        module.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)

    # -------------------------------------------------------------- schedule
    def set_lr(self) -> None:
        s = self.state.step
        warm = min(1.0, (s + 1) / min(WARMUP_STEPS, max(self.total_steps // 10, 1)))
        cos = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(self.total_steps, 1))))
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.lr[name] * warm * cos

    # -------------------------------------------------------------- run
    def run(self, lengths: np.ndarray, step: Callable[[np.ndarray], dict[str, float]],
            validate: Callable[[], dict[str, float]], score_key: str, best_module: nn.Module, desc: str) -> LoopState:
        """Train until max_epochs, early stopping or the time budget; `best_module` ends at its best weights."""
        if self.restore():
            log.info("%s: resumed at epoch %d, batch %d (step %d)", desc, self.state.epoch, self.state.batch, self.state.step)
        st = self.state
        while not st.stopped:
            batches = batch_order(lengths, self.batch_size, self.seed, st.epoch)
            for m in self.modules.values():
                m.train()
            start = time.perf_counter()
            running: dict[str, float] = {}
            bar = tqdm(range(st.batch, len(batches)), desc=f"{desc} epoch {st.epoch}", leave=False, mininterval=5)
            for b in bar:
                self.set_lr()
                stats = step(batches[b])
                st.step += 1
                st.batch = b + 1
                for k, v in stats.items():
                    running[k] = 0.98 * running.get(k, v) + 0.02 * v
                bar.set_postfix({k: f"{v:.3g}" for k, v in running.items()}, refresh=False)
                out_of_time = st.seconds + time.perf_counter() - start > self.max_seconds
                if st.step % self.every == 0 or out_of_time:
                    st.seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    self.save()
                if out_of_time:
                    break
            bar.close()
            st.seconds += time.perf_counter() - start
            for m in self.modules.values():
                m.eval()
            with torch.no_grad():
                metrics = validate()
            score = metrics[score_key]
            complete = st.batch == len(batches)
            st.history.append({"epoch": st.epoch, "step": st.step, "complete": complete, "seconds": round(st.seconds, 1),
                               "train": {k: round(v, 5) for k, v in running.items()}, "valid": metrics})
            log.info("%s epoch %d (%s batches): %s, %.0f s so far", desc, st.epoch, "all" if complete else st.batch,
                     ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), st.seconds)
            if score > st.best:
                st.best, st.best_epoch, st.bad_epochs = score, st.epoch, 0
                self.save_best(best_module)
            else:
                st.bad_epochs += 1
            if not complete:
                st.stopped = f"time budget of {self.max_seconds / 60:g} min reached in epoch {st.epoch}"
            elif st.bad_epochs >= self.patience:
                st.stopped = f"no better validation {score_key} for {self.patience} epochs"
            elif st.epoch + 1 >= self.max_epochs:
                st.stopped = f"max_epochs ({self.max_epochs}) reached"
            else:
                st.epoch, st.batch = st.epoch + 1, 0
            self.save()
        self.load_best(best_module)
        best_module.eval()
        return st


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
    nll = np.zeros(int(w.lengths.sum()), np.float64)
    pred = np.zeros(len(nll), np.int64)
    starts = np.concatenate([[0], np.cumsum(w.lengths)])
    for rows in eval_order(w.lengths, batch_size):
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
        for r, n in zip(rows, w.lengths[rows]):  # logits are row-major over the batch's real positions
            nll[starts[r]:starts[r] + n] = batch_nll[offset:offset + n]
            pred[starts[r]:starts[r] + n] = batch_pred[offset:offset + n]
            offset += n
    return {"target": w.flat_items(), "nll": nll, "pred": pred,
            "position": np.concatenate([np.arange(n) for n in w.lengths]) if len(w) else np.zeros(0, np.int64)}


@torch.no_grad()
def encode_codes(model: SeqAutoencoder, w: Windows, batch_size: int) -> dict[int, np.ndarray]:
    """Codes of every quantized level for each window: {level: (W, ceil(L / 2**level), K)}, -1 at padding."""
    model.eval()
    K = model.cfg.quantizer.n_codebooks
    out = {l: np.full((len(w), w.length // 2 ** l, K), -1, np.int64) for l in model.cfg.quantized_levels}
    for rows in eval_order(w.lengths, batch_size):
        items, lengths = window_batch(w, rows, model.cfg.n_levels)
        _, codes, _ = model(items, lengths)
        for l, c in codes.items():
            out[l][rows, :c.shape[1]] = c.numpy()
    return out


def train_autoencoder(model: SeqAutoencoder, disc: SequenceDiscriminator | None, windows: WindowSplit,
                      cfg: GenTrainConfig, disc_cfg: DiscriminatorConfig, ckpt_dir: Path, seed: int) -> LoopState:
    torch.manual_seed(seed)
    train = windows.train
    n_levels = model.cfg.n_levels
    modules: dict[str, nn.Module] = {"model": model}
    optimizers: dict[str, torch.optim.Optimizer] = {
        "model": torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)}
    lrs = {"model": cfg.lr}
    if disc is not None:
        modules["disc"] = disc
        optimizers["disc"] = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.9))
        lrs["disc"] = cfg.disc_lr
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    loop = Loop(modules, optimizers, ckpt_dir, seed=seed, batch_size=cfg.batch_size, max_epochs=cfg.max_epochs,
                patience=cfg.patience, max_minutes=cfg.max_minutes, checkpoint_every=cfg.checkpoint_every, lr=lrs,
                total_steps=steps_per_epoch * cfg.max_epochs)

    def step(rows: np.ndarray) -> dict[str, float]:
        items, lengths = window_batch(train, rows, n_levels)
        true_items = targets = real_targets(items, lengths)
        candidates = None
        if cfg.sampled_softmax:
            candidates, targets = sample_candidates(true_items, model.n_items, cfg.sampled_softmax)
        logits, _, losses = model(items, lengths, candidates)
        rec = F.cross_entropy(logits, targets)
        loss = rec + losses["vq"]
        stats = {"rec": rec.item(), "acc": (logits.argmax(-1) == targets).float().mean().item()}
        if "kl" in losses:
            loss = loss + kl_weight(cfg, loop.state.step, loop.total_steps) * losses["kl"]
            stats["kl"] = losses["kl"].item()
        use_adv = disc is not None and loop.state.step >= cfg.adversary_start * loop.total_steps
        if use_adv:
            mask = level_masks(lengths, items.shape[1], 1)[0]
            fake = scatter_positions(model.soft_embeddings(logits, candidates), mask)  # (B, T, d_item)
            g_adv = generator_loss(disc(fake, mask), disc_cfg.loss)
            weight = cfg.adversary_factor * adaptive_weight(rec, g_adv, model.last_layer())
            loss = loss + weight * g_adv
            stats.update(g_adv=g_adv.item(), adv_w=weight.item())
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
            stats["d_loss"] = d_loss.item()
        return stats

    def validate() -> dict[str, float]:
        r = reconstruct(model, windows.valid, cfg.eval_batch_size)
        return {"accuracy": float((r["pred"] == r["target"]).mean()), "ce": float(r["nll"].mean())}

    return loop.run(train.lengths, step, validate, "accuracy", model, "autoencoder")


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
                seed: int) -> LoopState:
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    steps_per_epoch = math.ceil(len(train.lengths) / cfg.batch_size)
    loop = Loop({"prior": prior}, {"prior": opt}, ckpt_dir, seed=seed, batch_size=cfg.batch_size,
                max_epochs=cfg.max_epochs, patience=cfg.patience, max_minutes=cfg.max_minutes,
                checkpoint_every=cfg.checkpoint_every, lr={"prior": cfg.lr}, total_steps=steps_per_epoch * cfg.max_epochs)

    def step(rows: np.ndarray) -> dict[str, float]:
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
        return {"code_nll": code_nll.sum().item() / codes, "length_nll": len_nll.mean().item()}

    def validate() -> dict[str, float]:
        m = prior_nll(prior, valid, cfg.eval_batch_size)
        return {"neg_nll_per_token": -m["nll_per_token"], **m}

    return loop.run(train.lengths, step, validate, "neg_nll_per_token", prior, "prior")
