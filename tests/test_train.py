"""The training loop: checkpoints, resume to the same result as an uninterrupted run, the best weights,
the time budget, the learning-rate schedule, and the numbers the loops before it gave."""
import json
import os

import numpy as np
import pytest
import torch

from textcode.data.batching import iterate
from textcode.data.windows import cut_from_end
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.objectives import Contrastive, NextItemCE
from textcode.rec.sasrec import SequenceEncoder
from textcode.runtime import distributed as dist
from textcode.training.config import LoopConfig, TrainConfig
from textcode.training.loop import Loop, fit
from textcode.training.schedule import warmup_cosine


def _setup(objective_kind: str):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = rng.integers(0, 25, size=offsets[-1])
    windows = cut_from_end(offsets, items, max_len=6)
    codes = torch.as_tensor(rng.integers(0, 8, size=(25, 4)))
    cfg = SASRecConfig(n_layers=1, n_heads=1, hidden=8, ffn=16, dropout=0.3, max_len=6)
    model = SequenceEncoder(cfg, CodeItemEmbedding(codes, 8, 8))
    # dropout and semi-synthetic negatives make the result depend on the RNG state, which must be restored too
    objective = NextItemCE(model) if objective_kind == "ce" else Contrastive(model, 0.1, 0.5, dist.Dist())
    return objective, windows


def _run(objective, windows, epochs, ckpt, validate=None, checkpoint_every=0, batches=None):
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-2, patience=0, checkpoint_every=checkpoint_every)
    return fit(objective, cfg, batches or (lambda e: iterate(windows, cfg.batch_size, 3, e)), dist.Dist(), seed=3,
               validate=validate, monitor=None if validate is None else "m", ckpt_dir=ckpt, desc="t")


def _same_run(a, b, result_a, result_b):
    """Equal weights, and equal logged numbers epoch by epoch (timings aside)."""
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), f"{name} differs"
    untimed = [[{k: v for k, v in row.items() if not k.endswith("_s")} for row in r.history] for r in (result_a, result_b)]
    assert untimed[0] == untimed[1]
    assert (result_a.steps, result_a.epochs_run, result_a.stopped) == (result_b.steps, result_b.epochs_run, result_b.stopped)


class Killed(Exception):
    """Stands in for SIGKILL: raised from inside the loop, it leaves whatever checkpoint was last written."""


def _killed_after(windows, epoch, batch):
    """batches(e) of _run that kill the run once `batch` batches of `epoch` have been taken."""
    def batches(e):
        for b, x in enumerate(iterate(windows, 8, 3, e)):
            if (e, b) == (epoch, batch):
                raise Killed
            yield x
    return batches


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
        return {"m": next(scores)}

    result = _run(objective, windows, 4, tmp_path / "ck", validate)
    assert result.best_epoch == 2 and result.best_metric == 0.5
    for k, v in objective.state_dict().items():
        assert torch.equal(v, snapshots[1][k]), k


@pytest.mark.parametrize("min_delta, epochs, stopped", [(0.0, 7, "max_epochs"), (0.01, 5, "early_stopping")])
def test_patience_counts_from_the_last_epoch_that_improved_by_more_than_min_delta(min_delta, epochs, stopped):
    # a plateau: epoch 5 beats epoch 2 by 0.2%, which resets the count only when any improvement does
    objective, windows = _setup("ce")
    scores = iter([0.05, 0.0542, 0.0537, 0.0541, 0.0543, 0.0530, 0.0540])
    cfg = TrainConfig(epochs=7, batch_size=8, lr=1e-2, patience=3, min_delta=min_delta)
    result = fit(objective, cfg, lambda e: iterate(windows, 8, 3, e), dist.Dist(), seed=3,
                 validate=lambda: {"m": next(scores)}, monitor="m", desc="t")
    assert (result.epochs_run, result.stopped) == (epochs, stopped)
    assert (result.best_epoch, result.best_metric) == (5, 0.0543)  # the best weights follow every improvement


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
        cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, patience=0, precision=precision)
        result = fit(recorder, cfg, lambda e: iterate(windows, cfg.batch_size, 3, e), dist.Dist(), seed=3, desc="t")
        assert result.precision == precision and result.precision_reason.startswith(f"{precision} set explicitly")
        # bf16 on a CPU bounds oneDNN's per-shape kernel cache (its growth is what made bf16 runs large)
        assert os.environ.get(ONEDNN_CACHE_ENV) == (str(CPU_BF16_KERNEL_CACHE) if expect else None)
        assert recorder.seen and set(recorder.seen) == {expect}
        assert all(p.dtype == torch.float32 for p in objective.parameters())
        assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_mid_epoch_checkpoints_resume_to_the_same_result(tmp_path):
    """Killed in the middle of an epoch, with a checkpoint every 3 steps: the rerun skips the batches the
    checkpoint had taken and ends with the weights and logged numbers of an uninterrupted run."""
    for kind in ("ce", "contrastive"):
        full, windows = _setup(kind)
        reference = _run(full, windows, 3, tmp_path / f"{kind}-full", checkpoint_every=3)
        assert reference.history[0]["batches"] > 5
        part, windows = _setup(kind)
        with pytest.raises(Killed):
            _run(part, windows, 3, tmp_path / f"{kind}-part", checkpoint_every=3, batches=_killed_after(windows, 2, 5))
        state = json.loads((tmp_path / f"{kind}-part" / "ckpt" / "state.json").read_text())["loop"]
        assert (state["epoch"], state["step"] % 3, 0 < state["batch"] < 5) == (1, 0, True)
        resumed, windows = _setup(kind)
        result = _run(resumed, windows, 3, tmp_path / f"{kind}-part", checkpoint_every=3)
        _same_run(full, resumed, reference, result)


def test_a_run_killed_after_its_last_step_validates_and_keeps_the_best_weights(tmp_path):
    def validating(objective, windows):
        first = next(iterate(windows, 8, 0, 1))
        return lambda: {"m": -float(objective(first)[1])}  # minus the loss of one fixed batch

    full, windows = _setup("ce")
    reference = _run(full, windows, 3, tmp_path / "full", validating(full, windows), checkpoint_every=1)
    part, windows = _setup("ce")
    n_batches = reference.history[-1]["batches"]

    calls = []

    def killed_in_validation():  # epoch 3's steps are all checkpointed, its validation never ends
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return validating(part, windows)()

    with pytest.raises(Killed):
        _run(part, windows, 3, tmp_path / "part", killed_in_validation, checkpoint_every=1)
    state = json.loads((tmp_path / "part" / "ckpt" / "state.json").read_text())["loop"]
    assert (state["epoch"], state["batch"]) == (2, n_batches)
    resumed, windows = _setup("ce")
    result = _run(resumed, windows, 3, tmp_path / "part", validating(resumed, windows), checkpoint_every=1)
    _same_run(full, resumed, reference, result)
    assert result.best_metric == max(row["valid"]["m"] for row in result.history)


def test_a_kill_between_the_checkpoint_renames_resumes_from_the_complete_one(tmp_path):
    full, windows = _setup("ce")
    reference = _run(full, windows, 3, tmp_path / "full")
    part, windows = _setup("ce")
    _run(part, windows, 2, tmp_path / "part")
    ckpt = tmp_path / "part"
    # the moment after `ckpt` became `ckpt.old` and before `ckpt.new` (here: half written) took its place
    os.replace(ckpt / "ckpt", ckpt / "ckpt.old")
    (ckpt / "ckpt.new").mkdir()
    (ckpt / "ckpt.new" / "last.safetensors").write_bytes(b"half")
    resumed, windows = _setup("ce")
    result = _run(resumed, windows, 3, ckpt)
    _same_run(full, resumed, reference, result)
    assert sorted(p.name for p in ckpt.iterdir()) == ["ckpt"]


def test_the_checkpoint_is_safetensors_and_json_and_refuses_another_layout(tmp_path):
    objective, windows = _setup("ce")
    _run(objective, windows, 1, tmp_path, lambda: {"m": 0.5})
    folder = tmp_path / "ckpt"
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "last.safetensors", "optimizer.safetensors",
                                                         "rng.safetensors", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    assert state["format"] == 2 and state["world"] == 1 and state["loop"]["epoch"] == 1
    from textcode.core.artifacts import ArtifactError, load_tensors
    assert set(load_tensors(folder / "rng.safetensors")[0]) == {"0.cpu"}
    assert all(k.startswith("objective.") for k in load_tensors(folder / "last.safetensors")[0])
    state["format"] = 1
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(ArtifactError, match="another format"):
        _run(_setup("ce")[0], windows, 2, tmp_path)


@pytest.mark.parametrize("cut_within_epoch", [True, False])
def test_the_time_budget_stops_training_and_says_so(tmp_path, cut_within_epoch):
    objective, windows = _setup("ce")
    opt = torch.optim.Adam(objective.parameters(), lr=1e-2)
    loop = Loop({"objective": objective}, {"objective": opt}, LoopConfig(epochs=5, max_minutes=1e-9, patience=0),
                seed=0, ckpt_dir=tmp_path, cut_within_epoch=cut_within_epoch)

    def step(batch):
        loss, value = objective(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": value}

    result = loop.run(lambda e: iterate(windows, 8, 0, e), step, lambda: {"m": 0.0}, "m")
    n_batches = sum(1 for _ in iterate(windows, 8, 0, 1))
    assert result.stopped == "time_budget" and result.epochs_run == 1
    assert result.history[0]["batches"] == (1 if cut_within_epoch else n_batches)
    assert result.history[0]["valid"] == {"m": 0.0}  # a cut epoch is validated as it is
    # the stop is kept: a rerun (a fresh process) does not train on
    again = Loop({"objective": objective}, {"objective": opt}, LoopConfig(epochs=5, max_minutes=1e-9), seed=0,
                 ckpt_dir=tmp_path).run(lambda e: iterate(windows, 8, 0, e), step, lambda: {"m": 0.0}, "m")
    assert again.stopped == "time_budget" and again.steps == result.steps


def test_the_schedule_sets_every_optimizers_rate_before_each_step():
    a, b = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    opts = {"a": torch.optim.SGD(a.parameters(), lr=0.5), "b": torch.optim.SGD(b.parameters(), lr=0.1)}
    seen = []

    def step(x):
        seen.append((opts["a"].param_groups[0]["lr"], opts["b"].param_groups[0]["lr"]))
        for m, opt in zip((a, b), opts.values()):
            opt.zero_grad()
            m(x).sum().backward()
            opt.step()
        return {}

    total = 40
    Loop({"a": a, "b": b}, opts, LoopConfig(epochs=2), seed=0, schedule=warmup_cosine(total)).run(
        lambda e: [torch.ones(1, 2)] * (total // 2), step)
    rate = warmup_cosine(total)
    assert seen == [(rate(0.5, s), rate(0.1, s)) for s in range(total)]
    assert seen[0][0] == pytest.approx(0.5 / 4) and seen[3][0] == pytest.approx(0.5, rel=0.02)  # warmup: 40 // 10 steps
    assert seen[-1][0] == pytest.approx(0.5 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 39 / 40))))


def test_the_loop_gives_the_numbers_of_the_recommenders_loop_it_replaced():
    """Losses of `_run` pinned: the RNG consumption, batch order and update order of the loop that replaced the
    recommenders' own (commit c0728e5), as they stand since the CPU dropout draws its mask with torch.rand
    (textcode/rec/dropout.py) and Adam is fused. (Relative 1e-5: other CPUs may sum in another order.)"""
    expected = {"ce": [5.833639144897461, 3.5731780529022217, 3.299454689025879],
                "contrastive": [4.883194923400879, 3.3687570095062256, 3.2882909774780273]}
    for kind, losses in expected.items():
        objective, windows = _setup(kind)
        result = _run(objective, windows, 3, None)
        assert [row["loss"] for row in result.history] == pytest.approx(losses, rel=1e-5), kind
