"""EASE against a direct numpy implementation, its model folder round trip, and sanity on the demo sample."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from textcode.baselines import ease, popularity
from textcode.core import artifacts, model_folder, model_kinds
from textcode.data.config import SourceConfig
from textcode.data.domain import from_sequences
from textcode.data.sources import read_source
from textcode.data.split import leave_one_out
from textcode.eval.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[2]


def toy():
    """Six users' training sequences over five items (user 3 repeats item 1)."""
    seqs = [[0, 1, 2], [1, 2], [0, 2, 3], [1, 1, 4], [3, 4], [0, 3]]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    return offsets, np.concatenate(seqs), 5


def direct_ease(x: np.ndarray, l2: float) -> np.ndarray:
    """Steck (2019), literally: B = I - P diag(1/diag(P)), P = (X^T X + l2 I)^-1."""
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))


def test_binary_matrix_counts_a_repeat_once():
    offsets, items, n = toy()
    x = ease.binary_interactions(offsets, items, n).toarray()
    assert x.shape == (6, 5) and x[3].tolist() == [0, 1, 0, 0, 1]
    assert x.sum() == len(items) - 1


@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_weights_match_direct_numpy(l2):
    offsets, items, n = toy()
    x = ease.binary_interactions(offsets, items, n)
    w = ease.ease_weights(ease.gram(x), l2)
    np.testing.assert_allclose(w, direct_ease(x.toarray(), l2), atol=1e-12)
    assert np.all(np.diag(w) == 0)


def test_scores_are_the_history_bag_times_weights():
    offsets, items, n = toy()
    w = ease.ease_weights(ease.gram(ease.binary_interactions(offsets, items, n)), 1.0)
    model = ease.EASE(w, 1.0)
    histories = [np.array([0, 2, 0]), np.array([4]), np.array([1, 3, 4, 1])]
    bags = np.zeros((3, n))
    for row, h in enumerate(histories):
        bags[row, h] = 1.0
    np.testing.assert_allclose(model.score_histories(histories).numpy(), bags @ w, rtol=1e-5, atol=1e-6)


def test_l2_must_be_positive():
    with pytest.raises(ValueError, match="l2 > 0"):
        ease.ease_weights(np.eye(3), 0.0)


def test_model_folder_round_trip(tmp_path):
    offsets, items, n = toy()
    model = ease.EASE(ease.ease_weights(ease.gram(ease.binary_interactions(offsets, items, n)), 3.0), 3.0)
    with artifacts.OutputFolder(tmp_path / "ease", "ease", {}) as out:
        model_folder.save_model(out, "ease", {}, model.tensors(), n_items=n, l2=3.0)
    loaded = model_kinds.load_recommender(tmp_path / "ease")
    assert isinstance(loaded, ease.EASE) and loaded.l2 == 3.0
    histories = [np.array([0, 1]), np.array([4])]
    np.testing.assert_array_equal(loaded.score_histories(histories).numpy(), model.score_histories(histories).numpy())


def test_loading_a_wrong_shape_is_an_error(tmp_path):
    with artifacts.OutputFolder(tmp_path / "ease", "ease", {}) as out:
        model_folder.save_model(out, "ease", {}, {"weights": np.zeros((4, 3), np.float32)}, n_items=4, l2=1.0)
    with pytest.raises(artifacts.ArtifactError, match="expected tensor 'weights' of shape"):
        model_kinds.load_recommender(tmp_path / "ease")


@pytest.fixture(scope="module")
def demo_split():
    source = SourceConfig(format="unisrec", path=str(ROOT / "data" / "demo" / "scientific"), prefix="Scientific")
    return leave_one_out(read_source(source, "demo-scientific"))


def test_l2_is_chosen_on_validation_ndcg():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 12, rng.integers(3, 8)) for _ in range(40)]
    split = leave_one_out(from_sequences("toy", [str(i) for i in range(12)], None, [str(u) for u in range(40)], seqs))
    model, curve = ease.select_and_fit(split, ease.Config(l2_grid=(0.1, 3.0, 100.0), extend_at_edge=0))
    assert [c["l2"] for c in curve] == [0.1, 3.0, 100.0]
    assert model.l2 == max(curve, key=lambda c: c["valid_ndcg@10"])["l2"]
    refit = ease.EASE(ease.ease_weights(ease.gram(ease.binary_interactions(split.train_offsets, split.train_items, 12)),
                                        model.l2), model.l2)
    np.testing.assert_array_equal(model.weights.numpy(), refit.weights.numpy())


def test_a_best_l2_at_the_grid_edge_is_followed_past_it_and_flagged_when_it_stays_there(demo_split):
    # on the demo validation NDCG@10 still rises at l2=243: a grid of (1, 3) is followed upwards by its ratio,
    # four steps, and the best, still the largest value tried, is flagged in the notes the report prints
    fitted = ease.fit(demo_split, ease.Config(l2_grid=(1.0, 3.0), extend_at_edge=4))
    assert [c["l2"] for c in fitted.summary["valid_curve"]] == [1.0, 3.0, 9.0, 27.0, 81.0, 243.0]
    assert fitted.summary["l2"] == 243.0 and fitted.summary["l2_at_grid_edge"]
    assert fitted.summary["notes"] == ["l2=243 at the edge of the values tried (1..243)"]
    # the default grid's range holds the demo's best inside it: no extension, no note
    wide = ease.fit(demo_split, ease.Config())
    assert [c["l2"] for c in wide.summary["valid_curve"]] == list(ease.Config().l2_grid)
    assert 1.0 < wide.summary["l2"] < 10000.0 and wide.summary["notes"] == []


def test_ease_beats_popularity_on_the_demo(demo_split):
    model, _ = ease.select_and_fit(demo_split, ease.Config(l2_grid=(100.0,)))  # one l2 keeps the test fast
    pop = popularity.count(demo_split.train_items, demo_split.n_items)
    ease_test = evaluate(model, demo_split.test).means()
    pop_test = evaluate(pop, demo_split.test).means()
    for protocol in ("history_kept", "history_removed"):
        for metric in ("ndcg@10", "recall@50"):
            assert ease_test[protocol][metric] > pop_test[protocol][metric], (protocol, metric)


def test_popularity_counts_training_interactions(demo_split):
    pop = popularity.count(demo_split.train_items, demo_split.n_items)
    scores = pop.score_histories([np.array([0]), np.array([1, 2])]).numpy()
    assert scores.shape == (2, demo_split.n_items)
    np.testing.assert_array_equal(scores[0], np.bincount(demo_split.train_items, minlength=demo_split.n_items))
    np.testing.assert_array_equal(scores[0], scores[1])


def test_the_closed_form_baselines_take_a_work_folder_and_write_nothing_there(tmp_path):
    """The baseline protocol's `work` (a checkpoint folder for the loop-trained models): EASE and popularity solve
    in one go, so they accept it and ignore it, as they do `device`."""
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 12, rng.integers(3, 8)) for _ in range(40)]
    split = leave_one_out(from_sequences("toy", [str(i) for i in range(12)], None, [str(u) for u in range(40)], seqs))
    for module, cfg in ((ease, ease.Config(l2_grid=(3.0,))), (popularity, popularity.Config())):
        plain = module.fit(split, cfg, seed=0)
        given = module.fit(split, cfg, seed=0, device="cpu", work=tmp_path / module.__name__)
        assert not (tmp_path / module.__name__).exists()
        for name, value in plain.tensors.items():
            np.testing.assert_array_equal(np.asarray(given.tensors[name]), np.asarray(value))
