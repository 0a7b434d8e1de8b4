import numpy as np
import torch

from textcode.rec import serving
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.sasrec import SequenceEncoder


def _model():
    torch.manual_seed(0)
    codes = torch.randint(0, 16, (40, 4), generator=torch.Generator().manual_seed(0))
    return SequenceEncoder(SASRecConfig(n_layers=1, n_heads=1, hidden=8, ffn=8, dropout=0.0, max_len=5),
                           CodeItemEmbedding(codes, 16, 8)).eval()


def test_index_top_k_matches_the_models_own_ranking():
    model = _model()
    retriever = serving.Retriever(model, serving.build_index(serving.item_vectors(model)))
    histories = [np.array([1, 2, 3]), np.array([7])]
    _, top = retriever.recommend(histories, k=5)
    expected = torch.topk(model.score_histories(histories), 5).indices.numpy()
    assert np.array_equal(top, expected)


def test_history_items_can_be_excluded():
    model = _model()
    retriever = serving.Retriever(model, serving.build_index(serving.item_vectors(model)))
    _, top = retriever.recommend([np.array([1, 2, 3])], k=10, exclude_history=True)
    assert top.shape == (1, 10) and not np.isin(top, [1, 2, 3]).any()


def test_new_items_from_codes_are_recommendable_without_retraining():
    model = _model()
    retriever = serving.Retriever(model, serving.build_index(serving.item_vectors(model)))
    history = [np.array([4, 5])]
    query = torch.as_tensor(retriever.embed_histories(history))
    # a new item whose codes are those of the history's best match is found at once
    best = int(retriever.recommend(history, k=1)[1][0, 0])
    new = retriever.add_items(model.items.codes[[best]].numpy())
    assert new.tolist() == [40] and retriever.index.ntotal == 41
    _, top = retriever.recommend(history, k=2)
    assert set(top[0].tolist()) == {best, 40}
    assert torch.isfinite(query).all()


def test_cold_item_report_counts_hits_of_cold_targets():
    model = _model()
    retriever = serving.Retriever(model, serving.build_index(serving.item_vectors(model)))
    histories = [np.array([1]), np.array([2])]
    _, top = retriever.recommend(histories, k=10)
    targets = np.array([top[0, 0], 39 if 39 not in top[1] else 38])
    report = serving.cold_item_report(retriever, histories, targets, cold=targets, ks=(10,))
    assert report["users_with_cold_target"] == 2 and report["cold_target_hit@10"] == 0.5


def test_the_learned_history_term_ranks_in_the_index_as_in_the_model():
    # positive: history items rise into the top k; negative: they fall out of it; either way the index's
    # top k is the model's own ranking (scores differ by the temperature: cosine in the index)
    model = _model()
    model.add_history_term()
    retriever = serving.Retriever(model, serving.build_index(serving.item_vectors(model)))
    histories = [np.array([1, 2, 3]), np.array([7, 7, 30])]
    for w in (30.0, -30.0):
        with torch.no_grad():
            model.history_weight.fill_(w)
        scores, top = retriever.recommend(histories, k=6)
        expected = torch.topk(model.score_histories(histories), 6)
        assert np.array_equal(top, expected.indices.numpy()), w
        np.testing.assert_allclose(scores / model.cfg.temperature, expected.values.numpy(), rtol=1e-4, atol=1e-4)
        assert np.isin(top[0], [1, 2, 3]).sum() == (3 if w > 0 else 0)
