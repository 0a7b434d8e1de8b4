"""Reader for raw Amazon review and metadata files (McAuley lab releases 2018 and 2023).

The files are JSON lines, gzipped or not, exactly as downloaded (2018:
`Industrial_and_Scientific.json.gz` + `meta_Industrial_and_Scientific.json.gz`; 2023:
`Industrial_and_Scientific.jsonl.gz` + `meta_Industrial_and_Scientific.jsonl.gz`). They are read
with Hugging Face `datasets`, which converts them once to memory-mapped Arrow files in its cache,
so a review file of several GB is handled as Arrow columns, never as one Python dict per review.
The first conversion is the slow part (measured here: 300,000 synthetic 2018-style reviews, 92 MB,
17 s on 2 cores; 5 s once cached). `datasets` infers column types from the data; when a field's
type changes far into a file (beyond its first 10 MB block) the conversion fails, and the error
then names the line if it is one of the fields read here, or says another field is at fault.

Processing follows UniSRec: item text = title + categories + brand (`itemtext.item_text`); items
without metadata or with empty text are dropped with their interactions (counts are logged);
duplicate metadata rows of an item (the 2018 files have some) keep the first. Interactions are
kept as they are (repeat purchases and duplicate reviews included; UniSRec, reading the
ratings-only CSVs, collapsed identical rows), and each user's are sorted by
time with a stable sort, so ties keep the file's order. The 2023 timestamps are milliseconds: they
are sorted as such and stored as unix seconds. Users and items are indexed in order of their raw
id strings. k-core filtering is not done here: `source.k_core` applies it afterwards.

A domain config for a raw category (`configs/domains/<name>.yaml`), with the files in
`<data_root>/amazon_raw/2018/`:

    source:
      format: amazon2018            # or amazon2023
      path: "{data_root}/amazon_raw/2018"
      reviews: Industrial_and_Scientific.json.gz
      meta: meta_Industrial_and_Scientific.json.gz
      k_core: 5
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.data.itemtext import item_text
from textcode.data.jsonlines import read_jsonl
from textcode.data.textfile import check_file

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AmazonSchema:
    """Field names of one release; `time_units` = timestamp units per second."""

    user: str
    item: str
    time: str
    time_units: int
    meta_item: str
    title: str
    categories: str
    brand: str


SCHEMA_2018 = AmazonSchema(user="reviewerID", item="asin", time="unixReviewTime", time_units=1,
                           meta_item="asin", title="title", categories="category", brand="brand")
SCHEMA_2023 = AmazonSchema(user="user_id", item="parent_asin", time="timestamp", time_units=1000,
                           meta_item="parent_asin", title="title", categories="categories", brand="store")


def read_amazon(reviews_path: str | Path, meta_path: str | Path, name: str, schema: AmazonSchema) -> Domain:
    reviews_path, meta_path = Path(reviews_path), Path(meta_path)
    reviews = _load(reviews_path, {schema.user: _STRING, schema.item: _STRING, schema.time: _INTEGER})
    users = _string_column(reviews, reviews_path, schema.user)
    items = _string_column(reviews, reviews_path, schema.item)
    times = _integer_column(reviews, reviews_path, schema.time)

    reviewed = pc.unique(items)
    texts = _item_texts(meta_path, schema, reviewed)
    keep = pc.is_in(items, value_set=pa.array(list(texts), pa.string())).to_numpy(zero_copy_only=False)
    log.info("%s: %d of %d reviewed items have metadata text; dropped %d of %d interactions with the others",
             name, len(texts), len(reviewed), int((~keep).sum()), len(keep))
    if not keep.any():
        raise DataError(meta_path, f"none of the {len(reviewed)} items of {reviews_path.name} has metadata with text")
    mask = pa.array(keep)
    users, items = users.filter(mask), items.filter(mask)
    times = times[keep]

    user_ids = _sorted_unique(users)
    item_ids = _sorted_unique(items)
    user_of = pc.index_in(users, value_set=user_ids).to_numpy().astype(np.int64)
    item_of = pc.index_in(items, value_set=item_ids).to_numpy().astype(np.int32)
    order = np.argsort(times, kind="stable")
    order = order[np.argsort(user_of[order], kind="stable")]
    offsets = np.zeros(len(user_ids) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(user_of, minlength=len(user_ids)))
    item_ids_list = item_ids.to_pylist()
    return Domain(
        name=name,
        item_ids=np.asarray(item_ids_list, dtype=object),
        item_text=np.asarray([texts[i] for i in item_ids_list], dtype=object),
        user_ids=np.asarray(user_ids.to_pylist(), dtype=object),
        offsets=offsets,
        items=item_of[order],
        times=times[order] // schema.time_units,
    )


# ----------------------------------------------------------------------------- field checks

@dataclasses.dataclass(frozen=True)
class _Check:
    kind: str  # for messages: "field 'x' must be <kind>"
    ok: Callable[[Any], bool]


def _is_text_list(value: Any) -> bool:
    return value is None or isinstance(value, str) or isinstance(value, list) and all(
        isinstance(v, str) or isinstance(v, list) and _is_text_list(v) for v in value)


_STRING = _Check("a string", lambda v: isinstance(v, str))
_INTEGER = _Check("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
_TEXT = _Check("a string or null", lambda v: v is None or isinstance(v, str))
_TEXT_LIST = _Check("a list of strings, a string or null", _is_text_list)


def _item_texts(meta_path: Path, schema: AmazonSchema, wanted: pa.Array) -> dict[str, str]:
    """{item id: text} for the `wanted` items that have metadata and non-empty text."""
    fields = {schema.title: _TEXT, schema.categories: _TEXT_LIST, schema.brand: _TEXT}
    meta = _load(meta_path, {schema.meta_item: _STRING, **fields})
    ids = _string_column(meta, meta_path, schema.meta_item)
    rows = np.flatnonzero(pc.is_in(ids, value_set=wanted).to_numpy(zero_copy_only=False))
    first: dict[str, int] = {}
    for row, item in zip(rows.tolist(), ids.take(pa.array(rows)).to_pylist()):
        first.setdefault(item, row)
    if len(first) < len(rows):
        log.info("%s: %d duplicate metadata rows ignored (the first row of an item is used)",
                 meta_path.name, len(rows) - len(first))
    selected = meta.select(list(first.values()))
    # `datasets` decodes columns whose JSON type varies between rows (e.g. a category given as a string)
    columns = {f: list(selected[f]) for f in fields}
    texts: dict[str, str] = {}
    empty = 0
    for k, item in enumerate(first):
        for f, check in fields.items():
            if not check.ok(columns[f][k]):
                line = _first_line(meta_path, lambda obj: obj.get(schema.meta_item) == item)
                raise DataError(meta_path, f"item {item!r}: field {f!r} must be {check.kind}, "
                                f"got {type(columns[f][k]).__name__}", line=line)
        text = item_text(*(columns[f][k] for f in fields))
        if text:
            texts[item] = text
        else:
            empty += 1
    if empty:
        log.info("%s: %d reviewed item(s) have empty text (dropped)", meta_path.name, empty)
    return texts


# ----------------------------------------------------------------------------- loading

def _load(path: Path, checks: dict[str, _Check]):
    """The file as a `datasets.Dataset` that has the columns of `checks`.

    `datasets` reports a bad line without its number; then the file is scanned for the first
    unparsable line or checked field of the wrong type, and that line is named.
    """
    check_file(path)  # missing or 0 bytes; undecodable text and broken gzip are found below
    import datasets  # heavy import, and only this reader needs it

    try:
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as exc:  # not silenced: every path below raises
        for lineno, obj in read_jsonl(path):  # raises DataError at the first unparsable line
            for name, check in checks.items():
                if name in obj and not check.ok(obj[name]):
                    raise DataError(path, f"field {name!r} must be {check.kind}", line=lineno) from exc
        raise DataError(path, f"`datasets` could not convert it ({exc.__cause__ or exc}); every line is a JSON object "
                        f"and the fields read here ({', '.join(checks)}) are well-formed, so another field is "
                        "at fault (typically one whose type changes far into the file)") from exc
    if ds.num_rows == 0:
        raise DataError(path, "no JSON lines")
    missing = [n for n in checks if n not in ds.column_names]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(repr(m) for m in missing)}; "
                        f"the file has {', '.join(ds.column_names)}", key=missing[0])
    return ds


def _string_column(ds, path: Path, name: str) -> pa.ChunkedArray:
    column = ds.data.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or column.null_count:
        _raise_at_first(path, name, _STRING)
    return column


def _integer_column(ds, path: Path, name: str) -> np.ndarray:
    column = ds.data.column(name)
    if not pa.types.is_integer(column.type) or column.null_count:
        _raise_at_first(path, name, _INTEGER)
    return column.to_numpy().astype(np.int64)


def _raise_at_first(path: Path, name: str, check: _Check) -> None:
    """Raise DataError at the first line whose field `name` is missing or fails the check."""
    line = _first_line(path, lambda obj: name not in obj or not check.ok(obj[name]))
    raise DataError(path, f"field {name!r} must be {check.kind} on every line", line=line, key=None if line else name)


def _first_line(path: Path, bad: Callable[[dict], bool]) -> int | None:
    """Line number of the first object for which `bad` holds (a slow scan, used only to report errors)."""
    return next((lineno for lineno, obj in read_jsonl(path) if bad(obj)), None)


def _sorted_unique(column: pa.ChunkedArray) -> pa.Array:
    values = pc.unique(column)
    return values.take(pc.sort_indices(values))


def from_source_2018(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `amazon2018` (textcode.data.readers.READERS)."""
    return read_amazon(path / cfg.reviews, path / cfg.meta, name, SCHEMA_2018)


def from_source_2023(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `amazon2023` (textcode.data.readers.READERS)."""
    return read_amazon(path / cfg.reviews, path / cfg.meta, name, SCHEMA_2023)
