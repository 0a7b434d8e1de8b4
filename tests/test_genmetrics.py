import numpy as np
import pytest

from textcode.data.windows import Windows
from textcode.gen.metrics import (
    bigrams,
    codebook_usage,
    js_divergence,
    popularity,
    reconstruction_summary,
    repeat_stats,
    sequence_metrics,
)


def windows(seqs, L=6):
    ends = np.cumsum([len(s) for s in seqs])
    return Windows(np.concatenate(seqs), ends - [len(s) for s in seqs], ends, L, np.arange(len(seqs)))


def test_js_divergence_bounds_and_symmetry():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.0, 0.0, 0.5, 0.5])
    r = np.array([0.25, 0.25, 0.25, 0.25])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, q) == pytest.approx(1.0)  # disjoint supports: 1 bit
    assert js_divergence(p, r) == pytest.approx(js_divergence(r, p))
    assert 0 < js_divergence(p, r) < 1


def test_repeats_bigrams_and_popularity():
    seqs = [np.array([1, 2, 1, 1]), np.array([3, 4])]
    assert repeat_stats(seqs) == {"repeat_rate": 2 / 6, "consecutive_repeat_rate": 1 / 6}
    assert len(bigrams(seqs)) == 4  # (1,2) (2,1) (1,1) (3,4)
    assert popularity(seqs, 5).tolist() == [0, 3 / 6, 1 / 6, 1 / 6, 1 / 6]


def test_sequence_metrics_see_copies_and_distribution_match():
    train = windows([[1, 2, 3], [4, 5, 6, 7], [1, 1]])
    test = windows([[1, 2, 3], [4, 5, 6, 7]])
    copies = sequence_metrics([np.array([1, 2, 3]), np.array([4, 5, 6, 7])], test, train, 10)
    assert copies["copied_windows"] == 1.0 and copies["popularity_js"] == 0.0 and copies["popularity_js_train"] > 0
    assert copies["bigram_precision"] == 1.0 and copies["bigram_recall"] == 1.0 and copies["length_tv"] == 0.0
    novel = sequence_metrics([np.array([8, 9, 8]), np.array([9, 8])], test, train, 10)
    assert novel["copied_windows"] == 0.0 and novel["popularity_js"] == pytest.approx(1.0)
    assert novel["bigram_precision"] == 0.0 and novel["train_4gram_fraction"] == 0.0


def test_reconstruction_summary_counts_only_what_it_is_given():
    rec = {"target": np.array([1, 2, 3, 4]), "pred": np.array([1, 0, 3, 0]), "nll": np.array([0.1, 2.0, 0.3, 1.0]),
           "position": np.array([0, 1, 0, 1])}
    out = reconstruction_summary(rec, length=3)
    assert out["accuracy"] == 0.5 and out["ce"] == pytest.approx(0.85)
    assert out["accuracy_by_position"] == [1.0, 0.0, None]


def test_codebook_perplexity():
    uniform = {0: np.arange(16).reshape(1, 16, 1)}
    assert codebook_usage(uniform)["level0/depth0"] == {"perplexity": pytest.approx(16.0), "used": 16}
    single = {2: np.array([[[3, 1], [3, 2], [-1, -1]]])}  # padding (-1) is not counted
    usage = codebook_usage(single)
    assert usage["level2/depth0"]["perplexity"] == pytest.approx(1.0) and usage["level2/depth1"]["used"] == 2
