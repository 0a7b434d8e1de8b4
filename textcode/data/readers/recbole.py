"""Readers for RecBole atomic files.

The UniSRec/VQ-Rec flavour (`X.train.inter`, `X.valid.inter`, `X.test.inter`, `X.text`,
`X.item2index`, `X.user2index`) already holds a leave-one-out split, with training rows
augmented (one row per prefix, history cut to the last 50 items). We rebuild each user's full
sequence from those rows, check that the rebuilt sequence reproduces every row of all three
files, and keep it: our own leave-one-out split of it is then exactly the published split.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.textfile import read_lines

_TYPES: dict[str, Callable[[str], object]] = {
    "token": str,
    "token_seq": lambda v: v.split(" ") if v else [],
    "float": float,
    "float_seq": lambda v: [float(x) for x in v.split(" ")] if v else [],
}


def read_atomic(path: str | Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield (line number, {column: value}) for a RecBole atomic file.

    The header declares `name:type`; every name in `required` must be present. Values are
    converted by their declared type; a bad value or a short row raises DataError with the
    file and line, as does every failure of `textfile.read_lines` (missing, empty, not UTF-8).
    """
    path = Path(path)
    lines = read_lines(path)
    _, first = next(lines)  # read_lines raises for a missing or empty file
    header = first.split("\t")
    columns = []
    for col in header:
        name, sep, typ = col.partition(":")
        if not sep or typ not in _TYPES:
            raise DataError(path, f"header column {col!r} is not of the form name:type "
                            f"(type one of {', '.join(_TYPES)})", line=1)
        columns.append((name, typ))
    names = [n for n, _ in columns]
    missing = [r for r in required if r not in names]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}; header has {', '.join(names)}", line=1)
    for lineno, line in lines:
        if not line:
            continue
        values = line.split("\t")
        if len(values) != len(columns):
            raise DataError(path, f"expected {len(columns)} tab-separated fields, found {len(values)}", line=lineno)
        row = {}
        for (name, typ), raw in zip(columns, values):
            try:
                row[name] = _TYPES[typ](raw)
            except ValueError:
                raise DataError(path, f"column {name!r}: {raw!r} is not a valid {typ}", line=lineno) from None
        yield lineno, row


def _read_index(path: Path) -> dict[str, int]:
    """`raw_id<TAB>index` lines; indices must be 0..n-1."""
    index: dict[str, int] = {}
    for lineno, line in read_lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(path, "expected 'raw_id<TAB>index'", line=lineno)
        try:
            idx = int(parts[1])
        except ValueError:
            raise DataError(path, f"index {parts[1]!r} is not an integer", line=lineno) from None
        if parts[0] in index:
            raise DataError(path, f"id {parts[0]!r} appears twice", line=lineno)
        index[parts[0]] = idx
    if sorted(index.values()) != list(range(len(index))):
        raise DataError(path, "indices are not exactly 0..n-1")
    return index


def read_unisrec(folder: str | Path, prefix: str, name: str | None = None, max_history: int = 50) -> Domain:
    """Read a UniSRec/VQ-Rec atomic dataset folder (e.g. shared/data/amazon/Scientific)."""
    folder = Path(folder)
    item2index = _read_index(folder / f"{prefix}.item2index")
    user2index = _read_index(folder / f"{prefix}.user2index")
    n_items, n_users = len(item2index), len(user2index)

    text_path = folder / f"{prefix}.text"
    texts: list[str | None] = [None] * n_items
    for lineno, row in read_atomic(text_path, ("item_id", "text")):
        raw = row["item_id"]
        if raw not in item2index:
            raise DataError(text_path, f"item {raw!r} is not in {prefix}.item2index", line=lineno)
        text = " ".join(row["text"]).strip()
        if not text:
            raise DataError(text_path, f"empty text for item {raw!r}", line=lineno)
        texts[item2index[raw]] = text
    missing = [raw for raw, i in item2index.items() if texts[i] is None]
    if missing:
        raise DataError(text_path, f"no text for {len(missing)} item(s)", key=missing[0])

    def rows(split: str) -> Iterator[tuple[Path, int, int, list[int], int]]:
        path = folder / f"{prefix}.{split}.inter"
        for lineno, row in read_atomic(path, ("user_id", "item_id_list", "item_id")):
            user = _index_of(row["user_id"], n_users, path, lineno, "user")
            hist = [_index_of(x, n_items, path, lineno, "item") for x in row["item_id_list"]]
            target = _index_of(row["item_id"], n_items, path, lineno, "item")
            yield path, lineno, user, hist, target

    # Training rows come newest-prefix first per user; reversed, their targets extend the sequence.
    train_rows: dict[int, list] = defaultdict(list)
    for path, lineno, user, hist, target in rows("train"):
        train_rows[user].append((path, lineno, hist, target))
    seqs: list[list[int] | None] = [None] * n_users
    for user, urows in train_rows.items():
        urows.reverse()
        path, lineno, hist, target = urows[0]
        seq = list(hist)
        for path, lineno, hist, target in urows:
            if hist != seq[-max_history:]:
                raise DataError(path, "training history does not continue the user's earlier rows", line=lineno)
            seq.append(target)
        seqs[user] = seq
    for split in ("valid", "test"):
        seen = set()
        for path, lineno, user, hist, target in rows(split):
            if user in seen:
                raise DataError(path, f"user {user} has more than one {split} row", line=lineno)
            seen.add(user)
            if seqs[user] is None:  # a user with no training row (two-item history): valid row starts it
                seqs[user] = list(hist)
            if hist != seqs[user][-max_history:]:
                raise DataError(path, f"{split} history is not the user's sequence so far", line=lineno)
            seqs[user].append(target)
        if len(seen) != n_users:
            raise DataError(folder / f"{prefix}.{split}.inter", f"{n_users - len(seen)} user(s) have no {split} row")
    item_ids = [None] * n_items
    for raw, i in item2index.items():
        item_ids[i] = raw
    user_ids = [None] * n_users
    for raw, u in user2index.items():
        user_ids[u] = raw
    return from_sequences(name or prefix, item_ids, texts, user_ids, seqs)


def _index_of(token: str, n: int, path: Path, lineno: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise DataError(path, f"{what} token {token!r} is not an integer index", line=lineno) from None
    if not 0 <= value < n:
        raise DataError(path, f"unknown {what} {value} (the index has {n})", line=lineno)
    return value


def from_source(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `unisrec` (textcode.data.readers.READERS)."""
    return read_unisrec(path, cfg.prefix or name, name=name)
