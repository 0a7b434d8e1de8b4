"""UniSRec/VQ-Rec atomic files (recbole.read_unisrec, recbole.read_atomic)."""
from pathlib import Path

import numpy as np
import pytest

from textcode.data.errors import DataError
from textcode.data.readers.recbole import read_atomic, read_unisrec
from textcode.data.split import leave_one_out

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
ITEMS = ["B00A", "B00B", "B00C", "B00D", "B00E"]
SEQS = [[0, 1, 2, 3, 4], [1, 2, 1], [4, 3, 2, 1, 0, 2, 4]]


def write_unisrec(folder: Path, seqs=SEQS, cut=50, texts=None) -> Path:
    """Files laid out as UniSRec's `convert_to_atomic_files` writes them (training rows newest first)."""
    folder.mkdir(parents=True, exist_ok=True)
    train, valid, test = [HEADER], [HEADER], [HEADER]
    for u, s in enumerate(seqs):
        tr = s[:-2]
        for k in range(1, len(tr)):
            train.append(f"{u}\t{' '.join(map(str, tr[:-k][-cut:]))}\t{tr[-k]}\n")
        valid.append(f"{u}\t{' '.join(map(str, tr[-cut:]))}\t{s[-2]}\n")
        test.append(f"{u}\t{' '.join(map(str, s[:-1][-cut:]))}\t{s[-1]}\n")
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"T.{split}.inter").write_text("".join(rows))
    texts = texts or [f"Item {a} title. Category. Brand. " for a in ITEMS]
    (folder / "T.text").write_text("item_id:token\ttext:token_seq\n" + "".join(f"{a}\t{t}\n" for a, t in zip(ITEMS, texts)))
    (folder / "T.item2index").write_text("".join(f"{a}\t{i}\n" for i, a in enumerate(ITEMS)))
    (folder / "T.user2index").write_text("".join(f"AU{u}\t{u}\n" for u in range(len(seqs))))
    return folder


def test_rebuilds_sequences_ids_and_text(tmp_path):
    d = read_unisrec(write_unisrec(tmp_path), "T", name="tiny")
    d.validate("tiny")
    assert d.name == "tiny"
    assert [d.sequence(u).tolist() for u in range(3)] == SEQS
    assert d.item_ids.tolist() == ITEMS and d.user_ids.tolist() == ["AU0", "AU1", "AU2"]
    assert d.item_text[0] == "Item B00A title. Category. Brand."  # the published trailing space is stripped
    assert d.times is None and d.holdout is None


def test_truncated_histories_are_followed_across_rows(tmp_path):
    seqs = [[0, 1, 2, 3, 4, 0, 1, 2], [4, 3, 2, 1, 0, 4, 3]]
    d = read_unisrec(write_unisrec(tmp_path, seqs, cut=3), "T", max_history=3)
    assert [d.sequence(u).tolist() for u in range(2)] == seqs


def break_file(folder: Path, name: str, line: int, new: str) -> Path:
    path = folder / name
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = new
    path.write_text("".join(lines))
    return path


def where(err):
    return err.value.path, err.value.line


@pytest.mark.parametrize("name, line, new, message", [
    ("T.valid.inter", 3, "1\t1 2\t7\n", "unknown item 7"),                 # unknown item in a split
    ("T.test.inter", 2, "0\t0 1 2 3\tB00E\n", "not an integer index"),     # wrong type
    ("T.train.inter", 2, "0\t0 1 2\n", "tab-separated fields"),            # unparsable row
    ("T.valid.inter", 2, "0\t0 1 3\t3\n", "history is not the user's sequence"),
    ("T.train.inter", 2, "0\t0 2\t2\n", "does not continue"),
    ("T.text", 3, "B00B\t   \n", "empty text"),
    ("T.text", 2, "B00Z\tSome text\n", "not in T.item2index"),
    ("T.item2index", 2, "B00B\tone\n", "not an integer"),
])
def test_bad_rows_name_file_and_line(tmp_path, name, line, new, message):
    path = break_file(write_unisrec(tmp_path), name, line, new)
    with pytest.raises(DataError, match=message) as err:
        read_unisrec(tmp_path, "T")
    assert where(err) == (str(path), line)
    assert f"{path}:{line}:" in str(err.value)


def test_missing_column_names_file_and_column(tmp_path):
    path = break_file(write_unisrec(tmp_path), "T.test.inter", 1, "user_id:token\titem_id_list:token_seq\n")
    with pytest.raises(DataError, match="missing column.*item_id") as err:
        read_unisrec(tmp_path, "T")
    assert where(err) == (str(path), 1)


def test_user_without_test_row_is_an_error(tmp_path):
    folder = write_unisrec(tmp_path)
    path = folder / "T.test.inter"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(DataError, match="1 user.*no test row") as err:
        read_unisrec(folder, "T")
    assert err.value.path == str(path)


def test_item_without_text_is_an_error_naming_the_item(tmp_path):
    folder = write_unisrec(tmp_path)
    path = break_file(folder, "T.text", 6, "")  # drop B00E's line
    with pytest.raises(DataError, match="no text") as err:
        read_unisrec(folder, "T")
    assert err.value.path == str(path) and err.value.key == "B00E"


def test_read_atomic_converts_declared_types(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\tscore:float\thist:token_seq\tvec:float_seq\n7\t2.5\ta b\t1 2.5\n\n8\t1\t\t\n")
    rows = list(read_atomic(path, ("user_id",)))
    assert rows == [(2, {"user_id": "7", "score": 2.5, "hist": ["a", "b"], "vec": [1.0, 2.5]}),
                    (4, {"user_id": "8", "score": 1.0, "hist": [], "vec": []})]
    path.write_text("user_id:token\tscore:float\n7\tlots\n")
    with pytest.raises(DataError, match="not a valid float") as err:
        list(read_atomic(path, ("user_id",)))
    assert where(err) == (str(path), 2)
    path.write_text("user_id\tscore:float\n")
    with pytest.raises(DataError, match="name:type") as err:
        list(read_atomic(path, ("user_id",)))
    assert where(err) == (str(path), 1)


# ----------------------------------------------------------------------------- the real Scientific

def read_rows(path: Path) -> list[tuple[int, list[int], int]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [(int(u), [int(x) for x in h.split()], int(t)) for u, h, t in (line.split("\t") for line in lines)]


@pytest.fixture(scope="module")
def scientific(shared_data):
    folder = shared_data / "amazon" / "Scientific"
    return folder, read_unisrec(folder, "Scientific")


@pytest.mark.shared
def test_scientific_has_the_published_counts(scientific):
    _, d = scientific
    d.validate("Scientific")
    assert d.counts() == {"users": 8442, "items": 4385, "interactions": 59427}
    assert d.lengths().min() >= 5  # 5-core
    assert all(isinstance(t, str) and t for t in d.item_text)


@pytest.mark.shared
def test_our_leave_one_out_reproduces_the_published_split(scientific):
    folder, d = scientific
    split = leave_one_out(d)
    for name, evalset in (("valid", split.valid), ("test", split.test)):
        rows = read_rows(folder / f"Scientific.{name}.inter")
        assert len(rows) == len(evalset) == 8442
        for user, hist, target in rows:
            assert evalset.history(user)[-50:].tolist() == hist, (name, user)
            assert evalset.targets[user] == target, (name, user)
    # training rows: every prefix of s[:-2] (history cut to 50) predicting the next click
    ours = sorted((u, tuple(split.train_sequence(u)[:k][-50:].tolist()), int(split.train_sequence(u)[k]))
                  for u in range(d.n_users) for k in range(1, len(split.train_sequence(u))))
    theirs = sorted((u, tuple(h), t) for u, h, t in read_rows(folder / "Scientific.train.inter"))
    assert ours == theirs
    assert len(split.training_item_set()) == 4373  # = ntotal of VQ-Rec's official strict index


@pytest.mark.shared
def test_scientific_repeat_purchases_are_why_holdout_is_by_position(scientific):
    _, d = scientific
    split = leave_one_out(d)
    repeaters = sum(len(np.unique(d.sequence(u))) < len(d.sequence(u)) for u in range(d.n_users))
    target_in_train = sum(bool({split.valid.targets[u], split.test.targets[u]} & set(split.train_sequence(u).tolist()))
                          for u in range(d.n_users))
    assert (repeaters, target_in_train) == (243, 83)  # the figures quoted in textcode/data/split.py
