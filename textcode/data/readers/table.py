"""Reader for format `table`: a user's own interactions and items files (CSV, TSV, gzipped or not, or Parquet).

```yaml
source:
  format: table
  interactions: interactions.csv       # relative to the domain YAML's folder, or absolute
  items: items.csv
  columns: {user: user_id, item: item_id, time: timestamp}
  text_columns: [title, categories, brand]
```

The file type follows the name: `.csv`, `.tsv` (each optionally `.gz`) or `.parquet`. CSV/TSV files have
a header row; fields may be quoted as the `csv` module reads them; text is UTF-8 (a leading byte-order
mark is ignored). Times are integers (e.g. unix seconds; `12.0` is read as 12, a Parquet timestamp
column as unix seconds); ids are compared as text.

Item text: the `text_columns` of the items file, each cleaned and joined as for every other reader
(`itemtext.fields_text`). What is dropped is counted, logged and returned for `prepare`'s summary:
- items whose text is empty (`drop_items_without_text: true`, the default; false = a DataError), and the
  interactions with them;
- interactions whose item has no row in the items file (a DataError when that is more than half of them);
- items nobody interacted with;
- users with fewer than `min_length` interactions (default 3, what leave-one-out needs); with
  `k_core` >= 2 this reader runs the k-core itself, together with `min_length`, so no user the k-core
  leaves is too short (sources.read_source's k-core then changes nothing).

Users are indexed in order of first appearance in the interactions file, items in the items file's
order; each user's interactions are sorted by time with a stable sort (ties keep the file's order).
Bad input names the file, the line (Parquet: the row) and the column.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from textcode.core.config import ConfigError
from textcode.data.config import SourceConfig
from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.itemtext import fields_text
from textcode.data.kcore import core_mask
from textcode.data.split import MIN_LENGTH
from textcode.data.textfile import check_file, read_lines

log = logging.getLogger("table")

DELIMITERS = {".csv": ",", ".tsv": "\t"}
FILE_TYPES = ".csv, .tsv, .csv.gz, .tsv.gz, .parquet"
_INTEGER = re.compile(r"[+-]?\d+(\.0*)?")
_SECONDS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


@dataclasses.dataclass
class Table:
    """Some columns of one file, as Python lists, and where each row is (a line, or a Parquet row)."""

    path: Path
    values: dict[str, list[Any]]
    lines: list[int] | None  # CSV/TSV: the line each row ends on; Parquet: None (row i is row i + 1)

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    def error(self, row: int, column: str | None, message: str) -> DataError:
        where = [] if self.lines is not None else [f"row {row + 1}"]
        if column is not None:
            where.append(f"column {column}")
        return DataError(self.path, message, line=None if self.lines is None else self.lines[row],
                         key=", ".join(where) or None)

    def line_of(self, row: int) -> str:
        return f"line {self.lines[row]}" if self.lines is not None else f"row {row + 1}"


def read_table(path: str | Path, columns: list[str], what: str) -> Table:
    """The named columns of a CSV/TSV/Parquet file; a missing column is a DataError naming the file, the
    column (`what` says which setting named it) and the columns the file has."""
    path = check_file(path)  # missing, not a file, 0 bytes
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _read_parquet(path, columns, what)
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix not in DELIMITERS:
        raise DataError(path, f"unknown file type (the name must end in one of {FILE_TYPES})")
    return _read_delimited(path, DELIMITERS[suffix], columns, what)


def _missing(path: Path, found: list[str], columns: list[str], what: str, line: int | None) -> None:
    for c in columns:
        if c not in found:
            raise DataError(path, f"no column {c!r} ({what}); columns found: {', '.join(map(repr, found))}",
                            line=line, key=f"column {c}")


def _read_delimited(path: Path, delimiter: str, columns: list[str], what: str) -> Table:
    lines = read_lines(path)  # decoding and gzip errors become DataErrors naming the line
    reader = csv.reader((line for _, line in lines), delimiter=delimiter)
    header: list[str] | None = None
    values: dict[str, list[Any]] = {c: [] for c in columns}
    where: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if header is None:
                header = [h.strip() for h in row]
                header[0] = header[0].lstrip("\ufeff")
                _missing(path, header, columns, what, reader.line_num)
                index = [header.index(c) for c in columns]
                continue
            if len(row) != len(header):
                raise DataError(path, f"expected {len(header)} fields (as the header), found {len(row)}",
                                line=reader.line_num)
            for c, i in zip(columns, index):
                values[c].append(row[i])
            where.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(path, f"malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})",
                        line=reader.line_num) from None
    if header is None:  # read_lines already refuses a file of blank lines; kept for safety
        raise DataError(path, "no header row")
    if not where:
        raise DataError(path, "no rows after the header")
    return Table(path, values, where)


def _read_parquet(path: Path, columns: list[str], what: str) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        found = pq.read_schema(path).names
        _missing(path, found, columns, what, None)
        table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(path, f"not a readable Parquet file ({exc})") from None
    if table.num_rows == 0:
        raise DataError(path, "no rows")
    values = {}
    for c in columns:
        col = table.column(c)
        if pa.types.is_timestamp(col.type):  # unix seconds
            ints = col.cast(pa.int64()).to_pylist()
            per = _SECONDS[col.type.unit]
            values[c] = [None if v is None else v // per for v in ints]
        else:
            values[c] = col.to_pylist()
    return Table(path, values, None)


# ----------------------------------------------------------------------------- values

def _id(table: Table, row: int, column: str) -> str:
    value = table.values[column][row]
    text = "" if value is None else str(value).strip()
    if not text:
        raise table.error(row, column, "empty id")
    return text


def _time(table: Table, row: int, column: str) -> int:
    value = table.values[column][row]
    if isinstance(value, bool) or value is None:
        raise table.error(row, column, f"time {value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise table.error(row, column, f"time {value!r} is not an integer")
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        raise table.error(row, column, f"time {text!r} is not an integer (e.g. unix seconds)")
    return int(text.split(".")[0])


# ----------------------------------------------------------------------------- the reader

def check_config(cfg: SourceConfig) -> None:
    """The table keys a table source needs; a ConfigError names the first missing or wrong one."""
    if not cfg.interactions:
        raise ConfigError("source.interactions: missing (the interactions file of a table source)")
    if not cfg.items:
        raise ConfigError("source.items: missing (the items file of a table source)")
    if not cfg.text_columns:
        raise ConfigError("source.text_columns: missing (the items file's columns joined into the item text)")
    for key in ("user", "item", "time"):
        if not getattr(cfg.columns, key):
            raise ConfigError(f"source.columns.{key}: empty (the column name of the {key})")
    for i, c in enumerate(cfg.text_columns):
        if not c:
            raise ConfigError(f"source.text_columns[{i}]: empty column name")
    if cfg.min_length < MIN_LENGTH:
        raise ConfigError(f"source.min_length must be at least {MIN_LENGTH} (what a leave-one-out split needs), "
                          f"got {cfg.min_length}")


def read_items(cfg: SourceConfig, path: Path) -> tuple[dict[str, str], set[str]]:
    """{item id: text} of the items with text, in file order, and the ids of those without (dropped)."""
    item_col = cfg.columns.item
    table = read_table(path, [item_col, *cfg.text_columns], "source.columns.item / source.text_columns")
    texts: dict[str, str] = {}
    first: dict[str, int] = {}
    no_text: set[str] = set()
    for row in range(len(table)):
        item = _id(table, row, item_col)
        if item in first:
            raise table.error(row, item_col, f"item {item!r} appears twice ({table.line_of(first[item])} and "
                              f"{table.line_of(row)}); item ids must be unique")
        first[item] = row
        text = fields_text(table.values[c][row] for c in cfg.text_columns)
        if text:
            texts[item] = text
        elif cfg.drop_items_without_text:
            no_text.add(item)
        else:
            raise table.error(row, None, f"item {item!r} has no text in {', '.join(cfg.text_columns)} "
                              "(set source.drop_items_without_text: true to drop such items)")
    return texts, no_text


def read_table_source(cfg: SourceConfig, name: str) -> tuple[Domain, dict[str, int]]:
    """The domain, and the counts of what was dropped (see the module docstring)."""
    check_config(cfg)
    inter_path, items_path = Path(cfg.interactions), Path(cfg.items)
    texts, no_text = read_items(cfg, items_path)
    if no_text:
        log.info("%s: dropped %s item(s) without text", items_path, f"{len(no_text):,}")
    cols = cfg.columns
    table = read_table(inter_path, [cols.user, cols.item, cols.time], "source.columns")
    user_index: dict[str, int] = {}
    item_index = {item: i for i, item in enumerate(texts)}
    users, items, times = [], [], []
    unknown, first_unknown = 0, None
    without_text = 0
    for row in range(len(table)):
        user = _id(table, row, cols.user)
        item = _id(table, row, cols.item)
        time = _time(table, row, cols.time)
        k = item_index.get(item)
        if k is None:
            if item in no_text:
                without_text += 1
            else:
                unknown += 1
                first_unknown = first_unknown if first_unknown is not None else (row, item)
            continue
        users.append(user_index.setdefault(user, len(user_index)))
        items.append(k)
        times.append(time)
    n = len(table)
    if unknown:
        row, item = first_unknown
        if 2 * unknown > n:
            raise table.error(row, cols.item, f"{unknown:,} of {n:,} interactions name an item that has no row in "
                              f"{items_path} (the first: item {item!r}); are the files or columns mismatched?")
        log.warning("%s: dropped %s of %s interactions whose item has no row in %s (the first: item %r at %s)",
                    inter_path, f"{unknown:,}", f"{n:,}", items_path, item, table.line_of(row))
    if without_text:
        log.info("%s: dropped %s interaction(s) with items without text", inter_path, f"{without_text:,}")
    if not users:
        raise DataError(inter_path, "no interactions left with an item that has text")
    domain, counts = _sequences(name, cfg, np.array(users), np.array(items), np.array(times, dtype=np.int64),
                                list(user_index), list(texts.items()), inter_path)
    dropped = {"items_without_text": len(no_text), "interactions_with_items_without_text": without_text,
               "interactions_with_unknown_items": unknown, **counts}
    return domain, dropped


def _sequences(name: str, cfg: SourceConfig, user_of: np.ndarray, item_of: np.ndarray, times: np.ndarray,
               user_ids: list[str], items: list[tuple[str, str]], path: Path) -> tuple[Domain, dict[str, int]]:
    """Time-sorted sequences after the `min_length` and k-core filters, and what those dropped."""
    n_users, n_items = len(user_ids), len(items)
    keep = np.ones(len(user_of), dtype=bool)
    lengths = np.bincount(user_of, minlength=n_users)
    short = lengths < cfg.min_length
    keep &= ~short[user_of]
    n_short, short_interactions = int(short.sum()), int(lengths[short].sum())
    if n_short:
        log.info("%s: dropped %s user(s) with fewer than %d interactions (source.min_length), %s interactions",
                 path, f"{n_short:,}", cfg.min_length, f"{short_interactions:,}")
    counts = {"users_shorter_than_min_length": n_short, "interactions_of_short_users": short_interactions}
    if cfg.k_core > 1:
        need_user = max(cfg.k_core, cfg.min_length)
        before = keep.sum(), np.unique(user_of[keep]).size
        keep = core_mask(user_of, item_of, n_users, n_items, need_user, cfg.k_core, keep)
        after = keep.sum(), np.unique(user_of[keep]).size
        log.info("%s: k-core (source.k_core=%d) dropped %s more user(s), %s interactions", path, cfg.k_core,
                 f"{before[1] - after[1]:,}", f"{before[0] - after[0]:,}")
    if not keep.any():
        raise DataError(path, f"no interactions are left after dropping users with fewer than {cfg.min_length} interactions "
                        f"(source.min_length)" + (f" and the {cfg.k_core}-core (source.k_core)" if cfg.k_core > 1 else ""))
    user_of, item_of, times = user_of[keep], item_of[keep], times[keep]
    used_users, user_of = np.unique(user_of, return_inverse=True)  # first-appearance order is kept: ids are ascending
    used_items, item_of = np.unique(item_of, return_inverse=True)  # items file order
    unused = n_items - len(used_items)
    if unused:
        log.info("%s: %s item(s) with text have no interactions left and are not items of the domain",
                 path, f"{unused:,}")
    counts["items_without_interactions"] = unused
    order = np.argsort(times, kind="stable")
    order = order[np.argsort(user_of[order], kind="stable")]
    bounds = np.cumsum(np.bincount(user_of, minlength=len(used_users)))[:-1]
    domain = from_sequences(name, [items[i][0] for i in used_items], [items[i][1] for i in used_items],
                            [user_ids[u] for u in used_users], np.split(item_of[order], bounds),
                            np.split(times[order], bounds))
    return domain, counts


def from_source(cfg: SourceConfig, path: Path, name: str) -> tuple[Domain, dict[str, int]]:
    """Registry entry of format `table` (textcode.data.readers.READERS); `path` is the interactions file
    (`sources.source_location`), the config names both files."""
    return read_table_source(cfg, name)
