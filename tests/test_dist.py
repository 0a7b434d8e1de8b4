"""Two gloo processes on one global batch give the loss and gradients of one process."""
import datetime
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from textcode.data.batching import Batch
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.objectives import Contrastive
from textcode.rec.sasrec import SequenceEncoder
from textcode.runtime import distributed as dist

B, T, I = 8, 5, 30


def _model() -> SequenceEncoder:
    torch.manual_seed(0)
    codes = torch.randint(0, 16, (I, 4), generator=torch.Generator().manual_seed(1))
    cfg = SASRecConfig(n_layers=1, n_heads=2, hidden=16, ffn=32, dropout=0.0, max_len=T)
    return SequenceEncoder(cfg, CodeItemEmbedding(codes, 16, 16))


def _batch() -> Batch:
    g = torch.Generator().manual_seed(2)
    inputs = torch.randint(0, I, (B, T), generator=g)
    targets = torch.randint(0, I, (B, T), generator=g)
    targets[:, 0] = targets[0, 0]  # duplicated targets across ranks must be masked everywhere
    lengths = torch.tensor([5, 3, 1, 4, 2, 5, 1, 3])  # ranks get different numbers of positions
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return Batch(inputs * mask, targets * mask, mask)


def _loss_and_grads(d: dist.Dist, rows: slice):
    model = _model()
    objective = Contrastive(model, tau=0.1, rho=0.0, d=d)
    wrapped = dist.wrap(d, objective)
    b = _batch()
    loss, value = wrapped(Batch(b.inputs[rows], b.targets[rows], b.mask[rows]))
    loss.backward()  # DDP averages gradients over ranks
    total = dist.all_reduce_sum(d, value) / d.world
    grads = {k: p.grad.detach().clone() for k, p in objective.named_parameters() if p.grad is not None}
    return float(total), grads


def _worker(rank: int, world: int, port: int, out: str) -> None:
    # As under torchrun: the launcher hosts the rendezvous store and every rank is its client
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), TORCHELASTIC_USE_AGENT_STORE="True")
    d = dist.setup("cpu")
    half = B // world
    loss, grads = _loss_and_grads(d, slice(rank * half, (rank + 1) * half))
    if d.is_main:
        np.savez(out, loss=loss, **{k: v.numpy() for k, v in grads.items()})
    dist.cleanup(d)


def _launcher_store() -> torch.distributed.TCPStore:
    """The store torchrun's agent would host (port 0: the system picks a free one)."""
    return torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                                      timeout=datetime.timedelta(seconds=60))


@pytest.mark.distributed
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path):
    single_loss, single_grads = _loss_and_grads(dist.Dist(), slice(0, B))
    out = str(tmp_path / "rank0.npz")
    store = _launcher_store()
    mp.spawn(_worker, args=(2, store.port, out), nprocs=2, join=True)
    got = np.load(out)
    assert abs(float(got["loss"]) - single_loss) < 1e-5
    assert set(single_grads) <= set(got.files)
    for name, grad in single_grads.items():
        np.testing.assert_allclose(got[name], grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_cleanup_waits_for_every_rank_before_leaving_the_group(monkeypatch):
    """Without this barrier the 2-process gloo test aborted a rank in 7 of 50 runs (see dist.cleanup)."""
    calls = []
    monkeypatch.setattr(dist.tdist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist.tdist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(dist.tdist, "destroy_process_group", lambda: calls.append("destroy"))
    dist.cleanup(dist.Dist(rank=1, world=2, local_rank=1))
    assert calls == ["barrier", "destroy"]
    calls.clear()
    dist.cleanup(dist.Dist())  # one process: nothing to leave
    assert calls == []


def test_every_rank_of_a_multi_process_run_reports_where_an_abort_happens(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(dist.tdist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist.torch, "set_num_threads", lambda n: None)
    enabled = []
    monkeypatch.setattr(dist.faulthandler, "enable", lambda: enabled.append(True))
    assert dist.setup("cpu") == dist.Dist(rank=1, world=2, local_rank=0)
    assert enabled == [True]
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    dist.setup("cpu")
    assert enabled == [True]  # one process: left as the user set it
