"""Session-based Retail Rocket (retailrocket.read_sessions)."""
from pathlib import Path

import numpy as np
import pytest

from textcode.data.errors import DataError
from textcode.data.readers.retailrocket import read_sessions

TRAIN = ["10 9 10", "3 9 100 9"]
HEADER = "session_id\tprefix_item_ids\tlabel_item_id\ttimestamp"
# session 77 = 9 3 9 10 (rows for prefixes of length 3 and 2, longest first as in the source); 5 = 100 3 3
TEST = [HEADER, "77\t9 3 9\t10\t1441940543", "77\t9 3\t9\t1441940543", "5\t100 3\t3\t1441940600"]


def write(folder: Path, train=TRAIN, test=TEST) -> Path:
    (folder / "train_sessions.txt").write_text("".join(line + "\n" for line in train))
    (folder / "test_prefixes.tsv").write_text("".join(line + "\n" for line in test))
    return folder


def test_domain_layout(tmp_path):
    d = read_sessions(write(tmp_path), "rr")
    d.validate("rr")
    assert d.item_ids.tolist() == ["3", "9", "10", "100"]  # numeric order, not string order
    assert d.user_ids.tolist() == ["train-1", "train-2", "77", "5"]
    assert d.holdout.tolist() == [False, False, True, True]
    ids = d.item_ids
    assert [ids[d.sequence(u)].tolist() for u in range(4)] == [
        ["10", "9", "10"], ["3", "9", "100", "9"], ["9", "3", "9", "10"], ["100", "3", "3"]]
    assert d.item_text is None and d.times is None


def test_test_items_missing_from_train_are_still_items(tmp_path):
    test = [HEADER, "8\t4 5\t6\t1441940543"]
    d = read_sessions(write(tmp_path, test=test), "rr")
    assert d.item_ids.tolist() == ["3", "4", "5", "6", "9", "10", "100"]


@pytest.mark.parametrize("file, line, text, message", [
    ("test_prefixes.tsv", 3, "77\t9 4\t9\t1441940543", "session 77: this prefix row disagrees"),  # prefix differs
    ("test_prefixes.tsv", 3, "77\t9 3\t10\t1441940543", "session 77: this prefix row disagrees"),  # label differs
    ("test_prefixes.tsv", 4, "5\t100 x\t3\t1441940600", "prefix: 'x' is not a non-negative integer"),
    ("test_prefixes.tsv", 4, "5\t100 3\t3", "expected 4 tab-separated fields"),
    ("test_prefixes.tsv", 4, "5\t100 3\t3\tnoon", "timestamp: 'noon'"),
    ("test_prefixes.tsv", 4, "5\t\t3\t1441940600", "empty prefix"),
    ("test_prefixes.tsv", 1, "session\tprefix\tlabel\ttime", "header must be"),
    ("train_sessions.txt", 2, "3 9 +1 9", "session: '\\+1' is not a non-negative integer"),
    ("train_sessions.txt", 2, "   ", "empty session"),
])
def test_bad_lines_name_file_and_line(tmp_path, file, line, text, message):
    train, test = list(TRAIN), list(TEST)
    (train if file == "train_sessions.txt" else test)[line - 1] = text
    folder = write(tmp_path, train, test)
    with pytest.raises(DataError, match=message) as err:
        read_sessions(folder, "rr")
    assert (err.value.path, err.value.line) == (str(folder / file), line)


def test_inconsistent_row_is_found_whatever_the_row_order(tmp_path):
    # the longest prefix comes last here; the bad row is the first one
    test = [HEADER, "77\t9 4\t9\t1441940543", "77\t9 3 9\t10\t1441940543"]
    with pytest.raises(DataError, match="disagrees") as err:
        read_sessions(write(tmp_path, test=test), "rr")
    assert err.value.line == 2


@pytest.fixture(scope="module")
def full(shared_data):
    return read_sessions(shared_data / "retailrocket" / "CGENet_srgnn_format", "retailrocket")


@pytest.mark.shared
def test_shared_counts_match_sources_md(full):
    d = full
    d.validate("retailrocket")
    lengths = d.lengths()
    train, test = ~d.holdout, d.holdout
    assert (int(train.sum()), int(lengths[train].sum())) == (126168, 685984)
    assert (int(test.sum()), int(lengths[test].sum())) == (4735, 24602)
    assert d.counts() == {"users": 130903, "items": 36968, "interactions": 710586}
    assert d.item_ids.tolist() == [str(i) for i in range(1, 36969)]  # so item index = id - 1
    clicks_by = np.repeat(test, lengths)
    assert np.isin(d.items[clicks_by], d.items[~clicks_by]).all()  # every test item occurs in train
    assert lengths.min() == 3
    assert d.holdout.tolist() == [False] * 126168 + [True] * 4735


@pytest.mark.shared  # the demo is embedded in the repository, but cut from the shared files
def test_demo_sample_is_consistent_with_shared(full):
    demo = read_sessions(Path(__file__).resolve().parents[2] / "data" / "demo" / "retailrocket", "demo")
    assert demo.counts() == {"users": 4300, "items": 8332, "interactions": 23061}
    index = {sid: u for u, sid in enumerate(full.user_ids)}
    for u in range(0, demo.n_users, 37):
        f = index[demo.user_ids[u]]
        assert demo.item_ids[demo.sequence(u)].tolist() == full.item_ids[full.sequence(f)].tolist()
        assert demo.holdout[u] == full.holdout[f]
