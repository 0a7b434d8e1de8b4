"""textcode.eval.evaluation: batching, both protocols, the model contract, the metrics document."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textcode.data.split import EvalSet
from textcode.eval.evaluation import (
    evaluate,
    length_batches,
    metrics_document,
    per_user_arrays,
)

N_ITEMS = 6


class LastItemNeighbour:
    """Scores item i by -|i - last history item|: a deterministic model whose ranks are easy to work out."""

    n_items = N_ITEMS

    def __init__(self):
        self.batches = []

    def score_histories(self, histories):
        self.batches.append(len(histories))
        last = torch.tensor([int(h[-1]) for h in histories], dtype=torch.float32)
        return -(torch.arange(N_ITEMS, dtype=torch.float32)[None, :] - last[:, None]).abs()


def evalset(histories, targets):
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    return EvalSet(np.arange(len(histories)), offsets, np.concatenate(histories).astype(np.int32),
                   np.asarray(targets, np.int32))


# user 0: last item 2 -> scores by distance: 2 | 1,3 | 0,4 | 5; target 3 ties with 1 -> positions {1, 2}
# user 1: last item 0 -> 0 | 1 | 2 | ...; target 0 (bought before, stays rankable) -> position 0
# user 2: history [4, 2], last 2 -> 2 | 1,3 | 0,4 | 5; target 4 ties with 0 -> positions {3, 4};
#         history_removed drops item 2 but not item 4 (the target, bought before) -> positions {2, 3}
HISTORIES = [np.array([5, 2]), np.array([0]), np.array([4, 2])]
TARGETS = [3, 0, 4]


def test_evaluate_hand_worked_users():
    result = evaluate(LastItemNeighbour(), evalset(HISTORIES, TARGETS), ks=(1, 3), batch_size=2)
    kept, removed = result.per_user["history_kept"], result.per_user["history_removed"]
    assert result.better["history_kept"].tolist() == [1, 0, 3]
    assert result.tied["history_kept"].tolist() == [1, 0, 1]
    assert kept["recall@3"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert kept["mrr"].tolist() == pytest.approx([(1 / 2 + 1 / 3) / 2, 1.0, (1 / 4 + 1 / 5) / 2])
    # removed: user 0 loses item 2 (above the target), user 2 loses item 2 (above); user 1 keeps its repeated target
    assert result.better["history_removed"].tolist() == [0, 0, 2]
    assert removed["recall@1"].tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert removed["ndcg@3"].tolist() == pytest.approx([(1 + 1 / math.log2(3)) / 2, 1.0, 1 / math.log2(4) / 2])


def test_batch_size_does_not_change_results():
    rng = np.random.default_rng(0)
    hist = [rng.integers(0, N_ITEMS, rng.integers(1, 5)) for _ in range(23)]
    targets = rng.integers(0, N_ITEMS, 23)
    model = LastItemNeighbour()
    one = evaluate(model, evalset(hist, targets), batch_size=1)
    many = evaluate(LastItemNeighbour(), evalset(hist, targets), batch_size=10)
    assert len(model.batches) == 23
    for protocol in one.per_user:
        for name in one.per_user[protocol]:
            np.testing.assert_array_equal(one.per_user[protocol][name], many.per_user[protocol][name])


def test_length_batches_cover_every_row_once_within_the_position_budget():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 60, 500)
    batches = length_batches(lengths, batch_size=64, max_positions=300)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for b in batches:
        assert len(b) <= 64
        assert len(b) * lengths[b].max() <= 300
    # the longest rows are alone only when the budget forces it, and a row over budget still gets a batch
    assert [len(b) for b in length_batches(np.array([5, 400]), 10, 300)] == [1, 1]
    assert [len(b) for b in length_batches(np.array([1, 1, 1]), 10, 300)] == [3]


def test_position_budget_does_not_change_results():
    rng = np.random.default_rng(2)
    hist = [rng.integers(0, N_ITEMS, rng.integers(1, 9)) for _ in range(40)]
    targets = rng.integers(0, N_ITEMS, 40)
    model = LastItemNeighbour()
    small = evaluate(model, evalset(hist, targets), batch_size=40, max_positions=8)
    large = evaluate(LastItemNeighbour(), evalset(hist, targets), batch_size=40)
    assert len(model.batches) > 5
    for protocol in small.per_user:
        np.testing.assert_array_equal(small.better[protocol], large.better[protocol])
        np.testing.assert_array_equal(small.tied[protocol], large.tied[protocol])


class WrongShape(LastItemNeighbour):
    def score_histories(self, histories):
        return super().score_histories(histories)[:, :-1]


def test_wrong_score_shape_is_an_error():
    with pytest.raises(ValueError, match="WrongShape.score_histories returned shape"):
        evaluate(WrongShape(), evalset(HISTORIES, TARGETS))


def test_target_outside_the_model_is_an_error():
    with pytest.raises(ValueError, match="model scores 6 items"):
        evaluate(LastItemNeighbour(), evalset(HISTORIES, [3, 0, 9]))


def test_metrics_document_and_per_user_files():
    es = evalset(HISTORIES * 10, TARGETS * 10)
    results = {s: evaluate(LastItemNeighbour(), es, ks=(10, 50)) for s in ("valid", "test")}
    doc = metrics_document(results, n_boot=200, seed=0)
    names = {"recall@10", "ndcg@10", "recall@50", "ndcg@50", "mrr"}
    for split in ("valid", "test"):
        for protocol in ("history_kept", "history_removed"):
            assert set(doc[split][protocol]) == names
            for name, (lo, hi) in doc["ci95"][split][protocol].items():
                assert lo <= doc[split][protocol][name] <= hi
    assert doc["n_users"] == 30 and set(doc["eval_s"]) == {"valid", "test"}
    files = per_user_arrays("test", results["test"])
    assert "per_user/test_history_kept_ndcg@10.npy" in files and "per_user/test_users.npy" in files
    assert files["per_user/test_history_removed_mrr.npy"].shape == (30,)
    with pytest.raises(ValueError, match="missing valid"):
        metrics_document({"test": results["test"]}, n_boot=10, seed=0)
