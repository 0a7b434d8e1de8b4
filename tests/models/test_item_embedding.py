import torch

from textcode.rec.item_embedding import (
    CodeItemEmbedding,
    IDItemEmbedding,
    TextItemEmbedding,
)


def test_item_vector_is_mean_of_its_code_embeddings():
    codes = torch.tensor([[0, 1, 2], [3, 3, 0]])
    emb = CodeItemEmbedding(codes, n_codes=4, dim=5)
    expected = torch.stack([emb.table[d, codes[1, d]] for d in range(3)]).mean(0)
    assert torch.allclose(emb(torch.tensor([1]))[0], expected)
    assert torch.allclose(emb.all_items(), emb(torch.arange(2)))
    assert emb.codes.dtype == torch.uint8  # compact storage when M <= 256


def test_hard_permutation_equals_mixing_by_its_permutation_matrix():
    torch.manual_seed(0)
    codes = torch.randint(0, 6, (10, 2))
    emb = CodeItemEmbedding(codes, n_codes=6, dim=4)
    perm = torch.stack([torch.randperm(6), torch.randperm(6)])
    mixing = torch.zeros(2, 6, 6)
    mixing[torch.arange(2)[:, None], torch.arange(6)[None, :], perm] = 1.0
    soft = emb.all_items(emb.mixed_weight(mixing))
    emb.apply_permutation(perm)
    assert torch.allclose(emb.all_items(), soft, atol=1e-6)


def test_replace_codes_keeps_tables_and_checks_shape():
    emb = CodeItemEmbedding(torch.randint(0, 8, (5, 3)), n_codes=8, dim=4)
    table = emb.table.detach().clone()
    emb.replace_codes(torch.randint(0, 8, (11, 3)))
    assert emb.n_items == 11 and torch.equal(emb.table, table)
    try:
        emb.replace_codes(torch.randint(0, 8, (11, 4)))
    except ValueError as exc:
        assert "sub-spaces" in str(exc)
    else:
        raise AssertionError("wrong number of sub-spaces accepted")


def test_id_and_text_embeddings_cover_all_items():
    ids = IDItemEmbedding(7, 4)
    assert ids.all_items().shape == (7, 4) and ids.n_items == 7
    text = TextItemEmbedding(torch.randn(7, 12), 4)
    assert torch.allclose(text(torch.arange(7)), text.all_items())
