import numpy as np
import pytest

from textcode.data.domain import from_sequences
from textcode.data.errors import DataError
from textcode.data.split import leave_one_out


def toy():
    seqs = [[0, 1, 2, 3, 4], [2, 0, 2, 1, 2], [4, 3, 1], [1, 1, 1, 0, 3, 2, 4]]
    return from_sequences("toy", list("abcde"), None, ["u0", "u1", "u2", "u3"], seqs), seqs


def test_train_valid_test_are_the_leave_one_out_cuts():
    domain, seqs = toy()
    split = leave_one_out(domain)
    assert split.n_items == 5
    for u, s in enumerate(seqs):
        assert split.train_sequence(u).tolist() == s[:-2]
        assert split.valid.history(u).tolist() == s[:-2]
        assert split.valid.targets[u] == s[-2]
        assert split.test.history(u).tolist() == s[:-1]
        assert split.test.targets[u] == s[-1]
    assert split.valid.users.tolist() == split.test.users.tolist() == [0, 1, 2, 3]
    assert len(split.valid) == len(split.test) == 4


def test_held_out_positions_are_never_training_targets_even_for_repeated_items():
    domain, seqs = toy()
    split = leave_one_out(domain)
    for u, s in enumerate(seqs):
        # the positions partition: training = 0..n-3 (its prefixes' targets are 1..n-3), then valid, then test
        parts = split.train_sequence(u).tolist() + [split.valid.targets[u], split.test.targets[u]]
        assert parts == s
    # u1 = c a c b c: item c is a training target (position 2) and the test target (position 4); allowed
    assert split.train_sequence(1).tolist()[2] == 2 and split.test.targets[1] == 2


def test_training_item_set_is_items_of_training_sequences_only():
    domain, _ = toy()
    # item 4 ('e') occurs only as u0's test target, u2's first click and u3's test target
    split = leave_one_out(domain)
    assert split.training_item_set().tolist() == [0, 1, 2, 3, 4]
    only_u0 = from_sequences("one", list("abcde"), None, ["u0"], [[0, 1, 2, 3, 4]])
    assert leave_one_out(only_u0).training_item_set().tolist() == [0, 1, 2]


def test_short_users_are_an_error_naming_the_user():
    domain = from_sequences("short", list("ab"), None, ["long", "tiny"], [[0, 1, 0], [1, 0]])
    with pytest.raises(DataError) as err:
        leave_one_out(domain)
    assert err.value.key == "tiny"
    assert "tiny" in str(err.value) and "fewer than 3" in str(err.value)


def test_three_clicks_leave_one_training_click():
    domain = from_sequences("three", list("abc"), None, ["u"], [[2, 0, 1]])
    split = leave_one_out(domain)
    assert split.train_sequence(0).tolist() == [2]
    assert split.valid.history(0).tolist() == [2] and split.valid.targets[0] == 0
    assert split.test.history(0).tolist() == [2, 0] and split.test.targets[0] == 1
    np.testing.assert_array_equal(split.train_offsets, [0, 1])


def test_the_validation_set_carries_the_protocol_selection_scores():
    domain, _ = toy()
    assert leave_one_out(domain).valid.selection == "history_kept"
    assert leave_one_out(domain, selection="history_removed").valid.selection == "history_removed"
