import numpy as np
import pytest

from textcode.data.config import WindowConfig
from textcode.data.domain import from_sequences
from textcode.data.errors import DataError
from textcode.data.windows import PAD, cut_chunks, split_users, split_windows


def domain(lengths=(45, 3, 20, 1, 7, 60, 12, 2, 33, 19), holdout=None):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, n) for n in lengths]
    return from_sequences("toy", [str(i) for i in range(50)], None, [f"u{i}" for i in range(len(seqs))], seqs,
                          holdout=holdout)


def test_chunks_cover_every_interaction_once_in_order():
    d = domain()
    w = cut_chunks(d, np.arange(d.n_users), length=20, stride=20, min_length=1)
    assert w.lengths().sum() == d.n_interactions
    for u in range(d.n_users):
        rows = np.flatnonzero(w.users == u)
        assert np.array_equal(np.concatenate([w.window(r) for r in rows]), d.sequence(u))
    padded = w.padded()
    assert padded.shape == (len(w), 20) and padded.dtype == np.int64
    assert np.all(padded[np.arange(20)[None] >= w.lengths()[:, None]] == PAD)
    assert np.all(padded[np.arange(20)[None] < w.lengths()[:, None]] >= 0)
    assert np.array_equal(w.flat_items(), np.concatenate(w.sequences()))


def test_min_length_drops_short_windows_and_stride_overlaps():
    d = domain()
    w = cut_chunks(d, np.arange(d.n_users), length=20, stride=20, min_length=2)
    assert w.lengths().min() >= 2
    # user 0 has 45 items: chunks 20, 20, 5; with stride 10: starts 0, 10, 20, 30 (the last reaches the end)
    s = cut_chunks(d, np.array([0]), length=20, stride=10, min_length=2)
    assert s.lengths().tolist() == [20, 20, 20, 15]
    assert np.array_equal(s.window(3), d.sequence(0)[30:])


def test_split_is_seeded_disjoint_and_complete():
    d = domain(lengths=[5] * 100)
    cfg = WindowConfig(valid_fraction=0.1, test_fraction=0.2)
    a, b = split_users(d, cfg, seed=3), split_users(d, cfg, seed=3)
    assert all(np.array_equal(getattr(a, s), getattr(b, s)) for s in ("train", "valid", "test"))
    assert (len(a.train), len(a.valid), len(a.test)) == (70, 10, 20)
    assert len(np.unique(np.concatenate([a.train, a.valid, a.test]))) == 100
    c = split_users(d, cfg, seed=4)
    assert not np.array_equal(a.test, c.test)


def test_windows_never_cross_the_split():
    d = domain(lengths=[30] * 40)
    split = split_windows(d, WindowConfig(length=20, train_stride=5), seed=0)
    sides = [set(getattr(split, s).users.tolist()) for s in ("train", "valid", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sides[1] == set(split.users.valid.tolist()) and sides[2] == set(split.users.test.tolist())
    # evaluation windows are disjoint chunks even when training windows overlap
    assert split.test.lengths().sum() == 30 * len(split.users.test)
    assert split.train.lengths().sum() > 30 * len(split.users.train)


def test_source_holdout_uses_the_flags_and_fails_clearly_without_them():
    flags = np.zeros(20, bool)
    flags[[2, 5, 7]] = True
    d = domain(lengths=[6] * 20, holdout=flags)
    s = split_users(d, WindowConfig(holdout="source"), seed=0)
    assert s.test.tolist() == [2, 5, 7]
    assert not set(s.valid) & {2, 5, 7} and len(s.valid) == 2
    with pytest.raises(DataError, match="holdout flags"):
        split_users(domain(lengths=[6] * 20), WindowConfig(holdout="source"), seed=0)


def test_bad_window_settings_name_the_key():
    with pytest.raises(Exception, match="windows.train_stride"):
        WindowConfig(length=20, train_stride=30)
    with pytest.raises(Exception, match="windows.length"):
        WindowConfig(length=1)


def test_train_part_never_uses_a_users_last_two_items():
    d = domain(lengths=[9] * 30)
    split = split_windows(d, WindowConfig(length=20, holdout="train_part"), seed=0)
    for w in (split.train, split.valid, split.test):
        for r in range(len(w)):
            assert np.array_equal(w.window(r), d.sequence(int(w.users[r]))[:-2])
