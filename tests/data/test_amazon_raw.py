"""Raw Amazon review + metadata files (amazon_raw.read_amazon), on fixtures in the upstream schemas.

tests/fixtures/amazon2018 (reviews gzipped, meta plain) and amazon2023 (reviews plain, meta
gzipped) hold the same story: users U1..U5 review items A1..A5 (a 5-core), U6 reviews two items,
U1 also reviews A6 (no metadata) and U2 reviews A7 (metadata with empty text); the review file is
not in time order and U3 has two reviews at the same time (A4 then A2 in the file). A1's title has
HTML entities, A3's title is over 2,000 characters, A1 has a second (ignored) metadata row.
"""
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from textcode.data.config import SourceConfig
from textcode.data.errors import DataError
from textcode.data.readers.amazon_raw import SCHEMA_2018, SCHEMA_2023, read_amazon
from textcode.data.sources import read_source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DAY, T0 = 86400, 1420070400
RELEASES = {
    "2018": (SCHEMA_2018, FIXTURES / "amazon2018", "Industrial_and_Scientific.json.gz", "meta_Industrial_and_Scientific.json"),
    "2023": (SCHEMA_2023, FIXTURES / "amazon2023", "Industrial_and_Scientific.jsonl", "meta_Industrial_and_Scientific.jsonl.gz"),
}
TEXTS = [
    "Gorilla Glue & Tape, 8 oz Original. Industrial & Scientific Tapes, Adhesives & Sealants. Gorilla.",
    "Nitrile Exam Gloves, Large, 100 Count. Industrial & Scientific Lab & Scientific Products.",
    "Industrial & Scientific Power Tool Accessories. DEWALT.",  # the 2,000+ character title is dropped
    "Digital Caliper, 6 inch. Neiko.",
    "Safety Glasses Clear Lens. Industrial & Scientific Occupational Health & Safety Products. 3M.",
]
SEQUENCES = [[0, 1, 4, 2, 3], [0, 1, 2, 3, 4], [4, 0, 3, 1, 2], [1, 0, 2, 3, 4], [4, 3, 2, 1, 0], [0, 1]]


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Keep `datasets`' Arrow cache out of the user's ~/.cache."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", tmp_path / "hf" / "downloads")
    monkeypatch.setattr(datasets.config, "EXTRACTED_DATASETS_PATH", tmp_path / "hf" / "downloads" / "extracted")


def read(release: str, **paths) -> object:
    schema, folder, reviews, meta = RELEASES[release]
    return read_amazon(paths.get("reviews", folder / reviews), paths.get("meta", folder / meta), f"amazon{release}", schema)


@pytest.mark.parametrize("release", ["2018", "2023"])
def test_reads_fixture_like_unisrec(release, caplog):
    with caplog.at_level(logging.INFO, logger="textcode.data.readers.amazon_raw"):
        d = read(release)
    d.validate("fixture")
    assert d.counts() == {"users": 6, "items": 5, "interactions": 27}
    assert d.item_text.tolist() == TEXTS
    prefix = "B00ITEM00" if release == "2018" else "B0PARENT0"  # 2023 interactions use parent_asin
    assert d.item_ids.tolist() == [f"{prefix}{i}" for i in range(1, 6)]
    assert d.user_ids.tolist() == sorted(d.user_ids.tolist())
    # sorted by time per user, the U3 tie (A4, A2) kept in file order; A6 and A7 gone
    assert [d.sequence(u).tolist() for u in range(d.n_users)] == SEQUENCES
    assert d.times[:5].tolist() == [T0 + k * DAY for k in (1, 2, 4, 5, 6)]  # 2023 milliseconds -> seconds
    log = caplog.text
    assert "5 of 7 reviewed items have metadata text; dropped 2 of 29 interactions" in log
    assert "1 reviewed item(s) have empty text" in log and "1 duplicate metadata rows" in log


@pytest.mark.parametrize("release", ["2018", "2023"])
def test_k_core_applies_through_read_source(release):
    schema, folder, reviews, meta = RELEASES[release]
    cfg = SourceConfig(format=f"amazon{release}", path=str(folder), reviews=reviews, meta=meta, k_core=5)
    d = read_source(cfg, "core")
    assert d.counts() == {"users": 5, "items": 5, "interactions": 25}  # U6 (2 reviews) is gone
    assert d.lengths().min() >= 5 and np.bincount(d.items).min() >= 5
    assert [d.sequence(u).tolist() for u in range(5)] == SEQUENCES[:5]


def test_ties_keep_file_order_in_long_runs(tmp_path):
    # unstable sorts keep ties in order by accident on tiny or all-equal inputs; 60 reviews at 3 times do not
    events = [((7 * k) % 60, T0 + (k * 5) % 3) for k in range(60)]  # (item, one of 3 times)
    reviews = [{"reviewerID": "AUSER", "asin": f"B{i:09d}", "unixReviewTime": t} for i, t in events]
    meta = [{"asin": f"B{i:09d}", "title": f"Item {i}", "category": [], "brand": ""} for i in range(60)]
    d = read("2018", reviews=write(tmp_path / "r.json", reviews), meta=write(tmp_path / "m.json", meta))
    assert d.item_ids[d.sequence(0)].tolist() == [f"B{i:09d}" for i, _ in sorted(events, key=lambda e: e[1])]


# ----------------------------------------------------------------------------- bad input

def fixture_lines(release: str, which: str) -> list[dict]:
    schema, folder, reviews, meta = RELEASES[release]
    path = folder / (reviews if which == "reviews" else meta)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write(path: Path, lines: list, gz: bool = False) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def broken_reviews(tmp_path: Path, release: str, line: int, change, gz: bool = False) -> Path:
    rows = fixture_lines(release, "reviews")
    rows[line - 1] = change(rows[line - 1])
    return write(tmp_path / ("reviews.json.gz" if gz else "reviews.json"), rows, gz)


@pytest.mark.parametrize("gz", [False, True])
def test_unparsable_line_is_named(tmp_path, gz):
    path = broken_reviews(tmp_path, "2018", 3, lambda r: json.dumps(r)[:40], gz=gz)
    with pytest.raises(DataError, match="unparsable JSON") as err:
        read("2018", reviews=path)
    assert (err.value.path, err.value.line) == (str(path), 3)


def test_missing_review_column_is_named(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "unixReviewTime"} for r in fixture_lines("2018", "reviews")]
    path = write(tmp_path / "reviews.json", rows)
    with pytest.raises(DataError, match="missing column.*'unixReviewTime'") as err:
        read("2018", reviews=path)
    assert err.value.path == str(path) and err.value.key == "unixReviewTime"


def test_reading_2023_files_as_2018_names_the_missing_columns(tmp_path):
    _, folder, reviews, meta = RELEASES["2023"]
    with pytest.raises(DataError, match="reviewerID") as err:
        read_amazon(folder / reviews, folder / meta, "wrong", SCHEMA_2018)
    assert err.value.path == str(folder / reviews)


@pytest.mark.parametrize("release, line, change, message", [
    ("2018", 4, lambda r: {**r, "unixReviewTime": str(r["unixReviewTime"])}, "'unixReviewTime' must be an integer"),
    ("2018", 5, lambda r: {k: v for k, v in r.items() if k != "reviewerID"}, "'reviewerID' must be a string"),
    ("2018", 2, lambda r: {**r, "asin": 1234567890}, "'asin' must be a string"),
    ("2023", 2, lambda r: {**r, "timestamp": r["timestamp"] / 1000}, "'timestamp' must be an integer"),
    ("2023", 7, lambda r: {**r, "timestamp": None}, "'timestamp' must be an integer"),
])
def test_wrong_review_value_names_file_and_line(tmp_path, release, line, change, message):
    path = broken_reviews(tmp_path, release, line, change)
    with pytest.raises(DataError, match=message) as err:
        read(release, reviews=path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert f"{path}:{line}:" in str(err.value)


def failing_load_dataset(monkeypatch):
    """`datasets` failing as it does on a type change far into a big file (reproduced here without 10 MB)."""
    import datasets

    def fail(*args, **kwargs):
        try:
            raise ValueError("Failed to parse string: '\"None\"' as a scalar of type double")
        except ValueError as cause:
            raise datasets.exceptions.DatasetGenerationError("An error occurred while generating the dataset") from cause

    monkeypatch.setattr(datasets, "load_dataset", fail)


def test_datasets_failure_is_located_at_the_bad_line(tmp_path, monkeypatch):
    path = broken_reviews(tmp_path, "2018", 6, lambda r: {**r, "unixReviewTime": "soon"})
    failing_load_dataset(monkeypatch)
    with pytest.raises(DataError, match="'unixReviewTime' must be an integer") as err:
        read("2018", reviews=path)
    assert (err.value.path, err.value.line) == (str(path), 6)


def test_datasets_failure_in_an_unused_field_is_reported_with_its_cause(tmp_path, monkeypatch):
    failing_load_dataset(monkeypatch)
    _, folder, reviews, _ = RELEASES["2018"]
    with pytest.raises(DataError, match="could not convert it.*as a scalar of type double.*another field") as err:
        read("2018")
    assert err.value.path == str(folder / reviews) and err.value.line is None


def test_missing_meta_column_is_named(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "title"} for r in fixture_lines("2018", "meta")]
    path = write(tmp_path / "meta.json", rows)
    with pytest.raises(DataError, match="missing column.*'title'") as err:
        read("2018", meta=path)
    assert err.value.path == str(path) and err.value.key == "title"


def test_meta_field_of_wrong_type_names_file_and_line(tmp_path):
    rows = fixture_lines("2023", "meta")
    rows[2]["title"] = {"en": "Nitrile Exam Gloves"}  # line 3, item A2
    path = write(tmp_path / "meta.jsonl.gz", rows, gz=True)
    with pytest.raises(DataError, match="B0PARENT02.*'title' must be a string or null") as err:
        read("2023", meta=path)
    assert (err.value.path, err.value.line) == (str(path), 3)


def test_meta_without_any_reviewed_item_is_an_error(tmp_path):
    rows = [r for r in fixture_lines("2018", "meta") if r["asin"] == "B00NOTREVD9"]
    path = write(tmp_path / "meta.json", rows)
    with pytest.raises(DataError, match="none of the 7 items") as err:
        read("2018", meta=path)
    assert err.value.path == str(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="file not found") as err:
        read("2018", reviews=tmp_path / "nope.json.gz")
    assert err.value.path == str(tmp_path / "nope.json.gz")
