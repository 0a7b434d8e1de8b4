import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from textcode.core import artifacts, model_folder, model_kinds
from textcode.data.batching import pad_histories
from textcode.rec import sasrec
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import (
    CodeItemEmbedding,
    IDItemEmbedding,
    TextItemEmbedding,
)
from textcode.rec.sasrec import SequenceEncoder

CFG = SASRecConfig(n_layers=2, n_heads=2, hidden=12, ffn=16, dropout=0.0, max_len=6)


def test_position_t_only_sees_items_up_to_t():
    torch.manual_seed(0)
    model = SequenceEncoder(CFG, IDItemEmbedding(20, 12)).eval()
    x = torch.tensor([[1, 2, 3, 4, 5]])
    y = x.clone()
    y[0, 3:] = torch.tensor([9, 9])  # change the future
    hx, hy = model(x), model(y)
    assert torch.allclose(hx[0, :3], hy[0, :3], atol=1e-6)
    assert not torch.allclose(hx[0, 3], hy[0, 3])


def test_padding_does_not_change_scores():
    torch.manual_seed(0)
    model = SequenceEncoder(CFG, IDItemEmbedding(20, 12)).eval()
    alone = model.score_histories([np.array([4, 5])])
    batched = model.score_histories([np.array([4, 5]), np.array([1, 2, 3, 4, 5, 6, 7])])
    assert torch.allclose(alone[0], batched[0], atol=1e-5)
    assert batched.shape == (2, 20)


def test_scoring_path_matches_the_full_forward_pass():
    """score_histories runs the last block at the last positions only; it must equal the full pass."""
    torch.manual_seed(0)
    histories = [np.array([3]), np.array([1, 2, 3, 4, 5, 6, 7, 8]), np.array([9, 9, 2])]
    embeddings = {"code": CodeItemEmbedding(torch.randint(0, 8, (20, 4)), 8, 12), "id": IDItemEmbedding(20, 12),
                  "text": TextItemEmbedding(torch.randn(20, 7), 12)}
    for kind, items in embeddings.items():
        model = SequenceEncoder(dataclasses.replace(CFG, n_layers=3), items).eval()
        padded, mask = pad_histories(histories, CFG.max_len)
        with torch.no_grad():
            h = model(padded)[torch.arange(len(histories)), mask.sum(1) - 1]  # (B, H)
            expected = model.logits(h)
        assert torch.allclose(model.score_histories(histories), expected, atol=1e-5), kind
    with pytest.raises(RuntimeError, match="eval mode"):
        model.train().last_hidden(padded, mask.sum(1), model.item_vectors())


def test_cosine_scores_are_bounded_by_one_over_temperature():
    model = SequenceEncoder(CFG, IDItemEmbedding(20, 12)).eval()
    s = model.score_histories([np.array([1, 2])])
    assert s.abs().max() <= 1 / CFG.temperature + 1e-4


def test_model_folder_round_trip_for_every_item_embedding(tmp_path):
    torch.manual_seed(0)
    embeddings = {
        "code": CodeItemEmbedding(torch.randint(0, 8, (20, 4)), 8, 12),
        "id": IDItemEmbedding(20, 12),
        "text": TextItemEmbedding(torch.randn(20, 7), 12),
    }
    for kind, items in embeddings.items():
        model = SequenceEncoder(CFG, items).eval()
        folder = tmp_path / kind
        with artifacts.OutputFolder(folder, "test", {}) as out:
            model_folder.save_model(out, "sasrec", sasrec.describe(model), model.state_dict())
        loaded = model_kinds.load_recommender(folder)
        h = [np.array([1, 2, 3]), np.array([5])]
        assert torch.allclose(model.score_histories(h), loaded.score_histories(h)), kind


def test_causal_prefixes_hold_each_positions_items_so_far():
    inputs = torch.tensor([[4, 5, 6], [7, 8, 0]])
    prefixes = sasrec.causal_prefixes(inputs)  # (B, T, T)
    assert prefixes[0].tolist() == [[4, 4, 4], [4, 5, 5], [4, 5, 6]]
    assert prefixes[1, 1].tolist() == [7, 8, 8]


def test_the_history_term_adds_its_weight_to_each_history_item_once():
    torch.manual_seed(0)
    plain = SequenceEncoder(CFG, IDItemEmbedding(20, 12)).eval()
    model = SequenceEncoder(dataclasses.replace(CFG, history_term="learned"), IDItemEmbedding(20, 12)).eval()
    model.load_state_dict({**plain.state_dict(), "history_weight": torch.tensor(0.0)})
    histories = [np.array([3, 3, 9]), np.array([1])]
    assert torch.equal(model.score_histories(histories), plain.score_histories(histories))  # starts at 0: no effect
    with torch.no_grad():
        model.history_weight.fill_(-2.5)
    diff = model.score_histories(histories) - plain.score_histories(histories)
    expected = torch.zeros(2, 20)
    expected[0, [3, 9]] = expected[1, 1] = -2.5
    assert torch.allclose(diff, expected, atol=1e-5)


@pytest.mark.parametrize("repeat", [True, False])
def test_the_history_term_learns_its_sign_from_the_training_targets(repeat):
    """Sequences that keep returning to items already seen (a b a b a b) teach a positive term; sequences of
    distinct items teach a negative one."""
    from textcode.data.batching import iterate
    from textcode.data.windows import cut_from_end
    from textcode.rec.objectives import NextItemCE

    rng = np.random.default_rng(0)
    seqs = [np.tile(rng.choice(30, 2, replace=False), 3) if repeat else rng.choice(30, 6, replace=False)
            for _ in range(200)]
    windows = cut_from_end(np.arange(0, 6 * len(seqs) + 1, 6), np.concatenate(seqs), CFG.max_len)
    torch.manual_seed(0)
    model = SequenceEncoder(dataclasses.replace(CFG, history_term="learned"), IDItemEmbedding(30, 12))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    objective = NextItemCE(model)
    for epoch in range(10):
        for batch in iterate(windows, 50, 0, epoch):
            opt.zero_grad()
            objective(batch)[0].backward()
            opt.step()
    w = model.history_weight.item()
    assert (w > 1.0) if repeat else (w < -1.0), w


def test_dropout_keeps_one_minus_p_scaled_and_every_transformer_dropout_uses_it():
    from textcode.rec.dropout import Dropout

    torch.manual_seed(0)
    drop = Dropout(0.3).train()
    x = torch.ones(200, 500, requires_grad=True)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01  # 100,000 draws: sd 0.0014
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # the gradient passes where the value did
    assert torch.equal(drop.eval()(x), x)
    model = SequenceEncoder(SASRecConfig(hidden=16, n_heads=2, ffn=8), IDItemEmbedding(10, 16))
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 1 + 3 * model.cfg.n_layers and all(type(m) is Dropout for m in dropouts)


def test_the_id_embedding_starts_at_zero_and_adds_one_row_per_item():
    torch.manual_seed(0)
    plain = SequenceEncoder(CFG, IDItemEmbedding(20, 12)).eval()
    model = SequenceEncoder(dataclasses.replace(CFG, id_embedding=True), IDItemEmbedding(20, 12)).eval()
    assert model.id_embedding.weight.shape == (20, 12) and not model.id_embedding.weight.any()
    model.load_state_dict({**plain.state_dict(), "id_embedding.weight": torch.zeros(20, 12)})
    histories = [np.array([3, 5, 9]), np.array([1])]
    assert torch.equal(model.score_histories(histories), plain.score_histories(histories))  # no effect at 0
    with torch.no_grad():
        model.id_embedding.weight[5] = torch.linspace(-1.0, 1.0, 12)  # not constant: LayerNorm removes a shift
    diff = model.item_vectors() - plain.item_vectors()
    assert torch.equal(diff.abs().sum(1) != 0, torch.arange(20) == 5)  # item 5's vector only
    assert not torch.allclose(model(torch.tensor([[3, 5]])), plain(torch.tensor([[3, 5]])))  # as an input too


def test_id_embeddings_tell_apart_items_whose_content_is_identical():
    """Items 0 and 1 share their codes (the same text, say) but are followed by different items: without ID
    embeddings the model cannot tell them apart and splits its guess; with them it learns both successors."""
    from textcode.data.batching import iterate
    from textcode.data.windows import cut_from_end
    from textcode.rec.objectives import NextItemCE

    codes = torch.stack([torch.arange(8) // 4, torch.arange(8) % 4], dim=1)
    codes[1] = codes[0]
    seqs = [np.array([7, 0, 2]), np.array([7, 1, 3])] * 100
    windows = cut_from_end(np.arange(0, 3 * len(seqs) + 1, 3), np.concatenate(seqs), CFG.max_len)
    probs = {}
    for with_ids in (False, True):
        torch.manual_seed(0)
        model = SequenceEncoder(dataclasses.replace(CFG, id_embedding=with_ids, temperature=0.1),
                                CodeItemEmbedding(codes, 4, 12))
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for epoch in range(30):
            for batch in iterate(windows, 50, 0, epoch):
                opt.zero_grad()
                NextItemCE(model)(batch)[0].backward()
                opt.step()
        p = model.eval().score_histories([np.array([7, 0]), np.array([7, 1])]).softmax(-1)
        probs[with_ids] = (p[0, 2].item(), p[1, 3].item())
    assert max(probs[False]) < 0.6, probs  # the same input vector: about half each way
    assert min(probs[True]) > 0.9, probs
