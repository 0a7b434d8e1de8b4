import numpy as np
import torch

from textcode.data.batching import batch_order, collate, iterate, pad_histories
from textcode.data.windows import concat_windows, cut_from_end


def _csr(seqs):
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    return offsets, np.concatenate([np.asarray(s) for s in seqs])


def test_every_target_is_trained_exactly_once_and_windows_respect_max_len():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, size=n) for n in (2, 3, 7, 12, 25, 1)]
    offsets, items = _csr(seqs)
    w = cut_from_end(offsets, items, max_len=5)
    assert (w.lengths() <= 6).all() and (w.lengths() >= 2).all()
    covered = []
    for s, e in zip(w.starts, w.ends):
        covered.extend(range(s + 1, e))  # flat positions used as targets
    expected = [p for lo, hi in zip(offsets[:-1], offsets[1:]) for p in range(lo + 1, hi)]
    assert sorted(covered) == expected


def test_collate_pads_left_aligned_and_targets_are_next_items():
    offsets, items = _csr([[1, 2, 3, 4], [7, 8]])
    w = cut_from_end(offsets, items, max_len=10)
    b = collate(w, np.array([0, 1]))
    assert b.inputs.tolist() == [[1, 2, 3], [7, 0, 0]]
    assert b.targets.tolist() == [[2, 3, 4], [8, 0, 0]]
    assert b.mask.tolist() == [[True, True, True], [True, False, False]]


def test_batches_are_a_partition_reproducible_per_epoch_and_split_across_ranks():
    rng = np.random.default_rng(1)
    offsets, items = _csr([rng.integers(0, 9, size=n) for n in rng.integers(2, 20, size=100)])
    w = cut_from_end(offsets, items, max_len=8)
    order = batch_order(w, 16, seed=0, epoch=1)
    assert sorted(np.concatenate(order).tolist()) == list(range(len(w)))
    assert all(np.array_equal(a, b) for a, b in zip(order, batch_order(w, 16, seed=0, epoch=1)))
    assert not all(np.array_equal(a, b) for a, b in zip(order, batch_order(w, 16, seed=0, epoch=2)))
    r0 = list(iterate(w, 16, 0, 1, rank=0, world=2))
    r1 = list(iterate(w, 16, 0, 1, rank=1, world=2))
    assert len(r0) == len(r1) == len(order) // 2


def test_length_bucketing_keeps_padding_small():
    rng = np.random.default_rng(2)
    offsets, items = _csr([rng.integers(0, 9, size=n) for n in rng.geometric(0.2, size=2000) + 1])
    w = cut_from_end(offsets, items, max_len=50)
    real = padded = 0
    for b in iterate(w, 64, 0, 1):
        real += int(b.mask.sum())
        padded += b.mask.numel()
    assert real / padded > 0.9


def test_concat_windows_shifts_item_ids_per_domain():
    a = cut_from_end(*_csr([[0, 1, 2]]), max_len=5)
    b = cut_from_end(*_csr([[0, 1]]), max_len=5)
    w = concat_windows([a, b], [0, 10])
    batch = collate(w, np.array([0, 1]))
    assert batch.inputs.tolist() == [[0, 1], [10, 0]] and w.domain.tolist() == [0, 1]


def test_pad_histories_keeps_the_last_items():
    items, mask = pad_histories([np.arange(10), np.array([3])], max_len=4)
    assert items.tolist() == [[6, 7, 8, 9], [3, 0, 0, 0]]
    assert mask.sum(1).tolist() == [4, 1]
    assert items.dtype == torch.int64


def test_token_budget_caps_padded_positions_per_batch():
    rng = np.random.default_rng(3)
    offsets, items = _csr([rng.integers(0, 9, size=n) for n in rng.integers(2, 52, size=500)])
    w = cut_from_end(offsets, items, max_len=50)
    batches = batch_order(w, 256, seed=0, epoch=1, max_tokens=1000)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(w)))
    for b in batches:
        padded = len(b) * int((w.lengths()[b] - 1).max())
        assert padded <= 1000 or len(b) == 1
