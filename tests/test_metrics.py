"""textcode.eval.metrics against rankings worked out by hand and a Monte Carlo tie-breaker (bootstrap: test_bootstrap.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textcode.eval import metrics


def ranks(scores, targets, histories=None):
    """(better, tied) as numpy, in the history_kept protocol or, with histories, history_removed."""
    s = torch.tensor(scores, dtype=torch.float32)
    t = torch.tensor(targets)
    g, e = metrics.target_ranks(s, t)
    if histories is not None:
        g, e = metrics.without_history(s, t, g, e, metrics.history_pairs([np.array(h) for h in histories], np.array(targets)))
    return g.numpy(), e.numpy()


def test_metric_names_follow_ks():
    assert metrics.metric_names((10, 50)) == ("recall@10", "ndcg@10", "recall@50", "ndcg@50", "mrr")


def test_no_ties_hand_ranked():
    # items by score: 3 (0.9), 1 (0.5), 2 (0.3), 0 (0.1); target 2 is third -> position 2
    g, e = ranks([[0.1, 0.5, 0.3, 0.9]], [2])
    assert (g[0], e[0]) == (2, 0)
    m = metrics.rank_metrics(g, e, (1, 2, 3), 4)
    assert m["recall@1"][0] == 0 and m["recall@2"][0] == 0 and m["recall@3"][0] == 1
    assert m["ndcg@2"][0] == 0
    assert m["ndcg@3"][0] == pytest.approx(1 / math.log2(4))
    assert m["mrr"][0] == pytest.approx(1 / 3)


def test_tie_block_at_the_top():
    # target 1 ties with items 2 and 3 at the top: position uniform on {0, 1, 2}
    g, e = ranks([[0.2, 0.7, 0.7, 0.7, 0.1]], [1])
    assert (g[0], e[0]) == (0, 2)
    m = metrics.rank_metrics(g, e, (1, 2, 3), 5)
    assert m["recall@1"][0] == pytest.approx(1 / 3)
    assert m["recall@2"][0] == pytest.approx(2 / 3)
    assert m["recall@3"][0] == pytest.approx(1.0)
    assert m["ndcg@2"][0] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert m["mrr"][0] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_tie_block_straddling_the_cutoff():
    # one item above (0.9), target 0 ties with items 2 and 4: positions {1, 2, 3}
    g, e = ranks([[0.5, 0.9, 0.5, 0.1, 0.5]], [0])
    assert (g[0], e[0]) == (1, 2)
    m = metrics.rank_metrics(g, e, (2, 3), 5)
    assert m["recall@2"][0] == pytest.approx(1 / 3)
    assert m["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / 3)
    assert m["ndcg@3"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    assert m["mrr"][0] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)


def test_all_items_tied_is_uniform_over_the_catalogue():
    g, e = ranks([[0.0] * 20], [7])
    m = metrics.rank_metrics(g, e, (5,), 20)
    assert m["recall@5"][0] == pytest.approx(5 / 20)
    assert m["mrr"][0] == pytest.approx(sum(1 / (p + 1) for p in range(20)) / 20)


def test_history_removed_excludes_history_but_not_the_target():
    scores = [[0.9, 0.8, 0.5, 0.4, 0.1],   # history [0, 3], target 2: only item 0 (0.9) leaves the ranking
              [0.9, 0.8, 0.5, 0.4, 0.1],   # repeated target: history [2, 0, 2], target 2 stays rankable
              [0.5, 0.5, 0.5, 0.1, 0.1],   # a tied history item leaves the tie block
              [0.3, 0.9, 0.1, 0.8, 0.2]]   # a history item twice counts once: history [1, 1, 3], target 4
    targets = [2, 2, 0, 4]
    histories = [[0, 3], [2, 0, 2], [1], [1, 1, 3]]
    g_kept, e_kept = ranks(scores, targets)
    g_rem, e_rem = ranks(scores, targets, histories)
    assert g_kept.tolist() == [2, 2, 0, 3] and e_kept.tolist() == [0, 0, 2, 0]
    assert g_rem.tolist() == [1, 1, 0, 1] and e_rem.tolist() == [0, 0, 1, 0]
    m = metrics.rank_metrics(g_rem, e_rem, (1,), 5)
    assert m["recall@1"].tolist() == pytest.approx([0, 0, 0.5, 0])
    assert m["mrr"].tolist() == pytest.approx([0.5, 0.5, 0.75, 0.5])


def test_history_pairs_drop_the_target_and_duplicates():
    rows, items = metrics.history_pairs([np.array([2, 0, 2, 0]), np.array([5])], np.array([2, 5]))
    assert rows.tolist() == [0] and items.tolist() == [0]


def test_expectation_matches_random_tie_breaking():
    """The exact expectations equal the average over many random tie-breaks (an independent check)."""
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(6, 12)).astype(np.float32)  # coarse scores: many ties
    targets = rng.integers(0, 12, size=6)
    g, e = ranks(scores, targets)
    exact = metrics.rank_metrics(g, e, (3,), 12)
    reps = 20000
    tiebreak = rng.random((reps, 6, 12))
    # sort by score descending, ties in random order; position of the target in each row
    order = np.lexsort((tiebreak, -np.broadcast_to(scores, tiebreak.shape)), axis=-1)
    pos = np.argmax(order == targets[None, :, None], axis=-1)  # (reps, 6)
    assert (pos < 3).mean(0) == pytest.approx(exact["recall@3"], abs=0.02)
    assert np.where(pos < 3, 1 / np.log2(pos + 2), 0).mean(0) == pytest.approx(exact["ndcg@3"], abs=0.02)
    assert (1 / (pos + 1)).mean(0) == pytest.approx(exact["mrr"], abs=0.02)


def test_target_ranks_in_row_blocks_match_one_pass(monkeypatch):
    g = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (37, 11), generator=g).float()  # many ties
    targets = torch.randint(0, 11, (37,), generator=g)
    target_score = scores.gather(1, targets[:, None])
    expect_better = (scores > target_score).sum(1)
    expect_tied = (scores == target_score).sum(1) - 1
    monkeypatch.setattr(metrics, "_BLOCK_SCORES", 30)  # blocks of 2 rows, the last one short
    better, tied = metrics.target_ranks(scores, targets)
    assert better.tolist() == expect_better.tolist() and tied.tolist() == expect_tied.tolist()
    scores[36, 4] = float("nan")  # in the last block
    with pytest.raises(ValueError, match="NaN"):
        metrics.target_ranks(scores, targets)


def test_nan_scores_are_an_error():
    with pytest.raises(ValueError, match="NaN"):
        ranks([[0.1, float("nan"), 0.3]], [0])


def test_rank_metrics_rejects_impossible_ranks():
    with pytest.raises(ValueError, match="out of range"):
        metrics.rank_metrics(np.array([3]), np.array([1]), (1,), 4)
