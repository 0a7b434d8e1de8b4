"""SeqRecBenchmark JSON lines (seqrec.read_seqrec)."""
import gzip
import json
from pathlib import Path

import pytest

from textcode.data.errors import DataError
from textcode.data.readers.seqrec import read_seqrec

TITLES = [{"ItemID": 102, "Title": "Shampoo &amp; Conditioner"}, {"ItemID": 100, "Title": "Lip Balm"},
          {"ItemID": 101, "Title": "Hand \"Cream\"..."}]
USERS = [{"UserID": 100, "ItemID": [100, 102, 101], "Timestamp": [10, 20, 20]},
         {"UserID": 101, "ItemID": [101, 101, 100, 102], "Timestamp": [5, 6, 7, 8]}]


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def write_seqrec(folder: Path, titles=TITLES, users=USERS) -> Path:
    write_gz(folder / "item2title.jsonl.gz", [json.dumps(t) for t in titles])
    write_gz(folder / "user2item.jsonl.gz", [json.dumps(u) for u in users])
    return folder


def test_reads_sequences_times_and_cleaned_titles(tmp_path):
    d = read_seqrec(write_seqrec(tmp_path), "tiny")
    d.validate("tiny")
    assert d.item_ids.tolist() == ["100", "101", "102"]  # indexed in numeric id order
    assert d.item_text.tolist() == ["Lip Balm.", "Hand Cream.", "Shampoo & Conditioner."]
    assert d.user_ids.tolist() == ["100", "101"]
    assert [d.sequence(u).tolist() for u in range(2)] == [[0, 2, 1], [1, 1, 0, 2]]
    assert d.times.tolist() == [10, 20, 20, 5, 6, 7, 8]


@pytest.mark.parametrize("file, line, text, message", [
    ("user2item.jsonl.gz", 2, '{"UserID": 101, "ItemID": [101', "unparsable JSON"),
    ("user2item.jsonl.gz", 1, '{"UserID": 100, "ItemID": [100]}', "missing field 'Timestamp'"),
    ("user2item.jsonl.gz", 2, '{"UserID": 101, "ItemID": [101], "Timestamp": ["5"]}', "timestamps must be integers"),
    ("user2item.jsonl.gz", 1, '{"UserID": "u", "ItemID": [101], "Timestamp": [5]}', "'UserID' must be int"),
    ("user2item.jsonl.gz", 2, '{"UserID": 101, "ItemID": [101, 999], "Timestamp": [5, 6]}', "item 999 has no title"),
    ("user2item.jsonl.gz", 2, '{"UserID": 101, "ItemID": [101, 100], "Timestamp": [6, 5]}', "not in order"),
    ("user2item.jsonl.gz", 1, '{"UserID": 100, "ItemID": [100, 101], "Timestamp": [5]}', "2 items but 1 timestamps"),
    ("item2title.jsonl.gz", 3, '{"ItemID": 101, "Title": " ... "}', "empty title"),
    ("item2title.jsonl.gz", 3, '{"ItemID": 100, "Title": "Again"}', "appears twice"),
    ("item2title.jsonl.gz", 2, '[100, "Lip Balm"]', "expected a JSON object"),
])
def test_bad_lines_name_file_and_line(tmp_path, file, line, text, message):
    folder = write_seqrec(tmp_path)
    path = folder / file
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines[line - 1] = text
    write_gz(path, lines)
    with pytest.raises(DataError, match=message) as err:
        read_seqrec(folder, "bad")
    assert (err.value.path, err.value.line) == (str(path), line)
    assert f"{path}:{line}:" in str(err.value)


def test_missing_file_is_named(tmp_path):
    write_seqrec(tmp_path)
    (tmp_path / "user2item.jsonl.gz").unlink()
    with pytest.raises(DataError, match="file not found") as err:
        read_seqrec(tmp_path, "bad")
    assert err.value.path == str(tmp_path / "user2item.jsonl.gz")


@pytest.mark.shared
@pytest.mark.parametrize("name, counts", [
    ("steam_100000", (10369, 3593, 126824)),
    ("amazon2014-beauty", (22332, 12086, 198215)),
])
def test_shared_domains_have_the_published_counts(shared_data, name, counts):
    d = read_seqrec(shared_data / "seqrec_benchmark" / name, name)
    d.validate(name)
    assert (d.n_users, d.n_items, d.n_interactions) == counts
    assert d.lengths().min() >= 5
    assert not any("&amp;" in t or "&quot;" in t for t in d.item_text)
