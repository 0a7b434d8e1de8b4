"""Readers for MovieLens: GroupLens `.dat` files (ML-1M) and RecBole atomic files (ml-100k).

Ratings are used as implicit feedback: every rating is an interaction, its value is ignored.
Item text = "<title (year)>. <genres>." through `itemtext.item_text`. Only movies that have at
least one rating become items (ML-1M lists 3,883 movies, of which 3,706 are rated), indexed in
order of their numeric movie id; users in order of their numeric user id. Each user's ratings
are sorted by timestamp with a stable sort, so ties keep the file's order.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.itemtext import item_text
from textcode.data.readers.recbole import read_atomic
from textcode.data.textfile import read_bytes, read_lines

MOVIES = "movies.dat"
_RATING_TYPES = {"UserID": pa.int64(), "MovieID": pa.int64(), "Rating": pa.float64(), "Timestamp": pa.int64()}


def read_movielens_dat(path: str | Path, name: str) -> Domain:
    """A GroupLens ML-1M folder: `movies.dat` (Latin-1) and exactly one `ratings*.dat[.gz]`."""
    folder = Path(path)
    texts = _read_movies(folder / MOVIES)
    ratings = _ratings_file(folder)
    table = _read_ratings(ratings)
    users, items, times = (table.column(c).to_numpy() for c in ("UserID", "MovieID", "Timestamp"))
    unknown = ~np.isin(items, np.fromiter(texts, dtype=np.int64, count=len(texts)))
    if unknown.any():
        movie = int(items[np.argmax(unknown)])
        line = next((n for n, fields in _dat_lines(ratings) if fields[1] == str(movie)), None)
        raise DataError(ratings, f"movie {movie} is not in {MOVIES}", line=line)
    return _domain(name, users, items, times, texts)


def read_recbole_inter(path: str | Path, prefix: str, name: str) -> Domain:
    """RecBole atomic MovieLens: `<prefix>.inter` (user_id, item_id, timestamp) and `<prefix>.item`
    (item_id, movie_title, class, and release_year when present)."""
    folder = Path(path)
    item_path, inter_path = folder / f"{prefix}.item", folder / f"{prefix}.inter"
    texts: dict[int, str] = {}
    for lineno, row in read_atomic(item_path, ("item_id", "movie_title", "class")):
        item = _integer(row["item_id"], "item_id", item_path, lineno)
        if item in texts:
            raise DataError(item_path, f"item {item} appears twice", line=lineno)
        title = " ".join(row["movie_title"])
        if row.get("release_year"):
            title = f"{title} ({row['release_year']})"  # the ML-1M title style
        texts[item] = item_text(title, row["class"])
        if not texts[item]:
            raise DataError(item_path, f"empty text for item {item}", line=lineno)
    users, items, times = [], [], []
    for lineno, row in read_atomic(inter_path, ("user_id", "item_id", "timestamp")):
        item = _integer(row["item_id"], "item_id", inter_path, lineno)
        if item not in texts:
            raise DataError(inter_path, f"item {item} is not in {item_path.name}", line=lineno)
        users.append(_integer(row["user_id"], "user_id", inter_path, lineno))
        items.append(item)
        times.append(_integer(row["timestamp"], "timestamp", inter_path, lineno))
    if not users:
        raise DataError(inter_path, "no interactions")
    return _domain(name, np.array(users), np.array(items), np.array(times), texts)


# ----------------------------------------------------------------------------- GroupLens .dat files

def _read_movies(path: Path) -> dict[int, str]:
    texts: dict[int, str] = {}
    for lineno, fields in _dat_lines(path):  # a missing or empty file raises here
        if len(fields) != 3:
            raise DataError(path, f"expected MovieID::Title::Genres, found {len(fields)} field(s)", line=lineno)
        movie = _integer(fields[0], "MovieID", path, lineno)
        if movie in texts:
            raise DataError(path, f"movie {movie} appears twice", line=lineno)
        texts[movie] = item_text(fields[1], fields[2].split("|"))
        if not texts[movie]:
            raise DataError(path, f"empty text for movie {movie}", line=lineno)
    return texts


def _ratings_file(folder: Path) -> Path:
    """The one `ratings*.dat` or `ratings*.dat.gz` in the folder (the shared copy is a partial one)."""
    found = sorted(p for pattern in ("ratings*.dat", "ratings*.dat.gz") for p in folder.glob(pattern))
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise DataError(folder, f"expected exactly one ratings*.dat or ratings*.dat.gz file, found {listed}")
    return found[0]


def _read_ratings(path: Path) -> pa.Table:
    """`UserID::MovieID::Rating::Timestamp` lines, parsed by Arrow (a Python loop takes seconds)."""
    raw = read_bytes(path)  # DataError for an empty file or a broken gzip
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw.replace(b"::", b"\t")),
            read_options=pacsv.ReadOptions(column_names=list(_RATING_TYPES)),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=_RATING_TYPES))
    except pa.ArrowInvalid as exc:  # Arrow's message has no line number: find the line ourselves
        _check_rating_lines(path)
        raise DataError(path, f"unreadable ratings: {exc}") from exc
    if table.num_rows == 0:
        raise DataError(path, "no ratings")
    return table


def _check_rating_lines(path: Path) -> None:
    """Raise DataError at the first malformed ratings line."""
    for lineno, fields in _dat_lines(path):
        if len(fields) != 4:
            raise DataError(path, f"expected UserID::MovieID::Rating::Timestamp, found {len(fields)} field(s)", line=lineno)
        for value, (column, kind) in zip(fields, _RATING_TYPES.items()):
            if kind == pa.float64():
                _number(value, column, path, lineno)
            else:
                _integer(value, column, path, lineno)


def _dat_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, `::`-separated fields) of the non-empty lines.

    GroupLens wrote ML-1M in Latin-1 (e.g. "Misérables"); read as UTF-8 it would fail or garble.
    """
    for lineno, line in read_lines(path, encoding="latin-1"):
        if line:
            yield lineno, line.split("::")


# ----------------------------------------------------------------------------- shared

def _integer(value: object, what: str, path: Path, lineno: int) -> int:
    """An integer field; RecBole declares timestamps as float, so integral floats are accepted."""
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise DataError(path, f"{what} {value!r} is not an integer", line=lineno)
    try:
        return int(value)
    except ValueError:
        raise DataError(path, f"{what} {value!r} is not an integer", line=lineno) from None


def _number(value: str, what: str, path: Path, lineno: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(path, f"{what} {value!r} is not a number", line=lineno) from None


def _domain(name: str, users: np.ndarray, items: np.ndarray, times: np.ndarray, texts: dict[int, str]) -> Domain:
    """Group (user, movie, time) triples into time-ordered sequences; only rated movies become items."""
    user_ids, user_of = np.unique(users, return_inverse=True)
    item_ids, item_of = np.unique(items, return_inverse=True)
    order = np.argsort(times, kind="stable")
    order = order[np.argsort(user_of[order], kind="stable")]
    bounds = np.cumsum(np.bincount(user_of, minlength=len(user_ids)))[:-1]
    return from_sequences(name, [str(i) for i in item_ids], [texts[int(i)] for i in item_ids],
                          [str(u) for u in user_ids], np.split(item_of[order], bounds), np.split(times[order], bounds))


def from_source_dat(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `movielens_dat` (textcode.data.readers.READERS)."""
    return read_movielens_dat(path, name)


def from_source_inter(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `recbole_inter` (textcode.data.readers.READERS)."""
    return read_recbole_inter(path, cfg.prefix or name, name)
