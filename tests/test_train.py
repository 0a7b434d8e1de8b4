"""The training loop: checkpoints every epoch and resumes to the same result as an uninterrupted run."""
import os

import numpy as np
import torch

from textcode.data.batching import iterate, make_windows
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.objectives import Contrastive, NextItemCE
from textcode.rec.sasrec import SequenceEncoder
from textcode.runtime import distributed as dist
from textcode.training.config import TrainConfig
from textcode.training.loop import fit


def _setup(objective_kind: str):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = rng.integers(0, 25, size=offsets[-1])
    windows = make_windows(offsets, items, max_len=6)
    codes = torch.as_tensor(rng.integers(0, 8, size=(25, 4)))
    cfg = SASRecConfig(n_layers=1, n_heads=1, hidden=8, ffn=16, dropout=0.3, max_len=6)
    model = SequenceEncoder(cfg, CodeItemEmbedding(codes, 8, 8))
    # dropout and semi-synthetic negatives make the result depend on the RNG state, which must be restored too
    objective = NextItemCE(model) if objective_kind == "ce" else Contrastive(model, 0.1, 0.5, dist.Dist())
    return objective, windows


def _run(objective, windows, epochs, ckpt, validate=None):
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-2, patience=0, seed=3)
    return fit(objective, cfg, lambda e: iterate(windows, cfg.batch_size, cfg.seed, e), dist.Dist(),
               validate=validate, ckpt_dir=ckpt, desc="t")


def test_resume_after_interruption_continues_to_the_same_result(tmp_path):
    for kind in ("ce", "contrastive"):
        full, windows = _setup(kind)
        _run(full, windows, 4, tmp_path / f"{kind}-full")
        part, windows = _setup(kind)
        _run(part, windows, 2, tmp_path / f"{kind}-part")  # "killed" after epoch 2
        resumed, windows = _setup(kind)  # a fresh process: new objects, same checkpoint folder
        result = _run(resumed, windows, 4, tmp_path / f"{kind}-part")
        assert result.epochs_run == 4 and len(result.history) == 4
        for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
            assert torch.equal(a, b), f"{kind}: {name} differs after resume"


def test_best_validated_weights_are_restored(tmp_path):
    objective, windows = _setup("ce")
    scores = iter([0.1, 0.5, 0.2, 0.3])
    snapshots = []

    def validate():
        snapshots.append({k: v.clone() for k, v in objective.state_dict().items()})
        return next(scores)

    result = _run(objective, windows, 4, tmp_path / "ck", validate)
    assert result.best_epoch == 2 and result.best_metric == 0.5
    for k, v in objective.state_dict().items():
        assert torch.equal(v, snapshots[1][k]), k


def test_training_reduces_the_loss():
    objective, windows = _setup("ce")
    result = _run(objective, windows, 6, None)
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_domain_slice_scores_one_domain_in_its_local_ids():
    from textcode.rec.pretrain import DomainSlice

    torch.manual_seed(0)
    codes = torch.randint(0, 8, (30, 4))
    model = SequenceEncoder(SASRecConfig(hidden=12, ffn=16, max_len=6), CodeItemEmbedding(codes, 8, 12)).eval()
    part = DomainSlice(model, offset=10, n_items=12)  # global items 10..21
    local = [np.array([0, 3]), np.array([11, 2, 5])]
    expected = model.score_histories([h + 10 for h in local])[:, 10:22]  # the whole corpus, then the slice
    assert part.max_history == 6
    assert torch.allclose(part.score_histories(local), expected, atol=1e-5)


class _RecordsAutocast(torch.nn.Module):
    """An objective that notes, at each forward, whether bf16 autocast was on."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, batch):
        self.seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return self.inner(batch)


def test_precision_bf16_runs_the_forward_under_autocast_and_keeps_fp32_weights(monkeypatch):
    from textcode.runtime.memory import ONEDNN_CACHE_ENV
    from textcode.training.loop import CPU_BF16_KERNEL_CACHE

    for precision, expect in (("bf16", True), ("fp32", False)):
        monkeypatch.delenv(ONEDNN_CACHE_ENV, raising=False)
        objective, windows = _setup("ce")
        recorder = _RecordsAutocast(objective)
        cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, patience=0, seed=3, precision=precision)
        result = fit(recorder, cfg, lambda e: iterate(windows, cfg.batch_size, cfg.seed, e), dist.Dist(), desc="t")
        assert result.precision == precision and result.precision_reason.startswith(f"{precision} set explicitly")
        # bf16 on a CPU bounds oneDNN's per-shape kernel cache (its growth is what made bf16 runs large)
        assert os.environ.get(ONEDNN_CACHE_ENV) == (str(CPU_BF16_KERNEL_CACHE) if expect else None)
        assert recorder.seen and set(recorder.seen) == {expect}
        assert all(p.dtype == torch.float32 for p in objective.parameters())
        assert result.history[-1]["loss"] < result.history[0]["loss"]
