"""The only module that touches torch.distributed.

Built from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); with one process every
function is a cheap no-op, so training code has a single path for 1 or N processes.
"""
from __future__ import annotations

import dataclasses
import faulthandler
import os
from typing import Any

import torch
import torch.distributed as tdist


@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group torchrun describes (gloo on CPU, nccl on GPU), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = f"cuda:{local}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(local)
    if world > 1:
        # a rank that gloo or nccl aborts (SIGABRT) then prints where its Python code was
        faulthandler.enable()
        if not tdist.is_initialized():
            tdist.init_process_group("nccl" if use_cuda else "gloo")
        if not use_cuda:
            # N processes on a few cores: one thread each avoids oversubscription
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return Dist(rank, world, local, dev)


def cleanup(d: Dist) -> None:
    """Leave the process group once every rank has reached this point.

    Without the barrier, 7 of 50 runs of the 2-process gloo test aborted a rank on a quiet 2-core
    machine (SIGABRT, "terminate called without an active exception"), so a torchrun job could fail
    after its work was done; with it, 0 of 55. The mechanism is not established: ranks leaving the
    group at different moments is the suspect, but making rank 0 leave a second later did not
    reproduce the abort. On 2026-12-01 CI saw it once more (rank 0, the rank that also hosted the
    rendezvous store in that test; under torchrun the launcher hosts it, and the test now does the
    same), so ranks run with faulthandler on to tell where an abort happens.
    """
    if d.active and tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()


def all_gather_cat(d: Dist, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate `x` (N_r, ...) from every rank along dim 0, keeping gradients.

    Returns (gathered (sum N_r, ...), offset of this rank's rows). Row counts may differ
    between ranks; gradients flow back to every rank's rows.
    """
    if not d.active:
        return x, 0
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(d.world)]
    tdist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    offset = sum(sizes[:d.rank])
    return _AllGatherCat.apply(x, sizes, offset), offset


class _AllGatherCat(torch.autograd.Function):
    """all_gather with a backward that hands each rank the summed gradient of its own rows.

    (torch.distributed.nn.functional.all_gather does the same but is deprecated, and the
    functional-collective replacement needs a reduce-scatter that gloo lacks; an all-reduce of
    the (sum N_r, ...) gradient works on gloo and nccl alike, and these tensors are small.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], offset: int) -> torch.Tensor:
        ctx.rows = (offset, x.shape[0])
        pad = max(sizes) - x.shape[0]
        padded = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad else x.contiguous()
        parts = [torch.empty_like(padded) for _ in sizes]
        tdist.all_gather(parts, padded)
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        tdist.all_reduce(grad)
        lo, n = ctx.rows
        return grad[lo:lo + n], None, None


def all_reduce_sum(d: Dist, x: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (no gradient); returns a new tensor."""
    x = x.detach().clone()
    if d.active:
        tdist.all_reduce(x)
    return x


def broadcast_object(d: Dist, obj: Any) -> Any:
    """Rank 0's value of `obj` on every rank (for decisions that must agree, e.g. early stopping)."""
    if not d.active:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(d: Dist, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not d.active:
        return [obj]
    out: list[Any] = [None] * d.world
    tdist.all_gather_object(out, obj)
    return out


def wrap(d: Dist, model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel when several processes train, else the model itself."""
    if not d.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.startswith("cuda") else None)


def barrier(d: Dist) -> None:
    if d.active:
        tdist.barrier()
