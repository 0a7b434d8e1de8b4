"""The Domain representation: construction, checks, persistence."""
import dataclasses

import numpy as np
import pytest

from textcode.core import artifacts
from textcode.data.domain import Domain, ExpectedCounts, from_sequences, subset
from textcode.data.errors import DataError


def toy(**changes) -> Domain:
    d = from_sequences("toy", ["a", "b", "c"], ["A.", "B.", "C."], ["u0", "u1"], [[0, 2, 1], [2, 2]],
                       times=[[1, 5, 5], [3, 4]], holdout=[False, True])
    return dataclasses.replace(d, **changes)


def test_from_sequences_builds_csr():
    d = toy()
    d.validate("toy")
    assert d.offsets.tolist() == [0, 3, 5] and d.items.tolist() == [0, 2, 1, 2, 2]
    assert d.counts() == {"users": 2, "items": 3, "interactions": 5}
    assert d.sequence(1).tolist() == [2, 2] and d.lengths().tolist() == [3, 2]


@pytest.mark.parametrize("changes, message, key", [
    ({"offsets": np.array([0, 3, 4])}, "do not cover the item array", None),
    ({"offsets": np.array([0, 4, 3])}, "not a valid CSR index", None),
    ({"items": np.array([0, 2, 1, 2, 3], np.int32)}, "outside the item table", None),
    ({"item_text": np.array(["A.", " ", "C."], dtype=object)}, "empty text for 1 item", "b"),
    ({"times": np.array([1, 5, 4, 3, 4])}, "not in time order", "u0"),
    ({"times": np.array([1, 5, 5])}, "timestamps and items differ", None),
    ({"holdout": np.array([True])}, "holdout flags and users differ", None),
])
def test_validate_names_the_problem(changes, message, key):
    with pytest.raises(DataError, match=message) as err:
        toy(**changes).validate("src.file")
    assert err.value.path == "src.file" and err.value.key == key


def test_time_may_go_back_between_users():
    toy(times=np.array([7, 8, 9, 1, 2])).validate("ok")


def test_check_counts_lists_every_difference():
    d = toy()
    d.check_counts(ExpectedCounts(users=2, items=3), "src")
    with pytest.raises(DataError, match="users: expected 3, got 2, interactions: expected 9, got 5") as err:
        d.check_counts(ExpectedCounts(users=3, items=3, interactions=9), "src")
    assert err.value.path == "src"


def test_subset_reindexes_used_items_in_order():
    s = subset(toy(), np.array([1]))
    assert s.item_ids.tolist() == ["c"] and s.items.tolist() == [0, 0]
    assert s.user_ids.tolist() == ["u1"] and s.times.tolist() == [3, 4] and s.holdout.tolist() == [True]


@pytest.mark.parametrize("text_free", [False, True])
def test_save_and_load_round_trip(tmp_path, text_free):
    d = toy(item_text=None) if text_free else toy()
    with artifacts.OutputFolder(tmp_path / "prepared", "prepare", {}) as out:
        d.save(out)
        out.summary["domain"] = "toy"
    back = Domain.load(tmp_path / "prepared")
    assert back.name == "toy"
    for field in ("item_ids", "user_ids", "offsets", "items", "times", "holdout"):
        np.testing.assert_array_equal(getattr(back, field), getattr(d, field))
    assert (back.item_text is None) if text_free else back.item_text.tolist() == ["A.", "B.", "C."]
