"""One generic training loop: optimizer steps, per-epoch validation, early stopping, checkpoints.

It knows nothing about stages or models beyond an `objective` module whose forward(batch)
returns `(loss to backpropagate, loss value to log)`. The objective is what gets wrapped in
DistributedDataParallel, so everything that needs gradients happens inside one forward call.

The forward pass (loss included) runs under bf16 autocast where `precision` resolves to bf16
(`auto`: a GPU, or a CPU with native bf16 units such as AMX); weights, gradients and the optimizer
stay fp32, and validation runs outside autocast, so model selection and metrics are fp32.

A checkpoint is written after every epoch (weights, optimizer state and RNG states in
safetensors; counters in JSON) into `<dir>/ckpt.new/`, then swapped in by renames, so a kill
at any moment leaves one complete checkpoint. A rerun resumes after the last finished
epoch and, with the same seed, ends exactly where an uninterrupted run would have.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from textcode.core import artifacts
from textcode.runtime import distributed as dist
from textcode.runtime.device import resolve_precision
from textcode.runtime.memory import bound_kernel_cache, fix_mmap_threshold
from textcode.training.config import TrainConfig

log = logging.getLogger(__name__)


# oneDNN kernels kept for bf16 on a CPU (textcode/runtime/memory.py says why); one pre-training epoch, one
# thread: default 1,024 -> 4.3 GB RSS, 128 -> 2.9 GB, 16 -> 1.5 GB (fp32: 1.4 GB)
CPU_BF16_KERNEL_CACHE = 16


@dataclasses.dataclass
class Result:
    history: list[dict[str, float]]
    best_epoch: int
    best_metric: float | None
    epochs_run: int
    wall_s: float
    stopped: str
    precision: str  # what the forward passes ran in (fp32 or bf16)
    precision_reason: str


def fit(objective: nn.Module, cfg: TrainConfig, batches: Callable[[int], Iterable[Any]], d: dist.Dist,
        validate: Callable[[], float] | None = None, ckpt_dir: Path | None = None, desc: str = "train",
        params: Iterable[nn.Parameter] | None = None) -> Result:
    """Train `objective` (its trainable parameters, or `params`) with Adam.

    `batches(epoch)` yields this process's batches for an epoch; `validate()` returns a metric
    to maximise (called on every rank; only rank 0's value is used). After training, the
    objective holds the best-validated weights (or the last ones without validation).
    """
    model = dist.wrap(d, objective)
    precision, why, autocast = forward_precision(cfg.precision, d.device)
    if d.is_main:
        log.info("%s: forward passes in %s (%s)", desc, precision, why)
    if cfg.mmap_threshold_mb and not fix_mmap_threshold(cfg.mmap_threshold_mb * 2**20) and d.is_main:
        log.warning("%s: mmap_threshold_mb=%d not applied: the C allocator is not glibc", desc, cfg.mmap_threshold_mb)
    trainable = [p for p in (params if params is not None else objective.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    torch.manual_seed(cfg.seed + d.rank)
    state = {"epoch": 0, "best_metric": None, "best_epoch": 0, "bad_epochs": 0, "history": [], "wall_s": 0.0}
    if ckpt_dir is not None:
        loaded = _load_checkpoint(ckpt_dir, objective, opt, d)
        if loaded is not None:
            state = loaded
            log.info("%s: resumed after epoch %d from %s", desc, state["epoch"], ckpt_dir)
    best_weights = None  # in memory when there is no checkpoint folder
    start = time.perf_counter() - state["wall_s"]
    stopped = "max_epochs"
    if state.get("done"):
        stopped = state["done"]
    while not state.get("done") and state["epoch"] < cfg.epochs:
        epoch = state["epoch"] + 1
        objective.train()
        t0 = time.perf_counter()
        total, count = torch.zeros((), device=d.device), 0
        bar = tqdm(batches(epoch), desc=f"{desc} epoch {epoch}", unit="batch", disable=not d.is_main, leave=False)
        for batch in bar:
            with autocast:
                loss, value = model(batch.to(d.device))  # batches are built on the CPU
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += value.detach()
            count += 1
            if count % 20 == 0:
                bar.set_postfix(loss=f"{float(total) / count:.4f}")
        mean_loss = float(dist.all_reduce_sum(d, total)) / max(1, count * d.world)
        train_s = time.perf_counter() - t0
        metric = None
        if validate is not None:
            objective.eval()
            metric = dist.broadcast_object(d, float(validate()))
        row = {"epoch": epoch, "loss": mean_loss, "valid": metric, "train_s": train_s, "epoch_s": time.perf_counter() - t0}
        state["history"].append(row)
        state["epoch"] = epoch
        improved = metric is not None and (state["best_metric"] is None or metric > state["best_metric"])
        if improved:
            state["best_metric"], state["best_epoch"], state["bad_epochs"] = metric, epoch, 0
            if ckpt_dir is None:
                best_weights = {k: v.detach().clone() for k, v in objective.state_dict().items()}
        elif metric is not None:
            state["bad_epochs"] += 1
        if d.is_main:
            log.info("%s epoch %d: loss %.4f%s (%.1f s)%s", desc, epoch, mean_loss,
                     "" if metric is None else f", valid {metric:.4f}", row["epoch_s"], " *" if improved else "")
        state["wall_s"] = time.perf_counter() - start
        if cfg.patience and state["bad_epochs"] >= cfg.patience:
            state["done"] = stopped = "early_stopping"
        elif cfg.max_minutes and state["wall_s"] > cfg.max_minutes * 60:
            state["done"] = stopped = "time_budget"
        if ckpt_dir is not None:
            _save_checkpoint(ckpt_dir, objective, opt, state, d, best=improved or metric is None)
    if ckpt_dir is not None and validate is not None and state["best_epoch"]:
        best, _ = artifacts.load_tensors(_current(ckpt_dir) / "best.safetensors")
        objective.load_state_dict({k: torch.as_tensor(v) for k, v in best.items()}, strict=True)
    elif best_weights is not None:
        objective.load_state_dict(best_weights, strict=True)
    return Result(state["history"], state["best_epoch"], state["best_metric"], state["epoch"], state["wall_s"], stopped,
                  precision, why)


def forward_precision(requested: str, device: str) -> tuple[str, str, torch.autocast]:
    """(fp32 or bf16, why, the autocast context that forward passes run in) for a device.

    bf16 on a CPU also bounds oneDNN's kernel cache, so call this before the first step.
    """
    precision, why = resolve_precision(requested, device)
    if precision == "bf16" and device == "cpu":
        why += f"; oneDNN kernel cache {bound_kernel_cache(CPU_BF16_KERNEL_CACHE)}"
    return precision, why, torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")


# ----------------------------------------------------------------------------- checkpoints

def _current(ckpt_dir: Path) -> Path:
    """The complete checkpoint folder (a kill between the two renames leaves it as ckpt.old)."""
    for name in ("ckpt", "ckpt.old"):
        if (ckpt_dir / name / "state.json").exists():
            return ckpt_dir / name
    return ckpt_dir / "ckpt"


def _save_checkpoint(ckpt_dir: Path, objective: nn.Module, opt: torch.optim.Optimizer, state: dict, d: dist.Dist,
                     best: bool) -> None:
    rng = dist.gather_objects(d, torch.get_rng_state().numpy().tobytes().hex())
    if not d.is_main:
        dist.barrier(d)
        return
    new, cur, old = ckpt_dir / "ckpt.new", ckpt_dir / "ckpt", ckpt_dir / "ckpt.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in objective.state_dict().items()}
    artifacts.save_tensors(new / "last.safetensors", weights)
    if best:
        artifacts.save_tensors(new / "best.safetensors", weights)
    elif (_current(ckpt_dir) / "best.safetensors").exists():
        shutil.copyfile(_current(ckpt_dir) / "best.safetensors", new / "best.safetensors")
    tensors, opt_meta = _optimizer_to_tensors(opt)
    artifacts.save_tensors(new / "optimizer.safetensors", tensors)
    artifacts.write_json(new / "state.json", {**state, "optimizer": opt_meta, "rng": rng, "world": d.world})
    if cur.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(cur, old)
    os.replace(new, cur)
    shutil.rmtree(old, ignore_errors=True)
    dist.barrier(d)


def _load_checkpoint(ckpt_dir: Path, objective: nn.Module, opt: torch.optim.Optimizer, d: dist.Dist) -> dict | None:
    folder = _current(ckpt_dir)
    if not (folder / "state.json").exists():
        return None
    state = artifacts.read_json(folder / "state.json")
    if state.get("world") != d.world:
        raise artifacts.ArtifactError(f"{folder}: checkpoint was written by {state.get('world')} process(es); "
                                      f"resume with the same number (now {d.world})")
    weights, _ = artifacts.load_tensors(folder / "last.safetensors")
    objective.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()}, strict=True)
    tensors, _ = artifacts.load_tensors(folder / "optimizer.safetensors")
    _optimizer_from_tensors(opt, tensors, state.pop("optimizer"))
    torch.set_rng_state(torch.from_numpy(np.frombuffer(bytes.fromhex(state.pop("rng")[d.rank]), dtype=np.uint8).copy()))
    state.pop("world")
    return state


def _optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, slots in sd["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, np.ndarray], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = torch.as_tensor(value)
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
