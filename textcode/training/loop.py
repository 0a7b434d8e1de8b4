"""The one training loop: the recommenders (pre-training, fine-tuning) and the generators (the autoencoder
with its critic, the code prior) all train through `Loop`.

The caller owns the modules and their optimizers, `batches(epoch)` (this process's batches of epoch 1, 2,
..., in an order that is a function of the seed and the epoch) and `step(batch)` (one update of the
optimizers it drives, returning the values to log). The loop does the rest:

- the learning-rate schedule (textcode/training/schedule.py), applied to every optimizer before each step;
- validation after every epoch, early stopping on one monitored metric (higher is better; `patience`
  epochs without an improvement of more than `min_delta`, relative), and the best validated weights, which
  every module holds at the end;
- a wall-clock budget (`max_minutes`, validation included), checked at each epoch end or, with
  `cut_within_epoch`, after every step: the epoch in progress is then validated as it is.
  `Result.stopped` says what ended training (max_epochs, early_stopping or time_budget);
- a checkpoint (textcode/training/checkpoint.py) every `checkpoint_every` steps and at each epoch end. A
  rerun resumes from it, skips the batches its epoch already took, and, with the same seed, ends exactly
  where an uninterrupted run would have (weights, optimizer states, RNG states, logged values);
- several processes (DDP): they step in lockstep, rank 0 writes the checkpoints and its validation decides.

Forward passes run under `loop.autocast`: bf16 where `precision` resolves to it (`auto`: a GPU, or a CPU
with native bf16 units such as AMX); weights, gradients and optimizers stay fp32, and validation runs
outside autocast, so model selection and metrics are fp32.

`fit` is the recommenders' use: one objective module whose forward(batch) returns (loss to backpropagate,
value to log), trained with Adam at a constant rate.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm import tqdm

from textcode.runtime import distributed as dist
from textcode.runtime.device import resolve_precision
from textcode.runtime.memory import bound_kernel_cache, fix_mmap_threshold
from textcode.training.checkpoint import Checkpoint
from textcode.training.config import LoopConfig, TrainConfig
from textcode.training.schedule import Schedule, constant

log = logging.getLogger(__name__)


# oneDNN kernels kept for bf16 on a CPU (textcode/runtime/memory.py says why); one pre-training epoch, one
# thread: default 1,024 -> 4.3 GB RSS, 128 -> 2.9 GB, 16 -> 1.5 GB (fp32: 1.4 GB)
CPU_BF16_KERNEL_CACHE = 16


@dataclasses.dataclass
class State:
    """The loop's counters, kept in every checkpoint."""

    epoch: int = 0  # epochs finished (validated)
    batch: int = 0  # batches of epoch `epoch + 1` already taken (a mid-epoch checkpoint)
    step: int = 0  # optimizer steps so far
    best_metric: float | None = None
    best_epoch: int = 0  # 0: none yet
    bad_epochs: int = 0  # validated epochs since the last one that improved by more than min_delta
    patience_from: float | None = None  # the monitored value of that epoch
    wall_s: float = 0.0  # the loop's wall clock, summed over resumed runs
    epoch_train_s: float = 0.0  # seconds spent in the steps of epoch `epoch + 1` so far
    # early_stopping or time_budget once one has ended training ("" before). Reaching the epoch count is not
    # kept: a rerun asked for more epochs continues.
    stopped: str = ""
    history: list[dict] = dataclasses.field(default_factory=list)  # one row per epoch, see Loop.run


@dataclasses.dataclass
class Result:
    history: list[dict]
    best_epoch: int  # 1-based; 0 without validation
    best_metric: float | None
    epochs_run: int
    steps: int
    wall_s: float
    stopped: str  # max_epochs, early_stopping or time_budget
    precision: str  # what the forward passes ran in (fp32 or bf16)
    precision_reason: str


class Loop:
    """Epochs of `step` over `batches`, with validation, early stopping, a time budget and checkpoints.

    `modules` (saved, restored, and set to their best weights at the end) and `optimizers` are named (no
    '.' in a name); `cfg.epochs` is the most epochs to run; `seed` seeds torch's generator (plus the rank) before
    the first step; `ckpt_dir` is a folder for the checkpoint (None: none, the best weights kept in memory).
    `state.step` (optimizer steps taken) is what a step function reads for its own schedules.
    """

    def __init__(self, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
                 cfg: LoopConfig, *, seed: int, d: dist.Dist = dist.Dist(), ckpt_dir: Path | None = None,
                 schedule: Schedule = constant, precision: str = "fp32", cut_within_epoch: bool = False,
                 desc: str = "train"):
        self.modules, self.optimizers, self.cfg, self.d = dict(modules), dict(optimizers), cfg, d
        self.seed, self.schedule, self.cut_within_epoch, self.desc = seed, schedule, cut_within_epoch, desc
        self.checkpoint = None if ckpt_dir is None else Checkpoint(ckpt_dir, self.modules, self.optimizers, d)
        self.base_lr = {name: [group["lr"] for group in opt.param_groups] for name, opt in self.optimizers.items()}
        self.precision, self.precision_reason, self.autocast = forward_precision(precision, d.device)
        if d.is_main:
            log.info("%s: forward passes in %s (%s)", desc, self.precision, self.precision_reason)
        self.state = State()

    def run(self, batches: Callable[[int], Iterable[Any]], step: Callable[[Any], Mapping[str, torch.Tensor | float]],
            validate: Callable[[], Mapping[str, float]] | None = None, monitor: str | None = None) -> Result:
        """Train until `epochs`, early stopping or the time budget.

        `validate()` (called on every rank, under no_grad, modules in eval mode; rank 0's values count) returns
        metrics, of which `monitor` is maximised. A history row: epoch, batches (taken in the epoch), steps
        (so far), the mean of each value `step` returned over the epoch's steps and processes, valid (the
        metrics, or None), train_s, valid_s, wall_s.
        """
        if validate is not None and monitor is None:
            raise ValueError("validate needs `monitor`, the metric that early stopping and the best weights follow")
        d = self.d
        torch.manual_seed(self.seed + d.rank)
        own: dict[str, dict] = {"sums": {}, "counts": {}}  # this rank's sums of the logged values of the epoch
        if self.checkpoint is not None:
            loaded = self.checkpoint.load()
            if loaded is not None:
                counters, own = loaded
                self.state = State(**counters)
                log.info("%s: resumed after epoch %d, batch %d (step %d) from %s", self.desc, self.state.epoch,
                         self.state.batch, self.state.step, self.checkpoint.folder())
        st = self.state
        sums = {k: torch.tensor(v, device=d.device) for k, v in own["sums"].items()}
        counts: dict[str, int] = dict(own["counts"])
        best_weights = None  # in memory when there is no checkpoint
        start = time.perf_counter() - st.wall_s

        def save(best: bool = False) -> None:
            st.wall_s = time.perf_counter() - start
            self.checkpoint.save(dataclasses.asdict(st), {"sums": {k: float(v) for k, v in sums.items()}, "counts": counts},
                                 best)

        while not st.stopped and st.epoch < self.cfg.epochs:
            epoch = st.epoch + 1
            for m in self.modules.values():
                m.train()
            t0, before = time.perf_counter(), st.epoch_train_s
            cut = False
            bar = tqdm(batches(epoch), desc=f"{self.desc} epoch {epoch}", unit="batch", disable=not d.is_main,
                       leave=False)
            for b, batch in enumerate(bar):
                if b < st.batch:
                    continue  # taken before the checkpoint this run resumed from
                self._set_rates()
                values = step(batch)
                st.step, st.batch = st.step + 1, b + 1
                for k, v in values.items():
                    if k not in sums:
                        sums[k], counts[k] = torch.zeros((), device=d.device), 0
                    sums[k] += v.detach() if torch.is_tensor(v) else v
                    counts[k] += 1
                if st.batch % 20 == 0:
                    bar.set_postfix({k: f"{float(sums[k]) / counts[k]:.4g}" for k in sums})
                st.epoch_train_s = before + time.perf_counter() - t0
                if self.checkpoint is not None and self.cfg.checkpoint_every and st.step % self.cfg.checkpoint_every == 0:
                    save()
                if self.cut_within_epoch and dist.broadcast_object(d, self._over_budget(start)):
                    cut = True
                    break
            bar.close()
            means = {k: float(dist.all_reduce_sum(d, sums[k])) / max(1, counts[k] * d.world) for k in sorted(sums)}
            metrics, v0 = None, time.perf_counter()
            if validate is not None:
                for m in self.modules.values():
                    m.eval()
                with torch.no_grad():
                    metrics = dist.broadcast_object(d, {k: float(v) for k, v in validate().items()})
            row = {"epoch": epoch, "batches": st.batch, "steps": st.step, **means, "valid": metrics,
                   "train_s": st.epoch_train_s, "valid_s": time.perf_counter() - v0}
            st.epoch, st.batch, st.epoch_train_s = epoch, 0, 0.0
            sums, counts = {}, {}
            score = None if metrics is None else metrics[monitor]
            improved = score is not None and (st.best_metric is None or score > st.best_metric)
            if improved:
                st.best_metric, st.best_epoch = score, epoch
                if self.checkpoint is None:
                    best_weights = {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
                                    for name, m in self.modules.items()}
            if score is not None:
                ref = st.patience_from
                if ref is None or score - ref > self.cfg.min_delta * abs(ref):
                    st.patience_from, st.bad_epochs = score, 0
                else:
                    st.bad_epochs += 1
            if cut:
                st.stopped = "time_budget"
            elif self.cfg.patience and st.bad_epochs >= self.cfg.patience:
                st.stopped = "early_stopping"
            elif self._over_budget(start):
                st.stopped = "time_budget"
            st.stopped = dist.broadcast_object(d, st.stopped)  # ranks' clocks differ; rank 0's decides
            row["wall_s"] = st.wall_s = time.perf_counter() - start
            st.history.append(row)
            if d.is_main:
                self._log_epoch(row, means, improved, cut)
                if st.stopped == "time_budget":
                    self._warn_budget(row, cut)
            if self.checkpoint is not None:
                save(best=improved)
        if validate is not None and st.best_epoch:
            if self.checkpoint is not None:
                self.checkpoint.load_best()
            elif best_weights is not None:
                for name, m in self.modules.items():
                    m.load_state_dict(best_weights[name], strict=True)
        return Result(st.history, st.best_epoch, st.best_metric, st.epoch, st.step, st.wall_s,
                      st.stopped or "max_epochs", self.precision, self.precision_reason)

    def _set_rates(self) -> None:
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lr[name]):
                group["lr"] = self.schedule(base, self.state.step)

    def _log_epoch(self, row: dict, means: dict[str, float], improved: bool, cut: bool) -> None:
        logged = ", ".join(f"{k} {v:.4f}" for k, v in means.items())
        if row["valid"] is not None:
            logged += "; valid " + ", ".join(f"{k} {v:.4f}" for k, v in row["valid"].items())
        log.info("%s epoch %d%s: %s (%.1f s, %.0f s in all)%s%s", self.desc, row["epoch"],
                 f" (cut after {row['batches']} batches)" if cut else "", logged, row["train_s"] + row["valid_s"],
                 row["wall_s"], " *" if improved else "", f" -> {self.state.stopped}" if self.state.stopped else "")

    def _warn_budget(self, row: dict, cut: bool) -> None:
        """A budget is a safety net: say loudly when it, not the epochs or early stopping, ended training."""
        where = (f"cut epoch {row['epoch']} after {row['batches']} batches" if cut
                 else f"stopped after epoch {row['epoch']}")
        log.warning("%s: wall-clock budget max_minutes=%g reached (%.0f s): %s of at most %d "
                    "(stopped=time_budget; results depend on machine speed and load)", self.desc, self.cfg.max_minutes,
                    row["wall_s"], where, self.cfg.epochs)

    def _over_budget(self, start: float) -> bool:
        return bool(self.cfg.max_minutes) and time.perf_counter() - start > self.cfg.max_minutes * 60


def fit(objective: nn.Module, cfg: TrainConfig, batches: Callable[[int], Iterable[Any]], d: dist.Dist, *, seed: int,
        validate: Callable[[], Mapping[str, float]] | None = None, monitor: str | None = None,
        ckpt_dir: Path | None = None, desc: str = "train", params: Iterable[nn.Parameter] | None = None) -> Result:
    """Train `objective` (its trainable parameters, or `params`) with Adam at a constant rate: the recommenders.

    `seed` is the run's top-level `seed` (the loop seeds torch with seed + rank before the first step).

    `objective.forward(batch)` returns (loss to backpropagate, value to log as "loss"); it is what gets
    wrapped in DistributedDataParallel, so everything that needs gradients happens inside one forward call.
    Batches (textcode.data.batching.Batch) are built on the CPU and moved to the device here.
    """
    model = dist.wrap(d, objective)
    if cfg.mmap_threshold_mb and not fix_mmap_threshold(cfg.mmap_threshold_mb * 2**20) and d.is_main:
        log.warning("%s: mmap_threshold_mb=%d not applied: the C allocator is not glibc", desc, cfg.mmap_threshold_mb)
    trainable = [p for p in (params if params is not None else objective.parameters()) if p.requires_grad]
    # the fused kernel updates every tensor in one pass: a Scientific fine-tune step's Adam took 4 ms instead of
    # 16 ms on one CPU core (5% of the epoch); it needs floating-point tensors on a CPU or GPU
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in trainable)
    opt = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    loop = Loop({"objective": objective}, {"objective": opt}, cfg, seed=seed, d=d,
                ckpt_dir=ckpt_dir, precision=cfg.precision, desc=desc)

    def step(batch) -> dict[str, torch.Tensor]:
        with loop.autocast:
            loss, value = model(batch.to(d.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": value}

    return loop.run(batches, step, validate, monitor)


def forward_precision(requested: str, device: str) -> tuple[str, str, torch.autocast]:
    """(fp32 or bf16, why, the autocast context that forward passes run in) for a device.

    bf16 on a CPU also bounds oneDNN's kernel cache, so call this before the first step.
    """
    precision, why = resolve_precision(requested, device)
    if precision == "bf16" and device == "cpu":
        why += f"; oneDNN kernel cache {bound_kernel_cache(CPU_BF16_KERNEL_CACHE)}"
    return precision, why, torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
