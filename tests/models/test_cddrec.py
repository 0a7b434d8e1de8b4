"""CDDRec (textcode/baselines/cddrec.py) on tiny synthetic splits: it learns a sequential rule, its model folder
scores exactly as the fitted tensors, its scores are deterministic, history items are scored, not masked, and a
killed fit resumes from its checkpoints to the uninterrupted result."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from textcode.baselines import cddrec
from textcode.core import artifacts, model_folder, model_kinds
from textcode.core.config import ConfigError, build, to_dict
from textcode.data.domain import from_sequences
from textcode.data.split import leave_one_out

N_ITEMS = 24
# a tiny model, the code path of the defaults (contrastive losses and augmented views included)
TINY = {"hidden": 16, "n_heads": 2, "ffn": 32, "dropout": 0.0, "max_len": 8, "steps": 4, "epochs": 20,
        "batch_size": 16, "lr": 0.02, "patience": 0, "eval_batch_size": 64}


def make_split(name: str, sequences):
    domain = from_sequences(name, [str(i) for i in range(N_ITEMS)], None, [str(u) for u in range(len(sequences))],
                            sequences)
    return leave_one_out(domain)


@pytest.fixture(scope="module")
def successor():
    """Item i is always followed by item i + 1 (mod N): the next item is never in the history."""
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(60):
        start, length = int(rng.integers(N_ITEMS)), int(rng.integers(6, 9))
        seqs.append([(start + k) % N_ITEMS for k in range(length)])
    return make_split("successor", seqs)


@pytest.fixture(scope="module")
def repeats():
    """Every user repeats one item: the next item is the history's only item."""
    rng = np.random.default_rng(1)
    return make_split("repeats", [[int(rng.integers(N_ITEMS))] * int(rng.integers(5, 9)) for _ in range(40)])


def fit_tiny(split, work=None, **overrides):
    cfg = build(cddrec.Config, {**TINY, **overrides})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fitted = cddrec.fit(split, cfg, seed=0, device="cpu", work=work)
    finally:
        torch.set_num_threads(threads)
    return cfg, fitted


def in_memory(cfg, fitted):
    return cddrec.load({"config": to_dict(cfg), **fitted.facts}, fitted.tensors, "cpu")


def scores_of(split, model) -> np.ndarray:
    return model.score_histories([split.test.history(r) for r in range(len(split.test))]).numpy()


@pytest.fixture(scope="module")
def fitted_successor(successor):
    return fit_tiny(successor)


def test_learns_the_next_item_far_above_chance(successor, fitted_successor):
    cfg, fitted = fitted_successor
    scores = scores_of(successor, in_memory(cfg, fitted))
    targets = successor.test.targets
    ranks = (scores > scores[np.arange(len(targets)), targets][:, None]).sum(1)  # items scored above the target
    assert ranks.mean() < 2.5 and (ranks < 5).mean() >= 0.8, ranks  # chance: mean rank 11.5, top-5 21%
    summary = fitted.summary
    assert {"epochs", "best_epoch", "best_valid_ndcg@10", "stopped"} <= set(summary)
    assert summary["epochs"] == cfg.epochs and summary["stopped"] == "max_epochs" and 1 <= summary["best_epoch"] <= 20
    assert summary["best_valid_ndcg@10"] > 0.5 and fitted.facts == {"n_items": N_ITEMS}
    assert "history.json" in fitted.files


def test_model_folder_scores_exactly_as_the_fitted_model(successor, fitted_successor, tmp_path):
    """As the baseline command saves a model: kind, config, fitted tensors and facts in a model folder."""
    cfg, fitted = fitted_successor
    with artifacts.OutputFolder(tmp_path / "cddrec", "baseline", {}) as out:
        model_folder.save_model(out, "cddrec", to_dict(cfg), fitted.tensors, **fitted.facts)
    loaded = model_kinds.load_recommender(tmp_path / "cddrec")
    histories = [successor.test.history(r) for r in range(len(successor.test))]
    histories += [np.array([3]), np.arange(20) % N_ITEMS]  # one item; longer than max_len (its last 8 are read)
    assert loaded.n_items == N_ITEMS and loaded.max_history == cfg.max_len
    scores = loaded.score_histories(histories)
    assert scores.shape == (len(histories), N_ITEMS)
    np.testing.assert_array_equal(scores.numpy(), in_memory(cfg, fitted).score_histories(histories).numpy())
    np.testing.assert_array_equal(loaded.score_histories(histories[-1:]).numpy(),
                                  loaded.score_histories([np.arange(12, 20)]).numpy())


def test_scores_are_deterministic_and_history_items_are_not_masked(repeats, successor, fitted_successor):
    cfg, fitted = fit_tiny(repeats, epochs=6)
    model = in_memory(cfg, fitted)
    first, second = scores_of(repeats, model), scores_of(repeats, model)
    np.testing.assert_array_equal(first, second)  # no noise is drawn at inference
    rows, targets = np.arange(len(repeats.test)), repeats.test.targets
    assert all(t in repeats.test.history(r) for r, t in zip(rows, targets))
    top = first.argmax(1)
    assert (top == targets).mean() >= 0.9  # the history's item ranks first: it is scored like any other item
    assert len(np.unique(first[rows, targets])) > len(rows) // 2  # not one fixed score for history items
    # and where the next item is never in the history, history items are scored too, each its own value
    cfg, fitted = fitted_successor
    scores = scores_of(successor, in_memory(cfg, fitted))
    history_scores = np.concatenate([scores[r, successor.test.history(r)] for r in range(len(successor.test))])
    assert np.isfinite(history_scores).all() and len(np.unique(history_scores)) > len(history_scores) // 2


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="stepz"):
        build(cddrec.Config, {"stepz": 4})
    with pytest.raises(ConfigError, match="decoder_query"):
        build(cddrec.Config, {"decoder_query": "noise"})
    with pytest.raises(ConfigError, match="n_heads"):
        cddrec.check(cddrec.Config(hidden=10, n_heads=4))


class Killed(Exception):
    """Stands in for SIGKILL: raised inside training, it leaves the checkpoint last written."""


def test_a_killed_fit_resumes_from_its_work_folder_as_if_never_killed(successor, tmp_path, monkeypatch):
    """Three epochs in one go (no work folder) against: one epoch into a work folder (a run that ended, or was
    killed, after epoch 1), then a run of three killed inside epoch 2 (checkpoints every 2 steps: it resumes from
    the middle of the epoch, the batches it took skipped, their negatives and views drawn alike), then the rerun:
    the same weights, history and summary."""
    windows = 60  # one window per user (histories of 4 to 6 items, max_len 8): 4 batches of 16 per epoch
    settings = {"epochs": 3, "checkpoint_every": 2}
    _, full = fit_tiny(successor, **settings)
    work = tmp_path / "work"
    fit_tiny(successor, work=work, **{**settings, "epochs": 1})
    assert artifacts.read_json(work / "ckpt" / "state.json")["loop"]["epoch"] == 1
    real, calls = cddrec.views, []

    def views(*args):
        calls.append(1)
        if kill and len(calls) == 4:  # epoch 2's fourth batch: steps 5, 6 (checkpointed) and 7 were taken
            raise Killed
        return real(*args)

    monkeypatch.setattr(cddrec, "views", views)
    kill = True
    with pytest.raises(Killed):
        fit_tiny(successor, work=work, **settings)
    loop = artifacts.read_json(work / "ckpt" / "state.json")["loop"]
    assert (loop["epoch"], loop["batch"], loop["step"]) == (1, 2, 6)
    kill, calls[:] = False, []
    _, resumed = fit_tiny(successor, work=work, **settings)
    assert len(calls) == 2 * -(-windows // TINY["batch_size"])  # epochs 2 (its skipped batches drawn again) and 3
    assert set(resumed.tensors) == set(full.tensors)
    for name, value in full.tensors.items():
        np.testing.assert_array_equal(resumed.tensors[name], value, err_msg=name)
    untimed = [[{k: v for k, v in row.items() if not k.endswith("_s")} for row in f.files["history.json"]]
               for f in (full, resumed)]
    assert untimed[0] == untimed[1] and len(untimed[0]) == 3
    assert {k: v for k, v in resumed.summary.items() if not k.endswith("_s")} == \
        {k: v for k, v in full.summary.items() if not k.endswith("_s")}


def test_checkpoint_every_is_a_setting_of_its_own():
    assert cddrec.Config().checkpoint_every == 100
    with pytest.raises(ConfigError, match="checkpoint_every"):
        cddrec.check(cddrec.Config(checkpoint_every=-1))


def test_sampled_steps_estimate_eq16_without_bias():
    """Each step's expected weight over the draws is Eq. 16's 1/(t+1), so the sampled loss's expectation is the
    loss over all steps; with sampled_steps 0 every step is trained at exactly that weight."""
    cfg = cddrec.Config(steps=6)
    steps, weights = cddrec.step_weights(cfg)
    exact = 1.0 / np.arange(1, 7)
    np.testing.assert_array_equal(steps.numpy(), np.arange(6))
    np.testing.assert_allclose(weights.numpy(), exact, rtol=1e-6)
    torch.manual_seed(0)
    total, draws = np.zeros(6), 20000
    for _ in range(draws):
        steps, weights = cddrec.step_weights(dataclasses.replace(cfg, sampled_steps=2))
        assert len(steps) <= 2 and len(np.unique(steps.numpy())) == len(steps)
        total[steps.numpy()] += weights.numpy()
    np.testing.assert_allclose(total / draws, exact, rtol=0.03)
    with pytest.raises(ConfigError, match="sampled_steps"):
        cddrec.check(cddrec.Config(sampled_steps=-1))


def test_a_fit_on_sampled_steps_learns_the_next_item(successor):
    cfg, fitted = fit_tiny(successor, sampled_steps=1)
    scores = scores_of(successor, in_memory(cfg, fitted))
    targets = successor.test.targets
    ranks = (scores > scores[np.arange(len(targets)), targets][:, None]).sum(1)
    assert ranks.mean() < 2.5 and (ranks < 5).mean() >= 0.8, ranks  # chance: mean rank 11.5, top-5 21%
