"""Bad input files end as one project error naming the file (and line), never as a bare exception.

Each case of the reliability issue: undecodable text, broken gzip, empty files, structurally wrong
values, `source.path` placeholder typos, a missing `source.format`, a bad `source.k_core`, a
duplicated user, users too short for the split; and `prepare` checks all of it before it opens its
output folder, so a failure leaves no `<out>.partial/`.
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textcode import cli
from textcode.commands import prepare
from textcode.core.config import ConfigError, build
from textcode.core.errors import ProjectError
from textcode.data.config import SourceConfig
from textcode.data.domain import from_sequences
from textcode.data.errors import DataError
from textcode.data.jsonlines import read_jsonl
from textcode.data.kcore import k_core
from textcode.data.readers import READERS
from textcode.data.readers.amazon_raw import SCHEMA_2023, read_amazon
from textcode.data.readers.movielens import read_movielens_dat
from textcode.data.readers.recbole import read_unisrec
from textcode.data.readers.retailrocket import read_sessions
from textcode.data.readers.seqrec import read_seqrec
from textcode.data.sources import read_source, source_path
from textcode.data.textfile import read_bytes, read_lines

ROOT = Path(__file__).resolve().parents[1]
BAD_UTF8 = b"\xff\xfe bad"

# ----------------------------------------------------------------------------- tiny sources

TITLES = [{"ItemID": i, "Title": f"Item {i}"} for i in (1, 2, 3)]
USERS = [{"UserID": 10, "ItemID": [1, 2, 3], "Timestamp": [1, 2, 3]},
         {"UserID": 11, "ItemID": [3, 2, 1, 2], "Timestamp": [1, 2, 3, 4]}]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def write_seqrec(folder: Path, users: bytes | None = None, titles: bytes | None = None, gz: bool = True) -> Path:
    """item2title/user2item .jsonl.gz; `users`/`titles` are the uncompressed bytes (gz=False: written raw)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("item2title", titles if titles is not None else jsonl(TITLES)),
                       ("user2item", users if users is not None else jsonl(USERS))):
        path = folder / f"{name}.jsonl.gz"
        path.write_bytes(gzip.compress(data) if gz or name == "item2title" else data)
    return folder


def write_unisrec(folder: Path, text_lines: list[bytes] | None = None) -> Path:
    """Two users (a b c, b c a), three items; `text_lines` replaces T.text (header included)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "T.item2index").write_text("a\t0\nb\t1\nc\t2\n")
    (folder / "T.user2index").write_text("u\t0\nv\t1\n")
    text = text_lines or [b"item_id:token\ttext:token_seq", b"a\tA", b"b\tB", b"c\tC"]
    (folder / "T.text").write_bytes(b"\n".join(text) + b"\n")
    head = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    (folder / "T.train.inter").write_text(head + "0\t0\t1\n1\t1\t2\n")
    (folder / "T.valid.inter").write_text(head + "0\t0 1\t2\n1\t1 2\t0\n")
    (folder / "T.test.inter").write_text(head + "0\t0 1 2\t0\n1\t1 2 0\t1\n")
    return folder


def write_sessions(folder: Path, train: bytes = b"1 2 3\n2 3 1\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_sessions.txt").write_bytes(train)
    (folder / "test_prefixes.tsv").write_text("session_id\tprefix_item_ids\tlabel_item_id\ttimestamp\n9\t1 2\t3\t0\n")
    return folder


def project(tmp_path: Path, source: dict) -> list[str]:
    """A config folder with domain `bad` = `source`; the arguments of `prepare` for it."""
    configs = tmp_path / "configs"
    (configs / "domains").mkdir(parents=True)
    (configs / "base.yaml").write_text(f"data_root: {json.dumps(str(tmp_path))}\nseed: 0\n")
    (configs / "domains" / "bad.yaml").write_text(json.dumps({"source": source}))
    return ["--domain", "bad", "--configs", str(configs), "--out", str(tmp_path / "out")]


def run_prepare(tmp_path: Path, source: dict, error: type[ProjectError] = DataError, match: str | None = None) -> ProjectError:
    """prepare must fail with `error` and leave neither `out` nor `out.partial`."""
    with pytest.raises(error, match=match) as err:
        prepare.main(project(tmp_path, source))
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out").exists()
    return err.value


def assert_names(err: DataError, path: Path, line: int | None) -> None:
    assert err.path == str(path) and err.line == line
    assert str(err).startswith(f"{path}:{line}:" if line is not None else f"{path}:")


# ----------------------------------------------------------------------------- undecodable text

def test_invalid_utf8_in_unisrec_names_file_and_line(tmp_path):
    folder = write_unisrec(tmp_path, [b"item_id:token\ttext:token_seq", b"a\tA", b"b\tB " + BAD_UTF8, b"c\tC"])
    with pytest.raises(DataError, match="not valid utf-8") as err:
        read_unisrec(folder, "T")
    assert_names(err.value, folder / "T.text", 3)


@pytest.mark.parametrize("gz", [False, True])
def test_invalid_utf8_in_jsonlines_names_file_and_line(tmp_path, gz):
    data = b'{"a": 1}\n' * 3000 + b'{"a": "' + BAD_UTF8 + b'"}\n'  # beyond the first decoding chunk
    path = tmp_path / ("x.jsonl.gz" if gz else "x.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match="not valid utf-8") as err:
        list(read_jsonl(path))
    assert_names(err.value, path, 3001)


def test_invalid_utf8_in_seqrec_names_file_and_line(tmp_path):
    folder = write_seqrec(tmp_path, users=jsonl(USERS) + b'{"UserID": 12, "x": "' + BAD_UTF8 + b'"}\n')
    with pytest.raises(DataError, match="not valid utf-8") as err:
        read_seqrec(folder, "bad")
    assert_names(err.value, folder / "user2item.jsonl.gz", 3)


def test_invalid_utf8_in_retailrocket_names_file_and_line(tmp_path):
    folder = write_sessions(tmp_path, train=b"1 2 3\n" + BAD_UTF8 + b"\n")
    with pytest.raises(DataError, match="not valid utf-8") as err:
        read_sessions(folder, "rr")
    assert_names(err.value, folder / "train_sessions.txt", 2)


@pytest.fixture()
def amazon2023(tmp_path, monkeypatch) -> Path:
    """A copy of the 2023 fixture (plain reviews, gzipped meta); `datasets`' cache kept in tmp_path."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    folder = tmp_path / "amazon2023"
    shutil.copytree(ROOT / "tests" / "fixtures" / "amazon2023", folder)
    return folder


def test_invalid_utf8_in_raw_amazon_names_file_and_line(amazon2023):
    reviews, meta = amazon2023 / "Industrial_and_Scientific.jsonl", amazon2023 / "meta_Industrial_and_Scientific.jsonl.gz"
    n = len(reviews.read_bytes().splitlines())
    reviews.write_bytes(reviews.read_bytes() + b'{"user_id": "' + BAD_UTF8 + b'"}\n')
    with pytest.raises(DataError, match="not valid utf-8") as err:
        read_amazon(reviews, meta, "a", SCHEMA_2023)
    assert_names(err.value, reviews, n + 1)


def test_empty_and_non_gzip_raw_amazon_files(amazon2023):
    reviews, meta = amazon2023 / "Industrial_and_Scientific.jsonl", amazon2023 / "meta_Industrial_and_Scientific.jsonl.gz"
    plain = gzip.decompress(meta.read_bytes())
    meta.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as err:
        read_amazon(reviews, meta, "a", SCHEMA_2023)
    assert_names(err.value, meta, None)
    meta.write_bytes(plain)
    with pytest.raises(DataError, match="not a gzip file") as err:
        read_amazon(reviews, meta, "a", SCHEMA_2023)
    assert_names(err.value, meta, None)


# ----------------------------------------------------------------------------- broken gzip

def test_plain_file_named_gz(tmp_path):
    folder = write_seqrec(tmp_path, gz=False)  # user2item.jsonl.gz holds plain JSON lines
    with pytest.raises(DataError, match="not a gzip file") as err:
        read_seqrec(folder, "bad")
    assert_names(err.value, folder / "user2item.jsonl.gz", None)


def test_truncated_gzip(tmp_path):
    rows = [{"UserID": u, "ItemID": [1, 2, 3], "Timestamp": [u, u + 1, u + 2]} for u in range(20000)]
    folder = write_seqrec(tmp_path, users=jsonl(rows))
    path = folder / "user2item.jsonl.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated gzip file") as err:
        read_seqrec(folder, "bad")
    assert err.value.path == str(path) and err.value.line is not None and err.value.line > 1


@pytest.mark.parametrize("where, message", [
    ("middle", r"corrupt gzip file \(CRC check failed"),  # bytes zeroed inside the deflate stream
    ("first block", "corrupt gzip data .*invalid block type"),  # a zlib error
])
def test_corrupt_gzip_data(tmp_path, where, message):
    path = tmp_path / "x.txt.gz"
    data = bytearray(gzip.compress(bytes(range(256)) * 400))
    if where == "middle":
        data[len(data) // 2:len(data) // 2 + 64] = b"\x00" * 64
    else:
        data[10] = 0xFF  # the first byte after the 10-byte header: block type 3 does not exist
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=message) as err:
        list(read_lines(path, encoding="latin-1"))
    assert err.value.path == str(path)
    with pytest.raises(DataError, match=message):
        read_bytes(path)


def test_movielens_ratings_that_are_not_gzip(tmp_path):
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation\n")
    (tmp_path / "ratings.dat.gz").write_text("1::1::5::978300760\n")
    with pytest.raises(DataError, match="not a gzip file") as err:
        read_movielens_dat(tmp_path, "ml")
    assert_names(err.value, tmp_path / "ratings.dat.gz", None)


# ----------------------------------------------------------------------------- empty files

def test_zero_byte_user2item_fails_prepare_before_the_output_folder(tmp_path):
    folder = write_seqrec(tmp_path / "data")
    (folder / "user2item.jsonl.gz").write_bytes(b"")
    err = run_prepare(tmp_path, {"format": "seqrec", "path": "{data_root}/data"}, match="empty file")
    assert_names(err, folder / "user2item.jsonl.gz", None)


def test_gzip_of_nothing_is_empty(tmp_path):
    folder = write_seqrec(tmp_path, users=b"\n\n")
    with pytest.raises(DataError, match="empty file") as err:
        read_seqrec(folder, "bad")
    assert_names(err.value, folder / "user2item.jsonl.gz", None)


def test_empty_train_sessions(tmp_path):
    folder = write_sessions(tmp_path, train=b"")
    with pytest.raises(DataError, match="empty file") as err:
        read_sessions(folder, "rr")
    assert_names(err.value, folder / "train_sessions.txt", None)


def test_header_only_test_prefixes(tmp_path):
    folder = write_sessions(tmp_path)
    (folder / "test_prefixes.tsv").write_text("session_id\tprefix_item_ids\tlabel_item_id\ttimestamp\n")
    with pytest.raises(DataError, match="no test rows") as err:
        read_sessions(folder, "rr")
    assert_names(err.value, folder / "test_prefixes.tsv", None)


@pytest.mark.parametrize("name", ["T.item2index", "T.text", "T.valid.inter"])
def test_empty_unisrec_files(tmp_path, name):
    folder = write_unisrec(tmp_path)
    (folder / name).write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as err:
        read_unisrec(folder, "T")
    assert_names(err.value, folder / name, None)


def test_empty_movies_dat(tmp_path):
    (tmp_path / "movies.dat").write_bytes(b"")
    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n")
    with pytest.raises(DataError, match="empty file") as err:
        read_movielens_dat(tmp_path, "ml")
    assert_names(err.value, tmp_path / "movies.dat", None)


def test_no_interactions_at_all(tmp_path):
    folder = write_seqrec(tmp_path / "data", users=jsonl([{"UserID": 1, "ItemID": [], "Timestamp": []}]))
    err = run_prepare(tmp_path, {"format": "seqrec", "path": "{data_root}/data"}, match="no interactions")
    assert err.path == str(folder)


# ----------------------------------------------------------------------------- structurally wrong values

@pytest.mark.parametrize("row, message", [
    ({"UserID": 11, "ItemID": [[666]], "Timestamp": [1]}, r"item ids must be integers, found \[666\]"),
    ({"UserID": 11, "ItemID": [{"id": 1}], "Timestamp": [1]}, "item ids must be integers"),
    ({"UserID": 11, "ItemID": [True], "Timestamp": [1]}, "item ids must be integers"),
    ({"UserID": 11, "ItemID": [None], "Timestamp": [1]}, "item ids must be integers, found None"),
    ({"UserID": 11, "ItemID": [1], "Timestamp": [[1]]}, "timestamps must be integers"),
    ({"UserID": 11, "ItemID": [1], "Timestamp": [2**70]}, "timestamps must be integers"),
    ({"UserID": [11], "ItemID": [1], "Timestamp": [1]}, "'UserID' must be int"),
    ({"UserID": 11, "ItemID": "1 2", "Timestamp": [1]}, "'ItemID' must be list"),
])
def test_wrong_values_in_seqrec_name_file_and_line(tmp_path, row, message):
    folder = write_seqrec(tmp_path, users=jsonl([USERS[0], row]))
    with pytest.raises(DataError, match=message) as err:
        read_seqrec(folder, "bad")
    assert err.value.__context__ is None  # raised directly, not from inside an error handler
    assert_names(err.value, folder / "user2item.jsonl.gz", 2)


def test_too_large_session_id_in_retailrocket(tmp_path):
    folder = write_sessions(tmp_path, train=b"1 2 3\n1 99999999999999999999 2\n")
    with pytest.raises(DataError, match="too large") as err:
        read_sessions(folder, "rr")
    assert_names(err.value, folder / "train_sessions.txt", 2)


def test_duplicated_user_in_seqrec(tmp_path):
    folder = write_seqrec(tmp_path, users=jsonl([USERS[0], USERS[1], USERS[0]]))
    with pytest.raises(DataError, match=r"user 10 appears twice \(first on line 1\)") as err:
        read_seqrec(folder, "bad")
    assert_names(err.value, folder / "user2item.jsonl.gz", 3)


# ----------------------------------------------------------------------------- config keys

def test_placeholder_typo_in_source_path(tmp_path):
    err = run_prepare(tmp_path, {"format": "seqrec", "path": "{data_rot}/x"}, ConfigError)
    assert "source.path" in str(err) and "{data_rot}" in str(err) and "{data_root}" in str(err)
    for template in ("{}/x", "{data_root/x", "{0}"):
        with pytest.raises(ConfigError, match="source.path"):
            source_path(template, "/data")
    assert source_path("{data_root}/x", "/data") == Path("/data/x")


def test_missing_source_format(tmp_path):
    write_seqrec(tmp_path / "data")
    err = run_prepare(tmp_path, {"path": "{data_root}/data"}, ConfigError)
    assert str(err).startswith("source.format: missing (formats: ") and all(f in str(err) for f in READERS)


def test_every_domain_config_sets_its_format():
    for file in sorted((ROOT / "configs" / "domains").glob("*.yaml")):
        assert "\n  format: " in file.read_text(), file.name


@pytest.mark.parametrize("k", [-3, 1])
def test_k_core_must_be_0_or_at_least_2(tmp_path, k):
    with pytest.raises(ConfigError, match=f"source.k_core must be 0 .* or at least 2, got {k}"):
        build(SourceConfig, {"format": "seqrec", "path": "x", "k_core": k}, prefix="source.")
    write_seqrec(tmp_path / "data")
    run_prepare(tmp_path, {"format": "seqrec", "path": "{data_root}/data", "k_core": k}, ConfigError, "source.k_core")
    with pytest.raises(ConfigError):
        k_core(from_sequences("d", ["a"], ["A"], ["u"], [[0]]), -3)


# ----------------------------------------------------------------------------- users too short for the split

def test_user_with_one_interaction_fails_prepare_naming_the_user(tmp_path):
    folder = write_seqrec(tmp_path / "data", users=jsonl(USERS + [{"UserID": 12, "ItemID": [2], "Timestamp": [9]}]))
    err = run_prepare(tmp_path, {"format": "seqrec", "path": "{data_root}/data"}, match="fewer than 3 interactions")
    assert err.path == str(folder) and err.key == "user 12" and "[user 12]" in str(err)


def test_short_users_removed_by_k_core_are_fine(tmp_path):
    rows = [{"UserID": u, "ItemID": [1, 2, 3], "Timestamp": [1, 2, 3]} for u in range(3)]
    write_seqrec(tmp_path / "data", users=jsonl(rows + [{"UserID": 9, "ItemID": [1], "Timestamp": [1]}]))
    cfg = SourceConfig(format="seqrec", path=str(tmp_path / "data"), k_core=3)
    assert read_source(cfg, "d").counts() == {"users": 3, "items": 3, "interactions": 9}
    assert prepare.main(project(tmp_path, {"format": "seqrec", "path": "{data_root}/data", "k_core": 3})) == 0
    assert (tmp_path / "out" / "manifest.json").exists()


# ----------------------------------------------------------------------------- the command line

def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    folder = write_sessions(tmp_path / "data", train=b"1 2 3\n" + BAD_UTF8 + b"\n")
    argv = project(tmp_path, {"format": "retailrocket_sessions", "path": "{data_root}/data"})
    assert cli.main(["prepare", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{folder / 'train_sessions.txt'}:2: not valid utf-8" in err
    assert not (tmp_path / "out.partial").exists()


def test_python_m_textcode_prepare_on_a_bad_file(tmp_path):
    folder = write_seqrec(tmp_path / "data", users=jsonl([USERS[0], {"UserID": 11, "ItemID": [[666]], "Timestamp": [1]}]))
    argv = project(tmp_path, {"format": "seqrec", "path": "{data_root}/data"})
    done = subprocess.run([sys.executable, "-m", "textcode", "prepare", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{folder / 'user2item.jsonl.gz'}:2: user 11: item ids must be integers" in lines[0]
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out").exists()
