"""The one checkpoint format of every training run (textcode/training/loop.py).

A checkpoint is a folder `<dir>/ckpt/`:

    last.safetensors       every module's weights now: "<module>.<state_dict key>"
    best.safetensors       the same keys at the best validation so far (absent before the first)
    optimizer.safetensors  every optimizer's tensor state: "<optimizer>.<parameter index>.<slot>"
    rng.safetensors        each process's generator states: "<rank>.cpu" (and "<rank>.cuda" on a GPU)
    state.json             the loop's counters, each process's own counters, the optimizers' parameter groups
                           and non-tensor state, the number of processes, and the format

It is written into `<dir>/ckpt.new/` (state.json last), then swapped in by two renames (the current one
becomes `ckpt.old` for a moment), so a kill at any moment leaves one complete checkpoint. Only rank 0
writes; every rank reads. Nothing is pickled: tensors in safetensors, the rest in JSON, and modules load
with strict=True.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from textcode.core import artifacts
from textcode.runtime import distributed as dist

FORMAT = 2  # state.json "format"; the two layouts before the loops were merged had none


class Checkpoint:
    """Save and restore `modules`, `optimizers` and the random generators under `root` (a folder of its own)."""

    def __init__(self, root: Path, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
                 d: dist.Dist):
        if any("." in name for name in (*modules, *optimizers)):
            raise ValueError("module and optimizer names may not contain '.' (it separates them from their keys)")
        self.root, self.modules, self.optimizers, self.d = Path(root), modules, optimizers, d

    def folder(self) -> Path:
        """The complete checkpoint (a kill between the two renames leaves it as ckpt.old)."""
        for name in ("ckpt", "ckpt.old"):
            if (self.root / name / "state.json").exists():
                return self.root / name
        return self.root / "ckpt"

    def save(self, counters: dict, own: dict, best: bool) -> None:
        """Write the checkpoint: the loop's `counters`, each rank's `own` (JSON-able) state and RNG states;
        `best`: the weights now are the best so far (else best.safetensors is carried over)."""
        ranks = dist.gather_objects(self.d, (_rng_states(self.d.device), own))
        if not self.d.is_main:
            dist.barrier(self.d)
            return
        new, cur, old = self.root / "ckpt.new", self.root / "ckpt", self.root / "ckpt.old"
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        weights = self._weights()
        artifacts.save_tensors(new / "last.safetensors", weights)
        if best:
            artifacts.save_tensors(new / "best.safetensors", weights)
        elif (self.folder() / "best.safetensors").exists():
            shutil.copyfile(self.folder() / "best.safetensors", new / "best.safetensors")
        tensors, optimizers = {}, {}
        for name, opt in self.optimizers.items():
            opt_tensors, optimizers[name] = _optimizer_to_tensors(opt)
            tensors.update({f"{name}.{key}": value for key, value in opt_tensors.items()})
        artifacts.save_tensors(new / "optimizer.safetensors", tensors)
        artifacts.save_tensors(new / "rng.safetensors", {f"{rank}.{kind}": np.frombuffer(state, np.uint8)
                                                        for rank, (rng, _) in enumerate(ranks) for kind, state in rng.items()})
        artifacts.write_json(new / "state.json", {"format": FORMAT, "world": self.d.world, "loop": counters,
                                                  "ranks": [own for _, own in ranks], "optimizers": optimizers})
        if cur.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(cur, old)
        os.replace(new, cur)
        shutil.rmtree(old, ignore_errors=True)
        dist.barrier(self.d)

    def load(self) -> tuple[dict, dict] | None:
        """Restore modules, optimizers and this rank's generators; (the loop's counters, this rank's own state),
        or None when there is no checkpoint yet."""
        folder = self.folder()
        if not (folder / "state.json").exists():
            return None
        try:
            meta = artifacts.read_json(folder / "state.json")
            if not isinstance(meta, dict):
                raise artifacts.ArtifactError(f"{folder / 'state.json'}: not a checkpoint state (a JSON object)")
        except artifacts.ArtifactError as exc:
            raise self._unreadable(folder, exc) from exc
        if meta.get("format") != FORMAT:
            raise artifacts.ArtifactError(f"{folder}: a checkpoint of another format (format {meta.get('format')}, "
                                          f"this code reads {FORMAT}); delete {self.root} to train from the start")
        if meta["world"] != self.d.world:
            raise artifacts.ArtifactError(f"{folder}: checkpoint was written by {meta['world']} process(es); "
                                          f"resume with the same number (now {self.d.world})")
        try:
            self._load_weights(folder / "last.safetensors")
            tensors = _by_owner(artifacts.load_tensors(folder / "optimizer.safetensors")[0], self.optimizers, folder)
            for name, opt in self.optimizers.items():
                _optimizer_from_tensors(opt, tensors[name], meta["optimizers"][name])
            rng, _ = artifacts.load_tensors(folder / "rng.safetensors")
            torch.set_rng_state(torch.tensor(rng[f"{self.d.rank}.cpu"]))
            if self.d.device.startswith("cuda"):
                torch.cuda.set_rng_state(torch.tensor(rng[f"{self.d.rank}.cuda"]), self.d.device)
            return meta["loop"], meta["ranks"][self.d.rank]
        except (artifacts.ArtifactError, KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            # a truncated or corrupt file, or one that does not fit this run: every rerun would stop here
            raise self._unreadable(folder, exc) from exc

    def load_best(self) -> None:
        try:
            self._load_weights(self.folder() / "best.safetensors")
        except (artifacts.ArtifactError, KeyError, ValueError, RuntimeError) as exc:
            raise self._unreadable(self.folder(), exc) from exc

    def _unreadable(self, folder: Path, exc: BaseException) -> artifacts.ArtifactError:
        """The error for a checkpoint a rerun cannot resume from: the file, and what to delete to start over."""
        detail = str(exc) if isinstance(exc, artifacts.ArtifactError) else f"{type(exc).__name__}: {exc}"
        detail = detail.split("; delete ")[0]  # the reader's own advice; what to delete is said below
        partial = next((p for p in (self.root, *self.root.parents) if p.name.endswith(".partial")), None)
        whole = f" (or {partial}, the whole unfinished output)" if partial is not None else ""
        return artifacts.ArtifactError(f"cannot resume from the checkpoint {folder}: {detail}. Delete {folder}{whole} "
                                       "to train from the start")

    def _weights(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": value.detach().cpu().contiguous()
                for name, module in self.modules.items() for key, value in module.state_dict().items()}

    def _load_weights(self, path: Path) -> None:
        arrays, _ = artifacts.load_tensors(path)
        for name, weights in _by_owner(arrays, self.modules, path).items():
            self.modules[name].load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()}, strict=True)


def _rng_states(device: str) -> dict[str, bytes]:
    """This process's generator states, as bytes (gathered to rank 0 as plain objects)."""
    states = {"cpu": torch.get_rng_state()}
    if device.startswith("cuda"):
        states["cuda"] = torch.cuda.get_rng_state(device)
    return {kind: state.numpy().tobytes() for kind, state in states.items()}


def _by_owner(arrays: Mapping[str, np.ndarray], owners: Mapping[str, Any], path: Path) -> dict[str, dict[str, np.ndarray]]:
    """"<owner>.<key>" entries grouped by owner; the owners must be exactly those given."""
    grouped: dict[str, dict[str, np.ndarray]] = {name: {} for name in owners}
    for full, value in arrays.items():
        name, _, key = full.partition(".")
        if name not in grouped:
            raise artifacts.ArtifactError(f"{path}: holds {name!r}, which this run does not train "
                                          f"(it trains {', '.join(owners)})")
        grouped[name][key] = value
    return grouped


def _optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """("<parameter index>.<slot>" -> tensor, the JSON rest: parameter groups and non-tensor slots)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, slots in sd["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: Mapping[str, np.ndarray], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = torch.as_tensor(value)
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
