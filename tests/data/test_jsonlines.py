import gzip

import pytest

from textcode.data.errors import DataError
from textcode.data.jsonlines import field, read_jsonl


@pytest.mark.parametrize("gz", [False, True])
def test_read_jsonl_skips_blank_lines_and_numbers_lines(tmp_path, gz):
    text = '{"a": 1}\n\n{"a": 2}\n'
    path = tmp_path / ("x.jsonl.gz" if gz else "x.jsonl")
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize("text, line, message", [
    ('{"a": 1}\n{"a": \n', 2, "unparsable JSON"),
    ('{"a": 1}\n\n[1, 2]\n', 3, "expected a JSON object"),
])
def test_read_jsonl_names_the_bad_line(tmp_path, text, line, message):
    path = tmp_path / "x.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        list(read_jsonl(path))
    assert (err.value.path, err.value.line) == (str(path), line)


def test_field_checks_presence_and_type():
    assert field({"n": 3}, "n", int, "f", 7) == 3
    with pytest.raises(DataError, match="missing field 'm'") as err:
        field({"n": 3}, "m", int, "f", 7)
    assert (err.value.path, err.value.line) == ("f", 7)
    with pytest.raises(DataError, match="must be int, got bool"):
        field({"n": True}, "n", int, "f", 7)
    with pytest.raises(DataError, match="must be str or list, got int"):
        field({"n": 3}, "n", (str, list), "f", 7)
